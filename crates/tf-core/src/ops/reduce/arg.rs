//! `ArgMax` / `ArgMin`: the index of the largest / smallest value along one axis.
//!
//! Attributes: `axis` (int, negative allowed) and `output_type` (int64 or int32). Ties
//! give the first index. NaN follows TensorFlow's CPU kernel (Eigen's arg reducers):
//! NaN never compares larger or smaller, so NaNs are skipped, and a slice that is all
//! NaN gives index 0. (`reduce_max` propagates NaN instead: the two can disagree on NaN
//! input, as in TensorFlow.) An empty reduced dimension is an error.

use super::axes::split_at_axis;
use super::num::Compute;
use super::par::fill_blocks;
use crate::dtype::{DType, DTypeSet};
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::normalize_axis;
use crate::tensor::Tensor;
use half::{bf16, f16};

/// Bounds of a compute type: the starting "best" of a scan.
trait ArgC: Copy + PartialOrd {
    const LOWEST: Self;
    const HIGHEST: Self;
}
macro_rules! arg_c {
    ($($t:ty => $lo:expr, $hi:expr;)*) => {$(
        impl ArgC for $t { const LOWEST: $t = $lo; const HIGHEST: $t = $hi; }
    )*};
}
arg_c! {
    f32 => f32::NEG_INFINITY, f32::INFINITY;
    f64 => f64::NEG_INFINITY, f64::INFINITY;
    i8 => i8::MIN, i8::MAX;
    u8 => u8::MIN, u8::MAX;
    i32 => i32::MIN, i32::MAX;
    i64 => i64::MIN, i64::MAX;
    bool => false, true;
}

/// Whether `v` replaces `best`: strictly better, so ties keep the first index and NaN
/// (never better) is skipped.
#[inline(always)]
fn better<C: ArgC, const MAX: bool>(v: C, best: C) -> bool {
    if MAX { v > best } else { v < best }
}

#[inline(always)]
fn start<C: ArgC, const MAX: bool>() -> C {
    if MAX { C::LOWEST } else { C::HIGHEST }
}

fn arg<T: Compute, const MAX: bool>(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>>
where
    T::C: ArgC,
{
    let x = ctx.input(0);
    let axis = normalize_axis(ctx.name(), ctx.attr_int("axis")?, x.rank())?;
    let (outer, n, inner) = split_at_axis(x.dims(), axis);
    if n == 0 {
        return Err(empty_axis(ctx.name(), axis, &x.partial_shape()));
    }
    let data = x.host_data::<T>()?;
    let data: &[T] = &data;
    let idx: Vec<i64> = fill_blocks(0i64, outer, inner, n * inner, |first, chunk| {
        let mut best: Vec<T::C> = Vec::new();
        for (b, out) in chunk.chunks_mut(inner).enumerate() {
            let block = &data[(first + b) * n * inner..][..n * inner];
            if inner == 1 {
                let (mut bv, mut bi) = (start::<T::C, MAX>(), 0usize);
                for (i, &v) in block.iter().enumerate() {
                    let v = v.to_c();
                    if better::<_, MAX>(v, bv) {
                        bv = v;
                        bi = i;
                    }
                }
                out[0] = bi as i64;
            } else {
                best.clear();
                best.resize(inner, start::<T::C, MAX>());
                for (i, row) in block.chunks_exact(inner).enumerate() {
                    for ((bv, bi), &v) in best.iter_mut().zip(out.iter_mut()).zip(row) {
                        let v = v.to_c();
                        if better::<_, MAX>(v, *bv) {
                            *bv = v;
                            *bi = i as i64;
                        }
                    }
                }
            }
        }
    });
    let shape = ctx.out_shape(0)?;
    Ok(vec![match ctx.out_dtype(0) {
        DType::I32 => Tensor::from_host_vec(idx.iter().map(|&i| i as i32).collect(), shape)?,
        _ => Tensor::from_host_vec(idx, shape)?,
    }])
}

fn empty_axis(op: &'static str, axis: usize, shape: &crate::PartialShape) -> Error {
    Error::invalid(
        op,
        format!("reduction axis {axis} is empty in shape {shape}"),
    )
}

fn infer_arg(ctx: &InferContext<'_>) -> Result<Specs> {
    ctx.check_dtype(0, DTypeSet::NUMERIC.union(DTypeSet::BOOL))?;
    let shape = ctx.shape(0);
    let axis = normalize_axis(ctx.name(), ctx.attr_int("axis")?, shape.rank())?;
    let out_dt = ctx.attr_dtype("output_type")?;
    if !matches!(out_dt, DType::I32 | DType::I64) {
        return Err(Error::invalid(
            ctx.name(),
            format!("output_type must be int32 or int64, got {out_dt}"),
        ));
    }
    match shape[axis] {
        Some(0) => return Err(empty_axis(ctx.name(), axis, &shape)),
        Some(n) if out_dt == DType::I32 && n > i32::MAX as usize => {
            return Err(Error::invalid(
                ctx.name(),
                format!("dimension {axis} of shape {shape} is too large for int32 indices"),
            ));
        }
        _ => {}
    }
    spec1(
        out_dt,
        shape
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != axis)
            .map(|(_, &d)| d)
            .collect(),
    )
}

macro_rules! arg_kernel {
    ($name:ident, $max:expr) => {
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            match ctx.input(0).dtype() {
                DType::F32 => arg::<f32, $max>(ctx),
                DType::F64 => arg::<f64, $max>(ctx),
                DType::F16 => arg::<f16, $max>(ctx),
                DType::BF16 => arg::<bf16, $max>(ctx),
                DType::I8 => arg::<i8, $max>(ctx),
                DType::U8 => arg::<u8, $max>(ctx),
                DType::I32 => arg::<i32, $max>(ctx),
                DType::I64 => arg::<i64, $max>(ctx),
                DType::Bool => arg::<bool, $max>(ctx),
            }
        }
    };
}
arg_kernel!(argmax_kernel, true);
arg_kernel!(argmin_kernel, false);

/// Index of the maximum along `axis` (`ArgMax`); numeric and bool inputs.
pub static ARG_MAX: OpDef = OpDef::new("ArgMax", Arity::Fixed(1), infer_arg)
    .cpu(DTypeSet::NUMERIC.union(DTypeSet::BOOL), argmax_kernel);
/// Index of the minimum along `axis` (`ArgMin`); numeric and bool inputs.
pub static ARG_MIN: OpDef = OpDef::new("ArgMin", Arity::Fixed(1), infer_arg)
    .cpu(DTypeSet::NUMERIC.union(DTypeSet::BOOL), argmin_kernel);

fn arg_attrs(axis: i64, output_type: DType) -> Attrs {
    Attrs::new()
        .with("axis", axis)
        .with("output_type", output_type)
}

/// `tf.math.argmax(x, axis)`: int64 indices of the largest values along `axis` (the
/// axis is removed from the shape). Ties give the first index; NaNs are skipped like
/// TensorFlow's CPU kernel (all-NaN gives 0).
///
/// Errors on an axis out of range or an empty dimension at `axis`.
///
/// ```
/// use tf_core::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1i32, 9, 9, 4, 0, 7], [2, 3])?;
/// assert_eq!(ops::argmax(&x, 1)?.to_vec::<i64>()?, vec![1, 2]);
/// assert_eq!(ops::argmin(&x, 0)?.to_vec::<i64>()?, vec![0, 1, 1]);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn argmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    argmax_with_type(x, axis, DType::I64)
}

/// [`argmax`] with the index dtype `output_type` (int64 or int32).
pub fn argmax_with_type(x: &Tensor, axis: i64, output_type: DType) -> Result<Tensor> {
    call1(
        &ARG_MAX,
        std::slice::from_ref(x),
        &arg_attrs(axis, output_type),
    )
}

/// `tf.math.argmin(x, axis)`: int64 indices of the smallest values along `axis`; ties
/// give the first index, NaNs are skipped (see [`argmax`]).
pub fn argmin(x: &Tensor, axis: i64) -> Result<Tensor> {
    argmin_with_type(x, axis, DType::I64)
}

/// [`argmin`] with the index dtype `output_type` (int64 or int32).
pub fn argmin_with_type(x: &Tensor, axis: i64, output_type: DType) -> Result<Tensor> {
    call1(
        &ARG_MIN,
        std::slice::from_ref(x),
        &arg_attrs(axis, output_type),
    )
}
