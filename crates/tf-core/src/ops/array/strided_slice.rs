//! StridedSlice: NumPy-style basic indexing with TensorFlow's exact semantics (begin,
//! end and strides per index entry; begin/end masks, one ellipsis, new axes, shrunk
//! axes; negative indices count from the end; out-of-range bounds clamp).
//!
//! The algorithm follows TensorFlow's `ValidateStridedSliceOp`: the sparse spec (one
//! entry per index) is expanded into a dense spec (one entry per input dimension), each
//! dimension's bounds are canonicalized, and the final shape drops shrunk dimensions and
//! inserts new axes. Positive strides give a view; negative strides copy.

use super::copy::gather_tables;
use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape, Strides};
use crate::tensor::Tensor;

/// The masks of a strided slice: bit `i` refers to index entry `i` (TensorFlow's
/// `begin_mask`, `end_mask`, `ellipsis_mask`, `new_axis_mask`, `shrink_axis_mask`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SliceMasks {
    /// Entry `i` ignores `begin[i]` and starts at the first (last for negative strides)
    /// element.
    pub begin_mask: i64,
    /// Entry `i` ignores `end[i]` and runs to the end (start for negative strides).
    pub end_mask: i64,
    /// Entry `i` is an ellipsis (`...`): as many full dimensions as needed. At most one.
    pub ellipsis_mask: i64,
    /// Entry `i` inserts a new dimension of size 1 (`tf.newaxis`).
    pub new_axis_mask: i64,
    /// Entry `i` takes the single element at `begin[i]` and removes the dimension.
    pub shrink_axis_mask: i64,
}

fn bit(mask: i64, i: usize) -> bool {
    i < 64 && (mask >> i) & 1 == 1
}

/// Where a final output dimension comes from.
#[derive(Clone, Copy, Debug)]
pub(super) enum FinalDim {
    /// Dense (input) dimension `i`, kept.
    Dense(usize),
    /// A new axis of size 1.
    NewAxis,
}

/// One input dimension after canonicalization: first index, step and element count
/// (`None` when the dimension is unknown while tracing).
#[derive(Clone, Copy, Debug)]
pub(super) struct DenseDim {
    pub(super) begin: i64,
    pub(super) stride: i64,
    pub(super) size: Option<usize>,
}

/// The resolved slice: one entry per input dimension plus the final shape recipe.
/// StridedSlice and StridedSliceGrad both work from it, so they agree by construction.
pub(super) struct Resolved {
    pub(super) dense: Vec<DenseDim>,
    pub(super) final_dims: Vec<FinalDim>,
}

impl Resolved {
    /// The output shape of the slice (shrunk dimensions dropped, new axes inserted).
    pub(super) fn final_shape(&self) -> PartialShape {
        self.final_dims
            .iter()
            .map(|f| match *f {
                FinalDim::Dense(i) => self.dense[i].size,
                FinalDim::NewAxis => Some(1),
            })
            .collect()
    }
}

/// TensorFlow's `ValidateStridedSliceOp` over a partial input shape.
fn resolve(
    op: &'static str,
    input: &PartialShape,
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    m: SliceMasks,
) -> Result<Resolved> {
    if begin.len() != end.len() || begin.len() != strides.len() {
        return Err(Error::invalid(
            op,
            format!(
                "Expected begin, end, and strides to be 1D equal size tensors, but got shapes [{}], [{}], and [{}] instead.",
                begin.len(),
                end.len(),
                strides.len()
            ),
        ));
    }
    if m.ellipsis_mask != 0 && (m.ellipsis_mask & (m.ellipsis_mask.wrapping_sub(1))) != 0 {
        return Err(Error::invalid(
            op,
            format!(
                "Multiple ellipses in slice spec not allowed (ellipsis_mask {:#b})",
                m.ellipsis_mask
            ),
        ));
    }
    let n = begin.len();
    let rank = input.rank();

    // Step 1: the ellipsis (an implicit one at the end when there is none) and the
    // number of new axes after it.
    let mut ellipsis_at = None;
    let mut new_after_ellipsis = 0i64;
    for i in 0..n {
        if ellipsis_at.is_some() && bit(m.new_axis_mask, i) {
            new_after_ellipsis += 1;
        }
        if bit(m.ellipsis_mask, i) && ellipsis_at.is_none() {
            ellipsis_at = Some(i);
        }
    }
    let sparse_dims = if ellipsis_at.is_none() { n + 1 } else { n };
    let ellipsis_at = ellipsis_at.unwrap_or(n);

    // Step 2: the dense spec, one entry per input dimension.
    let mut d_begin = vec![0i64; rank];
    let mut d_end = vec![0i64; rank];
    let mut d_stride = vec![1i64; rank];
    let mut d_begin_mask = vec![false; rank];
    let mut d_end_mask = vec![false; rank];
    let mut d_shrink = vec![false; rank];
    let mut final_dims = Vec::new();
    let mut full = 0usize;
    for i in 0..sparse_dims {
        if i == ellipsis_at {
            let next =
                (rank as i64 - (sparse_dims - i) as i64 + 1 + new_after_ellipsis).min(rank as i64);
            while (full as i64) < next {
                d_begin_mask[full] = true;
                d_end_mask[full] = true;
                final_dims.push(FinalDim::Dense(full));
                full += 1;
            }
        } else if bit(m.new_axis_mask, i) {
            final_dims.push(FinalDim::NewAxis);
        } else {
            if full == rank {
                return Err(Error::invalid(
                    op,
                    format!(
                        "Index out of range using input dim {full}; input has only {rank} dims (input shape {input})"
                    ),
                ));
            }
            d_begin[full] = begin[i];
            d_end[full] = end[i];
            d_stride[full] = strides[i];
            d_begin_mask[full] = bit(m.begin_mask, i);
            d_end_mask[full] = bit(m.end_mask, i);
            if bit(m.shrink_axis_mask, i) {
                d_shrink[full] = true;
            } else {
                final_dims.push(FinalDim::Dense(full));
            }
            full += 1;
        }
    }

    // Step 3: canonical bounds and sizes per dimension.
    let mut dense = Vec::with_capacity(rank);
    for i in 0..rank {
        let stride = d_stride[i];
        if stride == 0 {
            return Err(Error::invalid(op, format!("strides[{i}] must be non-zero")));
        }
        let shrink = d_shrink[i];
        let Some(dim) = input[i] else {
            dense.push(DenseDim {
                begin: 0,
                stride,
                size: shrink.then_some(1),
            });
            continue;
        };
        let dim = dim as i64;
        if shrink && stride <= 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "only stride 1 allowed on non-range indexing (dimension {i} has stride {stride})"
                ),
            ));
        }
        let (lo, hi) = if stride > 0 { (0, dim) } else { (-1, dim - 1) };
        let canonical = |x: i64, masked: bool, is_end: bool| -> i64 {
            if masked {
                // begin: first element; end: one past the last, in stride direction.
                match (stride > 0, is_end) {
                    (true, false) | (false, true) => lo,
                    (true, true) | (false, false) => hi,
                }
            } else {
                let fwd = if x < 0 { dim.saturating_add(x) } else { x };
                fwd.clamp(lo, hi)
            }
        };
        let (b, e) = if shrink {
            let fwd = if d_begin[i] < 0 {
                dim.saturating_add(d_begin[i])
            } else {
                d_begin[i]
            };
            if fwd < 0 || fwd >= dim {
                return Err(Error::invalid(
                    op,
                    format!(
                        "slice index {} of dimension {i} out of bounds (dimension size {dim}, input shape {input})",
                        d_begin[i]
                    ),
                ));
            }
            (fwd, fwd + 1)
        } else {
            (
                canonical(d_begin[i], d_begin_mask[i], false),
                canonical(d_end[i], d_end_mask[i], true),
            )
        };
        let interval = e - b;
        let size = if interval == 0 || ((interval < 0) != (stride < 0)) {
            0
        } else {
            // Both have the same sign here; ceil(interval / stride).
            let q = interval / stride;
            q + i64::from(interval % stride != 0)
        };
        dense.push(DenseDim {
            begin: b,
            stride,
            size: Some(size as usize),
        });
    }
    Ok(Resolved { dense, final_dims })
}

fn masks_from(ctx: &InferContext<'_>) -> SliceMasks {
    let get = |name: &str| ctx.attrs.int(name).unwrap_or(0);
    SliceMasks {
        begin_mask: get("begin_mask"),
        end_mask: get("end_mask"),
        ellipsis_mask: get("ellipsis_mask"),
        new_axis_mask: get("new_axis_mask"),
        shrink_axis_mask: get("shrink_axis_mask"),
    }
}

/// Resolves the call's `begin`/`end`/`strides` attributes and masks against `shape`
/// (the sliced input's shape).
pub(super) fn resolve_ctx(ctx: &InferContext<'_>, shape: &PartialShape) -> Result<Resolved> {
    resolve(
        ctx.name(),
        shape,
        ctx.attr_ints("begin")?,
        ctx.attr_ints("end")?,
        ctx.attr_ints("strides")?,
        masks_from(ctx),
    )
}

fn infer_strided_slice(ctx: &InferContext<'_>) -> Result<Specs> {
    let r = resolve_ctx(ctx, &ctx.shape(0))?;
    spec1(ctx.dtype(0), r.final_shape())
}

fn strided_slice_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let r = resolve_ctx(&ctx.infer(), &x.partial_shape())?;
    let out_shape: Shape = ctx.out_shape(0)?;
    let sizes: Vec<usize> = r.dense.iter().map(|d| d.size.unwrap_or(0)).collect();
    let empty = sizes.contains(&0);
    if empty {
        return Ok(vec![Tensor::zeros(out_shape, x.dtype())?]);
    }
    // Offset of the first selected element (every begin is a valid index here).
    let mut offset = x.offset();
    for (d, &s) in r.dense.iter().zip(x.strides()) {
        offset += d.begin as usize * s;
    }
    if r.dense.iter().all(|d| d.stride > 0) {
        let mut strides = Strides::new();
        for f in &r.final_dims {
            strides.push(match *f {
                FinalDim::Dense(i) => x.strides()[i] * r.dense[i].stride as usize,
                FinalDim::NewAxis => 1,
            });
        }
        return Ok(vec![x.view(ctx.name(), out_shape, strides, offset)?]);
    }
    // Negative strides: copy through per-dimension offset tables.
    let tables: Vec<Vec<usize>> = r
        .dense
        .iter()
        .zip(x.strides())
        .map(|(d, &s)| {
            (0..d.size.unwrap_or(0) as i64)
                .map(|k| (d.begin + k * d.stride) as usize * s)
                .collect()
        })
        .collect();
    let host = x.to_host()?;
    let out = crate::with_dtype!(x.dtype(), T => {
        let v = host.strided::<T>()?;
        Tensor::from_host_vec(gather_tables(v.data, x.offset(), &sizes, &tables)?, out_shape)?
    });
    Ok(vec![out])
}

/// StridedSlice (attrs `begin`, `end`, `strides` and the five masks); a view when every
/// stride is positive.
pub static STRIDED_SLICE: OpDef = OpDef::new("StridedSlice", Arity::Fixed(1), infer_strided_slice)
    .cpu(DTypeSet::ALL, strided_slice_kernel);

/// `tf.strided_slice`: NumPy basic indexing. Entry `i` of `begin`/`end`/`strides`
/// (equal lengths) indexes one dimension unless `masks` make it an ellipsis or a new
/// axis; negative indices count from the end and out-of-range bounds clamp, exactly as
/// in TensorFlow. A view when every stride is positive, a copy otherwise.
///
/// ```
/// use tf_core::{Tensor, ops::{self, SliceMasks}};
/// let x = Tensor::from_vec((0..12).collect::<Vec<i32>>(), [3, 4])?;
/// // x[1:, ::-2]
/// let y = ops::strided_slice(&x, &[1, 0], &[0, 0], &[1, -2],
///     SliceMasks { end_mask: 0b11, begin_mask: 0b10, ..Default::default() })?;
/// assert_eq!(y.to_vec::<i32>()?, vec![7, 5, 11, 9]);
/// # Ok::<(), tf_core::Error>(())
/// ```
///
/// Errors like TensorFlow: unequal lengths, zero strides, several ellipses, more index
/// entries than dimensions, shrinking an out-of-range index or with a negative stride.
pub fn strided_slice(
    x: &Tensor,
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    masks: SliceMasks,
) -> Result<Tensor> {
    let attrs = slice_attrs(begin, end, strides, masks);
    call1(&STRIDED_SLICE, std::slice::from_ref(x), &attrs)
}

/// The attributes StridedSlice and StridedSliceGrad share: `begin`, `end`, `strides`
/// and the five masks.
pub(super) fn slice_attrs(begin: &[i64], end: &[i64], strides: &[i64], masks: SliceMasks) -> Attrs {
    Attrs::new()
        .with("begin", begin)
        .with("end", end)
        .with("strides", strides)
        .with("begin_mask", masks.begin_mask)
        .with("end_mask", masks.end_mask)
        .with("ellipsis_mask", masks.ellipsis_mask)
        .with("new_axis_mask", masks.new_axis_mask)
        .with("shrink_axis_mask", masks.shrink_axis_mask)
}
