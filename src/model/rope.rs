//! Rotary position embedding in the HF layout (`rotate_half`: dimension `i` pairs with `i + d/2`).
//!
//! The cos/sin tables are computed on the host in f64 for the positions a forward pass needs, so
//! positions are never limited by a precomputed table and the same code runs on every device.
//!
//! On a CubeCL device (wgpu, the browser's WebGPU) the rotation is one kernel
//! ([`kernels::rotary`], in `shaders/`) that reads the heads through their strides, and its
//! backward step is the same kernel rotating the other way: Burn's composition slices, negates,
//! concatenates and multiplies, and its backward pass walks back through each. The CPU keeps the
//! composition.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, DType, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::Slice;

#[path = "../../shaders/rope.rs"]
mod kernels;

use super::config::{LlamaConfig, RopeScaling};

/// Inverse frequencies of the rotary embedding, one per pair of dimensions.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f64>,
}

impl Rope {
    /// Frequencies as transformers computes them, including `linear` and `llama3` scaling.
    pub fn new(config: &LlamaConfig) -> Self {
        let dim = config.head_dim;
        let base: Vec<f64> = (0..dim / 2)
            .map(|i| 1.0 / config.rope_theta.powf((2 * i) as f64 / dim as f64))
            .collect();
        let inv_freq = match config.rope_scaling {
            RopeScaling::None => base,
            RopeScaling::Linear { factor } => base.into_iter().map(|f| f / factor).collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let old = original_max_position_embeddings as f64;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        };
        Self { inv_freq }
    }

    /// Cos and sin tables for positions `start..start + len`, each `(len, head_dim)`.
    pub fn tables(&self, start: usize, len: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        let half = self.inv_freq.len();
        let dim = 2 * half;
        let mut cos = Vec::with_capacity(len * dim);
        let mut sin = Vec::with_capacity(len * dim);
        for pos in start..start + len {
            // Both halves of a head share the same angles (`torch.cat((freqs, freqs), dim=-1)`).
            for _ in 0..2 {
                for f in &self.inv_freq {
                    let angle = (pos as f64 * f) as f32;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        (
            Tensor::from_data(TensorData::new(cos, [len, dim]), device),
            Tensor::from_data(TensorData::new(sin, [len, dim]), device),
        )
    }
}

/// Rotates `x` of shape `(batch, heads, seq_len, head_dim)` by the tables of [`Rope::tables`]:
/// the kernel on a CubeCL device, Burn's operations elsewhere.
pub fn apply_rotary(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    if super::rms_norm::on_cube(&x.device()) {
        rotary(x, cos, sin)
    } else {
        apply_rotary_composed(x, cos, sin)
    }
}

/// The rotation composed from Burn's operations, as transformers writes it.
pub fn apply_rotary_composed(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    let [_, _, _, dim] = x.dims();
    let half = dim / 2;
    let x1 = x.clone().slice(s![.., .., .., 0..half]);
    let x2 = x.clone().slice(s![.., .., .., half..dim]);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone().unsqueeze::<4>() + rotated * sin.clone().unsqueeze::<4>()
}

/// The extension itself: what [`apply_rotary`] uses on a CubeCL device.
pub fn rotary(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    use burn::backend::Dispatch;
    let out = <Dispatch as RotaryBackend>::rotary(
        x.into_dispatch(),
        cos.clone().into_dispatch(),
        sin.clone().into_dispatch(),
        1.0,
    );
    Tensor::from_dispatch(out)
}

/// Backends that rotate the heads `(batch, heads, seq, dim)` by `(seq, dim)` cos/sin tables.
#[backend_extension(Cube, Fusion: cfg(feature = "native"), Autodiff)]
pub trait RotaryBackend: Backend {
    /// `x · cos + sign · rotate_half(x) · sin`; a `sign` of −1 undoes a rotation by +1.
    #[fusion(dtype = x, shape = x)]
    fn rotary(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        sign: f64,
    ) -> FloatTensor<Self> {
        composed::<Self>(x, cos, sin, sign)
    }
}

/// The same arithmetic from Burn's operations, for dtypes the kernel does not take.
fn composed<B: Backend>(
    x: FloatTensor<B>,
    cos: FloatTensor<B>,
    sin: FloatTensor<B>,
    sign: f64,
) -> FloatTensor<B> {
    let dim = x.shape()[3];
    let half = dim as isize / 2;
    let all = Slice::new(0, None, 1);
    let part = |from: isize, to: isize| [all, all, all, Slice::new(from, Some(to), 1)];
    let x1 = B::float_slice(x.clone(), &part(0, half));
    let x2 = B::float_slice(x.clone(), &part(half, dim as isize));
    let rotated = B::float_cat(vec![B::float_neg(x2), x1], 3);
    let table = |t: FloatTensor<B>| {
        let [seq, dim] = t.shape().dims::<2>();
        B::float_reshape(t, [1, 1, seq, dim].into())
    };
    B::float_add(
        B::float_mul(x, table(cos)),
        B::float_mul_scalar(B::float_mul(rotated, table(sin)), sign.into()),
    )
}

/// The kernel on the CubeCL backend.
mod cube {
    use super::kernels::rotary;
    use burn::backend::wgpu::CubeTensor;
    use burn::backend::{DType, TensorMetadata};
    use burn_cubecl::kernel::into_contiguous;
    use burn_cubecl::ops::numeric::empty_device_dtype;
    use cubecl::ir::FloatKind;
    use cubecl::prelude::*;
    use cubecl::{CubeDim, calculate_cube_count_elemwise};

    pub fn forward(x: CubeTensor, cos: CubeTensor, sin: CubeTensor, sign: f64) -> CubeTensor {
        let cos = into_contiguous(cos);
        let sin = into_contiguous(sin);
        let out = empty_device_dtype(x.client.clone(), x.device.clone(), x.shape(), DType::F32);
        let n = x.shape().num_elements();
        if n == 0 {
            return out;
        }
        let cube_dim = CubeDim::new(&x.client, n);
        let cube_count = calculate_cube_count_elemwise(&x.client, n, cube_dim);
        let f32_type = ElemType::Float(FloatKind::F32);
        rotary::launch(
            &x.client.clone(),
            cube_count,
            cube_dim,
            x.into_tensor_arg(),
            cos.into_tensor_arg(),
            sin.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            InputScalar::new(sign, f32_type),
            f32_type,
        );
        out
    }
}

impl RotaryBackend for burn::backend::wgpu::CubeBackend {
    fn rotary(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        sign: f64,
    ) -> FloatTensor<Self> {
        if [&x, &cos, &sin].iter().all(|t| t.dtype() == DType::F32) {
            cube::forward(x, cos, sin, sign)
        } else {
            composed::<Self>(x, cos, sin, sign)
        }
    }
}

impl<B: RotaryBackend, C: CheckpointStrategy> RotaryBackend for Autodiff<B, C> {
    fn rotary(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        sign: f64,
    ) -> FloatTensor<Self> {
        /// The rotation's gradient is the opposite rotation of the output's gradient.
        #[derive(Debug)]
        struct RotaryStep;

        impl<B: RotaryBackend> Backward<B, 1> for RotaryStep {
            type State = (FloatTensor<B>, FloatTensor<B>, f64);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (cos, sin, sign) = ops.state;
                let [x_node] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                if let Some(node) = x_node {
                    grads.register::<B>(node.id, B::rotary(dy, cos, sin, -sign));
                }
            }
        }

        // The tables are positions, not parameters: never differentiated.
        let (cos, sin) = (Self::inner(cos), Self::inner(sin));
        let (x_inner, x_node) = x.into_parts();
        match RotaryStep.prepare::<C>([x_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::rotary(x_inner, cos.clone(), sin.clone(), sign);
                prep.finish((cos, sin, sign), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::rotary(x_inner, cos, sin, sign)),
        }
    }
}
