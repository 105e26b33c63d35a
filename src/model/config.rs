//! Model configuration: HF `config.json` as it is on disk, and the resolved configuration the model uses.
//!
//! `HfConfig` mirrors the file (both the transformers 4.x form with a top-level `rope_theta` and
//! `torch_dtype`, and the 5.x form with `rope_parameters` and `dtype`), keeping fields it does not
//! know so that saving writes them back. `LlamaConfig` has every value resolved and checked.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The element type of weights stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageDType {
    F32,
    F16,
    Bf16,
}

impl StorageDType {
    /// The name transformers uses in `config.json` (`float32`, `float16`, `bfloat16`).
    pub fn hf_name(self) -> &'static str {
        match self {
            StorageDType::F32 => "float32",
            StorageDType::F16 => "float16",
            StorageDType::Bf16 => "bfloat16",
        }
    }

    /// Reads `float32`/`f32`/`fp32` and the like.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "float32" | "f32" | "fp32" | "float" => Some(StorageDType::F32),
            "float16" | "f16" | "fp16" | "half" => Some(StorageDType::F16),
            "bfloat16" | "bf16" => Some(StorageDType::Bf16),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StorageDType::F32 => 4,
            StorageDType::F16 | StorageDType::Bf16 => 2,
        }
    }
}

impl std::fmt::Display for StorageDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.hf_name())
    }
}

/// `config.json` of an HF LLaMA checkpoint, as written by transformers 4.x or 5.x.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HfConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_hidden_layers: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_attention_heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_embeddings: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rms_norm_eps: Option<f64>,
    /// transformers 4.x: the rotary base at the top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// transformers 4.x: rotary scaling (`null` or an object with `rope_type`/`type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Value>,
    /// transformers 5.x: `{"rope_type": "default", "rope_theta": 10000.0, ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<Value>,
    /// transformers 4.x name of the stored dtype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    /// transformers 5.x name of the stored dtype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// Everything else in the file, written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// How rotary frequencies are scaled for long contexts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Position interpolation: every frequency divided by `factor`.
    Linear { factor: f64 },
    /// LLaMA 3.1's by-parts scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

/// The resolved configuration of a LLaMA model: every size known and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

impl LlamaConfig {
    /// A configuration with LLaMA's defaults for everything but the sizes.
    pub fn new(
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_layers: usize,
        num_heads: usize,
        num_kv_heads: usize,
    ) -> Self {
        Self {
            vocab_size,
            hidden_size,
            intermediate_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim: hidden_size / num_heads.max(1),
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_scaling: RopeScaling::None,
            tie_word_embeddings: false,
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
        }
    }

    /// The presets shared with the PyTorch reference benchmark, by name.
    pub fn preset(name: &str) -> Option<Self> {
        let (h, ff, layers, heads, kv) = match name {
            "nano" => (64, 176, 2, 4, 2),
            "tiny" => (256, 688, 4, 8, 8),
            "small" => (512, 1376, 8, 8, 8),
            "base" => (768, 2048, 12, 12, 12),
            _ => return None,
        };
        Some(Self::new(32_000, h, ff, layers, heads, kv))
    }

    /// Names accepted by [`LlamaConfig::preset`].
    pub const PRESETS: [&'static str; 4] = ["nano", "tiny", "small", "base"];

    /// Number of parameters, counting a tied head once.
    pub fn num_params(&self) -> usize {
        let (h, q, kv) = (
            self.hidden_size,
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
        );
        let attn_bias = if self.attention_bias {
            q + 2 * kv + h
        } else {
            0
        };
        let mlp_bias = if self.mlp_bias {
            2 * self.intermediate_size + h
        } else {
            0
        };
        let layer = h * q + 2 * h * kv + q * h + 3 * h * self.intermediate_size + 2 * h;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * h
        };
        self.vocab_size * h + self.num_layers * (layer + attn_bias + mlp_bias) + h + head
    }

    /// Bytes of the key/value cache for `tokens` positions of one sequence, in f32.
    pub fn kv_cache_bytes(&self, tokens: usize) -> usize {
        2 * self.num_layers * self.num_kv_heads * self.head_dim * tokens * 4
    }

    /// Checks that the sizes describe a working model.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("`{name}` must be positive"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(format!(
                "num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim ({}) must be even for rotary embeddings",
                self.head_dim
            ));
        }
        if self.rms_norm_eps.is_nan() || self.rms_norm_eps <= 0.0 {
            return Err("rms_norm_eps must be positive".into());
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return Err("rope_theta must be positive".into());
        }
        Ok(())
    }

    /// Resolves an `HfConfig`; `path` names the file in errors.
    pub fn from_hf(hf: &HfConfig, path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::bad_config(path, reason);
        match hf.model_type.as_deref() {
            Some("llama") => {}
            Some(other) => {
                return Err(bad(format!(
                    "model_type `{other}` is not supported (supported: `llama`)"
                )));
            }
            None => return Err(bad("`model_type` is missing".into())),
        }
        if let Some(act) = &hf.hidden_act
            && act != "silu"
            && act != "swish"
        {
            return Err(bad(format!(
                "hidden_act `{act}` is not supported (LLaMA uses `silu`)"
            )));
        }
        let need =
            |name: &str, v: Option<usize>| v.ok_or_else(|| bad(format!("`{name}` is missing")));
        let hidden_size = need("hidden_size", hf.hidden_size)?;
        let num_heads = need("num_attention_heads", hf.num_attention_heads)?;
        if num_heads == 0 {
            return Err(bad("`num_attention_heads` must be positive".into()));
        }
        let head_dim = match hf.head_dim {
            Some(d) => d,
            None => {
                if hidden_size % num_heads != 0 {
                    return Err(bad(format!(
                        "hidden_size ({hidden_size}) is not divisible by num_attention_heads ({num_heads})"
                    )));
                }
                hidden_size / num_heads
            }
        };
        let (rope_theta, rope_scaling) = resolve_rope(hf).map_err(bad)?;
        let config = LlamaConfig {
            vocab_size: need("vocab_size", hf.vocab_size)?,
            hidden_size,
            intermediate_size: need("intermediate_size", hf.intermediate_size)?,
            num_layers: need("num_hidden_layers", hf.num_hidden_layers)?,
            num_heads,
            num_kv_heads: hf.num_key_value_heads.unwrap_or(num_heads),
            head_dim,
            max_position_embeddings: hf.max_position_embeddings.unwrap_or(2048),
            rms_norm_eps: hf.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            tie_word_embeddings: hf.tie_word_embeddings.unwrap_or(false),
            attention_bias: hf.attention_bias.unwrap_or(false),
            mlp_bias: hf.mlp_bias.unwrap_or(false),
            bos_token_id: token_ids(&hf.bos_token_id).first().copied(),
            eos_token_ids: token_ids(&hf.eos_token_id),
        };
        config.validate().map_err(bad)?;
        Ok(config)
    }

    /// The `config.json` transformers reads, in the 4.x form (which 5.x also loads), keeping
    /// whatever `base` held that this configuration does not describe.
    pub fn to_hf(&self, base: Option<&HfConfig>, dtype: StorageDType) -> HfConfig {
        let mut hf = base.cloned().unwrap_or_default();
        let five = hf.rope_parameters.is_some() || hf.dtype.is_some();
        hf.architectures = Some(vec!["LlamaForCausalLM".into()]);
        hf.model_type = Some("llama".into());
        hf.vocab_size = Some(self.vocab_size);
        hf.hidden_size = Some(self.hidden_size);
        hf.intermediate_size = Some(self.intermediate_size);
        hf.num_hidden_layers = Some(self.num_layers);
        hf.num_attention_heads = Some(self.num_heads);
        hf.num_key_value_heads = Some(self.num_kv_heads);
        hf.head_dim = Some(self.head_dim);
        hf.hidden_act = Some("silu".into());
        hf.max_position_embeddings = Some(self.max_position_embeddings);
        hf.rms_norm_eps = Some(self.rms_norm_eps);
        hf.tie_word_embeddings = Some(self.tie_word_embeddings);
        hf.attention_bias = Some(self.attention_bias);
        hf.mlp_bias = Some(self.mlp_bias);
        hf.bos_token_id = self.bos_token_id.map(Value::from);
        hf.eos_token_id = match self.eos_token_ids.as_slice() {
            [] => None,
            [one] => Some(Value::from(*one)),
            many => Some(Value::from(many.to_vec())),
        };
        let mut scaling = match self.rope_scaling {
            RopeScaling::None => None,
            RopeScaling::Linear { factor } => Some(serde_json::json!({
                "rope_type": "linear", "factor": factor
            })),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => Some(serde_json::json!({
                "rope_type": "llama3", "factor": factor, "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_max_position_embeddings
            })),
        };
        if five {
            let mut params = scaling
                .take()
                .unwrap_or_else(|| serde_json::json!({"rope_type": "default"}));
            params["rope_theta"] = Value::from(self.rope_theta);
            hf.rope_parameters = Some(params);
            hf.rope_theta = None;
            hf.rope_scaling = None;
            hf.dtype = Some(dtype.hf_name().into());
            hf.torch_dtype = None;
        } else {
            hf.rope_theta = Some(self.rope_theta);
            hf.rope_scaling = Some(scaling.unwrap_or(Value::Null));
            hf.torch_dtype = Some(dtype.hf_name().into());
        }
        hf
    }
}

impl HfConfig {
    /// Parses `config.json` bytes; `path` names the file in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::bad_file(path, format!("not a valid config.json: {e}")))
    }

    /// The dtype the file says the weights are stored in, if it says.
    pub fn storage_dtype(&self) -> Option<StorageDType> {
        self.dtype
            .as_deref()
            .or(self.torch_dtype.as_deref())
            .and_then(StorageDType::parse)
    }
}

/// Token ids given as a number or a list of numbers.
fn token_ids(value: &Option<Value>) -> Vec<u32> {
    match value {
        Some(Value::Number(n)) => n.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_u64().map(|v| v as u32))
            .collect(),
        _ => Vec::new(),
    }
}

/// Reads the rotary base and scaling from either config form.
fn resolve_rope(hf: &HfConfig) -> std::result::Result<(f64, RopeScaling), String> {
    let params = match (&hf.rope_parameters, &hf.rope_scaling) {
        (Some(p), _) if !p.is_null() => Some(p),
        (_, Some(s)) if !s.is_null() => Some(s),
        _ => None,
    };
    let theta = params
        .and_then(|p| p.get("rope_theta"))
        .and_then(Value::as_f64)
        .or(hf.rope_theta)
        .unwrap_or(10_000.0);
    let Some(p) = params else {
        return Ok((theta, RopeScaling::None));
    };
    let kind = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let number = |key: &str| {
        p.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("rope scaling `{kind}` needs `{key}`"))
    };
    let scaling = match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: number("factor")?,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            original_max_position_embeddings: number("original_max_position_embeddings")? as usize,
        },
        other => {
            return Err(format!(
                "rope type `{other}` is not supported (supported: default, linear, llama3)"
            ));
        }
    };
    Ok((theta, scaling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LlamaConfig> {
        let hf = HfConfig::from_json(json.as_bytes(), Path::new("config.json"))?;
        LlamaConfig::from_hf(&hf, Path::new("config.json"))
    }

    const BASE: &str = r#""model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":128,
        "num_hidden_layers":2,"num_attention_heads":4"#;

    #[test]
    fn reads_both_config_forms() {
        let four = parse(&format!(
            "{{{BASE},\"rope_theta\":500000.0,\"torch_dtype\":\"bfloat16\",\"eos_token_id\":[2,7]}}"
        ))
        .unwrap();
        assert_eq!(four.rope_theta, 500000.0);
        assert_eq!(four.num_kv_heads, 4);
        assert_eq!(four.head_dim, 16);
        assert_eq!(four.eos_token_ids, vec![2, 7]);
        let five = parse(&format!(
            "{{{BASE},\"rope_parameters\":{{\"rope_type\":\"default\",\"rope_theta\":20000.0}},\"dtype\":\"float16\",\"head_dim\":32}}"
        ))
        .unwrap();
        assert_eq!(five.rope_theta, 20000.0);
        assert_eq!(five.head_dim, 32);
    }

    #[test]
    fn round_trips_through_hf_form() {
        let config = parse(&format!(
            "{{{BASE},\"num_key_value_heads\":1,\"custom\":3}}"
        ))
        .unwrap();
        let hf = HfConfig::from_json(
            format!("{{{BASE},\"custom\":3}}").as_bytes(),
            Path::new("c"),
        )
        .unwrap();
        let written = config.to_hf(Some(&hf), StorageDType::Bf16);
        assert_eq!(written.extra.get("custom"), Some(&Value::from(3)));
        assert_eq!(written.torch_dtype.as_deref(), Some("bfloat16"));
        assert_eq!(
            LlamaConfig::from_hf(&written, Path::new("c")).unwrap(),
            config
        );
    }

    #[test]
    fn rejects_inconsistent_sizes() {
        let err = parse(&format!("{{{BASE},\"num_key_value_heads\":3}}")).unwrap_err();
        assert!(err.to_string().contains("not a multiple"), "{err}");
        let err = parse(r#"{"model_type":"llama","vocab_size":10,"hidden_size":10,"intermediate_size":4,"num_hidden_layers":1,"num_attention_heads":3}"#).unwrap_err();
        assert!(err.to_string().contains("not divisible"), "{err}");
        let err = parse(r#"{"model_type":"gpt2"}"#).unwrap_err();
        assert!(err.to_string().contains("`gpt2` is not supported"), "{err}");
    }

    #[test]
    fn parameter_count_of_the_fixture_shape() {
        // tiny-llama-a: hidden 64, ffn 176, 2 layers, 4 heads, 2 kv heads, vocab 32000, untied.
        let c = LlamaConfig::new(32000, 64, 176, 2, 4, 2);
        let per_layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 176 + 2 * 64;
        assert_eq!(c.num_params(), 2 * 32000 * 64 + 2 * per_layer + 64);
    }
}
