//! The run directory and its checkpoints:
//! - `run.toml`: the manifest as resolved;
//! - `metrics.jsonl`: one JSON object per step;
//! - `checkpoints/step-NNNNNNNN/`: an HF model directory plus `optimizer.safetensors`,
//!   `trainer.json` (and `adapters.safetensors` for LoRA), written under a temporary name and
//!   renamed when complete, so a checkpoint that exists is whole;
//! - `final/`: the trained model as an HF directory with its tokenizer.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::Trainee;
use crate::data::CorpusCounts;
use crate::error::{Error, Result};
use crate::model::checkpoint::{self, SaveOptions};
use crate::model::weights::{Buffer, WeightSet, host_values, serialize};
use crate::model::{Checkpoint, HfConfig, Llama, StorageDType};
use crate::train::config::RunConfig;
use crate::train::lora::adapter_tensors;
use crate::train::optim::Optimizer;

pub(super) const CHECKPOINTS: &str = "checkpoints";
pub(super) const METRICS: &str = "metrics.jsonl";
pub(super) const TRAINER_STATE: &str = "trainer.json";
pub(super) const OPTIMIZER_STATE: &str = "optimizer.safetensors";
pub(super) const ADAPTERS: &str = "adapters.safetensors";

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

/// Writes a run's checkpoints and its final model.
pub(super) struct Checkpointer {
    pub run: RunDir,
    /// The base checkpoint's config, kept in what is saved (None: a fresh model).
    pub hf_base: Option<HfConfig>,
    /// The tokenizer copied beside every saved model.
    pub tokenizer_file: PathBuf,
    /// How many checkpoints to keep, the latest.
    pub keep: usize,
}

impl Checkpointer {
    /// Saves the checkpoint of `state.step` (once: an existing one is kept as it is).
    pub(super) fn save(
        &self,
        model: &Trainee,
        optimizer: &Optimizer,
        state: &TrainerState,
    ) -> Result<()> {
        let run = &self.run;
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
        self.save_model(&model.base(), &tmp)?;
        if let Trainee::Lora(lora) = model {
            let tensors: Vec<_> = adapter_tensors(lora)
                .into_iter()
                .map(|(name, t)| {
                    let dims = t.dims().to_vec();
                    let values = host_values(t, &name)?;
                    Ok((name, dims, values))
                })
                .collect::<Result<_>>()?;
            crate::fsx::write_atomic(
                &tmp.join(ADAPTERS),
                &serialize(&tensors, StorageDType::F32)?,
            )?;
        }
        let tensors: Vec<_> = optimizer
            .state_tensors()
            .into_iter()
            .map(|(name, t)| {
                let values = host_values(t, &name)?;
                Ok((name, vec![values.len()], values))
            })
            .collect::<Result<_>>()?;
        crate::fsx::write_atomic(
            &tmp.join(OPTIMIZER_STATE),
            &serialize(&tensors, StorageDType::F32)?,
        )?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| Error::Serialize(e.to_string()))?;
        crate::fsx::write_atomic(&tmp.join(TRAINER_STATE), &json)?;
        std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
        // Keep the latest `keep`.
        let all = run.list_checkpoints()?;
        let keep = self.keep.max(1);
        if all.len() > keep {
            for (_, dir) in &all[..all.len() - keep] {
                std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
        }
        Ok(())
    }

    /// Saves the model as trained (adapters merged) in `final/`, with its tokenizer.
    pub(super) fn save_final(&self, model: &Trainee) -> Result<PathBuf> {
        let dir = self.run.final_model();
        self.save_model(&model.merged(), &dir)?;
        Ok(dir)
    }

    /// An HF model directory with the run's tokenizer.
    fn save_model(&self, model: &Llama, dir: &Path) -> Result<()> {
        checkpoint::save(
            model,
            self.hf_base.as_ref(),
            dir,
            &SaveOptions::default(),
            None,
        )?;
        copy_tokenizer(&self.tokenizer_file, dir)
    }
}

/// A checkpoint read back: the model, its base config, where the run stood and the optimiser.
pub(super) fn resume_from(
    dir: &Path,
    config: &RunConfig,
    device: &Device,
) -> Result<(Llama, HfConfig, TrainerState, Optimizer)> {
    let ck = Checkpoint::open(dir)?;
    let (model, _) = ck.load(device)?;
    let state: TrainerState = read_json(&dir.join(TRAINER_STATE))?;
    let mut optimizer = Optimizer::new(config.optimizer.rule());
    optimizer.load_state(
        state.step,
        read_optimizer(&dir.join(OPTIMIZER_STATE), device)?,
    );
    Ok((model, ck.hf_config, state, optimizer))
}

pub(super) fn copy_tokenizer(file: &Path, dir: &Path) -> Result<()> {
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

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_file(path, e.to_string()))
}

pub(super) fn read_optimizer(path: &Path, device: &Device) -> Result<Vec<(String, Tensor<1>)>> {
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
pub(super) fn read_tensors(path: &Path) -> Result<WeightSet> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    WeightSet::from_buffers(vec![(path.to_path_buf(), Buffer::Owned(bytes))])
}
