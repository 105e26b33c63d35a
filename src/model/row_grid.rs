//! The launch shape our row kernels share (`shaders/rms_norm.rs`, `shaders/cross_entropy.rs`):
//! one cube per row, its threads striding over the row.

use burn::backend::wgpu::CubeTensor;
use cubecl::prelude::*;
use cubecl::{CubeDim, calculate_cube_count_elemwise};

/// Threads of a cube: at most 256, fewer for narrow rows (a multiple of 32).
fn threads(width: usize) -> u32 {
    (width.div_ceil(32) * 32).clamp(32, 256) as u32
}

/// One cube per row of `x`: its threads, its shape, and the cubes (spread over the grid's
/// dimensions when there are more rows than one dimension takes).
pub(crate) fn row_grid(x: &CubeTensor, rows: usize, width: usize) -> (u32, CubeDim, CubeCount) {
    let threads = threads(width);
    let cube_dim = CubeDim::new_1d(threads);
    let cube_count = calculate_cube_count_elemwise(&x.client, rows * threads as usize, cube_dim);
    (threads, cube_dim, cube_count)
}
