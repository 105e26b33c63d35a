//! Answer quality in the manner of LLM-Eval: five aspects scored 0-3 by a judge model or by
//! people, and automatic signals that need neither (length, repetition, share of the target
//! language, perplexity under a reference model), summarised overall and per category.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::codeswitch::{SwitchOptions, analyse};
use super::prompts::Answer;
use super::stats::{Interval, mean_interval};
use crate::error::{Error, Result};

/// LLM-Eval's aspects, in its order.
pub const ASPECTS: [&str; 5] = [
    "accuracy",
    "fluency",
    "informativeness",
    "logicality",
    "harmlessness",
];

/// Scores on the five aspects, each 0 to 3.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AspectScores {
    pub accuracy: f64,
    pub fluency: f64,
    pub informativeness: f64,
    pub logicality: f64,
    pub harmlessness: f64,
}

impl AspectScores {
    /// From five values in [`ASPECTS`] order.
    pub fn from_slice(v: &[f64]) -> Self {
        Self {
            accuracy: v[0],
            fluency: v[1],
            informativeness: v[2],
            logicality: v[3],
            harmlessness: v[4],
        }
    }

    pub fn values(&self) -> [f64; 5] {
        [
            self.accuracy,
            self.fluency,
            self.informativeness,
            self.logicality,
            self.harmlessness,
        ]
    }

    /// LLM-Eval's AVG: the mean of the five.
    pub fn average(&self) -> f64 {
        self.values().iter().sum::<f64>() / 5.0
    }

    fn check(&self) -> std::result::Result<(), String> {
        for (name, v) in ASPECTS.iter().zip(self.values()) {
            if !(0.0..=3.0).contains(&v) {
                return Err(format!("`{name}` is {v}, outside 0-3"));
            }
        }
        Ok(())
    }
}

/// One person's scores for one answer (a line of a ratings file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HumanRating {
    /// The answer's prompt id.
    pub id: String,
    pub rater: String,
    #[serde(flatten)]
    pub scores: AspectScores,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Reads a ratings file (JSON Lines of [`HumanRating`]); a bad line is named.
pub fn read_ratings(path: &Path) -> Result<Vec<HumanRating>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rating: HumanRating = serde_json::from_str(line)
            .map_err(|e| Error::bad_file(path, format!("line {}: not a rating: {e}", i + 1)))?;
        rating
            .scores
            .check()
            .map_err(|m| Error::bad_file(path, format!("line {}: {m}", i + 1)))?;
        out.push(rating);
    }
    Ok(out)
}

/// Records a rating, replacing the same rater's earlier rating of the same answer; the file is
/// rewritten atomically, so a crash leaves the old or the new file, never half of one.
#[cfg(feature = "native")]
pub fn save_rating(path: &Path, rating: HumanRating) -> Result<()> {
    rating.scores.check().map_err(Error::InvalidInput)?;
    let mut all = read_ratings(path)?;
    all.retain(|r| !(r.id == rating.id && r.rater == rating.rater));
    all.push(rating);
    let mut text = String::new();
    for r in &all {
        text.push_str(&serde_json::to_string(r).expect("ratings serialise"));
        text.push('\n');
    }
    crate::fsx::write_atomic(path, text.as_bytes())
}

/// How far raters agree, per aspect, over answers two or more of them rated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub aspect: String,
    /// Pairs of ratings of the same answer compared.
    pub pairs: usize,
    /// Share of those pairs giving the same score.
    pub exact: f64,
    /// Mean absolute difference of their scores (0-3).
    pub mean_difference: f64,
}

/// Agreement between raters on the answers several of them rated (empty when none were).
pub fn rater_agreement(ratings: &[HumanRating]) -> Vec<Agreement> {
    let mut by_id: BTreeMap<&str, Vec<&HumanRating>> = BTreeMap::new();
    for r in ratings {
        by_id.entry(r.id.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (k, aspect) in ASPECTS.iter().enumerate() {
        let (mut pairs, mut same, mut diff) = (0usize, 0usize, 0.0f64);
        for list in by_id.values() {
            for (i, a) in list.iter().enumerate() {
                for b in &list[i + 1..] {
                    let d = (a.scores.values()[k] - b.scores.values()[k]).abs();
                    pairs += 1;
                    same += usize::from(d < 1e-9);
                    diff += d;
                }
            }
        }
        if pairs > 0 {
            out.push(Agreement {
                aspect: aspect.to_string(),
                pairs,
                exact: same as f64 / pairs as f64,
                mean_difference: diff / pairs as f64,
            });
        }
    }
    out
}

/// What can be measured of an answer without a judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    pub chars: usize,
    /// Units: words in spaced scripts, characters in Chinese and Japanese.
    pub units: usize,
    /// Distinct unigrams / all unigrams (1 = no repetition).
    pub distinct_1: f64,
    pub distinct_2: f64,
    /// Letters (ideographs count one each).
    pub letters: usize,
    /// Share of letters in the target language (1 for an answer without letters).
    pub target_share: f64,
    /// Perplexity of the answer under the reference model, when one is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_perplexity: Option<f64>,
}

/// Words of spaced scripts and single characters of unspaced ones.
fn units(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let unspaced = matches!(
            unicode_script::UnicodeScript::script(&c),
            unicode_script::Script::Han
                | unicode_script::Script::Hiragana
                | unicode_script::Script::Katakana
                | unicode_script::Script::Thai
        );
        if c.is_alphanumeric() && !unspaced {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if unspaced {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Distinct n-grams over all n-grams (1 for a text too short to have any).
pub fn distinct_n(units: &[String], n: usize) -> f64 {
    if units.len() < n || n == 0 {
        return 1.0;
    }
    let grams: Vec<&[String]> = units.windows(n).collect();
    let mut unique = grams.clone();
    unique.sort_unstable();
    unique.dedup();
    unique.len() as f64 / grams.len() as f64
}

/// The judge-free signals of an answer.
pub fn signals(answer: &str, target: &SwitchOptions) -> Signals {
    let u = units(answer);
    let switch = analyse(answer, target);
    Signals {
        letters: switch.letters,
        chars: answer.chars().count(),
        units: u.len(),
        distinct_1: distinct_n(&u, 1),
        distinct_2: distinct_n(&u, 2),
        target_share: switch.expected_share,
        reference_perplexity: None,
    }
}

/// Perplexity of each answer under a reference model (NaN for an empty answer).
pub fn reference_perplexities(
    model: &crate::model::Llama,
    tokenizer: &crate::model::TextTokenizer,
    answers: &[Answer],
    ctx: Option<&crate::jobs::JobContext>,
) -> Result<Vec<f64>> {
    let options = super::perplexity::PerplexityOptions::default();
    let mut values = Vec::with_capacity(answers.len());
    for (i, a) in answers.iter().enumerate() {
        if let Some(ctx) = ctx {
            ctx.check_cancelled()?;
        }
        values.push(match a.response.trim() {
            "" => f64::NAN,
            text => {
                super::perplexity::perplexity(model, tokenizer, text, &options, None)?.perplexity
            }
        });
        if let Some(ctx) = ctx {
            ctx.progress(
                "reference perplexity",
                i as u64 + 1,
                Some(answers.len() as u64),
                "answers",
            );
        }
    }
    Ok(values)
}

/// Everything known about one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityItem {
    pub id: String,
    pub category: String,
    pub signals: Signals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<AspectScores>,
    /// Why the judge gave no scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_error: Option<String>,
    /// Mean of the people's scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub human: Option<AspectScores>,
    pub raters: usize,
}

/// Mean scores of a group of answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    pub scored: usize,
    /// Per aspect, in [`ASPECTS`] order.
    pub aspects: Vec<(String, f64)>,
    /// Mean of the five, with a bootstrap interval over answers.
    pub average: Interval,
}

/// The report of `beyond eval quality`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub answers: usize,
    pub target_language: String,
    pub mean_chars: f64,
    pub mean_distinct_1: f64,
    pub mean_distinct_2: f64,
    /// Over answers with at least one letter.
    pub mean_target_share: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_reference_perplexity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<ScoreSummary>,
    /// Answers the judge gave no readable scores for, by reason.
    pub judge_failures: BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub human: Option<ScoreSummary>,
    /// How far people agree with each other, on answers several of them rated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rater_agreement: Vec<Agreement>,
    /// Mean absolute difference between judge and people per aspect, on answers both scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_human_gap: Option<Vec<(String, f64)>>,
    /// Per category: (name, answers, judge summary, human summary).
    pub categories: Vec<CategorySummary>,
    pub items: Vec<QualityItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategorySummary {
    pub name: String,
    pub answers: usize,
    pub judge: Option<ScoreSummary>,
    pub human: Option<ScoreSummary>,
}

fn summary(scores: &[AspectScores]) -> Option<ScoreSummary> {
    if scores.is_empty() {
        return None;
    }
    let n = scores.len() as f64;
    let aspects = ASPECTS
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                a.to_string(),
                scores.iter().map(|s| s.values()[i]).sum::<f64>() / n,
            )
        })
        .collect();
    let averages: Vec<f64> = scores.iter().map(AspectScores::average).collect();
    Some(ScoreSummary {
        scored: scores.len(),
        aspects,
        average: mean_interval(&averages, 1000, 0),
    })
}

/// The mean of several people's scores.
fn mean_scores(list: &[&AspectScores]) -> AspectScores {
    let mut v = [0.0; 5];
    for s in list {
        for (a, b) in v.iter_mut().zip(s.values()) {
            *a += b / list.len() as f64;
        }
    }
    AspectScores::from_slice(&v)
}

/// Puts answers, their signals, judge results and ratings together.
pub fn report(
    answers: &[Answer],
    target: &SwitchOptions,
    judged: &[Option<std::result::Result<AspectScores, String>>],
    ratings: &[HumanRating],
    reference_perplexity: Option<&[f64]>,
) -> QualityReport {
    let mut items = Vec::with_capacity(answers.len());
    let mut failures = BTreeMap::new();
    for (i, a) in answers.iter().enumerate() {
        let mut s = signals(&a.response, target);
        s.reference_perplexity = reference_perplexity.and_then(|p| p.get(i).copied());
        let (judge, judge_error) = match judged.get(i).cloned().flatten() {
            Some(Ok(scores)) => (Some(scores), None),
            Some(Err(e)) => {
                let kind = e.split(':').next().unwrap_or("").to_string();
                *failures.entry(kind).or_insert(0) += 1;
                (None, Some(e))
            }
            None => (None, None),
        };
        let mine: Vec<&AspectScores> = ratings
            .iter()
            .filter(|r| r.id == a.prompt.id)
            .map(|r| &r.scores)
            .collect();
        items.push(QualityItem {
            id: a.prompt.id.clone(),
            category: a.prompt.category.clone(),
            signals: s,
            judge,
            judge_error,
            human: (!mine.is_empty()).then(|| mean_scores(&mine)),
            raters: mine.len(),
        });
    }
    let judge_scores: Vec<AspectScores> = items.iter().filter_map(|i| i.judge).collect();
    let human_scores: Vec<AspectScores> = items.iter().filter_map(|i| i.human).collect();
    let both: Vec<(AspectScores, AspectScores)> = items
        .iter()
        .filter_map(|i| Some((i.judge?, i.human?)))
        .collect();
    let judge_human_gap = (!both.is_empty()).then(|| {
        ASPECTS
            .iter()
            .enumerate()
            .map(|(k, a)| {
                let gap = both
                    .iter()
                    .map(|(j, h)| (j.values()[k] - h.values()[k]).abs())
                    .sum::<f64>()
                    / both.len() as f64;
                (a.to_string(), gap)
            })
            .collect()
    });
    let mut names: Vec<&str> = items.iter().map(|i| i.category.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let categories = names
        .into_iter()
        .map(|name| {
            let of: Vec<&QualityItem> = items.iter().filter(|i| i.category == name).collect();
            CategorySummary {
                name: name.to_string(),
                answers: of.len(),
                judge: summary(&of.iter().filter_map(|i| i.judge).collect::<Vec<_>>()),
                human: summary(&of.iter().filter_map(|i| i.human).collect::<Vec<_>>()),
            }
        })
        .collect();
    let n = items.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Signals) -> f64| items.iter().map(|i| f(&i.signals)).sum::<f64>() / n;
    let ppl: Vec<f64> = items
        .iter()
        .filter_map(|i| i.signals.reference_perplexity)
        .filter(|p| p.is_finite())
        .collect();
    QualityReport {
        answers: items.len(),
        target_language: target.expected.code().to_string(),
        mean_chars: mean(&|s| s.chars as f64),
        mean_distinct_1: mean(&|s| s.distinct_1),
        mean_distinct_2: mean(&|s| s.distinct_2),
        // Answers without a letter say nothing about language.
        mean_target_share: {
            let shares: Vec<f64> = items
                .iter()
                .filter(|i| i.signals.letters > 0)
                .map(|i| i.signals.target_share)
                .collect();
            shares.iter().sum::<f64>() / shares.len().max(1) as f64
        },
        mean_reference_perplexity: (!ppl.is_empty())
            .then(|| ppl.iter().sum::<f64>() / ppl.len() as f64),
        judge: summary(&judge_scores),
        judge_failures: failures,
        human: summary(&human_scores),
        rater_agreement: rater_agreement(
            &ratings
                .iter()
                .filter(|r| answers.iter().any(|a| a.prompt.id == r.id))
                .cloned()
                .collect::<Vec<_>>(),
        ),
        judge_human_gap,
        categories,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_compares_raters_on_the_same_answer() {
        let rating = |id: &str, rater: &str, a: f64| HumanRating {
            id: id.into(),
            rater: rater.into(),
            scores: AspectScores::from_slice(&[a, 3.0, 2.0, 2.0, 3.0]),
            note: String::new(),
        };
        let ratings = [
            rating("1", "ann", 1.0),
            rating("1", "bob", 3.0),
            rating("2", "ann", 2.0),
            rating("2", "bob", 2.0),
            rating("3", "ann", 0.0),
        ];
        let a = rater_agreement(&ratings);
        assert_eq!(a[0].aspect, "accuracy");
        assert_eq!(a[0].pairs, 2);
        assert!((a[0].exact - 0.5).abs() < 1e-12 && (a[0].mean_difference - 1.0).abs() < 1e-12);
        assert_eq!(a[1].exact, 1.0);
        assert!(rater_agreement(&ratings[4..]).is_empty());
    }

    #[test]
    fn repetition_lowers_distinct_n() {
        let fresh = units("the cat sat on a mat");
        let looped = units("the cat the cat the cat");
        assert_eq!(distinct_n(&fresh, 1), 1.0);
        assert!((distinct_n(&looped, 1) - 2.0 / 6.0).abs() < 1e-12);
        assert!((distinct_n(&looped, 2) - 2.0 / 5.0).abs() < 1e-12);
        // Chinese counts characters.
        assert_eq!(units("我爱北京 Tiananmen").len(), 5);
    }
}
