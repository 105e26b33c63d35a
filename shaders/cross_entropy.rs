//! Softmax cross-entropy over the vocabulary on the GPU, forward and backward, one cube (work
//! group) per row of logits.
//!
//! For a row `z` of width `V` with target `t`, `m = max(z)` and `S = Σ exp(z − m)`:
//! - forward: `loss = m + ln S − z[t]`;
//! - backward, given the row's loss gradient `g`: `dz[j] = (exp(z[j] − m) / S − [j = t]) · g`.
//!
//! Each pass reads the row where Burn's composition (max, subtract, exponentiate, sum, log, gather,
//! then softmax and a scatter for the gradient) writes `(rows, vocab)` intermediates between
//! kernels. The threads of a cube stride over the row; the partial maxima and sums meet in shared
//! memory and the first thread combines them in order, so no float atomics or subgroup
//! operations are needed (browsers often lack them).

use cubecl::prelude::*;

/// The maximum and the sum of `exp(z − max)` of row `row` of `logits`, seen by every thread.
#[cube]
fn row_max_and_sum<F: Float>(
    logits: &Tensor<F>,
    start: usize,
    width: usize,
    #[comptime] threads: usize,
) -> (F, F) {
    let unit = UNIT_POS_X as usize;
    let mut maxima = Shared::new_slice(threads);
    let mut sums = Shared::new_slice(threads);

    // Every thread starts from the row's first logit, so threads without elements hold a value
    // of the row and never an infinity.
    let mut m = logits[start];
    let mut j = unit;
    while j < width {
        m = F::max(m, logits[start + j]);
        j += threads;
    }
    maxima[unit] = m;
    sync_cube();
    if UNIT_POS_X == 0 {
        let mut all = maxima[0];
        for k in 1..threads {
            all = F::max(all, maxima[k]);
        }
        maxima[0] = all;
    }
    sync_cube();
    let m = maxima[0];

    let mut s = F::new(0.0);
    let mut j = unit;
    while j < width {
        s += F::exp(logits[start + j] - m);
        j += threads;
    }
    sums[unit] = s;
    sync_cube();
    if UNIT_POS_X == 0 {
        let mut all = F::new(0.0);
        for k in 0..threads {
            all += sums[k];
        }
        sums[0] = all;
    }
    sync_cube();
    (m, sums[0])
}

/// `loss[r] = logsumexp(logits[r]) − logits[r, targets[r]]` for a contiguous `(rows, width)`.
#[cube(launch)]
pub fn cross_entropy_forward<F: Float, I: Int>(
    logits: &Tensor<F>,
    targets: &Tensor<I>,
    loss: &mut Tensor<F>,
    rows: u32,
    width: u32,
    #[comptime] threads: u32,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let row = CUBE_POS;
    if row >= rows as usize {
        terminate!();
    }
    let width = width as usize;
    let start = row * width;
    let (m, s) = row_max_and_sum::<F>(logits, start, width, threads as usize);
    if UNIT_POS_X == 0 {
        let target = usize::cast_from(targets[row]);
        loss[row] = m + F::ln(s) - logits[start + target];
    }
}

/// `dlogits[r, j] = (softmax(logits[r])[j] − [j = targets[r]]) · grad[r]`.
#[cube(launch)]
pub fn cross_entropy_backward<F: Float, I: Int>(
    logits: &Tensor<F>,
    targets: &Tensor<I>,
    grad: &Tensor<F>,
    dlogits: &mut Tensor<F>,
    rows: u32,
    width: u32,
    #[comptime] threads: u32,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let row = CUBE_POS;
    if row >= rows as usize {
        terminate!();
    }
    let width = width as usize;
    let start = row * width;
    let (m, s) = row_max_and_sum::<F>(logits, start, width, threads as usize);
    let g = grad[row];
    let target = usize::cast_from(targets[row]);
    let scale = g / s;
    let mut j = UNIT_POS_X as usize;
    while j < width {
        let mut d = F::exp(logits[start + j] - m) * scale;
        if j == target {
            d -= g;
        }
        dlogits[start + j] = d;
        j += threads as usize;
    }
}
