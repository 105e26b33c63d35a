//! Extending a byte-fallback BPE tokenizer (LLaMA's kind) with tokens learned from a
//! target-language corpus, in the spirit of Chinese-LLaMA growing LLaMA's 32,000 tokens: every
//! old token keeps its id, new tokens get the ids after the old vocabulary, and every new token
//! comes with the merge that builds it (appended after the old merges), so encoding stays a
//! plain BPE that still round-trips every input through byte fallback.
//!
//! Learning starts from what the old tokenizer makes of each word: characters it only knows as
//! bytes become tokens first (most frequent first), then the most frequent adjacent pairs are
//! merged. Only tokens with a non-ASCII character are learned, so English text, which the old
//! merges already cover, is tokenized exactly as before. [`learn`] with [`Scope::All`] lifts
//! that restriction, which is how [`crate::vocab::train`] grows a tokenizer from bytes alone.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use serde::Serialize;
use tokenizers::{Model, NormalizedString, Normalizer};

use crate::error::{Error, Result};
use crate::model::TextTokenizer;

/// What an extension added.
#[derive(Debug, Clone, Serialize)]
pub struct Extension {
    /// The new tokenizer, as `tokenizer.json` text.
    #[serde(skip)]
    pub json: String,
    pub old_vocab: usize,
    pub new_vocab: usize,
    /// Characters added as tokens of their own.
    pub characters_added: usize,
    /// Tokens added through merges.
    pub merges_added: usize,
    /// The first new tokens, in order.
    pub sample: Vec<String>,
}

/// Learns up to `add` new tokens from `corpus` (one document a line) and adds them to `base`.
/// Pairs and characters rarer than `min_frequency` are not learned; asking for more tokens than
/// the corpus can supply is an error that says how many it can.
pub fn extend(
    base: &TextTokenizer,
    corpus: &str,
    add: usize,
    min_frequency: u64,
) -> Result<Extension> {
    learn(base, corpus, add, min_frequency, Scope::NonAscii)
}

/// Which new tokens a learner may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only tokens with a non-ASCII character: English keeps its old tokenization.
    NonAscii,
    /// Any token: for growing a vocabulary from bytes up.
    All,
}

/// [`extend`] with a choice of which tokens may be learned.
pub fn learn(
    base: &TextTokenizer,
    corpus: &str,
    add: usize,
    min_frequency: u64,
    scope: Scope,
) -> Result<Extension> {
    let json: serde_json::Value =
        serde_json::from_str(&base.inner.to_string(false).map_err(|e| Error::Tokenizer {
            path: base.path.clone(),
            reason: e.to_string(),
        })?)
        .map_err(|e| Error::Tokenizer {
            path: base.path.clone(),
            reason: e.to_string(),
        })?;
    let model = &json["model"];
    if model["type"] != "BPE" || model["byte_fallback"] != true {
        return Err(Error::Tokenizer {
            path: base.path.clone(),
            reason: format!(
                "extension supports byte-fallback BPE models (LLaMA, Mistral); this one is {}",
                base.model_kind()
            ),
        });
    }
    if add == 0 {
        return Err(Error::InvalidInput("--add must be at least 1".into()));
    }
    let words = word_counts(base, corpus)?;
    if words.is_empty() {
        return Err(Error::InvalidInput("the corpus is empty".into()));
    }
    let vocab = base.inner.get_vocab(true);
    let mut learner = Learner::new(base, &words, &vocab)?;
    let mut new_tokens: Vec<String> = Vec::new();
    let mut new_merges: Vec<(String, String)> = Vec::new();
    // Characters known only as bytes, most frequent first.
    for (c, n) in learner.missing_characters() {
        if new_tokens.len() == add || n < min_frequency {
            break;
        }
        new_tokens.push(c);
    }
    let characters_added = new_tokens.len();
    learner.promote(&new_tokens);
    let mut known: HashSet<String> = vocab.keys().cloned().collect();
    known.extend(new_tokens.iter().cloned());
    while new_tokens.len() < add {
        let Some((a, b, n)) = learner.best_pair(&known, scope) else {
            break;
        };
        if n < min_frequency {
            break;
        }
        let merged = format!("{a}{b}");
        learner.merge(&a, &b);
        known.insert(merged.clone());
        new_tokens.push(merged);
        new_merges.push((a, b));
    }
    if new_tokens.len() < add {
        return Err(Error::InvalidInput(format!(
            "the corpus supplies only {} new tokens (at minimum frequency {min_frequency}); asked for {add}",
            new_tokens.len()
        )));
    }
    let old_vocab = base.vocab_size();
    let json = write_extended(json, &new_tokens, &new_merges, old_vocab)?;
    Ok(Extension {
        json,
        old_vocab,
        new_vocab: old_vocab + new_tokens.len(),
        characters_added,
        merges_added: new_merges.len(),
        sample: new_tokens.iter().take(20).cloned().collect(),
    })
}

/// The corpus's words (pieces that start at a `▁` after normalization) and their counts.
fn word_counts(base: &TextTokenizer, corpus: &str) -> Result<HashMap<String, u64>> {
    let mut counts = HashMap::new();
    for line in crate::vocab::analyze::lines(corpus) {
        let mut normalized = NormalizedString::from(line);
        if let Some(n) = base.inner.get_normalizer() {
            n.normalize(&mut normalized).map_err(|e| Error::Tokenizer {
                path: base.path.clone(),
                reason: e.to_string(),
            })?;
        }
        let text = normalized.get();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c == '\u{2581}' && i > start {
                *counts.entry(text[start..i].to_string()).or_default() += 1;
                start = i;
            }
        }
        if start < text.len() {
            *counts.entry(text[start..].to_string()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Words as symbol sequences, with pair counts kept up to date as merges apply.
struct Learner {
    words: Vec<(Vec<String>, u64)>,
    pairs: HashMap<(String, String), u64>,
    where_: HashMap<(String, String), HashSet<usize>>,
    /// Byte-fallback characters and their counts.
    missing: BTreeMap<String, u64>,
    /// Characters that stay bytes: no merge may use them.
    unusable: HashSet<String>,
    /// Candidate pairs by count, most frequent (then smallest) first; entries go stale as counts
    /// change and are checked against `pairs` when they come up.
    queue: BinaryHeap<(u64, Reverse<(String, String)>)>,
}

impl Learner {
    fn new(
        base: &TextTokenizer,
        words: &HashMap<String, u64>,
        vocab: &HashMap<String, u32>,
    ) -> Result<Self> {
        let model = base.inner.get_model();
        let mut out = Self {
            words: Vec::with_capacity(words.len()),
            pairs: HashMap::new(),
            where_: HashMap::new(),
            missing: BTreeMap::new(),
            unusable: HashSet::new(),
            queue: BinaryHeap::new(),
        };
        let mut sorted: Vec<(&String, &u64)> = words.iter().collect();
        sorted.sort();
        for (word, &n) in sorted {
            let tokens = model.tokenize(word).map_err(|e| Error::Tokenizer {
                path: base.path.clone(),
                reason: e.to_string(),
            })?;
            // Byte tokens of one character: fold them back into the character.
            let mut symbols: Vec<String> = Vec::with_capacity(tokens.len());
            let mut last_char: Option<usize> = None;
            for t in tokens {
                if crate::vocab::analyze::is_byte_token(&t.value) {
                    let mut start = t.offsets.0.min(word.len());
                    while !word.is_char_boundary(start) {
                        start -= 1;
                    }
                    if last_char == Some(start) {
                        continue;
                    }
                    last_char = Some(start);
                    let Some(ch) = word[start..].chars().next() else {
                        continue;
                    };
                    let c = ch.to_string();
                    if !vocab.contains_key(&c) {
                        *out.missing.entry(c.clone()).or_default() += n;
                    }
                    symbols.push(c);
                } else {
                    last_char = None;
                    symbols.push(t.value);
                }
            }
            out.words.push((symbols, n));
        }
        Ok(out)
    }

    fn missing_characters(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.missing.iter().map(|(c, n)| (c.clone(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Counts pairs, once the alphabet is settled: pairs with a character that stays bytes
    /// could never be merged.
    fn promote(&mut self, added: &[String]) {
        let added: HashSet<&String> = added.iter().collect();
        for (i, (symbols, n)) in self.words.iter().enumerate() {
            for w in symbols.windows(2) {
                let usable = |s: &String| !self.missing.contains_key(s) || added.contains(s);
                if usable(&w[0]) && usable(&w[1]) {
                    let key = (w[0].clone(), w[1].clone());
                    *self.pairs.entry(key.clone()).or_default() += n;
                    self.where_.entry(key).or_default().insert(i);
                }
            }
        }
        self.unusable = self
            .missing
            .keys()
            .filter(|c| !added.contains(c))
            .cloned()
            .collect();
        self.queue = self
            .pairs
            .iter()
            .map(|(k, &n)| (n, Reverse(k.clone())))
            .collect();
    }

    /// The most frequent pair whose merge is new and, in [`Scope::NonAscii`], has a non-ASCII
    /// character (ties: the smallest pair).
    fn best_pair(
        &mut self,
        known: &HashSet<String>,
        scope: Scope,
    ) -> Option<(String, String, u64)> {
        while let Some((n, Reverse(key))) = self.queue.pop() {
            let current = self.pairs.get(&key).copied().unwrap_or(0);
            if current == 0 {
                continue;
            }
            if current != n {
                // Stale: the count changed since this entry was queued.
                self.queue.push((current, Reverse(key)));
                continue;
            }
            let merged = format!("{}{}", key.0, key.1);
            // Known tokens only accumulate and ASCII-only stays ASCII-only: such a pair never
            // qualifies again, so it leaves the queue for good.
            let ascii_only = !merged.chars().any(|c| !c.is_ascii() && c != '\u{2581}');
            if known.contains(&merged) || (scope == Scope::NonAscii && ascii_only) {
                continue;
            }
            return Some((key.0, key.1, n));
        }
        None
    }

    /// Applies the merge `a b` everywhere, updating the pair counts of the words it touches.
    fn merge(&mut self, a: &str, b: &str) {
        let key = (a.to_string(), b.to_string());
        let Some(ids) = self.where_.remove(&key) else {
            return;
        };
        self.pairs.remove(&key);
        let merged = format!("{a}{b}");
        for i in ids {
            let (symbols, n) = &self.words[i];
            let n = *n;
            for w in symbols.windows(2) {
                let k = (w[0].clone(), w[1].clone());
                if let Some(c) = self.pairs.get_mut(&k) {
                    *c = c.saturating_sub(n);
                }
            }
            let mut next = Vec::with_capacity(symbols.len());
            let mut j = 0;
            while j < symbols.len() {
                if j + 1 < symbols.len() && symbols[j] == a && symbols[j + 1] == b {
                    next.push(merged.clone());
                    j += 2;
                } else {
                    next.push(symbols[j].clone());
                    j += 1;
                }
            }
            for w in next.windows(2) {
                let k = (w[0].clone(), w[1].clone());
                if self.unusable.contains(&w[0]) || self.unusable.contains(&w[1]) {
                    continue;
                }
                let count = self.pairs.entry(k.clone()).or_default();
                *count += n;
                self.queue.push((*count, Reverse(k.clone())));
                self.where_.entry(k).or_default().insert(i);
            }
            self.words[i].0 = next;
        }
    }
}

/// The base tokenizer JSON with the new tokens and merges appended.
fn write_extended(
    mut json: serde_json::Value,
    tokens: &[String],
    merges: &[(String, String)],
    old_vocab: usize,
) -> Result<String> {
    let model = json
        .get_mut("model")
        .and_then(|m| m.as_object_mut())
        .ok_or_else(|| Error::InvalidInput("tokenizer JSON without a model".into()))?;
    let vocab = model
        .get_mut("vocab")
        .and_then(|v| v.as_object_mut())
        .ok_or_else(|| Error::InvalidInput("tokenizer JSON without a vocabulary".into()))?;
    for (k, t) in tokens.iter().enumerate() {
        vocab.insert(t.clone(), serde_json::json!(old_vocab + k));
    }
    let list = model
        .get_mut("merges")
        .and_then(|m| m.as_array_mut())
        .ok_or_else(|| Error::InvalidInput("tokenizer JSON without merges".into()))?;
    let as_pairs = list.first().is_some_and(|m| m.is_array());
    for (a, b) in merges {
        list.push(match as_pairs {
            true => serde_json::json!([a, b]),
            false => serde_json::json!(format!("{a} {b}")),
        });
    }
    serde_json::to_string(&json).map_err(|e| Error::Serialize(e.to_string()))
}
