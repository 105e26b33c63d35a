//! HF checkpoints in and out: `config.json` plus `model.safetensors` (or shards with
//! `model.safetensors.index.json`), as `LlamaForCausalLM.save_pretrained` writes them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::prelude::*;
use serde::Serialize;

use super::config::{HfConfig, LlamaConfig, StorageDType};
use super::llama::{Attention, DecoderLayer, Llama, Mlp};
use super::weights::{WeightSet, host_values};
use crate::error::{Error, Result};

/// File names of the HF layout.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// A checkpoint's configuration and weights, before they are put on a device.
pub struct Checkpoint {
    /// Directory (or label) the checkpoint came from.
    pub source: PathBuf,
    pub hf_config: HfConfig,
    pub config: LlamaConfig,
    pub weights: WeightSet,
}

/// What loading found besides the model.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Tensors in the files that the model does not use.
    pub unused: Vec<String>,
    /// Whether the head was tied because `lm_head.weight` is absent.
    pub tied_head: bool,
    /// The LoRA adapter merged in, when the directory held one.
    #[cfg(feature = "native")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<super::adapter::MergeReport>,
}

impl Checkpoint {
    /// Opens an HF model directory (native): reads `config.json` and maps the safetensors files.
    #[cfg(feature = "native")]
    pub fn open(dir: &Path) -> Result<Self> {
        use super::weights::Buffer;
        if !dir.is_dir() {
            return Err(Error::bad_file(
                dir,
                "not a directory (expected an HF model directory)",
            ));
        }
        let config_path = dir.join(CONFIG_FILE);
        let config_bytes = std::fs::read(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let files = weight_files(dir)?;
        let buffers = files
            .into_iter()
            .map(|p| Buffer::open(&p).map(|b| (p, b)))
            .collect::<Result<Vec<_>>>()?;
        Self::from_parts(
            dir,
            &config_path,
            &config_bytes,
            WeightSet::from_buffers(buffers)?,
        )
    }

    /// A checkpoint from bytes already in memory (the web, file dialogs that give bytes).
    pub fn from_bytes(
        label: &Path,
        config_json: &[u8],
        safetensors: Vec<(PathBuf, Vec<u8>)>,
    ) -> Result<Self> {
        use super::weights::Buffer;
        let buffers = safetensors
            .into_iter()
            .map(|(p, b)| (p, Buffer::Owned(b)))
            .collect();
        Self::from_parts(
            label,
            &label.join(CONFIG_FILE),
            config_json,
            WeightSet::from_buffers(buffers)?,
        )
    }

    /// An HF model given as files in memory (a folder's files handed to a web page):
    /// `config.json`, the `.safetensors` weights (one file or shards) and `tokenizer.json`, with
    /// `tokenizer_config.json` when given; names may carry folders (only the last part counts),
    /// other files are left alone. `label` names the model in errors.
    pub fn from_files(
        label: &Path,
        files: &[(String, Vec<u8>)],
    ) -> Result<(Self, super::TextTokenizer)> {
        let base = |name: &str| name.rsplit(['/', '\\']).next().unwrap_or(name).to_string();
        let find = |wanted: &str| {
            files
                .iter()
                .find(|(n, _)| base(n) == wanted)
                .map(|(_, b)| b)
        };
        let missing = |what: &str| {
            Error::InvalidInput(format!(
                "{}: no {what} among the files given ({})",
                label.display(),
                files
                    .iter()
                    .map(|(n, _)| base(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        let config = find(CONFIG_FILE).ok_or_else(|| missing(CONFIG_FILE))?;
        let weights: Vec<(PathBuf, Vec<u8>)> = files
            .iter()
            .filter(|(n, _)| base(n).ends_with(".safetensors"))
            .map(|(n, b)| (label.join(base(n)), b.clone()))
            .collect();
        if weights.is_empty() {
            return Err(missing("`.safetensors` weights"));
        }
        let tokenizer = find(TOKENIZER_FILE).ok_or_else(|| missing(TOKENIZER_FILE))?;
        let checkpoint = Self::from_bytes(label, config, weights)?;
        let tokenizer = super::TextTokenizer::from_bytes(
            tokenizer,
            &label.join(TOKENIZER_FILE),
            find(TOKENIZER_CONFIG_FILE).map(Vec::as_slice),
            checkpoint.config.bos_token_id,
            &checkpoint.config.eos_token_ids,
        )?;
        Ok((checkpoint, tokenizer))
    }

    fn from_parts(
        source: &Path,
        config_path: &Path,
        config_json: &[u8],
        weights: WeightSet,
    ) -> Result<Self> {
        let hf_config = HfConfig::from_json(config_json, config_path)?;
        let mut config = LlamaConfig::from_hf(&hf_config, config_path)?;
        if !weights.contains("lm_head.weight") {
            config.tie_word_embeddings = true;
        }
        Ok(Self {
            source: source.to_path_buf(),
            hf_config,
            config,
            weights,
        })
    }

    /// Builds the model on `device`, checking every tensor's name and shape.
    pub fn load(&self, device: &Device) -> Result<(Llama, LoadReport)> {
        let c = &self.config;
        let mut r = TensorReader {
            weights: &self.weights,
            device,
            used: BTreeSet::new(),
            eps: c.rms_norm_eps,
        };
        let (h, q, kv, ff) = (
            c.hidden_size,
            c.num_heads * c.head_dim,
            c.num_kv_heads * c.head_dim,
            c.intermediate_size,
        );
        let (ab, mb) = (c.attention_bias, c.mlp_bias);
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("model.layers.{i}");
            layers.push(DecoderLayer {
                self_attn: Attention {
                    q_proj: r.linear(&format!("{p}.self_attn.q_proj"), h, q, ab)?,
                    k_proj: r.linear(&format!("{p}.self_attn.k_proj"), h, kv, ab)?,
                    v_proj: r.linear(&format!("{p}.self_attn.v_proj"), h, kv, ab)?,
                    o_proj: r.linear(&format!("{p}.self_attn.o_proj"), q, h, ab)?,
                    num_heads: c.num_heads,
                    num_kv_heads: c.num_kv_heads,
                    head_dim: c.head_dim,
                },
                mlp: Mlp {
                    gate_proj: r.linear(&format!("{p}.mlp.gate_proj"), h, ff, mb)?,
                    up_proj: r.linear(&format!("{p}.mlp.up_proj"), h, ff, mb)?,
                    down_proj: r.linear(&format!("{p}.mlp.down_proj"), ff, h, mb)?,
                },
                input_layernorm: r.norm(&format!("{p}.input_layernorm.weight"), h)?,
                post_attention_layernorm: r
                    .norm(&format!("{p}.post_attention_layernorm.weight"), h)?,
            });
        }
        let embed_tokens = Embedding {
            weight: Param::from_tensor(r.matrix("model.embed_tokens.weight", [c.vocab_size, h])?),
        };
        let norm = r.norm("model.norm.weight", h)?;
        let lm_head = match c.tie_word_embeddings {
            true => None,
            false => Some(r.linear("lm_head", h, c.vocab_size, false)?),
        };
        let unused = self
            .weights
            .names()
            .filter(|n| !r.used.contains(*n) && !n.ends_with("rotary_emb.inv_freq"))
            .map(String::from)
            .collect();
        let report = LoadReport {
            unused,
            tied_head: !self.weights.contains("lm_head.weight"),
            #[cfg(feature = "native")]
            adapter: None,
        };
        let model = Llama::from_parts(c.clone(), embed_tokens, layers, norm, lm_head);
        Ok((model, report))
    }
}

/// Reads tensors by HF name onto a device, remembering which were used.
struct TensorReader<'a> {
    weights: &'a WeightSet,
    device: &'a Device,
    used: BTreeSet<String>,
    eps: f64,
}

impl TensorReader<'_> {
    fn matrix(&mut self, name: &str, shape: [usize; 2]) -> Result<Tensor<2>> {
        let data = self.weights.read(name, &shape)?;
        self.used.insert(name.to_string());
        Ok(Tensor::from_data(data, self.device))
    }

    fn vector(&mut self, name: &str, len: usize) -> Result<Tensor<1>> {
        let data = self.weights.read(name, &[len])?;
        self.used.insert(name.to_string());
        Ok(Tensor::from_data(data, self.device))
    }

    /// HF stores `(out, in)`; Burn's `Linear` holds `(in, out)`.
    fn linear(&mut self, prefix: &str, d_in: usize, d_out: usize, bias: bool) -> Result<Linear> {
        let weight = self.matrix(&format!("{prefix}.weight"), [d_out, d_in])?;
        let bias = match bias {
            true => Some(Param::from_tensor(
                self.vector(&format!("{prefix}.bias"), d_out)?,
            )),
            false => None,
        };
        Ok(Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias,
        })
    }

    fn norm(&mut self, name: &str, len: usize) -> Result<RmsNorm> {
        Ok(RmsNorm {
            gamma: Param::from_tensor(self.vector(name, len)?),
            epsilon: self.eps,
        })
    }
}

/// The safetensors files of a directory: the shards of the index, or `model.safetensors`.
#[cfg(feature = "native")]
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index_path = dir.join(INDEX_FILE);
    if index_path.is_file() {
        let bytes = std::fs::read(&index_path).map_err(|e| Error::io(&index_path, e))?;
        let index: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_file(&index_path, format!("not valid JSON: {e}")))?;
        let map = index
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::bad_file(&index_path, "has no `weight_map` object"))?;
        let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        if shards.is_empty() {
            return Err(Error::bad_file(&index_path, "`weight_map` names no files"));
        }
        return Ok(shards.into_iter().map(|s| dir.join(s)).collect());
    }
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    if dir.join("pytorch_model.bin").is_file() {
        return Err(Error::bad_file(
            dir,
            "holds only pytorch_model.bin; save the model with safetensors (save_pretrained(..., safe_serialization=True))",
        ));
    }
    Err(Error::bad_file(
        dir.join(WEIGHTS_FILE),
        "missing (no model.safetensors and no model.safetensors.index.json)",
    ))
}

/// How to write a checkpoint.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// Element type on disk.
    pub dtype: StorageDType,
    /// Split into shards of at most this many bytes; `None` writes one file.
    pub max_shard_bytes: Option<usize>,
}

impl Default for SaveOptions {
    fn default() -> Self {
        Self {
            dtype: StorageDType::F32,
            max_shard_bytes: None,
        }
    }
}

/// One tensor in HF layout: its name, shape and f32 values (row-major).
pub type HfTensor = (String, Vec<usize>, Vec<f32>);

/// Every weight of `model` under its HF name, in HF layout, as f32 host data, sorted by name.
pub fn hf_tensors(model: &Llama) -> Result<Vec<HfTensor>> {
    hf_layout(model)
        .into_iter()
        .map(|(name, shape, t)| {
            let values = host_values(t, &name)?;
            Ok((name, shape, values))
        })
        .collect()
}

/// [`hf_tensors`], each read back without blocking (the only way a browser's GPU allows).
pub async fn hf_tensors_async(model: &Llama) -> Result<Vec<HfTensor>> {
    let mut out = Vec::new();
    for (name, shape, t) in hf_layout(model) {
        let failed = |e: &dyn std::fmt::Debug| {
            Error::Device(format!("reading {name} back from the device: {e:?}"))
        };
        let data = t.into_data_async().await.map_err(|e| failed(&e))?;
        let values = data
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| failed(&e))?;
        out.push((name, shape, values));
    }
    Ok(out)
}

/// Every weight of `model` under its HF name and shape, flattened in HF layout (still on the
/// device), sorted by name.
fn hf_layout(model: &Llama) -> Vec<(String, Vec<usize>, Tensor<1>)> {
    fn flat<const D: usize>(name: String, t: Tensor<D>) -> (String, Vec<usize>, Tensor<1>) {
        let shape = t.dims().to_vec();
        (name, shape, t.flatten(0, D - 1))
    }
    let mut out = Vec::new();
    let linear = |out: &mut Vec<_>, name: String, l: &Linear| {
        if let Some(b) = &l.bias {
            out.push(flat(format!("{name}.bias"), b.val()));
        }
        out.push(flat(format!("{name}.weight"), l.weight.val().transpose()));
    };
    out.push(flat(
        "model.embed_tokens.weight".into(),
        model.embed_tokens.weight.val(),
    ));
    for (i, layer) in model.layers.iter().enumerate() {
        let p = format!("model.layers.{i}");
        let a = &layer.self_attn;
        linear(&mut out, format!("{p}.self_attn.q_proj"), &a.q_proj);
        linear(&mut out, format!("{p}.self_attn.k_proj"), &a.k_proj);
        linear(&mut out, format!("{p}.self_attn.v_proj"), &a.v_proj);
        linear(&mut out, format!("{p}.self_attn.o_proj"), &a.o_proj);
        linear(&mut out, format!("{p}.mlp.gate_proj"), &layer.mlp.gate_proj);
        linear(&mut out, format!("{p}.mlp.up_proj"), &layer.mlp.up_proj);
        linear(&mut out, format!("{p}.mlp.down_proj"), &layer.mlp.down_proj);
        out.push(flat(
            format!("{p}.input_layernorm.weight"),
            layer.input_layernorm.gamma.val(),
        ));
        out.push(flat(
            format!("{p}.post_attention_layernorm.weight"),
            layer.post_attention_layernorm.gamma.val(),
        ));
    }
    out.push(flat("model.norm.weight".into(), model.norm.gamma.val()));
    if let Some(head) = &model.lm_head {
        linear(&mut out, "lm_head".into(), head);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The files of an HF checkpoint, as (file name, bytes): config, weights (one file or shards with
/// their index) and generation config.
pub fn checkpoint_files(
    model: &Llama,
    base: Option<&HfConfig>,
    options: &SaveOptions,
) -> Result<Vec<(String, Vec<u8>)>> {
    files_of(hf_tensors(model)?, &model.config, base, options)
}

/// [`checkpoint_files`], the weights read back without blocking (as a browser must).
pub async fn checkpoint_files_async(
    model: &Llama,
    base: Option<&HfConfig>,
    options: &SaveOptions,
) -> Result<Vec<(String, Vec<u8>)>> {
    files_of(hf_tensors_async(model).await?, &model.config, base, options)
}

fn files_of(
    tensors: Vec<HfTensor>,
    config: &LlamaConfig,
    base: Option<&HfConfig>,
    options: &SaveOptions,
) -> Result<Vec<(String, Vec<u8>)>> {
    let hf = config.to_hf(base, options.dtype);
    let mut files = vec![(
        CONFIG_FILE.to_string(),
        serde_json::to_vec_pretty(&hf).map_err(|e| Error::Serialize(e.to_string()))?,
    )];
    let generation = serde_json::json!({
        "bos_token_id": config.bos_token_id,
        "eos_token_id": match config.eos_token_ids.as_slice() {
            [one] => serde_json::json!(one),
            many => serde_json::json!(many),
        },
    });
    files.push((
        GENERATION_CONFIG_FILE.to_string(),
        serde_json::to_vec_pretty(&generation).map_err(|e| Error::Serialize(e.to_string()))?,
    ));
    // Group tensors into shards by size.
    let mut shards: Vec<Vec<HfTensor>> = vec![Vec::new()];
    let mut shard_bytes = 0usize;
    let total: usize = tensors
        .iter()
        .map(|t| t.2.len() * options.dtype.size())
        .sum();
    for t in tensors {
        let bytes = t.2.len() * options.dtype.size();
        if let Some(max) = options.max_shard_bytes
            && shard_bytes > 0
            && shard_bytes + bytes > max
        {
            shards.push(Vec::new());
            shard_bytes = 0;
        }
        shard_bytes += bytes;
        shards.last_mut().expect("at least one shard").push(t);
    }
    if shards.len() == 1 {
        files.push((
            WEIGHTS_FILE.to_string(),
            super::weights::serialize(&shards[0], options.dtype)?,
        ));
        return Ok(files);
    }
    let n = shards.len();
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.iter().enumerate() {
        let name = format!("model-{:05}-of-{:05}.safetensors", i + 1, n);
        for (tensor, _, _) in shard {
            weight_map.insert(tensor.clone(), serde_json::Value::from(name.clone()));
        }
        files.push((name, super::weights::serialize(shard, options.dtype)?));
    }
    let index = serde_json::json!({
        "metadata": { "total_size": total },
        "weight_map": weight_map,
    });
    files.push((
        INDEX_FILE.to_string(),
        serde_json::to_vec_pretty(&index).map_err(|e| Error::Serialize(e.to_string()))?,
    ));
    Ok(files)
}

/// Writes `model` as an HF checkpoint into `dir` (created if needed), each file atomically.
/// Copies `tokenizer.json` and `tokenizer_config.json` from `tokenizer_from` when given.
#[cfg(feature = "native")]
pub fn save(
    model: &Llama,
    base: Option<&HfConfig>,
    dir: &Path,
    options: &SaveOptions,
    tokenizer_from: Option<&Path>,
) -> Result<()> {
    write_folder(dir, &checkpoint_files(model, base, options)?)?;
    if let Some(src) = tokenizer_from {
        for name in [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE] {
            let from = src.join(name);
            if from.is_file() && from != dir.join(name) {
                let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
                crate::fsx::write_atomic(&dir.join(name), &bytes)?;
            }
        }
    }
    Ok(())
}

/// Writes the files of a checkpoint (as [`checkpoint_files`] makes them, by name) into `dir`
/// (created if needed), each atomically, after removing weights of another layout that a
/// previous save may have left there (they would confuse loaders).
#[cfg(feature = "native")]
pub fn write_folder(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for stale in [WEIGHTS_FILE, INDEX_FILE] {
        let p = dir.join(stale);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    for (name, bytes) in files {
        crate::fsx::write_atomic(&dir.join(name), bytes)?;
    }
    Ok(())
}
