//! The model's projections, `x · W`, as one operation with its own backward step on the CPU.
//!
//! Burn 0.22.1's CPU backend writes a matrix product into `FlexTensor::empty`, which allocates
//! the output as zeroed bytes and then copies it into a buffer aligned for any element type
//! (`Bytes::from_bytes_vec`): two extra passes over every product and, for one as large as the
//! LM head's `(tokens, vocab)` logits (260 MB on the `tiny` preset), fresh pages from the
//! operating system each time. Here `gemm`, the crate that backend calls, writes the product
//! once into a buffer of its own; the backward step does the same for `dy · Wᵀ` and `xᵀ · dy`,
//! reading both transposes through their strides rather than copying them. Other devices keep
//! Burn's `linear`, which fusion and autotuning serve there.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;

/// Backends that multiply `(.., d_in)` rows by a `(d_in, d_out)` matrix.
#[backend_extension(Flex, Autodiff)]
pub trait ProjectionBackend: Backend {
    /// `x (.., d_in) · w (d_in, d_out)`: `(.., d_out)`, for inputs of any strides.
    fn project(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl ProjectionBackend for burn::backend::Flex {
    fn project(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::project(x, w)
    }
}

impl<B: ProjectionBackend, C: CheckpointStrategy> ProjectionBackend for Autodiff<B, C> {
    fn project(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        /// `dx = dy · wᵀ`; `dw = xᵀ · dy` over all rows.
        #[derive(Debug)]
        struct ProjectStep;

        impl<B: ProjectionBackend> Backward<B, 2> for ProjectStep {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, w) = ops.state;
                let [x_node, w_node] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                if let Some(node) = w_node {
                    let (d_in, d_out) = (w.shape()[0], w.shape()[1]);
                    let rows = x.shape().num_elements() / d_in.max(1);
                    let x = B::float_reshape(x, [rows, d_in].into());
                    let dy = B::float_reshape(dy.clone(), [rows, d_out].into());
                    grads.register::<B>(node.id, B::project(B::float_transpose(x), dy));
                }
                if let Some(node) = x_node {
                    grads.register::<B>(node.id, B::project(dy, B::float_transpose(w)));
                }
            }
        }

        let (x_inner, x_node) = x.into_parts();
        let (w_inner, w_node) = w.into_parts();
        match ProjectStep
            .prepare::<C>([x_node, w_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::project(x_inner.clone(), w_inner.clone());
                prep.finish((x_inner, w_inner), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::project(x_inner, w_inner)),
        }
    }
}

/// `x (.., d_in) · w (d_in, d_out)`: `(.., d_out)`, differentiable in both. On the CPU, one
/// `gemm` call into a buffer of its own, each way; elsewhere Burn's `linear`.
pub fn project<const D: usize>(x: Tensor<D>, w: Tensor<2>) -> Tensor<D> {
    use burn::backend::Dispatch;
    if !on_flex(&x.device()) {
        return burn::tensor::module::linear(x, w, None);
    }
    let out = <Dispatch as ProjectionBackend>::project(x.into_dispatch(), w.into_dispatch());
    Tensor::from_dispatch(out)
}

/// `linear` applied to `x` `(.., d_in)`: its weight through [`project`], then its bias.
pub fn apply_linear<const D: usize>(linear: &Linear, x: Tensor<D>) -> Tensor<D> {
    let y = project(x, linear.weight.val());
    match &linear.bias {
        Some(bias) => y + bias.val().unsqueeze(),
        None => y,
    }
}

/// Whether `device` is the CPU backend's.
pub(crate) fn on_flex(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

/// The CPU side: strided operands, one `gemm` call, an output written once.
mod flex {
    use burn::backend::flex::FlexTensor;
    use burn::backend::ops::ModuleOps;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{DType, Flex};
    use burn::prelude::TensorData;

    use crate::model::strided_gemm::{product, view};

    pub fn project(x: FloatTensor<Flex>, w: FloatTensor<Flex>) -> FloatTensor<Flex> {
        if x.dtype() != DType::F32 || w.dtype() != DType::F32 {
            return Flex::linear(x, w, None);
        }
        let shape = x.layout().shape().clone();
        let rank = shape.num_dims();
        assert!(rank >= 2, "a projection takes rows: got a {rank}-D input");
        let (k, n) = (w.layout().shape()[0], w.layout().shape()[1]);
        assert_eq!(
            shape[rank - 1],
            k,
            "a projection's input width is its matrix's height"
        );
        // Leading dimensions must flatten into rows of one stride.
        let x = if rows_flatten(&x) {
            x
        } else {
            x.to_contiguous()
        };
        let rows = shape.num_elements() / k.max(1);
        let mut out_shape = shape.clone();
        out_shape[rank - 1] = n;
        let values = multiply(&x, &w, rows, k, n);
        FlexTensor::from_data(TensorData::new(values, out_shape))
    }

    /// `(rows, k) · (k, n)` from the operands' own strides, into a new buffer.
    fn multiply(x: &FlexTensor, w: &FlexTensor, rows: usize, k: usize, n: usize) -> Vec<f32> {
        let (mut x_copy, mut w_copy) = (None, None);
        product(view(x, &mut x_copy, rows, k), view(w, &mut w_copy, k, n))
    }

    /// Whether the dimensions before the last two merge into one row stride.
    fn rows_flatten(x: &FlexTensor) -> bool {
        let shape = x.layout().shape();
        let strides = x.layout().strides();
        let rank = shape.num_dims();
        (0..rank.saturating_sub(2))
            .all(|i| shape[i] == 1 || strides[i] == strides[i + 1] * shape[i + 1] as isize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::{self, assert_close as close, values};

    fn pattern(n: usize, seed: usize) -> Vec<f32> {
        test_values::pattern(n, seed, 2.0)
    }

    /// Values and both gradients equal Burn's `linear` on the CPU, for plain, batched and
    /// transposed (strided) operands and for shapes gemm splits over the cores.
    #[test]
    fn projection_and_its_gradients_equal_burns_linear() {
        let device = Device::flex().autodiff();
        for (b, t, k, n) in [(1, 3, 4, 5), (2, 7, 16, 9), (4, 64, 128, 300)] {
            for transposed_w in [false, true] {
                let x = Tensor::<3>::from_data(
                    TensorData::new(pattern(b * t * k, 1), [b, t, k]),
                    &device,
                )
                .require_grad();
                let w = if transposed_w {
                    Tensor::<2>::from_data(TensorData::new(pattern(k * n, 2), [n, k]), &device)
                        .require_grad()
                } else {
                    Tensor::<2>::from_data(TensorData::new(pattern(k * n, 2), [k, n]), &device)
                        .require_grad()
                };
                let weight = |w: &Tensor<2>| {
                    if transposed_w {
                        w.clone().transpose()
                    } else {
                        w.clone()
                    }
                };
                let scale = Tensor::<3>::from_data(
                    TensorData::new(pattern(b * t * n, 3), [b, t, n]),
                    &device,
                );
                let ours = project(x.clone(), weight(&w));
                let theirs = burn::tensor::module::linear(x.clone(), weight(&w), None);
                let what = format!("({b}, {t}, {k}) x ({k}, {n}), transposed {transposed_w}");
                close(
                    &values(ours.clone().inner()),
                    &values(theirs.clone().inner()),
                    &format!("{what}: values"),
                );
                let g1 = (ours * scale.clone()).sum().backward();
                let g2 = (theirs * scale).sum().backward();
                close(
                    &values(x.grad(&g1).unwrap()),
                    &values(x.grad(&g2).unwrap()),
                    &format!("{what}: input gradient"),
                );
                close(
                    &values(w.grad(&g1).unwrap()),
                    &values(w.grad(&g2).unwrap()),
                    &format!("{what}: weight gradient"),
                );
            }
        }
    }

    /// A non-contiguous input whose rows do not flatten (a slice of a transposed batch).
    #[test]
    fn inputs_whose_rows_do_not_flatten_are_copied_first() {
        let device = Device::flex();
        let x = Tensor::<3>::from_data(TensorData::new(pattern(5 * 6 * 4, 4), [5, 6, 4]), &device)
            .swap_dims(0, 1)
            .slice(s![1..4, .., ..]);
        let w = Tensor::<2>::from_data(TensorData::new(pattern(4 * 3, 5), [4, 3]), &device);
        close(
            &values(project(x.clone(), w.clone())),
            &values(burn::tensor::module::linear(x, w, None)),
            "swapped and sliced input",
        );
    }
}
