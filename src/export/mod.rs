//! Handing a run to a trainer that scales past one machine. `beyond` prototypes a run on one
//! device; [`llama_factory`] writes the same run for LLaMA-Factory (`llamafactory-cli train`),
//! which trains on many GPUs and nodes with DeepSpeed or FSDP. An export is one folder:
//!
//! - `model/`: the starting model as an HF directory (the extended tokenizer and resized
//!   embeddings when the run starts from such a model);
//! - `data/`: the data as JSON Lines with `dataset_info.json`;
//! - `llama_factory.yaml`: the run's settings under LLaMA-Factory's keys;
//! - `ds_zero3.json`: a DeepSpeed ZeRO-3 configuration for models that do not fit one GPU;
//! - `RUN.md`: the commands, the mapping and what runs differently;
//! - `export.json`: this report.
//!
//! The result comes back through the model loader: LLaMA-Factory's `output/` is an HF
//! directory (full training) or a PEFT adapter (LoRA), and either opens wherever a model does.

pub mod data;
pub mod llama_factory;
pub mod model;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::JobContext;
use crate::train::config::RunConfig;
pub use data::{DatasetFile, WrittenData};
pub use llama_factory::{Difference, Mapped, OUTPUT_DIR, Plan, YAML_FILE};
pub use model::ModelOrigin;

/// The report's file name in the export.
pub const REPORT_FILE: &str = "export.json";
pub const RUN_FILE: &str = "RUN.md";
pub const DEEPSPEED_FILE: &str = "ds_zero3.json";

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub out: PathBuf,
    pub manifest: PathBuf,
    pub yaml: PathBuf,
    pub model: PathBuf,
    pub model_origin: ModelOrigin,
    pub data: WrittenData,
    pub steps: u64,
    /// Sequences per optimiser step on one device, as in the manifest.
    pub global_batch: u64,
    pub plan: Plan,
    /// The command for one machine, run in `out`.
    pub command: String,
    /// Where the trained model will be.
    pub result: PathBuf,
}

/// Writes the export of `config` (read from `manifest`) into `out`.
pub fn export_llama_factory(
    config: &RunConfig,
    manifest: &Path,
    out: &Path,
    ctx: &JobContext,
) -> Result<ExportReport> {
    if out.join(llama_factory::OUTPUT_DIR).exists() {
        return Err(Error::InvalidInput(format!(
            "{}: holds a trained result (output/); export into another folder so it is not lost",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    ctx.progress("tokenizer", 0, Some(3), "stages");
    let (tokenizer, _) = crate::train::run::run_tokenizer(config)?;
    ctx.progress("data", 1, Some(3), "stages");
    let data = data::write(config, &tokenizer, out, ctx)?;
    ctx.progress("model", 2, Some(3), "stages");
    let model_origin = model::write(config, &tokenizer, out)?;
    let adds_bos = tokenizer_adds_bos(&out.join(model::MODEL_DIR));
    let plan = llama_factory::plan(config, &data, adds_bos)?;

    let header = format!(
        "LLaMA-Factory run written by beyond {} from {}\n\
         Run it here: llamafactory-cli train {YAML_FILE}  (RUN.md has the multi-GPU and multi-node commands)\n\
         Each key is followed by the manifest setting it comes from.",
        env!("CARGO_PKG_VERSION"),
        manifest.display()
    );
    let yaml = out.join(YAML_FILE);
    crate::fsx::write_atomic(&yaml, plan.to_yaml(&header)?.as_bytes())?;
    crate::fsx::write_atomic(&out.join(DEEPSPEED_FILE), DEEPSPEED_ZERO3.as_bytes())?;
    let report = ExportReport {
        out: out.to_path_buf(),
        manifest: manifest.to_path_buf(),
        yaml,
        model: out.join(model::MODEL_DIR),
        model_origin,
        data,
        steps: config.total_steps(),
        global_batch: config.sequences_per_step(),
        plan,
        command: format!("llamafactory-cli train {YAML_FILE}"),
        result: out.join(llama_factory::OUTPUT_DIR),
    };
    crate::fsx::write_atomic(&out.join(RUN_FILE), run_md(config, &report).as_bytes())?;
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::Serialize(format!("{REPORT_FILE}: {e}")))?;
    crate::fsx::write_atomic(&out.join(REPORT_FILE), &json)?;
    ctx.progress("done", 3, Some(3), "stages");
    Ok(report)
}

/// Whether the exported tokenizer's configuration asks for BOS (LLaMA-Factory then puts BOS on
/// every packed block).
fn tokenizer_adds_bos(model_dir: &Path) -> bool {
    std::fs::read(model_dir.join(crate::model::checkpoint::TOKENIZER_CONFIG_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("add_bos_token").and_then(|b| b.as_bool()))
        .unwrap_or(false)
}

/// DeepSpeed ZeRO-3 with the values the HF Trainer fills in (`auto`).
const DEEPSPEED_ZERO3: &str = r#"{
  "train_batch_size": "auto",
  "train_micro_batch_size_per_gpu": "auto",
  "gradient_accumulation_steps": "auto",
  "gradient_clipping": "auto",
  "zero_allow_untested_optimizer": true,
  "bf16": { "enabled": "auto" },
  "fp16": { "enabled": "auto" },
  "zero_optimization": {
    "stage": 3,
    "overlap_comm": true,
    "contiguous_gradients": true,
    "reduce_bucket_size": "auto",
    "stage3_prefetch_bucket_size": "auto",
    "stage3_param_persistence_threshold": "auto",
    "stage3_gather_16bit_weights_on_model_save": true
  }
}
"#;

fn run_md(config: &RunConfig, r: &ExportReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# {} as a LLaMA-Factory run\n\n\
         Written by `beyond export llama-factory` from `{}`: the starting model in `model/`, the data in \
         `data/` (registered in `data/dataset_info.json`) and the settings in `{YAML_FILE}`.\n\n",
        config.output.file_name().map_or("The run".into(), |n| n.to_string_lossy().into_owned()),
        r.manifest.display()
    ));
    s.push_str(&format!(
        "## One machine\n\n```sh\npip install llamafactory\ncd {}\nllamafactory-cli train {YAML_FILE}\n```\n\n         If LLaMA-Factory fails importing torchaudio (pip paired a torch and a torchaudio built for \
         different CUDA versions), install releases that go together, such as \
         `pip install torch==2.11.0 torchaudio==2.11.0 torchvision==0.26.0`.\n\n",
        r.out.display()
    ));
    s.push_str(&format!(
        "## Several GPUs, several nodes\n\n\
         The YAML keeps the manifest's batch on one device: {} sequences of {} tokens per step \
         (`per_device_train_batch_size` x `gradient_accumulation_steps`). On N GPUs the step holds N times as many; \
         divide `gradient_accumulation_steps` (or the per-device batch) by N to keep the same run.\n\n\
         ```sh\n# one node, all its GPUs\nFORCE_TORCHRUN=1 llamafactory-cli train {YAML_FILE}\n\n\
         # two nodes: run on each, with NODE_RANK 0 and 1 and the first node's address\n\
         FORCE_TORCHRUN=1 NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 llamafactory-cli train {YAML_FILE}\n```\n\n\
         A model too large for one GPU: add `deepspeed: {DEEPSPEED_FILE}` to the YAML (ZeRO-3, written beside it; needs `pip install deepspeed`).\n\n",
        r.global_batch, config.data.seq_len
    ));
    s.push_str(&format!(
        "## Back in beyond\n\n\
         LLaMA-Factory writes the trained model to `{OUTPUT_DIR}/`: an HF directory, or for LoRA an adapter that \
         beyond merges into `model/` when it opens it. Evaluate it as any model:\n\n\
         ```sh\nbeyond eval perplexity --model {} --text heldout.txt\n```\n\n",
        r.result.display()
    ));
    s.push_str("## The mapping\n\n| manifest | LLaMA-Factory | value |\n|---|---|---|\n");
    for m in r.plan.keys() {
        let value = serde_yaml_ng::to_string(&m.value)
            .unwrap_or_default()
            .trim()
            .replace('\n', "; ");
        s.push_str(&format!("| `{}` | `{}` | `{}` |\n", m.ours, m.key, value));
    }
    s.push_str("\n## What runs differently\n\n");
    for d in &r.plan.differences {
        s.push_str(&format!("- `{}`: {}\n", d.ours, d.how));
    }
    s.push_str("\n## The data\n\n| dataset | file | from | records | tokens | passes |\n|---|---|---|---|---|---|\n");
    for f in r.data.train.iter().chain(&r.data.heldout) {
        s.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} |\n",
            f.name, f.file, f.corpus, f.records, f.tokens, f.passes
        ));
    }
    s
}
