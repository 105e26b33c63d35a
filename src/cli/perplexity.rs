//! `beyond eval perplexity`: perplexity and bits per byte of one or two models on held-out text,
//! one row per corpus (language); with two models, the change in bits per byte on each corpus.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use beyond::eval::perplexity::{PerplexityOptions, PerplexityReport};
use beyond::eval::stats::Interval;
use beyond::jobs::Job;
use beyond::tasks;

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    /// HF model directory; give two (before, after) to see the change on each corpus.
    #[arg(long, value_name = "DIR", required = true, num_args = 1..=2)]
    pub model: Vec<PathBuf>,
    /// UTF-8 text, each non-empty line one sequence; repeat for several corpora. `zh=FILE` names
    /// the row; otherwise the file's stem does.
    #[arg(long, value_name = "[NAME=]FILE", required = true, num_args = 1..)]
    pub text: Vec<String>,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Longest window in tokens (default: the model's context).
    #[arg(long)]
    pub max_len: Option<usize>,
    #[command(flatten)]
    pub common: super::Common,
}

#[derive(Serialize)]
struct Row {
    corpus: String,
    model: PathBuf,
    #[serde(flatten)]
    report: PerplexityReport,
}

#[derive(Serialize)]
struct Change {
    corpus: String,
    /// Second model minus first, bits per byte, with a paired bootstrap interval over lines.
    bits_per_byte: Interval,
}

#[derive(Serialize)]
struct Output {
    rows: Vec<Row>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    change: Vec<Change>,
}

pub fn run(args: PerplexityArgs) -> anyhow::Result<()> {
    let (device, _) = args.common.device()?;
    let corpora = tasks::read_corpora(&args.text)?;
    let options = PerplexityOptions {
        batch_size: args.batch_size,
        max_len: args.max_len,
    };
    let models = args.model.clone();
    let job = Job::spawn("perplexity", None, move |ctx| {
        tasks::perplexities(&models, &corpora, &options, &device, ctx)
    });
    let measured = super::render::follow(job, args.common.json)?;
    let change: Vec<Change> = measured
        .iter()
        .filter_map(|c| {
            c.change.map(|bits_per_byte| Change {
                corpus: c.corpus.clone(),
                bits_per_byte,
            })
        })
        .collect();
    // Model by model, each corpus in the order given.
    let rows: Vec<Row> = args
        .model
        .iter()
        .enumerate()
        .flat_map(|(i, dir)| {
            measured.iter().map(move |c| Row {
                corpus: c.corpus.clone(),
                model: dir.clone(),
                report: c.reports[i].clone(),
            })
        })
        .collect();
    if args.common.json {
        return super::print_json(&Output { rows, change });
    }
    println!(
        "{:<12} {:>7} {:>9} {:>10} {:>11} {:>24}  model",
        "corpus", "lines", "tokens", "nll/token", "perplexity", "bits/byte [95%]"
    );
    for r in &rows {
        let p = &r.report;
        println!(
            "{:<12} {:>7} {:>9} {:>10.4} {:>11.3} {:>8.4} [{:.4}, {:.4}]  {}",
            r.corpus,
            p.sequences,
            p.tokens,
            p.nll_per_token,
            p.perplexity,
            p.bits_per_byte,
            p.bits_per_byte_interval.low,
            p.bits_per_byte_interval.high,
            r.model.display()
        );
    }
    for c in &change {
        println!(
            "change on {}: {:+.4} bits/byte [{:+.4}, {:+.4}] (second model minus first)",
            c.corpus, c.bits_per_byte.value, c.bits_per_byte.low, c.bits_per_byte.high
        );
    }
    Ok(())
}
