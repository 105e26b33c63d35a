//! Confidence intervals for accuracies and their differences, by the percentile bootstrap over
//! questions with a seeded, portable random stream (the same interval on every machine).

use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;

/// An estimate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// A value with no spread to estimate (fewer than two draws, or none asked for).
    pub fn point(value: f64) -> Self {
        Self {
            value,
            low: value,
            high: value,
        }
    }
}

/// Resamples drawn by default.
pub const RESAMPLES: usize = 1000;

/// The mean of `outcomes` (1 right, 0 wrong) with a percentile-bootstrap 95% interval.
pub fn mean_interval(outcomes: &[f64], resamples: usize, seed: u64) -> Interval {
    paired_interval(outcomes, None, resamples, seed)
}

/// The mean of `a` (or of `a - b`, item by item, when `b` is given: the same questions put to
/// two models) with a percentile-bootstrap 95% interval.
pub fn paired_interval(a: &[f64], b: Option<&[f64]>, resamples: usize, seed: u64) -> Interval {
    let n = a.len();
    let diff: Vec<f64> = match b {
        Some(b) => a.iter().zip(b).map(|(x, y)| x - y).collect(),
        None => a.to_vec(),
    };
    let value = mean(&diff);
    if n < 2 || resamples == 0 {
        return Interval::point(value);
    }
    let mut rng = SeededRng::new(seed, 0x5eed);
    let means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| diff[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    percentile_interval(value, means)
}

/// `value` with the 2.5th and 97.5th percentiles of its bootstrap `draws` (at least one).
pub fn percentile_interval(value: f64, mut draws: Vec<f64>) -> Interval {
    draws.sort_by(f64::total_cmp);
    let last = draws.len() - 1;
    let at = |q: f64| draws[((q * last as f64).round() as usize).min(last)];
    Interval {
        value,
        low: at(0.025),
        high: at(0.975),
    }
}

/// A statistic of `n` items with its percentile-bootstrap 95% interval: `stat` gets the indices
/// of a resample (with repeats) and is first called on all items in order.
pub fn bootstrap(
    n: usize,
    resamples: usize,
    seed: u64,
    stat: impl Fn(&[usize]) -> f64,
) -> Interval {
    let all: Vec<usize> = (0..n).collect();
    let value = stat(&all);
    if n < 2 || resamples == 0 {
        return Interval::point(value);
    }
    let mut rng = SeededRng::new(seed, 0x5eed);
    let mut picks = vec![0; n];
    let values: Vec<f64> = (0..resamples)
        .map(|_| {
            for p in picks.iter_mut() {
                *p = rng.below(n);
            }
            stat(&picks)
        })
        .collect();
    percentile_interval(value, values)
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_covers_the_mean_and_narrows_with_more_data() {
        let small: Vec<f64> = (0..20).map(|i| f64::from(u8::from(i % 2 == 0))).collect();
        let large: Vec<f64> = (0..2000).map(|i| f64::from(u8::from(i % 2 == 0))).collect();
        let s = mean_interval(&small, 1000, 1);
        let l = mean_interval(&large, 1000, 1);
        assert!((s.value - 0.5).abs() < 1e-12 && (l.value - 0.5).abs() < 1e-12);
        assert!(s.low < 0.5 && s.high > 0.5);
        assert!(l.high - l.low < (s.high - s.low) / 4.0);
        // The normal approximation for n = 2000: +-1.96 * 0.5 / sqrt(2000) = +-0.0219.
        assert!(((l.high - l.low) / 2.0 - 0.0219).abs() < 0.004, "{l:?}");
        assert_eq!(s, mean_interval(&small, 1000, 1));
    }

    #[test]
    fn paired_difference_of_equal_models_is_zero() {
        let a: Vec<f64> = (0..50).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
        let d = paired_interval(&a, Some(&a), 500, 3);
        assert_eq!((d.value, d.low, d.high), (0.0, 0.0, 0.0));
    }
}
