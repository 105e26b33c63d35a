//! Row arithmetic shared by the CPU kernels (the cross-entropy, attention's softmax), written
//! so that the compiler vectorises it and compiled for the widest vector instructions the CPU
//! has.

use multiversion::multiversion;

/// Lanes the loops are written for: one AVX-512 register, two AVX2 or four NEON ones.
const LANES: usize = 16;

/// `log(sum(exp(row)))`, shifted by the row maximum.
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
pub fn log_sum_exp(row: &[f32]) -> f32 {
    let max = max(row);
    if max == f32::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    let (chunks, tail) = row.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += exp(x - max);
        }
    }
    let sum = acc.iter().sum::<f32>() + tail.iter().map(|&x| exp(x - max)).sum::<f32>();
    max + sum.ln()
}

/// `out = softmax(row) * scale`.
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
pub fn softmax_into(row: &[f32], out: &mut [f32], scale: f32) {
    let max = max(row);
    let (row_chunks, row_tail) = row.as_chunks::<LANES>();
    let (out_chunks, out_tail) = out.as_chunks_mut::<LANES>();
    let mut acc = [0f32; LANES];
    for (o, r) in out_chunks.iter_mut().zip(row_chunks) {
        for ((o, a), &x) in o.iter_mut().zip(acc.iter_mut()).zip(r) {
            *o = exp(x - max);
            *a += *o;
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for (o, &x) in out_tail.iter_mut().zip(row_tail) {
        *o = exp(x - max);
        sum += *o;
    }
    let factor = scale / sum;
    for o in out.iter_mut() {
        *o *= factor;
    }
}

/// `row = exp(row - shift)`: with `shift = log_sum_exp(row)`, the row's softmax.
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
pub fn exp_shifted_in_place(row: &mut [f32], shift: f32) {
    for x in row.iter_mut() {
        *x = exp(*x - shift);
    }
}

/// `row = exp(row - max(row))`, returning `(max(row), sum of the new row)`: with the row then
/// divided by that sum, its softmax, from one exponential per value.
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
pub fn exp_shifted_by_max_in_place(row: &mut [f32]) -> (f32, f32) {
    let max = max(row);
    let (chunks, tail) = row.as_chunks_mut::<LANES>();
    let mut acc = [0f32; LANES];
    for chunk in chunks {
        for (a, x) in acc.iter_mut().zip(chunk) {
            *x = exp(*x - max);
            *a += *x;
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for x in tail {
        *x = exp(*x - max);
        sum += *x;
    }
    (max, sum)
}

/// `row *= factor`.
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
pub fn scale_in_place(row: &mut [f32], factor: f32) {
    for x in row.iter_mut() {
        *x *= factor;
    }
}

/// The gradient of a softmax's input, in place: `grad[j] = p[j] * (grad[j] - dot)`, where `p`
/// is the softmax, `grad` arrives as the gradient of `p`, and `dot = sum(p * grad)`.
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
pub fn softmax_backward_in_place(p: &[f32], grad: &mut [f32], dot: f32) {
    for (g, &p) in grad.iter_mut().zip(p) {
        *g = p * (*g - dot);
    }
}

/// `f(index, chunk)` for each `size`-long chunk of `out`, on every core where there are threads.
pub fn for_each_chunk<T: Send>(
    out: &mut [T],
    size: usize,
    f: impl Fn(usize, &mut [T]) + Send + Sync,
) {
    #[cfg(feature = "native")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(size)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
    #[cfg(not(feature = "native"))]
    out.chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c));
}

/// `f(index, a_chunk, b_chunk)` for the `index`-th `a_size`-long chunk of `a` beside the
/// `index`-th `b_size`-long chunk of `b`, on every core where there are threads.
pub fn for_each_chunk_pair<T: Send, U: Send>(
    a: &mut [T],
    a_size: usize,
    b: &mut [U],
    b_size: usize,
    f: impl Fn(usize, &mut [T], &mut [U]) + Send + Sync,
) {
    #[cfg(feature = "native")]
    {
        use rayon::prelude::*;
        a.par_chunks_mut(a_size)
            .zip(b.par_chunks_mut(b_size))
            .enumerate()
            .for_each(|(i, (a, b))| f(i, a, b));
    }
    #[cfg(not(feature = "native"))]
    a.chunks_mut(a_size)
        .zip(b.chunks_mut(b_size))
        .enumerate()
        .for_each(|(i, (a, b))| f(i, a, b));
}

#[inline(always)]
fn max(row: &[f32]) -> f32 {
    // `if a > b` rather than `f32::max`, whose NaN rule keeps the loop scalar.
    let larger = |a: f32, b: f32| if a > b { a } else { b };
    let (chunks, tail) = row.as_chunks::<LANES>();
    let mut acc = [f32::NEG_INFINITY; LANES];
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = larger(*a, x);
        }
    }
    let tail = tail.iter().copied().fold(f32::NEG_INFINITY, larger);
    acc.iter().copied().fold(tail, larger)
}

/// `e^x` for `x <= 0` to within a few units in the last place, branch-free so that loops
/// over it vectorise: `x = k ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6 polynomial for
/// `e^r` and `2^k` put into the exponent bits. Below -87.3 the result is the smallest normal
/// float's neighbourhood, about 1e-38.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest (Cody-Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.336_55);
    let shifted = x * LOG2E + ROUND;
    let k = shifted - ROUND;
    let k_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Taylor coefficients of e^r to degree 6 (|r| <= 0.347: error below 1.2e-7).
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * f32::from_bits((k_int.wrapping_add(127) as u32) << 23)
}

/// The logistic function `1 / (1 + e^-x)`, branch-free so that loops over it vectorise: [`exp`]
/// is only taken of `-|x|`, where it cannot overflow.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 { r } else { e * r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_standard_library_over_the_range_softmax_uses() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let want = x.exp();
            let got = exp(x);
            let rel = ((got - want) / want).abs();
            worst = worst.max(rel);
            x += 0.001_37;
        }
        assert!(worst < 5e-7, "relative error {worst}");
        assert_eq!(exp(-200.0), exp(-87.336_55));
        assert!(exp(-200.0) < 1e-37);
    }

    #[test]
    fn sigmoid_matches_the_definition_everywhere() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 87.0 {
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            let got = sigmoid(x) as f64;
            worst = worst.max((got - want).abs() / want.max(1e-30));
            x += 0.0173;
        }
        assert!(worst < 1e-6, "relative error {worst}");
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert!(sigmoid(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn log_sum_exp_and_softmax_agree_with_the_definitions() {
        let row: Vec<f32> = (0..1003)
            .map(|i| ((i * 37) % 101) as f32 * 0.173 - 9.0)
            .collect();
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        let lse = max + sum.ln();
        assert!((log_sum_exp(&row) as f64 - lse).abs() < 1e-5);
        let mut out = vec![0f32; row.len()];
        softmax_into(&row, &mut out, 2.0);
        for (o, &x) in out.iter().zip(&row) {
            let want = 2.0 * (x as f64 - lse).exp();
            assert!(
                (*o as f64 - want).abs() < 1e-6 * want.max(1e-3),
                "{o} vs {want}"
            );
        }
    }
}
