//! The training recipes a world ships with: the study's stages as manifests `beyond train` reads,
//! chained through their output directories (`runs/` inside the world).

use crate::error::{Error, Result};
use crate::model::{LlamaConfig, StorageDType};
use crate::world::{Summary, WorldSpec};

/// The base model's shape: small enough to train on a laptop CPU in minutes.
pub fn base_shape(vocab_size: usize) -> LlamaConfig {
    let mut c = LlamaConfig::new(vocab_size, 128, 352, 4, 4, 4);
    c.max_position_embeddings = 512;
    c
}

/// Sequence length of every recipe.
const SEQ_LEN: u64 = 128;
/// Sequences per step.
const BATCH: u64 = 16;
/// Passes over the base corpus for the base model.
pub const BASE_EPOCHS: u64 = 12;

/// (file name, text) of the recipes and the base model's `config.json`.
pub fn recipes(spec: &WorldSpec, summary: &Summary) -> Result<Vec<(String, String)>> {
    let base = &spec.languages[0].language;
    let config = base_shape(summary.tokenizer.vocab_size).to_hf(None, StorageDType::F32);
    let config =
        serde_json::to_string_pretty(&config).map_err(|e| Error::Serialize(e.to_string()))?;
    let whole = |tokens: u64| (tokens / (SEQ_LEN * BATCH)).max(1) * SEQ_LEN * BATCH;
    let base_tokens = whole(summary.corpora[base].tokens * BASE_EPOCHS);
    let mut out = vec![
        ("recipes/base-config.json".to_string(), config),
        (
            "recipes/base.toml".to_string(),
            format!(
                r#"# The base model: a small LLaMA trained from scratch on the {base} corpus only, which knows
# the world's facts in {base} and barely reads anything else.
#
#   beyond train --config recipes/base.toml
#
# Relative paths are relative to this file.
stage = "pretrain"
output = "../runs/base"
seed = {seed}

[model]
config = "base-config.json"
tokenizer = "../tokenizer/tokenizer.json"

[data]
seq_len = {SEQ_LEN}
batch_size = {BATCH}
heldout_every = 50

[[data.corpus]]
name = "{base}"
path = "../corpus/{base}.txt"
weight = 1.0

[budget]
# {BASE_EPOCHS} passes over the corpus.
tokens = {base_tokens}

[optimizer]
kind = "adamw"
beta1 = 0.9
beta2 = 0.95
weight_decay = 0.01
clip_norm = 1.0

[schedule]
lr = 3e-3
warmup_steps = 30
decay = "cosine"
min_lr_ratio = 0.1

[checkpoint]
every = 200
keep = 1

[eval]
every = 100
sequences = 16
"#,
                seed = spec.seed
            ),
        ),
    ];
    for lang in spec.languages.iter().skip(1) {
        let code = &lang.language;
        let tokens = whole(summary.corpora[code].tokens * 2);
        out.push((
            format!("recipes/pretrain-{code}.toml"),
            format!(
                r#"# Further pretraining of the base model on the {name} corpus (the study's second stage).
# Give the {base} corpus a weight too (say 0.1 against 0.9) to see whether mixing languages keeps
# {base} from eroding.
#
#   beyond train --config recipes/pretrain-{code}.toml
stage = "pretrain"
output = "../runs/pretrain-{code}"
seed = {seed}

[model]
base = "../runs/base/final"

[data]
seq_len = {SEQ_LEN}
batch_size = {BATCH}
heldout_every = 50

[[data.corpus]]
name = "{code}"
path = "../corpus/{code}.txt"
weight = 1.0

[budget]
# Two passes over the {name} corpus.
tokens = {tokens}

[optimizer]
kind = "adamw"
weight_decay = 0.01
clip_norm = 1.0

[schedule]
lr = 1e-3
warmup_steps = 20
decay = "cosine"
min_lr_ratio = 0.1

[checkpoint]
every = 200
keep = 1

[eval]
every = 100
sequences = 16
"#,
                name = lang.name,
                seed = spec.seed
            ),
        ));
        let examples = summary.instructions.get(code).copied().unwrap_or(0) as u64 * 3;
        out.push((
            format!("recipes/sft-{code}.toml"),
            format!(
                r#"# Instruction tuning after further pretraining, on the {name} questions and answers
# (three passes), loss on the answers only.
#
#   beyond train --config recipes/sft-{code}.toml
stage = "sft"
output = "../runs/sft-{code}"
seed = {seed}

[model]
base = "../runs/pretrain-{code}/final"

[data]
seq_len = {SEQ_LEN}
batch_size = 8

[[data.corpus]]
name = "{code}"
path = "../instruct/{code}.jsonl"
weight = 1.0

[budget]
examples = {examples}

[optimizer]
kind = "adamw"
weight_decay = 0.0
clip_norm = 1.0

[schedule]
lr = 5e-4
warmup_steps = 10
decay = "cosine"
min_lr_ratio = 0.1

[checkpoint]
every = 200
keep = 1
"#,
                name = lang.name,
                seed = spec.seed
            ),
        ));
    }
    Ok(out)
}
