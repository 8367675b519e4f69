//! Selection by a condition (`SelectV2`: `tf.where(cond, x, y)`) and clipping
//! (`ClipByValue`), with broadcasting of all three operands.

use super::arith::Arith;
use super::kernel::ternary_map;
use crate::dtype::{DType, DTypeSet};
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::broadcast_partial;
use crate::tensor::Tensor;

fn infer_select(ctx: &InferContext<'_>) -> Result<Specs> {
    let cond = ctx.dtype(0);
    if cond != DType::Bool {
        return Err(Error::invalid(
            ctx.name(),
            format!("condition (input 0) has dtype {cond}, expected bool"),
        ));
    }
    let (dx, dy) = (ctx.dtype(1), ctx.dtype(2));
    if dx != dy {
        return Err(Error::invalid(
            ctx.name(),
            format!("input 2 has dtype {dy} but input 1 has {dx}; cast one of them"),
        ));
    }
    let xy = broadcast_partial(ctx.name(), &ctx.shape(1), &ctx.shape(2))?;
    spec1(dx, broadcast_partial(ctx.name(), &ctx.shape(0), &xy)?)
}

fn select_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let shape = ctx.out_shape(0)?;
    let (c, x, y) = (ctx.input(0), ctx.input(1), ctx.input(2));
    crate::with_dtype!(x.dtype(), T => {
        let f = |c: bool, a: T, b: T| if c { a } else { b };
        Ok(vec![ternary_map::<bool, T, T, T>(c, x, y, &shape, f)?])
    })
}

fn infer_clip(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let t = ctx.shape(0);
    let with_min = broadcast_partial(ctx.name(), &t, &ctx.shape(1))?;
    let out = broadcast_partial(ctx.name(), &with_min, &ctx.shape(2))?;
    let fits = out.rank() == t.rank()
        && out
            .iter()
            .zip(t.iter())
            .all(|(o, d)| d.is_none() || o.is_none() || o == d);
    if !fits {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "clip_value_min {} and clip_value_max {} must broadcast to the shape of t {}, not enlarge it to {out}",
                ctx.shape(1),
                ctx.shape(2),
                t
            ),
        ));
    }
    spec1(dt, out)
}

fn clip_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let shape = ctx.out_shape(0)?;
    let (t, lo, hi) = (ctx.input(0), ctx.input(1), ctx.input(2));
    crate::with_numeric!(t.dtype(), T => {
        let f = |x: T, lo: T, hi: T| <T as Arith>::maximum(<T as Arith>::minimum(x, hi), lo);
        Ok(vec![ternary_map::<T, T, T, T>(t, lo, hi, &shape, f)?])
    }, other => Err(ctx.unsupported_dtype(other)))
}

/// `cond ? x : y` elementwise, all three broadcast together (TensorFlow 2's `tf.where`
/// with three arguments). The kernel is keyed on `cond`'s dtype (bool).
pub static SELECT_V2: OpDef =
    OpDef::new("SelectV2", Arity::Fixed(3), infer_select).cpu(DTypeSet::BOOL, select_kernel);
/// `min(max(t, min), max)` elementwise; `min`/`max` broadcast to `t`'s shape.
pub static CLIP_BY_VALUE: OpDef =
    OpDef::new("ClipByValue", Arity::Fixed(3), infer_clip).cpu(DTypeSet::NUMERIC, clip_kernel);

pub(crate) static OPS: &[&OpDef] = &[&SELECT_V2, &CLIP_BY_VALUE];

/// `tf.where(cond, x, y)`: elements of `x` where `cond` is true, of `y` elsewhere
/// (the `SelectV2` op). `cond` is bool; `x` and `y` share any dtype; all three
/// broadcast together. (`where` is a Rust keyword, hence the underscore; [`select`] is
/// the same function.)
///
/// Errors when `cond` is not bool, `x` and `y` differ in dtype, or the shapes do not
/// broadcast.
pub fn where_(cond: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    call1(
        &SELECT_V2,
        &[cond.clone(), x.clone(), y.clone()],
        &Attrs::new(),
    )
}

/// Same as [`where_`] (`tf.raw_ops.SelectV2`, NumPy's `where`).
pub fn select(cond: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    where_(cond, x, y)
}

/// `tf.clip_by_value(t, min, max)`: each element of `t` clamped to `[min, max]`
/// (computed as `maximum(minimum(t, max), min)`, so NaN propagates and `min > max`
/// gives `min`). `min` and `max` have `t`'s dtype and broadcast to `t`'s shape
/// (scalars, or e.g. one bound per column).
///
/// Errors when dtypes differ, or when the bounds would enlarge `t`'s shape.
pub fn clip_by_value(t: &Tensor, min: &Tensor, max: &Tensor) -> Result<Tensor> {
    call1(
        &CLIP_BY_VALUE,
        &[t.clone(), min.clone(), max.clone()],
        &Attrs::new(),
    )
}
