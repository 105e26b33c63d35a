//! The model a run starts from, as an HF directory another trainer loads: the base directory's
//! files (hard-linked where the file system allows, copied otherwise), or a fresh model
//! initialised exactly as `beyond train` would initialise it. A LoRA adapter as the base is
//! merged first. A `tokenizer_config.json` naming the special tokens is added when missing, so
//! `transformers` loads the tokenizer without guessing.

use std::path::Path;

use serde_json::json;

use crate::error::{Error, Result};
use crate::model::checkpoint::{self, SaveOptions, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE};
use crate::model::{LoadedModel, TextTokenizer, adapter};
use crate::train::config::RunConfig;

/// The folder of the starting model, inside the export.
pub const MODEL_DIR: &str = "model";

/// How the starting model was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelOrigin {
    /// The base directory's files, linked or copied.
    Base,
    /// A LoRA adapter merged into its base.
    MergedAdapter,
    /// A fresh model from the manifest's seed.
    Fresh,
}

/// Writes the starting model into `out/model`.
pub fn write(config: &RunConfig, tokenizer: &TextTokenizer, out: &Path) -> Result<ModelOrigin> {
    let dir = out.join(MODEL_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let origin = match &config.model.base {
        Some(base) if adapter::is_adapter_dir(base) => {
            let loaded = LoadedModel::open(base, &burn::tensor::Device::flex())?;
            checkpoint::save(
                &loaded.model,
                Some(&loaded.hf_config),
                &dir,
                &SaveOptions::default(),
                None,
            )?;
            copy_tokenizer(tokenizer, &dir)?;
            ModelOrigin::MergedAdapter
        }
        Some(base) => {
            // Fails early, naming the file, when the base is not a model.
            crate::model::Checkpoint::open(base)?;
            link_or_copy_files(base, &dir)?;
            ModelOrigin::Base
        }
        None => {
            let device = burn::tensor::Device::flex();
            device.seed(config.seed);
            let (model, _) = crate::train::run::starting_model(config, tokenizer, &device)?;
            checkpoint::save(&model, None, &dir, &SaveOptions::default(), None)?;
            copy_tokenizer(tokenizer, &dir)?;
            ModelOrigin::Fresh
        }
    };
    if !dir.join(TOKENIZER_CONFIG_FILE).is_file() {
        write_tokenizer_config(tokenizer, &dir)?;
    }
    Ok(origin)
}

/// Files of an HF model directory besides its weights that loaders read.
const MODEL_FILES: [&str; 8] = [
    checkpoint::CONFIG_FILE,
    checkpoint::GENERATION_CONFIG_FILE,
    checkpoint::INDEX_FILE,
    TOKENIZER_FILE,
    TOKENIZER_CONFIG_FILE,
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
];

/// The model's files in `from` (its weights, configuration and tokenizer) into `to`: a hard
/// link when both are on one file system (a checkpoint of many gigabytes costs nothing), a copy
/// otherwise.
fn link_or_copy_files(from: &Path, to: &Path) -> Result<()> {
    let mut files = checkpoint::weight_files(from)?;
    files.extend(
        MODEL_FILES
            .iter()
            .map(|name| from.join(name))
            .filter(|p| p.is_file()),
    );
    for source in files {
        let Some(name) = source.file_name() else {
            continue;
        };
        let target = to.join(name);
        if target.exists() {
            std::fs::remove_file(&target).map_err(|e| Error::io(&target, e))?;
        }
        if std::fs::hard_link(&source, &target).is_err() {
            let partial = target.with_extension("partial");
            std::fs::copy(&source, &partial).map_err(|e| Error::io(&source, e))?;
            std::fs::rename(&partial, &target).map_err(|e| Error::io(&target, e))?;
        }
    }
    Ok(())
}

fn copy_tokenizer(tokenizer: &TextTokenizer, dir: &Path) -> Result<()> {
    let bytes = std::fs::read(&tokenizer.path).map_err(|e| Error::io(&tokenizer.path, e))?;
    crate::fsx::write_atomic(&dir.join(TOKENIZER_FILE), &bytes)?;
    let beside = tokenizer.path.with_file_name(TOKENIZER_CONFIG_FILE);
    if beside.is_file() {
        let bytes = std::fs::read(&beside).map_err(|e| Error::io(&beside, e))?;
        crate::fsx::write_atomic(&dir.join(TOKENIZER_CONFIG_FILE), &bytes)?;
    }
    Ok(())
}

/// A `tokenizer_config.json` for a fast tokenizer with the model's BOS and EOS.
fn write_tokenizer_config(tokenizer: &TextTokenizer, dir: &Path) -> Result<()> {
    let token = |id: Option<u32>| id.and_then(|id| tokenizer.inner.id_to_token(id));
    let mut config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": false,
    });
    if let Some(bos) = token(tokenizer.bos_id) {
        config["bos_token"] = json!(bos);
    }
    if let Some(eos) = token(tokenizer.eos_ids.first().copied()) {
        config["eos_token"] = json!(eos);
    }
    if let Some(unk) = tokenizer
        .inner
        .token_to_id("<unk>")
        .and_then(|id| token(Some(id)))
    {
        config["unk_token"] = json!(unk);
    }
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::Serialize(format!("tokenizer_config.json: {e}")))?;
    crate::fsx::write_atomic(&dir.join(TOKENIZER_CONFIG_FILE), text.as_bytes())
}
