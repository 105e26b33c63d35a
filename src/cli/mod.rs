//! The headless face: `beyond <command>`. Each command starts core work and renders its events;
//! with `--json` it prints one JSON object on stdout instead of text for people.

mod answers;
mod bench;
mod codeswitch;
mod doctor;
mod export;
mod generate;
mod info;
mod lesson;
mod logits;
mod mcq;
mod perplexity;
mod quality;
mod render;
mod serve;
mod study;
mod train;
mod vocab;
mod world;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use beyond::device::{self, DeviceChoice, DeviceInfo};

/// beyond: teach a LLaMA-architecture model a new language and measure what happened.
#[derive(Debug, Parser)]
#[command(name = "beyond", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Compute device: a GPU through wgpu (Vulkan, Metal, DX12, WebGPU) or the CPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Use the GPU even if it fails the device check (see `beyond doctor`): its results may be
    /// wrong.
    #[arg(long)]
    pub trust_device: bool,
}

impl Common {
    /// Sets up the device and says which one it is (on stderr, so stdout stays clean).
    pub fn device(&self) -> anyhow::Result<(burn::tensor::Device, DeviceInfo)> {
        let (device, info) = match self.trust_device {
            true => device::select_unchecked(self.device)?,
            false => device::select(self.device)?,
        };
        if !self.json {
            eprintln!("device: {}", info.summary());
        }
        Ok((device, info))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a model directory: architecture, parameters, dtype, memory, tokenizer.
    Info(info::InfoArgs),
    /// Write a model's logits for some tokens to a safetensors file.
    Logits(logits::LogitsArgs),
    /// Generate text from a prompt, streaming it as it comes.
    Generate(generate::GenerateArgs),
    /// Evaluate models.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Train: continued pretraining or instruction tuning, from a TOML run manifest.
    Train(train::TrainArgs),
    /// The vocabulary lab: analyse how a tokenizer treats languages.
    #[command(subcommand)]
    Vocab(vocab::VocabCommand),
    /// Hand a run to another trainer: LLaMA-Factory, for many GPUs and nodes.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// The first lesson: a micro world and a micro model trained in memory (what the web page
    /// runs), with every step's loss and gradient norm.
    Lesson(lesson::LessonArgs),
    /// The synthetic world: the embedded default for running the whole study offline.
    #[command(subcommand)]
    World(world::WorldCommand),
    /// The study: the paper's questions as experiments over a grid of settings, with a report.
    #[command(subcommand)]
    Study(study::StudyCommand),
    /// Serve a model over an OpenAI-compatible HTTP API (chat completions, models).
    Serve(serve::ServeArgs),
    /// Measure speed on the presets, beside PyTorch measured in the same run.
    Bench(bench::BenchArgs),
    /// Check that a device computes right: sums and a small model against the CPU backend.
    Doctor(doctor::DoctorArgs),
    /// Open the desktop app (the same as running `beyond` alone).
    Gui(beyond::app::AppOptions),
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Knowledge by multiple choice: C-Eval, MMLU, AGIEval, GAOKAO-Bench or the world.
    Mcq(mcq::McqArgs),
    /// Perplexity and bits per byte on text, one sequence per non-empty line.
    Perplexity(perplexity::PerplexityArgs),
    /// Code-switching: which answers leave the expected language, and where.
    Codeswitch(codeswitch::CodeSwitchArgs),
    /// Answer quality: LLM-Eval's five aspects by a judge model and by people, and judge-free signals.
    Quality(quality::QualityArgs),
}

/// A model directory argument.
#[derive(Debug, Clone, Args)]
pub struct ModelArg {
    /// HF model directory (config.json, model.safetensors or shards, tokenizer.json).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
}

/// Runs a parsed command.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Info(a) => info::run(a),
        Command::Logits(a) => logits::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Eval(EvalCommand::Perplexity(a)) => perplexity::run(a),
        Command::Eval(EvalCommand::Mcq(a)) => mcq::run(a),
        Command::Eval(EvalCommand::Codeswitch(a)) => codeswitch::run(a),
        Command::Eval(EvalCommand::Quality(a)) => quality::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Train(a) => train::run(a),
        Command::Vocab(c) => vocab::run(c),
        Command::Lesson(a) => lesson::run(a),
        Command::World(c) => world::run(c),
        Command::Study(c) => study::run(c),
        Command::Export(c) => export::run(c),
        Command::Gui(options) => beyond::app::run(options),
    }
}

/// Whether the command asked for JSON (errors are then printed as JSON too).
pub fn wants_json(command: &Command) -> bool {
    match command {
        Command::Info(a) => a.common.json,
        Command::Logits(a) => a.common.json,
        Command::Generate(a) => a.common.json,
        Command::Eval(EvalCommand::Perplexity(a)) => a.common.json,
        Command::Eval(EvalCommand::Mcq(a)) => a.common.json,
        Command::Eval(EvalCommand::Codeswitch(a)) => a.common.json,
        Command::Eval(EvalCommand::Quality(a)) => a.common.json,
        Command::Bench(a) => a.common.json,
        Command::Doctor(a) => a.json,
        Command::Serve(a) => a.common.json,
        Command::Train(a) => a.common.json,
        Command::Vocab(c) => c.json(),
        Command::Lesson(a) => a.common.json,
        Command::World(c) => c.json(),
        Command::Study(c) => c.json(),
        Command::Export(c) => c.json(),
        Command::Gui(_) => false,
    }
}

/// Prints a value as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
