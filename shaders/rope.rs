//! Rotary position embedding on the GPU in the HF layout, forward and backward in one kernel.
//!
//! For a head of width `d` (half `h = d / 2`) at position `p`, element `i` of the output is
//! `x[i] · cos[p, i] + s · rot(x)[i] · sin[p, i]`, where `rot(x)[i]` is `−x[i + h]` for `i < h`
//! and `x[i − h]` for `i ≥ h` (transformers' `rotate_half`). With `s = 1` it rotates each pair
//! `(i, i + h)` by its angle; with `s = −1` by the opposite angle, which is the rotation's
//! transpose, so the backward step is the same kernel applied to the output's gradient (the two
//! halves of a table row hold the same angles).
//!
//! One thread per output element. The input is read through its strides, so the heads' usual
//! `(batch, seq, heads, dim) -> (batch, heads, seq, dim)` transposition needs no copy first.

use cubecl::prelude::*;

/// `out = x · cos + sign · rot(x) · sin` for `x` `(batch, heads, seq, dim)` (any strides), the
/// tables `(seq, dim)` and `out` contiguous.
#[cube(launch)]
pub fn rotary<F: Float>(
    x: &Tensor<F>,
    cos: &Tensor<F>,
    sin: &Tensor<F>,
    out: &mut Tensor<F>,
    sign: InputScalar,
    #[define(F)] _dtype: ElemType,
) {
    let index = ABSOLUTE_POS;
    if index >= out.len() {
        terminate!();
    }
    let dim = out.shape(3);
    let seq = out.shape(2);
    let heads = out.shape(1);
    let half = dim / 2;
    let i = index % dim;
    let p = (index / dim) % seq;
    let h = (index / (dim * seq)) % heads;
    let b = index / (dim * seq * heads);
    let row = b * x.stride(0) + h * x.stride(1) + p * x.stride(2);
    let step = x.stride(3);

    let here = x[row + i * step];
    let mut partner = F::new(0.0);
    if i < half {
        partner -= x[row + (i + half) * step];
    } else {
        partner += x[row + (i - half) * step];
    }
    let t = p * dim + i;
    out[index] = here * cos[t] + sign.get::<F>() * partner * sin[t];
}
