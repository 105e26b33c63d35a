//! RMSNorm as one operation on the GPU, with its own backward step.
//!
//! Burn's `RmsNorm` composes square, mean, add, sqrt, divide and multiply, and autodiff records
//! each of them: its backward pass keeps their inputs and walks back through every one. Here the
//! forward pass is one kernel ([`kernels::rms_norm_forward`], in `shaders/`), and the backward
//! pass one more ([`kernels::rms_norm_backward`]) and a column sum for the weight's gradient;
//! only `x` and the weight are kept for it.
//!
//! It serves the CubeCL backends (wgpu, the browser's WebGPU). The CPU keeps Burn's composition,
//! which its backend already runs as fast loops, and any dtype but f32 does too.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, DType, TensorMetadata, backend_extension};
use burn::nn::RmsNorm;
use burn::prelude::*;

#[path = "../../shaders/rms_norm.rs"]
mod kernels;

/// Backends that normalise the rows of `(rows, width)` by their root mean square and scale them
/// by a `(width)` weight.
#[backend_extension(Cube, Fusion: cfg(feature = "native"), Autodiff)]
pub trait RmsNormBackend: Backend {
    /// `x · g / sqrt(mean(x²) + eps)` row by row: `(rows, width)`.
    #[fusion(dtype = x, shape = x)]
    fn rms_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        composed::forward::<Self>(x, gamma, eps)
    }

    /// The gradients of `x` `(rows, width)` and of the weight `(width)` given the output's
    /// gradient `dy`.
    #[fusion(meta = |x, gamma, _dy, _eps| (x.clone(), gamma.clone()))]
    fn rms_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        composed::backward::<Self>(x, gamma, dy, eps)
    }
}

/// The same arithmetic from Burn's operations: the fallback for other dtypes, and what the
/// kernels are tested against.
mod composed {
    use super::*;

    /// `(rows, 1)`: `1 / sqrt(mean(x²) + eps)`.
    fn inverse_rms<B: Backend>(x: FloatTensor<B>, eps: f64) -> FloatTensor<B> {
        let width = x.shape()[1] as f64;
        let mean = B::float_div_scalar(
            B::float_sum_dim(B::float_mul(x.clone(), x), 1),
            width.into(),
        );
        B::float_recip(B::float_sqrt(B::float_add_scalar(mean, eps.into())))
    }

    fn row<B: Backend>(gamma: FloatTensor<B>) -> FloatTensor<B> {
        let width = gamma.shape()[0];
        B::float_reshape(gamma, [1, width].into())
    }

    pub fn forward<B: Backend>(
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        eps: f64,
    ) -> FloatTensor<B> {
        let r = inverse_rms::<B>(x.clone(), eps);
        B::float_mul(B::float_mul(x, r), row::<B>(gamma))
    }

    pub fn backward<B: Backend>(
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        dy: FloatTensor<B>,
        eps: f64,
    ) -> (FloatTensor<B>, FloatTensor<B>) {
        let width = x.shape()[1];
        let r = inverse_rms::<B>(x.clone(), eps);
        let dy_g = B::float_mul(dy.clone(), row::<B>(gamma));
        let c = B::float_div_scalar(
            B::float_sum_dim(B::float_mul(dy_g.clone(), x.clone()), 1),
            (width as f64).into(),
        );
        let r3c = B::float_mul(
            B::float_mul(B::float_mul(r.clone(), r.clone()), r.clone()),
            c,
        );
        let dx = B::float_sub(B::float_mul(dy_g, r.clone()), B::float_mul(x.clone(), r3c));
        let dgamma = B::float_sum_dim(B::float_mul(B::float_mul(dy, x), r), 0);
        (dx, B::float_reshape(dgamma, [width].into()))
    }
}

/// The kernels on the CubeCL backend.
mod cube {
    use super::kernels::{rms_norm_backward, rms_norm_forward};
    use crate::model::row_grid::row_grid;
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::wgpu::{CubeBackend, CubeTensor};
    use burn::backend::{DType, TensorMetadata};
    use burn_cubecl::kernel::into_contiguous;
    use burn_cubecl::ops::numeric::empty_device_dtype;
    use cubecl::ir::FloatKind;
    use cubecl::prelude::*;

    fn eps_scalar(eps: f64) -> InputScalar {
        InputScalar::new(eps, ElemType::Float(FloatKind::F32))
    }

    fn f32_type() -> ElemType {
        ElemType::Float(FloatKind::F32)
    }

    pub fn forward(x: CubeTensor, gamma: CubeTensor, eps: f64) -> CubeTensor {
        let [rows, width] = x.shape().dims::<2>();
        let x = into_contiguous(x);
        let gamma = into_contiguous(gamma);
        let out = empty_device_dtype(x.client.clone(), x.device.clone(), x.shape(), DType::F32);
        if rows == 0 || width == 0 {
            return out;
        }
        let (threads, cube_dim, cube_count) = row_grid(&x, rows, width);
        rms_norm_forward::launch(
            &x.client.clone(),
            cube_count,
            cube_dim,
            x.into_tensor_arg(),
            gamma.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            rows as u32,
            width as u32,
            eps_scalar(eps),
            threads,
            f32_type(),
        );
        out
    }

    pub fn backward(
        x: CubeTensor,
        gamma: CubeTensor,
        dy: CubeTensor,
        eps: f64,
    ) -> (CubeTensor, CubeTensor) {
        let [rows, width] = x.shape().dims::<2>();
        let x = into_contiguous(x);
        let gamma = into_contiguous(gamma);
        let dy = into_contiguous(dy);
        let empty =
            || empty_device_dtype(x.client.clone(), x.device.clone(), x.shape(), DType::F32);
        let (dx, dgamma_rows) = (empty(), empty());
        if rows > 0 && width > 0 {
            let (threads, cube_dim, cube_count) = row_grid(&x, rows, width);
            rms_norm_backward::launch(
                &x.client.clone(),
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                gamma.into_tensor_arg(),
                dy.into_tensor_arg(),
                dx.clone().into_tensor_arg(),
                dgamma_rows.clone().into_tensor_arg(),
                rows as u32,
                width as u32,
                eps_scalar(eps),
                threads,
                f32_type(),
            );
        }
        let dgamma = CubeBackend::float_sum_dim(dgamma_rows, 0);
        (dx, CubeBackend::float_reshape(dgamma, [width].into()))
    }
}

fn all_f32(tensors: &[&impl TensorMetadata]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

impl RmsNormBackend for burn::backend::wgpu::CubeBackend {
    fn rms_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        if all_f32(&[&x, &gamma]) {
            cube::forward(x, gamma, eps)
        } else {
            composed::forward::<Self>(x, gamma, eps)
        }
    }

    fn rms_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        if all_f32(&[&x, &gamma, &dy]) {
            cube::backward(x, gamma, dy, eps)
        } else {
            composed::backward::<Self>(x, gamma, dy, eps)
        }
    }
}

impl<B: RmsNormBackend, C: CheckpointStrategy> RmsNormBackend for Autodiff<B, C> {
    fn rms_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct RmsNormStep;

        impl<B: RmsNormBackend> Backward<B, 2> for RmsNormStep {
            type State = (FloatTensor<B>, FloatTensor<B>, f64);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, gamma, eps) = ops.state;
                let [x_node, gamma_node] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (dx, dgamma) = B::rms_norm_backward(x, gamma, dy, eps);
                if let Some(node) = x_node {
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = gamma_node {
                    grads.register::<B>(node.id, dgamma);
                }
            }
        }

        let (x_inner, x_node) = x.into_parts();
        let (gamma_inner, gamma_node) = gamma.into_parts();
        match RmsNormStep
            .prepare::<C>([x_node, gamma_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::rms_norm(x_inner.clone(), gamma_inner.clone(), eps);
                prep.finish((x_inner, gamma_inner, eps), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::rms_norm(x_inner, gamma_inner, eps)),
        }
    }

    fn rms_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // A gradient is not differentiated again: computed on the inner backend, untracked.
        let (dx, dgamma) =
            B::rms_norm_backward(Self::inner(x), Self::inner(gamma), Self::inner(dy), eps);
        (Self::from_inner(dx), Self::from_inner(dgamma))
    }
}

/// `norm` applied to `x` `(.., width)`: the kernels on a CubeCL device, Burn's `RmsNorm` elsewhere.
pub fn rms_norm<const D: usize>(norm: &RmsNorm, x: Tensor<D>) -> Tensor<D> {
    if !on_cube(&x.device()) {
        return norm.forward(x);
    }
    let dims = x.dims();
    let width = dims[D - 1];
    let rows = x.shape().num_elements() / width.max(1);
    let out = rms_norm_rows(x.reshape([rows, width]), norm.gamma.val(), norm.epsilon);
    out.reshape(dims)
}

/// The extension itself on `(rows, width)` rows: what [`rms_norm`] uses on a CubeCL device.
pub fn rms_norm_rows(x: Tensor<2>, gamma: Tensor<1>, eps: f64) -> Tensor<2> {
    use burn::backend::Dispatch;
    let out = <Dispatch as RmsNormBackend>::rms_norm(x.into_dispatch(), gamma.into_dispatch(), eps);
    Tensor::from_dispatch(out)
}

/// Whether `device` is a CubeCL device (wgpu, WebGPU), where our kernels run.
pub(crate) fn on_cube(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        burn::backend::DispatchDevice::Cube(_)
    )
}
