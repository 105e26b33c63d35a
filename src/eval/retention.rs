//! What transfer did to a model's knowledge: the same questions put to two models (say, before
//! and after further pretraining on another language), the change in accuracy item by item with
//! a paired bootstrap interval, overall and per subject.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::mcq::{McqReport, Scoring};
use crate::eval::stats::{Interval, RESAMPLES, paired_interval};

/// `after - before` for one scoring.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccuracyChange {
    pub scoring: Scoring,
    pub overall: Interval,
    pub subjects: Vec<(String, Interval)>,
}

/// Paired changes in accuracy from `before` to `after`, which must have answered the same
/// questions.
pub fn compare(before: &McqReport, after: &McqReport, seed: u64) -> Result<Vec<AccuracyChange>> {
    let mut out = Vec::new();
    for a in &after.modes {
        let Some(b) = before.modes.iter().find(|m| m.scoring == a.scoring) else {
            continue;
        };
        let same = a.items.len() == b.items.len()
            && a.items
                .iter()
                .zip(&b.items)
                .all(|(x, y)| x.id == y.id && x.subject == y.subject);
        if !same {
            return Err(Error::InvalidInput(
                "the two reports did not answer the same questions".into(),
            ));
        }
        let outcome =
            |r: &crate::eval::mcq::score::ItemResult| f64::from(u8::from(r.predicted == r.answer));
        let xa: Vec<f64> = a.items.iter().map(outcome).collect();
        let xb: Vec<f64> = b.items.iter().map(outcome).collect();
        let mut subjects = Vec::new();
        for s in &a.subjects {
            let pick = |v: &[f64]| -> Vec<f64> {
                a.items
                    .iter()
                    .zip(v)
                    .filter(|(r, _)| r.subject == s.name)
                    .map(|(_, x)| *x)
                    .collect()
            };
            subjects.push((
                s.name.clone(),
                paired_interval(&pick(&xa), Some(&pick(&xb)), RESAMPLES, seed),
            ));
        }
        out.push(AccuracyChange {
            scoring: a.scoring,
            overall: paired_interval(&xa, Some(&xb), RESAMPLES, seed),
            subjects,
        });
    }
    Ok(out)
}
