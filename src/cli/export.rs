//! `beyond export llama-factory --config RUN.toml --out DIR`: the same run, for a trainer that
//! scales past one machine.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use beyond::export::export_llama_factory;
use beyond::jobs::Job;
use beyond::train::RunConfig;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write a run manifest as a LLaMA-Factory run: the starting model, the data, the YAML and
    /// the commands for one GPU, several, or several nodes.
    LlamaFactory(LlamaFactoryArgs),
}

impl ExportCommand {
    pub fn json(&self) -> bool {
        match self {
            ExportCommand::LlamaFactory(a) => a.json,
        }
    }
}

#[derive(Debug, Args)]
pub struct LlamaFactoryArgs {
    /// The run manifest (TOML), as `beyond train --config` takes it.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The folder to write (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::LlamaFactory(args) = command;
    let config = RunConfig::from_toml_file(&args.config)?;
    let (manifest, out) = (args.config.clone(), args.out.clone());
    let job = Job::spawn("export", None, move |ctx| {
        export_llama_factory(&config, &manifest, &out, ctx)
    });
    super::render::cancel_on_ctrl_c(&job);
    let report = super::render::follow(job, args.json)?;
    if args.json {
        return super::print_json(&report);
    }
    println!(
        "model       {} ({:?})",
        report.model.display(),
        report.model_origin
    );
    for f in report.data.train.iter().chain(&report.data.heldout) {
        println!(
            "data        {:<20} {:>8} records {:>10} tokens  {}",
            f.name, f.records, f.tokens, f.file
        );
    }
    println!(
        "settings    {} ({} keys)",
        report.yaml.display(),
        report.plan.keys().count()
    );
    println!(
        "steps       {} of {} sequences",
        report.steps, report.global_batch
    );
    if !report.plan.differences.is_empty() {
        println!("runs differently:");
        for d in &report.plan.differences {
            println!("  {:<24} {}", d.ours, d.how);
        }
    }
    println!();
    println!(
        "run it:     cd {} && {}",
        report.out.display(),
        report.command
    );
    println!(
        "then:       beyond eval perplexity --model {} --text FILE",
        report.result.display()
    );
    Ok(())
}
