//! Row-wise kernel infrastructure: reading the rows of any view along one axis in the
//! compute precision, and filling row-aligned outputs in parallel blocks.

use super::fastmath::NnFloat;
use crate::dtype::Element;
use crate::error::Result;
use crate::kernels::alloc::alloc_uninit;
use crate::kernels::parallel::{PAR_CHUNK, PAR_THRESHOLD};
use crate::tensor::{StridedView, Tensor};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// The rows of a tensor along `axis`: `rows` rows of `cols` elements, in the row-major
/// order of the other dimensions.
pub(super) struct RowReader<'a, T> {
    data: &'a [T],
    offset: usize,
    /// Dimensions other than the axis, outermost first.
    outer_dims: SmallVec<[usize; 6]>,
    outer_strides: SmallVec<[usize; 6]>,
    inner_stride: usize,
    /// Whether row `r` starts at `offset + r * cols` with unit stride.
    packed: bool,
    /// Number of rows.
    pub rows: usize,
    /// Row length (the axis dimension).
    pub cols: usize,
}

impl<'a, T: Copy> RowReader<'a, T> {
    /// Rows of `view` along `axis` (which must be a valid axis; a rank-0 view is one row
    /// of one element).
    pub fn new(view: StridedView<'a, T>, axis: usize) -> RowReader<'a, T> {
        let rank = view.dims.len();
        let (cols, inner_stride) = if rank == 0 {
            (1, 1)
        } else {
            (view.dims[axis], view.strides[axis])
        };
        let mut outer_dims = SmallVec::new();
        let mut outer_strides = SmallVec::new();
        for d in 0..rank {
            if d != axis {
                outer_dims.push(view.dims[d]);
                outer_strides.push(view.strides[d]);
            }
        }
        let rows = outer_dims.iter().product();
        let packed = (rank == 0 || axis == rank - 1)
            && view.as_contiguous().is_some()
            && (inner_stride == 1 || cols <= 1);
        RowReader {
            data: view.data,
            offset: view.offset,
            outer_dims,
            outer_strides,
            inner_stride,
            packed,
            rows,
            cols,
        }
    }

    fn row_offset(&self, r: usize) -> usize {
        if self.packed {
            return self.offset + r * self.cols;
        }
        let mut rem = r;
        let mut off = self.offset;
        for (&d, &s) in self.outer_dims.iter().zip(&self.outer_strides).rev() {
            off += (rem % d) * s;
            rem /= d;
        }
        off
    }

    /// Row `r` in the compute precision: borrowed when the row is contiguous and `T` is
    /// the compute type, otherwise gathered into `buf`.
    #[inline]
    pub fn row<'b>(&'b self, r: usize, buf: &'b mut Vec<T::C>) -> &'b [T::C]
    where
        T: NnFloat,
    {
        if self.cols == 0 {
            return &[];
        }
        let off = self.row_offset(r);
        if self.packed || self.inner_stride == 1 {
            let row = &self.data[off..off + self.cols];
            if let Some(c) = T::as_c(row) {
                return c;
            }
            buf.clear();
            buf.extend(row.iter().map(|&v| v.to_c()));
            return buf;
        }
        buf.clear();
        buf.extend((0..self.cols).map(|j| self.data[off + j * self.inner_stride].to_c()));
        buf
    }
}

/// Rows of `x` along `axis` for a float tensor on the host.
pub(super) fn reader<T: NnFloat>(x: &Tensor, axis: usize) -> Result<RowReader<'_, T>> {
    Ok(RowReader::new(x.strided::<T>()?, axis))
}

/// Builds two row-aligned outputs of `rows` rows (`a_len` and `b_len` elements per
/// row) by calling `f(first_row, row_count, a_block, b_block)` on disjoint blocks of
/// rows, in parallel when `rows * work_per_row` reaches the parallel threshold. `f`
/// must write every element of both blocks.
pub(super) fn fill_rows2<A: Element, B: Element>(
    rows: usize,
    a_len: usize,
    b_len: usize,
    work_per_row: usize,
    f: impl Fn(usize, usize, &mut [MaybeUninit<A>], &mut [MaybeUninit<B>]) + Sync,
) -> Result<(Vec<A>, Vec<B>)> {
    let mut a: Vec<A> = alloc_uninit(rows * a_len)?;
    let mut b: Vec<B> = alloc_uninit(rows * b_len)?;
    {
        let sa = &mut a.spare_capacity_mut()[..rows * a_len];
        let sb = &mut b.spare_capacity_mut()[..rows * b_len];
        let work = rows.saturating_mul(work_per_row.max(1));
        if rows > 1 && work >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
            let per_block = (PAR_CHUNK / work_per_row.max(1)).clamp(1, rows);
            let ba = split_blocks(sa, rows, per_block, a_len);
            let bb = split_blocks(sb, rows, per_block, b_len);
            ba.into_par_iter()
                .zip(bb)
                .enumerate()
                .for_each(|(k, (ca, cb))| {
                    let first = k * per_block;
                    f(first, per_block.min(rows - first), ca, cb)
                });
        } else {
            f(0, rows, sa, sb);
        }
    }
    // SAFETY: `f` wrote every element of both blocks (its contract), which together
    // cover `rows * a_len` and `rows * b_len` elements; the capacities are that large.
    unsafe {
        a.set_len(rows * a_len);
        b.set_len(rows * b_len);
    }
    Ok((a, b))
}

/// Splits `s` into consecutive blocks of `per_block` rows of `len` elements.
fn split_blocks<X>(
    s: &mut [MaybeUninit<X>],
    rows: usize,
    per_block: usize,
    len: usize,
) -> Vec<&mut [MaybeUninit<X>]> {
    let mut out = Vec::with_capacity(rows.div_ceil(per_block));
    let mut rest = s;
    let mut first = 0;
    while first < rows {
        let n = per_block.min(rows - first) * len;
        let (head, tail) = rest.split_at_mut(n);
        out.push(head);
        rest = tail;
        first += per_block;
    }
    out
}

/// [`fill_rows2`] with a single output.
pub(super) fn fill_rows<A: Element>(
    rows: usize,
    len: usize,
    work_per_row: usize,
    f: impl Fn(usize, usize, &mut [MaybeUninit<A>]) + Sync,
) -> Result<Vec<A>> {
    // The second output is empty (zero elements per row).
    Ok(fill_rows2::<A, u8>(rows, len, 0, work_per_row, |first, n, a, _| f(first, n, a))?.0)
}

/// Shape and strides of `dims` with `axis` moved last (the order rows come out of a
/// [`RowReader`] on that axis), and the strides that view such a row-major buffer back
/// in the original dimension order.
pub(super) fn axis_last_view(dims: &[usize], axis: usize) -> (Vec<usize>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..dims.len()).filter(|&d| d != axis).collect();
    perm.push(axis);
    let pdims: Vec<usize> = perm.iter().map(|&d| dims[d]).collect();
    let pstrides = crate::shape::contiguous_strides(&pdims);
    let mut strides = vec![0; dims.len()];
    for (k, &d) in perm.iter().enumerate() {
        strides[d] = pstrides[k];
    }
    (pdims, strides)
}

/// Wraps a row-major buffer computed in "axis last" order as a tensor of `dims`: the
/// buffer itself when `axis` is last, otherwise a strided view of it.
pub(super) fn from_axis_last<T: crate::Element>(
    op: &'static str,
    data: Vec<T>,
    dims: &[usize],
    axis: usize,
) -> Result<Tensor> {
    if dims.is_empty() || axis + 1 == dims.len() {
        return Tensor::from_host_vec(data, dims);
    }
    let (pdims, strides) = axis_last_view(dims, axis);
    let base = Tensor::from_host_vec(data, pdims)?;
    base.view(op, dims.into(), strides.into(), 0)
}
