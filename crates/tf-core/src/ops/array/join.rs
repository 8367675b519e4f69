//! Joining and splitting along an axis: concat, stack, unstack, split, split_v.
//! Joins copy; splits return views of the input.

use super::copy::{alloc_shape, concat_rows};
use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, TensorSpec, call, call1};
use crate::shape::{PartialShape, Shape, Strides, normalize_axis};
use crate::tensor::Tensor;

fn infer_concat(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let dtype = ctx.same_dtype()?;
    let first = ctx.shape(0);
    let rank = first.rank();
    if rank == 0 {
        return Err(Error::invalid(
            op,
            "Can't concatenate scalars (use tf.stack instead)",
        ));
    }
    let axis = ctx.attr_int("axis")?;
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(Error::invalid(
            op,
            format!(
                "Expected concatenating dimensions in the range [{}, {r}), but got {axis} (input 0 has shape {first})",
                -r
            ),
        ));
    }
    let axis = normalize_axis(op, axis, rank)?;
    let mut out: Vec<Option<usize>> = first.to_vec();
    for i in 1..ctx.num_inputs() {
        let s = ctx.shape(i);
        if s.rank() != rank {
            return Err(Error::invalid(
                op,
                format!(
                    "input {i} has shape {s} (rank {}) but input 0 has shape {first} (rank {rank}); all inputs must have the same rank",
                    s.rank()
                ),
            ));
        }
        for d in 0..rank {
            if d == axis {
                out[d] =
                    match (out[d], s[d]) {
                        (Some(a), Some(b)) => Some(a.checked_add(b).ok_or_else(|| {
                            Error::invalid(op, "concatenated dimension overflows")
                        })?),
                        _ => None,
                    };
            } else {
                match (out[d], s[d]) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(Error::invalid(
                            op,
                            format!(
                                "input {i} has shape {s} but input 0 has shape {first}: dimension {d} differs ({b} vs {a}); all dimensions except the concat axis {axis} must match"
                            ),
                        ));
                    }
                    (None, b) => out[d] = b,
                    _ => {}
                }
            }
        }
    }
    let mut specs = Specs::new();
    specs.push(TensorSpec::new(dtype, PartialShape::from(out)));
    Ok(specs)
}

/// Copies the inputs' rows into one output: `axis` splits each input into `outer`
/// rows of `blocks[k]` elements.
fn join_kernel(ctx: &KernelContext<'_>, outer: usize, blocks: &[usize]) -> Result<Tensor> {
    let shape = alloc_shape(ctx, 0)?;
    crate::with_dtype!(ctx.out_dtype(0), T => {
        let data = ctx
            .inputs
            .iter()
            .map(|t| t.host_data::<T>())
            .collect::<Result<Vec<_>>>()?;
        let parts: Vec<&[T]> = data.iter().map(|c| c.as_ref()).collect();
        Tensor::from_host_vec(concat_rows(&parts, blocks, outer)?, shape)
    })
}

fn concat_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let first = ctx.input(0);
    let axis = normalize_axis(ctx.name(), ctx.attr_int("axis")?, first.rank())?;
    let outer: usize = first.dims()[..axis].iter().product();
    let blocks: Vec<usize> = ctx
        .inputs
        .iter()
        .map(|t| t.dims()[axis..].iter().product())
        .collect();
    Ok(vec![join_kernel(ctx, outer, &blocks)?])
}

/// Normalizes a Pack axis in `[-(rank+1), rank]`.
fn stack_axis(op: &'static str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64 + 1;
    if axis < -r || axis >= r {
        return Err(Error::invalid(
            op,
            format!(
                "axis = {axis} not in [{}, {r}) for inputs of rank {rank}",
                -r
            ),
        ));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

fn infer_stack(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let dtype = ctx.same_dtype()?;
    let first = ctx.shape(0);
    let mut merged: Vec<Option<usize>> = first.to_vec();
    for i in 1..ctx.num_inputs() {
        let s = ctx.shape(i);
        let compatible = s.rank() == first.rank()
            && s.iter().zip(&merged).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            });
        if !compatible {
            return Err(Error::invalid(
                op,
                format!(
                    "Shapes of all inputs must match: values[0].shape = {first} != values[{i}].shape = {s}"
                ),
            ));
        }
        for (m, d) in merged.iter_mut().zip(s.iter()) {
            if m.is_none() {
                *m = *d;
            }
        }
    }
    let axis = stack_axis(op, ctx.attr_int("axis")?, first.rank())?;
    merged.insert(axis, Some(ctx.num_inputs()));
    let mut specs = Specs::new();
    specs.push(TensorSpec::new(dtype, PartialShape::from(merged)));
    Ok(specs)
}

fn stack_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let first = ctx.input(0);
    let axis = stack_axis(ctx.name(), ctx.attr_int("axis")?, first.rank())?;
    let outer: usize = first.dims()[..axis].iter().product();
    let inner: usize = first.dims()[axis..].iter().product();
    let blocks = vec![inner; ctx.inputs.len()];
    Ok(vec![join_kernel(ctx, outer, &blocks)?])
}

/// The output shape of Unpack / Split pieces: the input shape with `axis` set to `d`
/// (or removed when `d` is `None` and `remove` is set).
fn piece_shape(shape: &PartialShape, axis: usize, d: Option<Option<usize>>) -> PartialShape {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &s)| if i == axis { d } else { Some(s) })
        .collect()
}

fn infer_unstack(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let shape = ctx.shape(0);
    let axis = shape.axis(op, ctx.attr_int("axis")?)?;
    let num = ctx.attr_int("num")?;
    let num = usize::try_from(num)
        .map_err(|_| Error::invalid(op, format!("num = {num} must be non-negative")))?;
    if let Some(d) = shape[axis]
        && d != num
    {
        return Err(Error::invalid(
            op,
            format!("num = {num} does not match dimension {axis} of shape {shape} ({d})"),
        ));
    }
    let piece = piece_shape(&shape, axis, None);
    Ok((0..num)
        .map(|_| TensorSpec::new(ctx.dtype(0), piece.clone()))
        .collect())
}

/// Views of `x` along `axis`: piece `k` starts at `starts[k]` and spans `sizes[k]`
/// (keeping the axis), or one element with the axis removed when `remove`.
fn views_along(
    op: &'static str,
    x: &Tensor,
    axis: usize,
    starts_sizes: impl Iterator<Item = (usize, usize)>,
    remove: bool,
) -> Result<Vec<Tensor>> {
    let stride = x.strides()[axis];
    starts_sizes
        .map(|(start, size)| {
            let (dims, strides): (Vec<usize>, Strides) = if remove {
                (
                    x.dims()
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != axis)
                        .map(|(_, &d)| d)
                        .collect(),
                    x.strides()
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != axis)
                        .map(|(_, &s)| s)
                        .collect(),
                )
            } else {
                let mut d = x.dims().to_vec();
                d[axis] = size;
                (d, x.strides().into())
            };
            let shape = Shape::from(dims);
            let offset = if shape.num_elements() > 0 {
                x.offset() + start * stride
            } else {
                x.offset()
            };
            x.view(op, shape, strides, offset)
        })
        .collect()
}

fn unstack_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axis = x.shape().axis(ctx.name(), ctx.attr_int("axis")?)?;
    let n = x.dims()[axis];
    views_along(ctx.name(), x, axis, (0..n).map(|k| (k, 1)), true)
}

fn infer_split(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let shape = ctx.shape(0);
    let axis = shape.axis(op, ctx.attr_int("axis")?)?;
    let num = ctx.attr_int("num_split")?;
    let num = usize::try_from(num)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::invalid(op, format!("num_split must be positive, got {num}")))?;
    let piece = match shape[axis] {
        Some(d) if d % num != 0 => {
            return Err(Error::invalid(
                op,
                format!(
                    "Number of ways to split should evenly divide the split dimension, but got split_dim {axis} (size = {d}) and num_split {num} (input shape {shape})"
                ),
            ));
        }
        Some(d) => Some(d / num),
        None => None,
    };
    let piece = piece_shape(&shape, axis, Some(piece));
    Ok((0..num)
        .map(|_| TensorSpec::new(ctx.dtype(0), piece.clone()))
        .collect())
}

fn split_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axis = x.shape().axis(ctx.name(), ctx.attr_int("axis")?)?;
    let num = ctx.outputs.len();
    let size = x.dims()[axis].checked_div(num).unwrap_or(0);
    views_along(
        ctx.name(),
        x,
        axis,
        (0..num).map(|k| (k * size, size)),
        false,
    )
}

/// Resolves SplitV's `size_splits` (at most one `-1`) against the split dimension.
fn split_sizes(
    op: &'static str,
    sizes: &[i64],
    dim: Option<usize>,
    shape: &PartialShape,
) -> Result<Vec<Option<usize>>> {
    if sizes.is_empty() {
        return Err(Error::invalid(op, "size_splits must not be empty"));
    }
    let mut infer_at = None;
    let mut known = 0usize;
    for (i, &s) in sizes.iter().enumerate() {
        match s {
            -1 if infer_at.is_none() => infer_at = Some(i),
            -1 => {
                return Err(Error::invalid(
                    op,
                    format!("There can only be one -1 in the input: size_splits {sizes:?}"),
                ));
            }
            s if s < 0 => {
                return Err(Error::invalid(
                    op,
                    format!("size_splits[{i}] = {s} is negative: size_splits {sizes:?}"),
                ));
            }
            s => {
                known = known
                    .checked_add(s as usize)
                    .ok_or_else(|| Error::invalid(op, "size_splits overflow"))?
            }
        }
    }
    let mut out: Vec<Option<usize>> = sizes.iter().map(|&s| usize::try_from(s).ok()).collect();
    if let Some(d) = dim {
        let bad = match infer_at {
            Some(_) => known > d,
            None => known != d,
        };
        if bad {
            return Err(Error::invalid(
                op,
                format!(
                    "Determined shape must either match input shape along split_dim exactly if fully specified, or be less than the size of the input along split_dim if not fully specified. Got: size_splits {sizes:?} (sum {known}) for dimension size {d} (input shape {shape})"
                ),
            ));
        }
        if let Some(i) = infer_at {
            out[i] = Some(d - known);
        }
    }
    Ok(out)
}

fn infer_split_v(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let shape = ctx.shape(0);
    let axis = shape.axis(op, ctx.attr_int("axis")?)?;
    let sizes = split_sizes(op, ctx.attr_ints("size_splits")?, shape[axis], &shape)?;
    Ok(sizes
        .into_iter()
        .map(|s| TensorSpec::new(ctx.dtype(0), piece_shape(&shape, axis, Some(s))))
        .collect())
}

fn split_v_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axis = x.shape().axis(ctx.name(), ctx.attr_int("axis")?)?;
    let sizes = split_sizes(
        ctx.name(),
        ctx.attr_ints("size_splits")?,
        Some(x.dims()[axis]),
        &x.partial_shape(),
    )?;
    let mut start = 0;
    let pieces: Vec<(usize, usize)> = sizes
        .iter()
        .map(|s| {
            let s = s.unwrap_or(0);
            let p = (start, s);
            start += s;
            p
        })
        .collect();
    views_along(ctx.name(), x, axis, pieces.into_iter(), false)
}

/// ConcatV2 (attr `axis`; one or more inputs of one dtype and rank whose other
/// dimensions match). Copies.
pub static CONCAT: OpDef =
    OpDef::new("ConcatV2", Arity::AtLeast(1), infer_concat).cpu(DTypeSet::ALL, concat_kernel);
/// Pack (attr `axis` in `[-(rank+1), rank]`; inputs of one shape and dtype). Copies.
pub static STACK: OpDef =
    OpDef::new("Pack", Arity::AtLeast(1), infer_stack).cpu(DTypeSet::ALL, stack_kernel);
/// Unpack (attrs `num`, `axis`): `num` outputs, views of the input.
pub static UNSTACK: OpDef =
    OpDef::new("Unpack", Arity::Fixed(1), infer_unstack).cpu(DTypeSet::ALL, unstack_kernel);
/// Split (attrs `num_split`, `axis`): equal pieces, views of the input.
pub static SPLIT: OpDef =
    OpDef::new("Split", Arity::Fixed(1), infer_split).cpu(DTypeSet::ALL, split_kernel);
/// SplitV (attrs `size_splits` with at most one `-1`, `axis`): views of the input.
pub static SPLIT_V: OpDef =
    OpDef::new("SplitV", Arity::Fixed(1), infer_split_v).cpu(DTypeSet::ALL, split_v_kernel);

/// `tf.concat`: joins tensors along `axis` (negative counts from the end).
///
/// Errors when the list is empty, dtypes or ranks differ, a dimension other than
/// `axis` differs (naming the input and both shapes), or the inputs are scalars.
pub fn concat(values: &[Tensor], axis: i64) -> Result<Tensor> {
    if values.is_empty() {
        return Err(Error::invalid(CONCAT.name, "needs at least one input"));
    }
    call1(&CONCAT, values, &Attrs::new().with("axis", axis))
}

/// `tf.stack`: joins tensors of one shape along a new dimension at `axis`
/// (`-(rank+1) <= axis <= rank`).
///
/// Errors when the list is empty or shapes/dtypes differ.
pub fn stack(values: &[Tensor], axis: i64) -> Result<Tensor> {
    if values.is_empty() {
        return Err(Error::invalid(STACK.name, "needs at least one input"));
    }
    call1(&STACK, values, &Attrs::new().with("axis", axis))
}

/// `tf.unstack`: the slices of `x` along `axis`, with that dimension removed; views.
///
/// Errors when `axis` is out of range or (while tracing) its size is unknown.
pub fn unstack(x: &Tensor, axis: i64) -> Result<Vec<Tensor>> {
    let shape = x.partial_shape();
    let a = shape.axis(UNSTACK.name, axis)?;
    let num = shape[a].ok_or_else(|| {
        Error::invalid(
            UNSTACK.name,
            format!("cannot unstack dimension {a} of {shape}: its size is unknown"),
        )
    })?;
    call(
        &UNSTACK,
        std::slice::from_ref(x),
        &Attrs::new().with("num", num).with("axis", axis),
    )
}

/// `tf.split` with a count: `num_split` equal pieces along `axis`; views.
///
/// Errors when the dimension is not divisible by `num_split`.
pub fn split(x: &Tensor, num_split: usize, axis: i64) -> Result<Vec<Tensor>> {
    call(
        &SPLIT,
        std::slice::from_ref(x),
        &Attrs::new().with("num_split", num_split).with("axis", axis),
    )
}

/// `tf.split` with sizes: pieces of `size_splits[i]` along `axis` (one entry may be
/// `-1`: the remainder); views.
///
/// Errors when the sizes do not add up to the dimension.
pub fn split_v(x: &Tensor, size_splits: &[i64], axis: i64) -> Result<Vec<Tensor>> {
    call(
        &SPLIT_V,
        std::slice::from_ref(x),
        &Attrs::new()
            .with("size_splits", size_splits)
            .with("axis", axis),
    )
}
