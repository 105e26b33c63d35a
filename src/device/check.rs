//! A device's arithmetic checked against the host before it is trusted: sums of known vectors,
//! whole and along each dimension, at lengths from a thousand to four million elements.
//!
//! Training needs such sums to be right (the global gradient norm that clipping divides by, the
//! gradient norms it reports), and they are where some drivers go wrong without an error: on
//! Debian 12's Mesa 22 (llvmpipe), a sum over more than about 2^18 elements stops growing, so
//! the sum of four million ones comes out as 262,132. A device that fails is refused with what
//! was measured, instead of training silently wrong.

use burn::prelude::*;

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
    // A known vector of mixed signs, squared and summed as a gradient norm is.
    let host = known_vector(n);
    let expected: f64 = host.iter().map(|&x| (x as f64) * (x as f64)).sum();
    let tensor = Tensor::<1>::from_data(TensorData::new(host, [n]), device);
    let got = scalar(tensor.square().sum());
    if (got - expected).abs() > 1e-4 * expected {
        return Some(SumFault {
            what: format!("sum of squares of {n} known values"),
            expected,
            got,
        });
    }
    None
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

/// Values in [-1, 1) from a fixed xorshift sequence.
fn known_vector(n: usize) -> Vec<f32> {
    let mut state: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
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
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        let negative = v.iter().filter(|&&x| x < 0.0).count();
        assert!((4_000..6_000).contains(&negative), "{negative}");
    }
}
