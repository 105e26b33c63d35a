//! One optimisation step's arithmetic: the loss of a batch and its gradients.

use burn::optim::GradientsParams;
use burn::prelude::*;

use super::params::NamedParam;
use crate::model::generate::ids_tensor;
use crate::model::{ForwardOptions, Llama};

/// Token ids, labels (`-100` where the loss ignores a position) and the padding mask of a
/// right-padded batch, all `(batch, seq_len)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub input_ids: Vec<Vec<u32>>,
    pub labels: Vec<Vec<i64>>,
    /// 1 for real tokens, 0 for padding; `None` when nothing is padded.
    pub attention_mask: Option<Vec<Vec<u8>>>,
}

impl Batch {
    /// Tokens whose next token is predicted (the loss's denominator).
    pub fn target_tokens(&self) -> usize {
        self.labels
            .iter()
            .map(|row| row.iter().skip(1).filter(|&&l| l >= 0).count())
            .sum()
    }

    /// Tokens in the batch, padding excluded.
    pub fn real_tokens(&self) -> usize {
        match &self.attention_mask {
            Some(mask) => mask.iter().flatten().filter(|&&m| m != 0).count(),
            None => self.input_ids.iter().map(Vec::len).sum(),
        }
    }
}

/// The mean loss of `batch` (as a tensor, still attached to the graph when `model` trains).
pub fn batch_loss(model: &Llama, batch: &Batch) -> Tensor<1> {
    let device = model.device();
    model
        .causal_lm_loss(
            ids_tensor(&batch.input_ids, &device),
            ForwardOptions {
                attention_mask: batch.attention_mask.as_deref(),
                cache: None,
            },
            &batch.labels,
        )
        .0
}

/// Forward and backward: the loss value and the gradients of the `trainable` parameters, with
/// the loss multiplied by `scale` before differentiation (`1 / micro_steps` when accumulating).
/// `model` must be in training mode (`Module::train`).
pub fn loss_and_grads(
    model: &Llama,
    batch: &Batch,
    trainable: &[NamedParam],
    scale: f64,
) -> (f64, GradientsParams) {
    backward(batch_loss(model, batch), scale, trainable, model)
}

/// The loss value, then the gradients of the `trainable` parameters of `module` (found by id,
/// wherever the loss's graph reached them), with the loss multiplied by `scale` first.
pub fn backward<M: burn::module::Module>(
    loss: Tensor<1>,
    scale: f64,
    trainable: &[NamedParam],
    module: &M,
) -> (f64, GradientsParams) {
    let value = loss.clone().inner().into_scalar::<f32>() as f64;
    let loss = if scale != 1.0 {
        loss.mul_scalar(scale)
    } else {
        loss
    };
    let mut grads = loss.backward();
    let ids: Vec<_> = trainable.iter().map(|p| p.id).collect();
    (
        value,
        GradientsParams::from_params(&mut grads, module, &ids),
    )
}

/// Adds `more` into `acc`, parameter by parameter (gradient accumulation).
pub fn accumulate(acc: &mut GradientsParams, more: GradientsParams, params: &[NamedParam]) {
    let mut more = more;
    for p in params {
        match p.rank {
            1 => add::<1>(acc, &mut more, p),
            2 => add::<2>(acc, &mut more, p),
            _ => {}
        }
    }
}

fn add<const D: usize>(acc: &mut GradientsParams, more: &mut GradientsParams, p: &NamedParam) {
    if let Some(g) = more.remove::<D>(p.id) {
        let sum = match acc.remove::<D>(p.id) {
            Some(a) => a + g,
            None => g,
        };
        acc.register(p.id, sum);
    }
}
