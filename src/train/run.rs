//! A training run as a job: builds or loads the model, streams the data, steps the optimiser,
//! evaluates on held-out text, writes `metrics.jsonl` and checkpoints, and resumes exactly from
//! the last checkpoint of a run that was stopped or killed.
//!
//! The run directory:
//! - `run.toml`: the manifest as resolved;
//! - `metrics.jsonl`: one JSON object per step (and per evaluation);
//! - `checkpoints/step-NNNNNNNN/`: an HF model directory plus `optimizer.safetensors` and
//!   `trainer.json`, written under a temporary name and renamed when complete;
//! - `final/`: the trained model as an HF directory with its tokenizer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::{RunConfig, Stage};
use super::lora::{LoraModel, adapter_tensors, lora_loss_and_grads};
use super::optim::{Optimizer, clip_global_norm};
use super::params::{NamedParam, module_params, named_params};
use super::sft::SftData;
use super::step::{Batch, accumulate, batch_loss, loss_and_grads};
use crate::data::{CorpusCounts, SequenceStream, Split, StreamOptions};
use crate::error::{Error, Result};
use crate::jobs::{Event, JobContext};
use crate::model::checkpoint::{self, SaveOptions};
use crate::model::weights::{Buffer, WeightSet, serialize};
use crate::model::{Checkpoint, HfConfig, Llama, LlamaConfig, StorageDType, TextTokenizer};

const CHECKPOINTS: &str = "checkpoints";
const METRICS: &str = "metrics.jsonl";
const TRAINER_STATE: &str = "trainer.json";
const OPTIMIZER_STATE: &str = "optimizer.safetensors";
const ADAPTERS: &str = "adapters.safetensors";

/// Where a run stands, saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Optimiser steps done.
    pub step: u64,
    pub total_steps: u64,
    /// Training sequences consumed (the data stream's position).
    pub sequences: u64,
    /// Training tokens consumed.
    pub tokens: u64,
    pub counts: Vec<CorpusCounts>,
    pub last_loss: Option<f64>,
    pub seed: u64,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepMetrics {
    pub step: u64,
    pub tokens: u64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens_per_s: f64,
    pub eta_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
}

/// Reads a run's `metrics.jsonl`; a line cut short by a killed run is left out. A run resumed
/// from a checkpoint logs again the steps after it: the later lines replace the earlier ones.
/// A missing file is an empty history.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<StepMetrics>(line) {
            Ok(m) => {
                let keep = out.partition_point(|o: &StepMetrics| o.step < m.step);
                out.truncate(keep);
                out.push(m);
            }
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(Error::bad_file(path, format!("line {}: {e}", i + 1)));
            }
        }
    }
    Ok(out)
}

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

/// The run directory's parts.
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.root.join(CHECKPOINTS)
    }

    pub fn metrics(&self) -> PathBuf {
        self.root.join(METRICS)
    }

    pub fn final_model(&self) -> PathBuf {
        self.root.join("final")
    }

    fn step_dir(&self, step: u64) -> PathBuf {
        self.checkpoints().join(format!("step-{step:08}"))
    }

    /// Complete checkpoints, oldest first.
    pub fn list_checkpoints(&self) -> Result<Vec<(u64, PathBuf)>> {
        let dir = self.checkpoints();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(step) = name
                .strip_prefix("step-")
                .and_then(|s| s.parse::<u64>().ok())
                && entry.path().join(TRAINER_STATE).is_file()
            {
                found.push((step, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }
}

/// Runs the manifest `config` on `device`. With `resume`, continues from the run directory's
/// latest checkpoint; without, refuses a directory that already holds checkpoints.
pub fn train(
    config: &RunConfig,
    device: &Device,
    resume: bool,
    ctx: &JobContext,
) -> Result<TrainReport> {
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
        toml::to_string_pretty(config).map_err(|e| Error::InvalidInput(e.to_string()))?;
    crate::fsx::write_atomic(&run.root.join("run.toml"), manifest.as_bytes())?;

    device.seed(config.seed);
    let (tokenizer, tokenizer_file) = open_tokenizer(config)?;
    let tokenizer = Arc::new(tokenizer);
    let latest = if resume {
        existing.last().cloned()
    } else {
        None
    };

    // The model and the optimiser, fresh or from the checkpoint.
    let (model, hf_base, mut state, mut optimizer) = match &latest {
        Some((step, dir)) => {
            ctx.message(format!("resuming from step {step} ({})", dir.display()));
            let ck = Checkpoint::open(dir)?;
            let (model, _) = ck.load(device)?;
            let state: TrainerState = read_json(&dir.join(TRAINER_STATE))?;
            let mut optimizer = Optimizer::new(config.optimizer.rule());
            optimizer.load_state(
                state.step,
                read_optimizer(&dir.join(OPTIMIZER_STATE), device)?,
            );
            (model, Some(ck.hf_config), state, optimizer)
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
    let resumed_from_step = latest.as_ref().map(|(s, _)| *s);
    truncate_metrics(&run.metrics(), state.step)?;

    // The data, replayed to where the checkpoint stopped.
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
    let mut model = Trainee::new(model, config, latest_dir, device)?;
    let params = model.trainable_params(config);
    let total_steps = config.total_steps();
    let total_sequences = config.total_sequences();
    let started = Instant::now();
    let tokens_at_start = state.tokens;
    let mut metrics_file = open_append(&run.metrics())?;
    let mut last_eval = None;

    while state.step < total_steps {
        if ctx.is_cancelled() {
            save_checkpoint(
                &run,
                &model,
                hf_base.as_ref(),
                &optimizer,
                &state,
                config,
                &tokenizer_file,
            )?;
            ctx.message(format!(
                "stopped at step {}; resume with --resume",
                state.step
            ));
            return Err(Error::Cancelled);
        }
        let step_sequences = (total_sequences - state.sequences).min(config.sequences_per_step());
        let mut remaining = step_sequences;
        let mut grads = GradientsParams::new();
        let mut loss_sum = 0.0;
        let mut step_tokens = 0u64;
        while remaining > 0 {
            let n = remaining.min(config.data.batch_size as u64);
            let batch = data.next_batch(n as usize)?;
            let weight = n as f64 / step_sequences as f64;
            let (loss, micro) = model.loss_and_grads(&batch, &params, weight);
            loss_sum += loss * weight;
            step_tokens += batch.real_tokens() as u64;
            accumulate(&mut grads, micro, &params);
            remaining -= n;
        }
        let grad_norm = clip_global_norm(&mut grads, &params, config.optimizer.clip_norm);
        if !loss_sum.is_finite() || !grad_norm.is_finite() {
            let what = match loss_sum.is_finite() {
                true => format!("the gradient norm became {grad_norm}"),
                false => format!("the loss became {loss_sum}"),
            };
            let last = run.list_checkpoints()?.last().map(|(s, _)| *s);
            return Err(Error::InvalidInput(format!(
                "{what} at step {}; stopped. The last good checkpoint is {}",
                state.step + 1,
                match last {
                    Some(s) => format!("step {s} in {}", run.checkpoints().display()),
                    None => "none (no checkpoint was written yet)".into(),
                }
            )));
        }
        let lr = config.schedule.lr_at(state.step, total_steps);
        model = model.step(&mut optimizer, &grads, &params, lr);
        state.step += 1;
        state.sequences += step_sequences;
        state.tokens += step_tokens;
        state.last_loss = Some(loss_sum);
        state.counts = data.counts();

        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let tokens_per_s = (state.tokens - tokens_at_start) as f64 / elapsed;
        let steps_done_here = (state.step - resumed_from_step.unwrap_or(0)) as f64;
        let eta_s = elapsed / steps_done_here * (total_steps - state.step) as f64;
        let eval_loss = match config.eval.every {
            0 => None,
            every if state.step % every == 0 || state.step == total_steps => eval_batches
                .as_ref()
                .map(|b| heldout_loss(&model.merged(), b)),
            _ => None,
        };
        if eval_loss.is_some() {
            last_eval = eval_loss;
        }
        let line = StepMetrics {
            step: state.step,
            tokens: state.tokens,
            loss: loss_sum,
            lr,
            grad_norm,
            tokens_per_s,
            eta_s,
            eval_loss,
        };
        // One write per line, so a killed run leaves whole lines behind.
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        metrics_file
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(run.metrics(), e))?;
        for (name, value) in [
            ("loss", loss_sum),
            ("tokens", state.tokens as f64),
            ("lr", lr),
            ("grad_norm", grad_norm),
            ("tokens_per_s", tokens_per_s),
            ("eta_s", eta_s),
        ]
        .into_iter()
        .chain(eval_loss.map(|v| ("eval_loss", v)))
        {
            ctx.emit(Event::Metric {
                name: name.into(),
                step: state.step,
                value,
            });
        }
        ctx.progress("train", state.step, Some(total_steps), "steps");
        let every = config.checkpoint.every;
        if every > 0 && state.step % every == 0 && state.step < total_steps {
            save_checkpoint(
                &run,
                &model,
                hf_base.as_ref(),
                &optimizer,
                &state,
                config,
                &tokenizer_file,
            )?;
        }
    }
    save_checkpoint(
        &run,
        &model,
        hf_base.as_ref(),
        &optimizer,
        &state,
        config,
        &tokenizer_file,
    )?;
    let final_dir = run.final_model();
    let valid = model.merged();
    checkpoint::save(
        &valid,
        hf_base.as_ref(),
        &final_dir,
        &SaveOptions::default(),
        None,
    )?;
    copy_tokenizer(&tokenizer_file, &final_dir)?;
    ctx.message(format!("final model: {}", final_dir.display()));
    Ok(TrainReport {
        output: run.root.clone(),
        final_model: final_dir,
        steps: state.step,
        tokens: state.tokens,
        final_loss: state.last_loss,
        final_eval_loss: last_eval,
        resumed_from_step,
        corpora: state.counts.clone(),
        truncated_examples: data.truncated(),
    })
}

/// The data of either stage behind one interface.
enum Data {
    Pretrain {
        train: Box<SequenceStream>,
        heldout: Option<Box<SequenceStream>>,
    },
    Sft(SftData),
}

impl Data {
    fn open(config: &RunConfig, tokenizer: Arc<TextTokenizer>, ctx: &JobContext) -> Result<Self> {
        let d = &config.data;
        match config.stage {
            Stage::Pretrain => {
                let options = |split| StreamOptions {
                    seq_len: d.seq_len,
                    seed: config.seed,
                    shuffle_buffer: d.shuffle_buffer,
                    heldout_every: (d.heldout_every > 0).then_some(d.heldout_every),
                    split,
                    on_bad_line: d.on_bad_line,
                    tokenize_batch: 256,
                };
                let train =
                    SequenceStream::new(&d.corpora, tokenizer.clone(), options(Split::Train))?;
                let heldout = match d.heldout_every > 0 && config.eval.every > 0 {
                    true => Some(SequenceStream::new(
                        &d.corpora,
                        tokenizer,
                        options(Split::Heldout),
                    )?),
                    false => None,
                };
                Ok(Data::Pretrain {
                    train: Box::new(train),
                    heldout: heldout.map(Box::new),
                })
            }
            Stage::Sft => Ok(Data::Sft(SftData::open(config, &tokenizer, ctx)?)),
        }
    }

    fn skip(&mut self, sequences: u64) -> Result<()> {
        match self {
            Data::Pretrain { train, .. } => train.skip(sequences),
            Data::Sft(sft) => {
                sft.skip(sequences);
                Ok(())
            }
        }
    }

    fn next_batch(&mut self, n: usize) -> Result<Batch> {
        match self {
            Data::Pretrain { train, .. } => {
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(train.next_sequence()?.ids);
                }
                let labels = ids
                    .iter()
                    .map(|row: &Vec<u32>| row.iter().map(|&t| t as i64).collect())
                    .collect();
                Ok(Batch {
                    input_ids: ids,
                    labels,
                    attention_mask: None,
                })
            }
            Data::Sft(sft) => Ok(sft.next_batch(n)),
        }
    }

    fn heldout_batches(&mut self, config: &RunConfig) -> Result<Option<Vec<Batch>>> {
        let n = config.eval.sequences;
        let size = config.data.batch_size.max(1);
        match self {
            Data::Pretrain {
                heldout: Some(h), ..
            } if n > 0 => {
                let mut seqs = Vec::with_capacity(n);
                for _ in 0..n {
                    seqs.push(h.next_sequence()?.ids);
                }
                let batches = seqs
                    .chunks(size)
                    .map(|chunk| Batch {
                        input_ids: chunk.to_vec(),
                        labels: chunk
                            .iter()
                            .map(|r| r.iter().map(|&t| t as i64).collect())
                            .collect(),
                        attention_mask: None,
                    })
                    .collect();
                Ok(Some(batches))
            }
            Data::Sft(sft) if n > 0 => Ok(sft.heldout_batches(size)),
            _ => Ok(None),
        }
    }

    fn counts(&self) -> Vec<CorpusCounts> {
        match self {
            Data::Pretrain { train, .. } => train.counts(),
            Data::Sft(sft) => sft.counts(),
        }
    }

    fn truncated(&self) -> Option<u64> {
        match self {
            Data::Sft(sft) => Some(sft.truncated),
            _ => None,
        }
    }
}

/// Mean held-out loss over `batches`, weighted by predicted tokens.
fn heldout_loss(valid: &Llama, batches: &[Batch]) -> f64 {
    let mut total = 0.0;
    let mut count = 0usize;
    for b in batches {
        let n = b.target_tokens();
        total += batch_loss(valid, b).into_scalar::<f32>() as f64 * n as f64;
        count += n;
    }
    total / count.max(1) as f64
}

fn open_tokenizer(config: &RunConfig) -> Result<(TextTokenizer, PathBuf)> {
    match (&config.model.base, &config.model.tokenizer) {
        (_, Some(file)) => Ok((TextTokenizer::open(file, None, &[])?, file.clone())),
        (Some(base), None) => {
            let ck = Checkpoint::open(base)?;
            let file = base.join(checkpoint::TOKENIZER_FILE);
            let tok = TextTokenizer::open(&file, ck.config.bos_token_id, &ck.config.eos_token_ids)?;
            Ok((tok, file))
        }
        (None, None) => Err(Error::InvalidInput(
            "[model] a fresh model needs a `tokenizer`".into(),
        )),
    }
}

/// A fresh model (preset or config.json, vocabulary from the tokenizer) or the base checkpoint.
fn build_model(
    config: &RunConfig,
    tokenizer: &TextTokenizer,
    device: &Device,
) -> Result<(Llama, Option<HfConfig>)> {
    let m = &config.model;
    if let Some(base) = &m.base {
        let ck = Checkpoint::open(base)?;
        let (model, _) = ck.load(device)?;
        return Ok((model, Some(ck.hf_config)));
    }
    let mut shape = match (&m.preset, &m.config) {
        (Some(name), _) => LlamaConfig::preset(name).ok_or_else(|| {
            Error::InvalidInput(format!(
                "[model] unknown preset `{name}`: expected one of {}",
                LlamaConfig::PRESETS.join(", ")
            ))
        })?,
        (None, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let hf: HfConfig = serde_json::from_slice(&bytes)
                .map_err(|e| Error::bad_file(path, format!("not a config.json: {e}")))?;
            LlamaConfig::from_hf(&hf, path)?
        }
        (None, None) => unreachable!("validated: one model source"),
    };
    shape.vocab_size = tokenizer.vocab_size();
    shape.bos_token_id = tokenizer.bos_id;
    shape.eos_token_ids = tokenizer.eos_ids.clone();
    Ok((Llama::init(&shape, m.init_std, device), None))
}

#[allow(clippy::too_many_arguments)]
fn save_checkpoint(
    run: &RunDir,
    model: &Trainee,
    hf_base: Option<&HfConfig>,
    optimizer: &Optimizer,
    state: &TrainerState,
    config: &RunConfig,
    tokenizer_file: &Path,
) -> Result<()> {
    let final_dir = run.step_dir(state.step);
    if final_dir.is_dir() {
        return Ok(());
    }
    let tmp = run
        .checkpoints()
        .join(format!(".tmp-step-{:08}", state.step));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    checkpoint::save(&model.base(), hf_base, &tmp, &SaveOptions::default(), None)?;
    copy_tokenizer(tokenizer_file, &tmp)?;
    if let Trainee::Lora(lora) = model {
        let tensors: Vec<_> = adapter_tensors(lora)
            .into_iter()
            .map(|(name, t)| {
                let dims = t.dims().to_vec();
                let values = t
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap_or_default();
                (name, dims, values)
            })
            .collect();
        crate::fsx::write_atomic(
            &tmp.join(ADAPTERS),
            &serialize(&tensors, StorageDType::F32)?,
        )?;
    }
    let tensors: Vec<_> = optimizer
        .state_tensors()
        .into_iter()
        .map(|(name, t)| {
            let values = t
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap_or_default();
            (name, vec![values.len()], values)
        })
        .collect();
    crate::fsx::write_atomic(
        &tmp.join(OPTIMIZER_STATE),
        &serialize(&tensors, StorageDType::F32)?,
    )?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::InvalidInput(e.to_string()))?;
    crate::fsx::write_atomic(&tmp.join(TRAINER_STATE), &json)?;
    std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    // Keep the latest `keep`.
    let all = run.list_checkpoints()?;
    let keep = config.checkpoint.keep.max(1);
    if all.len() > keep {
        for (_, dir) in &all[..all.len() - keep] {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    Ok(())
}

fn copy_tokenizer(file: &Path, dir: &Path) -> Result<()> {
    let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    crate::fsx::write_atomic(&dir.join(checkpoint::TOKENIZER_FILE), &bytes)?;
    if let Some(src_dir) = file.parent() {
        let cfg = src_dir.join("tokenizer_config.json");
        if cfg.is_file() {
            let bytes = std::fs::read(&cfg).map_err(|e| Error::io(&cfg, e))?;
            crate::fsx::write_atomic(&dir.join("tokenizer_config.json"), &bytes)?;
        }
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_file(path, e.to_string()))
}

fn read_optimizer(path: &Path, device: &Device) -> Result<Vec<(String, Tensor<1>)>> {
    let set = read_tensors(path)?;
    let mut out = Vec::new();
    for name in set.names() {
        let len = set.shape(name).map(|s| s.iter().product()).unwrap_or(0);
        let data = set.read(name, &[len])?;
        out.push((name.to_string(), Tensor::<1>::from_data(data, device)));
    }
    Ok(out)
}

/// The tensors of one safetensors file of a checkpoint.
fn read_tensors(path: &Path) -> Result<WeightSet> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    WeightSet::from_buffers(vec![(path.to_path_buf(), Buffer::Owned(bytes))])
}

fn open_append(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Drops metric lines past `step` (written after the checkpoint a run resumes from), and a
/// last line cut short by a kill.
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| serde_json::from_str::<StepMetrics>(line).is_ok_and(|m| m.step <= step))
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    if out != text {
        crate::fsx::write_atomic(path, out.as_bytes())?;
    }
    Ok(())
}

/// What a run trains: the whole model, or LoRA adapters on a frozen one.
enum Trainee {
    Full(Llama),
    Lora(LoraModel),
}

impl Trainee {
    /// Puts `model` in training mode, with adapters when the run asks for LoRA (read back from
    /// `checkpoint` when resuming).
    fn new(
        model: Llama,
        config: &RunConfig,
        checkpoint: Option<&Path>,
        device: &Device,
    ) -> Result<Self> {
        let Some(lora_config) = &config.optimizer.lora else {
            return Ok(Trainee::Full(model.train()));
        };
        let mut lora = LoraModel::new(model, lora_config)?;
        if let Some(dir) = checkpoint {
            let set = read_tensors(&dir.join(ADAPTERS))?;
            for adapter in &mut lora.adapters {
                let [d_in, r] = adapter.a.val().dims();
                let [_, d_out] = adapter.b.val().dims();
                let a = set.read(&format!("{}.lora_a", adapter.target), &[d_in, r])?;
                let b = set.read(&format!("{}.lora_b", adapter.target), &[r, d_out])?;
                adapter.a = Param::from_tensor(Tensor::from_data(a, device));
                adapter.b = Param::from_tensor(Tensor::from_data(b, device));
            }
        }
        Ok(Trainee::Lora(lora.train()))
    }

    fn trainable_params(&self, config: &RunConfig) -> Vec<NamedParam> {
        match self {
            Trainee::Full(m) => named_params(m)
                .into_iter()
                .filter(|p| config.optimizer.trainable.includes(p))
                .collect(),
            Trainee::Lora(l) => module_params(l)
                .into_iter()
                .filter(|p| l.trains(p))
                .collect(),
        }
    }

    fn loss_and_grads(
        &self,
        batch: &Batch,
        params: &[NamedParam],
        scale: f64,
    ) -> (f64, GradientsParams) {
        match self {
            Trainee::Full(m) => loss_and_grads(m, batch, params, scale),
            Trainee::Lora(l) => lora_loss_and_grads(l, batch, params, scale),
        }
    }

    fn step(
        self,
        optimizer: &mut Optimizer,
        grads: &GradientsParams,
        params: &[NamedParam],
        lr: f64,
    ) -> Self {
        match self {
            Trainee::Full(m) => Trainee::Full(optimizer.step(m, grads, params, lr)),
            Trainee::Lora(l) => Trainee::Lora(optimizer.step(l, grads, params, lr)),
        }
    }

    /// The model as trained so far (adapters merged), for evaluation and export.
    fn merged(&self) -> Llama {
        match self {
            Trainee::Full(m) => m.valid(),
            Trainee::Lora(l) => l.merged(),
        }
    }

    /// The weights a checkpoint stores (LoRA: the base, with the adapters beside it).
    fn base(&self) -> Llama {
        match self {
            Trainee::Full(m) => m.valid(),
            Trainee::Lora(l) => l.base.valid(),
        }
    }
}

#[cfg(test)]
mod metrics_tests {
    use super::*;

    #[test]
    fn a_resumed_run_replaces_the_steps_it_logs_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let line = |step: u64, loss: f64| {
            format!(
                "{{\"step\":{step},\"tokens\":0,\"loss\":{loss},\"lr\":0.0,\"grad_norm\":0.0,\"tokens_per_s\":0.0,\"eta_s\":0.0}}\n"
            )
        };
        let mut text = String::new();
        for s in 1..=5 {
            text.push_str(&line(s, 9.0));
        }
        for s in 4..=6 {
            text.push_str(&line(s, 1.0));
        }
        text.push_str("{\"step\":7,\"tok");
        std::fs::write(&path, &text).unwrap();
        let m = read_metrics(&path).unwrap();
        let steps: Vec<u64> = m.iter().map(|m| m.step).collect();
        assert_eq!(steps, [1, 2, 3, 4, 5, 6]);
        assert_eq!(m[3].loss, 1.0);
        assert!(
            read_metrics(&dir.path().join("none.jsonl"))
                .unwrap()
                .is_empty()
        );
    }
}
