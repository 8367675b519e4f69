//! Ops whose result is a view of the input (shared storage, new shape/strides/offset):
//! stop_gradient, reshape, transpose, slice, expand_dims, squeeze, broadcast_to (and
//! identity, which copies into a contiguous tensor).

use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape, Strides, broadcast_strides};
use crate::tensor::Tensor;
use smallvec::SmallVec;

fn infer_identity(ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(ctx.dtype(0), ctx.shape(0))
}

fn identity_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    Ok(vec![ctx.input(0).contiguous_host()?])
}

fn stop_gradient_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    Ok(vec![ctx.input(0).alias()])
}

/// Resolves a reshape target (`-1` infers one dimension) against a partial input shape.
fn reshape_target(op: &'static str, input: &PartialShape, target: &[i64]) -> Result<PartialShape> {
    let mut infer_at = None;
    let mut known = 1usize;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => infer_at = Some(i),
            -1 => {
                return Err(Error::invalid(
                    op,
                    format!("can only infer one dimension: {target:?}"),
                ));
            }
            d if d < 0 => {
                return Err(Error::invalid(
                    op,
                    format!("size {d} at position {i} is negative: {target:?}"),
                ));
            }
            d => {
                known = usize::try_from(d)
                    .ok()
                    .and_then(|d| known.checked_mul(d))
                    .ok_or_else(|| Error::invalid(op, "target shape overflows"))?
            }
        }
    }
    let total = input.num_elements();
    let mut out: PartialShape = target
        .iter()
        .map(|&d| (d >= 0).then_some(d as usize))
        .collect();
    match (infer_at, total) {
        (Some(i), Some(total)) => {
            if known == 0 || total % known != 0 {
                return Err(Error::invalid(
                    op,
                    format!(
                        "input of shape {input} ({total} elements) cannot be reshaped to {target:?}"
                    ),
                ));
            }
            out = out
                .iter()
                .enumerate()
                .map(|(j, d)| if j == i { Some(total / known) } else { *d })
                .collect();
        }
        (None, Some(total)) if total != known => {
            return Err(Error::invalid(
                op,
                format!(
                    "input of shape {input} has {total} elements, target {target:?} has {known}"
                ),
            ));
        }
        _ => {}
    }
    Ok(out)
}

fn infer_reshape(ctx: &InferContext<'_>) -> Result<Specs> {
    let target = ctx.attr_ints("shape")?;
    spec1(
        ctx.dtype(0),
        reshape_target(ctx.name(), &ctx.shape(0), target)?,
    )
}

fn reshape_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let shape: Shape = ctx.out_shape(0)?;
    // A view when the input is contiguous; otherwise copy first.
    let base = if x.is_contiguous() {
        x.clone()
    } else {
        x.contiguous_host()?
    };
    let strides = shape.contiguous_strides();
    Ok(vec![base.view(
        ctx.name(),
        shape,
        strides,
        base.offset(),
    )?])
}

/// Validates a permutation of `0..rank` (TensorFlow does not accept negative entries).
pub(crate) fn check_perm(
    op: &'static str,
    perm: &[i64],
    rank: usize,
) -> Result<SmallVec<[usize; 6]>> {
    if perm.len() != rank {
        return Err(Error::invalid(
            op,
            format!(
                "perm {perm:?} has {} entries but the input has rank {rank}; expected a permutation of 0..{rank}",
                perm.len()
            ),
        ));
    }
    let mut seen: SmallVec<[bool; 6]> = SmallVec::from_elem(false, rank);
    let mut out = SmallVec::with_capacity(rank);
    for &p in perm {
        let ok = usize::try_from(p).ok().filter(|&p| p < rank);
        let Some(p) = ok else {
            return Err(Error::invalid(
                op,
                format!("perm {perm:?}: {p} is out of range [0, {rank})"),
            ));
        };
        if seen[p] {
            return Err(Error::invalid(
                op,
                format!("perm {perm:?}: {p} appears more than once"),
            ));
        }
        seen[p] = true;
        out.push(p);
    }
    Ok(out)
}

fn infer_transpose(ctx: &InferContext<'_>) -> Result<Specs> {
    let shape = ctx.shape(0);
    let perm = check_perm(ctx.name(), ctx.attr_ints("perm")?, shape.rank())?;
    spec1(ctx.dtype(0), perm.iter().map(|&p| shape[p]).collect())
}

fn transpose_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let perm = check_perm(ctx.name(), ctx.attr_ints("perm")?, x.rank())?;
    let dims: Shape = perm.iter().map(|&p| x.dims()[p]).collect::<Vec<_>>().into();
    let strides: Strides = perm.iter().map(|&p| x.strides()[p]).collect();
    Ok(vec![x.view(ctx.name(), dims, strides, x.offset())?])
}

/// Validates `begin`/`size` of a Slice against a partial shape; returns the output
/// shape.
fn slice_shape(
    op: &'static str,
    shape: &PartialShape,
    begin: &[i64],
    size: &[i64],
) -> Result<PartialShape> {
    let rank = shape.rank();
    if begin.len() != rank || size.len() != rank {
        return Err(Error::invalid(
            op,
            format!(
                "Expected begin and size arguments to be 1-D tensors of size {rank}, but got shapes [{}] and [{}] instead (input shape {shape})",
                begin.len(),
                size.len()
            ),
        ));
    }
    let mut out = PartialShape::scalar();
    for i in 0..rank {
        let (b, s) = (begin[i], size[i]);
        match shape[i] {
            Some(d) => {
                let d = d as i64;
                if b < 0 || b > d {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "Expected begin[{i}] in [0, {d}], but got {b} (input shape {shape})"
                        ),
                    ));
                }
                let s = if s == -1 { d - b } else { s };
                if s < 0 || s > d - b {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "Expected size[{i}] in [0, {}], but got {} (input shape {shape})",
                            d - b,
                            size[i]
                        ),
                    ));
                }
                out.push(Some(s as usize));
            }
            None => {
                if b < 0 {
                    return Err(Error::invalid(
                        op,
                        format!("begin[{i}] = {b} must be non-negative"),
                    ));
                }
                match s {
                    -1 => out.push(None),
                    s if s < 0 => {
                        return Err(Error::invalid(
                            op,
                            format!("size[{i}] = {s} must be -1 or non-negative"),
                        ));
                    }
                    s => out.push(Some(s as usize)),
                }
            }
        }
    }
    Ok(out)
}

fn infer_slice(ctx: &InferContext<'_>) -> Result<Specs> {
    let shape = slice_shape(
        ctx.name(),
        &ctx.shape(0),
        ctx.attr_ints("begin")?,
        ctx.attr_ints("size")?,
    )?;
    spec1(ctx.dtype(0), shape)
}

fn slice_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let shape = ctx.out_shape(0)?;
    let begin = ctx.attr_ints("begin")?;
    let mut offset = x.offset();
    if shape.num_elements() > 0 {
        for (&b, &s) in begin.iter().zip(x.strides()) {
            // Validated by inference: 0 <= b < dim.
            offset += b as usize * s;
        }
    }
    Ok(vec![x.view(
        ctx.name(),
        shape,
        x.strides().into(),
        offset,
    )?])
}

/// Normalizes an ExpandDims axis in `[-rank-1, rank]`.
fn expand_axis(op: &'static str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r - 1 || axis > r {
        return Err(Error::invalid(
            op,
            format!(
                "Tried to expand dim index {axis} for tensor with {rank} dimensions (expected an axis in [{}, {r}])",
                -r - 1
            ),
        ));
    }
    Ok(if axis < 0 {
        (axis + r + 1) as usize
    } else {
        axis as usize
    })
}

fn infer_expand_dims(ctx: &InferContext<'_>) -> Result<Specs> {
    let mut shape = ctx.shape(0);
    let axis = expand_axis(ctx.name(), ctx.attr_int("axis")?, shape.rank())?;
    let mut dims = shape.to_vec();
    dims.insert(axis, Some(1));
    shape = dims.into();
    spec1(ctx.dtype(0), shape)
}

fn expand_dims_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axis = expand_axis(ctx.name(), ctx.attr_int("axis")?, x.rank())?;
    let mut dims = x.dims().to_vec();
    let mut strides: Strides = x.strides().into();
    let stride = if axis < x.rank() {
        strides[axis] * dims[axis]
    } else {
        1
    };
    dims.insert(axis, 1);
    strides.insert(axis, stride);
    Ok(vec![x.view(
        ctx.name(),
        dims.into(),
        strides,
        x.offset(),
    )?])
}

/// The dimensions Squeeze removes (sorted, deduplicated), validated against `shape`.
fn squeeze_axes(op: &'static str, shape: &PartialShape, axes: &[i64]) -> Result<Vec<usize>> {
    if axes.is_empty() {
        let mut out = Vec::new();
        for (i, d) in shape.iter().enumerate() {
            match d {
                Some(1) => out.push(i),
                Some(_) => {}
                None => {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "cannot squeeze every size-1 dimension of {shape}: dimension {i} is unknown, so the output rank is unknown; pass the axes to squeeze"
                        ),
                    ));
                }
            }
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let i = shape.axis(op, a)?;
        match shape[i] {
            Some(1) | None => out.push(i),
            Some(d) => {
                return Err(Error::invalid(
                    op,
                    format!(
                        "Can not squeeze dim[{i}], expected a dimension of 1, got {d} (input shape {shape})"
                    ),
                ));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn infer_squeeze(ctx: &InferContext<'_>) -> Result<Specs> {
    let shape = ctx.shape(0);
    let axes = squeeze_axes(ctx.name(), &shape, ctx.attr_ints("squeeze_dims")?)?;
    let out: PartialShape = shape
        .iter()
        .enumerate()
        .filter(|(i, _)| axes.binary_search(i).is_err())
        .map(|(_, d)| *d)
        .collect();
    spec1(ctx.dtype(0), out)
}

fn squeeze_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axes = squeeze_axes(
        ctx.name(),
        &x.partial_shape(),
        ctx.attr_ints("squeeze_dims")?,
    )?;
    let keep = |i: &usize| axes.binary_search(i).is_err();
    let dims: Vec<usize> = (0..x.rank()).filter(keep).map(|i| x.dims()[i]).collect();
    let strides: Strides = (0..x.rank()).filter(keep).map(|i| x.strides()[i]).collect();
    Ok(vec![x.view(
        ctx.name(),
        dims.into(),
        strides,
        x.offset(),
    )?])
}

/// The target of BroadcastTo as a shape, checking the input broadcasts to it.
fn broadcast_target(op: &'static str, input: &PartialShape, target: &[i64]) -> Result<Shape> {
    let mut dims = Vec::with_capacity(target.len());
    for (i, &d) in target.iter().enumerate() {
        let d = usize::try_from(d).map_err(|_| {
            Error::invalid(
                op,
                format!("shape {target:?}: dimension {i} is negative ({d})"),
            )
        })?;
        dims.push(d);
    }
    let shape = Shape::from(dims);
    if input.rank() > shape.rank() {
        return Err(Error::invalid(
            op,
            format!(
                "Rank of input ({}) must be no greater than rank of output shape ({}): cannot broadcast {input} to {shape}",
                input.rank(),
                shape.rank()
            ),
        ));
    }
    let lead = shape.rank() - input.rank();
    for (i, d) in input.iter().enumerate() {
        if let Some(d) = *d
            && d != 1
            && d != shape[lead + i]
        {
            return Err(Error::invalid(
                op,
                format!("Unable to broadcast tensor of shape {input} to tensor of shape {shape}"),
            ));
        }
    }
    Ok(shape)
}

fn infer_broadcast_to(ctx: &InferContext<'_>) -> Result<Specs> {
    let shape = broadcast_target(ctx.name(), &ctx.shape(0), ctx.attr_ints("shape")?)?;
    spec1(ctx.dtype(0), shape.into())
}

fn broadcast_to_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let shape = ctx.out_shape(0)?;
    let strides = broadcast_strides(x.dims(), x.strides(), &shape);
    Ok(vec![x.view(ctx.name(), shape, strides, x.offset())?])
}

/// Returns the input unchanged in value, as a contiguous tensor (`tf.identity`).
pub static IDENTITY: OpDef =
    OpDef::new("Identity", Arity::Fixed(1), infer_identity).cpu(DTypeSet::ALL, identity_kernel);
/// StopGradient: the input's value as a view sharing its storage. Gradient code
/// (registered elsewhere) treats its output as a constant.
pub static STOP_GRADIENT: OpDef = OpDef::new("StopGradient", Arity::Fixed(1), infer_identity)
    .cpu(DTypeSet::ALL, stop_gradient_kernel);
/// Reshape (attr `shape`, list of ints with at most one `-1`); a view when possible.
pub static RESHAPE: OpDef =
    OpDef::new("Reshape", Arity::Fixed(1), infer_reshape).cpu(DTypeSet::ALL, reshape_kernel);
/// Transpose (attr `perm`, a permutation of `0..rank`); always a view.
pub static TRANSPOSE: OpDef =
    OpDef::new("Transpose", Arity::Fixed(1), infer_transpose).cpu(DTypeSet::ALL, transpose_kernel);
/// Slice (attrs `begin`, `size`; size `-1` runs to the end); always a view.
pub static SLICE: OpDef =
    OpDef::new("Slice", Arity::Fixed(1), infer_slice).cpu(DTypeSet::ALL, slice_kernel);
/// ExpandDims (attr `axis` in `[-rank-1, rank]`); always a view.
pub static EXPAND_DIMS: OpDef = OpDef::new("ExpandDims", Arity::Fixed(1), infer_expand_dims)
    .cpu(DTypeSet::ALL, expand_dims_kernel);
/// Squeeze (attr `squeeze_dims`, empty = every size-1 dimension); always a view.
pub static SQUEEZE: OpDef =
    OpDef::new("Squeeze", Arity::Fixed(1), infer_squeeze).cpu(DTypeSet::ALL, squeeze_kernel);
/// BroadcastTo (attr `shape`); a view with stride 0 on broadcast dimensions.
pub static BROADCAST_TO: OpDef = OpDef::new("BroadcastTo", Arity::Fixed(1), infer_broadcast_to)
    .cpu(DTypeSet::ALL, broadcast_to_kernel);

/// `tf.identity`: same value, contiguous; recorded by tapes (unlike
/// [`Tensor::contiguous_host`]).
pub fn identity(x: &Tensor) -> Result<Tensor> {
    call1(&IDENTITY, std::slice::from_ref(x), &Attrs::new())
}

/// `tf.stop_gradient`: the same value (a view sharing `x`'s storage, no copy; any
/// dtype and layout). Gradients do not flow through it: tapes treat the result as a
/// constant.
///
/// ```
/// use tf_core::{Tensor, ops};
/// let x = Tensor::vector(&[1.0f32, 2.0]);
/// let y = ops::stop_gradient(&x)?;
/// assert!(y.shares_storage_with(&x));
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 2.0]);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn stop_gradient(x: &Tensor) -> Result<Tensor> {
    call1(&STOP_GRADIENT, std::slice::from_ref(x), &Attrs::new())
}

/// `tf.reshape`: same elements in row-major order with a new shape; one dimension may
/// be `-1` (inferred). Shares storage when the input is contiguous.
///
/// Errors when the element counts differ.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    call1(
        &RESHAPE,
        std::slice::from_ref(x),
        &Attrs::new().with("shape", shape),
    )
}

/// `tf.transpose`: output dimension `i` is input dimension `perm[i]`; `None` reverses
/// the axes. A view sharing the input's storage.
///
/// Errors unless `perm` is a permutation of `0..rank` (no negative entries, as in
/// TensorFlow).
pub fn transpose(x: &Tensor, perm: Option<&[i64]>) -> Result<Tensor> {
    let perm: Vec<i64> = match perm {
        Some(p) => p.to_vec(),
        None => (0..x.rank() as i64).rev().collect(),
    };
    call1(
        &TRANSPOSE,
        std::slice::from_ref(x),
        &Attrs::new().with("perm", perm),
    )
}

/// `tf.slice`: the block starting at `begin` of extent `size` (`-1` = to the end of
/// that dimension). A view sharing the input's storage.
///
/// Errors unless `0 <= begin[i] <= dim[i]` and `0 <= size[i] <= dim[i] - begin[i]`,
/// with one entry per dimension.
pub fn slice(x: &Tensor, begin: &[i64], size: &[i64]) -> Result<Tensor> {
    call1(
        &SLICE,
        std::slice::from_ref(x),
        &Attrs::new().with("begin", begin).with("size", size),
    )
}

/// `tf.expand_dims`: inserts a dimension of size 1 at `axis` (`-1` appends). A view.
///
/// Errors unless `-rank-1 <= axis <= rank`.
pub fn expand_dims(x: &Tensor, axis: i64) -> Result<Tensor> {
    call1(
        &EXPAND_DIMS,
        std::slice::from_ref(x),
        &Attrs::new().with("axis", axis),
    )
}

/// `tf.squeeze`: removes the size-1 dimensions listed in `axes`, or every size-1
/// dimension when `axes` is empty. A view.
///
/// Errors when a listed dimension is not 1 or an axis is out of range; while tracing,
/// an empty `axes` with unknown dimensions is an error (the output rank would be
/// unknown).
pub fn squeeze(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    call1(
        &SQUEEZE,
        std::slice::from_ref(x),
        &Attrs::new().with("squeeze_dims", axes),
    )
}

/// `tf.broadcast_to`: the input broadcast (NumPy rules) to `shape`, as a view with
/// stride 0 along broadcast dimensions.
///
/// Errors when the input does not broadcast to `shape`.
pub fn broadcast_to(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    call1(
        &BROADCAST_TO,
        std::slice::from_ref(x),
        &Attrs::new().with("shape", shape),
    )
}
