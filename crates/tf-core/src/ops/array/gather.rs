//! Index-driven ops: gather (GatherV2), gather_nd, scatter_nd, one_hot. Indices are
//! int32 or int64 tensors; out-of-range indices are errors naming the index and the
//! valid range, as on TensorFlow's CPU (one_hot instead yields an all-off row).

use super::copy::{alloc_shape, gather_blocks, index_values, multi_index, shape_attr};
use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::alloc::{alloc_filled, alloc_zeroed};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::ops::elementwise::Arith;
use crate::shape::{PartialShape, Shape, normalize_axis};
use crate::tensor::Tensor;

const INDEX_DTYPES: DTypeSet = DTypeSet::of(&[DType::I32, DType::I64]);

fn check_indices(ctx: &InferContext<'_>, i: usize) -> Result<()> {
    if !INDEX_DTYPES.contains(ctx.dtype(i)) {
        return Err(Error::invalid(
            ctx.name(),
            format!("indices must be int32 or int64, got {}", ctx.dtype(i)),
        ));
    }
    Ok(())
}

/// GatherV2's resolved axes: (axis, batch_dims), both non-negative.
fn gather_axes(
    op: &'static str,
    params: &PartialShape,
    indices: &PartialShape,
    axis: i64,
    batch_dims: i64,
) -> Result<(usize, usize)> {
    let ri = indices.rank() as i64;
    let bd = if batch_dims < 0 {
        batch_dims + ri
    } else {
        batch_dims
    };
    if bd < 0 || bd > ri {
        return Err(Error::invalid(
            op,
            format!(
                "Expected batch_dims in the range [{}, {ri}], but got {batch_dims} (indices shape {indices})",
                -ri
            ),
        ));
    }
    let rp = params.rank() as i64;
    if axis < -rp || axis >= rp {
        return Err(Error::invalid(
            op,
            format!(
                "Expected axis in the range [{}, {rp}), but got {axis} (params shape {params})",
                -rp
            ),
        ));
    }
    let axis = normalize_axis(op, axis, params.rank())?;
    let bd = bd as usize;
    if bd > axis {
        return Err(Error::invalid(
            op,
            format!("batch_dims ({bd}) must be less than or equal to axis ({axis})"),
        ));
    }
    for i in 0..bd {
        if let (Some(p), Some(q)) = (params[i], indices[i])
            && p != q
        {
            return Err(Error::invalid(
                op,
                format!(
                    "params.shape[{i}]: {p} should be equal to indices.shape[{i}]: {q} (params {params}, indices {indices}, batch_dims {bd})"
                ),
            ));
        }
    }
    Ok((axis, bd))
}

fn infer_gather(ctx: &InferContext<'_>) -> Result<Specs> {
    check_indices(ctx, 1)?;
    let (p, ind) = (ctx.shape(0), ctx.shape(1));
    let (axis, bd) = gather_axes(
        ctx.name(),
        &p,
        &ind,
        ctx.attr_int("axis")?,
        ctx.attrs.int("batch_dims").unwrap_or(0),
    )?;
    let mut out: Vec<Option<usize>> = Vec::new();
    for i in 0..axis {
        out.push(if i < bd { p[i].or(ind[i]) } else { p[i] });
    }
    out.extend_from_slice(&ind[bd..]);
    out.extend_from_slice(&p[axis + 1..]);
    spec1(ctx.dtype(0), out.into())
}

fn gather_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let op = ctx.name();
    let (params, indices) = (ctx.input(0), ctx.input(1));
    let (axis, bd) = gather_axes(
        op,
        &params.partial_shape(),
        &indices.partial_shape(),
        ctx.attr_int("axis")?,
        ctx.attrs.int("batch_dims").unwrap_or(0),
    )?;
    let pd = params.dims();
    let batch: usize = pd[..bd].iter().product();
    let outer: usize = pd[bd..axis].iter().product();
    let n = pd[axis];
    let inner: usize = pd[axis + 1..].iter().product();
    let k: usize = indices.dims()[bd..].iter().product();
    let idx = index_values(op, "indices", indices)?;
    if let Some(bad) = idx.iter().position(|&i| i < 0 || i as u64 >= n as u64) {
        return Err(Error::invalid(
            op,
            format!(
                "indices{} = {} is not in [0, {n}) (params shape {}, axis {axis})",
                multi_index(bad, indices.dims()),
                idx[bad],
                params.shape()
            ),
        ));
    }
    let out_shape = alloc_shape(ctx, 0)?;
    let nblocks = batch * outer * k;
    let out = crate::with_dtype!(params.dtype(), T => {
        let data = params.host_data::<T>()?;
        // Output block q = ((b * outer + o) * k + j), reading params[b, o, idx[b, j], :].
        let v = gather_blocks(&data, nblocks, inner, |q| {
            let j = q % k;
            let bo = q / k;
            let b = bo / outer.max(1);
            ((bo * n) + idx[b * k + j] as usize) * inner
        })?;
        Tensor::from_host_vec(v, out_shape)?
    });
    Ok(vec![out])
}

/// GatherNd / ScatterNd index depth: the last dimension of `indices`, which must be
/// known.
fn index_depth(op: &'static str, indices: &PartialShape) -> Result<usize> {
    match indices.last() {
        None => Err(Error::invalid(
            op,
            format!("indices must be at least a vector, got shape {indices}"),
        )),
        Some(None) => Err(Error::invalid(
            op,
            format!("the last dimension of indices {indices} must be known"),
        )),
        Some(Some(m)) => Ok(*m),
    }
}

fn infer_gather_nd(ctx: &InferContext<'_>) -> Result<Specs> {
    check_indices(ctx, 1)?;
    let op = ctx.name();
    let (p, ind) = (ctx.shape(0), ctx.shape(1));
    let m = index_depth(op, &ind)?;
    if m > p.rank() {
        return Err(Error::invalid(
            op,
            format!(
                "index innermost dimension length must be <= params rank; saw: {m} vs. {} (indices {ind}, params {p})",
                p.rank()
            ),
        ));
    }
    let mut out: Vec<Option<usize>> = ind[..ind.rank() - 1].to_vec();
    out.extend_from_slice(&p[m..]);
    spec1(ctx.dtype(0), out.into())
}

/// Validated flat element offsets (in units of `block`) of each index tuple, for
/// GatherNd and ScatterNd. `what` names the indexed shape in errors.
fn nd_offsets(
    op: &'static str,
    indices: &Tensor,
    shape: &[usize],
    what: &str,
) -> Result<Vec<usize>> {
    let m = indices.dims().last().copied().unwrap_or(0);
    let idx = index_values(op, "indices", indices)?;
    let strides = Shape::new(&shape[..m]).contiguous_strides();
    let tuples = indices.dims()[..indices.rank().saturating_sub(1)]
        .iter()
        .product::<usize>();
    let mut out = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let tuple = &idx[t * m..(t + 1) * m];
        let mut off = 0usize;
        for (j, &i) in tuple.iter().enumerate() {
            if i < 0 || i as u64 >= shape[j] as u64 {
                let parts: Vec<String> = tuple.iter().map(|i| i.to_string()).collect();
                return Err(Error::invalid(
                    op,
                    format!(
                        "indices{} = [{}] does not index into {what} {}",
                        multi_index(t, &indices.dims()[..indices.rank() - 1]),
                        parts.join(", "),
                        Shape::new(shape)
                    ),
                ));
            }
            off += i as usize * strides[j];
        }
        out.push(off);
    }
    Ok(out)
}

fn gather_nd_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (params, indices) = (ctx.input(0), ctx.input(1));
    let m = indices.dims().last().copied().unwrap_or(0);
    let offsets = nd_offsets(ctx.name(), indices, params.dims(), "param shape")?;
    let block: usize = params.dims()[m..].iter().product();
    let out_shape = alloc_shape(ctx, 0)?;
    let out = crate::with_dtype!(params.dtype(), T => {
        let data = params.host_data::<T>()?;
        let v = gather_blocks(&data, offsets.len(), block, |q| offsets[q] * block)?;
        Tensor::from_host_vec(v, out_shape)?
    });
    Ok(vec![out])
}

fn infer_scatter_nd(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    check_indices(ctx, 0)?;
    let dtype = ctx.check_dtype(1, DTypeSet::NUMERIC)?;
    let shape = shape_attr(op, ctx.attr_ints("shape")?)?;
    let (ind, upd) = (ctx.shape(0), ctx.shape(1));
    let m = index_depth(op, &ind)?;
    if m > shape.rank() {
        return Err(Error::invalid(
            op,
            format!(
                "indices {ind} index {m} dimensions but the output shape {shape} has rank {}",
                shape.rank()
            ),
        ));
    }
    // updates.shape must be indices.shape[:-1] + shape[m:].
    let mut expected: Vec<Option<usize>> = ind[..ind.rank() - 1].to_vec();
    expected.extend(shape[m..].iter().map(|&d| Some(d)));
    let expected = PartialShape::from(expected);
    let ok = upd.rank() == expected.rank()
        && upd
            .iter()
            .zip(expected.iter())
            .all(|(a, b)| a.is_none() || b.is_none() || a == b);
    if !ok {
        return Err(Error::invalid(
            op,
            format!(
                "updates has shape {upd} but indices {ind} and output shape {shape} require indices.shape[:-1] + shape[{m}:] = {expected}"
            ),
        ));
    }
    if shape.num_elements() == 0
        && ind.num_elements().is_some_and(|n| n > 0)
        && upd.num_elements().is_some_and(|n| n > 0)
    {
        return Err(Error::invalid(
            op,
            format!("Indices and updates specified for empty output shape {shape}"),
        ));
    }
    spec1(dtype, shape.into())
}

fn scatter_typed<T: Arith>(
    updates: &Tensor,
    offsets: &[usize],
    block: usize,
    shape: Shape,
) -> Result<Tensor> {
    let mut out = alloc_zeroed::<T>(shape.num_elements())?;
    let upd = updates.host_data::<T>()?;
    for (q, &off) in offsets.iter().enumerate() {
        let dst = &mut out[off * block..(off + 1) * block];
        let src = &upd[q * block..(q + 1) * block];
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = T::add(*d, s);
        }
    }
    Tensor::from_host_vec(out, shape)
}

fn scatter_nd_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (indices, updates) = (ctx.input(0), ctx.input(1));
    let shape = alloc_shape(ctx, 0)?;
    let m = indices.dims().last().copied().unwrap_or(0);
    let offsets = nd_offsets(ctx.name(), indices, &shape, "shape")?;
    let block: usize = shape[m..].iter().product();
    let out = crate::with_numeric!(updates.dtype(), T => scatter_typed::<T>(updates, &offsets, block, shape)?,
        other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

fn one_hot_axis(op: &'static str, axis: i64, rank: usize) -> Result<usize> {
    if axis == -1 {
        return Ok(rank);
    }
    usize::try_from(axis)
        .ok()
        .filter(|&a| a <= rank)
        .ok_or_else(|| {
            Error::invalid(
                op,
                format!("Expected axis to be -1 or between [0, {rank}]. But received: {axis}"),
            )
        })
}

fn infer_one_hot(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    if !DTypeSet::of(&[DType::U8, DType::I32, DType::I64]).contains(ctx.dtype(0)) {
        return Err(Error::invalid(
            op,
            format!(
                "indices must be uint8, int32 or int64, got {}",
                ctx.dtype(0)
            ),
        ));
    }
    let dtype = ctx.dtype(1);
    if ctx.dtype(2) != dtype {
        return Err(Error::invalid(
            op,
            format!(
                "on_value ({dtype}) and off_value ({}) must have the same dtype",
                ctx.dtype(2)
            ),
        ));
    }
    for (i, name) in [(1, "on_value"), (2, "off_value")] {
        if ctx.shape(i).rank() != 0 {
            return Err(Error::invalid(
                op,
                format!("{name} must be a scalar, but got shape {}", ctx.shape(i)),
            ));
        }
    }
    let depth = ctx.attr_int("depth")?;
    let depth = usize::try_from(depth)
        .map_err(|_| Error::invalid(op, format!("depth must be non-negative, got: {depth}")))?;
    let ind = ctx.shape(0);
    let axis = one_hot_axis(op, ctx.attr_int("axis")?, ind.rank())?;
    let mut out = ind.to_vec();
    out.insert(axis, Some(depth));
    spec1(dtype, out.into())
}

fn one_hot_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let op = ctx.name();
    let indices = ctx.input(0);
    let shape = alloc_shape(ctx, 0)?;
    let axis = one_hot_axis(op, ctx.attr_int("axis")?, indices.rank())?;
    let depth = shape[axis];
    let idx = index_values(op, "indices", indices)?;
    let prefix: usize = indices.dims()[..axis].iter().product();
    let suffix: usize = indices.dims()[axis..].iter().product();
    let out = crate::with_dtype!(ctx.out_dtype(0), T => {
        let on = ctx.input(1).scalar::<T>()?;
        let off = ctx.input(2).scalar::<T>()?;
        let mut v = alloc_filled(shape.num_elements(), off)?;
        for p in 0..prefix {
            for s in 0..suffix {
                let i = idx[p * suffix + s];
                if i >= 0 && (i as u64) < depth as u64 {
                    v[(p * depth + i as usize) * suffix + s] = on;
                }
            }
        }
        Tensor::from_host_vec(v, shape)?
    });
    Ok(vec![out])
}

/// GatherV2 (inputs params, indices; attrs `axis`, `batch_dims`).
pub static GATHER: OpDef =
    OpDef::new("GatherV2", Arity::Fixed(2), infer_gather).cpu(DTypeSet::ALL, gather_kernel);
/// GatherNd (inputs params, indices).
pub static GATHER_ND: OpDef =
    OpDef::new("GatherNd", Arity::Fixed(2), infer_gather_nd).cpu(DTypeSet::ALL, gather_nd_kernel);
/// ScatterNd (inputs indices, updates; attr `shape`): duplicates add.
pub static SCATTER_ND: OpDef =
    OpDef::new("ScatterNd", Arity::Fixed(2), infer_scatter_nd).cpu(INDEX_DTYPES, scatter_nd_kernel);
/// OneHot (inputs indices, on_value, off_value; attrs `depth`, `axis`).
pub static ONE_HOT: OpDef = OpDef::new("OneHot", Arity::Fixed(3), infer_one_hot).cpu(
    DTypeSet::of(&[DType::U8, DType::I32, DType::I64]),
    one_hot_kernel,
);

/// `tf.gather`: slices of `params` along `axis` picked by `indices` (int32/int64).
/// Output shape: `params.shape[:axis] + indices.shape[batch_dims:] +
/// params.shape[axis+1:]`; the first `batch_dims` dimensions of both are batch
/// dimensions gathered pairwise.
///
/// Errors when an index is outside `[0, params.shape[axis])` (naming the index and the
/// range), or axes/batch dimensions are inconsistent.
pub fn gather(params: &Tensor, indices: &Tensor, axis: i64, batch_dims: i64) -> Result<Tensor> {
    call1(
        &GATHER,
        &[params.clone(), indices.clone()],
        &Attrs::new()
            .with("axis", axis)
            .with("batch_dims", batch_dims),
    )
}

/// `tf.gather_nd`: the last dimension of `indices` (length `m <= rank(params)`) indexes
/// the first `m` dimensions of `params`. Output shape:
/// `indices.shape[:-1] + params.shape[m:]`.
///
/// Errors when an index tuple falls outside `params` (naming it and the shape).
pub fn gather_nd(params: &Tensor, indices: &Tensor) -> Result<Tensor> {
    call1(
        &GATHER_ND,
        &[params.clone(), indices.clone()],
        &Attrs::new(),
    )
}

/// `tf.scatter_nd`: zeros of `shape` with `updates` added at `indices` (duplicate
/// indices add up). `updates.shape` must be `indices.shape[:-1] + shape[m:]` where
/// `m = indices.shape[-1]`; numeric dtypes.
///
/// Errors when shapes disagree or an index falls outside `shape`.
pub fn scatter_nd(indices: &Tensor, updates: &Tensor, shape: &[i64]) -> Result<Tensor> {
    call1(
        &SCATTER_ND,
        &[indices.clone(), updates.clone()],
        &Attrs::new().with("shape", shape),
    )
}

/// `tf.one_hot`: a new dimension of size `depth` at `axis` (`-1` = last) holding
/// `on_value` at each index and `off_value` elsewhere, in `dtype` (values converted
/// with `tf.cast` rules). Indices (uint8/int32/int64) outside `[0, depth)` give an
/// all-off row.
///
/// Errors on a negative depth or an axis outside `[-1, rank]`.
pub fn one_hot(
    indices: &Tensor,
    depth: i64,
    on_value: f64,
    off_value: f64,
    axis: i64,
    dtype: DType,
) -> Result<Tensor> {
    let (on, off) = crate::with_dtype!(dtype, T => (
        Tensor::from_scalar(T::from_f64(on_value)),
        Tensor::from_scalar(T::from_f64(off_value)),
    ));
    one_hot_with(indices, depth, &on, &off, axis)
}

/// [`one_hot`] with `on_value` and `off_value` given as scalar tensors of one dtype
/// (the output's).
pub fn one_hot_with(
    indices: &Tensor,
    depth: i64,
    on_value: &Tensor,
    off_value: &Tensor,
    axis: i64,
) -> Result<Tensor> {
    call1(
        &ONE_HOT,
        &[indices.clone(), on_value.clone(), off_value.clone()],
        &Attrs::new().with("depth", depth).with("axis", axis),
    )
}
