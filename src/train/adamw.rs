//! One AdamW update of a flattened parameter: written with tensor operations for every device,
//! and as one pass over memory on the CPU.
//!
//! The tensor form makes about a dozen passes over arrays the size of the parameter (decay,
//! each moment, the square root, the division, the step), each reading and writing it whole:
//! for a model whose embedding and head hold 16 M values each, most of the update's time goes
//! to memory. Fusion merges those passes on the GPU. On the CPU, [`adamw_update`] reads the
//! parameter, its gradient and both moments once and writes the three results once, with the
//! same arithmetic in the same order.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, backend_extension};
use burn::prelude::*;

use crate::model::projection::on_flex;

/// The scalars of one update, in the order the arithmetic uses them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWScalars {
    /// `1 - lr * weight_decay` (1 when the parameter is not decayed).
    pub keep: f64,
    pub beta1: f64,
    pub beta2: f64,
    /// `sqrt(1 - beta2^t)`.
    pub bias2_sqrt: f64,
    pub eps: f64,
    /// `lr / (1 - beta1^t)`.
    pub step: f64,
}

/// Backends with a fused AdamW update.
#[backend_extension(Flex)]
pub trait AdamWBackend: Backend {
    /// The updated parameter and moments, all `(n)`.
    fn adamw(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scalars: AdamWScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl AdamWBackend for burn::backend::Flex {
    fn adamw(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scalars: AdamWScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex::adamw(param, &grad, m, v, scalars)
    }
}

/// `(param, m, v)` after one AdamW update of the flattened `param` with `grad`; `moments` are
/// the previous `(m, v)`, or `None` before the first step. `torch.optim.AdamW`'s arithmetic:
/// decoupled decay, then the moments, then `param - step * m / (sqrt(v) / bias2_sqrt + eps)`.
pub fn adamw_update(
    param: Tensor<1>,
    grad: Tensor<1>,
    moments: Option<(Tensor<1>, Tensor<1>)>,
    s: AdamWScalars,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let f32_everywhere = [Some(&param), Some(&grad)]
        .into_iter()
        .chain(moments.iter().flat_map(|(m, v)| [Some(m), Some(v)]))
        .flatten()
        .all(|t| t.dtype() == DType::F32);
    if on_flex(&param.device()) && f32_everywhere {
        use burn::backend::Dispatch;
        let (m, v) = moments.unwrap_or_else(|| {
            let zeros = Tensor::<1>::zeros(param.dims(), &param.device());
            (zeros.clone(), zeros)
        });
        let (p, m, v) = <Dispatch as AdamWBackend>::adamw(
            param.into_dispatch(),
            grad.into_dispatch(),
            m.into_dispatch(),
            v.into_dispatch(),
            s,
        );
        return (
            Tensor::from_dispatch(p),
            Tensor::from_dispatch(m),
            Tensor::from_dispatch(v),
        );
    }
    composed(param, grad, moments, s)
}

/// The update from tensor operations: every device, and the reference for the CPU's pass.
pub fn composed(
    param: Tensor<1>,
    grad: Tensor<1>,
    moments: Option<(Tensor<1>, Tensor<1>)>,
    s: AdamWScalars,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let param = if s.keep != 1.0 {
        param.mul_scalar(s.keep)
    } else {
        param
    };
    let (m, v) = match moments {
        Some((m, v)) => (
            m.mul_scalar(s.beta1) + grad.clone().mul_scalar(1.0 - s.beta1),
            v.mul_scalar(s.beta2) + grad.square().mul_scalar(1.0 - s.beta2),
        ),
        None => (
            grad.clone().mul_scalar(1.0 - s.beta1),
            grad.square().mul_scalar(1.0 - s.beta2),
        ),
    };
    let denom = v.clone().sqrt().div_scalar(s.bias2_sqrt).add_scalar(s.eps);
    let updated = param - m.clone().div(denom).mul_scalar(s.step);
    (updated, m, v)
}

/// The CPU pass: chunks of the four arrays in parallel, each chunk one vectorised loop.
mod flex {
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{DType, Flex};
    use multiversion::multiversion;

    use super::AdamWScalars;

    /// Values per task: large enough to amortise scheduling, small enough to balance two cores.
    const CHUNK: usize = 1 << 16;

    /// The scalars as the tensor form applies them: each rounded to f32 once.
    #[derive(Clone, Copy)]
    struct Scalars {
        keep: f32,
        beta1: f32,
        one_minus_beta1: f32,
        beta2: f32,
        one_minus_beta2: f32,
        bias2_sqrt: f32,
        eps: f32,
        step: f32,
        decays: bool,
    }

    fn values(t: &FlexTensor) -> FlexTensor {
        assert_eq!(t.dtype(), DType::F32, "the fused AdamW update takes f32");
        if t.is_contiguous() && t.layout().start_offset() == 0 {
            t.clone()
        } else {
            t.to_contiguous()
        }
    }

    pub fn adamw(
        param: FlexTensor,
        grad: &FlexTensor,
        m: FlexTensor,
        v: FlexTensor,
        s: AdamWScalars,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>, FloatTensor<Flex>) {
        let n = param.layout().num_elements();
        let g = values(grad);
        let [mut p, mut m, mut v] = [param, m, v].map(|t| values(&t));
        for (name, t) in [
            ("gradient", &g),
            ("first moment", &m),
            ("second moment", &v),
        ] {
            assert_eq!(
                t.layout().num_elements(),
                n,
                "the {name} differs in size from its parameter"
            );
        }
        let c = Scalars {
            keep: s.keep as f32,
            beta1: s.beta1 as f32,
            one_minus_beta1: (1.0 - s.beta1) as f32,
            beta2: s.beta2 as f32,
            one_minus_beta2: (1.0 - s.beta2) as f32,
            bias2_sqrt: s.bias2_sqrt as f32,
            eps: s.eps as f32,
            step: s.step as f32,
            decays: s.keep != 1.0,
        };
        {
            let g = &g.storage::<f32>()[..n];
            // In place where a buffer is the tensor's alone (the optimiser's moments, the
            // parameter once its graph is gone); copied first where it is shared.
            let op = &mut p.storage_mut::<f32>()[..n];
            let om = &mut m.storage_mut::<f32>()[..n];
            let ov = &mut v.storage_mut::<f32>()[..n];
            let task = |i: usize, (op, (om, ov)): (&mut [f32], (&mut [f32], &mut [f32]))| {
                let g = &g[i * CHUNK..][..op.len()];
                update(op, om, ov, g, c);
            };
            #[cfg(feature = "native")]
            {
                use rayon::prelude::*;
                op.par_chunks_mut(CHUNK)
                    .zip(om.par_chunks_mut(CHUNK).zip(ov.par_chunks_mut(CHUNK)))
                    .enumerate()
                    .for_each(|(i, chunk)| task(i, chunk));
            }
            #[cfg(not(feature = "native"))]
            op.chunks_mut(CHUNK)
                .zip(om.chunks_mut(CHUNK).zip(ov.chunks_mut(CHUNK)))
                .enumerate()
                .for_each(|(i, chunk)| task(i, chunk));
        }
        (p, m, v)
    }

    /// One chunk, in place: the parameter `p` and moments `m`, `v` updated with gradient `g`.
    #[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
    fn update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Scalars) {
        for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
            let param = if c.decays { *p * c.keep } else { *p };
            *m = *m * c.beta1 + g * c.one_minus_beta1;
            *v = *v * c.beta2 + (g * g) * c.one_minus_beta2;
            let denom = v.sqrt() / c.bias2_sqrt + c.eps;
            *p = param - (*m / denom) * c.step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::{pattern, values};

    /// Three steps of the CPU's pass equal three steps of the tensor form, with and without
    /// decay, over a size that is not a whole number of chunks.
    #[test]
    fn the_fused_update_equals_the_tensor_form() {
        let device = Device::flex();
        let n = (1 << 16) * 2 + 1_234;
        let tensor = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [n]), &device);
        for keep in [1.0, 1.0 - 1e-3 * 0.1] {
            let mut fused = (tensor(pattern(n, 1, 2.0)), None::<(Tensor<1>, Tensor<1>)>);
            let mut plain = (tensor(pattern(n, 1, 2.0)), None::<(Tensor<1>, Tensor<1>)>);
            for t in 1..=3 {
                let grad = tensor(pattern(n, 10 + t, 0.3));
                let s = AdamWScalars {
                    keep,
                    beta1: 0.9,
                    beta2: 0.95,
                    bias2_sqrt: (1.0f64 - 0.95f64.powi(t as i32)).sqrt(),
                    eps: 1e-8,
                    step: 1e-3 / (1.0 - 0.9f64.powi(t as i32)),
                };
                let (p, m, v) = adamw_update(fused.0, grad.clone(), fused.1, s);
                fused = (p, Some((m, v)));
                let (p, m, v) = composed(plain.0, grad, plain.1, s);
                plain = (p, Some((m, v)));
            }
            let (fm, fv) = fused.1.unwrap();
            let (pm, pv) = plain.1.unwrap();
            for (what, a, b) in [
                ("parameter", fused.0, plain.0),
                ("first moment", fm, pm),
                ("second moment", fv, pv),
            ] {
                let (a, b) = (values(a), values(b));
                let worst = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs() / y.abs().max(1e-6))
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-5,
                    "{what} (keep {keep}) differs by {worst} relatively"
                );
            }
        }
    }
}
