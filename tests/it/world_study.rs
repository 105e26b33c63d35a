//! The world end to end through the CLI: generate a small world, train its English base model
//! with the shipped recipe on the CPU, and put the world's benchmark to it. The base model knows
//! what the English corpus told it and guesses at what nothing told it.

use std::process::Command;

fn beyond(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(args)
        .output()
        .expect("run beyond");
    assert!(
        output.status.success(),
        "beyond {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_base_model_trained_on_the_english_corpus_knows_what_it_was_told() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world");
    let w = world.to_str().unwrap();
    let summary: serde_json::Value = serde_json::from_str(&beyond(&[
        "world", "generate", "--seed", "5", "--out", w, "--people", "40", "--json",
    ]))
    .unwrap();
    assert_eq!(summary["seed"], 5);
    let start = std::time::Instant::now();
    beyond(&[
        "train",
        "--config",
        world.join("recipes/base.toml").to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]);
    eprintln!(
        "base model trained in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let model = world.join("runs/base/final");
    let report: serde_json::Value = serde_json::from_str(&beyond(&[
        "eval",
        "mcq",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "world",
        "--data",
        w,
        "--device",
        "cpu",
        "--json",
    ]))
    .unwrap();
    let report = &report["models"][0][1];
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&report["modes"]).unwrap()
    );
    let text = report["modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["scoring"] == "text")
        .unwrap();
    let subject = |name: &str| {
        text["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["accuracy"]
            .clone()
    };
    let told = subject("english_only");
    let never = subject("never_seen");
    // Far above chance (25%) on what the corpus told, with the interval clear of it ...
    assert!(told["low"].as_f64().unwrap() > 0.35, "{told}");
    // ... and at chance on what nothing told: the interval holds 25%.
    assert!(
        never["low"].as_f64().unwrap() < 0.25 && never["high"].as_f64().unwrap() > 0.25,
        "{never}"
    );
    // Both scorings are reported.
    assert_eq!(report["modes"].as_array().unwrap().len(), 2);
}
