//! The language-model head and the next-token loss as one step, a chunk of rows at a time.
//!
//! Written plainly (head, then [`cross_entropy`]), training keeps the `(tokens, vocab)` logits
//! for the backward pass and makes a gradient of the same size there: at LLaMA-2's 32,000-token
//! vocabulary and 2,048 tokens a batch, 260 MB each, more than all other activations of a small
//! model. Here the head runs on a chunk of rows at a time. The loss is the last step of the
//! graph and each row's weight is fixed, so each chunk's gradients are known as soon as its
//! logits are: `d = (softmax - one_hot) * weight`, then `d · headᵀ` for the hidden states and
//! `hiddenᵀ · d` for the head. The forward pass accumulates them and hands them to autodiff
//! through a surrogate whose value is zero and whose first derivatives are exactly those
//! gradients, so only `(tokens, hidden)` and `(hidden, vocab)` gradients wait for the backward
//! pass. The arithmetic is the same three matrix products as the plain way. Liger-Kernel's
//! fused linear cross-entropy computes its gradients in the forward pass for the same reason.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, backend_extension};
use burn::prelude::*;

use super::cross_entropy::{cross_entropy, cross_entropy_grad};
use super::projection::{on_flex, project};

/// Logits computed at once: about 8 M (32 MB) per chunk.
const LOGITS_PER_CHUNK: usize = 1 << 23;

/// Everything the head and loss take besides the two matrices.
#[derive(Debug, Clone)]
pub struct HeadLossRows {
    /// One vocabulary id per row.
    pub targets: Vec<i64>,
    /// One weight per row.
    pub weights: Vec<f32>,
    /// Logits held at once.
    pub logits_per_chunk: usize,
    /// Whether the hidden states' gradient is wanted.
    pub hidden_grad: bool,
    /// Whether the head's gradient is wanted.
    pub head_grad: bool,
}

/// Backends that run the head and the loss as one step, gradients included.
#[backend_extension(Flex)]
pub trait HeadLossBackend: Backend {
    /// The weighted loss `(1)`, the gradient of the hidden states `(rows, hidden)` and the
    /// head's `(hidden, vocab)`; a gradient not asked for is empty (no rows).
    fn head_loss(
        hidden: FloatTensor<Self>,
        head: FloatTensor<Self>,
        rows: HeadLossRows,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl HeadLossBackend for burn::backend::Flex {
    fn head_loss(
        hidden: FloatTensor<Self>,
        head: FloatTensor<Self>,
        rows: HeadLossRows,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex::head_loss(&hidden, &head, &rows)
    }
}

/// `sum(weights[r] * nll(targets[r] | hidden[r] · head))` over the rows of `hidden`
/// `(rows, hidden)` with `head` `(hidden, vocab)`: a `(1)` tensor, differentiable with respect to
/// `hidden` and `head` wherever they are tracked. A weight of 0 ignores its row (its target must
/// still be a vocabulary id).
pub fn weighted_nll_sum(
    hidden: Tensor<2>,
    head: Tensor<2>,
    targets: &[i64],
    weights: &[f32],
) -> Tensor<1> {
    weighted_nll_sum_in_chunks(hidden, head, targets, weights, LOGITS_PER_CHUNK, true)
}

/// The loss and, where wanted, the gradients of the hidden states and the head.
type LossAndGrads = (Tensor<1>, Option<Tensor<2>>, Option<Tensor<2>>);

/// [`weighted_nll_sum`] with `logits_per_chunk` logits at once; `fuse` lets the CPU run its own
/// kernel (the tests compare both ways).
fn weighted_nll_sum_in_chunks(
    hidden: Tensor<2>,
    head: Tensor<2>,
    targets: &[i64],
    weights: &[f32],
    logits_per_chunk: usize,
    fuse: bool,
) -> Tensor<1> {
    let [n, h] = hidden.dims();
    let [head_in, vocab] = head.dims();
    assert_eq!(h, head_in, "the head takes the hidden states' width");
    assert_eq!(targets.len(), n, "one target per row");
    assert_eq!(weights.len(), n, "one weight per row");
    if let Some(t) = targets.iter().find(|&&t| !(0..vocab as i64).contains(&t)) {
        panic!("target id {t} outside the vocabulary of {vocab}");
    }
    let rows = HeadLossRows {
        targets: targets.to_vec(),
        weights: weights.to_vec(),
        logits_per_chunk,
        hidden_grad: hidden.is_tracked(),
        head_grad: head.is_tracked(),
    };
    let autodiff = hidden.is_autodiff() || head.is_autodiff();
    let (x, w) = (hidden.clone().inner(), head.clone().inner());
    let fused_here = on_flex(&x.device()) && x.dtype() == DType::F32 && w.dtype() == DType::F32;
    let (loss, hidden_grad, head_grad) = if fuse && fused_here {
        fused(x, w, rows)
    } else {
        composed(x, w, rows)
    };
    if !autodiff {
        return loss;
    }
    let mut surrogate: Option<Tensor<1>> = None;
    let mut add = |term: Tensor<1>| {
        surrogate = Some(match surrogate.take() {
            Some(s) => s + term,
            None => term,
        })
    };
    if let Some(g) = hidden_grad {
        add((hidden * g.autodiff()).sum());
    }
    if let Some(g) = head_grad {
        add((head * g.autodiff()).sum());
    }
    let loss = loss.autodiff();
    match surrogate {
        // Zero in value (a finite number minus itself), the gradients in its derivatives.
        Some(s) => loss + (s.clone() - s.detach()),
        None => loss,
    }
}

/// The CPU's own kernel: one call for the loss and both gradients.
fn fused(x: Tensor<2>, w: Tensor<2>, rows: HeadLossRows) -> LossAndGrads {
    use burn::backend::Dispatch;
    let (hidden_grad, head_grad) = (rows.hidden_grad, rows.head_grad);
    let (loss, dx, dw) =
        <Dispatch as HeadLossBackend>::head_loss(x.into_dispatch(), w.into_dispatch(), rows);
    (
        Tensor::from_dispatch(loss),
        hidden_grad.then(|| Tensor::from_dispatch(dx)),
        head_grad.then(|| Tensor::from_dispatch(dw)),
    )
}

/// Every device: the head through [`project`], the loss and its gradient through
/// [`cross_entropy`], a chunk of rows at a time.
fn composed(x_all: Tensor<2>, w_all: Tensor<2>, rows: HeadLossRows) -> LossAndGrads {
    let [n, _] = x_all.dims();
    let [_, vocab] = w_all.dims();
    let w_t = rows.hidden_grad.then(|| w_all.clone().transpose());
    let device = x_all.device();
    let rows_per_chunk = (rows.logits_per_chunk / vocab.max(1)).clamp(1, n.max(1));

    let mut loss = Tensor::<1>::zeros([1], &device);
    let mut hidden_grad = Vec::new();
    let mut head_grad: Option<Tensor<2>> = None;
    for start in (0..n).step_by(rows_per_chunk) {
        let end = (start + rows_per_chunk).min(n);
        let x = x_all.clone().slice(s![start..end, ..]);
        let logits = project(x.clone(), w_all.clone());
        let t = Tensor::<1, Int>::from_data(
            TensorData::new(rows.targets[start..end].to_vec(), [end - start]),
            &device,
        );
        let w = Tensor::<1>::from_data(
            TensorData::new(rows.weights[start..end].to_vec(), [end - start]),
            &device,
        );
        loss = loss + (cross_entropy(logits.clone(), t.clone()) * w.clone()).sum();
        if !(rows.hidden_grad || rows.head_grad) {
            continue;
        }
        let d = cross_entropy_grad(logits, t, w);
        if let Some(w_t) = &w_t {
            hidden_grad.push(project(d.clone(), w_t.clone()));
        }
        if rows.head_grad {
            let g = project(x.transpose(), d);
            head_grad = Some(match head_grad {
                Some(acc) => acc + g,
                None => g,
            });
        }
    }
    let hidden_grad = rows.hidden_grad.then(|| Tensor::cat(hidden_grad, 0));
    (loss, hidden_grad, head_grad)
}

/// The CPU kernel. For each chunk of rows: the logits by one `gemm` into a buffer reused from
/// chunk to chunk; each row turned in place into the gradient of its weighted loss (one
/// exponential per logit); then `d · headᵀ` written into the hidden states' gradient and
/// `hiddenᵀ · d` added into the head's, with no other buffer the size of either.
mod flex {
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{DType, Flex};
    use burn::prelude::TensorData;

    use super::HeadLossRows;
    use crate::model::rows::{
        exp_shifted_by_max_in_place, for_each_chunk_pair, log_sum_exp, scale_in_place,
    };
    use crate::model::strided_gemm::{Strided, multiply_into, view};

    /// Rows handed to one task: enough work to amortise scheduling, small enough to balance.
    const ROWS_PER_TASK: usize = 8;

    pub fn head_loss(
        hidden: &FlexTensor,
        head: &FlexTensor,
        rows: &HeadLossRows,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>, FloatTensor<Flex>) {
        assert!(
            hidden.dtype() == DType::F32 && head.dtype() == DType::F32,
            "the CPU head and loss take f32"
        );
        let (n, h) = (hidden.layout().shape()[0], hidden.layout().shape()[1]);
        let v = head.layout().shape()[1];
        let (mut x_copy, mut w_copy) = (None, None);
        let x = view(hidden, &mut x_copy, n, h);
        let w = view(head, &mut w_copy, h, v);
        let grads = rows.hidden_grad || rows.head_grad;
        let chunk_rows = (rows.logits_per_chunk / v.max(1)).clamp(1, n.max(1));

        let mut logits = vec![0f32; chunk_rows.min(n) * v];
        let mut nll = vec![0f32; n];
        let mut hidden_grad = vec![0f32; if rows.hidden_grad { n * h } else { 0 }];
        let mut head_grad = vec![0f32; if rows.head_grad { h * v } else { 0 }];
        for start in (0..n).step_by(chunk_rows) {
            let end = (start + chunk_rows).min(n);
            let logits = &mut logits[..(end - start) * v];
            let x_rows = x.rows(start, end);
            multiply_into(logits, v, x_rows, w, false);
            let targets = &rows.targets[start..end];
            let weights = &rows.weights[start..end];
            for_each_chunk_pair(
                logits,
                ROWS_PER_TASK * v,
                &mut nll[start..end],
                ROWS_PER_TASK,
                |task, logits, nll| {
                    for (i, (row, nll)) in logits.chunks_mut(v).zip(nll).enumerate() {
                        let r = task * ROWS_PER_TASK + i;
                        *nll = if grads {
                            row_gradient(row, targets[r] as usize, weights[r])
                        } else {
                            log_sum_exp(row) - row[targets[r] as usize]
                        };
                    }
                },
            );
            if !grads {
                continue;
            }
            let d = Strided::row_major(logits, end - start, v);
            if rows.hidden_grad {
                multiply_into(&mut hidden_grad[start * h..end * h], h, d, w.t(), false);
            }
            if rows.head_grad {
                multiply_into(&mut head_grad, v, x_rows.t(), d, start > 0);
            }
        }
        let loss: f64 = nll
            .iter()
            .zip(&rows.weights)
            .map(|(&l, &w)| l as f64 * w as f64)
            .sum();
        let tensor = |values: Vec<f32>, shape: [usize; 2]| {
            FlexTensor::from_data(TensorData::new(values, shape))
        };
        let hidden_rows = if rows.hidden_grad { n } else { 0 };
        let head_rows = if rows.head_grad { h } else { 0 };
        (
            FlexTensor::from_data(TensorData::new(vec![loss as f32], [1])),
            tensor(hidden_grad, [hidden_rows, h]),
            tensor(head_grad, [head_rows, v]),
        )
    }

    /// The row's negative log-likelihood of `target`; the row becomes the gradient of
    /// `weight` times it: `(softmax(row) - one_hot(target)) * weight`.
    fn row_gradient(row: &mut [f32], target: usize, weight: f32) -> f32 {
        let picked = row[target];
        let (max, sum) = exp_shifted_by_max_in_place(row);
        scale_in_place(row, weight / sum);
        row[target] -= weight;
        max + sum.ln() - picked
    }
}

#[cfg(test)]
mod tests {
    use super::weighted_nll_sum_in_chunks;
    use crate::model::cross_entropy::cross_entropy;
    use crate::model::test_values::{pattern, values};
    use burn::prelude::*;

    /// How the loss is computed: chunked (logits per chunk, the CPU kernel or composed), or
    /// plainly, head then cross-entropy.
    #[derive(Debug, Clone, Copy)]
    enum Way {
        Chunked(usize, bool),
        Plain,
    }

    /// The loss and the gradients of hidden states and head; `tied` stores the head as its
    /// transpose, `(vocab, hidden)`, as a tied embedding does.
    fn loss_and_grads(
        way: Way,
        tied: bool,
        targets: &[i64],
        weights: &[f32],
        (n, h, v): (usize, usize, usize),
    ) -> (f32, Vec<f32>, Vec<f32>) {
        let device = Device::flex().autodiff();
        let hidden =
            Tensor::<2>::from_data(TensorData::new(pattern(n * h, 1, 3.0), [n, h]), &device)
                .require_grad();
        let stored = if tied { [v, h] } else { [h, v] };
        let param =
            Tensor::<2>::from_data(TensorData::new(pattern(h * v, 2, 2.0), stored), &device)
                .require_grad();
        let head = if tied {
            param.clone().transpose()
        } else {
            param.clone() * 1.0
        };
        let loss = match way {
            Way::Chunked(c, fuse) => {
                weighted_nll_sum_in_chunks(hidden.clone() * 1.0, head, targets, weights, c, fuse)
            }
            Way::Plain => {
                let t =
                    Tensor::<1, Int>::from_data(TensorData::new(targets.to_vec(), [n]), &device);
                let wt = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [n]), &device);
                (cross_entropy(hidden.clone().matmul(head), t) * wt).sum()
            }
        };
        // A later step of the graph scales the loss: the gradients must follow it.
        let scaled = loss.clone().mul_scalar(0.5);
        let grads = scaled.backward();
        (
            loss.inner().into_scalar::<f32>(),
            values(hidden.grad(&grads).unwrap()),
            values(param.grad(&grads).unwrap()),
        )
    }

    #[test]
    fn chunked_head_loss_equals_the_plain_head_then_cross_entropy() {
        let (n, h, v) = (23, 16, 301);
        let targets: Vec<i64> = (0..n).map(|r| ((r * 37) % v) as i64).collect();
        // Ignored rows (weight 0) and a mean's weights.
        let weights: Vec<f32> = (0..n)
            .map(|r| if r % 4 == 1 { 0.0 } else { 1.0 / 17.0 })
            .collect();
        for tied in [false, true] {
            let plain = loss_and_grads(Way::Plain, tied, &targets, &weights, (n, h, v));
            // One chunk, chunks that do not divide the rows, and one row at a time; the CPU's
            // kernel and the composed operations.
            for chunk_logits in [n * v, 5 * v, 1] {
                for fuse in [true, false] {
                    let way = Way::Chunked(chunk_logits, fuse);
                    let got = loss_and_grads(way, tied, &targets, &weights, (n, h, v));
                    let what = format!("{way:?}, tied {tied}");
                    assert!(
                        (got.0 - plain.0).abs() < 1e-5,
                        "{what}: loss {} vs {}",
                        got.0,
                        plain.0
                    );
                    for (name, a, b) in [("hidden", &got.1, &plain.1), ("head", &got.2, &plain.2)] {
                        let worst = a
                            .iter()
                            .zip(b)
                            .map(|(a, b)| (a - b).abs())
                            .fold(0f32, f32::max);
                        assert!(worst < 1e-6, "{what}: {name} gradient differs by {worst}");
                        assert!(
                            a.iter().any(|&g| g != 0.0),
                            "{what}: {name} gradient is zero"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn without_autodiff_only_the_loss_is_computed() {
        let device = Device::flex();
        for fuse in [true, false] {
            let hidden =
                Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0], [1, 2]), &device);
            let head = Tensor::<2>::from_data(
                TensorData::new(vec![1.0f32, 0.0, -1.0, 0.0, 2.0, 1.0], [2, 3]),
                &device,
            );
            let loss = weighted_nll_sum_in_chunks(hidden, head, &[2], &[2.0], 1, fuse);
            // logits (0.5, -2, -1.5): 2 * (logsumexp - (-1.5)).
            let lse = (0.5f64.exp() + (-2f64).exp() + (-1.5f64).exp()).ln();
            let want = 2.0 * (lse + 1.5);
            assert!((loss.into_scalar::<f32>() as f64 - want).abs() < 1e-5);
        }
    }

    #[test]
    #[should_panic(expected = "target id 3 outside the vocabulary of 3")]
    fn a_target_outside_the_vocabulary_is_refused() {
        let device = Device::flex();
        let hidden = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0], [1, 2]), &device);
        let head = Tensor::<2>::zeros([2, 3], &device);
        weighted_nll_sum_in_chunks(hidden, head, &[3], &[1.0], 1, true);
    }
}
