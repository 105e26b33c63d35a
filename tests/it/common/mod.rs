//! Helpers shared by the integration tests: where the fixtures are and how to read references.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use beyond::model::weights::{Buffer, WeightSet};

pub mod reference;

/// The wgpu device of `choice` (a graphics API or wgpu's own pick), with its description. Without
/// a trustworthy adapter, `None` after saying why, unless `BEYOND_REQUIRE_GPU` is set (as in CI,
/// on lavapipe): then a failure.
pub fn gpu(
    choice: beyond::device::DeviceChoice,
) -> Option<(burn::prelude::Device, beyond::device::DeviceInfo)> {
    match beyond::device::select(choice) {
        Ok((device, info)) => {
            eprintln!("wgpu device: {}", info.summary());
            Some((device, info))
        }
        Err(e) if std::env::var_os("BEYOND_REQUIRE_GPU").is_none() => {
            eprintln!("wgpu not tested: {e}");
            None
        }
        Err(e) => panic!("BEYOND_REQUIRE_GPU is set but no trustworthy adapter was found: {e}"),
    }
}

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The HF-made fixture `tiny-llama-a` (see its README for where it comes from).
pub fn fixture_a() -> PathBuf {
    repo("tests/fixtures/tiny-llama-a")
}

/// LLaMA-2's tokenizer, as shipped in `assets/tokenizers/llama2`.
pub fn llama2_tokenizer() -> PathBuf {
    repo("assets/tokenizers/llama2/tokenizer.json")
}

/// The Universal Declaration of Human Rights, one file per language.
pub fn udhr_dir() -> PathBuf {
    repo("assets/corpora/udhr")
}

/// Runs the `beyond` binary with `args`.
pub fn beyond(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(args)
        .output()
        .unwrap()
}

/// The JSON object a `--json` command printed last; the test fails, with the command's errors,
/// unless the command succeeded.
pub fn json_of(output: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        stdout
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// `beyond train --config MANIFEST --device cpu --json`, which must succeed: its report.
pub fn train_on_cpu(manifest: &Path) -> serde_json::Value {
    json_of(&beyond(&[
        "train",
        "--config",
        manifest.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]))
}

/// A checkpoint made by `tests/fixtures/make_variants.py`.
pub fn variant(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/variants")
        .join(name)
}

/// `reference.json` of a fixture directory.
pub fn reference_json(dir: &Path) -> serde_json::Value {
    let bytes = std::fs::read(dir.join("reference.json")).expect("reference.json");
    serde_json::from_slice(&bytes).expect("valid reference.json")
}

/// A tensor of `reference.safetensors` as f32 values.
pub fn reference_tensor(dir: &Path, name: &str, shape: &[usize]) -> Vec<f32> {
    read_tensor(&dir.join("reference.safetensors"), name, shape)
}

/// A tensor of a safetensors file as f32 values.
pub fn read_tensor(path: &Path, name: &str, shape: &[usize]) -> Vec<f32> {
    let path = path.to_path_buf();
    let buffer = Buffer::Owned(std::fs::read(&path).expect("reference.safetensors"));
    let set = WeightSet::from_buffers(vec![(path, buffer)]).expect("valid safetensors");
    set.read(name, shape)
        .expect(name)
        .try_into_vec::<f32>()
        .expect("f32")
}

/// A list of ids from JSON.
pub fn ids(value: &serde_json::Value) -> Vec<u32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

/// Rows of integers from JSON.
pub fn rows<T: TryFrom<i64>>(value: &serde_json::Value) -> Vec<Vec<T>>
where
    T::Error: std::fmt::Debug,
{
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| T::try_from(v.as_i64().expect("integer")).expect("fits"))
                .collect()
        })
        .collect()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
