//! The CLI end to end on the HF-made fixture: every command with `--json` prints one JSON object,
//! and its numbers agree with transformers.

use crate::common;

use std::process::Command;

fn beyond(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "beyond {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object on stdout: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}

fn fixture() -> String {
    common::fixture_a().display().to_string()
}

#[test]
fn info_describes_the_fixture() {
    let info = beyond(&["info", "--model", &fixture(), "--json"]);
    // 2 * 32000 * 64 (embedding, untied head) + 2 layers + final norm.
    let per_layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 176 + 2 * 64;
    assert_eq!(info["parameters"], 2 * 32000 * 64 + 2 * per_layer + 64);
    assert_eq!(info["dtype_on_disk"], "f32");
    assert_eq!(info["architecture"]["num_kv_heads"], 2);
    assert_eq!(info["tokenizer"]["vocab_size"], 32000);
    assert_eq!(info["tokenizer"]["kind"], "BPE (byte fallback)");
}

#[test]
fn logits_from_text_match_transformers() {
    let reference = common::reference_json(&common::fixture_a());
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("logits.safetensors");
    let text = reference["prompts"][2].as_str().unwrap();
    let json = beyond(&[
        "logits",
        "--model",
        &fixture(),
        "--device",
        "cpu",
        "--text",
        text,
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]);
    let ids = common::ids(&reference["input_ids"][2]);
    assert_eq!(
        common::ids(&json["ids"]),
        ids,
        "BOS added as the tokenizer adds it"
    );
    let got = common::read_tensor(&file, "logits", &[ids.len(), 32000]);
    let expected = common::reference_tensor(&common::fixture_a(), "logits_2", &[ids.len(), 32000]);
    assert!(common::max_abs_diff(&got, &expected) <= 1e-4);
}

#[test]
fn generate_greedy_matches_the_reference_continuation() {
    let reference = common::reference_json(&common::fixture_a());
    let prompt = reference["prompts"][1].as_str().unwrap();
    let expected = common::ids(&reference["greedy_ids"]);
    let new = (expected.len() - common::ids(&reference["input_ids"][1]).len()).to_string();
    let json = beyond(&[
        "generate",
        "--model",
        &fixture(),
        "--device",
        "cpu",
        "--prompt",
        prompt,
        "--greedy",
        "--max-new-tokens",
        &new,
        "--json",
    ]);
    assert_eq!(common::ids(&json["ids"]), expected);
    assert!(json["text"].as_str().is_some());
}

#[test]
fn sampling_is_seeded() {
    let run = |seed: &str| {
        beyond(&[
            "generate",
            "--model",
            &fixture(),
            "--device",
            "cpu",
            "--prompt",
            "Everyone has",
            "--temperature",
            "0.8",
            "--top-p",
            "0.9",
            "--top-k",
            "50",
            "--seed",
            seed,
            "--max-new-tokens",
            "12",
            "--json",
        ])["ids"]
            .clone()
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"));
}

/// Reference computed once with transformers 5.23 / tokenizers 0.23.3 on tests/fixtures/text/udhr-mixed.txt:
/// for each non-empty line, `ids = Tokenizer.from_file(tokenizer.json).encode(line).ids` (BOS added),
/// `loss = LlamaForCausalLM(...)(ids, labels=ids).loss`, summed as `loss * (len(ids) - 1)`.
#[test]
fn perplexity_matches_transformers() {
    let text =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text/udhr-mixed.txt");
    for batch in ["1", "8"] {
        let json = beyond(&[
            "eval",
            "perplexity",
            "--model",
            &fixture(),
            "--device",
            "cpu",
            "--text",
            text.to_str().unwrap(),
            "--batch-size",
            batch,
            "--json",
        ]);
        let json = &json["rows"][0];
        assert_eq!(json["sequences"], 5);
        assert_eq!(json["tokens"], 80);
        assert_eq!(json["bytes"], 296);
        let nll = json["nll_per_token"].as_f64().unwrap();
        assert!(
            (nll - 11.151522850990295).abs() < 1e-4,
            "batch {batch}: {nll}"
        );
        let bpb = json["bits_per_byte"].as_f64().unwrap();
        assert!(
            (bpb - 4.3481747879685555).abs() < 1e-4,
            "batch {batch}: {bpb}"
        );
        let ppl = json["perplexity"].as_f64().unwrap();
        assert!((ppl / 69669.84414602464 - 1.0).abs() < 1e-3);
        let ci = &json["bits_per_byte_interval"];
        assert!(ci["low"].as_f64().unwrap() < bpb && bpb < ci["high"].as_f64().unwrap());
    }
}

/// Several corpora give one row each, equal to scoring each alone; two models give the change
/// per corpus, zero with an empty interval for the same model twice.
#[test]
fn perplexity_gives_one_row_per_language_and_the_change_between_models() {
    let udhr = common::udhr_dir();
    let file = |l: &str| udhr.join(format!("{l}.txt")).to_str().unwrap().to_string();
    let (en, zh, sw) = (file("en"), file("zh"), file("sw"));
    let zh_spec = format!("chinese={zh}");
    let args = |models: usize, texts: &[&str]| {
        let mut a: Vec<String> = [
            "eval",
            "perplexity",
            "--device",
            "cpu",
            "--json",
            "--max-len",
            "64",
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..models {
            a.extend(["--model".to_string(), fixture()]);
        }
        for t in texts {
            a.extend(["--text".to_string(), t.to_string()]);
        }
        a
    };
    let run = |a: Vec<String>| beyond(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let all = run(args(1, &[&en, &zh_spec, &sw]));
    let rows = all["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["corpus"].as_str().unwrap()).collect();
    assert_eq!(names, ["en", "chinese", "sw"]);
    let alone = run(args(1, &[&zh]));
    assert_eq!(alone["rows"][0]["bits_per_byte"], rows[1]["bits_per_byte"]);
    assert_eq!(alone["rows"][0]["corpus"], "zh");
    // LLaMA-2 spends more tokens per byte on Chinese (three bytes a character) than on English.
    let tokens_per_byte =
        |r: &serde_json::Value| r["tokens"].as_f64().unwrap() / r["bytes"].as_f64().unwrap();
    assert!(tokens_per_byte(&rows[1]) > tokens_per_byte(&rows[0]));
    let two = run(args(2, &[&en, &zh_spec]));
    assert_eq!(two["rows"].as_array().unwrap().len(), 4);
    let change = two["change"].as_array().unwrap();
    assert_eq!(change.len(), 2);
    for c in change {
        let d = &c["bits_per_byte"];
        assert_eq!(
            (d["value"].as_f64(), d["low"].as_f64(), d["high"].as_f64()),
            (Some(0.0), Some(0.0), Some(0.0))
        );
    }
}

#[test]
fn errors_are_json_when_asked() {
    let output = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(["info", "--model", "/nonexistent", "--json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["error"].as_str().unwrap().contains("/nonexistent"));
}

/// `beyond bench eval` runs the multiple-choice evaluation on a preset and reports its speed.
#[test]
fn bench_eval_reports_questions_per_second() {
    let tokenizer = common::llama2_tokenizer();
    let json = beyond(&[
        "bench",
        "eval",
        "--preset",
        "nano",
        "--device",
        "cpu",
        "--json",
        "--tokenizer",
        tokenizer.to_str().unwrap(),
    ]);
    assert_eq!(json["questions"], 780, "{json}");
    assert!(json["questions_per_second"].as_f64().unwrap() > 0.0);
}

/// `beyond doctor` on the CPU backend: the sums and the small model agree with the host.
#[test]
fn the_doctor_passes_the_cpu_backend() {
    let report = beyond(&["doctor", "--device", "cpu", "--json"]);
    assert_eq!(report["healthy"], true, "{report}");
    let checks = report["devices"][0]["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sums", "logits", "loss", "gradient norms"]);
    assert!(checks.iter().all(|c| c["passed"] == true), "{report}");
}

/// A device named with `--device` that cannot be set up fails the doctor, with the reason; in the
/// default list a missing GPU is only reported. (wgpu has no Metal on Linux.)
#[cfg(target_os = "linux")]
#[test]
fn the_doctor_fails_a_named_device_that_is_not_there() {
    let out = common::beyond(&["doctor", "--device", "metal", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], false, "{report}");
    let metal = &report["devices"][0];
    assert_eq!(metal["passed"], false, "{report}");
    assert!(
        metal["unavailable"]
            .as_str()
            .is_some_and(|why| !why.is_empty())
    );

    let out = common::beyond(&["doctor", "--device", "metal"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("metal could not be set up"), "{stderr}");
}
