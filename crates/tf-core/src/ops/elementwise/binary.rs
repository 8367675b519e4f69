//! Binary arithmetic with NumPy/TensorFlow broadcasting: `AddV2`, `Sub`, `Mul`,
//! `RealDiv`, `FloorDiv`, `FloorMod`, `Pow`, `Maximum`, `Minimum`,
//! `SquaredDifference`. Both inputs must have the same dtype (TensorFlow never
//! promotes implicitly).

use super::arith::Arith;
use super::infer::{binary_float, binary_float_i32_i64, binary_numeric, binary_signed};
use super::kernel::{any_element, binary_map_fn};
use super::unary::int_div_by_zero;
use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, KernelContext, OpDef, call1};
use crate::tensor::Tensor;

/// Declares kernels applying an [`Arith`] method with broadcasting to every numeric
/// dtype; `check` runs first on (op name, y) for the integer dtypes.
macro_rules! arith_binary_kernel {
    ($($name:ident => $method:ident $(, check $check:ident)?;)*) => {$(
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            let shape = ctx.out_shape(0)?;
            let (x, y) = (ctx.input(0), ctx.input(1));
            crate::with_numeric!(x.dtype(), T => {
                $( if T::DTYPE.is_int() { $check::<T>(ctx.name(), y)?; } )?
                Ok(vec![binary_map_fn::<T, T, T>(x, y, &shape, <T as Arith>::$method)?])
            }, other => Err(ctx.unsupported_dtype(other)))
        }
    )*};
}

/// Rejects integer divisors holding 0 (TensorFlow: "Integer division by zero").
fn nonzero_divisor<T: Arith>(op: &'static str, y: &Tensor) -> Result<()> {
    if any_element::<T>(y, <T as Arith>::is_zero)? {
        return Err(int_div_by_zero(op));
    }
    Ok(())
}

/// Rejects negative integer exponents, as TensorFlow does.
fn nonnegative_exponent<T: Arith>(op: &'static str, y: &Tensor) -> Result<()> {
    if any_element::<T>(y, <T as Arith>::is_negative)? {
        return Err(Error::invalid(
            op,
            "Integers to negative integer powers are not allowed",
        ));
    }
    Ok(())
}

arith_binary_kernel! {
    add_kernel => add;
    sub_kernel => sub;
    mul_kernel => mul;
    real_div_kernel => div;
    floor_div_kernel => floor_div, check nonzero_divisor;
    floor_mod_kernel => floor_mod, check nonzero_divisor;
    pow_kernel => pow, check nonnegative_exponent;
    maximum_kernel => maximum;
    minimum_kernel => minimum;
    squared_difference_kernel => squared_difference;
}

/// `x + y` with broadcasting (TensorFlow's `AddV2`).
pub static ADD: OpDef =
    OpDef::new("AddV2", Arity::Fixed(2), binary_numeric).cpu(DTypeSet::NUMERIC, add_kernel);
/// `x - y` with broadcasting.
pub static SUB: OpDef =
    OpDef::new("Sub", Arity::Fixed(2), binary_numeric).cpu(DTypeSet::NUMERIC, sub_kernel);
/// `x * y` with broadcasting.
pub static MUL: OpDef =
    OpDef::new("Mul", Arity::Fixed(2), binary_numeric).cpu(DTypeSet::NUMERIC, mul_kernel);
/// `x / y` for floats, with broadcasting.
pub static REAL_DIV: OpDef =
    OpDef::new("RealDiv", Arity::Fixed(2), binary_float).cpu(DTypeSet::FLOAT, real_div_kernel);
/// `floor(x / y)` with broadcasting.
pub static FLOOR_DIV: OpDef = OpDef::new("FloorDiv", Arity::Fixed(2), binary_numeric)
    .cpu(DTypeSet::NUMERIC, floor_div_kernel);
/// `x - floor(x / y) * y` (sign of `y`) with broadcasting.
pub static FLOOR_MOD: OpDef = OpDef::new("FloorMod", Arity::Fixed(2), binary_numeric)
    .cpu(DTypeSet::NUMERIC, floor_mod_kernel);
/// `x ^ y` with broadcasting.
pub static POW: OpDef =
    OpDef::new("Pow", Arity::Fixed(2), binary_signed).cpu(DTypeSet::SIGNED, pow_kernel);
/// Elementwise maximum (NaN propagates) with broadcasting.
pub static MAXIMUM: OpDef =
    OpDef::new("Maximum", Arity::Fixed(2), binary_numeric).cpu(DTypeSet::NUMERIC, maximum_kernel);
/// Elementwise minimum (NaN propagates) with broadcasting.
pub static MINIMUM: OpDef =
    OpDef::new("Minimum", Arity::Fixed(2), binary_numeric).cpu(DTypeSet::NUMERIC, minimum_kernel);
/// `(x - y)²` with broadcasting.
pub static SQUARED_DIFFERENCE: OpDef =
    OpDef::new("SquaredDifference", Arity::Fixed(2), binary_float_i32_i64)
        .cpu(super::infer::FLOAT_I32_I64, squared_difference_kernel);

pub(crate) static OPS: &[&OpDef] = &[
    &ADD,
    &SUB,
    &MUL,
    &REAL_DIV,
    &FLOOR_DIV,
    &FLOOR_MOD,
    &POW,
    &MAXIMUM,
    &MINIMUM,
    &SQUARED_DIFFERENCE,
];

fn binary(op: &'static OpDef, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    call1(op, &[x.clone(), y.clone()], &Attrs::new())
}

/// `x + y` with NumPy broadcasting (`tf.add`). Same dtype required (every numeric
/// dtype; integers wrap).
///
/// Errors name both dtypes when they differ and both shapes when they do not broadcast.
pub fn add(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&ADD, x, y)
}

/// `x - y` with broadcasting (`tf.subtract`).
pub fn sub(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&SUB, x, y)
}

/// Same as [`sub`] (`tf.subtract`).
pub fn subtract(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    sub(x, y)
}

/// `x * y` with broadcasting (`tf.multiply`).
pub fn mul(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&MUL, x, y)
}

/// Same as [`mul`] (`tf.multiply`).
pub fn multiply(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    mul(x, y)
}

/// True division `x / y` (`tf.math.divide` / `tf.math.truediv`). Float inputs divide
/// with the `RealDiv` op; integer inputs are cast first as TensorFlow's truediv does:
/// int8 and uint8 to float32, int32 and int64 to float64 (so the result is a float).
///
/// Errors when the dtypes differ (naming both) or are bool.
pub fn div(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let dt = x.dtype();
    if dt == y.dtype() && dt.is_int() {
        let to = if matches!(dt, DType::I8 | DType::U8) {
            DType::F32
        } else {
            DType::F64
        };
        return real_div(&super::cast(x, to)?, &super::cast(y, to)?);
    }
    real_div(x, y)
}

/// Same as [`div`] (`tf.math.divide`).
pub fn divide(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    div(x, y)
}

/// `x / y` for float tensors (`tf.math.realdiv`, the `RealDiv` op); no casting.
pub fn real_div(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&REAL_DIV, x, y)
}

/// `floor(x / y)` (`tf.math.floordiv`, Python's `//`). Every numeric dtype.
///
/// Errors with "Integer division by zero" when an integer `y` holds 0.
pub fn floor_div(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&FLOOR_DIV, x, y)
}

/// `x - floor(x / y) * y` (`tf.math.floormod`, Python's `%`): the result has the sign
/// of `y`. Every numeric dtype.
///
/// Errors with "Integer division by zero" when an integer `y` holds 0.
pub fn floor_mod(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&FLOOR_MOD, x, y)
}

/// `x ^ y` (`tf.pow`). Floats, int8, int32, int64 (integers wrap; `0^0 = 1`).
///
/// Errors when an integer exponent is negative, as TensorFlow does.
pub fn pow(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&POW, x, y)
}

/// Elementwise maximum (`tf.maximum`); NaN in either input gives NaN.
pub fn maximum(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&MAXIMUM, x, y)
}

/// Elementwise minimum (`tf.minimum`); NaN in either input gives NaN.
pub fn minimum(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&MINIMUM, x, y)
}

/// `(x - y)²` (`tf.math.squared_difference`). Floats, int32, int64.
pub fn squared_difference(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&SQUARED_DIFFERENCE, x, y)
}
