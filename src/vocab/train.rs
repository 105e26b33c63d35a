//! Training a byte-fallback BPE tokenizer of LLaMA's kind from a corpus: `<unk>`, `<s>`, `</s>`,
//! the 256 byte tokens `<0x00>`..`<0xFF>`, then the characters of the corpus (most frequent
//! first) and the merges learned over it. Text is normalized as LLaMA's is (a leading `▁`, spaces
//! as `▁`), so any input encodes, characters the vocabulary lacks falling back to their bytes,
//! and decodes back exactly.

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::extend::{Scope, learn};
use crate::error::Result;
use crate::model::TextTokenizer;

/// Ids of the special tokens and of the first byte token.
const SPECIALS: [&str; 3] = ["<unk>", "<s>", "</s>"];

/// What training made.
#[derive(Debug, Clone, Serialize)]
pub struct Trained {
    /// The tokenizer, as `tokenizer.json` text.
    #[serde(skip)]
    pub json: String,
    pub vocab_size: usize,
    /// Single characters in the vocabulary.
    pub characters: usize,
    pub merges: usize,
}

/// Trains a tokenizer of `vocab_size` ids (specials and bytes included) on `corpus`, one
/// document a line. Characters and pairs rarer than `min_frequency` are not learned; a corpus
/// too small to fill the vocabulary is an error saying how many tokens it supplies.
pub fn train(corpus: &str, vocab_size: usize, min_frequency: u64) -> Result<Trained> {
    let skeleton = skeleton();
    let fixed = SPECIALS.len() + 256;
    if vocab_size <= fixed {
        return Err(crate::error::Error::InvalidInput(format!(
            "a vocabulary must be larger than its {fixed} special and byte tokens; asked for {vocab_size}"
        )));
    }
    let base = TextTokenizer::from_bytes(
        skeleton.as_bytes(),
        Path::new("<byte-fallback skeleton>"),
        None,
        None,
        &[],
    )?;
    let learned = learn(&base, corpus, vocab_size - fixed, min_frequency, Scope::All)?;
    Ok(Trained {
        json: learned.json,
        vocab_size: learned.new_vocab,
        characters: learned.characters_added,
        merges: learned.merges_added,
    })
}

/// A LLaMA-layout tokenizer with the specials and the byte tokens only.
fn skeleton() -> String {
    let mut vocab = serde_json::Map::new();
    for (i, s) in SPECIALS.iter().enumerate() {
        vocab.insert(s.to_string(), json!(i));
    }
    for b in 0..=255u32 {
        vocab.insert(format!("<0x{b:02X}>"), json!(SPECIALS.len() as u32 + b));
    }
    let added: Vec<serde_json::Value> = SPECIALS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": i, "content": s, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u{2581}"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}
        ]},
        "pre_tokenizer": null,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}
        ]},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": "<unk>",
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": vocab, "merges": []
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(json: &str) -> TextTokenizer {
        TextTokenizer::from_bytes(json.as_bytes(), Path::new("t.json"), None, None, &[]).unwrap()
    }

    #[test]
    fn learns_words_and_round_trips_anything() {
        let corpus = "the cat sat on the mat\nthe cat ate the rat\n".repeat(20);
        let t = train(&corpus, 286, 2).unwrap();
        let tok = open(&t.json);
        assert_eq!(tok.vocab_size(), 286);
        assert_eq!(tok.inner.token_to_id("<0x41>"), Some(3 + 0x41));
        assert!(tok.inner.token_to_id("\u{2581}the").is_some());
        assert_eq!(tok.encode("the cat", false).unwrap().len(), 2);
        for text in ["the cat", "Überraschung! 猫が座った", "tabs\tand  spaces"] {
            let ids = tok.encode(text, false).unwrap();
            assert_eq!(tok.decode(&ids).unwrap(), text);
        }
        // BOS first, as LLaMA's tokenizer does.
        assert_eq!(tok.encode("cat", true).unwrap()[0], 1);
    }

    #[test]
    fn too_small_a_vocabulary_is_refused() {
        assert!(train("abc", 259, 1).is_err());
        assert!(train("abc", 1000, 1).is_err());
    }
}
