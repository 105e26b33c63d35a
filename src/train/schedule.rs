//! Learning-rate schedules: linear warmup, then cosine or linear decay to a floor, or constant.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    #[default]
    Cosine,
    Linear,
    Constant,
}

/// The learning rate at every step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schedule {
    /// Peak learning rate, reached at the end of warmup.
    pub lr: f64,
    pub warmup_steps: u64,
    pub decay: Decay,
    /// The floor of the decay, as a fraction of `lr`.
    pub min_lr_ratio: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            lr: 3e-4,
            warmup_steps: 0,
            decay: Decay::Cosine,
            min_lr_ratio: 0.1,
        }
    }
}

impl Schedule {
    /// The rate for update `step` (0-based) of `total`.
    pub fn lr_at(&self, step: u64, total: u64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let floor = self.lr * self.min_lr_ratio;
        let span = total.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).clamp(0.0, 1.0);
        match self.decay {
            Decay::Constant => self.lr,
            Decay::Linear => floor + (self.lr - floor) * (1.0 - progress),
            Decay::Cosine => {
                floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_decay_to_the_floor() {
        let s = Schedule {
            lr: 1.0,
            warmup_steps: 4,
            decay: Decay::Cosine,
            min_lr_ratio: 0.1,
        };
        assert_eq!(s.lr_at(0, 104), 0.25);
        assert_eq!(s.lr_at(3, 104), 1.0);
        assert!((s.lr_at(4, 104) - 1.0).abs() < 1e-12);
        assert!((s.lr_at(54, 104) - 0.55).abs() < 1e-12);
        assert!((s.lr_at(104, 104) - 0.1).abs() < 1e-12);
        let linear = Schedule {
            decay: Decay::Linear,
            ..s
        };
        assert!((linear.lr_at(54, 104) - 0.55).abs() < 1e-12);
    }
}
