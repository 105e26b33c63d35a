//! Growing the fixture's vocabulary to an extended LLaMA-2 tokenizer: old tokens keep their
//! logits exactly, `subword-mean` rows are the means of the right old rows (ids of the pieces
//! computed once with HF `tokenizers` 0.23.3: "世界" -> ['▁', '世', '界'] = [28705, 30050, 29822],
//! "人权" -> [28705, 29086, 29520]; the lone '▁' comes from the prepended space and is not part of
//! the token), and the resized model loads and trains.

use crate::common;

use std::path::Path;
use std::process::Command;

use beyond::model::Checkpoint;
use tokenizers::{AddedToken, Tokenizer};

fn beyond(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap_or(serde_json::Value::Null)
}

fn rows(dir: &Path, name: &str, shape: [usize; 2]) -> Vec<f32> {
    Checkpoint::open(dir)
        .unwrap()
        .weights
        .read(name, &shape)
        .unwrap()
        .try_into_vec::<f32>()
        .unwrap()
}

fn mean_rows(all: &[f32], ids: &[usize], width: usize) -> Vec<f32> {
    (0..width)
        .map(|j| {
            (ids.iter().map(|&i| all[i * width + j] as f64).sum::<f64>() / ids.len() as f64) as f32
        })
        .collect()
}

#[test]
fn resized_model_keeps_old_logits_and_initialises_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::fixture_a();
    // An extended tokenizer: LLaMA-2's plus two Chinese words at ids 32000 and 32001.
    let mut tok = Tokenizer::from_file(fixture.join("tokenizer.json")).unwrap();
    // Not normalized: the tokens are the bare words (a normalized one would become "▁世界").
    let words = ["世界", "人权"].map(|w| AddedToken::from(w, false).normalized(false));
    assert_eq!(tok.add_tokens(words).unwrap(), 2);
    let extended = dir.path().join("extended.json");
    tok.save(&extended, false).unwrap();

    let out = dir.path().join("resized");
    let report = beyond(&[
        "vocab",
        "resize",
        "--model",
        fixture.to_str().unwrap(),
        "--tokenizer",
        extended.to_str().unwrap(),
        "--init",
        "subword-mean",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(report["old_vocab"], 32000);
    assert_eq!(report["new_vocab"], 32002);

    // New rows: the means of the pieces' rows, in the embedding and the (untied) head.
    for name in ["model.embed_tokens.weight", "lm_head.weight"] {
        let old = rows(&fixture, name, [32000, 64]);
        let new = rows(&out, name, [32002, 64]);
        assert_eq!(&new[..32000 * 64], &old[..], "{name}: old rows untouched");
        let want = [
            mean_rows(&old, &[30050, 29822], 64),
            mean_rows(&old, &[29086, 29520], 64),
        ];
        for (k, w) in want.iter().enumerate() {
            let got = &new[(32000 + k) * 64..(32001 + k) * 64];
            let diff = got
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-6, "{name} row {}: {diff}", 32000 + k);
        }
    }

    // Old tokens: the same logits over the old vocabulary.
    let ids = "1,450,4996,17354,1701,432,29889";
    let logits = |model: &Path, file: &str| {
        let path = dir.path().join(file);
        beyond(&[
            "logits",
            "--model",
            model.to_str().unwrap(),
            "--ids",
            ids,
            "--out",
            path.to_str().unwrap(),
            "--device",
            "cpu",
            "--json",
        ]);
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("logits").unwrap();
        let vocab = t.shape()[1];
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (vocab, values)
    };
    let (v0, before) = logits(&fixture, "before.safetensors");
    let (v1, after) = logits(&out, "after.safetensors");
    assert_eq!((v0, v1), (32000, 32002));
    for row in 0..7 {
        assert_eq!(
            &before[row * v0..(row + 1) * v0],
            &after[row * v1..row * v1 + v0],
            "row {row}"
        );
    }

    // `mean`: every new row is the mean of all old rows.
    let out_mean = dir.path().join("resized-mean");
    beyond(&[
        "vocab",
        "resize",
        "--model",
        fixture.to_str().unwrap(),
        "--tokenizer",
        extended.to_str().unwrap(),
        "--init",
        "mean",
        "--out",
        out_mean.to_str().unwrap(),
    ]);
    let old = rows(&fixture, "model.embed_tokens.weight", [32000, 64]);
    let new = rows(&out_mean, "model.embed_tokens.weight", [32002, 64]);
    let all: Vec<usize> = (0..32000).collect();
    let want = mean_rows(&old, &all, 64);
    let diff = new[32001 * 64..]
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-6, "mean row: {diff}");

    // The resized model trains.
    let manifest = dir.path().join("train.toml");
    std::fs::write(
        &manifest,
        format!(
            "output = \"run\"\n[model]\nbase = \"{}\"\n[data]\nseq_len = 32\nbatch_size = 2\n\
             [[data.corpus]]\nname = \"zh\"\npath = \"{}\"\n[budget]\ntokens = 192\n\
             [optimizer]\ntrainable = \"embeddings-and-head\"\n[checkpoint]\nevery = 0\n[eval]\nevery = 0\n",
            out.display(),
            common::udhr_dir().join("zh.txt").display()
        ),
    )
    .unwrap();
    let trained = common::train_on_cpu(&manifest);
    assert_eq!(trained["steps"], 3);
}

#[test]
fn resize_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::fixture_a();
    let run = |tokenizer: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_beyond"))
            .args([
                "vocab",
                "resize",
                "--model",
                fixture.to_str().unwrap(),
                "--tokenizer",
            ])
            .arg(tokenizer)
            .args(["--out", dir.path().join("out").to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // Not a tokenizer.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"model\": 3}").unwrap();
    let e = run(&junk);
    assert!(e.contains("junk.json"), "{e}");
    // A tokenizer that moves an old id.
    let text = std::fs::read_to_string(fixture.join("tokenizer.json")).unwrap();
    let swapped = text.replacen("\"<unk>\": 0", "\"<unk>\": 7777777", 1);
    let moved = dir.path().join("moved.json");
    std::fs::write(&moved, swapped).unwrap();
    let e = run(&moved);
    assert!(e.contains("moved.json"), "{e}");
    assert!(
        !dir.path().join("out/model.safetensors").exists(),
        "nothing written"
    );
}
