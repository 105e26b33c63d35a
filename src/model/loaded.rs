//! A model ready to use: weights on a device, its tokenizer, and what is known of its files.

#[cfg(feature = "native")]
use std::path::Path;
use std::path::PathBuf;

#[cfg(feature = "native")]
use burn::prelude::*;
use serde::Serialize;

#[cfg(feature = "native")]
use super::adapter;
#[cfg(feature = "native")]
use super::checkpoint::Checkpoint;
use super::checkpoint::{LoadReport, TOKENIZER_FILE};
use super::config::{HfConfig, LlamaConfig, StorageDType};
use super::llama::Llama;
use super::tokenizer::TextTokenizer;
use crate::error::Result;

/// A loaded model and its tokenizer.
pub struct LoadedModel {
    pub model: Llama,
    pub tokenizer: Option<TextTokenizer>,
    pub source: PathBuf,
    pub hf_config: HfConfig,
    pub report: LoadReport,
}

/// What a checkpoint is, read from its files without loading the weights onto a device.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub source: PathBuf,
    pub architecture: LlamaConfig,
    pub parameters: usize,
    pub dtype_on_disk: Option<StorageDType>,
    pub bytes_on_disk: usize,
    /// Weights in f32 on the device.
    pub memory_f32_bytes: usize,
    /// KV cache of one sequence at the full context, in f32.
    pub kv_cache_bytes_full_context: usize,
    pub tokenizer: Option<TokenizerInfo>,
    /// For a LoRA adapter directory: the base model it merges into (the figures are the base's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter_base: Option<PathBuf>,
}

/// The tokenizer beside a checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct TokenizerInfo {
    pub path: PathBuf,
    pub kind: String,
    pub vocab_size: usize,
    pub bos_id: Option<u32>,
    pub eos_ids: Vec<u32>,
}

impl LoadedModel {
    /// Loads an HF model directory onto `device`, with `tokenizer.json` from the same directory
    /// if there is one.
    /// A PEFT LoRA adapter directory opens as its base with the adapter merged in (the base
    /// found as [`adapter::base_dir`] says), with the adapter's tokenizer if it has one.
    #[cfg(feature = "native")]
    pub fn open(dir: &Path, device: &Device) -> Result<Self> {
        if adapter::is_adapter_dir(dir) {
            let base = adapter::base_dir(dir, None)?;
            let checkpoint = Checkpoint::open(&base)?;
            let tokenizer = match dir.join(TOKENIZER_FILE).is_file() {
                true => open_tokenizer(dir, &checkpoint.config)?,
                false => open_tokenizer(&base, &checkpoint.config)?,
            };
            let (model, mut report) = checkpoint.load(device)?;
            let (model, merged) = adapter::merge(model, dir, &base)?;
            report.adapter = Some(merged);
            return Ok(Self {
                model,
                tokenizer,
                source: dir.to_path_buf(),
                hf_config: checkpoint.hf_config,
                report,
            });
        }
        let checkpoint = Checkpoint::open(dir)?;
        let tokenizer = open_tokenizer(dir, &checkpoint.config)?;
        let (model, report) = checkpoint.load(device)?;
        Ok(Self {
            model,
            tokenizer,
            source: dir.to_path_buf(),
            hf_config: checkpoint.hf_config,
            report,
        })
    }

    /// The tokenizer, or an error saying the model directory has none.
    pub fn require_tokenizer(&self) -> Result<&TextTokenizer> {
        self.tokenizer.as_ref().ok_or_else(|| {
            crate::error::Error::bad_file(
                self.source.join(TOKENIZER_FILE),
                "missing: this command needs the model's tokenizer",
            )
        })
    }
}

/// `tokenizer.json` of a model directory, checked against the model's vocabulary.
#[cfg(feature = "native")]
pub fn open_tokenizer(dir: &Path, config: &LlamaConfig) -> Result<Option<TextTokenizer>> {
    let path = dir.join(TOKENIZER_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let tok = TextTokenizer::open(&path, config.bos_token_id, &config.eos_token_ids)?;
    tok.check_fits(config.vocab_size)?;
    Ok(Some(tok))
}

/// Describes a checkpoint directory from its files.
#[cfg(feature = "native")]
pub fn describe(dir: &Path) -> Result<ModelInfo> {
    if adapter::is_adapter_dir(dir) {
        let base = adapter::base_dir(dir, None)?;
        let mut info = describe(&base)?;
        info.source = dir.to_path_buf();
        info.adapter_base = Some(base);
        return Ok(info);
    }
    let checkpoint = Checkpoint::open(dir)?;
    let config = checkpoint.config.clone();
    let tokenizer = open_tokenizer(dir, &config)?.map(|t| TokenizerInfo {
        kind: t.model_kind(),
        vocab_size: t.vocab_size(),
        bos_id: t.bos_id,
        eos_ids: t.eos_ids.clone(),
        path: t.path,
    });
    let parameters = config.num_params();
    Ok(ModelInfo {
        source: dir.to_path_buf(),
        parameters,
        dtype_on_disk: checkpoint
            .weights
            .storage_dtype()
            .or(checkpoint.hf_config.storage_dtype()),
        bytes_on_disk: checkpoint.weights.stored_bytes(),
        memory_f32_bytes: parameters * 4,
        kv_cache_bytes_full_context: config.kv_cache_bytes(config.max_position_embeddings),
        architecture: config,
        tokenizer,
        adapter_base: None,
    })
}
