//! `beyond eval perplexity`: perplexity and bits per byte of a model on text.

use std::path::PathBuf;

use clap::Args;

use super::ModelArg;
use beyond::eval::perplexity::{PerplexityOptions, perplexity};
use beyond::jobs::Job;
use beyond::model::LoadedModel;

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// UTF-8 text; each non-empty line is one sequence.
    #[arg(long, value_name = "FILE")]
    pub text: PathBuf,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Longest window in tokens (default: the model's context).
    #[arg(long)]
    pub max_len: Option<usize>,
    #[command(flatten)]
    pub common: super::Common,
}

pub fn run(args: PerplexityArgs) -> anyhow::Result<()> {
    let (device, _) = args.common.device()?;
    let text = read_text(&args.text)?;
    let dir = args.model.model.clone();
    let options = PerplexityOptions {
        batch_size: args.batch_size,
        max_len: args.max_len,
    };
    let job = Job::spawn("perplexity", None, move |ctx| {
        let loaded = LoadedModel::open(&dir, &device)?;
        perplexity(
            &loaded.model,
            loaded.require_tokenizer()?,
            &text,
            &options,
            Some(ctx),
        )
    });
    let report = super::render::follow(job, args.common.json)?;
    if args.common.json {
        return super::print_json(&report);
    }
    println!("sequences      {}", report.sequences);
    println!("tokens         {}", report.tokens);
    println!("bytes          {}", report.bytes);
    println!("nll/token      {:.4}", report.nll_per_token);
    println!("perplexity     {:.3}", report.perplexity);
    println!("bits per byte  {:.4}", report.bits_per_byte);
    Ok(())
}

/// Reads a UTF-8 text file, naming the file and the byte where it stops being UTF-8.
pub fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
