//! Inference speed on the presets shared with `bench/torch_reference.py`: forward tokens per
//! second on a `(batch, seq)` block and greedy decode tokens per second with the KV cache, and the
//! same figures from PyTorch + transformers measured in the same run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::device::DeviceInfo;
use crate::error::{Error, Result};
use crate::jobs::JobContext;
use crate::model::generate::ids_tensor;
use crate::model::{ForwardOptions, Llama, LlamaConfig, SamplingConfig, generate};

/// Batch and sequence length of each preset, as in the PyTorch reference.
pub fn preset_shape(name: &str) -> Option<(usize, usize)> {
    match name {
        "nano" => Some((4, 128)),
        "tiny" => Some((8, 256)),
        "small" => Some((4, 512)),
        "base" => Some((8, 1024)),
        _ => None,
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub preset: String,
    /// Timed repetitions of the forward pass.
    pub steps: usize,
    /// Tokens to decode after a 16-token prompt.
    pub new_tokens: usize,
    /// Also time training steps (forward, backward, AdamW).
    pub train: bool,
}

/// Figures of one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineFigures {
    pub engine: String,
    pub forward_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_tokens_per_s: Option<f64>,
    /// Peak resident memory of the process that measured, in bytes (where the OS tells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
}

/// The measurement with its context.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub preset: String,
    pub device: DeviceInfo,
    pub params: usize,
    pub batch: usize,
    pub seq: usize,
    pub new_tokens: usize,
    pub beyond: EngineFigures,
    pub torch: Option<EngineFigures>,
    /// Why PyTorch was not measured, if it was not.
    pub torch_error: Option<String>,
    /// Ours divided by PyTorch's.
    pub forward_ratio: Option<f64>,
    pub decode_ratio: Option<f64>,
    pub train_ratio: Option<f64>,
}

/// Measures this engine on `device`.
pub fn measure(
    options: &BenchOptions,
    device: &Device,
    info: &DeviceInfo,
    ctx: Option<&JobContext>,
) -> Result<BenchReport> {
    let config = LlamaConfig::preset(&options.preset)
        .ok_or_else(|| Error::InvalidInput(format!("unknown preset `{}`", options.preset)))?;
    let (batch, seq) = preset_shape(&options.preset).expect("every preset has a shape");
    let mut config = config;
    config.max_position_embeddings = config.max_position_embeddings.max(seq);
    device.seed(0);
    let model = Llama::init(&config, 0.02, device);
    let rows: Vec<Vec<u32>> = (0..batch)
        .map(|b| {
            (0..seq)
                .map(|i| (3 + (b * 7919 + i * 104_729) % (config.vocab_size - 3)) as u32)
                .collect()
        })
        .collect();
    let sync = |t: Tensor<3>| -> Result<()> {
        t.slice(s![0..1, 0..1, 0..1])
            .into_data()
            .try_into_vec::<f32>()
            .map(|_| ())
            .map_err(|e| Error::Device(format!("{e:?}")))
    };
    let step = |ctx: Option<&JobContext>, stage: &str, done: usize, total: usize| {
        if let Some(c) = ctx {
            c.progress(stage, done as u64, Some(total as u64), "runs");
        }
    };
    // Warm-up: kernels compile and memory pools fill on the first pass.
    sync(model.forward(ids_tensor(&rows, device), ForwardOptions::default()))?;
    let started = Instant::now();
    for i in 0..options.steps {
        if let Some(c) = ctx {
            c.check_cancelled()?;
        }
        sync(model.forward(ids_tensor(&rows, device), ForwardOptions::default()))?;
        step(ctx, "forward", i + 1, options.steps);
    }
    let forward_s = started.elapsed().as_secs_f64() / options.steps.max(1) as f64;

    let prompt: Vec<u32> = rows[0][..16].to_vec();
    generate(
        &model,
        None,
        &prompt,
        &SamplingConfig::greedy(4),
        &[],
        |_| std::ops::ControlFlow::Continue(()),
    )?;
    let started = Instant::now();
    let out = generate(
        &model,
        None,
        &prompt,
        &SamplingConfig::greedy(options.new_tokens),
        &[],
        |_| std::ops::ControlFlow::Continue(()),
    )?;
    let decode_s = started.elapsed().as_secs_f64();
    step(ctx, "decode", 1, 1);
    let new_tokens = out.ids.len() - out.prompt_len;
    let train_tokens_per_s = match options.train {
        true => Some((batch * seq) as f64 / time_training(model, &rows, options.steps, ctx)?),
        false => None,
    };
    Ok(BenchReport {
        preset: options.preset.clone(),
        device: info.clone(),
        params: config.num_params(),
        batch,
        seq,
        new_tokens,
        beyond: EngineFigures {
            engine: format!(
                "beyond {} (burn 0.22.1, {})",
                env!("CARGO_PKG_VERSION"),
                info.backend
            ),
            forward_tokens_per_s: (batch * seq) as f64 / forward_s,
            decode_tokens_per_s: new_tokens as f64 / decode_s,
            train_tokens_per_s,
            peak_memory_bytes: peak_memory_bytes(),
        },
        torch: None,
        torch_error: None,
        forward_ratio: None,
        decode_ratio: None,
        train_ratio: None,
    })
}

/// Seconds per training step (forward, backward, AdamW update) on `rows` as inputs and labels,
/// as the PyTorch reference times `model(input_ids=x, labels=x).loss.backward(); opt.step()`.
fn time_training(
    model: Llama,
    rows: &[Vec<u32>],
    steps: usize,
    ctx: Option<&JobContext>,
) -> Result<f64> {
    use crate::train::{Batch, Optimizer, OptimizerConfig, loss_and_grads, named_params};
    use burn::module::Module;
    let batch = Batch {
        input_ids: rows.to_vec(),
        labels: rows
            .iter()
            .map(|r| r.iter().map(|&t| t as i64).collect())
            .collect(),
        attention_mask: None,
    };
    let mut model = model.train();
    let params = named_params(&model);
    let mut optimizer = Optimizer::new(OptimizerConfig::AdamW(Default::default()));
    let mut run = |model: Llama| {
        let (_, grads) = loss_and_grads(&model, &batch, &params, 1.0);
        optimizer.step(model, &grads, &params, 1e-4)
    };
    model = run(model); // warm-up
    let started = Instant::now();
    for i in 0..steps {
        if let Some(c) = ctx {
            c.check_cancelled()?;
            c.progress("train", i as u64 + 1, Some(steps as u64), "steps");
        }
        model = run(model);
    }
    // The last update is done when its weights can be read.
    let _ = model
        .embed_tokens
        .weight
        .val()
        .slice(s![0..1, 0..1])
        .into_data();
    Ok(started.elapsed().as_secs_f64() / steps.max(1) as f64)
}

/// The process's peak resident memory (Linux: `VmHWM` of `/proc/self/status`).
pub fn peak_memory_bytes() -> Option<u64> {
    process_peak_memory_bytes(std::process::id())
}

/// Peak resident memory (`VmHWM`) of a running process, Linux only.
fn process_peak_memory_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `command` to the end, sampling its peak resident memory while it runs.
fn output_with_peak_memory(
    command: &mut Command,
) -> std::io::Result<(std::process::Output, Option<u64>)> {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    // Drain the pipes on threads so the child never blocks on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read_out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = std::io::Read::read_to_end(o, &mut buf);
        }
        buf
    });
    let read_err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = std::io::Read::read_to_end(e, &mut buf);
        }
        buf
    });
    let mut peak = None;
    let status = loop {
        if let Some(p) = process_peak_memory_bytes(pid) {
            peak = Some(peak.map_or(p, |q: u64| q.max(p)));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let stdout = read_out.join().unwrap_or_default();
    let stderr = read_err.join().unwrap_or_default();
    Ok((
        std::process::Output {
            status,
            stdout,
            stderr,
        },
        peak,
    ))
}

/// Runs the PyTorch reference script for the same preset and adds its figures and the ratios.
pub fn compare_with_torch(
    report: &mut BenchReport,
    script: &Path,
    python: &str,
    device: &str,
    steps: usize,
) {
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(["--preset", &report.preset, "--device", device])
        .args([
            "--steps",
            &steps.to_string(),
            "--new-tokens",
            &report.new_tokens.to_string(),
        ]);
    let (output, peak) = match output_with_peak_memory(&mut command) {
        Ok((o, peak)) => (Ok(o), peak),
        Err(e) => (Err(e), None),
    };
    let parsed = match output {
        Err(e) => Err(format!("could not run {python}: {e}")),
        Ok(o) if !o.status.success() => Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Ok(o) => {
            let stdout = String::from_utf8_lossy(&o.stdout);
            let line = stdout
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with('{'))
                .unwrap_or("");
            serde_json::from_str::<EngineFigures>(line)
                .map_err(|e| format!("unreadable output of {}: {e}", script.display()))
        }
    };
    match parsed {
        Ok(mut torch) => {
            torch.peak_memory_bytes = peak;
            report.train_ratio = report
                .beyond
                .train_tokens_per_s
                .zip(torch.train_tokens_per_s)
                .map(|(ours, theirs)| ours / theirs);
            report.forward_ratio =
                Some(report.beyond.forward_tokens_per_s / torch.forward_tokens_per_s);
            report.decode_ratio =
                Some(report.beyond.decode_tokens_per_s / torch.decode_tokens_per_s);
            report.torch = Some(torch);
        }
        Err(e) => report.torch_error = Some(e),
    }
}

/// Where the PyTorch reference is and how to run it.
#[derive(Debug, Clone)]
pub struct TorchReference {
    pub script: std::path::PathBuf,
    pub python: String,
    /// `cpu` or `cuda`.
    pub device: String,
}

/// The median of a figure over rounds, with the smallest and largest round.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` when no round had the figure.
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().flatten().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n % 2 {
            1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// Several rounds, each measuring this engine and then PyTorch, so that both see the same
/// state of the machine; the ratios as medians with their spread.
#[derive(Debug, Clone, Serialize)]
pub struct BenchSeries {
    pub rounds: Vec<BenchReport>,
    pub forward_ratio: Option<Spread>,
    pub decode_ratio: Option<Spread>,
    pub train_ratio: Option<Spread>,
    pub forward_tokens_per_s: Option<Spread>,
    pub train_tokens_per_s: Option<Spread>,
    pub torch_forward_tokens_per_s: Option<Spread>,
    pub torch_train_tokens_per_s: Option<Spread>,
}

/// Runs `rounds` rounds of [`measure`] and (when given) the PyTorch reference, alternately.
pub fn measure_rounds(
    options: &BenchOptions,
    device: &Device,
    info: &DeviceInfo,
    torch: Option<&TorchReference>,
    rounds: usize,
    ctx: Option<&JobContext>,
) -> Result<BenchSeries> {
    let mut all = Vec::with_capacity(rounds.max(1));
    for round in 0..rounds.max(1) {
        if let Some(c) = ctx {
            c.message(format!("round {} of {}", round + 1, rounds.max(1)));
        }
        let mut report = measure(options, device, info, ctx)?;
        if let Some(t) = torch {
            match t.script.is_file() {
                true => {
                    compare_with_torch(&mut report, &t.script, &t.python, &t.device, options.steps)
                }
                false => report.torch_error = Some(format!("{} not found", t.script.display())),
            }
        }
        all.push(report);
    }
    let of = |f: &dyn Fn(&BenchReport) -> Option<f64>| Spread::of(all.iter().map(f));
    Ok(BenchSeries {
        forward_ratio: of(&|r| r.forward_ratio),
        decode_ratio: of(&|r| r.decode_ratio),
        train_ratio: of(&|r| r.train_ratio),
        forward_tokens_per_s: of(&|r| Some(r.beyond.forward_tokens_per_s)),
        train_tokens_per_s: of(&|r| r.beyond.train_tokens_per_s),
        torch_forward_tokens_per_s: of(&|r| r.torch.as_ref().map(|t| t.forward_tokens_per_s)),
        torch_train_tokens_per_s: of(&|r| r.torch.as_ref().and_then(|t| t.train_tokens_per_s)),
        rounds: all,
    })
}

/// Multiple-choice evaluation speed on a preset.
#[derive(Debug, Clone, Serialize)]
pub struct EvalBench {
    pub preset: String,
    pub device: DeviceInfo,
    pub params: usize,
    pub questions: usize,
    pub shots: usize,
    pub batch_size: usize,
    /// Both scorings (answer letter and option text) per question.
    pub questions_per_second: f64,
    pub seconds: f64,
}

/// Times `beyond eval mcq` (letter and text scoring, `shots`-shot) on a randomly initialised
/// model of `preset` with `tokenizer`, over the English questions of the synthetic world of
/// seed 0 (MMLU layout).
pub fn measure_mcq(
    preset: &str,
    tokenizer: &crate::model::TextTokenizer,
    shots: usize,
    batch_size: usize,
    device: &Device,
    info: &DeviceInfo,
    ctx: Option<&JobContext>,
) -> Result<EvalBench> {
    use crate::eval::mcq::{self, McqItem, McqOptions, McqSet, McqSubject};
    let config = LlamaConfig::preset(preset)
        .ok_or_else(|| Error::InvalidInput(format!("unknown preset `{preset}`")))?;
    tokenizer.check_fits(config.vocab_size)?;
    if let Some(c) = ctx {
        c.message("generating the world's questions");
    }
    let world = crate::world::generate(crate::world::WorldSpec::new(0)?, &mut |_| {})?;
    let mut set = McqSet::new(mcq::Format::Mmlu);
    for q in world.questions.iter().filter(|q| q.language == "en") {
        let name = format!("{:?}", q.split).to_lowercase();
        let subject = match set.subjects.iter().position(|s| s.name == name) {
            Some(i) => &mut set.subjects[i],
            None => {
                set.subjects.push(McqSubject {
                    name,
                    dev: Vec::new(),
                    eval: Vec::new(),
                });
                set.subjects.last_mut().expect("just pushed")
            }
        };
        let item = McqItem {
            id: format!("{}", q.fact),
            passage: None,
            question: q.question.clone(),
            options: q.options.to_vec(),
            answer: (q.answer.as_bytes()[0] - b'A') as usize,
            explanation: None,
        };
        match q.part.as_str() {
            "dev" => subject.dev.push(item),
            _ => subject.eval.push(item),
        }
    }
    device.seed(0);
    let model = Llama::init(&config, 0.02, device);
    let options = McqOptions {
        shots,
        batch_size,
        ..McqOptions::default()
    };
    // Warm-up on a few questions: kernels compile on the first passes.
    mcq::evaluate(
        &model,
        tokenizer,
        &set,
        &McqOptions {
            limit: Some(2),
            ..options.clone()
        },
        None,
    )?;
    let report = mcq::evaluate(&model, tokenizer, &set, &options, ctx)?;
    Ok(EvalBench {
        preset: preset.to_string(),
        device: info.clone(),
        params: config.num_params(),
        questions: report.questions,
        shots,
        batch_size,
        questions_per_second: report.questions_per_second,
        seconds: report.seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_is_the_median_and_the_ends() {
        let s = Spread::of([Some(0.9), None, Some(1.2), Some(1.0)]).unwrap();
        assert_eq!((s.median, s.min, s.max), (1.0, 0.9, 1.2));
        let even = Spread::of([Some(1.0), Some(2.0)]).unwrap();
        assert_eq!(even.median, 1.5);
        assert!(Spread::of([None]).is_none());
    }
}
