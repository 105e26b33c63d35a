//! Matrix products on the CPU through `gemm`: operands read through their strides (a transpose
//! is a view, not a copy) and the product written into, or added to, a buffer the caller owns.

use burn::backend::flex::FlexTensor;

/// Multiply-adds above which `gemm` splits a product over the cores (as Burn's CPU backend does).
#[cfg(feature = "native")]
const PARALLEL_ABOVE: usize = 192 * 192 * 192;

/// A `(rows, cols)` matrix whose element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Strided<'a> {
    /// Rows of `cols` values one after another.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The last two dimensions of an f32 tensor whose leading dimensions merge into its rows,
    /// read where it lies; `None` for negative strides.
    pub fn of_tensor(t: &'a FlexTensor, rows: usize, cols: usize) -> Option<Self> {
        let strides = t.layout().strides();
        let rank = strides.len();
        let col_stride = usize::try_from(*strides.last()?).ok()?;
        let row_stride = match rank {
            0 | 1 => cols,
            _ => usize::try_from(strides[rank - 2]).ok()?,
        };
        let view = Self {
            data: &t.storage::<f32>()[t.layout().start_offset()..],
            rows,
            cols,
            row_stride,
            col_stride,
        };
        view.fits().then_some(view)
    }

    /// The transpose, as a view of the same values.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Rows `start..end`.
    pub fn rows(self, start: usize, end: usize) -> Self {
        assert!(
            start <= end && end <= self.rows,
            "rows {start}..{end} of {}",
            self.rows
        );
        let offset = (start * self.row_stride).min(self.data.len());
        Self {
            data: &self.data[offset..],
            rows: end - start,
            ..self
        }
    }

    /// Whether every element lies inside `data`.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// The last two dimensions of `t` read where they lie, or of a contiguous copy of `t` (kept in
/// `copy`) where its strides are negative.
pub fn view<'a>(
    t: &'a FlexTensor,
    copy: &'a mut Option<FlexTensor>,
    rows: usize,
    cols: usize,
) -> Strided<'a> {
    if Strided::of_tensor(t, rows, cols).is_none() {
        let contiguous = copy.insert(t.to_contiguous());
        return Strided::of_tensor(contiguous, rows, cols).expect("a contiguous tensor");
    }
    Strided::of_tensor(t, rows, cols).expect("checked above")
}

/// `a · b` in a new row-major buffer, written once (never zeroed first: an allocator that
/// reuses memory would have to clear it in a pass of its own).
pub fn product(a: Strided, b: Strided) -> Vec<f32> {
    let (m, n) = (a.rows, b.cols);
    check(&a, &b);
    if m == 0 || n == 0 || a.cols == 0 {
        return vec![0f32; m * n];
    }
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: `check` keeps every element gemm reads inside `a.data` and `b.data`; `out` has
    // room for the `m * n` values gemm writes without reading them (no accumulation), after
    // which they are all initialised.
    unsafe {
        gemm_raw(out.as_mut_ptr(), n, a, b, false);
        out.set_len(m * n);
    }
    out
}

/// `dst = a · b`, or `dst += a · b` when `accumulate`, where `dst` holds the `(a.rows, b.cols)`
/// product in rows of `dst_row_stride` values.
pub fn multiply_into(
    dst: &mut [f32],
    dst_row_stride: usize,
    a: Strided,
    b: Strided,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    check(&a, &b);
    assert!(
        m == 0 || n == 0 || (m - 1) * dst_row_stride + n <= dst.len(),
        "the product fits its destination"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_row_stride).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: `check` keeps every element gemm reads inside `a.data` and `b.data`, the assert
    // above every element it writes (or reads, when accumulating) inside `dst`.
    unsafe { gemm_raw(dst.as_mut_ptr(), dst_row_stride, a, b, accumulate) }
}

fn check(a: &Strided, b: &Strided) {
    assert_eq!(b.rows, a.cols, "a product's inner dimensions agree");
    assert!(a.fits() && b.fits(), "operands lie inside their buffers");
}

/// One `gemm` call: `dst = a · b` or `dst += a · b`.
///
/// # Safety
/// `a` and `b` lie inside their buffers ([`Strided::fits`]); `dst` has room for `a.rows` rows
/// of `dst_row_stride` values (the last needs only `b.cols`), initialised when `accumulate`.
unsafe fn gemm_raw(dst: *mut f32, dst_row_stride: usize, a: Strided, b: Strided, accumulate: bool) {
    // SAFETY: as the caller promises.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst,
            1,
            dst_row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            // dst = alpha * dst + beta * a · b; alpha is read only when accumulating.
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(a.rows * b.cols * a.cols),
        );
    }
}

fn parallelism(multiply_adds: usize) -> gemm::Parallelism {
    #[cfg(feature = "native")]
    if multiply_adds >= PARALLEL_ABOVE {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = multiply_adds;
    gemm::Parallelism::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::{assert_close, pattern};

    fn naive(a: Strided, b: Strided) -> Vec<f32> {
        let mut out = vec![0f32; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols)
                    .map(|p| {
                        a.data[i * a.row_stride + p * a.col_stride]
                            * b.data[p * b.row_stride + j * b.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    #[test]
    fn products_of_views_and_transposes_write_or_add_to_the_destination() {
        let (m, k, n) = (7, 33, 5);
        let a_values = pattern(m * k, 1, 2.0);
        let b_values = pattern(k * n, 2, 2.0);
        let a = Strided::row_major(&a_values, m, k);
        // `b` stored transposed, read through its strides.
        let b = Strided::row_major(&b_values, n, k).t();
        let want = naive(a, b);
        assert_close(&product(a, b), &want, "a · bᵀ in a new buffer");
        let mut dst = vec![0f32; m * n];
        multiply_into(&mut dst, n, a, b, false);
        assert_close(&dst, &want, "a · bᵀ");
        multiply_into(&mut dst, n, a, b, true);
        let twice: Vec<f32> = want.iter().map(|w| 2.0 * w).collect();
        assert_close(&dst, &twice, "a · bᵀ added to itself");
        // Rows 2..5 of `a`, into rows of a wider destination.
        let mut wide = vec![-1f32; 3 * (n + 2)];
        multiply_into(&mut wide, n + 2, a.rows(2, 5), b, false);
        for r in 0..3 {
            let row = &wide[r * (n + 2)..(r + 1) * (n + 2)];
            assert_close(&row[..n], &want[(r + 2) * n..(r + 3) * n], "rows 2..5");
            assert_eq!(&row[n..], &[-1.0, -1.0], "the rest of a row is left alone");
        }
    }
}
