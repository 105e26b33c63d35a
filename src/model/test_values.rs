//! Values for the unit tests of the CPU operations: deterministic patterns and a comparison
//! that also refuses an all-zero result.

use burn::prelude::*;

/// `n` values in `[-scale / 2, scale / 2)`, a different spread for each `seed`.
pub fn pattern(n: usize, seed: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7_919 + seed * 104_729) % 1_009) as f32 / 1_009.0 - 0.5) * scale)
        .collect()
}

/// A tensor's values.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// `a` and `b` agree to within `1e-4` everywhere, and `a` is not all zero.
pub fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a
        .iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "{what} differs by {worst}");
    assert!(a.iter().any(|&v| v != 0.0), "{what} is all zero");
}
