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
}

/// Figures of one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineFigures {
    pub engine: String,
    pub forward_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_tokens_per_s: Option<f64>,
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
            train_tokens_per_s: None,
        },
        torch: None,
        torch_error: None,
        forward_ratio: None,
        decode_ratio: None,
    })
}

/// Runs the PyTorch reference script for the same preset and adds its figures and the ratios.
pub fn compare_with_torch(
    report: &mut BenchReport,
    script: &Path,
    python: &str,
    device: &str,
    steps: usize,
) {
    let output = Command::new(python)
        .arg(script)
        .args(["--preset", &report.preset, "--device", device])
        .args([
            "--steps",
            &steps.to_string(),
            "--new-tokens",
            &report.new_tokens.to_string(),
        ])
        .output();
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
        Ok(torch) => {
            report.forward_ratio =
                Some(report.beyond.forward_tokens_per_s / torch.forward_tokens_per_s);
            report.decode_ratio =
                Some(report.beyond.decode_tokens_per_s / torch.decode_tokens_per_s);
            report.torch = Some(torch);
        }
        Err(e) => report.torch_error = Some(e),
    }
}
