//! Float32 matrix products for the convolution, fully-connected and batch-matmul
//! kernels, on the `gemm` crate (int8 products are in `packed_i8`).

use crate::error::{Error, Result};

/// Below this many multiply-adds a product runs on one thread.
const PAR_WORK: usize = 1 << 20;

/// `dst[i·n + j] = Σ_p a[i·lda + p] · w[j·k + p]` for `i < m`, `j < n`, `p < k`: a
/// row-major `m×k` left operand (row stride `lda`) times the transpose of a row-major
/// `n×k` weight matrix, the layout of TFLite's FULLY_CONNECTED and CONV_2D weights.
pub(crate) fn sgemm_nt(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    w: &[f32],
    dst: &mut [f32],
    threads: usize,
) -> Result<()> {
    let a_need = if m == 0 { 0 } else { (m - 1) * lda + k };
    if a.len() < a_need || w.len() < n * k || dst.len() < m * n || lda < k {
        return Err(Error::format(format!(
            "gemm: operands too small for [{m},{k}] x [{k},{n}]"
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        dst[..m * n].fill(0.0);
        return Ok(());
    }
    let par = if threads > 1 && m * n * k >= PAR_WORK {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: checked above: every a(i, p) = a[i·lda + p] with i < m, p < k lies inside `a`
    // ((m-1)·lda + k ≤ len), every b(p, j) = w[j·k + p] inside `w` (n·k ≤ len) and dst
    // holds m·n elements with row stride n. `dst` is a unique borrow, so it aliases neither
    // operand. read_dst = false: dst is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            lda as isize,
            w.as_ptr(),
            k as isize,
            1,
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

/// `dst[i·n + j] = Σ_p a[i·a_rs + p·a_cs] · b[p·b_rs + j·b_cs]`: a float product with
/// arbitrary (non-negative) strides, for BATCH_MATMUL's adjoint flags.
pub(crate) fn sgemm_strided(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    dst: &mut [f32],
) -> Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if let Some(d) = dst.get_mut(..m * n) {
            d.fill(0.0);
        }
        return Ok(());
    }
    let a_max = (m - 1) * a_rs + (k - 1) * a_cs;
    let b_max = (k - 1) * b_rs + (n - 1) * b_cs;
    if a_max >= a.len() || b_max >= b.len() || dst.len() < m * n {
        return Err(Error::format(format!(
            "gemm: operands too small for [{m},{k}] x [{k},{n}]"
        )));
    }
    // SAFETY: the largest element offsets of `a` and `b` were checked to be in bounds and
    // all strides are non-negative; dst holds m·n elements (row stride n) and, being a
    // unique borrow, aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}
