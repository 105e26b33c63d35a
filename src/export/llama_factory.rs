//! A run manifest as LLaMA-Factory's training YAML (`llamafactory-cli train FILE`): every
//! setting that has a key is mapped to it, each setting that LLaMA-Factory runs differently is
//! listed with how, and a setting it cannot express at all is refused, by name. Values are
//! written for PyYAML's YAML 1.1, which LLaMA-Factory reads them with (see [`scalar`]).

use serde::Serialize;
use serde_yaml_ng::Value;

use super::data::WrittenData;
use super::model::MODEL_DIR;
use crate::error::{Error, Result};
use crate::train::config::{OptimizerKind, RunConfig, Stage};
use crate::train::params::Trainable;
use crate::train::schedule::Decay;

/// The YAML's file name in the export.
pub const YAML_FILE: &str = "llama_factory.yaml";
/// Where LLaMA-Factory writes its result, relative to the export.
pub const OUTPUT_DIR: &str = "output";

/// One key of the YAML and the manifest setting it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Mapped {
    /// The manifest's setting (`schedule.lr`), or `-` for a key every export sets.
    pub ours: String,
    pub key: String,
    pub value: Value,
}

/// A setting LLaMA-Factory runs differently, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub ours: String,
    pub how: String,
}

/// A group of keys, written under a comment.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: &'static str,
    pub keys: Vec<Mapped>,
}

/// The whole translation of a manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub sections: Vec<Section>,
    pub differences: Vec<Difference>,
}

impl Plan {
    /// Every mapped key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Mapped> {
        self.sections.iter().flat_map(|s| s.keys.iter())
    }

    /// The YAML text: one commented block per section, each key annotated with its source.
    pub fn to_yaml(&self, header: &str) -> Result<String> {
        let mut text = String::new();
        for line in header.lines() {
            text.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
        }
        for section in &self.sections {
            text.push_str(&format!("\n### {}\n", section.title));
            for m in &section.keys {
                let comment = match m.ours.as_str() {
                    "-" => String::new(),
                    ours => format!("  # {ours}"),
                };
                match &m.value {
                    Value::Mapping(map) => {
                        text.push_str(&format!("{}:{comment}\n", m.key));
                        for (k, v) in map {
                            let k = k.as_str().unwrap_or_default();
                            text.push_str(&format!("  {k}: {}\n", scalar(v)?));
                        }
                    }
                    v => text.push_str(&format!("{}: {}{comment}\n", m.key, scalar(v)?)),
                }
            }
        }
        Ok(text)
    }
}

/// A scalar as LLaMA-Factory's YAML reader (PyYAML, YAML 1.1) reads it back as the same value:
/// floats always with a decimal point and no exponent (`1e-7` would be a string there), and
/// strings quoted where YAML 1.1 would take them for something else (`no` is `false` there).
fn scalar(v: &Value) -> Result<String> {
    Ok(match v {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if !x.is_finite() {
                return Err(Error::Serialize(format!(
                    "{YAML_FILE}: {x} is not a number a trainer can read"
                )));
            }
            let text = format!("{x}");
            match text.contains('.') {
                true => text,
                false => format!("{text}.0"),
            }
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let emitted = serde_yaml_ng::to_string(s)
                .map_err(|e| Error::Serialize(format!("{YAML_FILE}: {e}")))?;
            let emitted = emitted.trim_end().to_string();
            let yaml11_word = matches!(
                s.to_ascii_lowercase().as_str(),
                "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
            );
            match yaml11_word && !emitted.starts_with(['\'', '"']) {
                true => format!("'{s}'"),
                false => emitted,
            }
        }
        other => {
            return Err(Error::Serialize(format!(
                "{YAML_FILE}: cannot write {other:?} as one value"
            )));
        }
    })
}

fn str(s: impl Into<String>) -> Value {
    Value::String(s.into())
}
fn int(n: u64) -> Value {
    Value::Number(n.into())
}
fn float(x: f64) -> Value {
    Value::Number(x.into())
}

/// Translates `config` (whose data was written as `data`) into LLaMA-Factory's keys.
pub fn plan(config: &RunConfig, data: &WrittenData, tokenizer_adds_bos: bool) -> Result<Plan> {
    refuse_what_cannot_be_expressed(config)?;
    let o = &config.optimizer;
    let d = &config.data;
    let s = &config.schedule;
    let total_steps = config.total_steps();
    let mut differences = Vec::new();
    let mut differ = |ours: &str, how: String| {
        differences.push(Difference {
            ours: ours.into(),
            how,
        })
    };
    let key = |ours: &str, key: &str, value: Value| Mapped {
        ours: ours.into(),
        key: key.into(),
        value,
    };

    let source = match (&config.model.base, &config.model.preset) {
        (Some(_), _) => "model.base",
        (None, Some(_)) => "model.preset",
        (None, None) => "model.config",
    };
    let model = vec![
        key(source, "model_name_or_path", str(MODEL_DIR)),
        key("-", "trust_remote_code", Value::Bool(false)),
    ];

    let mut method = vec![
        key(
            "stage",
            "stage",
            str(match config.stage {
                Stage::Pretrain => "pt",
                Stage::Sft => "sft",
            }),
        ),
        key("-", "do_train", Value::Bool(true)),
    ];
    match (&o.lora, o.trainable) {
        (Some(lora), _) => {
            method.push(key("optimizer.lora", "finetuning_type", str("lora")));
            method.push(key(
                "optimizer.lora.rank",
                "lora_rank",
                int(lora.rank as u64),
            ));
            method.push(key("optimizer.lora.alpha", "lora_alpha", float(lora.alpha)));
            method.push(key("-", "lora_dropout", float(0.0)));
            method.push(key(
                "optimizer.lora.targets",
                "lora_target",
                str(lora.targets.join(",")),
            ));
            if lora.train_embeddings {
                method.push(key(
                    "optimizer.lora.train_embeddings",
                    "additional_target",
                    str("embed_tokens,lm_head"),
                ));
            }
            differ(
                "optimizer.lora",
                "PEFT starts each adapter's A from Kaiming-uniform values, beyond from normal(0, 1/rank); B starts at zero in both, so both start from the base model".into(),
            );
        }
        (None, Trainable::All) => {
            method.push(key("optimizer.trainable", "finetuning_type", str("full")))
        }
        (None, Trainable::EmbeddingsAndHead) => {
            method.push(key("optimizer.trainable", "finetuning_type", str("freeze")));
            method.push(key(
                "optimizer.trainable",
                "freeze_trainable_layers",
                int(0),
            ));
            method.push(key(
                "optimizer.trainable",
                "freeze_extra_modules",
                str("embed_tokens,lm_head"),
            ));
        }
    }

    let names: Vec<&str> = data.train.iter().map(|f| f.name.as_str()).collect();
    let mut dataset = vec![
        key("data.corpus", "dataset", str(names.join(","))),
        key("-", "dataset_dir", str(super::data::DATA_DIR)),
    ];
    if let Some(h) = &data.heldout {
        dataset.push(key("data.heldout_every", "eval_dataset", str(&h.name)));
    }
    dataset.extend([
        key("-", "template", str("empty")),
        key("data.seq_len", "cutoff_len", int(d.seq_len as u64)),
        key(
            "-",
            "packing",
            Value::Bool(matches!(config.stage, Stage::Pretrain)),
        ),
        key("data.corpus.weight", "mix_strategy", str("concat")),
        key("-", "overwrite_cache", Value::Bool(true)),
    ]);
    match config.stage {
        Stage::Pretrain => {
            differ(
                "data.corpus.weight",
                "the mixture is in the files: each corpus's file holds its share of the token budget in whole documents, so the datasets are concatenated".into(),
            );
            differ(
                "data.shuffle_buffer",
                "LLaMA-Factory packs all documents into one stream and shuffles whole blocks with its sampler; beyond packs each corpus and shuffles within a buffer, so the order of the blocks differs".into(),
            );
            if tokenizer_adds_bos {
                differ(
                    "model.base (tokenizer_config.json)",
                    "the tokenizer sets add_bos_token, so LLaMA-Factory also overwrites the first token of every packed block with BOS".into(),
                );
            }
        }
        Stage::Sft => {
            differ(
                "data.template",
                "the conversations are written already rendered with the run's template (BOS and EOS as text), and LLaMA-Factory's `empty` template adds nothing; LLaMA-Factory tokenizes each prompt and response apart, so a token that spans the boundary can split differently".into(),
            );
            if data.long_examples > 0 {
                differ(
                    "data.seq_len",
                    format!(
                        "{} examples are longer than {} tokens: beyond cuts their end, LLaMA-Factory shortens prompt and response in proportion",
                        data.long_examples, d.seq_len
                    ),
                );
            }
            if d.corpora.iter().any(|c| c.weight != d.corpora[0].weight) {
                differ(
                    "data.corpus.weight",
                    "instruction tuning uses every example of every file in both trainers; the weights are not used".into(),
                );
            }
            if data.trailing_prompts_dropped > 0 {
                differ(
                    "data.corpus",
                    format!(
                        "{} conversations end with a prompt after the last response; that text trains nothing and is left out",
                        data.trailing_prompts_dropped
                    ),
                );
            }
        }
    }

    let mut output = vec![
        key("output", "output_dir", str(OUTPUT_DIR)),
        key("-", "logging_steps", int(1)),
    ];
    match config.checkpoint.every {
        0 => output.push(key("checkpoint.every", "save_strategy", str("no"))),
        every => {
            output.push(key("checkpoint.every", "save_steps", int(every)));
            output.push(key(
                "checkpoint.keep",
                "save_total_limit",
                int(config.checkpoint.keep as u64),
            ));
        }
    }
    output.extend([
        key("-", "overwrite_output_dir", Value::Bool(true)),
        key("-", "report_to", str("none")),
    ]);

    let mut train = vec![
        key(
            "data.batch_size",
            "per_device_train_batch_size",
            int(d.batch_size as u64),
        ),
        key(
            "data.grad_accum",
            "gradient_accumulation_steps",
            int(d.grad_accum as u64),
        ),
        key(
            match config.budget.examples {
                Some(_) => "budget.examples",
                None => "budget.tokens",
            },
            "max_steps",
            int(total_steps),
        ),
        key("schedule.lr", "learning_rate", float(s.lr)),
    ];
    let floor = s.min_lr_ratio;
    match (s.decay, floor > 0.0) {
        (Decay::Cosine, true) => {
            train.push(key(
                "schedule.decay",
                "lr_scheduler_type",
                str("cosine_with_min_lr"),
            ));
            let mut kwargs = serde_yaml_ng::Mapping::new();
            kwargs.insert(str("min_lr_rate"), float(floor));
            train.push(key(
                "schedule.min_lr_ratio",
                "lr_scheduler_kwargs",
                Value::Mapping(kwargs),
            ));
        }
        (Decay::Cosine, false) => {
            train.push(key("schedule.decay", "lr_scheduler_type", str("cosine")))
        }
        (Decay::Linear, false) => {
            train.push(key("schedule.decay", "lr_scheduler_type", str("linear")))
        }
        (Decay::Linear, true) => {
            train.push(key(
                "schedule.decay",
                "lr_scheduler_type",
                str("warmup_stable_decay"),
            ));
            let mut kwargs = serde_yaml_ng::Mapping::new();
            kwargs.insert(str("num_stable_steps"), int(0));
            kwargs.insert(
                str("num_decay_steps"),
                int(total_steps.saturating_sub(s.warmup_steps)),
            );
            kwargs.insert(str("decay_type"), str("linear"));
            kwargs.insert(str("min_lr_ratio"), float(floor));
            train.push(key(
                "schedule.min_lr_ratio",
                "lr_scheduler_kwargs",
                Value::Mapping(kwargs),
            ));
            if s.warmup_steps > 0 {
                differ(
                    "schedule.warmup_steps",
                    "the warmup-stable-decay schedule warms up from lr x min_lr_ratio rather than from 0".into(),
                );
            }
        }
        (Decay::Constant, _) => train.push(key(
            "schedule.decay",
            "lr_scheduler_type",
            str(match s.warmup_steps {
                0 => "constant",
                _ => "constant_with_warmup",
            }),
        )),
    }
    train.push(key(
        "schedule.warmup_steps",
        "warmup_steps",
        int(s.warmup_steps),
    ));
    if s.warmup_steps > 0 {
        differ(
            "schedule.warmup_steps",
            format!(
                "the HF schedulers give step k of the warmup lr x k/{w}, starting at 0; beyond gives lr x (k+1)/{w}",
                w = s.warmup_steps
            ),
        );
    }
    match o.kind {
        OptimizerKind::AdamW => {
            train.extend([
                key("optimizer.kind", "optim", str("adamw_torch")),
                key("optimizer.beta1", "adam_beta1", float(o.beta1)),
                key("optimizer.beta2", "adam_beta2", float(o.beta2)),
                key("optimizer.eps", "adam_epsilon", float(o.eps)),
                key(
                    "optimizer.weight_decay",
                    "weight_decay",
                    float(o.weight_decay),
                ),
            ]);
            if o.weight_decay > 0.0 {
                differ(
                    "optimizer.decay_norms_and_embeddings",
                    match o.decay_norms_and_embeddings {
                        true => "the HF Trainer exempts norm gains and biases from weight decay; beyond decays every parameter (as torch.optim.AdamW over all of them)",
                        false => "the HF Trainer exempts norm gains and biases from weight decay but decays the embedding and the head; beyond exempts those too",
                    }
                    .into(),
                );
            }
        }
        OptimizerKind::Sgd => {
            train.push(key("optimizer.kind", "optim", str("sgd")));
            train.push(key("optimizer.kind", "weight_decay", float(0.0)));
            if o.weight_decay > 0.0 {
                differ(
                    "optimizer.weight_decay",
                    "beyond's SGD applies no weight decay, so none is exported".into(),
                );
            }
        }
    }
    train.extend([
        key(
            "optimizer.clip_norm",
            "max_grad_norm",
            float(o.clip_norm.unwrap_or(0.0)),
        ),
        key("seed", "seed", int(config.seed)),
        key("seed", "data_seed", int(config.seed)),
        key("-", "bf16", Value::Bool(false)),
        key("-", "fp16", Value::Bool(false)),
        key("-", "dataloader_num_workers", int(0)),
    ]);
    differ(
        "-",
        "beyond trains in f32, and so does this file; on GPUs `bf16: true` is faster and changes the numerics".into(),
    );

    let mut eval = Vec::new();
    match (&data.heldout, config.eval.every) {
        (Some(h), every) if every > 0 => {
            eval.extend([
                key("eval.every", "eval_strategy", str("steps")),
                key("eval.every", "eval_steps", int(every)),
                key(
                    "data.batch_size",
                    "per_device_eval_batch_size",
                    int(d.batch_size as u64),
                ),
            ]);
            differ(
                "eval.sequences",
                format!(
                    "the held-out file holds {} {} ({} tokens), all of which LLaMA-Factory evaluates",
                    h.records,
                    match config.stage {
                        Stage::Pretrain => "documents",
                        Stage::Sft => "examples",
                    },
                    h.tokens
                ),
            );
        }
        _ => eval.push(key("eval.every", "eval_strategy", str("no"))),
    }

    Ok(Plan {
        sections: vec![
            Section {
                title: "model",
                keys: model,
            },
            Section {
                title: "method",
                keys: method,
            },
            Section {
                title: "dataset",
                keys: dataset,
            },
            Section {
                title: "output",
                keys: output,
            },
            Section {
                title: "train",
                keys: train,
            },
            Section {
                title: "eval",
                keys: eval,
            },
        ],
        differences,
    })
}

/// Settings LLaMA-Factory has no way to express. (The data step refuses special tokens that
/// cannot be written as text.)
fn refuse_what_cannot_be_expressed(config: &RunConfig) -> Result<()> {
    let o = &config.optimizer;
    if let Some(lora) = &o.lora {
        for t in &lora.targets {
            if !crate::train::lora::PROJECTIONS.contains(&t.as_str()) {
                return Err(Error::InvalidInput(format!(
                    "[optimizer.lora] target `{t}` is not a LLaMA projection LLaMA-Factory can adapt"
                )));
            }
        }
        if lora.rank == 0 {
            return Err(Error::InvalidInput(
                "[optimizer.lora] rank = 0 cannot be exported".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_the_same_under_yaml_1_1() {
        assert_eq!(scalar(&float(1e-7)).unwrap(), "0.0000001");
        assert_eq!(scalar(&float(2.0)).unwrap(), "2.0");
        assert_eq!(scalar(&float(0.002)).unwrap(), "0.002");
        assert_eq!(scalar(&int(12)).unwrap(), "12");
        assert_eq!(scalar(&str("no")).unwrap(), "'no'");
        assert_eq!(scalar(&str("q_proj,v_proj")).unwrap(), "q_proj,v_proj");
        assert!(scalar(&float(f64::NAN)).is_err());
    }
}
