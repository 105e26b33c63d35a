//! transformers reads what beyond writes: the fixture saved as f32, as sharded bf16, and a tied
//! variant are loaded by `AutoModelForCausalLM.from_pretrained` and give our logits.
//!
//! Needs Python with `torch` and `transformers` (`pip install torch transformers`); where they
//! are missing the test says so and passes, unless `BEYOND_REQUIRE_TRANSFORMERS` is set.

use crate::common;

use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use common::max_abs_diff;

use beyond::model::checkpoint::{self, SaveOptions};
use beyond::model::generate::ids_tensor;
use beyond::model::{Checkpoint, ForwardOptions, StorageDType};

const IDS: [u32; 7] = [1, 450, 4996, 17354, 1701, 432, 29889];

fn python() -> Option<String> {
    let python = std::env::var("BEYOND_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import torch, transformers"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var_os("BEYOND_REQUIRE_TRANSFORMERS").is_none(),
        "BEYOND_REQUIRE_TRANSFORMERS is set but `{python}` cannot import torch and transformers"
    );
    eprintln!("torch/transformers not importable by `{python}`: not tested");
    None
}

fn transformers_logits(python: &str, dir: &Path, ids: &[u32]) -> Vec<f32> {
    let out = dir.join("hf-logits.json");
    let ids = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/hf_logits.py");
    let run = Command::new(python)
        .arg(script)
        .arg(dir)
        .arg(&out)
        .arg(ids)
        .output()
        .expect("python runs");
    assert!(
        run.status.success(),
        "transformers could not load {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    json["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

fn check(python: &str, source_dir: &Path, options: SaveOptions, ids: &[u32]) {
    let device = Device::flex();
    let source = Checkpoint::open(source_dir).unwrap();
    let (model, _) = source.load(&device).unwrap();
    let out = tempfile::tempdir().unwrap();
    checkpoint::save(
        &model,
        Some(&source.hf_config),
        out.path(),
        &options,
        Some(source_dir),
    )
    .unwrap();
    // Our logits from what we wrote, against transformers' logits from the same files.
    let ours = common::reference::load(out.path(), &device)
        .forward(
            ids_tensor(&[ids.to_vec()], &device),
            ForwardOptions::default(),
        )
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let theirs = transformers_logits(python, out.path(), ids);
    let diff = max_abs_diff(&ours, &theirs);
    assert!(
        diff < 1e-4,
        "{} saved with {options:?}: max |diff| {diff}",
        source_dir.display()
    );
}

#[test]
fn transformers_loads_what_we_save() {
    let Some(python) = python() else { return };
    check(&python, &common::fixture_a(), SaveOptions::default(), &IDS);
    let sharded_bf16 = SaveOptions {
        dtype: StorageDType::Bf16,
        max_shard_bytes: Some(1 << 20),
    };
    check(&python, &common::fixture_a(), sharded_bf16, &IDS);
    let small_vocab: Vec<u32> = IDS.iter().map(|i| i % 1000).collect();
    for variant in ["tied-mha-f32-v4", "mqa-bf16-v5-llama3rope"] {
        check(
            &python,
            &common::variant(variant),
            SaveOptions::default(),
            &small_vocab,
        );
    }
}
