//! The GEMM core shared by matmul and the convolutions: `dst = a × b` for strided
//! operands, on the `gemm` crate (packed AVX-512/AVX2 kernels) for f32 and f64 and on
//! a blocked wrapping kernel for int32/int64.
//!
//! Operands are [`MatRef`]s (a slice plus offset and row/column strides), so transposed
//! and strided views need no copy. The destination is always a contiguous row-major
//! `m × n` slice.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Products with at least this many multiply-adds (`m·n·k`) run multi-threaded when
/// the caller allows it; below it, thread start-up costs more than it saves.
pub(crate) const GEMM_PAR_WORK: usize = 48 * 48 * 64;

/// A read-only matrix operand: element `(i, j)` is `data[offset + i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a, T> {
    /// The storage.
    pub data: &'a [T],
    /// Offset of element `(0, 0)`.
    pub offset: usize,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row stride in elements.
    pub rs: usize,
    /// Column stride in elements.
    pub cs: usize,
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A contiguous row-major `rows × cols` matrix starting at `offset`.
    pub fn row_major(data: &'a [T], offset: usize, rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            offset,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (a view, no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Whether every element lies inside `data`, and the strides fit an `isize`
    /// (what the raw-pointer GEMM needs).
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.rs)
            .and_then(|r| (self.cols - 1).checked_mul(self.cs).map(|c| (r, c)))
            .and_then(|(r, c)| r.checked_add(c))
            .and_then(|rc| rc.checked_add(self.offset));
        matches!(last, Some(l) if l < self.data.len())
            && isize::try_from(self.rs).is_ok()
            && isize::try_from(self.cs).is_ok()
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> T {
        self.data[self.offset + i * self.rs + j * self.cs]
    }

    /// The elements as a contiguous row-major vector.
    pub fn to_row_major(self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for i in 0..self.rows {
            if self.cs == 1 {
                let s = self.offset + i * self.rs;
                out.extend_from_slice(&self.data[s..s + self.cols]);
            } else {
                out.extend((0..self.cols).map(|j| self.at(i, j)));
            }
        }
        out
    }
}

/// Element types with a GEMM: `dst = a × b` (`dst` is overwritten, never read).
pub(crate) trait GemmElem: Copy + Send + Sync + 'static {
    /// `dst[i·n + j] = Σ_p a(i, p)·b(p, j)` with `dst.len() == m·n`; multi-threaded on
    /// the rayon pool when `parallel` and the product is large.
    ///
    /// Errors when the shapes disagree or an operand reaches outside its slice.
    fn gemm(
        dst: &mut [Self],
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        parallel: bool,
    ) -> Result<()>;
}

fn check_operands<T: Copy>(dst: &[T], a: &MatRef<'_, T>, b: &MatRef<'_, T>) -> Result<()> {
    if a.cols != b.rows || dst.len() != a.rows * b.cols || !a.in_bounds() || !b.in_bounds() {
        return Err(Error::precondition(
            "gemm",
            format!(
                "bad operands: [{},{}] x [{},{}] into {} elements",
                a.rows,
                a.cols,
                b.rows,
                b.cols,
                dst.len()
            ),
        ));
    }
    Ok(())
}

macro_rules! gemm_float {
    ($t:ty) => {
        impl GemmElem for $t {
            fn gemm(
                dst: &mut [$t],
                a: MatRef<'_, $t>,
                b: MatRef<'_, $t>,
                parallel: bool,
            ) -> Result<()> {
                check_operands(dst, &a, &b)?;
                let (m, k, n) = (a.rows, a.cols, b.cols);
                if m == 0 || n == 0 {
                    return Ok(());
                }
                if k == 0 {
                    dst.fill(0.0);
                    return Ok(());
                }
                let threads = rayon::current_num_threads();
                let par = if parallel && threads > 1 && m * n * k >= GEMM_PAR_WORK {
                    gemm::Parallelism::Rayon(threads)
                } else {
                    gemm::Parallelism::None
                };
                // `in_bounds` checked that the strides fit an isize.
                let s = |x: usize| x as isize;
                // SAFETY: `check_operands` verified that every element `(i, p)` of `a`
                // and `(p, j)` of `b` lies inside its slice and that `dst` holds exactly
                // `m·n` elements, addressed with row stride `n` and column stride 1.
                // `dst` is a unique borrow, so it overlaps neither operand and no two of
                // its elements alias. `read_dst = false`: dst is only written
                // (alpha is ignored), `beta = 1`.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        dst.as_mut_ptr(),
                        1,
                        s(n),
                        false,
                        a.data.as_ptr().add(a.offset),
                        s(a.cs),
                        s(a.rs),
                        b.data.as_ptr().add(b.offset),
                        s(b.cs),
                        s(b.rs),
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    );
                }
                Ok(())
            }
        }
    };
}
gemm_float!(f32);
gemm_float!(f64);

/// Integer arithmetic with two's-complement wrap-around (TensorFlow's C++ behaviour).
pub(crate) trait WrappingMulAdd: Copy + Send + Sync + Default + 'static {
    /// `acc + a·b`, wrapping.
    fn mul_add(acc: Self, a: Self, b: Self) -> Self;
}
impl WrappingMulAdd for i32 {
    #[inline(always)]
    fn mul_add(acc: i32, a: i32, b: i32) -> i32 {
        acc.wrapping_add(a.wrapping_mul(b))
    }
}
impl WrappingMulAdd for i64 {
    #[inline(always)]
    fn mul_add(acc: i64, a: i64, b: i64) -> i64 {
        acc.wrapping_add(a.wrapping_mul(b))
    }
}

/// Depth block of the integer kernel (rows of `b` kept hot in cache).
const INT_KC: usize = 256;
/// Column block of the integer kernel (one output row segment stays in L1).
const INT_NC: usize = 1024;

/// [`int_row`] as a SIMD-dispatched job.
struct IntRow<'a, T> {
    a: &'a MatRef<'a, T>,
    bp: &'a [T],
    i: usize,
    crow: &'a mut [T],
}

impl<T: WrappingMulAdd> pulp::WithSimd for IntRow<'_, T> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        int_row(self.a, self.bp, self.i, self.crow)
    }
}

/// Row `i` of the integer product: `crow += a[i, :] · b` over column and depth blocks.
#[inline(always)]
fn int_row<T: WrappingMulAdd>(a: &MatRef<'_, T>, bp: &[T], i: usize, crow: &mut [T]) {
    let (k, n) = (a.cols, crow.len());
    for j0 in (0..n).step_by(INT_NC) {
        let j1 = (j0 + INT_NC).min(n);
        let cseg = &mut crow[j0..j1];
        for p0 in (0..k).step_by(INT_KC) {
            for p in p0..(p0 + INT_KC).min(k) {
                let aip = a.at(i, p);
                let brow = &bp[p * n + j0..p * n + j1];
                for (c, &bv) in cseg.iter_mut().zip(brow) {
                    *c = T::mul_add(*c, aip, bv);
                }
            }
        }
    }
}

/// Blocked integer GEMM: `b` packed row-major once, then for each output row
/// `c[i, :] += a[i, p]·b[p, :]` over depth and column blocks (the inner loop is a
/// contiguous axpy the compiler vectorizes). Rows run in parallel above a threshold.
fn int_gemm<T: WrappingMulAdd>(
    dst: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    parallel: bool,
) -> Result<()> {
    check_operands(dst, &a, &b)?;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return Ok(());
    }
    dst.fill(T::default());
    if k == 0 {
        return Ok(());
    }
    let packed;
    let bp: &[T] = if b.cs == 1 && b.rs == n {
        &b.data[b.offset..b.offset + k * n]
    } else {
        packed = b.to_row_major();
        &packed
    };
    // Compiled for the best SIMD level the CPU has (AVX-512 integer multiplies here).
    let row_kernel =
        |i: usize, crow: &mut [T]| pulp::Arch::new().dispatch(IntRow { a: &a, bp, i, crow });
    let work = m.saturating_mul(n).saturating_mul(k);
    if parallel && m > 1 && work >= GEMM_PAR_WORK && rayon::current_num_threads() > 1 {
        dst.par_chunks_mut(n)
            .enumerate()
            .for_each(|(i, crow)| row_kernel(i, crow));
    } else {
        for (i, crow) in dst.chunks_mut(n).enumerate() {
            row_kernel(i, crow);
        }
    }
    Ok(())
}

impl GemmElem for i32 {
    fn gemm(dst: &mut [i32], a: MatRef<'_, i32>, b: MatRef<'_, i32>, parallel: bool) -> Result<()> {
        int_gemm(dst, a, b, parallel)
    }
}
impl GemmElem for i64 {
    fn gemm(dst: &mut [i64], a: MatRef<'_, i64>, b: MatRef<'_, i64>, parallel: bool) -> Result<()> {
        int_gemm(dst, a, b, parallel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &MatRef<'_, f64>, b: &MatRef<'_, f64>) -> Vec<f64> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|p| a.at(i, p) * b.at(p, j)).sum();
            }
        }
        out
    }

    #[test]
    fn strided_and_transposed_operands() {
        let data: Vec<f64> = (0..200).map(|x| (x % 17) as f64 - 8.0).collect();
        let a = MatRef {
            data: &data,
            offset: 3,
            rows: 5,
            cols: 7,
            rs: 9,
            cs: 2,
        };
        let b = MatRef::row_major(&data, 100, 5, 7).t();
        let mut dst = vec![1.0; 25];
        f64::gemm(&mut dst, a, b, false).unwrap();
        assert_eq!(dst, naive(&a, &b));
        let ai: Vec<i64> = data.iter().map(|&x| x as i64).collect();
        let mut di = vec![7i64; 25];
        let (a2, b2) = (with_data(&ai, a), with_data(&ai, b));
        i64::gemm(&mut di, a2, b2, true).unwrap();
        assert_eq!(
            di.iter().map(|&x| x as f64).collect::<Vec<_>>(),
            naive(&a, &b)
        );
    }

    /// The same geometry over other data.
    fn with_data<'a>(data: &'a [i64], m: MatRef<'_, f64>) -> MatRef<'a, i64> {
        MatRef {
            data,
            offset: m.offset,
            rows: m.rows,
            cols: m.cols,
            rs: m.rs,
            cs: m.cs,
        }
    }

    #[test]
    fn out_of_bounds_operands_are_rejected() {
        let data = vec![0.0f32; 10];
        let a = MatRef::row_major(&data, 2, 3, 3);
        let mut dst = vec![0.0f32; 9];
        assert!(f32::gemm(&mut dst, a, a, false).is_err());
        let b = MatRef::row_major(&data, 0, 2, 3);
        assert!(f32::gemm(&mut dst, b, b, false).is_err());
    }
}
