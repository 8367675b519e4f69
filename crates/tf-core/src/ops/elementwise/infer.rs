//! Shape and dtype inference shared by the elementwise ops: unchanged shape for unary
//! ops, NumPy broadcasting for binary ops, TensorFlow's dtype sets.

use crate::dtype::{DType, DTypeSet};
use crate::error::Result;
use crate::op::{InferContext, Specs, spec1};
use crate::shape::broadcast_partial;

/// Float dtypes plus int32 and int64 (TensorFlow's `SquaredDifference`).
pub(crate) const FLOAT_I32_I64: DTypeSet =
    DTypeSet::FLOAT.union(DTypeSet::of(&[DType::I32, DType::I64]));

/// Unary op `T -> T` with `T` in `allowed`.
pub(crate) fn unary(ctx: &InferContext<'_>, allowed: DTypeSet) -> Result<Specs> {
    spec1(ctx.check_dtype(0, allowed)?, ctx.shape(0))
}

/// Unary op `T -> bool` with `T` in `allowed`.
pub(crate) fn unary_to_bool(ctx: &InferContext<'_>, allowed: DTypeSet) -> Result<Specs> {
    ctx.check_dtype(0, allowed)?;
    spec1(DType::Bool, ctx.shape(0))
}

/// Binary op `(T, T) -> T` with broadcasting; both inputs share one dtype in `allowed`.
pub(crate) fn binary(ctx: &InferContext<'_>, allowed: DTypeSet) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, allowed)?;
    spec1(
        dt,
        broadcast_partial(ctx.name(), &ctx.shape(0), &ctx.shape(1))?,
    )
}

/// Binary op `(T, T) -> bool` with broadcasting.
pub(crate) fn binary_to_bool(ctx: &InferContext<'_>, allowed: DTypeSet) -> Result<Specs> {
    ctx.same_dtype()?;
    ctx.check_dtype(0, allowed)?;
    spec1(
        DType::Bool,
        broadcast_partial(ctx.name(), &ctx.shape(0), &ctx.shape(1))?,
    )
}

/// Declares `fn $name(ctx) -> Result<Specs>` calling `$helper(ctx, $set)`, so op
/// definitions can name an inference function per dtype set.
macro_rules! infer_fn {
    ($($name:ident = $helper:ident($set:expr);)*) => {$(
        pub(crate) fn $name(ctx: &$crate::op::InferContext<'_>) -> $crate::error::Result<$crate::op::Specs> {
            $crate::ops::elementwise::infer::$helper(ctx, $set)
        }
    )*};
}

infer_fn! {
    unary_float = unary(DTypeSet::FLOAT);
    unary_signed = unary(DTypeSet::SIGNED);
    unary_numeric = unary(DTypeSet::NUMERIC);
    unary_bool = unary(DTypeSet::BOOL);
    unary_float_to_bool = unary_to_bool(DTypeSet::FLOAT);
    binary_float = binary(DTypeSet::FLOAT);
    binary_signed = binary(DTypeSet::SIGNED);
    binary_numeric = binary(DTypeSet::NUMERIC);
    binary_bool = binary(DTypeSet::BOOL);
    binary_float_i32_i64 = binary(FLOAT_I32_I64);
    compare_numeric = binary_to_bool(DTypeSet::NUMERIC);
    compare_all = binary_to_bool(DTypeSet::ALL);
}
