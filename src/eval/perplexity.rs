//! Perplexity and bits per byte of a model on text, one sequence per non-empty line.
//!
//! Each line is BOS plus its tokens; every token after BOS is predicted once. Lines longer than the
//! model's context are cut into windows that overlap by one token, so the first token of a window
//! is only context. Bits per byte (total NLL in bits over the UTF-8 bytes of the lines) stays
//! comparable across tokenizers, which perplexity per token does not.

use serde::{Deserialize, Serialize};

use super::stats::{Interval, RESAMPLES, bootstrap};
use crate::error::{Error, Result};
use crate::jobs::JobContext;
use crate::model::generate::ids_tensor;
use crate::model::{ForwardOptions, IGNORE_INDEX, Llama, TextTokenizer};

/// Perplexity of a model on a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerplexityReport {
    /// Token-weighted mean negative log-likelihood of the next token, in nats.
    pub nll_per_token: f64,
    /// `exp(nll_per_token)`.
    pub perplexity: f64,
    /// Total NLL in bits divided by the UTF-8 bytes of the lines.
    pub bits_per_byte: f64,
    /// Tokens predicted (BOS excluded).
    pub tokens: usize,
    /// UTF-8 bytes of the lines.
    pub bytes: usize,
    /// Non-empty lines.
    pub sequences: usize,
    /// Bits per byte with a bootstrap 95% interval over lines.
    pub bits_per_byte_interval: Interval,
    /// Per line: (NLL in nats, tokens predicted, bytes), for comparing two models line by line.
    #[serde(default, skip_serializing)]
    pub lines: Vec<(f64, usize, usize)>,
}

/// A corpus given as `NAME=FILE`, or as `FILE` named by its stem (`heldout/zh.txt` is `zh`).
pub fn named_corpus(spec: &str) -> (String, std::path::PathBuf) {
    if let Some((name, path)) = spec.split_once('=')
        && !name.trim().is_empty()
        && !name.contains(['/', '\\'])
    {
        return (name.trim().to_string(), path.trim().into());
    }
    let path = std::path::PathBuf::from(spec.trim());
    let name = path
        .file_stem()
        .map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned());
    (name, path)
}

/// Bits per byte of the lines picked.
fn bits_per_byte(lines: &[(f64, usize, usize)], picks: &[usize]) -> f64 {
    let (nll, bytes) = picks
        .iter()
        .fold((0.0, 0usize), |(n, b), &i| (n + lines[i].0, b + lines[i].2));
    nll / std::f64::consts::LN_2 / bytes.max(1) as f64
}

/// The change in bits per byte from `before` to `after` on the same text, with a paired
/// bootstrap interval over lines (the models may tokenize differently: bytes are the common
/// unit).
pub fn bits_per_byte_change(
    before: &PerplexityReport,
    after: &PerplexityReport,
) -> Result<Interval> {
    if before.lines.len() != after.lines.len()
        || before
            .lines
            .iter()
            .zip(&after.lines)
            .any(|(a, b)| a.2 != b.2)
    {
        return Err(Error::InvalidInput(
            "the two perplexity reports are not of the same text".into(),
        ));
    }
    Ok(bootstrap(before.lines.len(), RESAMPLES, 0, |picks| {
        bits_per_byte(&after.lines, picks) - bits_per_byte(&before.lines, picks)
    }))
}

/// Options of a perplexity run.
#[derive(Debug, Clone)]
pub struct PerplexityOptions {
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// Longest window; `None` uses the model's `max_position_embeddings`.
    pub max_len: Option<usize>,
}

impl Default for PerplexityOptions {
    fn default() -> Self {
        Self {
            batch_size: 8,
            max_len: None,
        }
    }
}

/// Windows of token ids to score: `(ids, first position whose label counts)`.
fn windows(ids: &[u32], max_len: usize) -> Vec<(Vec<u32>, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start + 1 < ids.len() {
        let end = (start + max_len).min(ids.len());
        out.push((ids[start..end].to_vec(), 1));
        start = end - 1;
    }
    out
}

/// Scores `text` line by line.
pub fn perplexity(
    model: &Llama,
    tokenizer: &TextTokenizer,
    text: &str,
    options: &PerplexityOptions,
    ctx: Option<&JobContext>,
) -> Result<PerplexityReport> {
    futures_lite::future::block_on(perplexity_async(model, tokenizer, text, options, ctx))
}

/// [`perplexity`], reading each batch's losses back without blocking and letting the host run
/// after it (a web page keeps drawing).
pub async fn perplexity_async(
    model: &Llama,
    tokenizer: &TextTokenizer,
    text: &str,
    options: &PerplexityOptions,
    ctx: Option<&JobContext>,
) -> Result<PerplexityReport> {
    let max_len = options
        .max_len
        .unwrap_or(model.config.max_position_embeddings)
        .max(2);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return Err(Error::InvalidInput("the text has no non-empty line".into()));
    }
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut segments = Vec::new();
    for (line_no, line) in lines.iter().enumerate() {
        let ids = tokenizer.encode_with_bos(line)?;
        if let Some(&bad) = ids
            .iter()
            .find(|&&id| id as usize >= model.config.vocab_size)
        {
            return Err(Error::InvalidInput(format!(
                "the tokenizer produced id {bad}, outside the model's vocabulary of {}",
                model.config.vocab_size
            )));
        }
        segments.extend(
            windows(&ids, max_len)
                .into_iter()
                .map(|(w, first)| (w, first, line_no)),
        );
    }
    // Similar lengths together waste less padding.
    segments.sort_by_key(|(ids, _, _)| std::cmp::Reverse(ids.len()));
    let mut per_line: Vec<(f64, usize, usize)> = lines.iter().map(|l| (0.0, 0, l.len())).collect();
    let device = model.device();
    let pad = tokenizer.eos_ids.first().copied().unwrap_or(0);
    let mut total_nll = 0.0f64;
    let mut tokens = 0usize;
    let batches: Vec<_> = segments.chunks(options.batch_size.max(1)).collect();
    for (i, batch) in batches.iter().enumerate() {
        if let Some(ctx) = ctx {
            ctx.check_cancelled()?;
        }
        let t = batch.iter().map(|(ids, _, _)| ids.len()).max().unwrap_or(0);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        let mut mask = Vec::new();
        for (ids, first, _) in batch.iter() {
            let mut row = ids.clone();
            row.resize(t, pad);
            let label: Vec<i64> = (0..t)
                .map(|j| match j < ids.len() && j >= *first {
                    true => ids[j] as i64,
                    false => IGNORE_INDEX,
                })
                .collect();
            mask.push((0..t).map(|j| u8::from(j < ids.len())).collect());
            rows.push(row);
            labels.push(label);
        }
        let padded = batch.iter().any(|(ids, _, _)| ids.len() < t);
        let (nll, count) = model.token_nll(
            ids_tensor(&rows, &device),
            ForwardOptions {
                attention_mask: padded.then_some(mask.as_slice()),
                cache: None,
            },
            &labels,
        );
        let values = nll
            .into_data_async()
            .await
            .map_err(|e| Error::Device(format!("reading losses: {e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| Error::Device(format!("reading losses: {e:?}")))?;
        total_nll += values.iter().map(|&v| v as f64).sum::<f64>();
        tokens += count;
        for (row, (ids, first, line_no)) in batch.iter().enumerate() {
            let nll: f64 = values[row * (t - 1)..(row + 1) * (t - 1)]
                .iter()
                .map(|&v| v as f64)
                .sum();
            per_line[*line_no].0 += nll;
            per_line[*line_no].1 += ids.len() - first;
        }
        if let Some(ctx) = ctx {
            ctx.progress(
                "scoring",
                (i + 1) as u64,
                Some(batches.len() as u64),
                "batches",
            );
        }
        crate::jobs::yield_now().await;
    }
    let nll_per_token = total_nll / tokens.max(1) as f64;
    Ok(PerplexityReport {
        nll_per_token,
        perplexity: nll_per_token.exp(),
        bits_per_byte: total_nll / std::f64::consts::LN_2 / bytes.max(1) as f64,
        tokens,
        bytes,
        sequences: lines.len(),
        bits_per_byte_interval: bootstrap(per_line.len(), RESAMPLES, 0, |picks| {
            bits_per_byte(&per_line, picks)
        }),
        lines: per_line,
    })
}

#[cfg(test)]
mod tests {
    use super::windows;

    #[test]
    fn windows_predict_every_token_once() {
        let ids: Vec<u32> = (0..10).collect();
        let w = windows(&ids, 4);
        let predicted: usize = w.iter().map(|(ids, first)| ids.len() - first).sum();
        assert_eq!(predicted, 9);
        assert_eq!(w[0].0, vec![0, 1, 2, 3]);
        assert_eq!(w[1].0, vec![3, 4, 5, 6]);
        assert_eq!(w.last().unwrap().0, vec![6, 7, 8, 9]);
        assert!(windows(&[5], 4).is_empty());
    }
}
