//! LoRA adapters as PEFT saves them (`adapter_config.json` + `adapter_model.safetensors`), the
//! way LLaMA-Factory and most trainers hand back a LoRA run. An adapter directory opens as its
//! base model with the adapters merged in (`W + scale * B A`) and any fully saved modules
//! (`modules_to_save`, such as a retrained embedding) put in place.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::llama::Llama;
use super::weights::WeightSet;
use crate::error::{Error, Result};

pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// The part of PEFT's `adapter_config.json` that merging needs.
#[derive(Debug, Clone, Deserialize)]
pub struct AdapterConfig {
    #[serde(default)]
    pub peft_type: Option<String>,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default)]
    pub lora_bias: bool,
    /// Per-module alpha overrides, keyed by a module-name suffix.
    #[serde(default)]
    pub alpha_pattern: std::collections::BTreeMap<String, f64>,
}

/// What merging an adapter did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergeReport {
    pub adapter: PathBuf,
    pub base: PathBuf,
    /// Projections that got a low-rank update (`model.layers.0.self_attn.q_proj`).
    pub merged: Vec<String>,
    /// Whole modules the adapter replaced (`model.embed_tokens`, `lm_head`).
    pub replaced: Vec<String>,
}

/// Whether `dir` holds a PEFT adapter rather than a whole model.
pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join(ADAPTER_CONFIG_FILE).is_file() && !dir.join(super::checkpoint::CONFIG_FILE).is_file()
}

impl AdapterConfig {
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(ADAPTER_CONFIG_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let config: AdapterConfig = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_file(&path, format!("not a PEFT adapter config: {e}")))?;
        let unsupported = |what: &str| {
            Err(Error::bad_file(
                &path,
                format!("{what}: only plain LoRA adapters can be merged"),
            ))
        };
        match config.peft_type.as_deref() {
            None | Some("LORA") => {}
            Some(other) => return unsupported(&format!("peft_type `{other}`")),
        }
        if config.use_dora {
            return unsupported("use_dora = true (DoRA)");
        }
        if config.fan_in_fan_out {
            return unsupported("fan_in_fan_out = true (Conv1D layers, not LLaMA's)");
        }
        if config.lora_bias {
            return unsupported("lora_bias = true");
        }
        if config.r == 0 {
            return Err(Error::bad_file(&path, "r = 0"));
        }
        Ok(config)
    }

    /// The scale of a module's update, for the rank its tensors have.
    fn scale(&self, module: &str, rank: usize) -> f64 {
        let alpha = self
            .alpha_pattern
            .iter()
            .find(|(key, _)| module == key.as_str() || module.ends_with(&format!(".{key}")))
            .map_or(self.lora_alpha, |(_, &a)| a);
        match self.use_rslora {
            true => alpha / (rank as f64).sqrt(),
            false => alpha / rank as f64,
        }
    }
}

/// The base model of an adapter: `base_model_name_or_path` as written when absolute; a relative
/// one is looked for beside the adapter and in the folders above it (trainers write the path
/// they were given, relative to where they ran). `override_base` wins when given.
pub fn base_dir(adapter: &Path, override_base: Option<&Path>) -> Result<PathBuf> {
    if let Some(base) = override_base {
        return Ok(base.to_path_buf());
    }
    let config = AdapterConfig::open(adapter)?;
    let config_path = adapter.join(ADAPTER_CONFIG_FILE);
    let Some(named) = config.base_model_name_or_path.filter(|s| !s.is_empty()) else {
        return Err(Error::bad_file(
            config_path,
            "names no base model (base_model_name_or_path is empty)",
        ));
    };
    let named = PathBuf::from(named);
    let is_model = |p: &Path| p.join(super::checkpoint::CONFIG_FILE).is_file();
    if named.is_absolute() {
        return match is_model(&named) {
            true => Ok(named),
            false => Err(Error::bad_file(
                config_path,
                format!(
                    "its base model {} is not an HF model directory here",
                    named.display()
                ),
            )),
        };
    }
    let adapter_abs = std::path::absolute(adapter).map_err(|e| Error::io(adapter, e))?;
    let mut tried = Vec::new();
    for folder in adapter_abs.ancestors().take(4) {
        let candidate = folder.join(&named);
        if is_model(&candidate) {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(Error::bad_file(
        config_path,
        format!(
            "its base model `{}` is not an HF model directory at {}; copy the base there",
            named.display(),
            tried.join(", ")
        ),
    ))
}

/// Merges the adapter in `dir` into `model` (its base, already loaded).
pub fn merge(mut model: Llama, dir: &Path, base: &Path) -> Result<(Llama, MergeReport)> {
    let config = AdapterConfig::open(dir)?;
    let weights_path = dir.join(ADAPTER_WEIGHTS_FILE);
    if !weights_path.is_file() {
        return Err(Error::bad_file(
            &weights_path,
            "missing: the adapter's weights (PEFT saves them as adapter_model.safetensors)",
        ));
    }
    let weights = WeightSet::from_buffers(vec![(
        weights_path.clone(),
        super::weights::Buffer::open(&weights_path)?,
    )])?;
    let device = model.embed_tokens.weight.device();
    let mut report = MergeReport {
        adapter: dir.to_path_buf(),
        base: base.to_path_buf(),
        ..Default::default()
    };
    let names: Vec<String> = weights.names().map(String::from).collect();
    for name in &names {
        let Some(module) = name
            .strip_prefix("base_model.model.")
            .unwrap_or(name)
            .strip_suffix(".lora_A.weight")
        else {
            continue;
        };
        let b_name = name.replace(".lora_A.weight", ".lora_B.weight");
        let a_shape = weights.shape(name).unwrap_or_default().to_vec();
        let b_shape = weights
            .shape(&b_name)
            .map(<[usize]>::to_vec)
            .ok_or_else(|| {
                Error::bad_tensor(&weights_path, &b_name, "missing (lora_A has no lora_B)")
            })?;
        let (&[rank, d_in], &[d_out, rank_b]) = (a_shape.as_slice(), b_shape.as_slice()) else {
            return Err(Error::bad_tensor(
                &weights_path,
                name,
                "LoRA factors must be matrices",
            ));
        };
        if rank != rank_b {
            return Err(Error::bad_tensor(
                &weights_path,
                &b_name,
                format!("rank {rank_b} does not match lora_A's {rank}"),
            ));
        }
        let a: Tensor<2> = Tensor::from_data(weights.read(name, &[rank, d_in])?, &device);
        let b: Tensor<2> = Tensor::from_data(weights.read(&b_name, &[d_out, rank])?, &device);
        let scale = config.scale(module, rank);
        let linear = linear_mut(&mut model, module)
            .ok_or_else(|| Error::bad_tensor(&weights_path, name, "adapts no LLaMA projection"))?;
        let [w_in, w_out] = linear.weight.val().dims();
        if (w_in, w_out) != (d_in, d_out) {
            return Err(Error::bad_tensor(
                &weights_path,
                name,
                format!(
                    "adapts a {d_out} x {d_in} projection, but the base's is {w_out} x {w_in}: another base model?"
                ),
            ));
        }
        // Burn's Linear holds (in, out): the update B A, transposed.
        let delta = a.transpose().matmul(b.transpose()).mul_scalar(scale);
        linear.weight = Param::from_tensor(linear.weight.val() + delta);
        report.merged.push(module.to_string());
    }
    for name in &names {
        let short = name.strip_prefix("base_model.model.").unwrap_or(name);
        if short.contains(".lora_A.") || short.contains(".lora_B.") {
            continue;
        }
        replace_module(&mut model, short, &weights, name, &weights_path)?;
        report
            .replaced
            .push(short.trim_end_matches(".weight").to_string());
    }
    if report.merged.is_empty() && report.replaced.is_empty() {
        return Err(Error::bad_file(
            &weights_path,
            "holds no LoRA factors and no saved modules",
        ));
    }
    Ok((model, report))
}

/// The projection `model.layers.3.self_attn.q_proj` of `model`.
fn linear_mut<'a>(model: &'a mut Llama, module: &str) -> Option<&'a mut Linear> {
    if module == "lm_head" {
        return model.lm_head.as_mut();
    }
    let rest = module.strip_prefix("model.layers.")?;
    let (index, projection) = rest.split_once('.')?;
    let layer = model.layers.get_mut(index.parse::<usize>().ok()?)?;
    Some(match projection {
        "self_attn.q_proj" => &mut layer.self_attn.q_proj,
        "self_attn.k_proj" => &mut layer.self_attn.k_proj,
        "self_attn.v_proj" => &mut layer.self_attn.v_proj,
        "self_attn.o_proj" => &mut layer.self_attn.o_proj,
        "mlp.gate_proj" => &mut layer.mlp.gate_proj,
        "mlp.up_proj" => &mut layer.mlp.up_proj,
        "mlp.down_proj" => &mut layer.mlp.down_proj,
        _ => return None,
    })
}

/// Puts a fully saved module (`model.embed_tokens.weight`, `lm_head.weight`, a projection) in
/// place.
fn replace_module(
    model: &mut Llama,
    short: &str,
    weights: &WeightSet,
    name: &str,
    path: &Path,
) -> Result<()> {
    let device = model.embed_tokens.weight.device();
    if short == "model.embed_tokens.weight" {
        let dims = model.embed_tokens.weight.val().dims();
        let data = weights.read(name, &dims)?;
        model.embed_tokens.weight = Param::from_tensor(Tensor::from_data(data, &device));
        return Ok(());
    }
    let module = short.trim_end_matches(".weight");
    let Some(linear) = linear_mut(model, module) else {
        let reason = match module {
            "lm_head" => "replaces the head, but the base ties it to the embedding",
            _ => "is a saved module this LLaMA has no place for",
        };
        return Err(Error::bad_tensor(path, name, reason));
    };
    // HF stores (out, in); Burn's Linear holds (in, out).
    let [d_in, d_out] = linear.weight.val().dims();
    let w: Tensor<2> = Tensor::from_data(weights.read(name, &[d_out, d_in])?, &device);
    linear.weight = Param::from_tensor(w.transpose());
    Ok(())
}
