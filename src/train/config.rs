//! A training run as a TOML manifest: the stage, the model to start from, the data, the token
//! budget, the optimiser and schedule, checkpoints and evaluation. Relative paths are relative
//! to the manifest's directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lora::LoraConfig;
use super::optim::{AdamWConfig, OptimizerConfig};
use super::params::Trainable;
use super::schedule::Schedule;
use crate::data::{CorpusSpec, OnBadLine};
use crate::error::{Error, Result};

/// What kind of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Continued (or from-scratch) pretraining on plain text.
    #[default]
    Pretrain,
    /// Instruction tuning on prompt/response pairs, loss on responses only.
    Sft,
}

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelSource {
    /// An HF model directory to continue from.
    pub base: Option<PathBuf>,
    /// Or a fresh model of a preset shape (`nano`, `tiny`, `small`, `base`) ...
    pub preset: Option<String>,
    /// ... or of the shape in this `config.json`.
    pub config: Option<PathBuf>,
    /// The tokenizer of a fresh model (its vocabulary sets the model's).
    pub tokenizer: Option<PathBuf>,
    /// Standard deviation of a fresh model's initial weights.
    #[serde(default = "init_std")]
    pub init_std: f64,
}

fn init_std() -> f64 {
    0.02
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub seq_len: usize,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    pub shuffle_buffer: usize,
    /// One document in this many is held out for evaluation (0: none).
    pub heldout_every: u64,
    pub on_bad_line: OnBadLine,
    /// SFT: a prompt template (TOML); the built-in Alpaca template when absent.
    pub template: Option<PathBuf>,
    #[serde(rename = "corpus")]
    pub corpora: Vec<CorpusSpec>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            seq_len: 256,
            batch_size: 8,
            grad_accum: 1,
            shuffle_buffer: 64,
            heldout_every: 0,
            on_bad_line: OnBadLine::Skip,
            template: None,
            corpora: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Train on exactly this many tokens (rounded down to whole sequences).
    #[serde(default)]
    pub tokens: u64,
    /// SFT: train on this many examples instead (they vary in length).
    #[serde(default)]
    pub examples: Option<u64>,
}

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    AdamW,
    Sgd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    /// AdamW's moments, epsilon and decoupled weight decay.
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Also decay norm gains, biases, the embedding and the head.
    pub decay_norms_and_embeddings: bool,
    /// Clip the global gradient norm to this value.
    pub clip_norm: Option<f64>,
    pub trainable: Trainable,
    /// Train LoRA adapters instead of the weights (merged into them on export).
    pub lora: Option<LoraConfig>,
}

impl Default for OptimConfig {
    fn default() -> Self {
        let adamw = AdamWConfig::default();
        Self {
            kind: OptimizerKind::AdamW,
            beta1: adamw.beta1,
            beta2: adamw.beta2,
            eps: adamw.eps,
            weight_decay: adamw.weight_decay,
            decay_norms_and_embeddings: adamw.decay_norms_and_embeddings,
            clip_norm: Some(1.0),
            trainable: Trainable::All,
            lora: None,
        }
    }
}

impl OptimConfig {
    pub fn rule(&self) -> OptimizerConfig {
        match self.kind {
            OptimizerKind::Sgd => OptimizerConfig::Sgd,
            OptimizerKind::AdamW => OptimizerConfig::AdamW(AdamWConfig {
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
                weight_decay: self.weight_decay,
                decay_norms_and_embeddings: self.decay_norms_and_embeddings,
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Save every this many steps (0: only at the end).
    pub every: u64,
    /// Keep this many of the latest checkpoints.
    pub keep: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every: 100,
            keep: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Held-out loss every this many steps (0: never).
    pub every: u64,
    /// Held-out sequences evaluated each time.
    pub sequences: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every: 50,
            sequences: 16,
        }
    }
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default)]
    pub stage: Stage,
    /// The run directory: checkpoints, `metrics.jsonl`, the final model.
    pub output: PathBuf,
    #[serde(default)]
    pub seed: u64,
    pub model: ModelSource,
    pub data: DataConfig,
    pub budget: Budget,
    #[serde(default)]
    pub optimizer: OptimConfig,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub eval: EvalConfig,
}

impl RunConfig {
    /// Reads a manifest, resolving relative paths against its directory, and checks it.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, path, base)
    }

    /// Parses manifest text; `label` names it in errors, `base` resolves relative paths.
    pub fn from_toml(text: &str, label: &Path, base: &Path) -> Result<Self> {
        let mut config: RunConfig = toml::from_str(text)
            .map_err(|e| Error::bad_file(label, format!("not a valid run manifest: {e}")))?;
        config.resolve(base);
        config.validate(label)?;
        Ok(config)
    }

    /// Reads a manifest as written, relative paths kept, for editing: the form in the app.
    /// [`Self::to_toml`] writes it back; running it goes through [`Self::from_toml_file`].
    pub fn read_for_editing(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not a valid run manifest: {e}")))
    }

    /// The manifest as TOML text (comments are not kept).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Serialize(format!("the run settings: {e}")))
    }

    /// Checks the manifest the way a run reads it (paths resolved against `path`'s directory,
    /// every setting checked) and, only if it passes, writes it atomically. Returns it resolved.
    #[cfg(feature = "native")]
    pub fn save(&self, path: &Path) -> Result<RunConfig> {
        let text = self.to_toml()?;
        let base = path.parent().unwrap_or(Path::new("."));
        let checked = Self::from_toml(&text, path, base)?;
        if !base.as_os_str().is_empty() {
            std::fs::create_dir_all(base).map_err(|e| Error::io(base, e))?;
        }
        crate::fsx::write_atomic(path, text.as_bytes())?;
        Ok(checked)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.output);
        for p in [
            &mut self.data.template,
            &mut self.model.base,
            &mut self.model.config,
            &mut self.model.tokenizer,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        for c in &mut self.data.corpora {
            fix(&mut c.path);
        }
    }

    fn validate(&self, label: &Path) -> Result<()> {
        let bad = |reason: String| Err(Error::bad_file(label, reason));
        let m = &self.model;
        let sources = [m.base.is_some(), m.preset.is_some(), m.config.is_some()];
        if sources.iter().filter(|&&s| s).count() != 1 {
            return bad("[model] needs exactly one of `base`, `preset` or `config`".into());
        }
        if m.base.is_none() && m.tokenizer.is_none() {
            return bad("[model] a fresh model needs a `tokenizer`".into());
        }
        for p in [&m.base, &m.config, &m.tokenizer].into_iter().flatten() {
            if !p.exists() {
                return bad(format!("[model] {} does not exist", p.display()));
            }
        }
        if self.data.corpora.is_empty() {
            return bad("[data] names no corpus (add a [[data.corpus]] table)".into());
        }
        if let Some(t) = &self.data.template
            && !t.is_file()
        {
            return bad(format!("[data] template {} does not exist", t.display()));
        }
        for c in &self.data.corpora {
            if !c.path.is_file() {
                return bad(format!(
                    "[[data.corpus]] `{}`: {} does not exist",
                    c.name,
                    c.path.display()
                ));
            }
        }
        let d = &self.data;
        if d.seq_len < 2 || d.batch_size == 0 || d.grad_accum == 0 {
            return bad(
                "[data] seq_len must be at least 2, batch_size and grad_accum at least 1".into(),
            );
        }
        let one_batch = (d.seq_len * d.batch_size) as u64;
        if let Some(examples) = self.budget.examples {
            if examples < d.batch_size as u64 {
                return bad(format!(
                    "[budget] examples = {examples} is smaller than one batch ({})",
                    d.batch_size
                ));
            }
        } else if self.budget.tokens < one_batch {
            return bad(format!(
                "[budget] tokens = {} is smaller than one batch ({} sequences of {} tokens = {one_batch})",
                self.budget.tokens, d.batch_size, d.seq_len
            ));
        }
        if self.optimizer.lora.is_some() && self.optimizer.trainable != Trainable::All {
            return bad(
                "[optimizer] with lora, say `train_embeddings = true` in [optimizer.lora] instead of `trainable`"
                    .into(),
            );
        }
        if !(self.schedule.lr.is_finite() && self.schedule.lr > 0.0) {
            return bad("[schedule] lr must be positive".into());
        }
        Ok(())
    }

    /// Sequences the budget buys.
    pub fn total_sequences(&self) -> u64 {
        match self.budget.examples {
            Some(n) => n,
            None => self.budget.tokens / self.data.seq_len as u64,
        }
    }

    /// Sequences per optimiser step.
    pub fn sequences_per_step(&self) -> u64 {
        (self.data.batch_size * self.data.grad_accum) as u64
    }

    /// Optimiser steps the budget buys (the last may be short).
    pub fn total_steps(&self) -> u64 {
        self.total_sequences().div_ceil(self.sequences_per_step())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_edited_and_saved_reads_back_the_same() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sft-alpaca.toml");
        let mut config = RunConfig::read_for_editing(&example).unwrap();
        config.schedule.lr = 1.5e-4;
        config.data.corpora[0].weight = 0.25;
        config.optimizer.lora = Some(LoraConfig::default());
        config.optimizer.trainable = Trainable::All;
        let text = config.to_toml().unwrap();
        let again: RunConfig = toml::from_str(&text).unwrap();
        assert_eq!(again, config);
        // Paths stay as written: relative to the manifest.
        assert!(config.output.is_relative());
    }
}
