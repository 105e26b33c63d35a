//! `beyond logits`: a model's logits for some tokens, written as safetensors.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::ModelArg;
use beyond::model::generate::ids_tensor;
use beyond::model::{ForwardOptions, LoadedModel, StorageDType, weights};

#[derive(Debug, Args)]
pub struct LogitsArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Token ids, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "text",
        required_unless_present = "text"
    )]
    pub ids: Option<Vec<u32>>,
    /// Text, tokenized with BOS as the tokenizer adds it.
    #[arg(long)]
    pub text: Option<String>,
    /// Output file: tensor `logits`, shape [tokens, vocab], f32.
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: super::Common,
}

#[derive(Serialize)]
struct Output {
    out: PathBuf,
    ids: Vec<u32>,
    shape: [usize; 2],
}

pub fn run(args: LogitsArgs) -> anyhow::Result<()> {
    let (device, _) = args.common.device()?;
    let loaded = LoadedModel::open(&args.model.model, &device)?;
    let ids = match (&args.ids, &args.text) {
        (Some(ids), _) => ids.clone(),
        (None, Some(text)) => loaded.require_tokenizer()?.encode_with_bos(text)?,
        (None, None) => anyhow::bail!("give --ids or --text"),
    };
    let vocab = loaded.model.config.vocab_size;
    if ids.is_empty() {
        anyhow::bail!("no tokens to score");
    }
    if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
        anyhow::bail!("token id {bad} is outside the model's vocabulary of {vocab}");
    }
    let logits = loaded.model.forward(
        ids_tensor(std::slice::from_ref(&ids), &device),
        ForwardOptions::default(),
    );
    let values = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
    let shape = [ids.len(), vocab];
    let bytes = weights::serialize(
        &[("logits".into(), shape.to_vec(), values)],
        StorageDType::F32,
    )?;
    beyond::fsx::write_atomic(&args.out, &bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let output = Output {
        out: args.out,
        ids,
        shape,
    };
    if args.common.json {
        return super::print_json(&output);
    }
    println!(
        "wrote logits [{} x {}] to {}",
        shape[0],
        shape[1],
        output.out.display()
    );
    Ok(())
}
