//! `beyond generate`: text from a prompt, streamed token by token.

use clap::Args;
use serde::Serialize;

use super::ModelArg;
use beyond::jobs::Job;
use beyond::model::{SamplingConfig, StopReason};
use beyond::tasks;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// The prompt; BOS is added as the tokenizer adds it.
    #[arg(long)]
    pub prompt: String,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Always take the most likely token (the default unless --temperature is given).
    #[arg(long, conflicts_with_all = ["temperature", "top_p", "top_k"])]
    pub greedy: bool,
    /// Sample with this temperature.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Sample from the smallest set of tokens whose probability reaches P.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Sample from the K most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Penalise tokens already present (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f32,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the text contains this (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    #[command(flatten)]
    pub common: super::Common,
}

#[derive(Serialize)]
struct Output {
    ids: Vec<u32>,
    text: String,
    prompt_tokens: usize,
    new_tokens: usize,
    stop_reason: StopReason,
    tokens_per_second: f64,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let (device, _) = args.common.device()?;
    let sampling = SamplingConfig {
        max_new_tokens: args.max_new_tokens,
        temperature: match (args.greedy, args.temperature) {
            (true, _) | (false, None) => 0.0,
            (false, Some(t)) => t,
        },
        top_k: args.top_k.unwrap_or(0),
        top_p: args.top_p.unwrap_or(1.0),
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
        stop: args.stop.clone(),
    };
    sampling.validate()?;
    let dir = args.model.model.clone();
    let prompt = args.prompt.clone();
    let job = Job::spawn("generate", None, move |ctx| {
        tasks::generate_text(&dir, &prompt, &sampling, &device, ctx)
    });
    if !args.common.json {
        print!("{}", args.prompt);
    }
    let generated = super::render::follow(job, args.common.json)?;
    let tokens_per_second = generated.tokens_per_second();
    let generation = generated.generation;
    let output = Output {
        prompt_tokens: generation.prompt_len,
        new_tokens: generation.ids.len() - generation.prompt_len,
        stop_reason: generation.stop_reason,
        tokens_per_second,
        ids: generation.ids,
        text: generation.text,
    };
    if args.common.json {
        return super::print_json(&output);
    }
    println!();
    eprintln!(
        "{} new tokens, {:.1} tokens/s, stopped: {:?}",
        output.new_tokens, output.tokens_per_second, output.stop_reason
    );
    Ok(())
}
