//! Saving checkpoints: what we write loads back to the same model, in f32, f16, bf16 and shards,
//! and keeps the HF layout (names, shapes, config) that transformers reads.

use crate::common;

use burn::prelude::*;
use common::max_abs_diff;
use common::reference::load;

use beyond::model::checkpoint::{self, SaveOptions};
use beyond::model::generate::ids_tensor;
use beyond::model::{Checkpoint, ForwardOptions, Llama, StorageDType};

fn logits(model: &Llama, ids: &[u32]) -> Vec<f32> {
    let device = model.device();
    model
        .forward(
            ids_tensor(&[ids.to_vec()], &device),
            ForwardOptions::default(),
        )
        .into_data()
        .try_into_vec::<f32>()
        .unwrap()
}

const PROMPT: [u32; 9] = [1, 1682, 2930, 16905, 460, 5381, 1933, 304, 6530];

fn save_and_reload(
    dir: &std::path::Path,
    options: SaveOptions,
) -> (Llama, Llama, tempfile::TempDir) {
    let device = Device::flex();
    let source = Checkpoint::open(dir).unwrap();
    let (model, _) = source.load(&device).unwrap();
    let out = tempfile::tempdir().unwrap();
    checkpoint::save(
        &model,
        Some(&source.hf_config),
        out.path(),
        &options,
        Some(dir),
    )
    .unwrap();
    let again = load(out.path(), &device);
    (model, again, out)
}

#[test]
fn f32_round_trip_gives_identical_logits() {
    let (model, again, out) = save_and_reload(&common::fixture_a(), SaveOptions::default());
    assert_eq!(logits(&model, &PROMPT), logits(&again, &PROMPT));
    // The tokenizer travels with the model, and the config keeps the 4.x form it came in.
    assert!(out.path().join("tokenizer.json").is_file());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["torch_dtype"], "float32");
    assert_eq!(config["rope_theta"], 10000.0);
    assert_eq!(config["tie_word_embeddings"], false);
}

#[test]
fn half_precision_saves_round_within_their_precision() {
    let (model, _, _) = save_and_reload(&common::fixture_a(), SaveOptions::default());
    let reference = logits(&model, &PROMPT);
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (dtype, tol) in [(StorageDType::F16, 2e-2), (StorageDType::Bf16, 1e-1)] {
        let (_, again, out) = save_and_reload(
            &common::fixture_a(),
            SaveOptions {
                dtype,
                max_shard_bytes: None,
            },
        );
        let diff = max_abs_diff(&logits(&again, &PROMPT), &reference);
        assert!(diff > 0.0, "{dtype}: rounding must change something");
        assert!(
            diff <= tol * scale.max(1.0),
            "{dtype}: logits moved by {diff}"
        );
        let info = beyond::model::loaded::describe(out.path()).unwrap();
        assert_eq!(info.dtype_on_disk, Some(dtype));
        assert_eq!(info.bytes_on_disk, info.parameters * 2);
    }
}

#[test]
fn sharded_save_writes_an_index_and_loads_back() {
    let (model, again, out) = save_and_reload(
        &common::fixture_a(),
        SaveOptions {
            dtype: StorageDType::F32,
            max_shard_bytes: Some(4 << 20),
        },
    );
    assert_eq!(logits(&model, &PROMPT), logits(&again, &PROMPT));
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("model.safetensors.index.json")).unwrap(),
    )
    .unwrap();
    let shards: std::collections::BTreeSet<&str> = index["weight_map"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(shards.len() >= 3, "{shards:?}");
    assert!(!out.path().join("model.safetensors").exists());

    // The same shards handed over as files in memory (as a web page gets a folder's files),
    // under names that carry a folder, with the fixture's tokenizer.
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = format!("picked/{}", p.file_name().unwrap().to_string_lossy());
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    let tokenizer = common::fixture_a().join("tokenizer.json");
    files.push(("tokenizer.json".into(), std::fs::read(&tokenizer).unwrap()));
    let label = std::path::Path::new("picked");
    let (given, text) = Checkpoint::from_files(label, &files).unwrap();
    let (given, _) = given.load(&Device::flex()).unwrap();
    assert_eq!(logits(&model, &PROMPT), logits(&given, &PROMPT));
    assert_eq!(text.encode_with_bos("Hello").unwrap()[0], 1);
    // Without a tokenizer the error says what is missing and what was given.
    files.retain(|(name, _)| !name.ends_with("tokenizer.json"));
    let err = match Checkpoint::from_files(label, &files) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a model without its tokenizer loaded"),
    };
    assert!(
        err.contains("no tokenizer.json") && err.contains("config.json"),
        "{err}"
    );
}

#[test]
fn variants_round_trip_in_their_own_form() {
    for name in [
        "tied-mha-f32-v4",
        "mqa-bf16-v5-llama3rope",
        "gqa-f16-sharded-bias",
    ] {
        let dir = common::variant(name);
        let (model, again, out) = save_and_reload(&dir, SaveOptions::default());
        let ids: Vec<u32> = PROMPT.iter().map(|&i| i % 1000).collect();
        assert_eq!(logits(&model, &ids), logits(&again, &ids), "{name}");
        let names: Vec<String> = Checkpoint::open(out.path())
            .unwrap()
            .weights
            .names()
            .map(String::from)
            .collect();
        let original: Vec<String> = Checkpoint::open(&dir)
            .unwrap()
            .weights
            .names()
            .map(String::from)
            .collect();
        assert_eq!(
            names, original,
            "{name}: same tensor names as transformers wrote"
        );
    }
}
