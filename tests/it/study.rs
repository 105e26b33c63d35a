//! The study end to end through the CLI, on a micro world: the same study run twice gives the
//! same `results.csv`; one killed with SIGKILL and run again gives the same results as one that
//! was not; a study on real inputs (the HF fixture, the UDHR, a C-Eval-layout folder) runs
//! through the same code; bad studies are refused before anything runs, and nothing already
//! computed is touched; a configured judge scores every answer.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn beyond(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(args)
        .output()
        .expect("run beyond")
}

fn ok(args: &[&str]) -> serde_json::Value {
    let out = beyond(args);
    assert!(
        out.status.success(),
        "beyond {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A study small enough for a test: 12 people, two settings of the vocabulary, one of further
/// pretraining and of instruction tuning, two seeds.
const MICRO: &str = r#"
name = "micro"
title = "A micro study"
target = "zh"

[world]
seed = 4
people = 12
target_tokens = 3000
base_epochs = 2

[grid]
vocab = ["original", "extended:24"]
pretrain_tokens = [0, 2048]
instruct_examples = [16]
seeds = [1, 2]

[training]
seq_len = 64
batch_size = 8
sft_batch_size = 8

[measure]
answers = 6
max_new_tokens = 8
heldout_lines = 12
examples = 2

[[finding]]
id = "tokens"
claim = "An extended vocabulary encodes the target language in fewer tokens per character."
measure = "tokens_per_char.zh"
axis = "vocab"
a = "extended:24"
b = "original"
expect = "a_lower"
control = true

[[finding]]
id = "modelling"
claim = "Further pretraining lowers the target language's bits per byte."
measure = "bits_per_byte.zh"
axis = "pretrain_tokens"
a = 2048
b = 0
expect = "a_lower"
at = { vocab = "original" }
"#;

fn run_micro(file: &Path, workspace: &Path) -> serde_json::Value {
    ok(&[
        "study",
        "run",
        file.to_str().unwrap(),
        "--out",
        workspace.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ])
}

fn done_stages(store: &Path) -> usize {
    std::fs::read_dir(store)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().join("done.json").is_file())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_study_gives_the_same_results_twice_and_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("micro.toml");
    std::fs::write(&file, MICRO).unwrap();

    // An uninterrupted run.
    let a = dir.path().join("a");
    let start = Instant::now();
    let outcome = run_micro(&file, &a);
    eprintln!("micro study in {:.1} s", start.elapsed().as_secs_f64());
    let stages = outcome["stages"].as_u64().unwrap();
    // World, base, one vocabulary, 2 vocab x 2 seeds x (pretrain + sft) - the shared ones...
    assert_eq!(outcome["stages_run"], outcome["stages"]);
    let csv_a = std::fs::read_to_string(a.join("micro/results.csv")).unwrap();

    // Run again in place: nothing to do, the same results.
    let again = run_micro(&file, &a);
    assert_eq!(again["stages_run"], 0);
    assert_eq!(
        std::fs::read_to_string(a.join("micro/results.csv")).unwrap(),
        csv_a
    );

    // A second workspace: killed with SIGKILL once the base model is done and further stages
    // are under way, then run again to the end.
    let b = dir.path().join("b");
    let mut child = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args([
            "study",
            "run",
            file.to_str().unwrap(),
            "--out",
            b.to_str().unwrap(),
            "--device",
            "cpu",
            "--json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while done_stages(&b.join("store")) < 4 && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed_at = done_stages(&b.join("store"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        (killed_at as u64) < stages,
        "the study finished before it could be killed"
    );
    let resumed = run_micro(&file, &b);
    assert!(resumed["stages_run"].as_u64().unwrap() < stages);
    let csv_b = std::fs::read_to_string(b.join("micro/results.csv")).unwrap();
    assert_eq!(csv_a, csv_b, "killed and resumed, the results differ");

    // The results: one row per cell x seed x measurement, with a seed column.
    let mut reader = csv::Reader::from_reader(csv_a.as_bytes());
    let header = reader.headers().unwrap().clone();
    for col in ["cell", "seed", "measure", "value", "low", "high"] {
        assert!(header.iter().any(|h| h == col), "no column {col}");
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let measures = [
        "knowledge.zh.both_languages",
        "knowledge.en.english_only",
        "bits_per_byte.zh",
        "bits_per_byte.en",
        "tokens_per_char.zh",
        "answers.zh.fact_correct",
    ];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for m in measures {
        // 2 vocab x 2 pretrain x 2 seeds.
        let n = rows.iter().filter(|r| &r[col("measure")] == m).count();
        assert_eq!(n, 8, "rows of {m}");
    }
    // The years, written alike in both languages, are measured apart.
    assert!(
        rows.iter()
            .any(|r| r[col("measure")].ends_with(".english_only.numeric")),
        "no numeric subset"
    );
    // Answers without a letter leave the code-switching rate out, never a made-up value.
    let switching = rows
        .iter()
        .filter(|r| &r[col("measure")] == "answers.zh.codeswitch_rate")
        .count();
    assert!(
        (1..=8).contains(&switching),
        "{switching} code-switching rows"
    );
    for r in &rows {
        let (v, lo, hi): (f64, f64, f64) = (
            r[col("value")].parse().unwrap(),
            r[col("low")].parse().unwrap(),
            r[col("high")].parse().unwrap(),
        );
        assert!(lo <= v + 1e-12 && v <= hi + 1e-12, "{r:?}");
    }

    // The findings: verdicts computed from the data. The extended vocabulary must encode the
    // target language in fewer tokens: the control agrees.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("micro/summary.json")).unwrap())
            .unwrap();
    let tokens = &summary["findings"][0];
    assert_eq!(tokens["verdict"], "agrees", "{tokens}");
    assert!(tokens["effect"]["high"].as_f64().unwrap() < 0.0);

    // The report: one self-contained HTML page with inline SVG figures, Markdown, PNG figures.
    let html = std::fs::read_to_string(a.join("micro/report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("agrees"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    let md = std::fs::read_to_string(a.join("micro/report.md")).unwrap();
    assert!(md.contains("| tokens (control) |"), "{md}");
    let png = std::fs::read(a.join("micro/figures/tokens.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(a.join("micro/figures/modelling.svg").is_file());

    // `study report` redraws the same from the results folder.
    std::fs::remove_file(a.join("micro/report.html")).unwrap();
    let redrawn = ok(&[
        "study",
        "report",
        a.join("micro").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(redrawn["findings"][0]["verdict"], "agrees");
    assert!(a.join("micro/report.html").is_file());
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_study_on_real_inputs_runs_through_the_same_code() {
    let fixture = common::fixture_a();
    if !fixture.is_dir() {
        eprintln!("skipped: no fixture at {}", fixture.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    write(
        dir.path(),
        "ceval/val/human_rights_val.csv",
        "id,question,A,B,C,D,answer\n\
         0,《世界人权宣言》第一条说人人生而什么?,自由,贫穷,孤独,富有,A\n\
         1,《世界人权宣言》是哪一年通过的?,1948年,1960年,1919年,2000年,A\n\
         2,人人有权享有生命、自由和什么?,人身安全,财产,荣誉,名声,A\n",
    );
    let study = format!(
        r#"
name = "real"
title = "The HF fixture on the UDHR"
target = "zh"

[inputs]
model = {model:?}
corpus = {{ zh = {zh:?}, en = {en:?} }}
heldout = {{ zh = {zh:?}, en = {en:?} }}
instruct = {{ zh = {instruct:?} }}
prompts = {{ zh = {instruct:?} }}

[[inputs.benchmark]]
format = "ceval"
path = "ceval"
language = "zh"

[grid]
vocab = ["original", "extended:40"]
pretrain_tokens = [512]
english_share = [0.0, 0.5]
instruct_examples = [8]
seeds = [1]

[training]
seq_len = 64
batch_size = 4
sft_batch_size = 4

[measure]
answers = 3
max_new_tokens = 6
heldout_lines = 10

# A LoRA run trained elsewhere, at the same grid point as a cell of the grid: measured and
# shown, never mixed into a finding.
[[elsewhere]]
name = "lora"
model = {lora:?}
pretrain_tokens = 512
instruct_examples = 8
seed = 1

[[finding]]
id = "tokens"
claim = "An extended vocabulary encodes Chinese in fewer tokens per character."
measure = "tokens_per_char.zh"
axis = "vocab"
a = "extended:40"
b = "original"
expect = "a_lower"
"#,
        model = fixture.to_str().unwrap(),
        lora = common::repo("tests/fixtures/tiny-llama-a-lora")
            .to_str()
            .unwrap(),
        zh = assets.join("corpora/udhr/zh.txt").to_str().unwrap(),
        en = assets.join("corpora/udhr/en.txt").to_str().unwrap(),
        instruct = assets
            .join("instructions/udhr-articles.jsonl")
            .to_str()
            .unwrap(),
    );
    let file = write(dir.path(), "real.toml", &study);
    let ws = dir.path().join("ws");
    let outcome = run_micro(&file, &ws);
    // 2 vocab x 2 mixes: 1 vocabulary stage, 4 pretraining, 4 tuning, 4 measurements; and
    // the model trained elsewhere, measured.
    assert_eq!(outcome["stages"], 14, "{outcome}");
    let csv = std::fs::read_to_string(ws.join("real/results.csv")).unwrap();
    for m in [
        "knowledge.zh.ceval",
        "bits_per_byte.zh",
        "bits_per_byte.en",
        "tokens_per_char.zh",
        "answers.zh.codeswitch_rate",
    ] {
        assert_eq!(csv.matches(&format!(",{m},")).count(), 5, "{m} in\n{csv}");
    }
    // As many rows as the grid cell at its point, under a name of its own.
    assert_eq!(
        csv.matches(",elsewhere-lora_").count(),
        csv.matches(",zh_v-original_pt-512_en-0_sft-8,").count(),
        "{csv}"
    );
    assert_eq!(outcome["summary"]["findings"][0]["verdict"], "agrees");
    // The finding pairs the grid's own runs only: original and extended at each mix.
    assert_eq!(outcome["summary"]["findings"][0]["runs"], 2, "{outcome}");
    let report = std::fs::read_to_string(ws.join("real/report.md")).unwrap();
    assert!(report.contains("lora (trained elsewhere)"), "{report}");
    // The resized model of the extended cells holds 40 more rows.
    let store = ws.join("store");
    let vocab_dir = std::fs::read_dir(&store)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("vocab-"))
        .unwrap()
        .path();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(vocab_dir.join("model/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["vocab_size"], 32040);
}

#[test]
fn bad_studies_are_refused_before_anything_runs_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    // A workspace with results in it already.
    let ws = dir.path().join("ws");
    let kept = write(
        &ws,
        "store/base-0123456789abcdef/done.json",
        "{\"seconds\": 1}",
    );
    let report = write(&ws, "micro/report.md", "# an earlier report\n");
    let bad = |name: &str, text: &str, expect: &[&str]| {
        let file = write(dir.path(), name, text);
        let out = beyond(&[
            "study",
            "run",
            file.to_str().unwrap(),
            "--out",
            ws.to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        assert!(!out.status.success(), "{name} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        for e in expect {
            assert!(err.contains(e), "{name}: `{e}` not in: {err}");
        }
    };
    bad(
        "axis.toml",
        &MICRO.replace("seeds = [1, 2]", "seeds = [1, 2]\nbatch = [1, 2]"),
        &["axis.toml", "unknown field `batch`"],
    );
    bad(
        "pack.toml",
        &MICRO.replace("people = 12", "people = 12\nlanguages = [\"en\", \"yo\"]"),
        &["pack.toml", "`yo` has no language pack"],
    );
    let many: Vec<String> = (0..300).map(|s| s.to_string()).collect();
    bad(
        "grid.toml",
        &MICRO.replace("seeds = [1, 2]", &format!("seeds = [{}]", many.join(", "))),
        &["grid.toml", "1200 runs", "more than 256"],
    );
    bad(
        "missing.toml",
        r#"
name = "missing"
title = "a corpus that is not there"
target = "zh"
[inputs]
model = "model"
corpus = { zh = "no-such-corpus.txt" }
[grid]
pretrain_tokens = [4096]
seeds = [1]
"#,
        &["missing.toml", "no config.json"],
    );
    let fixture = common::fixture_a();
    if fixture.is_dir() {
        bad(
            "corpus.toml",
            &format!(
                "name = \"c\"\ntitle = \"t\"\ntarget = \"zh\"\n[inputs]\nmodel = {:?}\ncorpus = {{ zh = \"no-such-corpus.txt\" }}\n[grid]\npretrain_tokens = [4096]\nseeds = [1]\n",
                fixture.to_str().unwrap()
            ),
            &[
                "corpus.toml",
                "corpus.zh",
                "no-such-corpus.txt",
                "does not exist",
            ],
        );
    }
    // Nothing was created or removed.
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "{\"seconds\": 1}");
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        "# an earlier report\n"
    );
    let entries: Vec<String> = std::fs::read_dir(ws.join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["base-0123456789abcdef"]);
}

#[test]
fn the_shipped_studies_read_at_both_scales() {
    let list = ok(&["study", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "rq1-vocabulary",
            "rq2-scale",
            "rq3-english",
            "rq4-codeswitch",
            "multilingual"
        ]
    );
    for s in list.as_array().unwrap() {
        // Three seeds for everything after the base model (the multilingual study: a run per
        // language and budget instead).
        assert!(s["runs_quick"].as_u64().unwrap() >= 9, "{s}");
        assert!(s["findings"].as_u64().unwrap() >= 2, "{s}");
    }
}

/// A judge that gives every answer the same scores, over HTTP as an OpenAI-compatible API
/// does; returns its base address and how many requests it answered.
fn fixed_judge() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let asked: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(asked["model"], "fixed");
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let reply = serde_json::json!({"choices": [{"message": {"role": "assistant",
                "content": "{\"accuracy\": 2, \"fluency\": 3, \"informativeness\": 1, \"logicality\": 2, \"harmlessness\": 3}"}}]})
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, count)
}

#[test]
fn a_configured_judge_scores_every_answer_on_the_five_aspects() {
    let dir = tempfile::tempdir().unwrap();
    let (url, asked) = fixed_judge();
    let text = MICRO
        .replace(
            "vocab = [\"original\", \"extended:24\"]",
            "vocab = [\"original\"]",
        )
        .replace("pretrain_tokens = [0, 2048]", "pretrain_tokens = [0]")
        .replace("seeds = [1, 2]", "seeds = [1]")
        .replace(
            "examples = 2\n",
            &format!("examples = 2\njudge = {{ url = \"{url}\", model = \"fixed\" }}\n"),
        );
    let text = &text[..text.find("[[finding]]").unwrap()];
    let file = write(dir.path(), "judged.toml", text);
    run_micro(&file, &dir.path().join("ws"));
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        6,
        "one request per answer"
    );
    let csv = std::fs::read_to_string(dir.path().join("ws/micro/results.csv")).unwrap();
    let value = |measure: &str| -> f64 {
        let line = csv
            .lines()
            .find(|l| l.contains(&format!(",{measure},")))
            .unwrap_or_else(|| panic!("no {measure} in {csv}"));
        line.split(',').nth(9).unwrap().parse().unwrap()
    };
    for (measure, expected) in [
        ("quality.zh.accuracy", 2.0),
        ("quality.zh.fluency", 3.0),
        ("quality.zh.informativeness", 1.0),
        ("quality.zh.average", 2.2),
        ("quality.zh.scored", 1.0),
    ] {
        assert!((value(measure) - expected).abs() < 1e-9, "{measure}");
    }
    let report = std::fs::read_to_string(dir.path().join("ws/micro/report.md")).unwrap();
    assert!(report.contains("Answer quality by the judge"), "{report}");
}
