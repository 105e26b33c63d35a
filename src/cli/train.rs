//! `beyond train --config run.toml [--resume]`: continued pretraining or instruction tuning.

use std::path::PathBuf;

use clap::Args;

use beyond::jobs::Job;
use beyond::train::{RunConfig, train};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run manifest (TOML); see `assets/*.toml` for commented examples.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Continue from the run directory's latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: super::Common,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let config = RunConfig::from_toml_file(&args.config)?;
    let (device, _) = args.common.device()?;
    let resume = args.resume;
    let job = Job::spawn("train", None, move |ctx| {
        train(&config, &device, resume, ctx)
    });
    super::render::cancel_on_ctrl_c(&job);
    let report = super::render::follow(job, args.common.json)?;
    if args.common.json {
        return super::print_json(&report);
    }
    println!("steps          {}", report.steps);
    println!("tokens         {}", report.tokens);
    if let Some(loss) = report.final_loss {
        println!("final loss     {loss:.4}");
    }
    if let Some(loss) = report.final_eval_loss {
        println!("held-out loss  {loss:.4}");
    }
    for c in &report.corpora {
        println!(
            "corpus {:<8} {} tokens in {} sequences (epoch {}, {} bad lines)",
            c.name, c.tokens, c.sequences, c.epochs, c.bad_lines
        );
    }
    if let Some(n) = report.truncated_examples {
        println!("truncated      {n} examples");
    }
    println!("model          {}", report.final_model.display());
    Ok(())
}
