//! The vocabulary analysis of the real LLaMA-2 tokenizer on the UDHR, against counts made once
//! with HF's Python `tokenizers` 0.23.3:
//!
//! ```python
//! t = Tokenizer.from_file("tokenizers/llama2/tokenizer.json")
//! lines = [l for l in open(f"corpora/udhr/{lang}.txt").read().split("\n") if l.strip()]
//! for l in lines:
//!     e = t.encode(l, add_special_tokens=False)
//!     tokens += len(e.ids); byte_fallback += sum(s.startswith("<0x") for s in e.tokens)
//!     unknown += e.ids.count(0); chars += len(l); bytes += len(l.encode())
//! ```

use crate::common;

use std::process::Command;

fn udhr(lang: &str) -> String {
    common::udhr_dir()
        .join(format!("{lang}.txt"))
        .display()
        .to_string()
}

#[test]
fn llama2_on_the_udhr_agrees_with_hf_tokenizers() {
    let tokenizer = common::llama2_tokenizer();
    let mut args = vec![
        "vocab".to_string(),
        "analyze".into(),
        "--tokenizer".into(),
        tokenizer.display().to_string(),
        "--reference".into(),
        "en".into(),
        "--json".into(),
    ];
    for lang in ["en", "zh", "fr", "am", "hi"] {
        args.push("--corpus".into());
        args.push(format!("{lang}={}", udhr(lang)));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // lang, lines, tokens, byte-fallback tokens, unknown tokens, characters, bytes.
    let expected = [
        ("en", 92, 2118, 0, 0, 10546, 10558),
        ("zh", 90, 3155, 492, 0, 2743, 8061),
        ("fr", 91, 3369, 0, 0, 11811, 12369),
        ("am", 81, 13991, 12792, 0, 5382, 16144),
        ("hi", 92, 11421, 882, 0, 10744, 28140),
    ];
    for (lang, lines, tokens, byte_fb, unk, chars, bytes) in expected {
        let s = &stats[lang];
        assert_eq!(s["lines"], lines, "{lang} lines");
        assert_eq!(s["tokens"], tokens, "{lang} tokens");
        assert_eq!(s["byte_fallback_tokens"], byte_fb, "{lang} byte fallback");
        assert_eq!(s["unknown_tokens"], unk, "{lang} unknown");
        assert_eq!(s["characters"], chars, "{lang} characters");
        assert_eq!(s["bytes"], bytes, "{lang} bytes");
        let premium = s["premium"].as_f64().unwrap();
        assert!((premium - tokens as f64 / 2118.0).abs() < 1e-12);
    }
    // Chinese is written without spaces: no word counts; English has them.
    assert!(stats["zh"]["words"].is_null());
    assert!(stats["en"]["words"].as_u64().unwrap() > 1500);
    // Amharic's script has no whole tokens in LLaMA-2's vocabulary; English has all its letters.
    assert!(stats["am"]["missing_characters"].as_array().unwrap().len() > 100);
    assert!(
        stats["en"]["missing_characters"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_microscope_pieces_cover_the_text() {
    let path = common::llama2_tokenizer();
    let t = beyond::model::TextTokenizer::open(&path, None, &[]).unwrap();
    // Most Ethiopic letters have no token in LLaMA-2 and go through bytes.
    let text = "ሰላም world";
    let pieces = beyond::vocab::pieces(&t, text).unwrap();
    let bytes: Vec<_> = pieces.iter().filter(|p| p.byte_fallback).collect();
    assert!(bytes.len() >= 6 && bytes.len() % 3 == 0, "{}", bytes.len());
    assert!(bytes.iter().all(|p| p.token.starts_with("<0x")));
    let words: Vec<&str> = pieces
        .iter()
        .filter(|p| !p.byte_fallback)
        .map(|p| p.token.as_str())
        .collect();
    assert_eq!(words.last(), Some(&"▁world"));
    // Each piece's text is where it sits in the input.
    assert!(pieces.iter().all(|p| text.contains(&p.text)));
}
