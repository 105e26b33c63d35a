//! Handing a run to LLaMA-Factory: the YAML read back against the manifest, the data and model
//! it points at, refusals, and the way back (a PEFT adapter merged to PEFT's own logits). Where
//! `llamafactory-cli` is installed (or `BEYOND_REQUIRE_LLAMAFACTORY=1` demands it), exported runs
//! are trained by LLaMA-Factory and their results evaluated here.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::common::{beyond, fixture_a, json_of, max_abs_diff, read_tensor, repo, udhr_dir};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A pretraining manifest with a value other than the default in every setting it maps.
fn pretrain_manifest(dir: &Path, tokens: u64) -> PathBuf {
    let path = dir.join("pt.toml");
    write(
        &path,
        &format!(
            r#"
stage = "pretrain"
output = "runs/pt"
seed = 7

[model]
base = "{base}"

[data]
seq_len = 64
batch_size = 4
grad_accum = 2
heldout_every = 10

[[data.corpus]]
name = "zh"
path = "{udhr}/zh.txt"
weight = 0.75

[[data.corpus]]
name = "en"
path = "{udhr}/en.txt"
weight = 0.25

[budget]
tokens = {tokens}

[optimizer]
beta1 = 0.85
beta2 = 0.98
eps = 1e-7
weight_decay = 0.05
clip_norm = 0.5

[schedule]
lr = 2e-3
warmup_steps = 3
decay = "cosine"
min_lr_ratio = 0.05

[checkpoint]
every = 5
keep = 3

[eval]
every = 4
sequences = 8
"#,
            base = fixture_a().display(),
            udhr = udhr_dir().display(),
        ),
    );
    path
}

/// An instruction-tuning manifest with LoRA on some projections and the embeddings.
fn sft_manifest(dir: &Path, examples: u64, lr: f64) -> PathBuf {
    let path = dir.join("sft.toml");
    write(
        &path,
        &format!(
            r#"
stage = "sft"
output = "runs/sft"
seed = 3

[model]
base = "{base}"

[data]
seq_len = 96
batch_size = 4
heldout_every = 8

[[data.corpus]]
name = "udhr-qa"
path = "{instructions}"

[budget]
examples = {examples}

[optimizer]
kind = "adamw"
weight_decay = 0.0
clip_norm = 1.0

[optimizer.lora]
rank = 4
alpha = 8.0
targets = ["q_proj", "v_proj", "up_proj"]
train_embeddings = true

[schedule]
lr = {lr}
warmup_steps = 2
decay = "linear"
min_lr_ratio = 0.1

[checkpoint]
every = 0
keep = 1

[eval]
every = 2
sequences = 4
"#,
            base = fixture_a().display(),
            instructions = repo("assets/instructions/udhr-articles.jsonl").display(),
        ),
    );
    path
}

fn export(manifest: &Path, out: &Path) -> serde_json::Value {
    json_of(&beyond(&[
        "export",
        "llama-factory",
        "--config",
        manifest.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]))
}

fn read_yaml(out: &Path) -> serde_yaml_ng::Mapping {
    let text = std::fs::read_to_string(out.join("llama_factory.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn get<'a>(yaml: &'a serde_yaml_ng::Mapping, key: &str) -> &'a Value {
    yaml.get(key)
        .unwrap_or_else(|| panic!("the YAML has no `{key}`"))
}

fn num(yaml: &serde_yaml_ng::Mapping, key: &str) -> f64 {
    get(yaml, key)
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number"))
}

fn text<'a>(yaml: &'a serde_yaml_ng::Mapping, key: &str) -> &'a str {
    get(yaml, key)
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string"))
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_pretraining_run_reads_back_from_the_yaml_setting_by_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("lf");
    let tokens = 64 * 4 * 2 * 6; // six steps
    let report = export(&pretrain_manifest(dir, tokens), &out);
    let yaml = read_yaml(&out);

    assert_eq!(text(&yaml, "stage"), "pt");
    assert_eq!(text(&yaml, "finetuning_type"), "full");
    assert_eq!(text(&yaml, "model_name_or_path"), "model");
    assert_eq!(num(&yaml, "cutoff_len"), 64.0);
    assert_eq!(num(&yaml, "per_device_train_batch_size"), 4.0);
    assert_eq!(num(&yaml, "gradient_accumulation_steps"), 2.0);
    assert_eq!(num(&yaml, "max_steps"), 6.0);
    assert_eq!(num(&yaml, "learning_rate"), 2e-3);
    assert_eq!(text(&yaml, "lr_scheduler_type"), "cosine_with_min_lr");
    let kwargs = get(&yaml, "lr_scheduler_kwargs").as_mapping().unwrap();
    assert_eq!(kwargs.get("min_lr_rate").unwrap().as_f64(), Some(0.05));
    assert_eq!(num(&yaml, "warmup_steps"), 3.0);
    assert_eq!(text(&yaml, "optim"), "adamw_torch");
    assert_eq!(num(&yaml, "adam_beta1"), 0.85);
    assert_eq!(num(&yaml, "adam_beta2"), 0.98);
    assert_eq!(num(&yaml, "adam_epsilon"), 1e-7);
    assert_eq!(num(&yaml, "weight_decay"), 0.05);
    assert_eq!(num(&yaml, "max_grad_norm"), 0.5);
    assert_eq!(num(&yaml, "seed"), 7.0);
    assert_eq!(num(&yaml, "save_steps"), 5.0);
    assert_eq!(num(&yaml, "save_total_limit"), 3.0);
    assert_eq!(text(&yaml, "eval_strategy"), "steps");
    assert_eq!(num(&yaml, "eval_steps"), 4.0);
    assert_eq!(get(&yaml, "packing").as_bool(), Some(true));
    assert_eq!(get(&yaml, "bf16").as_bool(), Some(false));

    // The datasets it names are registered and exist; the mixture is in the files.
    let datasets: Vec<&str> = text(&yaml, "dataset").split(',').collect();
    assert_eq!(datasets, ["beyond_zh", "beyond_en"]);
    let registry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("data/dataset_info.json")).unwrap())
            .unwrap();
    for name in datasets.iter().chain([&text(&yaml, "eval_dataset")]) {
        let file = registry[name]["file_name"].as_str().unwrap();
        assert!(out.join("data").join(file).is_file(), "{name}: {file}");
    }
    let files = report["data"]["train"].as_array().unwrap();
    let tokens_of = |i: usize| files[i]["tokens"].as_f64().unwrap();
    let share = tokens_of(0) / (tokens_of(0) + tokens_of(1));
    assert!((share - 0.75).abs() < 0.05, "zh share {share}");
    assert!(tokens_of(0) + tokens_of(1) >= tokens as f64);
    let first = &jsonl(&out.join("data/zh.jsonl"))[0];
    assert!(first["text"].as_str().unwrap().starts_with("<s>"));
    // Held-out documents are the ones a run holds out: none of them is trained on.
    let held: Vec<String> = jsonl(&out.join("data/heldout.jsonl"))
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    assert!(!held.is_empty());
    let trained: Vec<String> = jsonl(&out.join("data/zh.jsonl"))
        .iter()
        .chain(&jsonl(&out.join("data/en.jsonl")))
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    assert!(held.iter().all(|h| !trained.contains(h)));

    // The starting model is the base, and opens.
    let info = json_of(&beyond(&[
        "info",
        "--model",
        out.join("model").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(
        info["parameters"],
        json_of(&beyond(&[
            "info",
            "--model",
            fixture_a().to_str().unwrap(),
            "--json"
        ]))["parameters"]
    );
    assert!(out.join("model/tokenizer_config.json").is_file());

    // RUN.md carries the commands, the mapping and the differences.
    let run = std::fs::read_to_string(out.join("RUN.md")).unwrap();
    for needle in [
        "llamafactory-cli train",
        "FORCE_TORCHRUN=1",
        "NNODES=2",
        "| `schedule.lr` | `learning_rate` |",
        "What runs differently",
    ] {
        assert!(run.contains(needle), "RUN.md lacks {needle}");
    }
    // Exporting over a trained result is refused, so it is not lost.
    std::fs::create_dir_all(out.join("output")).unwrap();
    let again = beyond(&[
        "export",
        "llama-factory",
        "--config",
        dir.join("pt.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("holds a trained result"));
}

#[test]
fn an_instruction_run_with_lora_reads_back_from_the_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("lf");
    export(&sft_manifest(dir, 20, 1e-3), &out);
    let yaml = read_yaml(&out);
    assert_eq!(text(&yaml, "stage"), "sft");
    assert_eq!(text(&yaml, "finetuning_type"), "lora");
    assert_eq!(num(&yaml, "lora_rank"), 4.0);
    assert_eq!(num(&yaml, "lora_alpha"), 8.0);
    assert_eq!(text(&yaml, "lora_target"), "q_proj,v_proj,up_proj");
    assert_eq!(text(&yaml, "additional_target"), "embed_tokens,lm_head");
    assert_eq!(num(&yaml, "max_steps"), 5.0); // 20 examples, 4 a step
    assert_eq!(num(&yaml, "cutoff_len"), 96.0);
    assert_eq!(text(&yaml, "template"), "empty");
    assert_eq!(get(&yaml, "packing").as_bool(), Some(false));
    assert_eq!(text(&yaml, "save_strategy"), "no");
    assert_eq!(text(&yaml, "lr_scheduler_type"), "warmup_stable_decay");
    let kwargs = get(&yaml, "lr_scheduler_kwargs").as_mapping().unwrap();
    assert_eq!(kwargs.get("decay_type").unwrap().as_str(), Some("linear"));
    assert_eq!(kwargs.get("min_lr_ratio").unwrap().as_f64(), Some(0.1));
    assert_eq!(kwargs.get("num_decay_steps").unwrap().as_u64(), Some(3));

    // Conversations carry the Alpaca template, BOS and EOS as text.
    let registry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("data/dataset_info.json")).unwrap())
            .unwrap();
    assert_eq!(registry["beyond_udhr-qa"]["formatting"], "sharegpt");
    let records = jsonl(&out.join("data/udhr-qa.jsonl"));
    let turns = records[0]["conversations"].as_array().unwrap();
    assert_eq!(turns[0]["from"], "human");
    let prompt = turns[0]["value"].as_str().unwrap();
    assert!(prompt.starts_with("<s>Below is an instruction"), "{prompt}");
    assert!(prompt.ends_with("### Response:\n"), "{prompt}");
    assert!(turns[1]["value"].as_str().unwrap().ends_with("</s>"));
    // One example in eight is held out, as a run holds it out.
    let source = std::fs::read_to_string(repo("assets/instructions/udhr-articles.jsonl")).unwrap();
    let total = source.lines().filter(|l| !l.trim().is_empty()).count();
    let held = jsonl(&out.join("data/heldout.jsonl")).len();
    assert_eq!(held, total / 8);
    assert_eq!(records.len() + held, total);
}

#[test]
fn a_setting_llama_factory_cannot_express_is_refused_by_name() {
    // A tokenizer whose EOS is in the vocabulary but not a special token: written as text it
    // would be split into pieces, so the data cannot carry it to LLaMA-Factory.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut tokenizer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(crate::common::llama2_tokenizer()).unwrap()).unwrap();
    tokenizer["added_tokens"]
        .as_array_mut()
        .unwrap()
        .retain(|t| t["content"] != "</s>");
    let tokenizer_path = dir.join("tokenizer.json");
    std::fs::write(&tokenizer_path, serde_json::to_vec(&tokenizer).unwrap()).unwrap();
    let manifest = dir.join("fresh.toml");
    write(
        &manifest,
        &format!(
            "output = \"runs/fresh\"\n[model]\npreset = \"nano\"\ntokenizer = \"{}\"\n\
             [data]\nseq_len = 32\nbatch_size = 2\n[[data.corpus]]\nname = \"en\"\npath = \"{}/en.txt\"\n\
             [budget]\ntokens = 640\n",
            tokenizer_path.display(),
            udhr_dir().display()
        ),
    );
    let out = dir.join("lf");
    let run = beyond(&[
        "export",
        "llama-factory",
        "--config",
        manifest.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("EOS token `</s>`"), "{stderr}");
    assert!(
        stderr.contains("tokenizer.json"),
        "names the file: {stderr}"
    );
    assert!(!out.join("llama_factory.yaml").exists());
}

#[test]
fn a_peft_adapter_opens_merged_into_its_base_with_pefts_logits() {
    let adapter = repo("tests/fixtures/tiny-llama-a-lora");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adapter.join("reference.json")).unwrap()).unwrap();
    let ids: Vec<String> = reference["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("logits.safetensors");
    let run = json_of(&beyond(&[
        "logits",
        "--model",
        adapter.to_str().unwrap(),
        "--ids",
        &ids.join(","),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]));
    assert!(run.is_object());
    let shape = [ids.len(), 32000];
    let ours = read_tensor(&out, "logits", &shape);
    let theirs = read_tensor(&adapter.join("reference.safetensors"), "logits", &shape);
    let worst = max_abs_diff(&ours, &theirs);
    assert!(worst < 1e-4, "largest logit difference {worst}");
    // Without the adapter the logits are not these: the merge did something.
    let base_out = dir.join("base.safetensors");
    json_of(&beyond(&[
        "logits",
        "--model",
        fixture_a().to_str().unwrap(),
        "--ids",
        &ids.join(","),
        "--out",
        base_out.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]));
    let moved = max_abs_diff(&read_tensor(&base_out, "logits", &shape), &theirs);
    assert!(
        moved > 1e-2,
        "the adapter changes the logits by only {moved}"
    );
}

/// `llamafactory-cli`: `BEYOND_LLAMAFACTORY_CLI`, or on the PATH. `None` skips the tests that
/// need it, unless `BEYOND_REQUIRE_LLAMAFACTORY=1`.
fn llamafactory_cli() -> Option<PathBuf> {
    let found = std::env::var_os("BEYOND_LLAMAFACTORY_CLI")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("llamafactory-cli"))
                .find(|p| p.is_file())
        });
    let required = std::env::var("BEYOND_REQUIRE_LLAMAFACTORY").is_ok_and(|v| v == "1");
    match found {
        Some(cli) => Some(cli),
        None if required => panic!(
            "BEYOND_REQUIRE_LLAMAFACTORY=1 but llamafactory-cli is not on the PATH (or in BEYOND_LLAMAFACTORY_CLI)"
        ),
        None => {
            eprintln!("skipped: llamafactory-cli not found (pip install llamafactory)");
            None
        }
    }
}

/// Runs LLaMA-Factory on the export in `out`, on the CPU.
fn train_with_llama_factory(cli: &Path, out: &Path) {
    let started = std::time::Instant::now();
    let run = std::process::Command::new(cli)
        .args(["train", "llama_factory.yaml"])
        .current_dir(out)
        .env("CUDA_VISIBLE_DEVICES", "")
        .env("HF_HUB_OFFLINE", "1")
        .env("DISABLE_VERSION_CHECK", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
        .output()
        .unwrap();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success(),
        "llamafactory-cli train failed:\n{log}"
    );
    eprintln!(
        "llamafactory-cli train: {:.1} s; last lines:\n{}",
        started.elapsed().as_secs_f64(),
        log.lines().rev().take(6).collect::<Vec<_>>().join("\n")
    );
}

/// Bits per byte of `text` under the exported start and LLaMA-Factory's result: (start, trained,
/// the paired change's upper end).
fn bits_per_byte(out: &Path, text: &Path) -> (f64, f64, f64) {
    let report = json_of(&beyond(&[
        "eval",
        "perplexity",
        "--model",
        out.join("model").to_str().unwrap(),
        out.join("output").to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]));
    let rows = report["rows"].as_array().unwrap();
    let bpb = |i: usize| rows[i]["bits_per_byte"].as_f64().unwrap();
    let high = report["change"][0]["bits_per_byte"]["high"]
        .as_f64()
        .unwrap();
    (bpb(0), bpb(1), high)
}

/// Held-out texts of an export, one per line, without the special tokens written as text.
fn heldout_text(out: &Path, field: impl Fn(&serde_json::Value) -> Vec<String>) -> PathBuf {
    let lines: Vec<String> = jsonl(&out.join("data/heldout.jsonl"))
        .iter()
        .flat_map(field)
        .map(|t| t.replace("<s>", "").replace("</s>", "").replace('\n', " "))
        .filter(|t| !t.trim().is_empty())
        .collect();
    let path = out.join("heldout.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// Exports the manifest `write_manifest` writes, trains it with LLaMA-Factory, checks it left
/// `leaves` in `output/`, and asserts that the held-out texts `held` picks from each held-out
/// record have fewer bits per byte under the result than under the exported start.
fn round_trip_lowers_bits_per_byte(
    what: &str,
    write_manifest: impl FnOnce(&Path) -> PathBuf,
    leaves: &str,
    held: impl Fn(&serde_json::Value) -> Vec<String>,
) {
    let Some(cli) = llamafactory_cli() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lf");
    export(&write_manifest(tmp.path()), &out);
    train_with_llama_factory(&cli, &out);
    assert!(
        out.join("output").join(leaves).is_file(),
        "{what} leaves {leaves}"
    );
    let text = heldout_text(&out, held);
    let (start, trained, high) = bits_per_byte(&out, &text);
    eprintln!("{what}, held-out bits/byte: {start:.4} -> {trained:.4} (change up to {high:+.4})");
    assert!(trained < start && high < 0.0, "{start} -> {trained}");
}

#[test]
fn llama_factory_trains_an_exported_pretraining_run_and_beyond_reads_the_result() {
    // A full run leaves an HF directory.
    round_trip_lowers_bits_per_byte(
        "pretraining",
        |dir| pretrain_manifest(dir, 64 * 4 * 2 * 12),
        "config.json",
        |r| vec![r["text"].as_str().unwrap().to_string()],
    );
}

#[test]
fn llama_factory_trains_an_exported_lora_run_and_beyond_merges_the_result() {
    // A LoRA run leaves an adapter; the held-out texts are the responses.
    round_trip_lowers_bits_per_byte(
        "LoRA instruction tuning",
        |dir| sft_manifest(dir, 48, 5e-3),
        "adapter_config.json",
        |r| {
            r["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["from"] == "gpt")
                .map(|t| t["value"].as_str().unwrap().to_string())
                .collect()
        },
    );
}

#[test]
fn a_run_trained_by_llama_factory_reads_as_steps_beside_ours() {
    let dir = repo("tests/fixtures/llama-factory-run");
    let steps = beyond::train::read_run_history(&dir).unwrap();
    assert_eq!(steps.len(), 12);
    assert_eq!(
        steps.iter().map(|s| s.step).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert!((steps[0].loss - 11.167339324951172).abs() < 1e-12);
    assert!((steps[1].lr - 0.0006666666666666666).abs() < 1e-15);
    assert!(steps[0].grad_norm > 0.0);
    assert_eq!(steps[11].eval_loss, Some(10.492361068725586));
    // The manifest evaluated every 4 steps.
    let evaluated: Vec<u64> = steps
        .iter()
        .filter(|s| s.eval_loss.is_some())
        .map(|s| s.step)
        .collect();
    assert_eq!(evaluated, [4, 8, 12]);
    // A folder with neither file has no steps; a broken state file is named.
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        beyond::train::read_run_history(tmp.path())
            .unwrap()
            .is_empty()
    );
    std::fs::write(
        tmp.path().join("trainer_state.json"),
        "{\"log_history\": 3}",
    )
    .unwrap();
    let e = beyond::train::read_run_history(tmp.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("trainer_state.json") && e.contains("log_history"),
        "{e}"
    );
}
