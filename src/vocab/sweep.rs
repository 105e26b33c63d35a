//! The analysis at several extension sizes: the fertility-versus-size curve.

use std::collections::BTreeMap;

use serde::Serialize;

use super::analyze::{Corpus, LanguageStats, analyze_async};
use super::extend::extend;
use crate::error::{Error, Result};
use crate::model::TextTokenizer;

/// One size of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Tokens added to the base (0: the base itself).
    pub added: usize,
    pub vocab_size: usize,
    pub languages: BTreeMap<String, LanguageStats>,
}

/// Extends `base` from `train_corpus` by each of `sizes` tokens and analyses `corpora` with
/// every result.
pub fn sweep(
    base: &TextTokenizer,
    train_corpus: &str,
    sizes: &[usize],
    min_frequency: u64,
    corpora: &[Corpus],
    reference: Option<&str>,
) -> Result<Vec<SweepPoint>> {
    futures_lite::future::block_on(sweep_async(
        base,
        train_corpus,
        sizes,
        min_frequency,
        corpora,
        reference,
    ))
}

/// [`sweep`], letting the host run after each extension and each language's analysis (a web
/// page keeps drawing).
pub async fn sweep_async(
    base: &TextTokenizer,
    train_corpus: &str,
    sizes: &[usize],
    min_frequency: u64,
    corpora: &[Corpus],
    reference: Option<&str>,
) -> Result<Vec<SweepPoint>> {
    if sizes.is_empty() {
        return Err(Error::InvalidInput("--sizes names no size".into()));
    }
    let mut points = Vec::with_capacity(sizes.len());
    for &added in sizes {
        let tokenizer = match added {
            0 => None,
            n => {
                let ext = extend(base, train_corpus, n, min_frequency)?;
                Some(TextTokenizer::from_bytes(
                    ext.json.as_bytes(),
                    &base.path,
                    None,
                    base.bos_id,
                    &base.eos_ids,
                )?)
            }
        };
        crate::jobs::yield_now().await;
        let t = tokenizer.as_ref().unwrap_or(base);
        points.push(SweepPoint {
            added,
            vocab_size: t.vocab_size(),
            languages: analyze_async(t, corpora, reference).await?,
        });
    }
    Ok(points)
}
