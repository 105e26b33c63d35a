//! Causal attention on the CPU as one operation each way, key/value heads shared by groups of
//! query heads.
//!
//! Burn 0.22.1's CPU backend computes a head's scores with `gemm`, then walks them with a
//! scalar loop that tests the causal mask element by element and exponentiates the masked half
//! too; under autodiff, Burn records attention as its composition (product, mask, softmax,
//! product), each step keeping a `(batch, heads, queries, keys)` tensor for the backward pass.
//! Here each (batch, key/value head) is one task: the scores of its query heads with `gemm`, a
//! vectorised softmax over each query's visible keys only ([`crate::model::rows`]), the output
//! with `gemm` straight into the `(batch, queries, heads, dim)` order the output projection
//! reads. The backward step keeps only the inputs and each query's log-sum-exp, recomputes the
//! probabilities, as FlashAttention's does, and accumulates the gradients of shared key/value
//! heads without repeating them. Operands are read through their strides; nothing is copied.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, DType, backend_extension};
use burn::prelude::*;

use super::projection::on_flex;

/// Backends that compute bottom-right-aligned causal attention: query `i` of `q_len` sees the
/// keys up to position `kv_len - q_len + i`.
#[backend_extension(Flex, Autodiff)]
pub trait CausalAttentionBackend: Backend {
    /// `q` `(b, heads, q_len, d)`, `k` `(b, kv_heads, kv_len, d)`, `v` `(b, kv_heads, kv_len,
    /// dv)`: the output `(b, heads, q_len, dv)` and each query's log-sum-exp of its scaled
    /// scores `(b, heads, q_len)`.
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients of `q`, `k` and `v` given the output's gradient `dout`.
    fn causal_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl CausalAttentionBackend for burn::backend::Flex {
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        flex::forward(&q, &k, &v, scale as f32)
    }

    fn causal_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        flex::backward(&q, &k, &v, &lse, &dout, scale as f32)
    }
}

impl<B: CausalAttentionBackend, C: CheckpointStrategy> CausalAttentionBackend for Autodiff<B, C> {
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct AttentionStep;

        impl<B: CausalAttentionBackend> Backward<B, 3> for AttentionStep {
            type State = (
                FloatTensor<B>,
                FloatTensor<B>,
                FloatTensor<B>,
                FloatTensor<B>,
                f64,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (q, k, v, lse, scale) = ops.state;
                let [q_node, k_node, v_node] = ops.parents;
                let dout = grads.consume::<B>(&ops.node);
                let (dq, dk, dv) = B::causal_attention_backward(q, k, v, lse, dout, scale);
                for (node, grad) in [(q_node, dq), (k_node, dk), (v_node, dv)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let (q, q_node) = q.into_parts();
        let (k, k_node) = k.into_parts();
        let (v, v_node) = v.into_parts();
        let (out, lse) = B::causal_attention(q.clone(), k.clone(), v.clone(), scale);
        let out = match AttentionStep
            .prepare::<C>([q_node, k_node, v_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((q, k, v, lse.clone(), scale), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, Self::from_inner(lse))
    }

    fn causal_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // A gradient is not differentiated again: computed on the inner backend, untracked.
        let (dq, dk, dv) = B::causal_attention_backward(
            Self::inner(q),
            Self::inner(k),
            Self::inner(v),
            Self::inner(lse),
            Self::inner(dout),
            scale,
        );
        (
            Self::from_inner(dq),
            Self::from_inner(dk),
            Self::from_inner(dv),
        )
    }
}

/// Whether [`causal_attention`] serves `q`: f32 on the CPU backend.
pub fn runs_here(q: &Tensor<4>) -> bool {
    on_flex(&q.device()) && q.dtype() == DType::F32
}

/// Bottom-right-aligned causal attention, scaled by `1 / sqrt(d)`: `q` `(b, heads, q_len, d)`
/// over `k`, `v` `(b, kv_heads, kv_len, d)` with `heads` a multiple of `kv_heads`; the output
/// is `(b, heads, q_len, d)`. Differentiable in all three. For [`runs_here`] tensors only.
pub fn causal_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    use burn::backend::Dispatch;
    let scale = 1.0 / (q.dims()[3] as f64).sqrt();
    let (out, _) = <Dispatch as CausalAttentionBackend>::causal_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        scale,
    );
    Tensor::from_dispatch(out)
}

/// The CPU side: one task per (batch, key/value head), `gemm` for the products.
mod flex {
    use burn::backend::flex::{FlexTensor, Layout};
    use burn::backend::{Bytes, DType};
    use burn::prelude::Shape;

    use crate::model::rows;

    /// A 4-D operand: its first element and strides, in elements.
    #[derive(Clone, Copy)]
    struct View {
        ptr: *const f32,
        strides: [isize; 4],
    }

    // SAFETY: a view only reads its tensor, which outlives every task that holds the view.
    unsafe impl Send for View {}
    unsafe impl Sync for View {}

    impl View {
        fn of(t: &FlexTensor) -> (Self, [usize; 4]) {
            assert_eq!(t.dtype(), DType::F32, "CPU attention takes f32");
            let layout = t.layout();
            let shape = layout.shape();
            assert_eq!(shape.num_dims(), 4, "attention takes 4-D tensors");
            let s = layout.strides();
            let ptr = t.storage::<f32>()[layout.start_offset()..].as_ptr();
            let view = Self {
                ptr,
                strides: [s[0], s[1], s[2], s[3]],
            };
            (view, [shape[0], shape[1], shape[2], shape[3]])
        }

        /// The `(rows, cols)` matrix of batch `b`, head `h`.
        fn head(&self, b: usize, h: usize) -> *const f32 {
            self.ptr
                .wrapping_offset(b as isize * self.strides[0] + h as isize * self.strides[1])
        }

        fn rows(&self) -> isize {
            self.strides[2]
        }

        fn cols(&self) -> isize {
            self.strides[3]
        }
    }

    /// An output being written by several tasks, each to its own heads.
    #[derive(Clone, Copy)]
    struct Out(*mut f32);

    // SAFETY: tasks write disjoint elements (their own heads' rows) and the buffer outlives them.
    unsafe impl Send for Out {}
    unsafe impl Sync for Out {}

    impl Out {
        /// Element `i` (a method, so that closures capture the whole `Out`, not its pointer).
        fn at(&self, i: usize) -> *mut f32 {
            self.0.wrapping_add(i)
        }
    }

    /// A `(b, heads, len, dim)` result stored as `(b, len, heads, dim)`: the order in which
    /// the heads are concatenated for the output projection, so that swapping the axes back
    /// costs nothing.
    struct HeadsLast {
        values: Vec<f32>,
        dims: [usize; 4],
    }

    impl HeadsLast {
        fn new([b, heads, len, dim]: [usize; 4]) -> Self {
            Self {
                values: Vec::with_capacity(b * heads * len * dim),
                dims: [b, heads, len, dim],
            }
        }

        /// Where head `h` of batch `b` starts, and its row stride.
        fn head(&mut self, b: usize, h: usize) -> (Out, isize) {
            let [_, heads, len, dim] = self.dims;
            let at = (b * len * heads + h) * dim;
            (
                Out(self.values.as_mut_ptr().wrapping_add(at)),
                (heads * dim) as isize,
            )
        }

        /// SAFETY: every element has been written.
        unsafe fn into_tensor(mut self) -> FlexTensor {
            let [b, heads, len, dim] = self.dims;
            // SAFETY: the caller has written all `b * heads * len * dim` values.
            unsafe { self.values.set_len(b * heads * len * dim) };
            let strides = vec![
                (len * heads * dim) as isize,
                dim as isize,
                (heads * dim) as isize,
                1,
            ];
            FlexTensor::new(
                Bytes::from_elems(self.values),
                Layout::new(Shape::from(self.dims.to_vec()), strides, 0),
                DType::F32,
            )
        }
    }

    /// `dst (m, n) = alpha * dst + beta * lhs (m, k) · rhs (k, n)`, strides as (row, column).
    ///
    /// SAFETY: the pointers and strides must describe matrices inside live buffers; with
    /// `accumulate` false `dst` is written without being read.
    #[allow(clippy::too_many_arguments)]
    unsafe fn product(
        (m, n, k): (usize, usize, usize),
        dst: (*mut f32, isize),
        lhs: (*const f32, isize, isize),
        rhs: (*const f32, isize, isize),
        accumulate: bool,
        beta: f32,
    ) {
        // SAFETY: as the caller promises.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.0,
                1,
                dst.1,
                accumulate,
                lhs.0,
                lhs.2,
                lhs.1,
                rhs.0,
                rhs.2,
                rhs.1,
                if accumulate { 1.0 } else { 0.0 },
                beta,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }

    /// Keys visible to query `i` of `q_len` over `kv_len` keys (bottom-right aligned).
    fn visible(i: usize, q_len: usize, kv_len: usize) -> usize {
        (kv_len + i + 1).saturating_sub(q_len).min(kv_len)
    }

    /// The shapes of one call, checked.
    struct Dims {
        batch: usize,
        heads: usize,
        kv_heads: usize,
        q_len: usize,
        kv_len: usize,
        dim: usize,
        v_dim: usize,
    }

    impl Dims {
        fn check(q: [usize; 4], k: [usize; 4], v: [usize; 4]) -> Self {
            assert!(
                q[0] == k[0] && k[0] == v[0],
                "attention: batch sizes differ"
            );
            assert_eq!(k[1], v[1], "attention: keys and values differ in heads");
            assert_eq!(k[2], v[2], "attention: keys and values differ in length");
            assert_eq!(q[3], k[3], "attention: queries and keys differ in width");
            assert!(
                k[1] > 0 && q[1].is_multiple_of(k[1]),
                "attention: {} query heads do not share {} key/value heads evenly",
                q[1],
                k[1]
            );
            Self {
                batch: q[0],
                heads: q[1],
                kv_heads: k[1],
                q_len: q[2],
                kv_len: k[2],
                dim: q[3],
                v_dim: v[3],
            }
        }

        fn group(&self) -> usize {
            self.heads / self.kv_heads
        }
    }

    /// Multiply-adds below which a call runs on one core: handing a decoding step's few
    /// heads to other threads costs more than it saves.
    #[cfg(feature = "native")]
    const PARALLEL_ABOVE: usize = 1 << 18;

    /// `f(batch, kv_head, scratch)` for every (batch, key/value head), on all cores when the
    /// call is large enough.
    fn for_each_group(
        d: &Dims,
        scratch_len: usize,
        f: impl Fn(usize, usize, &mut Vec<f32>) + Send + Sync,
    ) {
        let units = d.batch * d.kv_heads;
        let kv_heads = d.kv_heads;
        #[cfg(feature = "native")]
        {
            let work = d.batch * d.heads * d.q_len * d.kv_len * (d.dim + d.v_dim);
            if work > PARALLEL_ABOVE && units > 1 {
                use rayon::prelude::*;
                (0..units).into_par_iter().for_each_init(
                    || vec![0f32; scratch_len],
                    |scratch, u| f(u / kv_heads, u % kv_heads, scratch),
                );
                return;
            }
        }
        let mut scratch = vec![0f32; scratch_len];
        (0..units).for_each(|u| f(u / kv_heads, u % kv_heads, &mut scratch));
    }

    /// `scores = scale * q_h · k_gᵀ`, `(q_len, kv_len)`, into `scores`.
    ///
    /// SAFETY: `q`, `k` views of live tensors of `d`'s shapes.
    unsafe fn scores(
        d: &Dims,
        q: &View,
        k: &View,
        (b, h, g): (usize, usize, usize),
        out: &mut [f32],
        scale: f32,
    ) {
        // SAFETY: as the caller promises; `out` holds `q_len * kv_len` values.
        unsafe {
            product(
                (d.q_len, d.kv_len, d.dim),
                (out.as_mut_ptr(), d.kv_len as isize),
                (q.head(b, h), q.rows(), q.cols()),
                // kᵀ: its rows are k's columns.
                (k.head(b, g), k.cols(), k.rows()),
                false,
                scale,
            );
        }
    }

    pub fn forward(
        q: &FlexTensor,
        k: &FlexTensor,
        v: &FlexTensor,
        scale: f32,
    ) -> (FlexTensor, FlexTensor) {
        let (qv, q_dims) = View::of(q);
        let (kv, k_dims) = View::of(k);
        let (vv, v_dims) = View::of(v);
        let d = Dims::check(q_dims, k_dims, v_dims);
        let mut out = HeadsLast::new([d.batch, d.heads, d.q_len, d.v_dim]);
        let mut lse = vec![0f32; d.batch * d.heads * d.q_len];
        if d.kv_len == 0 || d.dim == 0 {
            out.values.resize(out.values.capacity(), 0.0);
        } else {
            let area = d.q_len * d.kv_len;
            let lse_out = Out(lse.as_mut_ptr());
            let heads: Vec<(Out, isize)> = (0..d.batch * d.heads)
                .map(|u| out.head(u / d.heads, u % d.heads))
                .collect();
            for_each_group(&d, area, |b, g, p| {
                for h in g * d.group()..(g + 1) * d.group() {
                    // SAFETY: the views describe the live inputs of `d`'s shapes.
                    unsafe { scores(&d, &qv, &kv, (b, h, g), p, scale) };
                    // Scores become probabilities in place.
                    for i in 0..d.q_len {
                        let n = visible(i, d.q_len, d.kv_len);
                        let (seen, unseen) = p[i * d.kv_len..][..d.kv_len].split_at_mut(n);
                        let shift = rows::log_sum_exp(seen);
                        rows::exp_shifted_in_place(seen, shift);
                        unseen.fill(0.0);
                        // SAFETY: each (batch, head, query) has its own slot.
                        unsafe { *lse_out.at((b * d.heads + h) * d.q_len + i) = shift };
                    }
                    let (dst, dst_rows) = heads[b * d.heads + h];
                    // SAFETY: this task alone writes head `h` of batch `b`, inside `out`.
                    unsafe {
                        product(
                            (d.q_len, d.v_dim, d.kv_len),
                            (dst.at(0), dst_rows),
                            (p.as_ptr(), d.kv_len as isize, 1),
                            (vv.head(b, g), vv.rows(), vv.cols()),
                            false,
                            1.0,
                        );
                    }
                }
            });
        }
        // SAFETY: every head of every batch was written above (or zero-filled).
        let out = unsafe { out.into_tensor() };
        let lse = FlexTensor::new(
            Bytes::from_elems(lse),
            Layout::contiguous(Shape::from(vec![d.batch, d.heads, d.q_len])),
            DType::F32,
        );
        (out, lse)
    }

    pub fn backward(
        q: &FlexTensor,
        k: &FlexTensor,
        v: &FlexTensor,
        lse: &FlexTensor,
        dout: &FlexTensor,
        scale: f32,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (qv, q_dims) = View::of(q);
        let (kv, k_dims) = View::of(k);
        let (vv, v_dims) = View::of(v);
        let (dov, do_dims) = View::of(dout);
        let d = Dims::check(q_dims, k_dims, v_dims);
        assert_eq!(
            do_dims,
            [d.batch, d.heads, d.q_len, d.v_dim],
            "attention: the output gradient's shape"
        );
        let lse = lse.to_contiguous();
        let lse =
            &lse.storage::<f32>()[lse.layout().start_offset()..][..d.batch * d.heads * d.q_len];
        let mut dq = HeadsLast::new(q_dims);
        let mut dk = HeadsLast::new(k_dims);
        let mut dv = HeadsLast::new(v_dims);
        if d.kv_len == 0 || d.dim == 0 || d.q_len == 0 {
            for t in [&mut dq, &mut dk, &mut dv] {
                t.values.resize(t.values.capacity(), 0.0);
            }
        } else {
            let area = d.q_len * d.kv_len;
            let dq_heads: Vec<(Out, isize)> = (0..d.batch * d.heads)
                .map(|u| dq.head(u / d.heads, u % d.heads))
                .collect();
            let kv_heads: Vec<[(Out, isize); 2]> = (0..d.batch * d.kv_heads)
                .map(|u| {
                    let (b, g) = (u / d.kv_heads, u % d.kv_heads);
                    [dk.head(b, g), dv.head(b, g)]
                })
                .collect();
            for_each_group(&d, 2 * area, |b, g, scratch| {
                let (p, dp) = scratch.split_at_mut(area);
                let [(dk_out, dk_rows), (dv_out, dv_rows)] = kv_heads[b * d.kv_heads + g];
                for (nth, h) in (g * d.group()..(g + 1) * d.group()).enumerate() {
                    let first = nth == 0;
                    // SAFETY: the views describe the live inputs of `d`'s shapes.
                    unsafe { scores(&d, &qv, &kv, (b, h, g), p, scale) };
                    for i in 0..d.q_len {
                        let n = visible(i, d.q_len, d.kv_len);
                        let row = &mut p[i * d.kv_len..][..d.kv_len];
                        let shift = lse[(b * d.heads + h) * d.q_len + i];
                        let (seen, unseen) = row.split_at_mut(n);
                        rows::exp_shifted_in_place(seen, shift);
                        unseen.fill(0.0);
                    }
                    let do_h = (dov.head(b, h), dov.rows(), dov.cols());
                    // SAFETY: pointers into live buffers of `d`'s shapes; this task alone writes
                    // the gradients of key/value head `g` and query head `h` of batch `b`.
                    unsafe {
                        // dv_g (+)= pᵀ · dout_h
                        product(
                            (d.kv_len, d.v_dim, d.q_len),
                            (dv_out.at(0), dv_rows),
                            (p.as_ptr(), 1, d.kv_len as isize),
                            do_h,
                            !first,
                            1.0,
                        );
                        // dp = dout_h · v_gᵀ
                        product(
                            (d.q_len, d.kv_len, d.v_dim),
                            (dp.as_mut_ptr(), d.kv_len as isize),
                            do_h,
                            (vv.head(b, g), vv.cols(), vv.rows()),
                            false,
                            1.0,
                        );
                    }
                    for i in 0..d.q_len {
                        let n = visible(i, d.q_len, d.kv_len);
                        let prob = &p[i * d.kv_len..][..n];
                        let grad = &mut dp[i * d.kv_len..][..d.kv_len];
                        let dot: f32 = prob.iter().zip(&grad[..n]).map(|(a, b)| a * b).sum();
                        rows::softmax_backward_in_place(prob, &mut grad[..n], dot);
                        grad[n..].fill(0.0);
                    }
                    let (dq_out, dq_rows) = dq_heads[b * d.heads + h];
                    // SAFETY: as above; `dp` now holds the scores' gradient.
                    unsafe {
                        // dq_h = scale * ds · k_g
                        product(
                            (d.q_len, d.dim, d.kv_len),
                            (dq_out.at(0), dq_rows),
                            (dp.as_ptr(), d.kv_len as isize, 1),
                            (kv.head(b, g), kv.rows(), kv.cols()),
                            false,
                            scale,
                        );
                        // dk_g (+)= scale * dsᵀ · q_h
                        product(
                            (d.kv_len, d.dim, d.q_len),
                            (dk_out.at(0), dk_rows),
                            (dp.as_ptr(), 1, d.kv_len as isize),
                            (qv.head(b, h), qv.rows(), qv.cols()),
                            !first,
                            scale,
                        );
                    }
                }
            });
        }
        // SAFETY: every head's gradient was written above (or zero-filled).
        unsafe { (dq.into_tensor(), dk.into_tensor(), dv.into_tensor()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::{self, assert_close as close, values};
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;

    fn pattern(dims: [usize; 4], seed: usize, device: &Device) -> Tensor<4> {
        let values = test_values::pattern(dims.iter().product(), seed, 3.0);
        Tensor::from_data(TensorData::new(values, dims), device)
    }

    /// Burn's attention with the key/value heads repeated for their groups: the reference.
    fn reference(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
        let [b, h, t, _] = q.dims();
        let [_, kvh, s, dim] = k.dims();
        let repeat = |x: Tensor<4>| {
            x.unsqueeze_dim::<5>(2)
                .expand([b, kvh, h / kvh, s, dim])
                .reshape([b, h, s, dim])
        };
        let options = AttentionModuleOptions {
            is_causal: t > 1,
            ..Default::default()
        };
        attention(q, repeat(k), repeat(v), None, None, options)
    }

    /// Values and the gradients of queries, keys and values equal Burn's attention, with
    /// grouped heads, keys beyond the queries (a cache), one query (decoding), and queries read
    /// through swapped axes as the model hands them over.
    #[test]
    fn causal_attention_and_its_gradients_equal_burns() {
        let device = Device::flex().autodiff();
        for (b, h, kvh, t, s, dim) in [
            (2, 4, 2, 7, 7, 8),
            (1, 3, 3, 5, 9, 4),
            (2, 4, 1, 1, 6, 8),
            (3, 8, 8, 33, 33, 16),
        ] {
            let what = format!("b {b}, heads {h}/{kvh}, q {t}, kv {s}, dim {dim}");
            // Queries as the model makes them: (b, t, h, d) with axes 1 and 2 swapped.
            let q = pattern([b, t, h, dim], 1, &device).require_grad();
            let k = pattern([b, kvh, s, dim], 2, &device).require_grad();
            let v = pattern([b, kvh, s, dim], 3, &device).require_grad();
            let weight = pattern([b, h, t, dim], 4, &device);
            let ours = causal_attention(q.clone().swap_dims(1, 2), k.clone(), v.clone());
            let theirs = reference(q.clone().swap_dims(1, 2), k.clone(), v.clone());
            close(
                &values(ours.clone().inner()),
                &values(theirs.clone().inner()),
                &format!("{what}: values"),
            );
            let g1 = (ours * weight.clone()).sum().backward();
            let g2 = (theirs * weight).sum().backward();
            for (name, x) in [("query", &q), ("key", &k), ("value", &v)] {
                close(
                    &values(x.grad(&g1).unwrap()),
                    &values(x.grad(&g2).unwrap()),
                    &format!("{what}: {name} gradient"),
                );
            }
        }
    }
}
