//! Bad input through the CLI: each gets a clear message naming the file and the problem, a
//! non-zero exit code, and no panic.

use crate::common;

use std::path::Path;
use std::process::Command;

use beyond::model::StorageDType;
use beyond::model::weights::{self, Buffer, WeightSet};

/// Runs `beyond logits` on `dir` and returns (success, stderr).
fn logits(dir: &Path) -> (bool, String) {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(["logits", "--device", "cpu", "--ids", "1,5,7", "--out"])
        .arg(out.path().join("l.safetensors"))
        .arg("--model")
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (output.status.success(), stderr)
}

fn expect_error(dir: &Path, needles: &[&str]) {
    let (ok, stderr) = logits(dir);
    assert!(!ok, "should fail: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
}

/// A copy of a small HF-made checkpoint to break.
fn copy_of_variant() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = common::variant("tied-mha-f32-v4");
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

/// Rewrites `model.safetensors` through `edit` on (name, shape, values).
fn rewrite_weights(dir: &Path, edit: impl Fn(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) {
    let path = dir.join("model.safetensors");
    let set = WeightSet::from_buffers(vec![(
        path.clone(),
        Buffer::Owned(std::fs::read(&path).unwrap()),
    )])
    .unwrap();
    let names: Vec<String> = set.names().map(String::from).collect();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = names
        .iter()
        .map(|n| {
            let bytes = std::fs::read(&path).unwrap();
            let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let shape = meta.info(n).unwrap().shape.clone();
            let values = set.read(n, &shape).unwrap().try_into_vec::<f32>().unwrap();
            (n.clone(), shape, values)
        })
        .collect();
    edit(&mut tensors);
    std::fs::write(
        &path,
        weights::serialize(&tensors, StorageDType::F32).unwrap(),
    )
    .unwrap();
}

fn edit_config(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
}

#[test]
fn the_unbroken_copy_works() {
    let dir = copy_of_variant();
    let (ok, stderr) = logits(dir.path());
    assert!(ok, "{stderr}");
}

#[test]
fn missing_directory_and_files() {
    expect_error(
        Path::new("/nonexistent/model"),
        &["/nonexistent/model", "not a directory"],
    );
    let dir = copy_of_variant();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    expect_error(dir.path(), &["model.safetensors", "missing"]);
    let dir = copy_of_variant();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    expect_error(dir.path(), &["config.json", "No such file"]);
}

#[test]
fn truncated_and_corrupt_safetensors() {
    let dir = copy_of_variant();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    expect_error(
        dir.path(),
        &["model.safetensors", "not a valid safetensors file"],
    );
    std::fs::write(&path, b"this is not a safetensors file at all").unwrap();
    expect_error(
        dir.path(),
        &["model.safetensors", "not a valid safetensors file"],
    );
}

#[test]
fn tensor_with_wrong_shape_or_name() {
    let dir = copy_of_variant();
    rewrite_weights(dir.path(), |t| {
        let q = t
            .iter_mut()
            .find(|(n, _, _)| n == "model.layers.1.self_attn.q_proj.weight")
            .unwrap();
        q.1 = vec![24, 96];
    });
    expect_error(
        dir.path(),
        &[
            "model.safetensors",
            "model.layers.1.self_attn.q_proj.weight",
            "has shape [24, 96], expected [48, 48]",
        ],
    );
    let dir = copy_of_variant();
    rewrite_weights(dir.path(), |t| {
        let m = t
            .iter_mut()
            .find(|(n, _, _)| n == "model.layers.0.mlp.up_proj.weight")
            .unwrap();
        m.0 = "model.layers.0.mlp.upper_proj.weight".into();
    });
    expect_error(
        dir.path(),
        &["model.layers.0.mlp.up_proj.weight", "missing"],
    );
}

#[test]
fn inconsistent_or_unknown_config() {
    let dir = copy_of_variant();
    edit_config(dir.path(), |c| c["num_attention_heads"] = 5.into());
    expect_error(
        dir.path(),
        &[
            "config.json",
            "hidden_size (48) is not divisible by num_attention_heads (5)",
        ],
    );
    let dir = copy_of_variant();
    edit_config(dir.path(), |c| c["num_key_value_heads"] = 3.into());
    expect_error(
        dir.path(),
        &["config.json", "not a multiple of num_key_value_heads (3)"],
    );
    let dir = copy_of_variant();
    edit_config(dir.path(), |c| c["model_type"] = "mamba".into());
    expect_error(
        dir.path(),
        &["config.json", "model_type `mamba` is not supported"],
    );
    let dir = copy_of_variant();
    std::fs::write(dir.path().join("config.json"), b"{ not json").unwrap();
    expect_error(dir.path(), &["config.json", "not a valid config.json"]);
}

#[test]
fn tokenizer_larger_than_the_model() {
    let dir = copy_of_variant();
    // LLaMA-2's 32,000 tokens on a model with 1,000 embedding rows.
    std::fs::copy(
        common::llama2_tokenizer(),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    expect_error(
        dir.path(),
        &[
            "tokenizer.json",
            "ids up to 31999",
            "only 1000 embedding rows",
        ],
    );
    std::fs::write(
        dir.path().join("tokenizer.json"),
        b"{\"not\": \"a tokenizer\"}",
    )
    .unwrap();
    expect_error(
        dir.path(),
        &["tokenizer.json", "not a valid tokenizer.json"],
    );
}
