//! A device's arithmetic checked against the host before it is trusted: sums of known vectors,
//! whole and along each dimension, at lengths from a thousand to four million elements.
//!
//! Training needs such sums to be right (the global gradient norm that clipping divides by, the
//! gradient norms it reports), and they are where some drivers go wrong without an error: on
//! Debian 12's Mesa 22 (llvmpipe), a sum over more than about 2^18 elements stops growing, so
//! the sum of four million ones comes out as 262,132. A device that fails is refused with what
//! was measured, instead of training silently wrong.
//!
//! [`known_answers`] adds what `beyond doctor` runs: a small model's logits, loss and gradient
//! norms on the device against the same model on the CPU backend.

use burn::prelude::*;
use serde::Serialize;

/// The lengths summed: across 2^18 and up to an embedding gradient of a 32k x 128 vocabulary.
const LENGTHS: [usize; 4] = [1 << 10, (1 << 18) + 64, 1 << 20, 1 << 22];

/// Columns of the two-dimensional sums (every length is a multiple of it).
const COLUMNS: usize = 64;

/// A sum the device got wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct SumFault {
    /// Which sum: `sum of 1048576 ones`, ...
    pub what: String,
    pub expected: f64,
    pub got: f64,
}

impl std::fmt::Display for SumFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} gave {} (expected {})",
            self.what, self.got, self.expected
        )
    }
}

/// Runs every sum on `device` and returns the first that is wrong, or `None` when all agree
/// with the host.
pub fn check_sums(device: &Device) -> Option<SumFault> {
    LENGTHS.iter().find_map(|&n| check_length(device, n))
}

/// [`check_sums`], with a driver that panics counted as a failure.
pub fn sums_or_failure(device: &Device) -> Option<SumFault> {
    std::panic::catch_unwind(|| check_sums(device)).unwrap_or_else(|_| {
        Some(SumFault {
            what: "the check itself (the driver failed)".into(),
            expected: f64::NAN,
            got: f64::NAN,
        })
    })
}

fn check_length(device: &Device, n: usize) -> Option<SumFault> {
    let ones = || Tensor::<1>::ones([n], device);
    let n_f = n as f64;
    let rows = n / COLUMNS;
    // Sums of ones are whole numbers below 2^24: exact in f32 whatever the order of addition.
    let exact = [
        (format!("sum of {n} ones"), scalar(ones().sum()), n_f),
        (
            format!("sum along the only dimension of {n} ones"),
            scalar(ones().sum_dim(0)),
            n_f,
        ),
    ];
    for (what, got, expected) in exact {
        if got != expected {
            return Some(SumFault {
                what,
                expected,
                got,
            });
        }
    }
    // Long columns, then long rows: every sum is `rows`.
    for (shape, dim, what) in [
        (
            [rows, COLUMNS],
            0,
            format!("column sums of {rows} x {COLUMNS} ones"),
        ),
        (
            [COLUMNS, rows],
            1,
            format!("row sums of {COLUMNS} x {rows} ones"),
        ),
    ] {
        let sums = values(ones().reshape(shape).sum_dim(dim));
        if let Some(fault) = all_equal(&sums, rows as f64, what) {
            return Some(fault);
        }
    }
    // A known vector of mixed signs, squared and summed as a gradient norm is. Its values are
    // halves, so every partial sum is exact in f32 too: any difference is a fault, not rounding.
    let host = known_vector(n);
    let expected: f64 = host.iter().map(|&x| (x as f64) * (x as f64)).sum();
    let tensor = Tensor::<1>::from_data(TensorData::new(host, [n]), device);
    let got = scalar(tensor.square().sum());
    if got != expected {
        return Some(SumFault {
            what: format!("sum of squares of {n} known values"),
            expected,
            got,
        });
    }
    None
}

/// One check and how it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    /// What was compared, or what was wrong.
    pub detail: String,
    pub seconds: f64,
}

/// The doctor's checks on `device`: the sums, then a small LLaMA (an 8,192-token vocabulary, so
/// its embedding and head gradients sum 524,288 elements each, past where Mesa 22 goes wrong)
/// run on the device and on the CPU backend from the same weights: logits, loss, and every
/// parameter's gradient norm.
#[cfg(feature = "native")]
pub fn known_answers(device: &Device) -> Vec<Check> {
    let started = std::time::Instant::now();
    let sums = sums_or_failure(device);
    let mut checks = vec![Check {
        name: "sums".into(),
        passed: sums.is_none(),
        detail: match &sums {
            None => format!(
                "sums of ones and of known values, up to {} elements, exactly as on the host",
                LENGTHS[LENGTHS.len() - 1]
            ),
            Some(fault) => fault.to_string(),
        },
        seconds: started.elapsed().as_secs_f64(),
    }];
    let started = std::time::Instant::now();
    match std::panic::catch_unwind(|| model::compare(device)) {
        Ok(Ok(found)) => checks.extend(found),
        Ok(Err(e)) => checks.push(Check {
            name: "model".into(),
            passed: false,
            detail: e.to_string(),
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(_) => checks.push(Check {
            name: "model".into(),
            passed: false,
            detail: "the driver failed while running the model".into(),
            seconds: started.elapsed().as_secs_f64(),
        }),
    }
    checks
}

#[cfg(feature = "native")]
mod model {
    use std::path::Path;
    use std::time::Instant;

    use burn::module::Module;
    use burn::prelude::*;

    use super::Check;
    use crate::error::{Error, Result};
    use crate::model::checkpoint::{CONFIG_FILE, SaveOptions, checkpoint_files};
    use crate::model::generate::ids_tensor;
    use crate::model::weights::host_values;
    use crate::model::{Checkpoint, ForwardOptions, Llama, LlamaConfig};
    use crate::train::step::{Batch, loss_and_grads};
    use crate::train::{grad_norms, named_params};

    const VOCAB: usize = 8192;

    /// What a model computes on a device.
    struct Outputs {
        logits: Vec<f32>,
        loss: f64,
        grad_norms: Vec<(String, Option<f64>)>,
    }

    pub(super) fn compare(device: &Device) -> Result<Vec<Check>> {
        let config = LlamaConfig::new(VOCAB, 64, 176, 2, 4, 2);
        let files = checkpoint_files(
            &Llama::init(&config, 0.15, &Device::flex()),
            None,
            &SaveOptions::default(),
        )?;
        let config_json = files
            .iter()
            .find(|(name, _)| name == CONFIG_FILE)
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| Error::Internal("a saved model without config.json".into()))?;
        let weights = files
            .into_iter()
            .filter(|(name, _)| name.ends_with(".safetensors"))
            .map(|(name, bytes)| (name.into(), bytes))
            .collect();
        let checkpoint =
            Checkpoint::from_bytes(Path::new("known-answer model"), &config_json, weights)?;
        // Two rows of 16 tokens spread over the vocabulary.
        let ids: Vec<Vec<u32>> = (0..2u32)
            .map(|row| {
                (0..16u32)
                    .map(|i| (row * 7919 + i * 2003 + 1) % VOCAB as u32)
                    .collect()
            })
            .collect();
        let batch = Batch {
            labels: ids
                .iter()
                .map(|r| r.iter().map(|&t| t as i64).collect())
                .collect(),
            input_ids: ids,
            attention_mask: None,
        };
        let expected = run(&checkpoint, &batch, &Device::flex())?;
        let started = Instant::now();
        let got = run(&checkpoint, &batch, device)?;
        let seconds = started.elapsed().as_secs_f64();
        let logits_error = expected
            .logits
            .iter()
            .zip(&got.logits)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let loss_error = (expected.loss - got.loss).abs() / expected.loss.abs().max(1e-9);
        let worst = expected
            .grad_norms
            .iter()
            .zip(&got.grad_norms)
            .map(|((name, a), (_, b))| {
                let (a, b) = (a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN));
                (name.clone(), a, b, (a - b).abs() / a.abs().max(1e-9))
            })
            .max_by(|x, y| x.3.total_cmp(&y.3).then(std::cmp::Ordering::Less));
        let mut checks = vec![
            Check {
                name: "logits".into(),
                passed: logits_error <= 1e-3,
                detail: format!(
                    "largest difference from the CPU backend {logits_error:.2e} (allowed 1e-3); \
                     the model ran in {seconds:.1} s"
                ),
                seconds,
            },
            Check {
                name: "loss".into(),
                passed: loss_error <= 1e-4,
                detail: format!(
                    "{:.6} against {:.6} on the CPU backend",
                    got.loss, expected.loss
                ),
                seconds: 0.0,
            },
        ];
        if let Some((name, want, have, error)) = worst {
            checks.push(Check {
                name: "gradient norms".into(),
                // NaN (a norm that could not be read) fails too.
                passed: error <= 1e-3,
                detail: format!("worst: {name} {have:.5} against {want:.5} on the CPU backend"),
                seconds: 0.0,
            });
        }
        Ok(checks)
    }

    fn run(checkpoint: &Checkpoint, batch: &Batch, device: &Device) -> Result<Outputs> {
        let (model, _) = checkpoint.load(device)?;
        let logits = model.forward(
            ids_tensor(&batch.input_ids, device),
            ForwardOptions::default(),
        );
        let logits = host_values(logits, "the logits")?;
        let model = model.train();
        let params = named_params(&model);
        let (loss, grads) = loss_and_grads(&model, batch, &params, 1.0);
        Ok(Outputs {
            logits,
            loss,
            grad_norms: grad_norms(&grads, &params),
        })
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}

fn all_equal(values: &[f32], expected: f64, what: String) -> Option<SumFault> {
    if values.is_empty() {
        return Some(SumFault {
            what: format!("{what} (nothing read back)"),
            expected,
            got: f64::NAN,
        });
    }
    values
        .iter()
        .map(|&v| v as f64)
        .find(|&v| v != expected)
        .map(|got| SumFault {
            what,
            expected,
            got,
        })
}

/// Values among -1, -0.5, 0, 0.5 and 1 from a fixed xorshift sequence.
fn known_vector(n: usize) -> Vec<f32> {
    let mut state: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 5) as f32 * 0.5 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_backend_passes() {
        assert_eq!(check_sums(&Device::flex()), None);
    }

    #[test]
    fn a_wrong_sum_is_named_with_both_values() {
        let fault = all_equal(&[4.0, 4.0, 3.0], 4.0, "column sums".into()).unwrap();
        assert_eq!(fault.to_string(), "column sums gave 3 (expected 4)");
        assert!(all_equal(&[], 4.0, "x".into()).is_some());
        assert!(all_equal(&[4.0; 3], 4.0, "x".into()).is_none());
    }

    #[test]
    fn the_known_vector_spans_both_signs() {
        let v = known_vector(10_000);
        assert!(v.iter().all(|x| [-1.0, -0.5, 0.0, 0.5, 1.0].contains(x)));
        let negative = v.iter().filter(|&&x| x < 0.0).count();
        assert!((4_000..6_000).contains(&negative), "{negative}");
    }
}
