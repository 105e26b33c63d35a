//! What a run trains: the tokenizer, a fresh model or the base checkpoint, and the model in
//! training (whole, or LoRA adapters on a frozen base).

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::model::{Checkpoint, HfConfig, Llama, LlamaConfig, TextTokenizer};
use crate::model::{LoadedModel, adapter, checkpoint};
use crate::train::config::RunConfig;
use crate::train::lora::{LoraModel, lora_loss_and_grads};
use crate::train::optim::Optimizer;
use crate::train::params::{NamedParam, module_params, named_params};
use crate::train::step::{Batch, loss_and_grads};

pub(crate) fn open_tokenizer(config: &RunConfig) -> Result<(TextTokenizer, PathBuf)> {
    match (&config.model.base, &config.model.tokenizer) {
        (_, Some(file)) => Ok((TextTokenizer::open(file, None, &[])?, file.clone())),
        (Some(base), None) => {
            // A LoRA adapter: the base's configuration, the adapter's tokenizer if it has one.
            let model_dir = match adapter::is_adapter_dir(base) {
                true => adapter::base_dir(base, None)?,
                false => base.clone(),
            };
            let ck = Checkpoint::open(&model_dir)?;
            let file = match base.join(checkpoint::TOKENIZER_FILE).is_file() {
                true => base.join(checkpoint::TOKENIZER_FILE),
                false => model_dir.join(checkpoint::TOKENIZER_FILE),
            };
            let tok = TextTokenizer::open(&file, ck.config.bos_token_id, &ck.config.eos_token_ids)?;
            Ok((tok, file))
        }
        (None, None) => Err(Error::InvalidInput(
            "[model] a fresh model needs a `tokenizer`".into(),
        )),
    }
}

/// A fresh model (preset or config.json, vocabulary from the tokenizer) or the base checkpoint.
pub(crate) fn build_model(
    config: &RunConfig,
    tokenizer: &TextTokenizer,
    device: &Device,
) -> Result<(Llama, Option<HfConfig>)> {
    let m = &config.model;
    if let Some(base) = &m.base {
        // An HF directory, or a LoRA adapter merged into its base.
        let loaded = LoadedModel::open(base, device)?;
        return Ok((loaded.model, Some(loaded.hf_config)));
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

/// What a run trains: the whole model, or LoRA adapters on a frozen one.
pub(super) enum Trainee {
    Full(Llama),
    Lora(LoraModel),
}

impl Trainee {
    /// Puts `model` in training mode, with adapters when the run asks for LoRA (read back from
    /// `checkpoint` when resuming).
    pub(super) fn new(
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
            let set = super::dir::read_tensors(&dir.join(super::dir::ADAPTERS))?;
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

    pub(super) fn trainable_params(&self, config: &RunConfig) -> Vec<NamedParam> {
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

    pub(super) fn loss_and_grads(
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

    pub(super) fn step(
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
    pub(super) fn merged(&self) -> Llama {
        match self {
            Trainee::Full(m) => m.valid(),
            Trainee::Lora(l) => l.merged(),
        }
    }

    /// The weights a checkpoint stores (LoRA: the base, with the adapters beside it).
    pub(super) fn base(&self) -> Llama {
        match self {
            Trainee::Full(m) => m.valid(),
            Trainee::Lora(l) => l.base.valid(),
        }
    }
}
