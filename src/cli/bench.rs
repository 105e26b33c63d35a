//! `beyond bench`: speed on a preset, beside PyTorch measured in the same invocation.

use std::path::PathBuf;

use clap::Args;

use beyond::bench::{BenchOptions, Spread, TorchReference, measure_mcq, measure_rounds};
use beyond::jobs::Job;

/// What to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchWhat {
    /// Forward passes and greedy decoding.
    Infer,
    /// Also training steps (forward, backward, AdamW), with peak memory.
    Train,
    /// Multiple-choice evaluation: questions per second (letter and text scoring).
    Eval,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// `infer` (the default) or `train`.
    #[arg(value_enum, default_value_t = BenchWhat::Infer)]
    pub what: BenchWhat,
    /// Model shape, as in bench/torch_reference.py.
    #[arg(long, default_value = "tiny", value_parser = ["nano", "tiny", "small", "base"])]
    pub preset: String,
    /// Timed forward passes.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Tokens decoded after a 16-token prompt.
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// The PyTorch reference script to run beside (skipped when it does not exist).
    #[arg(long, default_value = "scripts/torch_reference.py")]
    pub torch_reference: PathBuf,
    /// Python interpreter with torch and transformers.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Do not run PyTorch.
    #[arg(long)]
    pub no_torch: bool,
    /// Rounds, each timing beyond and then PyTorch; the ratios are reported as medians with the
    /// smallest and largest round.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Tokenizer for `eval` (the preset's vocabulary is LLaMA-2's).
    #[arg(long, default_value = "assets/tokenizers/llama2/tokenizer.json")]
    pub tokenizer: PathBuf,
    /// Solved examples before each question, for `eval`.
    #[arg(long, default_value_t = 0)]
    pub shots: usize,
    /// Sequences per forward pass, for `eval`.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    #[command(flatten)]
    pub common: super::Common,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (device, info) = args.common.device()?;
    if args.what == BenchWhat::Eval {
        return run_eval(args, device, info);
    }
    let options = BenchOptions {
        preset: args.preset.clone(),
        steps: args.steps,
        new_tokens: args.new_tokens,
        train: args.what == BenchWhat::Train,
    };
    let torch = (!args.no_torch).then(|| TorchReference {
        script: args.torch_reference.clone(),
        python: args.python.clone(),
        device: match info.kind.as_str() {
            "gpu" => "cuda".into(),
            _ => "cpu".into(),
        },
    });
    let rounds = args.rounds;
    let job = Job::spawn("bench", None, move |ctx| {
        measure_rounds(&options, &device, &info, torch.as_ref(), rounds, Some(ctx))
    });
    let series = super::render::follow(job, args.common.json)?;
    if args.common.json {
        return super::print_json(&series);
    }
    let Some(first) = series.rounds.first() else {
        anyhow::bail!("no round was measured");
    };
    println!(
        "preset {} ({:.1} M params), batch {} x seq {}, on {}; {} rounds, each beyond then torch",
        first.preset,
        first.params as f64 / 1e6,
        first.batch,
        first.seq,
        first.device.summary(),
        series.rounds.len()
    );
    println!(
        "{:<8} {:<40} {:>14} {:>14} {:>14} {:>12}",
        "round", "engine", "forward tok/s", "decode tok/s", "train tok/s", "peak MiB"
    );
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    let row = |round: usize, f: &beyond::bench::EngineFigures| {
        println!(
            "{:<8} {:<40} {:>14.0} {:>14.1} {:>14} {:>12}",
            round,
            f.engine,
            f.forward_tokens_per_s,
            f.decode_tokens_per_s,
            opt(f.train_tokens_per_s, 0),
            opt(f.peak_memory_bytes.map(|b| b as f64 / (1 << 20) as f64), 0)
        )
    };
    for (i, report) in series.rounds.iter().enumerate() {
        row(i + 1, &report.beyond);
        match (&report.torch, &report.torch_error) {
            (Some(t), _) => {
                row(i + 1, t);
                println!(
                    "{:<8} {:<40} {:>14.2} {:>14.2} {:>14}",
                    i + 1,
                    "ratio (beyond / torch)",
                    report.forward_ratio.unwrap_or(f64::NAN),
                    report.decode_ratio.unwrap_or(f64::NAN),
                    opt(report.train_ratio, 2)
                );
            }
            (None, Some(e)) => println!("{:<8} torch: not measured ({e})", i + 1),
            (None, None) => {}
        }
    }
    let spread = |s: Option<Spread>| {
        s.map_or("-".to_string(), |s| {
            format!("{:.2} [{:.2}, {:.2}]", s.median, s.min, s.max)
        })
    };
    if series.forward_ratio.is_some() {
        println!(
            "median ratio [smallest, largest round]: forward {}, decode {}, train {}",
            spread(series.forward_ratio),
            spread(series.decode_ratio),
            spread(series.train_ratio)
        );
    }
    Ok(())
}

fn run_eval(
    args: BenchArgs,
    device: burn::tensor::Device,
    info: beyond::device::DeviceInfo,
) -> anyhow::Result<()> {
    let tokenizer = beyond::model::TextTokenizer::open(&args.tokenizer, Some(1), &[2])?;
    let (preset, shots, batch) = (args.preset.clone(), args.shots, args.batch_size);
    let job = Job::spawn("bench eval", None, move |ctx| {
        measure_mcq(&preset, &tokenizer, shots, batch, &device, &info, Some(ctx))
    });
    let report = super::render::follow(job, args.common.json)?;
    if args.common.json {
        return super::print_json(&report);
    }
    println!(
        "preset {} ({:.1} M params) on {}: {} questions, {}-shot, batch {}: \
         {:.1} questions/s (letter and text scoring), {:.1} s",
        report.preset,
        report.params as f64 / 1e6,
        report.device.summary(),
        report.questions,
        report.shots,
        report.batch_size,
        report.questions_per_second,
        report.seconds
    );
    Ok(())
}
