//! Ops that depend only on the input's shape and dtype: shape, size, zeros_like,
//! ones_like. Their inference needs nothing else, so they work on symbolic tensors
//! while tracing.

use crate::dtype::{DType, DTypeSet};
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;

fn out_type(ctx: &InferContext<'_>) -> Result<DType> {
    match ctx.attrs.dtype("out_type").unwrap_or(DType::I32) {
        d @ (DType::I32 | DType::I64) => Ok(d),
        other => Err(Error::invalid(
            ctx.name(),
            format!("out_type must be int32 or int64, got {other}"),
        )),
    }
}

/// A vector of `values` in `dtype` (int32 or int64), failing on int32 overflow.
fn int_tensor(op: &'static str, dtype: DType, values: &[usize], shape: Shape) -> Result<Tensor> {
    if dtype == DType::I64 {
        let v = values
            .iter()
            .map(|&d| i64::try_from(d))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|_| Error::invalid(op, format!("value in {values:?} overflows int64")))?;
        return Tensor::from_host_vec(v, shape);
    }
    let v = values
        .iter()
        .map(|&d| i32::try_from(d))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|_| {
            Error::invalid(
                op,
                format!("out_type is int32 but {values:?} does not fit in int32; use int64"),
            )
        })?;
    Tensor::from_host_vec(v, shape)
}

fn infer_shape(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = out_type(ctx)?;
    spec1(dt, PartialShape::known(&[ctx.shape(0).rank()]))
}

fn shape_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    Ok(vec![int_tensor(
        ctx.name(),
        ctx.out_dtype(0),
        x.dims(),
        Shape::new(&[x.rank()]),
    )?])
}

fn infer_size(ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(out_type(ctx)?, PartialShape::scalar())
}

fn size_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    Ok(vec![int_tensor(
        ctx.name(),
        ctx.out_dtype(0),
        &[ctx.input(0).num_elements()],
        Shape::scalar(),
    )?])
}

fn infer_like(ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(ctx.dtype(0), ctx.shape(0))
}

fn zeros_like_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    Ok(vec![Tensor::zeros(ctx.out_shape(0)?, ctx.out_dtype(0))?])
}

fn ones_like_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    Ok(vec![Tensor::ones(ctx.out_shape(0)?, ctx.out_dtype(0))?])
}

/// Shape (attr `out_type`: int32, the default, or int64): the input's dimensions.
pub static SHAPE: OpDef =
    OpDef::new("Shape", Arity::Fixed(1), infer_shape).cpu(DTypeSet::ALL, shape_kernel);
/// Size (attr `out_type`): the input's element count as a scalar.
pub static SIZE: OpDef =
    OpDef::new("Size", Arity::Fixed(1), infer_size).cpu(DTypeSet::ALL, size_kernel);
/// ZerosLike: zeros of the input's shape and dtype.
pub static ZEROS_LIKE: OpDef =
    OpDef::new("ZerosLike", Arity::Fixed(1), infer_like).cpu(DTypeSet::ALL, zeros_like_kernel);
/// OnesLike: ones of the input's shape and dtype (`true` for bool).
pub static ONES_LIKE: OpDef =
    OpDef::new("OnesLike", Arity::Fixed(1), infer_like).cpu(DTypeSet::ALL, ones_like_kernel);

/// `tf.shape`: the dimensions of `x` as a vector of `out_type` (int32 or int64).
///
/// Errors on another `out_type`, or when a dimension does not fit int32.
pub fn shape(x: &Tensor, out_type: DType) -> Result<Tensor> {
    call1(
        &SHAPE,
        std::slice::from_ref(x),
        &Attrs::new().with("out_type", out_type),
    )
}

/// `tf.size`: the number of elements of `x` as a scalar of `out_type` (int32 or
/// int64).
pub fn size(x: &Tensor, out_type: DType) -> Result<Tensor> {
    call1(
        &SIZE,
        std::slice::from_ref(x),
        &Attrs::new().with("out_type", out_type),
    )
}

/// `tf.zeros_like`: zeros (`false`) with `x`'s shape and dtype.
pub fn zeros_like(x: &Tensor) -> Result<Tensor> {
    call1(&ZEROS_LIKE, std::slice::from_ref(x), &Attrs::new())
}

/// `tf.ones_like`: ones (`true`) with `x`'s shape and dtype.
pub fn ones_like(x: &Tensor) -> Result<Tensor> {
    call1(&ONES_LIKE, std::slice::from_ref(x), &Attrs::new())
}
