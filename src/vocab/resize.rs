//! Growing a model's vocabulary to an extended tokenizer: the embedding (and an untied head)
//! get rows for the new ids, initialised from the old rows; old rows stay exactly as they were,
//! so on old tokens the model computes what it computed before.

use burn::module::Param;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::weights::host_values;
use crate::model::{Llama, TextTokenizer};

/// How new rows start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ResizeInit {
    /// The mean of all old rows.
    Mean,
    /// For each new token, the mean of the old rows of the tokens its text encodes to under
    /// the old tokenizer.
    SubwordMean,
    /// Normal with the old rows' standard deviation (seeded).
    Random,
}

/// The old token ids a new token's text breaks into under the old tokenizer.
pub fn subword_ids(old: &TextTokenizer, new: &TextTokenizer, id: u32) -> Result<Vec<u32>> {
    let token = new
        .inner
        .id_to_token(id)
        .ok_or_else(|| Error::InvalidInput(format!("the new tokenizer has no id {id}")))?;
    // `▁` marks a leading space in SentencePiece-style vocabularies; byte tokens are one byte.
    let text = match crate::vocab::analyze::is_byte_token(&token) {
        true => {
            let byte = u8::from_str_radix(&token[3..5], 16).unwrap_or(0);
            String::from_utf8_lossy(&[byte]).to_string()
        }
        false => token.replace('\u{2581}', " "),
    };
    let leading_space = text.starts_with(' ');
    let body = if leading_space { &text[1..] } else { &text[..] };
    let encoding = old
        .inner
        .encode(body, false)
        .map_err(|e| Error::Tokenizer {
            path: old.path.clone(),
            reason: format!("cannot encode `{body}`: {e}"),
        })?;
    let mut ids = encoding.get_ids().to_vec();
    // A tokenizer that prepends `▁` to every text adds a space the token did not have.
    let lone_space = encoding.get_tokens().first().map(String::as_str) == Some("\u{2581}");
    if !leading_space && lone_space && ids.len() > 1 {
        ids.remove(0);
    }
    Ok(ids)
}

/// New rows `(new_vocab - old_vocab) x width` from `old` rows (`old_vocab x width`, row-major).
fn new_rows(
    old_rows: &[f32],
    width: usize,
    new_ids: std::ops::Range<u32>,
    init: ResizeInit,
    subwords: &[Vec<u32>],
    seed: u64,
) -> Vec<f32> {
    let old_vocab = old_rows.len() / width;
    let mean_of = |ids: &mut dyn Iterator<Item = usize>| {
        let mut sum = vec![0f64; width];
        let mut n = 0usize;
        for i in ids {
            for (s, v) in sum.iter_mut().zip(&old_rows[i * width..(i + 1) * width]) {
                *s += *v as f64;
            }
            n += 1;
        }
        sum.into_iter()
            .map(|s| (s / n.max(1) as f64) as f32)
            .collect::<Vec<f32>>()
    };
    let count = (new_ids.end - new_ids.start) as usize;
    let mut out = Vec::with_capacity(count * width);
    match init {
        ResizeInit::Mean => {
            let mean = mean_of(&mut (0..old_vocab));
            for _ in 0..count {
                out.extend_from_slice(&mean);
            }
        }
        ResizeInit::SubwordMean => {
            let mean = mean_of(&mut (0..old_vocab));
            for ids in subwords {
                let known: Vec<usize> = ids
                    .iter()
                    .map(|&i| i as usize)
                    .filter(|&i| i < old_vocab)
                    .collect();
                match known.is_empty() {
                    true => out.extend_from_slice(&mean),
                    false => out.extend(mean_of(&mut known.into_iter())),
                }
            }
        }
        ResizeInit::Random => {
            let n = old_rows.len() as f64;
            let mu = old_rows.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = old_rows
                .iter()
                .map(|&v| (v as f64 - mu).powi(2))
                .sum::<f64>()
                / n;
            let mut rng = StdRng::seed_from_u64(seed);
            for _ in 0..count * width {
                out.push((normal(&mut rng) * var.sqrt()) as f32);
            }
        }
    }
    out
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// What a resize did.
#[derive(Debug, Clone, Serialize)]
pub struct ResizeReport {
    pub old_vocab: usize,
    pub new_vocab: usize,
    pub init: ResizeInit,
    pub tied_head: bool,
}

/// `model` with its vocabulary grown to `new`'s size; `old` is the model's own tokenizer.
pub fn resize(
    model: Llama,
    old: &TextTokenizer,
    new: &TextTokenizer,
    init: ResizeInit,
    seed: u64,
) -> Result<(Llama, ResizeReport)> {
    let old_vocab = model.config.vocab_size;
    let new_vocab = new.vocab_size();
    if new_vocab < old_vocab {
        return Err(Error::InvalidInput(format!(
            "{}: {new_vocab} tokens, fewer than the model's {old_vocab}; resizing only grows",
            new.path.display()
        )));
    }
    // Every old token must keep its id.
    for id in 0..old_vocab.min(old.vocab_size()) as u32 {
        if old.inner.id_to_token(id) != new.inner.id_to_token(id) {
            return Err(Error::Tokenizer {
                path: new.path.clone(),
                reason: format!(
                    "id {id} is `{}` here but `{}` in the model's tokenizer: old ids must stay",
                    new.inner.id_to_token(id).unwrap_or_default(),
                    old.inner.id_to_token(id).unwrap_or_default()
                ),
            });
        }
    }
    let device = model.device();
    let hidden = model.config.hidden_size;
    let ids = old_vocab as u32..new_vocab as u32;
    let subwords = match init {
        ResizeInit::SubwordMean => ids
            .clone()
            .map(|id| subword_ids(old, new, id))
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let grow = |rows: Tensor<2>, seed: u64| -> Result<Tensor<2>> {
        let old_rows = host_values(rows.clone(), "the embedding rows")?;
        let extra = new_rows(&old_rows, hidden, ids.clone(), init, &subwords, seed);
        let extra = Tensor::<2>::from_data(
            TensorData::new(extra, [new_vocab - old_vocab, hidden]),
            &device,
        );
        Ok(Tensor::cat(vec![rows, extra], 0))
    };
    let mut config = model.config.clone();
    config.vocab_size = new_vocab;
    let embed = grow(model.embed_tokens.weight.val(), seed)?;
    let lm_head = match &model.lm_head {
        None => None,
        Some(head) => {
            // Burn stores the head as (hidden, vocab): grow its transpose's rows.
            let rows = grow(head.weight.val().transpose(), seed.wrapping_add(1))?;
            Some(burn::nn::Linear {
                weight: Param::from_tensor(rows.transpose()),
                bias: None,
            })
        }
    };
    let tied_head = lm_head.is_none();
    let Llama { layers, norm, .. } = model;
    let resized = Llama::from_parts(
        config,
        burn::nn::Embedding {
            weight: Param::from_tensor(embed),
        },
        layers,
        norm,
        lm_head,
    );
    Ok((
        resized,
        ResizeReport {
            old_vocab,
            new_vocab,
            init,
            tied_head,
        },
    ))
}

/// Grows the HF checkpoint in `model_dir` to the extended tokenizer in `tokenizer` and writes
/// the result as an HF directory `out` (weights, config with the new vocabulary size, the
/// extended tokenizer, the model's tokenizer_config.json). Every file is written atomically;
/// `out` may not be the model's own directory.
#[cfg(feature = "native")]
pub fn resize_checkpoint(
    model_dir: &std::path::Path,
    tokenizer: &std::path::Path,
    init: ResizeInit,
    seed: u64,
    out: &std::path::Path,
) -> Result<ResizeReport> {
    use crate::model::LoadedModel;
    use crate::model::checkpoint::{self, SaveOptions};

    if out.join("config.json").exists() && out.canonicalize().ok() == model_dir.canonicalize().ok()
    {
        return Err(Error::InvalidInput(format!(
            "{}: choose an output directory other than the model's",
            out.display()
        )));
    }
    let loaded = LoadedModel::open(model_dir, &burn::tensor::Device::flex())?;
    loaded.require_tokenizer()?;
    let LoadedModel {
        model,
        tokenizer: old,
        hf_config,
        ..
    } = loaded;
    let old = old.ok_or_else(|| {
        Error::InvalidInput(format!("{}: no tokenizer.json", model_dir.display()))
    })?;
    let new = TextTokenizer::open(tokenizer, old.bos_id, &old.eos_ids)?;
    let (model, report) = resize(model, &old, &new, init, seed)?;
    let mut hf = hf_config;
    hf.vocab_size = Some(report.new_vocab);
    checkpoint::save(&model, Some(&hf), out, &SaveOptions::default(), None)?;
    let bytes = std::fs::read(tokenizer).map_err(|e| Error::io(tokenizer, e))?;
    crate::fsx::write_atomic(&out.join(checkpoint::TOKENIZER_FILE), &bytes)?;
    let config = model_dir.join(checkpoint::TOKENIZER_CONFIG_FILE);
    if config.is_file() {
        let bytes = std::fs::read(&config).map_err(|e| Error::io(&config, e))?;
        crate::fsx::write_atomic(&out.join(checkpoint::TOKENIZER_CONFIG_FILE), &bytes)?;
    }
    Ok(report)
}
