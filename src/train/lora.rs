//! LoRA (Hu et al., 2021): low-rank adapters on the attention and MLP projections. The base
//! weights stay frozen; each targeted projection `W` (Burn layout, `d_in x d_out`) acts as
//! `W + (alpha / r) * A B` with `A: d_in x r` (random) and `B: r x d_out` (zeros, so training
//! starts from the base model). The embedding and head may train too. Exporting merges the
//! adapters into the weights, so what is saved is a plain HF checkpoint.

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::NamedParam;
use super::step::{Batch, backward, batch_loss};
use crate::model::Llama;

/// Which projections get adapters, their rank and scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    /// Projection names: `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`.
    pub targets: Vec<String>,
    /// Also train the token embedding and the LM head (as for a vocabulary-extended model).
    pub train_embeddings: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            targets: PROJECTIONS.iter().map(|s| s.to_string()).collect(),
            train_embeddings: false,
        }
    }
}

/// The projections a LoRA adapter can sit on.
pub const PROJECTIONS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// One adapter: `delta = scale * a b` on the projection `target` (`layers.3.self_attn.q_proj`).
#[derive(Module, Debug)]
pub struct Adapter {
    pub a: Param<Tensor<2>>,
    pub b: Param<Tensor<2>>,
    #[module(skip)]
    pub target: String,
    #[module(skip)]
    pub scale: f64,
}

/// A frozen base model with its adapters: the module a LoRA run trains.
#[derive(Module, Debug)]
pub struct LoraModel {
    pub base: Llama,
    pub adapters: Vec<Adapter>,
    #[module(skip)]
    pub train_embeddings: bool,
}

impl LoraModel {
    /// Adds fresh adapters to `base` on `device`: `a` normal with std `1 / rank`, `b` zeros.
    pub fn new(base: Llama, config: &LoraConfig) -> crate::Result<Self> {
        for t in &config.targets {
            if !PROJECTIONS.contains(&t.as_str()) {
                return Err(crate::Error::InvalidInput(format!(
                    "[optimizer.lora] unknown target `{t}`: expected some of {}",
                    PROJECTIONS.join(", ")
                )));
            }
        }
        if config.rank == 0 {
            return Err(crate::Error::InvalidInput(
                "[optimizer.lora] rank must be at least 1".into(),
            ));
        }
        let device = base.device();
        let scale = config.alpha / config.rank as f64;
        let mut adapters = Vec::new();
        for (i, layer) in base.layers.iter().enumerate() {
            let projections = [
                ("self_attn.q_proj", &layer.self_attn.q_proj),
                ("self_attn.k_proj", &layer.self_attn.k_proj),
                ("self_attn.v_proj", &layer.self_attn.v_proj),
                ("self_attn.o_proj", &layer.self_attn.o_proj),
                ("mlp.gate_proj", &layer.mlp.gate_proj),
                ("mlp.up_proj", &layer.mlp.up_proj),
                ("mlp.down_proj", &layer.mlp.down_proj),
            ];
            for (name, linear) in projections {
                let short = name.rsplit('.').next().unwrap_or(name);
                if !config.targets.iter().any(|t| t == short) {
                    continue;
                }
                let [d_in, d_out] = linear.weight.val().dims();
                let a = Tensor::<2>::random(
                    [d_in, config.rank],
                    burn::tensor::Distribution::Normal(0.0, 1.0 / config.rank as f64),
                    &device,
                );
                adapters.push(Adapter {
                    a: Param::from_tensor(a),
                    b: Param::from_tensor(Tensor::zeros([config.rank, d_out], &device)),
                    target: format!("layers.{i}.{name}"),
                    scale,
                });
            }
        }
        Ok(Self {
            base,
            adapters,
            train_embeddings: config.train_embeddings,
        })
    }

    /// The model the adapters make: targeted weights `W + scale * a b`, with gradients flowing
    /// to the adapters (and to the embedding and head when they train), never to `W`.
    pub fn effective(&self) -> Llama {
        let mut mapper = Apply {
            path: Vec::new(),
            adapters: &self.adapters,
            train_embeddings: self.train_embeddings,
        };
        self.base.clone().map(&mut mapper)
    }

    /// The merged model for export (no autodiff).
    pub fn merged(&self) -> Llama {
        self.effective().valid()
    }

    /// Whether a parameter of this module trains.
    pub fn trains(&self, p: &NamedParam) -> bool {
        p.name.starts_with("adapters.") || (self.train_embeddings && p.is_embedding)
    }
}

struct Apply<'a> {
    path: Vec<String>,
    adapters: &'a [Adapter],
    train_embeddings: bool,
}

impl ModuleMapper for Apply<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let embedding = path == "embed_tokens.weight" || path.starts_with("lm_head.");
        if embedding && self.train_embeddings {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let frozen = tensor.detach();
        let target = path.strip_suffix(".weight").unwrap_or("");
        let value = match self.adapters.iter().find(|a| a.target == target) {
            Some(adapter) if D == 2 => {
                let delta = adapter
                    .a
                    .val()
                    .matmul(adapter.b.val())
                    .mul_scalar(adapter.scale);
                let dims = frozen.dims();
                frozen + delta.reshape(dims)
            }
            _ => frozen,
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

/// Forward and backward through the effective model: the loss and the gradients of the
/// trainable parameters of `lora` (found by id in the shared graph).
pub fn lora_loss_and_grads(
    lora: &LoraModel,
    batch: &Batch,
    trainable: &[NamedParam],
    scale: f64,
) -> (f64, GradientsParams) {
    backward(batch_loss(&lora.effective(), batch), scale, trainable, lora)
}

/// The adapters as named tensors (`NAME.a`, `NAME.b`), for checkpoints.
pub fn adapter_tensors(lora: &LoraModel) -> Vec<(String, Tensor<2>)> {
    lora.adapters
        .iter()
        .flat_map(|a| {
            [
                (format!("{}.lora_a", a.target), a.a.val()),
                (format!("{}.lora_b", a.target), a.b.val()),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LlamaConfig;
    use crate::model::generate::ids_tensor;
    use crate::train::params::module_params;

    #[test]
    fn fresh_adapters_leave_the_model_unchanged_and_merge_into_it() {
        let device = Device::flex();
        let config = LlamaConfig::new(64, 16, 24, 2, 2, 1);
        let base = Llama::init(&config, 0.1, &device);
        let ids = ids_tensor(&[vec![1, 5, 9, 3]], &device);
        let before = base
            .forward(ids.clone(), Default::default())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let mut lora = LoraModel::new(base, &LoraConfig::default()).unwrap();
        assert_eq!(lora.adapters.len(), 2 * 7);
        let same = lora
            .merged()
            .forward(ids.clone(), Default::default())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(before, same, "b = 0: the adapters add nothing yet");
        // A non-zero b changes exactly the targeted weight by scale * a b.
        let adapter = &mut lora.adapters[0];
        adapter.b = Param::from_tensor(Tensor::ones(adapter.b.val().dims(), &device));
        let delta = adapter
            .a
            .val()
            .matmul(adapter.b.val())
            .mul_scalar(adapter.scale);
        let merged = lora.merged();
        let w0 = lora.base.layers[0].self_attn.q_proj.weight.val();
        let w1 = merged.layers[0].self_attn.q_proj.weight.val();
        let diff = (w1 - w0 - delta).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-6, "{diff}");
        // Only the adapters train by default.
        let trainable: Vec<_> = module_params(&lora)
            .into_iter()
            .filter(|p| lora.trains(p))
            .collect();
        assert_eq!(trainable.len(), 2 * 7 * 2);
        assert!(trainable.iter().all(|p| p.name.starts_with("adapters.")));
    }
}
