//! The SwiGLU product `silu(gate) · up` as one operation with its own backward step on the CPU.
//!
//! Burn composes it as `gate · sigmoid(gate) · up`: three passes forward, each into a new
//! buffer, the sigmoid through the C library's scalar `exp`; its autodiff keeps the sigmoid
//! and the SiLU for the backward step, which then takes six more passes (each product's rule
//! twice, the sigmoid's, and the sum of the gate's two gradient terms). Here the forward step
//! is one vectorised pass ([`crate::model::rows::sigmoid`]) and the backward step another,
//! writing both gradients; autodiff keeps only the two inputs. Other devices keep Burn's
//! composition, which its fusion joins into one kernel there.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, DType, backend_extension};
use burn::prelude::*;
use burn::tensor::activation::silu;

use super::projection::on_flex;

/// Backends that compute `silu(gate) · up` element by element.
#[backend_extension(Flex, Autodiff)]
pub trait SwiGluBackend: Backend {
    /// `silu(gate) · up` for two tensors of one shape.
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The gradients of `gate` and `up` given the output's, `dy`.
    fn swiglu_backward(
        gate: FloatTensor<Self>,
        up: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl SwiGluBackend for burn::backend::Flex {
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::forward(gate, up)
    }

    fn swiglu_backward(
        gate: FloatTensor<Self>,
        up: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        flex::backward(gate, up, dy)
    }
}

impl<B: SwiGluBackend, C: CheckpointStrategy> SwiGluBackend for Autodiff<B, C> {
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SwiGluStep;

        impl<B: SwiGluBackend> Backward<B, 2> for SwiGluStep {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (gate, up) = ops.state;
                let [gate_node, up_node] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (d_gate, d_up) = B::swiglu_backward(gate, up, dy);
                for (node, grad) in [(gate_node, d_gate), (up_node, d_up)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let (gate, gate_node) = gate.into_parts();
        let (up, up_node) = up.into_parts();
        match SwiGluStep
            .prepare::<C>([gate_node, up_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::swiglu(gate.clone(), up.clone());
                prep.finish((gate, up), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::swiglu(gate, up)),
        }
    }

    fn swiglu_backward(
        gate: FloatTensor<Self>,
        up: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // A gradient is not differentiated again: computed on the inner backend, untracked.
        let (d_gate, d_up) =
            B::swiglu_backward(Self::inner(gate), Self::inner(up), Self::inner(dy));
        (Self::from_inner(d_gate), Self::from_inner(d_up))
    }
}

/// `silu(gate) · up`, differentiable in both: one pass each way for f32 on the CPU backend,
/// Burn's composition elsewhere.
pub fn swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    use burn::backend::Dispatch;
    let fused = on_flex(&gate.device())
        && gate.dtype() == DType::F32
        && up.dtype() == DType::F32
        && gate.dims() == up.dims();
    if !fused {
        return silu(gate) * up;
    }
    let out = <Dispatch as SwiGluBackend>::swiglu(gate.into_dispatch(), up.into_dispatch());
    Tensor::from_dispatch(out)
}

/// The CPU side: contiguous operands, element-wise passes over chunks on every core.
mod flex {
    use std::mem::MaybeUninit;

    use burn::backend::flex::{FlexTensor, Layout};
    use burn::backend::ops::{ActivationOps, FloatTensorOps};
    use burn::backend::{Bytes, DType, Flex};
    use multiversion::multiversion;

    use crate::model::rows::{for_each_chunk, for_each_chunk_pair, sigmoid};

    /// Elements one task takes at once.
    const CHUNK: usize = 1 << 14;

    /// Whether the fused loops serve these operands: f32, all of one shape.
    fn fits(tensors: &[&FlexTensor]) -> bool {
        let shape = tensors[0].layout().shape();
        tensors
            .iter()
            .all(|t| t.dtype() == DType::F32 && t.layout().shape() == shape)
    }

    /// The tensor's values in row-major order, copied only when its layout is not already so.
    fn dense(t: FlexTensor) -> FlexTensor {
        if t.is_contiguous() {
            t
        } else {
            t.to_contiguous()
        }
    }

    fn elements(t: &FlexTensor) -> &[f32] {
        let n = t.layout().num_elements();
        &t.storage::<f32>()[t.layout().start_offset()..][..n]
    }

    /// A new tensor shaped like `like`, each of its elements written once by `fill`, chunk by chunk.
    fn written(
        like: &FlexTensor,
        fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Send + Sync,
    ) -> FlexTensor {
        let shape = like.layout().shape().clone();
        let n = shape.num_elements();
        let mut values: Vec<f32> = Vec::with_capacity(n);
        for_each_chunk(&mut values.spare_capacity_mut()[..n], CHUNK, fill);
        // SAFETY: `fill` wrote every element of every chunk, and the chunks cover `0..n`.
        unsafe { values.set_len(n) };
        FlexTensor::new(
            Bytes::from_elems(values),
            Layout::contiguous(shape),
            DType::F32,
        )
    }

    pub fn forward(gate: FlexTensor, up: FlexTensor) -> FlexTensor {
        if !fits(&[&gate, &up]) {
            return Flex::float_mul(Flex::float_mul(gate.clone(), Flex::sigmoid(gate)), up);
        }
        let (gate, up) = (dense(gate), dense(up));
        let (g, u) = (elements(&gate), elements(&up));
        written(&gate, |i, out| {
            let at = i * CHUNK;
            forward_chunk(&g[at..][..out.len()], &u[at..][..out.len()], out);
        })
    }

    pub fn backward(gate: FlexTensor, up: FlexTensor, dy: FlexTensor) -> (FlexTensor, FlexTensor) {
        if !fits(&[&gate, &up, &dy]) {
            return composed_backward(gate, up, dy);
        }
        let (gate, up, dy) = (dense(gate), dense(up), dense(dy));
        let (g, u, d) = (elements(&gate), elements(&up), elements(&dy));
        let n = g.len();
        let (mut d_gate, mut d_up) = (Vec::<f32>::with_capacity(n), Vec::<f32>::with_capacity(n));
        for_each_chunk_pair(
            &mut d_gate.spare_capacity_mut()[..n],
            CHUNK,
            &mut d_up.spare_capacity_mut()[..n],
            CHUNK,
            |i, d_gate, d_up| {
                let at = i * CHUNK;
                let len = d_gate.len();
                backward_chunk(
                    &g[at..][..len],
                    &u[at..][..len],
                    &d[at..][..len],
                    d_gate,
                    d_up,
                );
            },
        );
        // SAFETY: every chunk of both was written, and the chunks cover `0..n`.
        unsafe {
            d_gate.set_len(n);
            d_up.set_len(n);
        }
        let tensor = |values: Vec<f32>| {
            FlexTensor::new(
                Bytes::from_elems(values),
                Layout::contiguous(gate.layout().shape().clone()),
                DType::F32,
            )
        };
        (tensor(d_gate), tensor(d_up))
    }

    /// `out = silu(g) · u`.
    #[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
    fn forward_chunk(g: &[f32], u: &[f32], out: &mut [MaybeUninit<f32>]) {
        for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
            o.write(g * sigmoid(g) * u);
        }
    }

    /// `∂/∂g = dy · u · σ(g) · (1 + g · (1 - σ(g)))` (SiLU's derivative times `u`) and
    /// `∂/∂u = dy · silu(g)`.
    #[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
    fn backward_chunk(
        g: &[f32],
        u: &[f32],
        dy: &[f32],
        d_gate: &mut [MaybeUninit<f32>],
        d_up: &mut [MaybeUninit<f32>],
    ) {
        let outputs = d_gate.iter_mut().zip(d_up.iter_mut());
        for ((((dg, du), &g), &u), &dy) in outputs.zip(g).zip(u).zip(dy) {
            let s = sigmoid(g);
            dg.write(dy * u * s * (1.0 + g * (1.0 - s)));
            du.write(dy * g * s);
        }
    }

    /// The same gradients from Burn's operations, for other element types.
    fn composed_backward(
        gate: FlexTensor,
        up: FlexTensor,
        dy: FlexTensor,
    ) -> (FlexTensor, FlexTensor) {
        let s = Flex::sigmoid(gate.clone());
        let silu = Flex::float_mul(gate.clone(), s.clone());
        let d_up = Flex::float_mul(dy.clone(), silu);
        let one_minus_s = Flex::float_add_scalar(Flex::float_neg(s.clone()), 1.0f32.into());
        let slope = Flex::float_add_scalar(Flex::float_mul(gate, one_minus_s), 1.0f32.into());
        let d_gate = Flex::float_mul(Flex::float_mul(Flex::float_mul(dy, up), s), slope);
        (d_gate, d_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::{assert_close as close, pattern, values};

    fn tensor<const D: usize>(
        n: usize,
        seed: usize,
        dims: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        Tensor::<D>::from_data(TensorData::new(pattern(n, seed, 12.0), dims), device)
    }

    /// Values and both gradients equal Burn's `silu(gate) * up` on the CPU, for a small shape,
    /// one that several chunks cover (with a short last one) and a transposed (strided) gate.
    #[test]
    fn swiglu_and_its_gradients_equal_burns_composition() {
        let device = Device::flex().autodiff();
        for (b, t, f, transposed) in [(1, 3, 5, false), (3, 50, 347, false), (2, 33, 40, true)] {
            let n = b * t * f;
            let gate = if transposed {
                tensor(n, 1, [b, f, t], &device).require_grad()
            } else {
                tensor(n, 1, [b, t, f], &device).require_grad()
            };
            let gate_of = |g: &Tensor<3>| match transposed {
                true => g.clone().swap_dims(1, 2),
                false => g.clone(),
            };
            let up = tensor(n, 2, [b, t, f], &device).require_grad();
            let scale = tensor(n, 3, [b, t, f], &device);
            let ours = swiglu(gate_of(&gate), up.clone());
            let theirs = silu(gate_of(&gate)) * up.clone();
            let what = format!("({b}, {t}, {f}), transposed gate {transposed}");
            close(
                &values(ours.clone().inner()),
                &values(theirs.clone().inner()),
                &format!("{what}: values"),
            );
            let g1 = (ours * scale.clone()).sum().backward();
            let g2 = (theirs * scale).sum().backward();
            for (name, p) in [("gate", &gate), ("up", &up)] {
                close(
                    &values(p.grad(&g1).unwrap()),
                    &values(p.grad(&g2).unwrap()),
                    &format!("{what}: gradient of {name}"),
                );
            }
        }
    }

    /// Only the input that asks for a gradient gets one; untracked inputs work as in inference.
    #[test]
    fn an_input_without_a_gradient_gets_none() {
        let device = Device::flex().autodiff();
        let gate = tensor(24, 4, [2, 3, 4], &device).require_grad();
        let up = tensor(24, 5, [2, 3, 4], &device);
        let grads = swiglu(gate.clone(), up.clone()).sum().backward();
        assert!(gate.grad(&grads).is_some());
        assert!(up.grad(&grads).is_none());
        let plain = Device::flex();
        let (g, u) = (
            tensor(24, 4, [2, 3, 4], &plain),
            tensor(24, 5, [2, 3, 4], &plain),
        );
        close(
            &values(swiglu(g.clone(), u.clone())),
            &values(silu(g) * u),
            "without autodiff",
        );
    }
}
