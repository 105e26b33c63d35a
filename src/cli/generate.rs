//! `beyond generate`: text from a prompt, streamed token by token.

use std::ops::ControlFlow;

use clap::Args;
use serde::Serialize;

use super::ModelArg;
use beyond::jobs::{Event, Job};
use beyond::model::{LoadedModel, SamplingConfig, StopReason, generate};

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
        ctx.message(format!("loading {}", dir.display()));
        let loaded = LoadedModel::open(&dir, &device)?;
        let tokenizer = loaded.require_tokenizer()?;
        let ids = tokenizer.encode_with_bos(&prompt)?;
        let started = std::time::Instant::now();
        let generation = generate(
            &loaded.model,
            Some(tokenizer),
            &ids,
            &sampling,
            &tokenizer.eos_ids,
            |step| {
                ctx.emit(Event::Token {
                    id: step.id,
                    text: step.text.clone(),
                });
                match ctx.is_cancelled() {
                    true => ControlFlow::Break(()),
                    false => ControlFlow::Continue(()),
                }
            },
        )?;
        let seconds = started.elapsed().as_secs_f64();
        Ok((generation, seconds))
    });
    if !args.common.json {
        print!("{}", args.prompt);
    }
    let (generation, seconds) = super::render::follow(job, args.common.json)?;
    let new_tokens = generation.ids.len() - generation.prompt_len;
    let output = Output {
        prompt_tokens: generation.prompt_len,
        new_tokens,
        stop_reason: generation.stop_reason,
        tokens_per_second: new_tokens as f64 / seconds.max(1e-9),
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
