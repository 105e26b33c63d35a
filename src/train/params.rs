//! The trainable parameters of a [`Llama`] under their HF names, and which of them train.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::Llama;

/// One parameter: its HF name (`model.layers.0.self_attn.q_proj.weight`), id and element count.
#[derive(Debug, Clone)]
pub struct NamedParam {
    pub name: String,
    pub id: ParamId,
    pub numel: usize,
    /// Number of dimensions (1 for norms and biases, 2 for matrices).
    pub rank: usize,
    /// Norm gains and biases: PyTorch recipes commonly exempt these from weight decay.
    pub is_norm_or_bias: bool,
    /// The token embedding or the LM head.
    pub is_embedding: bool,
}

/// Which parameters a stage trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trainable {
    /// Every parameter.
    #[default]
    All,
    /// Only the token embedding and the LM head: the first stage for a vocabulary-extended model.
    EmbeddingsAndHead,
}

impl Trainable {
    pub fn includes(self, p: &NamedParam) -> bool {
        match self {
            Trainable::All => true,
            Trainable::EmbeddingsAndHead => p.is_embedding,
        }
    }
}

/// Top-level fields of a Llama: a path starting with one of these is a Llama's parameter.
const LLAMA_FIELDS: [&str; 4] = ["embed_tokens", "layers", "norm", "lm_head"];

/// HF name of a parameter from its Burn module path (`layers.0.self_attn.q_proj.weight`), with
/// any outer fields kept in front (`base.model.layers.0...`).
fn hf_name(path: &[String]) -> String {
    match path.iter().position(|p| LLAMA_FIELDS.contains(&p.as_str())) {
        Some(0) => llama_name(path),
        Some(i) => format!("{}.{}", path[..i].join("."), llama_name(&path[i..])),
        None => path.join("."),
    }
}

fn llama_name(path: &[String]) -> String {
    let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(last) = parts.last_mut()
        && *last == "gamma"
    {
        *last = "weight";
    }
    let joined = parts.join(".");
    if joined.starts_with("lm_head.") {
        joined
    } else {
        format!("model.{joined}")
    }
}

#[derive(Default)]
struct Collect {
    path: Vec<String>,
    found: Vec<NamedParam>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = &self.path;
        let (id, t) = (param.id, param.val());
        let name = hf_name(path);
        let leaf = path.last().map(String::as_str).unwrap_or("");
        self.found.push(NamedParam {
            is_norm_or_bias: leaf == "gamma" || leaf == "bias",
            is_embedding: name.ends_with("model.embed_tokens.weight") || name.contains("lm_head."),
            name,
            id,
            numel: t.shape().num_elements(),
            rank: D,
        });
    }
}

/// Every float parameter of `model`, in module order, under its HF name.
pub fn named_params(model: &Llama) -> Vec<NamedParam> {
    module_params(model)
}

/// Every float parameter of any module made of a [`Llama`] and more: a parameter whose path
/// runs through a field holding the Llama gets its HF name after that field's name and a dot
/// (`base.model.embed_tokens.weight`), others their module path (`adapters.0.a`).
pub fn module_params<M: Module>(module: &M) -> Vec<NamedParam> {
    let mut collect = Collect::default();
    module.visit(&mut collect);
    collect.found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LlamaConfig;

    #[test]
    fn names_follow_transformers() {
        let config = LlamaConfig::preset("nano").unwrap();
        let model = Llama::init(&config, 0.02, &Device::flex());
        let names: Vec<String> = named_params(&model).into_iter().map(|p| p.name).collect();
        assert_eq!(names[0], "model.embed_tokens.weight");
        assert!(names.contains(&"model.layers.1.mlp.down_proj.weight".to_string()));
        assert!(names.contains(&"model.layers.0.input_layernorm.weight".to_string()));
        assert!(names.contains(&"model.norm.weight".to_string()));
        assert_eq!(names.last().unwrap(), "lm_head.weight");
        assert_eq!(names.len(), 1 + 9 * config.num_layers + 2);
    }
}
