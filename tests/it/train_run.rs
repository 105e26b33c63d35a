//! Training runs end to end through the CLI, on real text (the UDHR) and the real LLaMA-2
//! tokenizer: the loss falls, an instruction-tuned model answers its training prompts, a run
//! killed with SIGKILL resumes to the same result as an uninterrupted one, and bad input gets
//! clear errors.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{beyond, json_of};

fn tokenizer() -> PathBuf {
    common::llama2_tokenizer()
}

fn udhr(lang: &str) -> PathBuf {
    common::udhr_dir().join(format!("{lang}.txt"))
}

/// A manifest for a small model trained from scratch on the UDHR.
fn pretrain_manifest(dir: &Path, steps_tokens: u64, extra: &str) -> PathBuf {
    let text = format!(
        r#"
stage = "pretrain"
output = "run"
seed = 7

[model]
preset = "nano"
tokenizer = "{tokenizer}"

[data]
seq_len = 64
batch_size = 4
shuffle_buffer = 16
heldout_every = 8

[[data.corpus]]
name = "zh"
path = "{zh}"
weight = 3

[[data.corpus]]
name = "en"
path = "{en}"
weight = 1

[budget]
tokens = {steps_tokens}

[schedule]
lr = 1e-2
warmup_steps = 5

[eval]
every = 10
sequences = 8
{extra}
"#,
        tokenizer = tokenizer().display(),
        zh = udhr("zh").display(),
        en = udhr("en").display(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every metrics line is whole JSON"))
        .collect()
}

#[test]
fn loss_falls_on_the_udhr_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    // 60 steps of 4 x 64 tokens.
    let manifest = pretrain_manifest(dir.path(), 60 * 256, "[checkpoint]\nevery = 0\n");
    let report = common::train_on_cpu(&manifest);
    assert_eq!(report["steps"], 60);
    assert_eq!(report["tokens"], 60 * 256);
    let m = metrics(&dir.path().join("run"));
    assert_eq!(m.len(), 60);
    let first = m[0]["loss"].as_f64().unwrap();
    let last: f64 = m[55..]
        .iter()
        .map(|x| x["loss"].as_f64().unwrap())
        .sum::<f64>()
        / 5.0;
    // ln(32000) = 10.37 at the start.
    assert!(first > 9.5, "initial loss {first}");
    assert!(last < first - 3.0, "loss {first} -> {last}");
    let evals: Vec<f64> = m.iter().filter_map(|x| x["eval_loss"].as_f64()).collect();
    assert_eq!(evals.len(), 6);
    assert!(evals[5] < evals[0], "held-out loss {evals:?}");
    // The mixture: 3 : 1 in sequences, so in tokens.
    let corpora = report["corpora"].as_array().unwrap();
    let zh = corpora[0]["tokens"].as_u64().unwrap();
    let en = corpora[1]["tokens"].as_u64().unwrap();
    assert_eq!(zh + en, 60 * 256);
    assert_eq!(zh, 3 * en);
    // The final model is an HF directory this project loads.
    let info = json_of(&beyond(&[
        "info",
        "--model",
        dir.path().join("run/final").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(info["tokenizer"]["vocab_size"], 32000);
}

#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let extra = "[checkpoint]\nevery = 4\nkeep = 2\n";
    let tokens = 24 * 256;
    // Uninterrupted.
    let straight = tempfile::tempdir().unwrap();
    let manifest = pretrain_manifest(straight.path(), tokens, extra);
    let a = common::train_on_cpu(&manifest);

    // Killed after its second checkpoint, then resumed.
    let killed = tempfile::tempdir().unwrap();
    let manifest = pretrain_manifest(killed.path(), tokens, extra);
    let run = killed.path().join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args([
            "train",
            "--config",
            manifest.to_str().unwrap(),
            "--device",
            "cpu",
            "--json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = run.join("checkpoints/step-00000008/trainer.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !checkpoint.is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Nothing in the run directory is corrupt: whole metric lines, complete checkpoints.
    let lines = metrics(&run);
    assert!(lines.len() >= 8);
    for (step, dir) in checkpoints(&run) {
        assert!(step >= 4);
        for f in [
            "config.json",
            "model.safetensors",
            "optimizer.safetensors",
            "trainer.json",
            "tokenizer.json",
        ] {
            assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
        }
    }
    let b = json_of(&beyond(&[
        "train",
        "--config",
        manifest.to_str().unwrap(),
        "--device",
        "cpu",
        "--resume",
        "--json",
    ]));
    assert!(b["resumed_from_step"].as_u64().unwrap() >= 8);
    assert_eq!(a["steps"], b["steps"]);
    assert_eq!(a["tokens"], b["tokens"]);
    assert_eq!(a["final_loss"], b["final_loss"], "final loss");
    assert_eq!(a["corpora"], b["corpora"]);
    let weights = |d: &Path| std::fs::read(d.join("run/final/model.safetensors")).unwrap();
    assert!(
        weights(straight.path()) == weights(killed.path()),
        "final weights differ"
    );
    // The resumed run's metrics continue without repeats.
    let steps: Vec<u64> = metrics(&run)
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=24).collect::<Vec<_>>());
    // Without --resume, an existing run is not overwritten.
    let again = beyond(&[
        "train",
        "--config",
        manifest.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
}

fn checkpoints(run: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, e.path()))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_instruction_tuned_model_answers_its_training_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qa.jsonl");
    let examples = [
        (
            "世界人权宣言第一条说什么?",
            "人人生而自由,在尊严和权利上一律平等。",
        ),
        (
            "What does Article 3 say?",
            "Everyone has the right to life, liberty and security of person.",
        ),
        ("第三条说什么?", "人人有权享有生命、自由和人身安全。"),
    ];
    let mut text = String::new();
    for (q, a) in examples {
        text.push_str(&serde_json::json!({"instruction": q, "input": "", "output": a}).to_string());
        text.push('\n');
    }
    // A conversation record and a broken line, which is skipped and counted.
    text.push_str("{\"conversations\": [{\"from\": \"human\", \"value\": \"Hi\"}, {\"from\": \"gpt\", \"value\": \"Hello.\"}]}\n");
    text.push_str("{broken\n");
    std::fs::write(&data, text).unwrap();
    let manifest = dir.path().join("sft.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
stage = "sft"
output = "run"
seed = 1
[model]
preset = "nano"
tokenizer = "{}"
[data]
seq_len = 96
batch_size = 4
[[data.corpus]]
name = "qa"
path = "{}"
[budget]
examples = 480
[optimizer]
kind = "adamw"
weight_decay = 0.0
[schedule]
lr = 1e-2
warmup_steps = 10
decay = "cosine"
min_lr_ratio = 0.05
[checkpoint]
every = 0
[eval]
every = 0
"#,
            tokenizer().display(),
            data.display()
        ),
    )
    .unwrap();
    let report = common::train_on_cpu(&manifest);
    assert_eq!(report["steps"], 120);
    assert_eq!(report["corpora"][0]["bad_lines"], 1);
    let model = dir.path().join("run/final");
    let template = beyond::data::instruct::Template::default();
    for (q, a) in examples {
        let out = json_of(&beyond(&[
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            &template.prompt(q),
            "--greedy",
            "--max-new-tokens",
            "48",
            "--device",
            "cpu",
            "--json",
        ]));
        assert_eq!(out["text"].as_str().unwrap().trim(), a, "answer to {q}");
    }
}

#[test]
fn bad_training_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = |manifest: &Path| {
        let out = beyond(&[
            "train",
            "--config",
            manifest.to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        assert!(!out.status.success());
        assert_eq!(out.status.code(), Some(1), "an error, not a crash");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // A budget smaller than one batch.
    let m = pretrain_manifest(dir.path(), 100, "");
    let e = err(&m);
    assert!(e.contains("smaller than one batch"), "{e}");
    // A missing corpus file.
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("tokens = 100", "tokens = 10000");
    std::fs::write(
        &m,
        text.replace(&udhr("en").display().to_string(), "/nonexistent/en.txt"),
    )
    .unwrap();
    let e = err(&m);
    assert!(
        e.contains("/nonexistent/en.txt") && e.contains("does not exist"),
        "{e}"
    );
    // An empty corpus.
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n\n").unwrap();
    std::fs::write(
        &m,
        text.replace(
            &udhr("en").display().to_string(),
            &empty.display().to_string(),
        ),
    )
    .unwrap();
    let e = err(&m);
    assert!(e.contains("empty.txt") && e.contains("no documents"), "{e}");
    // A malformed JSON line with on_bad_line = "stop": the file and line are named.
    let jsonl = dir.path().join("docs.jsonl");
    std::fs::write(&jsonl, "{\"text\": \"one\"}\n{\"text\": \"two\"\n").unwrap();
    let stop = text
        .replace(
            &udhr("en").display().to_string(),
            &jsonl.display().to_string(),
        )
        .replace(
            "heldout_every = 8",
            "heldout_every = 8\non_bad_line = \"stop\"",
        );
    std::fs::write(&m, stop).unwrap();
    let e = err(&m);
    assert!(e.contains("docs.jsonl: line 2: invalid JSON"), "{e}");
    // Not a manifest at all.
    std::fs::write(&m, "stage = [").unwrap();
    let e = err(&m);
    assert!(
        e.contains("run.toml") && e.contains("not a valid run manifest"),
        "{e}"
    );
}

#[test]
fn the_shipped_example_manifests_read() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    // Complete and valid as shipped (its data is in assets/, its tokenizer too).
    let c = beyond::train::RunConfig::from_toml_file(&assets.join("pretrain-from-scratch.toml"))
        .unwrap();
    assert_eq!(c.data.corpora.len(), 2);
    assert_eq!(c.total_steps(), 204800 / 128 / 8);
    // Names a base model that a pretraining run makes first: check its form only.
    let text = std::fs::read_to_string(assets.join("sft-alpaca.toml")).unwrap();
    let sft: beyond::train::RunConfig = toml::from_str(&text).unwrap();
    assert_eq!(sft.stage, beyond::train::Stage::Sft);
    let template =
        beyond::data::instruct::Template::from_toml_file(&assets.join("templates/alpaca.toml"))
            .unwrap();
    assert_eq!(template, beyond::data::instruct::Template::default());
}

#[test]
fn a_diverging_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = pretrain_manifest(dir.path(), 40 * 256, "[checkpoint]\nevery = 1\nkeep = 1\n");
    // SGD with an absurd rate and no clipping: the weights blow up within a few steps.
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("lr = 1e-2", "lr = 1e30")
        .replace("[eval]", "[optimizer]\nkind = \"sgd\"\n\n[eval]");
    std::fs::write(&manifest, text).unwrap();
    let out = beyond(&[
        "train",
        "--config",
        manifest.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" became "), "{stderr}");
    assert!(stderr.contains("last good checkpoint is step"), "{stderr}");
    // The checkpoint it names is whole and loads.
    let (step, last) = checkpoints(&dir.path().join("run")).pop().unwrap();
    assert!(stderr.contains(&format!("step {step}")), "{stderr}");
    let info = beyond(&["info", "--model", last.to_str().unwrap(), "--json"]);
    assert!(info.status.success());
}

#[test]
fn lora_trains_adapters_merges_them_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("lora.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
stage = "pretrain"
output = "run"
seed = 3
[model]
base = "{base}"
[data]
seq_len = 48
batch_size = 4
shuffle_buffer = 8
[[data.corpus]]
name = "zh"
path = "{zh}"
[budget]
tokens = {tokens}
[optimizer]
kind = "adamw"
weight_decay = 0.0
[optimizer.lora]
rank = 4
alpha = 8
targets = ["q_proj", "v_proj", "up_proj", "down_proj"]
train_embeddings = true
[schedule]
lr = 2e-2
warmup_steps = 2
[checkpoint]
every = 10
keep = 2
[eval]
every = 0
"#,
            base = common::fixture_a().display(),
            zh = udhr("zh").display(),
            tokens = 20 * 4 * 48,
        ),
    )
    .unwrap();
    let args = [
        "train",
        "--config",
        manifest.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ];
    let a = json_of(&beyond(&args));
    let run = dir.path().join("run");
    let m = metrics(&run);
    let first = m[0]["loss"].as_f64().unwrap();
    let last = m[19]["loss"].as_f64().unwrap();
    assert!(last < first - 1.0, "loss {first} -> {last}");
    // Checkpoints keep the frozen base and the adapters apart.
    let step10 = run.join("checkpoints/step-00000010");
    assert!(step10.join("adapters.safetensors").is_file());
    let ck = beyond::model::Checkpoint::open(&step10).unwrap();
    let base_ck = beyond::model::Checkpoint::open(&common::fixture_a()).unwrap();
    let q = "model.layers.0.self_attn.q_proj.weight";
    let values = |ck: &beyond::model::Checkpoint, name: &str, shape: &[usize]| {
        ck.weights
            .read(name, shape)
            .unwrap()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(
        values(&ck, q, &[64, 64]),
        values(&base_ck, q, &[64, 64]),
        "the base stays frozen"
    );
    // The exported model has the adapters merged: q_proj changed, k_proj (no adapter) did not.
    let fin = beyond::model::Checkpoint::open(&run.join("final")).unwrap();
    let k = "model.layers.0.self_attn.k_proj.weight";
    assert_ne!(values(&fin, q, &[64, 64]), values(&base_ck, q, &[64, 64]));
    assert_eq!(values(&fin, k, &[32, 64]), values(&base_ck, k, &[32, 64]));
    // As if killed after step 10: resuming gives the same final model.
    let final_weights = std::fs::read(run.join("final/model.safetensors")).unwrap();
    std::fs::remove_dir_all(run.join("final")).unwrap();
    std::fs::remove_dir_all(run.join("checkpoints/step-00000020")).unwrap();
    let resume = [
        "train",
        "--config",
        manifest.to_str().unwrap(),
        "--device",
        "cpu",
        "--resume",
        "--json",
    ];
    let b = json_of(&beyond(&resume));
    assert_eq!(b["resumed_from_step"], 10);
    assert_eq!(a["final_loss"], b["final_loss"]);
    assert!(std::fs::read(run.join("final/model.safetensors")).unwrap() == final_weights);
    // A changed budget cannot resume the same run.
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("tokens = 3840", "tokens = 7680")).unwrap();
    let changed = beyond(&resume);
    assert_eq!(changed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&changed.stderr);
    assert!(stderr.contains("manifest changed"), "{stderr}");
}
