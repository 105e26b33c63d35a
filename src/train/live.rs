//! Training in memory, one step at a time, without a blocking read: a step is a future that
//! reads its loss and gradient norm back asynchronously and lets the host run between its parts.
//! The browser drives it (where nothing may block); the desktop drives the same future on a
//! thread of its own. No files: what a run directory adds (checkpoints, metrics, resuming) is in
//! `run`.

use burn::module::Module;
use burn::prelude::*;

use super::optim::{Optimizer, OptimizerConfig, flat_grad, sum_of_squares};
use super::params::{NamedParam, named_params};
use super::step::{Batch, batch_loss};
use crate::error::{Error, Result};
use crate::jobs::yield_now;
use crate::model::Llama;

/// A model in training with its optimiser.
pub struct LiveTrainer {
    model: Llama,
    params: Vec<NamedParam>,
    optimizer: Optimizer,
}

/// What one step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepValues {
    /// The batch's mean loss before the update.
    pub loss: f64,
    /// The global L2 norm of the gradients.
    pub grad_norm: f64,
}

impl LiveTrainer {
    /// Trains every parameter of `model` with `optimizer`.
    pub fn new(model: Llama, optimizer: OptimizerConfig) -> Self {
        let model = model.train();
        let params = named_params(&model);
        Self {
            model,
            params,
            optimizer: Optimizer::new(optimizer),
        }
    }

    /// Forward, backward and one update with learning rate `lr`, waiting for the device (and
    /// letting the host run) after the forward pass and after the backward pass: a browser
    /// whose GPU is slow gets its page back between the parts instead of after all of them.
    pub async fn step(&mut self, batch: &Batch, lr: f64) -> Result<StepValues> {
        let loss = batch_loss(&self.model, batch);
        let value = read(loss.clone().inner()).await?;
        yield_now().await;
        let mut grads = loss.backward();
        let grads = burn::optim::GradientsParams::from_params(
            &mut grads,
            &self.model,
            &self.params.iter().map(|p| p.id).collect::<Vec<_>>(),
        );
        let squares: Vec<Tensor<1>> = self
            .params
            .iter()
            .filter_map(|p| flat_grad(&grads, p).map(sum_of_squares))
            .collect();
        let grad_norm = read(Tensor::cat(squares, 0).sum().sqrt()).await?;
        yield_now().await;
        let model = self.model.clone();
        self.model = self.optimizer.step(model, &grads, &self.params, lr);
        Ok(StepValues {
            loss: value,
            grad_norm,
        })
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u64 {
        self.optimizer.steps
    }

    /// The model as it stands, for evaluating or saving.
    pub fn model(&self) -> Llama {
        self.model.valid()
    }
}

/// A one-element tensor's value, read without blocking (the only read the browser allows).
pub async fn read(value: Tensor<1>) -> Result<f64> {
    value
        .into_scalar_async::<f32>()
        .await
        .map(f64::from)
        .map_err(|e| Error::Device(format!("could not read a value back: {e:?}")))
}

/// Cuts a token stream into `(batch, seq_len)` training batches: consecutive windows, each
/// predicting every next token; what is left over at the end is dropped.
pub fn windows(tokens: &[u32], batch: usize, seq_len: usize) -> Vec<Batch> {
    let rows: Vec<Vec<u32>> = tokens
        .chunks_exact(seq_len.max(1))
        .map(<[u32]>::to_vec)
        .collect();
    rows.chunks_exact(batch.max(1))
        .map(|rows| Batch {
            labels: rows
                .iter()
                .map(|r| r.iter().map(|&t| i64::from(t)).collect())
                .collect(),
            input_ids: rows.to_vec(),
            attention_mask: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LlamaConfig;
    use crate::train::optim::AdamWConfig;
    use crate::train::step::loss_and_grads;

    fn micro(device: &Device) -> Llama {
        let config = LlamaConfig::new(64, 16, 32, 2, 2, 1);
        Llama::init(&config, 0.1, device)
    }

    #[test]
    fn a_live_step_equals_the_run_step_and_the_loss_falls() {
        let device = Device::flex();
        let tokens: Vec<u32> = (0..256).map(|i| (i * 7 % 64) as u32).collect();
        let batches = windows(&tokens, 2, 16);
        assert_eq!(batches.len(), 8);
        let model = micro(&device);
        let config = OptimizerConfig::AdamW(AdamWConfig::default());

        // The same first step through the blocking path.
        let reference = model.clone().train();
        let params = named_params(&reference);
        let (loss, mut grads) = loss_and_grads(&reference, &batches[0], &params, 1.0);
        let norm = crate::train::clip_global_norm(&mut grads, &params, None);

        let mut live = LiveTrainer::new(model, config);
        let mut step = |b: &Batch| futures_lite::future::block_on(live.step(b, 1e-2)).unwrap();
        let first = step(&batches[0]);
        let (got_loss, got_norm) = (first.loss, first.grad_norm);
        assert!((got_loss - loss).abs() < 1e-6, "{got_loss} vs {loss}");
        assert!(
            (got_norm - norm).abs() < 1e-4 * norm,
            "{got_norm} vs {norm}"
        );

        let mut last = got_loss;
        for _ in 0..3 {
            for b in &batches {
                last = step(b).loss;
            }
        }
        assert_eq!(live.steps(), 25);
        assert!(last < got_loss - 0.5, "loss {got_loss} -> {last}");
    }
}
