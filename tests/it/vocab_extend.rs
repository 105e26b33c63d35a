//! Extending the real LLaMA-2 tokenizer with tokens learned from the Chinese UDHR: Chinese
//! needs clearly fewer tokens per character, English is tokenized exactly as before, every UDHR
//! language round-trips, every old id stays, and HF's own loader reads the result (the
//! `tokenizers` crate here; the Python library was checked by hand the same way).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tokenizers::Tokenizer;

fn beyond(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(args)
        .output()
        .unwrap()
}

fn udhr(lang: &str) -> PathBuf {
    common::udhr_dir().join(format!("{lang}.txt"))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn tokens_per_char(t: &Tokenizer, lines: &[String]) -> f64 {
    let tokens: usize = lines
        .iter()
        .map(|l| t.encode(l.as_str(), false).unwrap().len())
        .sum();
    let chars: usize = lines.iter().map(|l| l.chars().count()).sum();
    tokens as f64 / chars as f64
}

#[test]
fn extension_learns_chinese_and_keeps_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let base_path = common::llama2_tokenizer();
    let out = dir.path().join("extended.json");
    let run = beyond(&[
        "vocab",
        "extend",
        "--tokenizer",
        base_path.to_str().unwrap(),
        "--corpus",
        udhr("zh").to_str().unwrap(),
        "--add",
        "300",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(run.stdout.trim_ascii()).unwrap();
    assert_eq!(report["new_vocab"], 32300);

    let base = Tokenizer::from_file(&base_path).unwrap();
    let ext = Tokenizer::from_file(&out).unwrap();
    assert_eq!(ext.get_vocab_size(true), 32300);
    for id in 0..32000 {
        assert_eq!(base.id_to_token(id), ext.id_to_token(id), "id {id}");
    }
    let zh = lines(&udhr("zh"));
    let (before, after) = (tokens_per_char(&base, &zh), tokens_per_char(&ext, &zh));
    assert!(
        after < 0.7 * before,
        "zh tokens per character {before:.3} -> {after:.3}"
    );
    // New tokens are used.
    let used = zh
        .iter()
        .flat_map(|l| ext.encode(l.as_str(), false).unwrap().get_ids().to_vec())
        .filter(|&id| id >= 32000)
        .count();
    assert!(used > 500, "{used} new-token uses");
    for l in lines(&udhr("en")) {
        assert_eq!(
            base.encode(l.as_str(), false).unwrap().get_ids(),
            ext.encode(l.as_str(), false).unwrap().get_ids(),
            "English changed: {l}"
        );
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(common::udhr_dir()).unwrap() {
        for l in lines(&entry.unwrap().path()) {
            let ids = ext.encode(l.as_str(), false).unwrap().get_ids().to_vec();
            assert_eq!(ext.decode(&ids, false).unwrap(), l);
            checked += 1;
        }
    }
    assert!(checked > 5000);
}

#[test]
fn extension_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let base = common::llama2_tokenizer();
    let out = dir.path().join("x.json");
    let fails = |tokenizer: &Path, corpus: &Path, add: &str| {
        let run = beyond(&[
            "vocab",
            "extend",
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "--corpus",
            corpus.to_str().unwrap(),
            "--add",
            add,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.status.code(), Some(1));
        String::from_utf8_lossy(&run.stderr).to_string()
    };
    let e = fails(&base, &udhr("zh"), "100000");
    assert!(
        e.contains("supplies only") && e.contains("asked for 100000"),
        "{e}"
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n \n").unwrap();
    let e = fails(&base, &empty, "10");
    assert!(e.contains("empty"), "{e}");
    let word_level = dir.path().join("wordlevel.json");
    std::fs::write(
        &word_level,
        r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
        "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1},"unk_token":"[UNK]"}}"#,
    )
    .unwrap();
    let e = fails(&word_level, &udhr("zh"), "10");
    assert!(
        e.contains("wordlevel.json") && e.contains("WordLevel"),
        "{e}"
    );
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "not json").unwrap();
    let e = fails(&junk, &udhr("zh"), "10");
    assert!(e.contains("junk.json"), "{e}");
}

#[test]
fn the_sweep_draws_fertility_against_size() {
    let base = common::llama2_tokenizer();
    let zh = format!("zh={}", udhr("zh").display());
    let en = format!("en={}", udhr("en").display());
    let run = beyond(&[
        "vocab",
        "sweep",
        "--tokenizer",
        base.to_str().unwrap(),
        "--train-corpus",
        udhr("zh").to_str().unwrap(),
        "--sizes",
        "0,50,150,300",
        "--corpus",
        &zh,
        "--corpus",
        &en,
        "--reference",
        "en",
        "--json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let points: serde_json::Value = serde_json::from_slice(run.stdout.trim_ascii()).unwrap();
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 4);
    let zh: Vec<f64> = points
        .iter()
        .map(|p| {
            p["languages"]["zh"]["tokens_per_character"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(zh.windows(2).all(|w| w[1] < w[0]), "{zh:?}");
    let en: Vec<u64> = points
        .iter()
        .map(|p| p["languages"]["en"]["tokens"].as_u64().unwrap())
        .collect();
    assert!(en.iter().all(|&t| t == 2118), "{en:?}");
    assert_eq!(points[3]["vocab_size"], 32300);
    // The base point is the plain analysis (2118 English tokens, counted by HF tokenizers).
    assert_eq!(points[0]["languages"]["zh"]["tokens"], 3155);
}

/// Where Debian's `fortunes-zh` puts its Chinese text (modern sayings, Tang and Song poems).
const FORTUNES_ZH: &str = "/usr/share/games/fortunes";

/// Extension learned from the Chinese UDHR plus Chinese text from a Debian package, measured on
/// text it did not see: the last fifth of the package's modern Chinese.
#[test]
fn extension_from_registry_chinese_text_generalises() {
    let dir = Path::new(FORTUNES_ZH);
    if !dir.join("chinese").is_file() {
        assert!(
            std::env::var_os("BEYOND_REQUIRE_FORTUNES").is_none(),
            "BEYOND_REQUIRE_FORTUNES is set but {FORTUNES_ZH}/chinese is missing (apt-get install fortunes-zh)"
        );
        eprintln!("fortunes-zh is not installed: not tested");
        return;
    }
    let text = std::fs::read_to_string(dir.join("chinese")).unwrap();
    let all: Vec<&str> = text.lines().collect();
    let cut = all.len() * 4 / 5;
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train.txt");
    std::fs::write(&train, all[..cut].join("\n")).unwrap();
    let held_out: Vec<String> = all[cut..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.to_string())
        .collect();
    let base_path = common::llama2_tokenizer();
    let out = tmp.path().join("extended.json");
    let run = beyond(&[
        "vocab",
        "extend",
        "--tokenizer",
        base_path.to_str().unwrap(),
        "--corpus",
        udhr("zh").to_str().unwrap(),
        "--corpus",
        train.to_str().unwrap(),
        "--corpus",
        dir.join("tang300").to_str().unwrap(),
        "--add",
        "8000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let base = Tokenizer::from_file(&base_path).unwrap();
    let ext = Tokenizer::from_file(&out).unwrap();
    assert_eq!(ext.get_vocab_size(true), 40_000);
    let (before, after) = (
        tokens_per_char(&base, &held_out),
        tokens_per_char(&ext, &held_out),
    );
    // Measured: 1.200 -> 0.744 tokens per character on the held-out fifth.
    assert!(
        after < 0.7 * before,
        "held-out Chinese tokens per character {before:.3} -> {after:.3}"
    );
    for id in 0..32000 {
        assert_eq!(base.id_to_token(id), ext.id_to_token(id), "id {id}");
    }
    for l in lines(&udhr("en")) {
        assert_eq!(
            base.encode(l.as_str(), false).unwrap().get_ids(),
            ext.encode(l.as_str(), false).unwrap().get_ids(),
            "English changed: {l}"
        );
    }
    for l in held_out.iter().chain(&lines(&udhr("ja"))) {
        let ids = ext.encode(l.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(&ext.decode(&ids, false).unwrap(), l);
    }
}
