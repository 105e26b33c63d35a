//! Scoring multiple-choice questions by likelihood, in batches.
//!
//! Each option becomes a continuation of the prompt: its letter (` A` after `Answer:`, `A` after
//! `答案：`) or its text. A continuation's tokens are those of `prompt + continuation` past the
//! longest prefix shared with the prompt's own tokens, so a tokenizer that merges across the
//! seam is still scored on what it would really produce. Continuations that share a context and
//! are one token long (answer letters, nearly always) are read from a single forward pass.

use std::collections::BTreeMap;

use web_time::Instant;

use serde::{Deserialize, Serialize};

use super::prompt::{self, Frame, PromptLanguage, Style};
use super::{Format, McqItem, McqSet};
use crate::error::{Error, Result};
use crate::eval::stats::{Interval, RESAMPLES, mean_interval};
use crate::jobs::{JobContext, yield_now};
use crate::model::generate::ids_tensor;
use crate::model::{Llama, TextTokenizer};

/// How an option is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
pub enum Scoring {
    /// The most likely answer letter after the prompt.
    Letter,
    /// The option whose text is most likely after the question (options not listed), per
    /// byte of text.
    Text,
}

impl Scoring {
    /// As the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Scoring::Letter => "letter",
            Scoring::Text => "text",
        }
    }
}

#[derive(Debug, Clone)]
pub struct McqOptions {
    /// Solved examples from the dev split before each question.
    pub shots: usize,
    pub scoring: Vec<Scoring>,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// The prompt frame; `None` picks the benchmark's usual one.
    pub language: Option<PromptLanguage>,
    /// Evaluate at most this many questions per subject.
    pub limit: Option<usize>,
    /// Seeds the bootstrap.
    pub seed: u64,
}

impl Default for McqOptions {
    fn default() -> Self {
        Self {
            shots: 0,
            scoring: vec![Scoring::Letter, Scoring::Text],
            batch_size: 8,
            language: None,
            limit: None,
            seed: 0,
        }
    }
}

/// One question's outcome under one scoring.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemResult {
    pub subject: String,
    pub id: String,
    pub answer: usize,
    pub predicted: usize,
    /// Per option: the log-likelihood (per byte for text scoring).
    pub scores: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectReport {
    pub name: String,
    pub questions: usize,
    pub correct: usize,
    pub accuracy: Interval,
    pub chance: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeReport {
    pub scoring: Scoring,
    /// Micro-averaged over all questions.
    pub accuracy: Interval,
    pub chance: f64,
    pub subjects: Vec<SubjectReport>,
    pub items: Vec<ItemResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McqReport {
    pub format: Format,
    /// The language of the prompts' frame.
    pub language: String,
    pub shots: usize,
    pub questions: usize,
    /// Items of the files left out (not single-answer multiple choice).
    pub skipped: usize,
    /// Prompts that lost shots or their beginning to fit the model's context.
    pub truncated: usize,
    pub seconds: f64,
    pub questions_per_second: f64,
    pub modes: Vec<ModeReport>,
}

/// A continuation to score: `context` then `continuation` tokens.
struct Request {
    context: Vec<u32>,
    continuation: Vec<u32>,
}

/// Splits `prompt + cont` into the prompt's tokens (`ctx`, already encoded) and the
/// continuation's.
fn request(tokenizer: &TextTokenizer, prompt: &str, ctx: &[u32], cont: &str) -> Result<Request> {
    let whole = tokenizer.encode_with_bos(&format!("{prompt}{cont}"))?;
    let mut n = ctx.iter().zip(&whole).take_while(|(a, b)| a == b).count();
    if n == whole.len() {
        n = whole.len().saturating_sub(1);
    }
    Ok(Request {
        context: whole[..n].to_vec(),
        continuation: whole[n..].to_vec(),
    })
}

/// Sums of log-probabilities of each request's continuation, read back without blocking and
/// yielding after every batch (so a web page keeps drawing).
async fn score_requests(
    model: &Llama,
    requests: &[Request],
    batch_size: usize,
    ctx: Option<&JobContext>,
    done: &mut dyn FnMut(usize),
) -> Result<Vec<f64>> {
    // Distinct sequences to run; requests whose context and length match share one.
    let mut sequences: Vec<Vec<u32>> = Vec::new();
    let mut index: BTreeMap<Vec<u32>, usize> = BTreeMap::new();
    let mut picks_of: Vec<(usize, Vec<(usize, u32)>)> = Vec::with_capacity(requests.len());
    for r in requests {
        let mut seq = r.context.clone();
        seq.extend_from_slice(&r.continuation[..r.continuation.len() - 1]);
        let picks: Vec<(usize, u32)> = r
            .continuation
            .iter()
            .enumerate()
            .map(|(k, &tok)| (r.context.len() - 1 + k, tok))
            .collect();
        let next = sequences.len();
        let s = *index.entry(seq.clone()).or_insert(next);
        if s == next {
            sequences.push(seq);
        }
        picks_of.push((s, picks));
    }
    let mut wanted: Vec<Vec<(usize, u32, usize)>> = vec![Vec::new(); sequences.len()];
    for (ri, (s, picks)) in picks_of.iter().enumerate() {
        for &(pos, tok) in picks {
            wanted[*s].push((pos, tok, ri));
        }
    }
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].len()));
    let device = model.device();
    let mut totals = vec![0f64; requests.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        if let Some(ctx) = ctx {
            ctx.check_cancelled()?;
        }
        let t = chunk.iter().map(|&i| sequences[i].len()).max().unwrap_or(1);
        // Right padding: causal attention keeps real positions from seeing it.
        let rows: Vec<Vec<u32>> = chunk
            .iter()
            .map(|&i| {
                let mut r = sequences[i].clone();
                r.resize(t, 0);
                r
            })
            .collect();
        let mut picks = Vec::new();
        let mut owners = Vec::new();
        for (row, &i) in chunk.iter().enumerate() {
            for &(pos, tok, ri) in &wanted[i] {
                picks.push((row, pos, tok));
                owners.push(ri);
            }
        }
        let lp = model
            .next_token_log_probs(ids_tensor(&rows, &device), &picks)
            .into_data_async()
            .await
            .map_err(|e| Error::Device(format!("reading log-probabilities: {e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| Error::Device(format!("reading log-probabilities: {e:?}")))?;
        for (v, ri) in lp.into_iter().zip(owners) {
            totals[ri] += v as f64;
        }
        done(chunk.len());
        yield_now().await;
    }
    Ok(totals)
}

/// Builds the prompt for `item`, dropping shots (then the prompt's beginning) until it and its
/// longest continuation fit in `max_len` tokens. Returns the prompt and whether it was cut.
fn fitting_prompt(
    tokenizer: &TextTokenizer,
    subject: &str,
    shots: &[McqItem],
    item: &McqItem,
    frame: &Frame,
    style: Style,
    max_len: usize,
) -> Result<(String, bool)> {
    let longest = item.options.iter().map(|o| o.len()).max().unwrap_or(0);
    for k in (0..=shots.len()).rev() {
        let p = prompt::build(subject, &shots[..k], item, frame, style);
        let n = tokenizer.encode_with_bos(&p)?.len() + longest + 2;
        if n <= max_len {
            return Ok((p, k < shots.len()));
        }
    }
    // Even zero-shot is too long: keep the end, where the question and options are.
    let p = prompt::build(subject, &[], item, frame, style);
    let chars: Vec<char> = p.chars().collect();
    let keep = (max_len * 2).min(chars.len());
    Ok((chars[chars.len() - keep..].iter().collect(), true))
}

/// Puts every question of `set` to `model`, blocking until it is done (see [`evaluate_async`]).
pub fn evaluate(
    model: &Llama,
    tokenizer: &TextTokenizer,
    set: &McqSet,
    options: &McqOptions,
    ctx: Option<&JobContext>,
) -> Result<McqReport> {
    futures_lite::future::block_on(evaluate_async(model, tokenizer, set, options, ctx))
}

/// Puts every question of `set` to `model`, reading each batch's scores back without blocking:
/// the form a web page can run.
pub async fn evaluate_async(
    model: &Llama,
    tokenizer: &TextTokenizer,
    set: &McqSet,
    options: &McqOptions,
    ctx: Option<&JobContext>,
) -> Result<McqReport> {
    let start = Instant::now();
    let frame = Frame::for_set(set, options.language);
    if options.scoring.is_empty() {
        return Err(Error::InvalidInput("no scoring method chosen".into()));
    }
    let max_len = model.config.max_position_embeddings;
    let mut questions: Vec<(&str, &McqItem)> = Vec::new();
    // Per question: the lettered prompt and the cloze prompt.
    let mut prompts: Vec<[String; 2]> = Vec::new();
    let mut truncated = 0;
    for subject in &set.subjects {
        if options.shots > subject.dev.len() {
            return Err(Error::InvalidInput(format!(
                "{} shots asked for, but subject `{}` has {} dev questions{}",
                options.shots,
                subject.name,
                subject.dev.len(),
                if subject.dev.is_empty() {
                    " (this benchmark is evaluated zero-shot)"
                } else {
                    ""
                }
            )));
        }
        let shots = &subject.dev[..options.shots];
        let title = subject_display(set, &subject.name, &frame);
        for item in subject
            .eval
            .iter()
            .take(options.limit.unwrap_or(usize::MAX))
        {
            let (lettered, cut) = fitting_prompt(
                tokenizer,
                &title,
                shots,
                item,
                &frame,
                Style::Lettered,
                max_len,
            )?;
            let (cloze, cut_too) = fitting_prompt(
                tokenizer,
                &title,
                shots,
                item,
                &frame,
                Style::Cloze,
                max_len,
            )?;
            truncated += usize::from(cut || cut_too);
            prompts.push([lettered, cloze]);
            questions.push((&subject.name, item));
        }
    }
    let total_sequences: usize = options
        .scoring
        .iter()
        .map(|s| match s {
            Scoring::Letter => questions.len(),
            Scoring::Text => questions.iter().map(|(_, i)| i.options.len()).sum(),
        })
        .sum();
    let mut seen = 0usize;
    let mut modes = Vec::new();
    for &scoring in &options.scoring {
        let mut requests = Vec::new();
        let mut lengths = Vec::new();
        for ((_, item), both) in questions.iter().zip(&prompts) {
            let p = match scoring {
                Scoring::Letter => &both[0],
                Scoring::Text => &both[1],
            };
            let ctx = tokenizer.encode_with_bos(p)?;
            for (i, o) in item.options.iter().enumerate() {
                let text = match scoring {
                    Scoring::Letter => prompt::letter(i),
                    Scoring::Text => o.clone(),
                };
                let cont = frame.continuation(&text);
                lengths.push(cont.len().max(1) as f64);
                requests.push(request(tokenizer, p, &ctx, &cont)?);
            }
        }
        let scores = score_requests(model, &requests, options.batch_size, ctx, &mut |n| {
            seen += n;
            if let Some(ctx) = ctx {
                ctx.progress(
                    "scoring",
                    seen as u64,
                    Some(total_sequences as u64),
                    "sequences",
                );
            }
        })
        .await?;
        let mut items = Vec::with_capacity(questions.len());
        let mut k = 0;
        for (subject, item) in &questions {
            let n = item.options.len();
            let s: Vec<f64> = (0..n)
                .map(|i| match scoring {
                    Scoring::Letter => scores[k + i],
                    Scoring::Text => scores[k + i] / lengths[k + i],
                })
                .collect();
            k += n;
            let predicted = (0..n).fold(0, |best, i| if s[i] > s[best] { i } else { best });
            items.push(ItemResult {
                subject: subject.to_string(),
                id: item.id.clone(),
                answer: item.answer,
                predicted,
                scores: s,
            });
        }
        modes.push(summarize(scoring, set, &questions, items, options.seed));
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(McqReport {
        format: set.format,
        language: frame.language.clone(),
        shots: options.shots,
        questions: questions.len(),
        skipped: set.skipped,
        truncated,
        seconds,
        questions_per_second: questions.len() as f64 / seconds.max(1e-9),
        modes,
    })
}

/// The subject as the prompt names it: the world's subjects in the prompt's language.
fn subject_display(set: &McqSet, name: &str, frame: &Frame) -> String {
    if set.format == Format::World
        && let Ok(pack) = crate::world::language::LanguagePack::built_in(&frame.language)
        && let Ok(w) = pack.word(crate::world::facts::WordKind::Subject, name)
    {
        return w.to_string();
    }
    prompt::subject_title(name)
}

fn summarize(
    scoring: Scoring,
    set: &McqSet,
    questions: &[(&str, &McqItem)],
    items: Vec<ItemResult>,
    seed: u64,
) -> ModeReport {
    let outcome = |r: &ItemResult| f64::from(u8::from(r.predicted == r.answer));
    let chance_of = |qs: &mut dyn Iterator<Item = &McqItem>| {
        let (sum, n) = qs.fold((0.0, 0usize), |(s, n), i| {
            (s + 1.0 / i.options.len() as f64, n + 1)
        });
        sum / n.max(1) as f64
    };
    let mut subjects = Vec::new();
    for subject in &set.subjects {
        let rs: Vec<&ItemResult> = items.iter().filter(|r| r.subject == subject.name).collect();
        if rs.is_empty() {
            continue;
        }
        let outcomes: Vec<f64> = rs.iter().map(|r| outcome(r)).collect();
        subjects.push(SubjectReport {
            name: subject.name.clone(),
            questions: rs.len(),
            correct: outcomes.iter().filter(|&&o| o > 0.0).count(),
            accuracy: mean_interval(&outcomes, RESAMPLES, seed),
            chance: chance_of(
                &mut questions
                    .iter()
                    .filter(|(s, _)| *s == subject.name)
                    .map(|(_, i)| *i),
            ),
        });
    }
    let outcomes: Vec<f64> = items.iter().map(outcome).collect();
    ModeReport {
        scoring,
        accuracy: mean_interval(&outcomes, RESAMPLES, seed),
        chance: chance_of(&mut questions.iter().map(|(_, i)| *i)),
        subjects,
        items,
    }
}
