//! How a tokenizer treats each language: tokens per character, byte and word, the share of
//! byte-fallback (`<0x..>`) and unknown tokens, the premium against a reference language on
//! parallel text, and the characters that have no whole token of their own.
//!
//! Every non-empty line is encoded on its own, without BOS/EOS; characters and bytes are those
//! of the lines (line endings excluded).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::Result;
use crate::model::TextTokenizer;

/// One language's text.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub lang: String,
    pub text: String,
}

impl Corpus {
    /// Reads a corpus given as `LANG=FILE`; the file must be UTF-8 (the error names the file and
    /// the offset of its first invalid byte).
    pub fn read(spec: &str) -> Result<Self> {
        let (lang, path) = spec
            .split_once('=')
            .filter(|(l, p)| !l.trim().is_empty() && !p.trim().is_empty())
            .ok_or_else(|| crate::Error::InvalidInput(format!("`{spec}`: expected LANG=FILE")))?;
        let path = std::path::Path::new(path.trim());
        let bytes = std::fs::read(path).map_err(|e| crate::Error::io(path, e))?;
        let text = crate::error::utf8_text(path, bytes)?;
        Ok(Corpus {
            lang: lang.trim().to_string(),
            text,
        })
    }
}

/// The figures of one language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageStats {
    pub lines: usize,
    pub tokens: usize,
    pub characters: usize,
    pub bytes: usize,
    /// Whitespace-separated words; `None` for scripts that do not separate words with spaces.
    pub words: Option<usize>,
    pub tokens_per_character: f64,
    pub tokens_per_byte: f64,
    pub tokens_per_word: Option<f64>,
    pub byte_fallback_tokens: usize,
    pub byte_fallback_share: f64,
    pub unknown_tokens: usize,
    pub unknown_share: f64,
    /// Tokens divided by the reference language's tokens (parallel text).
    pub premium: Option<f64>,
    /// Characters of the corpus without a whole token of their own, most frequent first.
    pub missing_characters: Vec<(String, usize)>,
}

/// The non-empty lines of `text`, without line endings.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
}

/// Whether most of the text's letters come from scripts written without spaces between words
/// (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan).
fn unspaced_script(text: &str) -> bool {
    let (mut unspaced, mut letters) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        let u = c as u32;
        let no_spaces = matches!(u,
            0x0E00..=0x0EFF      // Thai, Lao
            | 0x0F00..=0x0FFF    // Tibetan
            | 0x1000..=0x109F    // Myanmar
            | 0x1780..=0x17FF    // Khmer
            | 0x3040..=0x30FF    // Hiragana, Katakana
            | 0x3400..=0x4DBF    // CJK extension A
            | 0x4E00..=0x9FFF    // CJK unified ideographs
            | 0xF900..=0xFAFF    // CJK compatibility ideographs
            | 0x20000..=0x2FFFF);
        unspaced += no_spaces as usize;
    }
    letters > 0 && unspaced * 2 > letters
}

/// Whether `token` is a byte-fallback token (`<0x41>`).
pub fn is_byte_token(token: &str) -> bool {
    token.len() == 6
        && token.starts_with("<0x")
        && token.ends_with('>')
        && token[3..5].chars().all(|c| c.is_ascii_hexdigit())
}

/// Analyses one corpus.
pub fn analyze_corpus(tokenizer: &TextTokenizer, text: &str) -> Result<LanguageStats> {
    let lines: Vec<String> = lines(text).map(str::to_string).collect();
    let unk = unknown_id(tokenizer);
    let encodings = tokenizer
        .inner
        .encode_batch(lines.clone(), false)
        .map_err(|e| crate::Error::Tokenizer {
            path: tokenizer.path.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
    let (mut tokens, mut byte_tokens, mut unknown) = (0, 0, 0);
    for e in &encodings {
        tokens += e.len();
        byte_tokens += e.get_tokens().iter().filter(|t| is_byte_token(t)).count();
        unknown += e.get_ids().iter().filter(|&&id| Some(id) == unk).count();
    }
    let characters: usize = lines.iter().map(|l| l.chars().count()).sum();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let joined = lines.join("\n");
    let words = (!unspaced_script(&joined)).then(|| {
        lines
            .iter()
            .map(|l| l.split_whitespace().count())
            .sum::<usize>()
    });
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(LanguageStats {
        lines: lines.len(),
        tokens,
        characters,
        bytes,
        words,
        tokens_per_character: ratio(tokens, characters),
        tokens_per_byte: ratio(tokens, bytes),
        tokens_per_word: words.map(|w| ratio(tokens, w)),
        byte_fallback_tokens: byte_tokens,
        byte_fallback_share: ratio(byte_tokens, tokens),
        unknown_tokens: unknown,
        unknown_share: ratio(unknown, tokens),
        premium: None,
        missing_characters: missing_characters(tokenizer, &joined),
    })
}

fn unknown_id(tokenizer: &TextTokenizer) -> Option<u32> {
    use tokenizers::models::ModelWrapper;
    let name = match tokenizer.inner.get_model() {
        ModelWrapper::BPE(bpe) => bpe.unk_token.clone(),
        ModelWrapper::WordPiece(wp) => Some(wp.unk_token.clone()),
        ModelWrapper::WordLevel(wl) => Some(wl.unk_token.clone()),
        ModelWrapper::Unigram(_) => Some("<unk>".to_string()),
    }?;
    tokenizer.inner.token_to_id(&name)
}

/// Characters (not whitespace) that are not a whole vocabulary entry, by frequency.
fn missing_characters(tokenizer: &TextTokenizer, text: &str) -> Vec<(String, usize)> {
    let known = |token: &str| tokenizer.inner.token_to_id(token).is_some();
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        *counts.entry(c).or_default() += 1;
    }
    let mut missing: Vec<(String, usize)> = counts
        .into_iter()
        .filter(|(c, _)| {
            let s = c.to_string();
            !known(&s) && !known(&format!("\u{2581}{s}"))
        })
        .map(|(c, n)| (c.to_string(), n))
        .collect();
    missing.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    missing
}

/// Analyses every corpus; with `reference`, adds each language's premium against it.
pub fn analyze(
    tokenizer: &TextTokenizer,
    corpora: &[Corpus],
    reference: Option<&str>,
) -> Result<BTreeMap<String, LanguageStats>> {
    futures_lite::future::block_on(analyze_async(tokenizer, corpora, reference))
}

/// [`analyze`], letting the host run after each language (a web page keeps drawing).
pub async fn analyze_async(
    tokenizer: &TextTokenizer,
    corpora: &[Corpus],
    reference: Option<&str>,
) -> Result<BTreeMap<String, LanguageStats>> {
    let mut out = BTreeMap::new();
    for c in corpora {
        crate::jobs::yield_now().await;
        out.insert(c.lang.clone(), analyze_corpus(tokenizer, &c.text)?);
    }
    if let Some(r) = reference {
        let base = out.get(r).map(|s| s.tokens).ok_or_else(|| {
            crate::Error::InvalidInput(format!(
                "the reference language `{r}` is not among the corpora"
            ))
        })?;
        for stats in out.values_mut() {
            stats.premium = (base > 0).then(|| stats.tokens as f64 / base as f64);
        }
    }
    Ok(out)
}

/// One token of a text, as the token microscope shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Piece {
    pub id: u32,
    /// The vocabulary entry (`▁the`, `<0xE4>`).
    pub token: String,
    /// The stretch of the input it covers, and where it starts (a byte offset).
    pub text: String,
    pub start: usize,
    pub byte_fallback: bool,
}

/// The tokens of `text` (no BOS/EOS) with the stretch of text each covers.
pub fn pieces(tokenizer: &TextTokenizer, text: &str) -> Result<Vec<Piece>> {
    let encoding = tokenizer
        .inner
        .encode(text, false)
        .map_err(|e| crate::Error::Tokenizer {
            path: tokenizer.path.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
    let offsets = encoding.get_offsets();
    Ok(encoding
        .get_ids()
        .iter()
        .zip(encoding.get_tokens())
        .zip(offsets)
        .map(|((&id, token), &(start, end))| Piece {
            id,
            token: token.clone(),
            text: text.get(start..end).unwrap_or("").to_string(),
            start,
            byte_fallback: is_byte_token(token),
        })
        .collect())
}
