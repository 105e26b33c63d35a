//! From the measurements of every run to the study's results: one row per cell, seed and
//! measurement; per cell, the value over seeds; per finding, the measured effect and a verdict.
//!
//! Intervals are 95% percentile bootstraps drawn at two levels, seeds then items (questions,
//! lines, answers) within each seed, so they hold both sources of variation; a comparison of two
//! settings pairs runs of the same seed and the same other settings, and items by position (the
//! same questions). A verdict is read off the interval alone: the claim agrees when the whole
//! interval is on its side, disagrees when the whole interval is on the other, and is
//! inconclusive otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::manifest::{Expect, Finding, Setting, Study, value_text};
use super::measure::{Measured, SwitchedAnswer};
use crate::eval::stats::{Interval, RESAMPLES, percentile_interval};
use crate::rng::SeededRng;

/// One trained-and-measured model: a setting and a seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub setting: Setting,
    pub seed: u64,
    /// The stages that made it, by kind and hash (`pretrain-1a2b...`).
    pub stages: Vec<String>,
    pub measured: Measured,
}

/// A row of `results.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub study: String,
    pub cell: String,
    /// The language transferred to.
    pub target: String,
    pub vocab: String,
    pub pretrain_tokens: u64,
    pub english_share: f64,
    pub instruct_examples: u64,
    pub seed: u64,
    pub measure: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub items: usize,
}

/// A cell's value of a measurement over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellValue {
    pub cell: String,
    pub setting: Setting,
    pub measure: String,
    pub value: Interval,
    pub seeds: usize,
}

/// What the data say of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Agrees,
    Disagrees,
    Inconclusive,
    /// No runs matched the finding's settings.
    NoData,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Agrees => "agrees",
            Verdict::Disagrees => "disagrees",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NoData => "no data",
        }
    }
}

/// A finding put to the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingResult {
    pub finding: Finding,
    /// `a - b` for comparisons, the value of `a` for thresholds.
    pub effect: Interval,
    pub verdict: Verdict,
    /// Pairs of runs (or runs) the effect is drawn from.
    pub runs: usize,
    /// Why the verdict is what it is, in a sentence.
    pub reading: String,
}

/// Every row, in run order then measurement order.
pub fn rows(study: &Study, runs: &[Run]) -> Vec<Row> {
    let mut out = Vec::new();
    for run in runs {
        // A measurement without items (no answer had letters, say) measured nothing.
        for (measure, items) in run.measured.items.iter().filter(|(_, i)| !i.is_empty()) {
            let v = two_level(&[items.as_slice()], None, seed_of(measure));
            out.push(Row {
                study: study.name.clone(),
                cell: run.setting.key(),
                target: run.setting.target.clone(),
                vocab: run.setting.vocab.to_string(),
                pretrain_tokens: run.setting.pretrain_tokens,
                english_share: run.setting.english_share,
                instruct_examples: run.setting.instruct_examples,
                seed: run.seed,
                measure: measure.clone(),
                value: v.value,
                low: v.low,
                high: v.high,
                items: items.len(),
            });
        }
    }
    out
}

/// Per cell and measurement, the value over seeds (two-level interval).
pub fn cells(study: &Study, runs: &[Run]) -> Vec<CellValue> {
    let mut out = Vec::new();
    for setting in study.all_settings() {
        let of_cell: Vec<&Run> = runs.iter().filter(|r| r.setting == setting).collect();
        let Some(first) = of_cell.first() else {
            continue;
        };
        for measure in first.measured.items.keys() {
            let groups: Vec<&[(f64, f64)]> = of_cell
                .iter()
                .filter_map(|r| r.measured.items.get(measure).map(Vec::as_slice))
                .filter(|g| !g.is_empty())
                .collect();
            if groups.is_empty() {
                continue;
            }
            out.push(CellValue {
                cell: setting.key(),
                setting: setting.clone(),
                measure: measure.clone(),
                value: two_level(&groups, None, seed_of(measure)),
                seeds: groups.len(),
            });
        }
    }
    out
}

/// Puts each finding of the study to the runs.
pub fn findings(study: &Study, runs: &[Run]) -> Vec<FindingResult> {
    study.findings.iter().map(|f| finding(f, runs)).collect()
}

fn matches(setting: &Setting, at: &BTreeMap<String, toml::Value>) -> bool {
    at.iter()
        .all(|(axis, v)| setting.value(axis).as_deref() == Some(value_text(v).as_str()))
}

fn finding(f: &Finding, runs: &[Run]) -> FindingResult {
    fn items_of<'r>(r: &'r Run, measure: &str) -> Option<&'r [(f64, f64)]> {
        r.measured
            .items
            .get(measure)
            .map(Vec::as_slice)
            .filter(|i| !i.is_empty())
    }
    // The findings are about the grid; a model trained elsewhere is shown, not compared.
    let in_scope: Vec<&Run> = runs
        .iter()
        .filter(|r| r.setting.elsewhere.is_none() && matches(&r.setting, &f.at))
        .collect();
    let a_text = value_text(&f.a);
    let is_a = |r: &Run| match &f.axis {
        Some(axis) => r.setting.value(axis).as_deref() == Some(a_text.as_str()),
        None => true,
    };
    let no_data = |f: &Finding| FindingResult {
        finding: f.clone(),
        effect: Interval {
            value: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
        },
        verdict: Verdict::NoData,
        runs: 0,
        reading: "no run has the settings this finding is about".into(),
    };
    let threshold = f.threshold.unwrap_or(0.0);
    let (effect, n) = match f.expect {
        Expect::Below | Expect::Above => {
            let groups: Vec<&[(f64, f64)]> = in_scope
                .iter()
                .filter(|r| is_a(r))
                .filter_map(|r| items_of(r, &r.setting.measure(&f.measure)))
                .collect();
            if groups.is_empty() {
                return no_data(f);
            }
            (two_level(&groups, None, seed_of(&f.measure)), groups.len())
        }
        Expect::AHigher | Expect::ALower | Expect::Similar => {
            let (Some(axis), Some(b)) = (&f.axis, &f.b) else {
                return no_data(f);
            };
            let b_text = value_text(b);
            // Each `a` run with the `b` run of the same seed and the same other settings.
            let mut a_groups = Vec::new();
            let mut b_groups = Vec::new();
            for ra in in_scope.iter().filter(|r| is_a(r)) {
                let partner = in_scope.iter().find(|rb| {
                    rb.seed == ra.seed
                        && rb.setting.value(axis).as_deref() == Some(b_text.as_str())
                        && super::manifest::AXES
                            .iter()
                            .filter(|x| *x != axis)
                            .all(|x| rb.setting.value(x) == ra.setting.value(x))
                });
                if let (Some(rb), Some(ia)) =
                    (partner, items_of(ra, &ra.setting.measure(&f.measure)))
                    && let Some(ib) = items_of(rb, &rb.setting.measure(&f.measure))
                    && ia.len() == ib.len()
                {
                    a_groups.push(ia);
                    b_groups.push(ib);
                }
            }
            if a_groups.is_empty() {
                return no_data(f);
            }
            (
                two_level(&a_groups, Some(&b_groups), seed_of(&f.measure)),
                a_groups.len(),
            )
        }
    };
    let (verdict, reading) = verdict(f.expect, effect, threshold);
    FindingResult {
        finding: f.clone(),
        effect,
        verdict,
        runs: n,
        reading,
    }
}

/// The verdict an interval gives a claim, and why.
pub fn verdict(expect: Expect, e: Interval, threshold: f64) -> (Verdict, String) {
    let span = format!("[{:.4}, {:.4}]", e.low, e.high);
    match expect {
        Expect::AHigher | Expect::ALower => {
            let sign = if expect == Expect::AHigher { 1.0 } else { -1.0 };
            let (low, high) = if sign > 0.0 {
                (e.low, e.high)
            } else {
                (-e.high, -e.low)
            };
            if low > 0.0 {
                (
                    Verdict::Agrees,
                    format!("the difference {span} is clear of zero on the claimed side"),
                )
            } else if high < 0.0 {
                (
                    Verdict::Disagrees,
                    format!("the difference {span} is clear of zero on the other side"),
                )
            } else {
                (
                    Verdict::Inconclusive,
                    format!("the difference {span} holds zero"),
                )
            }
        }
        Expect::Similar => {
            if e.low > -threshold && e.high < threshold {
                (
                    Verdict::Agrees,
                    format!("the difference {span} lies within +-{threshold}"),
                )
            } else if e.low > threshold || e.high < -threshold {
                (
                    Verdict::Disagrees,
                    format!("the difference {span} lies beyond +-{threshold}"),
                )
            } else {
                (
                    Verdict::Inconclusive,
                    format!("the difference {span} reaches past +-{threshold}"),
                )
            }
        }
        Expect::Below | Expect::Above => {
            let below = expect == Expect::Below;
            if (below && e.high < threshold) || (!below && e.low > threshold) {
                (
                    Verdict::Agrees,
                    format!("the value {span} is on the claimed side of {threshold}"),
                )
            } else if (below && e.low > threshold) || (!below && e.high < threshold) {
                (
                    Verdict::Disagrees,
                    format!("the value {span} is on the other side of {threshold}"),
                )
            } else {
                (
                    Verdict::Inconclusive,
                    format!("the value {span} holds {threshold}"),
                )
            }
        }
    }
}

/// A fixed bootstrap stream per measurement, so results do not depend on the order of rows.
fn seed_of(measure: &str) -> u64 {
    measure.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The ratio of sums of the items picked.
fn ratio(items: &[(f64, f64)], picks: &[usize]) -> f64 {
    let (n, d) = picks
        .iter()
        .fold((0.0, 0.0), |(n, d), &i| (n + items[i].0, d + items[i].1));
    if d == 0.0 { 0.0 } else { n / d }
}

/// The mean over groups (seeds) of each group's ratio of sums (minus its partner's in `b`), with
/// a two-level percentile-bootstrap 95% interval: groups drawn with replacement, then items within
/// each drawn group (the same positions in its partner).
pub fn two_level(a: &[&[(f64, f64)]], b: Option<&[&[(f64, f64)]]>, seed: u64) -> Interval {
    let stat = |g: usize, picks: &[usize]| -> f64 {
        let va = ratio(a[g], picks);
        match b {
            Some(b) => va - ratio(b[g], picks),
            None => va,
        }
    };
    let all: Vec<Vec<usize>> = a.iter().map(|g| (0..g.len()).collect()).collect();
    let groups = a.len();
    if groups == 0 {
        return Interval {
            value: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
        };
    }
    let value = (0..groups).map(|g| stat(g, &all[g])).sum::<f64>() / groups as f64;
    let mut rng = SeededRng::new(seed, 0x57ed);
    let mut picks = Vec::new();
    let means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let mut sum = 0.0;
            for _ in 0..groups {
                let g = if groups > 1 { rng.below(groups) } else { 0 };
                let n = a[g].len();
                picks.clear();
                picks.extend((0..n).map(|_| rng.below(n.max(1))));
                sum += stat(g, &picks);
            }
            sum / groups as f64
        })
        .collect();
    percentile_interval(value, means)
}

/// Code-switched answers of each cell, for the report: (cell label, answers).
pub fn switched_examples(study: &Study, runs: &[Run]) -> Vec<(String, Vec<SwitchedAnswer>)> {
    let varying = study.varying_axes();
    let mut out: Vec<(String, Vec<SwitchedAnswer>)> = Vec::new();
    for setting in study.all_settings() {
        let mut answers = Vec::new();
        for r in runs.iter().filter(|r| r.setting == setting) {
            for s in &r.measured.switched {
                if answers.len() < study.measure.examples && !answers.contains(s) {
                    answers.push(s.clone());
                }
            }
        }
        if !answers.is_empty() {
            out.push((setting.label(&varying), answers));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(n: usize, right: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| (f64::from(u8::from(i < right)), 1.0))
            .collect()
    }

    #[test]
    fn the_interval_holds_the_variation_of_seeds_and_of_items() {
        let a = ones(200, 120);
        let b = ones(200, 80);
        // One seed: the item interval around 0.6.
        let one = two_level(&[&a], None, 1);
        assert!((one.value - 0.6).abs() < 1e-12 && one.low < 0.6 && one.high > 0.6);
        // Two seeds far apart: the interval spans both.
        let two = two_level(&[&a, &b], None, 1);
        assert!((two.value - 0.5).abs() < 1e-12);
        assert!(
            two.high - two.low > one.high - one.low,
            "{two:?} vs {one:?}"
        );
        // A paired difference of a model with itself is exactly zero.
        let same = two_level(&[&a], Some(&[&a]), 1);
        assert_eq!((same.value, same.low, same.high), (0.0, 0.0, 0.0));
        // Ratios of sums: bits per byte.
        let bpb = two_level(&[&[(8.0, 4.0), (2.0, 4.0)]], None, 1);
        assert!((bpb.value - 1.25).abs() < 1e-12);
    }

    #[test]
    fn verdicts_follow_the_interval() {
        let iv = |low, high| Interval {
            value: (low + high) / 2.0,
            low,
            high,
        };
        assert_eq!(
            verdict(Expect::AHigher, iv(0.01, 0.2), 0.0).0,
            Verdict::Agrees
        );
        assert_eq!(
            verdict(Expect::AHigher, iv(-0.2, -0.01), 0.0).0,
            Verdict::Disagrees
        );
        assert_eq!(
            verdict(Expect::AHigher, iv(-0.1, 0.1), 0.0).0,
            Verdict::Inconclusive
        );
        assert_eq!(
            verdict(Expect::ALower, iv(-0.2, -0.01), 0.0).0,
            Verdict::Agrees
        );
        assert_eq!(
            verdict(Expect::Similar, iv(-0.01, 0.02), 0.05).0,
            Verdict::Agrees
        );
        assert_eq!(
            verdict(Expect::Similar, iv(0.06, 0.2), 0.05).0,
            Verdict::Disagrees
        );
        assert_eq!(
            verdict(Expect::Below, iv(0.01, 0.04), 0.05).0,
            Verdict::Agrees
        );
        assert_eq!(
            verdict(Expect::Above, iv(0.01, 0.04), 0.05).0,
            Verdict::Disagrees
        );
    }
}
