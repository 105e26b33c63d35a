//! RMSNorm on the GPU, forward and backward, one cube (work group) per row.
//!
//! Written in CubeCL rather than WGSL: CubeCL compiles the same kernel to WGSL for wgpu and the
//! browser's WebGPU, and to SPIR-V with `--features spirv`, where a WGSL file would serve only
//! the first. The threads of a cube stride over the row's width, each summing its share; the
//! partial sums meet in shared memory, and the first thread adds them in order, so no kernel
//! needs float atomics or subgroup operations (which many browsers lack).
//!
//! For a row `x` of width `d`, weight `g`, and `r = 1 / sqrt(mean(x²) + eps)`:
//! - forward: `y = x · r · g`;
//! - backward, given `dy`: with `c = mean(dy · g · x)`, `dx = r · dy · g − x · r³ · c`, and the
//!   row's share of the weight's gradient `dy · x · r` (summed over rows by the caller).

use cubecl::prelude::*;

/// The sum of `partial[0..threads]` once every thread has written its own: thread 0 adds them
/// in order and leaves the total in `partial[0]` for all to read after the barrier.
#[cube]
fn cube_total<F: Float>(partial: &mut Shared<[F]>, #[comptime] threads: usize) -> F {
    sync_cube();
    if UNIT_POS_X == 0 {
        let mut total = F::new(0.0);
        for k in 0..threads {
            total += partial[k];
        }
        partial[0] = total;
    }
    sync_cube();
    partial[0]
}

/// `y = x · r · g` for every row of a contiguous `(rows, width)` `x`.
#[cube(launch)]
pub fn rms_norm_forward<F: Float>(
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    out: &mut Tensor<F>,
    rows: u32,
    width: u32,
    eps: InputScalar,
    #[comptime] threads: u32,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= rows as usize {
        terminate!();
    }
    let width = width as usize;
    let step = threads as usize;
    let start = row * width;
    let unit = UNIT_POS_X as usize;

    let mut partial = Shared::new_slice(threads as usize);
    let mut sum = F::new(0.0);
    let mut j = unit;
    while j < width {
        let v = x[start + j];
        sum += v * v;
        j += step;
    }
    partial[unit] = sum;
    let total = cube_total::<F>(&mut partial, threads as usize);

    let r = F::new(1.0) / F::sqrt(total / F::cast_from(width as u32) + eps.get::<F>());
    let mut j = unit;
    while j < width {
        out[start + j] = x[start + j] * r * gamma[j];
        j += step;
    }
}

/// `dx` and each row's share of the weight's gradient, `dy · x · r`, for every row.
#[cube(launch)]
pub fn rms_norm_backward<F: Float>(
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    dy: &Tensor<F>,
    dx: &mut Tensor<F>,
    dgamma_rows: &mut Tensor<F>,
    rows: u32,
    width: u32,
    eps: InputScalar,
    #[comptime] threads: u32,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= rows as usize {
        terminate!();
    }
    let width = width as usize;
    let step = threads as usize;
    let start = row * width;
    let unit = UNIT_POS_X as usize;

    let mut squares = Shared::new_slice(threads as usize);
    let mut products = Shared::new_slice(threads as usize);
    let mut sum_squares = F::new(0.0);
    let mut sum_products = F::new(0.0);
    let mut j = unit;
    while j < width {
        let v = x[start + j];
        sum_squares += v * v;
        sum_products += dy[start + j] * gamma[j] * v;
        j += step;
    }
    squares[unit] = sum_squares;
    products[unit] = sum_products;
    let total_squares = cube_total::<F>(&mut squares, threads as usize);
    let total_products = cube_total::<F>(&mut products, threads as usize);

    let n = F::cast_from(width as u32);
    let r = F::new(1.0) / F::sqrt(total_squares / n + eps.get::<F>());
    let c = total_products / n;
    let r3c = r * r * r * c;
    let mut j = unit;
    while j < width {
        let v = x[start + j];
        let g = dy[start + j];
        dx[start + j] = r * g * gamma[j] - v * r3c;
        dgamma_rows[start + j] = g * v * r;
        j += step;
    }
}
