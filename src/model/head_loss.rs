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

use burn::prelude::*;

use super::cross_entropy::{cross_entropy, cross_entropy_grad};
use super::projection::project;

/// Logits computed at once: about 8 M (32 MB) per chunk.
const LOGITS_PER_CHUNK: usize = 1 << 23;

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
    weighted_nll_sum_in_chunks(hidden, head, targets, weights, LOGITS_PER_CHUNK)
}

fn weighted_nll_sum_in_chunks(
    hidden: Tensor<2>,
    head: Tensor<2>,
    targets: &[i64],
    weights: &[f32],
    logits_per_chunk: usize,
) -> Tensor<1> {
    let [n, h] = hidden.dims();
    let [head_in, vocab] = head.dims();
    assert_eq!(h, head_in, "the head takes the hidden states' width");
    assert_eq!(targets.len(), n, "one target per row");
    assert_eq!(weights.len(), n, "one weight per row");
    let hidden_grad_wanted = hidden.is_tracked();
    let head_grad_wanted = head.is_tracked();
    let autodiff = hidden.is_autodiff() || head.is_autodiff();

    let x_all = hidden.clone().inner();
    let w_all = head.clone().inner();
    let w_t = hidden_grad_wanted.then(|| w_all.clone().transpose());
    let device = x_all.device();
    let rows_per_chunk = (logits_per_chunk / vocab.max(1)).clamp(1, n.max(1));

    let mut loss = Tensor::<1>::zeros([1], &device);
    let mut hidden_grad = Vec::new();
    let mut head_grad: Option<Tensor<2>> = None;
    for start in (0..n).step_by(rows_per_chunk) {
        let end = (start + rows_per_chunk).min(n);
        let x = x_all.clone().slice(s![start..end, ..]);
        let logits = project(x.clone(), w_all.clone());
        let t = Tensor::<1, Int>::from_data(
            TensorData::new(targets[start..end].to_vec(), [end - start]),
            &device,
        );
        let w = Tensor::<1>::from_data(
            TensorData::new(weights[start..end].to_vec(), [end - start]),
            &device,
        );
        loss = loss + (cross_entropy(logits.clone(), t.clone()) * w.clone()).sum();
        if !(hidden_grad_wanted || head_grad_wanted) {
            continue;
        }
        let d = cross_entropy_grad(logits, t, w);
        if let Some(w_t) = &w_t {
            hidden_grad.push(project(d.clone(), w_t.clone()));
        }
        if head_grad_wanted {
            let g = project(x.transpose(), d);
            head_grad = Some(match head_grad {
                Some(acc) => acc + g,
                None => g,
            });
        }
    }
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
    if hidden_grad_wanted {
        add((hidden * Tensor::cat(hidden_grad, 0).autodiff()).sum());
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

#[cfg(test)]
mod tests {
    use super::weighted_nll_sum_in_chunks;
    use crate::model::cross_entropy::cross_entropy;
    use burn::prelude::*;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The loss and the gradients of hidden states and head, chunked or written plainly.
    fn loss_and_grads(
        chunk: Option<usize>,
        x: &[f32],
        w: &[f32],
        targets: &[i64],
        weights: &[f32],
        (n, h, v): (usize, usize, usize),
    ) -> (f32, Vec<f32>, Vec<f32>) {
        let (device, _) = crate::device::select(crate::device::DeviceChoice::Cpu).unwrap();
        let device = device.autodiff();
        let hidden =
            Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, h]), &device).require_grad();
        let head =
            Tensor::<2>::from_data(TensorData::new(w.to_vec(), [h, v]), &device).require_grad();
        let loss = match chunk {
            Some(c) => weighted_nll_sum_in_chunks(
                hidden.clone() * 1.0,
                head.clone() * 1.0,
                targets,
                weights,
                c,
            ),
            None => {
                let t =
                    Tensor::<1, Int>::from_data(TensorData::new(targets.to_vec(), [n]), &device);
                let wt = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [n]), &device);
                (cross_entropy(hidden.clone().matmul(head.clone()), t) * wt).sum()
            }
        };
        // A later step of the graph scales the loss: the gradients must follow it.
        let scaled = loss.clone().mul_scalar(0.5);
        let grads = scaled.backward();
        (
            loss.inner().into_scalar::<f32>(),
            values(hidden.grad(&grads).unwrap()),
            values(head.grad(&grads).unwrap()),
        )
    }

    #[test]
    fn chunked_head_loss_equals_the_plain_head_then_cross_entropy() {
        let (n, h, v) = (23, 16, 301);
        let x: Vec<f32> = (0..n * h)
            .map(|i| (((i * 7_919) % 1_013) as f32 / 1_013.0 - 0.5) * 3.0)
            .collect();
        let w: Vec<f32> = (0..h * v)
            .map(|i| (((i * 104_729) % 997) as f32 / 997.0 - 0.5) * 2.0)
            .collect();
        let targets: Vec<i64> = (0..n).map(|r| ((r * 37) % v) as i64).collect();
        // Ignored rows (weight 0) and a mean's weights.
        let weights: Vec<f32> = (0..n)
            .map(|r| if r % 4 == 1 { 0.0 } else { 1.0 / 17.0 })
            .collect();
        let plain = loss_and_grads(None, &x, &w, &targets, &weights, (n, h, v));
        // One chunk, chunks that do not divide the rows, and one row at a time.
        for chunk_logits in [n * v, 5 * v, 1] {
            let got = loss_and_grads(Some(chunk_logits), &x, &w, &targets, &weights, (n, h, v));
            assert!(
                (got.0 - plain.0).abs() < 1e-5,
                "loss {} vs {}",
                got.0,
                plain.0
            );
            for (name, a, b) in [("hidden", &got.1, &plain.1), ("head", &got.2, &plain.2)] {
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-6, "{name} gradient differs by {worst}");
                assert!(a.iter().any(|&g| g != 0.0), "{name} gradient is all zero");
            }
        }
    }

    #[test]
    fn without_autodiff_only_the_loss_is_computed() {
        let (device, _) = crate::device::select(crate::device::DeviceChoice::Cpu).unwrap();
        let hidden = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0], [1, 2]), &device);
        let head = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, -1.0, 0.0, 2.0, 1.0], [2, 3]),
            &device,
        );
        let loss = weighted_nll_sum_in_chunks(hidden, head, &[2], &[2.0], 1);
        // logits (0.5, -2, -1.5): 2 * (logsumexp - (-1.5)).
        let lse = (0.5f64.exp() + (-2f64).exp() + (-1.5f64).exp()).ln();
        let want = 2.0 * (lse + 1.5);
        assert!((loss.into_scalar::<f32>() as f64 - want).abs() < 1e-5);
    }
}
