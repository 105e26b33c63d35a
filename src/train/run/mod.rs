//! A training run as a job: builds or loads the model, streams the data, steps the optimiser,
//! evaluates on held-out text, writes `metrics.jsonl` and checkpoints, and resumes exactly from
//! the last checkpoint of a run that was stopped or killed.
//!
//! [`train`] is the loop; the run directory and its checkpoints are in `dir`, the metrics file
//! in `metrics`, the data in `data`, and the model being trained in `model`.

mod data;
mod dir;
mod metrics;
mod model;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::Serialize;

use super::config::RunConfig;
use super::optim::{Optimizer, clip_global_norm};
use super::params::NamedParam;
use super::step::{Batch, accumulate};
use crate::data::CorpusCounts;
use crate::error::{Error, Result};
use crate::jobs::{Event, JobContext};
use data::{Data, heldout_loss};
use dir::{Checkpointer, resume_from};
use metrics::MetricsLog;
use model::{Trainee, build_model, open_tokenizer};

pub use dir::{RunDir, TrainerState};
pub use metrics::{StepMetrics, read_metrics, read_run_history, read_trainer_state};
/// The model and tokenizer a run starts from, for handing the same start to another trainer.
pub(crate) use model::{build_model as starting_model, open_tokenizer as run_tokenizer};

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub output: PathBuf,
    pub final_model: PathBuf,
    pub steps: u64,
    pub tokens: u64,
    pub final_loss: Option<f64>,
    pub final_eval_loss: Option<f64>,
    pub resumed_from_step: Option<u64>,
    /// Tokens seen per corpus.
    pub corpora: Vec<CorpusCounts>,
    /// SFT: examples cut to the sequence length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_examples: Option<u64>,
}

/// Everything a run carries from one step to the next but the model, which moves through the
/// optimiser at each step.
struct Session {
    params: Vec<NamedParam>,
    optimizer: Optimizer,
    state: TrainerState,
    data: Data,
    /// Held-out batches, the same at every evaluation.
    eval_batches: Option<Vec<Batch>>,
    checkpoints: Checkpointer,
    metrics: MetricsLog,
    resumed_from_step: Option<u64>,
    /// When this invocation started, and the tokens seen by then (for its speed).
    started: Instant,
    tokens_at_start: u64,
    last_eval: Option<f64>,
}

/// Runs the manifest `config` on `device`. With `resume`, continues from the run directory's
/// latest checkpoint; without, refuses a directory that already holds checkpoints.
pub fn train(
    config: &RunConfig,
    device: &Device,
    resume: bool,
    ctx: &JobContext,
) -> Result<TrainReport> {
    let (mut session, mut model) = Session::start(config, device, resume, ctx)?;
    let total_steps = config.total_steps();
    while session.state.step < total_steps {
        if ctx.is_cancelled() {
            session.save(&model)?;
            ctx.message(format!(
                "stopped at step {}; resume with --resume",
                session.state.step
            ));
            return Err(Error::Cancelled);
        }
        let line;
        (model, line) = session.step(model, config)?;
        session.metrics.append(&line)?;
        report(&line, ctx, total_steps);
        let every = config.checkpoint.every;
        if every > 0 && line.step.is_multiple_of(every) && line.step < total_steps {
            session.save(&model)?;
        }
    }
    session.finish(&model, ctx)
}

impl Session {
    /// A fresh model and optimiser, or the latest checkpoint's; the data replayed to where the
    /// checkpoint stopped.
    fn start(
        config: &RunConfig,
        device: &Device,
        resume: bool,
        ctx: &JobContext,
    ) -> Result<(Self, Trainee)> {
        let run = RunDir::new(&config.output);
        let existing = run.list_checkpoints()?;
        if !resume && !existing.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{}: the run directory already holds checkpoints; resume it (--resume) or choose another output",
                run.root.display()
            )));
        }
        std::fs::create_dir_all(run.checkpoints()).map_err(|e| Error::io(run.checkpoints(), e))?;
        let manifest =
            toml::to_string_pretty(config).map_err(|e| Error::Serialize(e.to_string()))?;
        crate::fsx::write_atomic(&run.root.join("run.toml"), manifest.as_bytes())?;

        device.seed(config.seed);
        let (tokenizer, tokenizer_file) = open_tokenizer(config)?;
        let tokenizer = Arc::new(tokenizer);
        let latest = existing.last().cloned().filter(|_| resume);
        let (model, hf_base, state, optimizer) = match &latest {
            Some((step, dir)) => {
                ctx.message(format!("resuming from step {step} ({})", dir.display()));
                let (model, hf, state, optimizer) = resume_from(dir, config, device)?;
                (model, Some(hf), state, optimizer)
            }
            None => {
                let (model, hf) = build_model(config, &tokenizer, device)?;
                let state = TrainerState {
                    step: 0,
                    total_steps: config.total_steps(),
                    sequences: 0,
                    tokens: 0,
                    counts: Vec::new(),
                    last_loss: None,
                    seed: config.seed,
                };
                (model, hf, state, Optimizer::new(config.optimizer.rule()))
            }
        };
        tokenizer.check_fits(model.config.vocab_size)?;
        if state.total_steps != config.total_steps() || state.seed != config.seed {
            return Err(Error::InvalidInput(format!(
                "{}: the manifest changed since the checkpoint was written (steps {} -> {}, seed {} -> {}); \
                 a resumed run must keep its budget, batch and seed: start a new output directory instead",
                run.root.display(),
                state.total_steps,
                config.total_steps(),
                state.seed,
                config.seed
            )));
        }
        let metrics = MetricsLog::open(&run.metrics(), state.step)?;

        let mut data = Data::open(config, tokenizer.clone(), ctx)?;
        if state.sequences > 0 {
            ctx.message(format!(
                "replaying the data stream to sequence {}",
                state.sequences
            ));
            data.skip(state.sequences)?;
        }
        let eval_batches = data.heldout_batches(config)?;

        let latest_dir = latest.as_ref().map(|(_, d)| d.as_path());
        let model = Trainee::new(model, config, latest_dir, device)?;
        let params = model.trainable_params(config);
        let session = Session {
            params,
            optimizer,
            tokens_at_start: state.tokens,
            state,
            data,
            eval_batches,
            checkpoints: Checkpointer {
                run,
                hf_base,
                tokenizer_file,
                keep: config.checkpoint.keep,
            },
            metrics,
            resumed_from_step: latest.map(|(s, _)| s),
            started: Instant::now(),
            last_eval: None,
        };
        Ok((session, model))
    }

    /// One optimiser step over `sequences_per_step` sequences, in micro-batches whose gradients
    /// add up; then the held-out loss when one is due.
    fn step(&mut self, model: Trainee, config: &RunConfig) -> Result<(Trainee, StepMetrics)> {
        let total_steps = config.total_steps();
        let step_sequences =
            (config.total_sequences() - self.state.sequences).min(config.sequences_per_step());
        let mut remaining = step_sequences;
        let mut grads = GradientsParams::new();
        let mut loss_sum = 0.0;
        let mut step_tokens = 0u64;
        while remaining > 0 {
            let n = remaining.min(config.data.batch_size as u64);
            let batch = self.data.next_batch(n as usize)?;
            let weight = n as f64 / step_sequences as f64;
            let (loss, micro) = model.loss_and_grads(&batch, &self.params, weight);
            loss_sum += loss * weight;
            step_tokens += batch.real_tokens() as u64;
            accumulate(&mut grads, micro, &self.params);
            remaining -= n;
        }
        let grad_norm = clip_global_norm(&mut grads, &self.params, config.optimizer.clip_norm);
        if !loss_sum.is_finite() || !grad_norm.is_finite() {
            return Err(self.diverged(loss_sum, grad_norm)?);
        }
        let lr = config.schedule.lr_at(self.state.step, total_steps);
        let model = model.step(&mut self.optimizer, &grads, &self.params, lr);
        let state = &mut self.state;
        state.step += 1;
        state.sequences += step_sequences;
        state.tokens += step_tokens;
        state.last_loss = Some(loss_sum);
        state.counts = self.data.counts();

        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let steps_done_here = (state.step - self.resumed_from_step.unwrap_or(0)) as f64;
        let eval_loss = match config.eval.every {
            0 => None,
            every if state.step.is_multiple_of(every) || state.step == total_steps => self
                .eval_batches
                .as_ref()
                .map(|b| heldout_loss(&model.merged(), b)),
            _ => None,
        };
        self.last_eval = eval_loss.or(self.last_eval);
        let line = StepMetrics {
            step: state.step,
            tokens: state.tokens,
            loss: loss_sum,
            lr,
            grad_norm,
            tokens_per_s: (state.tokens - self.tokens_at_start) as f64 / elapsed,
            eta_s: elapsed / steps_done_here * (total_steps - state.step) as f64,
            eval_loss,
        };
        Ok((model, line))
    }

    /// The error for a loss or gradient norm that stopped being a number, naming the last
    /// checkpoint to go back to.
    fn diverged(&self, loss: f64, grad_norm: f64) -> Result<Error> {
        let what = match loss.is_finite() {
            true => format!("the gradient norm became {grad_norm}"),
            false => format!("the loss became {loss}"),
        };
        let run = &self.checkpoints.run;
        let last = run.list_checkpoints()?.last().map(|(s, _)| *s);
        Ok(Error::Diverged {
            what,
            step: self.state.step + 1,
            last_checkpoint: match last {
                Some(s) => format!("step {s} in {}", run.checkpoints().display()),
                None => "none (no checkpoint was written yet)".into(),
            },
        })
    }

    fn save(&self, model: &Trainee) -> Result<()> {
        self.checkpoints.save(model, &self.optimizer, &self.state)
    }

    /// The last checkpoint and the final model.
    fn finish(self, model: &Trainee, ctx: &JobContext) -> Result<TrainReport> {
        self.save(model)?;
        let final_model = self.checkpoints.save_final(model)?;
        ctx.message(format!("final model: {}", final_model.display()));
        Ok(TrainReport {
            output: self.checkpoints.run.root.clone(),
            final_model,
            steps: self.state.step,
            tokens: self.state.tokens,
            final_loss: self.state.last_loss,
            final_eval_loss: self.last_eval,
            resumed_from_step: self.resumed_from_step,
            corpora: self.state.counts.clone(),
            truncated_examples: self.data.truncated(),
        })
    }
}

/// A step's numbers as the job's events.
fn report(line: &StepMetrics, ctx: &JobContext, total_steps: u64) {
    for (name, value) in [
        ("loss", line.loss),
        ("tokens", line.tokens as f64),
        ("lr", line.lr),
        ("grad_norm", line.grad_norm),
        ("tokens_per_s", line.tokens_per_s),
        ("eta_s", line.eta_s),
    ]
    .into_iter()
    .chain(line.eval_loss.map(|v| ("eval_loss", v)))
    {
        ctx.emit(Event::Metric {
            name: name.into(),
            step: line.step,
            value,
        });
    }
    ctx.progress("train", line.step, Some(total_steps), "steps");
}
