//! Text generation with the KV cache: greedy or sampled (temperature, top-k, top-p, repetition
//! penalty), stopping at EOS, at stop strings or after a number of tokens, streaming each token
//! through a callback.
//!
//! The logits processors run in the order of transformers' `generate`: repetition penalty,
//! temperature, top-k, top-p. Random draws come from a seeded ChaCha generator, so a seed gives
//! the same text on every platform.

use std::ops::ControlFlow;

use burn::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::cache::KvCache;
use super::llama::{ForwardOptions, Llama};
use super::tokenizer::TextTokenizer;
use crate::error::{Error, Result};

/// How to choose each next token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingConfig {
    /// Most tokens to add after the prompt.
    pub max_new_tokens: usize,
    /// `0` picks the most likely token (greedy); otherwise logits are divided by it.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens (`0` keeps all).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `p` (`1` keeps all).
    pub top_p: f32,
    /// Above 1 discourages tokens already present (CTRL's penalty, as in transformers).
    pub repetition_penalty: f32,
    /// Seed of the random draws.
    pub seed: u64,
    /// Stop when the generated text contains one of these; the text is cut before it.
    pub stop: Vec<String>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
            stop: Vec::new(),
        }
    }
}

impl SamplingConfig {
    /// Greedy decoding of at most `max_new_tokens` tokens.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            ..Self::default()
        }
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        if self.temperature.is_nan() || self.temperature < 0.0 || !self.temperature.is_finite() {
            return Err(Error::InvalidInput(
                "temperature must be 0 or positive".into(),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::InvalidInput("top-p must be in (0, 1]".into()));
        }
        if self.repetition_penalty.is_nan() || self.repetition_penalty <= 0.0 {
            return Err(Error::InvalidInput(
                "repetition penalty must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Eos,
    MaxTokens,
    StopString,
    MaxPositions,
    Cancelled,
}

/// One token as it is generated.
#[derive(Debug, Clone, Serialize)]
pub struct TokenStep {
    pub id: u32,
    /// New text this token completes (empty while a multi-byte character is still partial).
    pub text: String,
}

/// The result of a generation.
#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    /// Prompt ids followed by the new ids.
    pub ids: Vec<u32>,
    pub prompt_len: usize,
    /// Text of the new tokens only.
    pub text: String,
    pub stop_reason: StopReason,
}

/// Picks next tokens from logits.
pub struct Sampler {
    config: SamplingConfig,
    rng: StdRng,
}

impl Sampler {
    pub fn new(config: SamplingConfig) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        Self { config, rng }
    }

    /// The next token given the logits of the last position and every id so far.
    pub fn next(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let c = &self.config;
        if c.repetition_penalty != 1.0 {
            let mut seen = history.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l < 0.0 {
                        *l * c.repetition_penalty
                    } else {
                        *l / c.repetition_penalty
                    };
                }
            }
        }
        if c.temperature == 0.0 {
            return argmax(logits);
        }
        let mut order: Vec<usize> = (0..logits.len()).collect();
        // Stable sort: ties keep id order, as torch.sort does on CPU.
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        if c.top_k > 0 {
            order.truncate(c.top_k.min(order.len()));
        }
        let max = logits[order[0]];
        let mut probs: Vec<f64> = order
            .iter()
            .map(|&i| (((logits[i] - max) / c.temperature) as f64).exp())
            .collect();
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= sum);
        if c.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= c.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            order.truncate(keep);
            let sum: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= sum);
        }
        let draw: f64 = self.rng.random();
        let mut acc = 0.0;
        for (p, &id) in probs.iter().zip(&order) {
            acc += p;
            if draw < acc {
                return id as u32;
            }
        }
        *order.last().expect("at least one candidate") as u32
    }
}

/// Index of the largest value, the first one on ties (as `torch.argmax`).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Generates from `prompt` (ids, BOS included if wanted). With a tokenizer, text is decoded as
/// it comes and stop strings apply; without one, only ids are produced. `on_token` may stop the
/// generation by returning `ControlFlow::Break`. Blocks until done (see [`generate_async`]).
pub fn generate(
    model: &Llama,
    tokenizer: Option<&TextTokenizer>,
    prompt: &[u32],
    config: &SamplingConfig,
    eos_ids: &[u32],
    on_token: impl FnMut(&TokenStep) -> ControlFlow<()>,
) -> Result<Generation> {
    futures_lite::future::block_on(generate_async(
        model, tokenizer, prompt, config, eos_ids, on_token,
    ))
}

/// [`generate`], reading each token's logits back without blocking and yielding after every
/// token: the form a web page can run.
pub async fn generate_async(
    model: &Llama,
    tokenizer: Option<&TextTokenizer>,
    prompt: &[u32],
    config: &SamplingConfig,
    eos_ids: &[u32],
    mut on_token: impl FnMut(&TokenStep) -> ControlFlow<()>,
) -> Result<Generation> {
    config.validate()?;
    if prompt.is_empty() {
        return Err(Error::InvalidInput("the prompt has no tokens".into()));
    }
    let vocab = model.config.vocab_size;
    if let Some(&bad) = prompt.iter().find(|&&id| id as usize >= vocab) {
        return Err(Error::InvalidInput(format!(
            "token id {bad} is outside the model's vocabulary of {vocab}"
        )));
    }
    let device = model.device();
    let mut cache = KvCache::new(model.config.num_layers);
    let mut sampler = Sampler::new(config.clone());
    let mut ids = prompt.to_vec();
    let mut emitted = String::new();
    let mut input = prompt.to_vec();
    let mut stop_reason = StopReason::MaxTokens;
    for _ in 0..config.max_new_tokens {
        if cache.len() + input.len() > model.config.max_position_embeddings.max(prompt.len()) {
            stop_reason = StopReason::MaxPositions;
            break;
        }
        let tokens = ids_tensor(&[input.clone()], &device);
        let logits = model.forward_last(
            tokens,
            ForwardOptions {
                cache: Some(&mut cache),
                ..Default::default()
            },
        );
        let mut logits = logits
            .into_data_async()
            .await
            .map_err(|e| Error::Device(format!("reading logits: {e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| Error::Device(format!("reading logits: {e:?}")))?;
        let next = sampler.next(&mut logits, &ids);
        ids.push(next);
        input = vec![next];
        let is_eos = eos_ids.contains(&next);
        let mut step = TokenStep {
            id: next,
            text: String::new(),
        };
        let mut hit_stop = false;
        if let Some(tok) = tokenizer
            && !is_eos
        {
            let text = decode_after(tok, &ids, prompt.len())?;
            // Hold back text that ends in a partial character (byte-fallback tokens).
            if !text.ends_with('\u{FFFD}')
                && text.len() >= emitted.len()
                && text.starts_with(&emitted)
            {
                let mut fresh = text[emitted.len()..].to_string();
                if let Some(cut) = earliest_stop(&text, &config.stop) {
                    fresh = text.get(emitted.len()..cut).unwrap_or("").to_string();
                    hit_stop = true;
                }
                emitted.push_str(&fresh);
                step.text = fresh;
            } else if let Some(cut) = earliest_stop(&text, &config.stop) {
                emitted = text[..cut].to_string();
                hit_stop = true;
            }
        }
        if on_token(&step).is_break() {
            stop_reason = StopReason::Cancelled;
            break;
        }
        crate::jobs::yield_now().await;
        if is_eos {
            stop_reason = StopReason::Eos;
            break;
        }
        if hit_stop {
            stop_reason = StopReason::StopString;
            break;
        }
    }
    if stop_reason != StopReason::StopString
        && let Some(tok) = tokenizer
    {
        emitted = decode_after(tok, &ids, prompt.len())?;
    }
    Ok(Generation {
        ids,
        prompt_len: prompt.len(),
        text: emitted,
        stop_reason,
    })
}

/// The text of `ids[p..]` as it reads after the prompt: decoded with the prompt's last token in
/// front, so that a leading space is kept (decoding the new tokens alone would strip it, as
/// LLaMA's decoder strips the start of a text).
fn decode_after(tok: &TextTokenizer, ids: &[u32], p: usize) -> Result<String> {
    if p == 0 {
        return tok.decode(ids);
    }
    let anchor = tok.decode(&ids[p - 1..p])?;
    let text = tok.decode(&ids[p - 1..])?;
    match text.strip_prefix(&anchor) {
        Some(rest) if !anchor.contains('\u{FFFD}') => Ok(rest.to_string()),
        _ => tok.decode(&ids[p..]),
    }
}

fn earliest_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// A `(batch, seq_len)` tensor of token ids; rows must have equal length.
pub fn ids_tensor(rows: &[Vec<u32>], device: &Device) -> Tensor<2, Int> {
    let t = rows.first().map_or(0, Vec::len);
    let flat: Vec<i64> = rows.iter().flatten().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn repetition_penalty_follows_transformers() {
        // Positive logits are divided, negative ones multiplied.
        let mut s = Sampler::new(SamplingConfig {
            repetition_penalty: 2.0,
            ..SamplingConfig::greedy(1)
        });
        let mut logits = vec![4.0, 3.0, -1.0];
        assert_eq!(s.next(&mut logits, &[0]), 1);
        assert_eq!(logits, vec![2.0, 3.0, -1.0]);
        let mut logits = vec![-1.0, -1.5];
        s.next(&mut logits, &[0]);
        assert_eq!(logits, vec![-2.0, -1.5]);
    }

    #[test]
    fn top_k_and_top_p_restrict_the_draw() {
        let logits = vec![5.0, 4.9, 0.0, -3.0];
        for seed in 0..50 {
            let mut s = Sampler::new(SamplingConfig {
                temperature: 1.0,
                top_k: 2,
                seed,
                ..SamplingConfig::default()
            });
            assert!(s.next(&mut logits.clone(), &[]) < 2);
            let mut s = Sampler::new(SamplingConfig {
                temperature: 1.0,
                top_p: 0.5,
                seed,
                ..SamplingConfig::default()
            });
            // The first token alone has probability just over 0.5.
            assert_eq!(s.next(&mut logits.clone(), &[]), 0);
        }
    }

    #[test]
    fn a_seed_fixes_the_draws() {
        let logits: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |seed| {
            let mut s = Sampler::new(SamplingConfig {
                temperature: 1.5,
                seed,
                ..SamplingConfig::default()
            });
            (0..20)
                .map(|_| s.next(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
