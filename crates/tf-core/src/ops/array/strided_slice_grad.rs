//! StridedSliceGrad: the adjoint of StridedSlice. A tensor of the sliced input's shape,
//! zero everywhere except the positions StridedSlice reads, which receive `dy`.
//!
//! The begin/end/strides/masks go through StridedSlice's own resolution
//! ([`resolve_ctx`]), so both ops select the same positions by construction. The
//! output is built in one parallel pass: every output element is either a `dy`
//! element (selected on every dimension) or zero, found through per-dimension tables.

use super::copy::{alloc_shape, shape_attr};
use super::strided_slice::{FinalDim, Resolved, SliceMasks, resolve_ctx, slice_attrs};
use crate::dtype::{DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::parallel::fill_vec;
use crate::op::{Arity, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// Marks an output index that the slice does not select.
const NONE: usize = usize::MAX;

/// The output shape (attr `shape`) and the slice resolved against it.
fn resolved(ctx: &InferContext<'_>) -> Result<(Shape, Resolved)> {
    let shape = shape_attr(ctx.name(), ctx.attr_ints("shape")?)?;
    let r = resolve_ctx(ctx, &PartialShape::from(&shape))?;
    Ok((shape, r))
}

fn infer_strided_slice_grad(ctx: &InferContext<'_>) -> Result<Specs> {
    let (shape, r) = resolved(ctx)?;
    let want = r.final_shape();
    let dy = ctx.shape(0);
    // `want` is fully known: the input shape is.
    let ok = want
        .to_shape()
        .is_some_and(|w| dy.is_compatible_with(w.dims()));
    if !ok {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "shape of dy was {dy} instead of {want} (the StridedSlice output for input shape {shape})"
            ),
        ));
    }
    spec1(ctx.dtype(0), shape.into())
}

/// The selection along one dimension of the output: `count` positions
/// `first, first + step, ...` (ascending), the `m`-th taking `dy` index `m`
/// (`count - 1 - m` when `reversed`, i.e. for negative strides).
#[derive(Clone, Copy, Debug)]
struct Sel {
    first: usize,
    step: usize,
    count: usize,
    reversed: bool,
    /// `dy`'s stride for this dimension (0 for shrunk dimensions).
    dy_stride: usize,
}

impl Sel {
    /// `dy` offset of the `m`-th ascending selected position.
    #[inline(always)]
    fn dy_offset(&self, m: usize) -> usize {
        let k = if self.reversed { self.count - 1 - m } else { m };
        k * self.dy_stride
    }

    /// Table of the `dy` offset of every output index (`NONE` if unselected).
    fn table(&self, n: usize) -> Vec<usize> {
        let mut t = vec![NONE; n];
        for m in 0..self.count {
            t[self.first + m * self.step] = self.dy_offset(m);
        }
        t
    }
}

/// Per input dimension, where the slice reads (all positions are in range: the
/// resolution clamps them, and the output is non-empty).
fn selections(r: &Resolved, dy_strides: &[usize]) -> Vec<Sel> {
    let mut dy_stride = vec![0usize; r.dense.len()];
    for (j, f) in r.final_dims.iter().enumerate() {
        if let FinalDim::Dense(i) = *f {
            dy_stride[i] = dy_strides[j];
        }
    }
    r.dense
        .iter()
        .zip(dy_stride)
        .map(|(d, dy_stride)| {
            let count = d.size.unwrap_or(0);
            let step = d.stride.unsigned_abs() as usize;
            let reversed = d.stride < 0;
            // The lowest selected position: begin for positive strides, the last one
            // reached otherwise.
            let first = if reversed && count > 0 {
                (d.begin + (count as i64 - 1) * d.stride) as usize
            } else {
                d.begin.max(0) as usize
            };
            Sel {
                first,
                step,
                count,
                reversed,
                dy_stride,
            }
        })
        .collect()
}

/// Fills `dst` (columns `c0..c0 + dst.len()` of one output row whose `dy` row starts
/// at `base`) with the selected `dy` values and zeros.
#[inline]
fn fill_row<T: Element>(dst: &mut [MaybeUninit<T>], c0: usize, data: &[T], base: usize, sel: &Sel) {
    let c1 = c0 + dst.len();
    // Selected ascending positions `first + m * step` within [c0, c1).
    let m0 = if c0 <= sel.first {
        0
    } else {
        (c0 - sel.first).div_ceil(sel.step)
    };
    let m1 = if c1 <= sel.first {
        0
    } else {
        (c1 - sel.first).div_ceil(sel.step).min(sel.count)
    };
    if m0 >= m1 {
        for slot in dst.iter_mut() {
            slot.write(T::ZERO);
        }
        return;
    }
    let lo = sel.first + m0 * sel.step - c0;
    let hi = sel.first + (m1 - 1) * sel.step + 1 - c0;
    let (head, rest) = dst.split_at_mut(lo);
    let (mid, tail) = rest.split_at_mut(hi - lo);
    for slot in head.iter_mut().chain(tail.iter_mut()) {
        slot.write(T::ZERO);
    }
    if sel.step == 1 && !sel.reversed && sel.dy_stride == 1 {
        // The common case: a contiguous run of dy.
        let s = base + m0;
        for (d, &v) in mid.iter_mut().zip(&data[s..s + (m1 - m0)]) {
            d.write(v);
        }
        return;
    }
    if sel.step > 1 {
        for slot in mid.iter_mut() {
            slot.write(T::ZERO);
        }
    }
    for m in m0..m1 {
        mid[(m - m0) * sel.step].write(data[base + sel.dy_offset(m)]);
    }
}

/// The output of shape `dims` (rank >= 1): `data[base + Σ dy offsets]` where every
/// dimension selects the index, zero elsewhere. Parallel for large outputs.
fn scatter_selected<T: Element>(
    data: &[T],
    base: usize,
    dims: &[usize],
    sels: &[Sel],
) -> Result<Vec<T>> {
    let n: usize = dims.iter().product();
    let rank = dims.len();
    let outer = rank - 1;
    let inner = dims[outer];
    let inner_sel = sels[outer];
    let tables: Vec<Vec<usize>> = (0..outer).map(|d| sels[d].table(dims[d])).collect();
    // The dy offset of the row at outer index `idx`, or NONE.
    let row_offset = |idx: &[usize]| -> usize {
        let mut off = base;
        for (t, &i) in tables.iter().zip(idx) {
            let o = t[i];
            if o == NONE {
                return NONE;
            }
            off += o;
        }
        off
    };
    fill_vec(n, |start, chunk| {
        let mut idx: SmallVec<[usize; 6]> = SmallVec::from_elem(0, outer);
        let mut rem = start / inner;
        for d in (0..outer).rev() {
            idx[d] = rem % dims[d];
            rem /= dims[d];
        }
        let mut col = start % inner;
        let mut pos = 0;
        while pos < chunk.len() {
            let take = (inner - col).min(chunk.len() - pos);
            let dst = &mut chunk[pos..pos + take];
            match row_offset(&idx) {
                NONE => {
                    for slot in dst.iter_mut() {
                        slot.write(T::ZERO);
                    }
                }
                off => fill_row(dst, col, data, off, &inner_sel),
            }
            pos += take;
            col = 0;
            // Next row.
            let mut d = outer;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                if idx[d] < dims[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    })
}

fn strided_slice_grad_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let dy = ctx.input(0);
    let out_shape = alloc_shape(ctx, 0)?;
    let (_, r) = resolved(&ctx.infer())?;
    let host = dy.to_host()?;
    let out = crate::with_dtype!(dy.dtype(), T => {
        let v = host.strided::<T>()?;
        let values = if out_shape.rank() == 0 {
            // A scalar input: the slice selects its only element (dy has one element,
            // possibly under new axes).
            vec![v.data[v.offset]]
        } else if dy.num_elements() == 0 {
            crate::kernels::alloc::alloc_zeroed::<T>(out_shape.num_elements())?
        } else {
            let sels = selections(&r, dy.strides());
            scatter_selected(v.data, v.offset, &out_shape, &sels)?
        };
        Tensor::from_host_vec(values, out_shape)?
    });
    Ok(vec![out])
}

/// StridedSliceGrad (input `dy`; attrs `shape` = the sliced input's shape, and
/// `begin`, `end`, `strides` and the five masks exactly as StridedSlice takes them).
pub static STRIDED_SLICE_GRAD: OpDef = OpDef::new(
    "StridedSliceGrad",
    Arity::Fixed(1),
    infer_strided_slice_grad,
)
.cpu(DTypeSet::ALL, strided_slice_grad_kernel);

/// TensorFlow's `StridedSliceGrad`: the gradient of [`strided_slice`](super::strided_slice)
/// with respect to its input. Returns a tensor of `shape` (the sliced input's shape),
/// zero everywhere except the positions `strided_slice(x, begin, end, strides, masks)`
/// reads, which receive the matching elements of `dy`. Any dtype (that of `dy`).
///
/// ```
/// use tf_core::{Tensor, ops::{self, SliceMasks}};
/// // The gradient of x[1:, ::-2] for x of shape [3, 4].
/// let dy = Tensor::from_vec(vec![1i32, 2, 3, 4], [2, 2])?;
/// let m = SliceMasks { end_mask: 0b11, begin_mask: 0b10, ..Default::default() };
/// let dx = ops::strided_slice_grad(&dy, &[3, 4], &[1, 0], &[0, 0], &[1, -2], m)?;
/// assert_eq!(dx.to_vec::<i32>()?, vec![0, 0, 0, 0, 0, 2, 0, 1, 0, 4, 0, 3]);
/// # Ok::<(), tf_core::Error>(())
/// ```
///
/// Errors when `shape` has a negative dimension, the slice spec is invalid for `shape`
/// (as StridedSlice would report), or `dy`'s shape is not the slice's output shape.
pub fn strided_slice_grad(
    dy: &Tensor,
    shape: &[i64],
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    masks: SliceMasks,
) -> Result<Tensor> {
    let attrs = slice_attrs(begin, end, strides, masks).with("shape", shape);
    call1(&STRIDED_SLICE_GRAD, std::slice::from_ref(dy), &attrs)
}
