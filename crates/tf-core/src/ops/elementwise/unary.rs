//! Unary math ops: `Neg`, `Abs`, `Sign`, `Square`, `Reciprocal`, `Round`, `Floor`,
//! `Ceil`, `Exp`, `Expm1`, `Log`, `Log1p`, `Sqrt`, `Rsqrt`, `Sin`, `Cos`, `Tanh`,
//! `Sigmoid`, `Erf`, `Erfc`, `IsNan`, `IsFinite`.
//!
//! Transcendentals are float-only (f32 vectorized, f16/bf16 computed in f32, f64 with
//! the standard library); the sign-and-magnitude ops also take the integer dtypes
//! TensorFlow allows.

use super::arith::Arith;
use super::float::{Rsqrt, float_unary};
use super::infer::{unary_float, unary_float_to_bool, unary_numeric, unary_signed};
use super::kernel::{any_element, unary_map_fn};
use crate::dtype::{DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::math;
use crate::op::{Arity, Attrs, KernelContext, OpDef, call1};
use crate::tensor::Tensor;

/// Declares kernels applying an [`Arith`] method to every numeric dtype.
macro_rules! arith_unary_kernel {
    ($($name:ident => $method:ident),* $(,)?) => {$(
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            crate::with_numeric!(ctx.input(0).dtype(), T => {
                Ok(vec![unary_map_fn::<T, T>(ctx.input(0), <T as Arith>::$method)?])
            }, other => Err(ctx.unsupported_dtype(other)))
        }
    )*};
}
pub(crate) use arith_unary_kernel;

arith_unary_kernel! {
    neg_kernel => neg,
    abs_kernel => abs,
    sign_kernel => sign,
    square_kernel => square,
    round_kernel => round,
}

fn reciprocal_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    crate::with_numeric!(x.dtype(), T => {
        if T::DTYPE.is_int() && any_element::<T>(x, <T as Arith>::is_zero)? {
            return Err(int_div_by_zero(ctx.name()));
        }
        Ok(vec![unary_map_fn::<T, T>(x, <T as Arith>::reciprocal)?])
    }, other => Err(ctx.unsupported_dtype(other)))
}

/// TensorFlow's error for an integer division (or modulo) by zero.
pub(crate) fn int_div_by_zero(op: &'static str) -> Error {
    Error::invalid(op, "Integer division by zero")
}

/// Declares kernels of float ops from an f32 function (or [`UnaryFn`] type) and an f64
/// function.
///
/// [`UnaryFn`]: crate::kernels::simd::UnaryFn
macro_rules! float_kernel {
    ($($name:ident => $f32:expr, $f64:expr;)*) => {$(
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            float_unary(ctx, $f32, $f64)
        }
    )*};
}

fn rsqrt64(x: f64) -> f64 {
    1.0 / x.sqrt()
}

fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

float_kernel! {
    floor_kernel => f32::floor, f64::floor;
    ceil_kernel => f32::ceil, f64::ceil;
    exp_kernel => math::Exp, f64::exp;
    expm1_kernel => math::Expm1, f64::exp_m1;
    log_kernel => math::Log, f64::ln;
    log1p_kernel => math::Log1p, f64::ln_1p;
    sqrt_kernel => f32::sqrt, f64::sqrt;
    rsqrt_kernel => Rsqrt, rsqrt64;
    sin_kernel => f32::sin, f64::sin;
    cos_kernel => f32::cos, f64::cos;
    tanh_kernel => math::Tanh, f64::tanh;
    sigmoid_kernel => math::Sigmoid, sigmoid64;
    erf_kernel => math::Erf, libm::erf;
    erfc_kernel => math::Erfc, libm::erfc;
}

fn is_nan_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_float!(ctx.input(0).dtype(), T => {
        #[allow(clippy::eq_op)]
        let y = unary_map_fn::<T, bool>(ctx.input(0), |v: T| v != v)?;
        Ok(vec![y])
    }, other => Err(ctx.unsupported_dtype(other)))
}

fn is_finite_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_float!(ctx.input(0).dtype(), T => {
        let y = unary_map_fn::<T, bool>(ctx.input(0), |v: T| v.to_f64().is_finite())?;
        Ok(vec![y])
    }, other => Err(ctx.unsupported_dtype(other)))
}

/// `-x` (`tf.math.negative`); floats, int8, int32, int64 (integers wrap).
pub static NEG: OpDef =
    OpDef::new("Neg", Arity::Fixed(1), unary_signed).cpu(DTypeSet::SIGNED, neg_kernel);
/// `|x|` (`tf.math.abs`); floats, int8, int32, int64.
pub static ABS: OpDef =
    OpDef::new("Abs", Arity::Fixed(1), unary_signed).cpu(DTypeSet::SIGNED, abs_kernel);
/// -1, 0 or 1 (`tf.math.sign`); NaN stays NaN.
pub static SIGN: OpDef =
    OpDef::new("Sign", Arity::Fixed(1), unary_signed).cpu(DTypeSet::SIGNED, sign_kernel);
/// `x * x` (`tf.math.square`); every numeric dtype.
pub static SQUARE: OpDef =
    OpDef::new("Square", Arity::Fixed(1), unary_numeric).cpu(DTypeSet::NUMERIC, square_kernel);
/// `1 / x` (`tf.math.reciprocal`).
pub static RECIPROCAL: OpDef = OpDef::new("Reciprocal", Arity::Fixed(1), unary_signed)
    .cpu(DTypeSet::SIGNED, reciprocal_kernel);
/// Round half to even (`tf.math.round`); integers unchanged.
pub static ROUND: OpDef =
    OpDef::new("Round", Arity::Fixed(1), unary_signed).cpu(DTypeSet::SIGNED, round_kernel);
/// `floor(x)`.
pub static FLOOR: OpDef =
    OpDef::new("Floor", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, floor_kernel);
/// `ceil(x)`.
pub static CEIL: OpDef =
    OpDef::new("Ceil", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, ceil_kernel);
/// `e^x`.
pub static EXP: OpDef =
    OpDef::new("Exp", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, exp_kernel);
/// `e^x - 1`.
pub static EXPM1: OpDef =
    OpDef::new("Expm1", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, expm1_kernel);
/// Natural logarithm.
pub static LOG: OpDef =
    OpDef::new("Log", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, log_kernel);
/// `ln(1 + x)`.
pub static LOG1P: OpDef =
    OpDef::new("Log1p", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, log1p_kernel);
/// Square root.
pub static SQRT: OpDef =
    OpDef::new("Sqrt", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, sqrt_kernel);
/// `1 / sqrt(x)`.
pub static RSQRT: OpDef =
    OpDef::new("Rsqrt", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, rsqrt_kernel);
/// Sine.
pub static SIN: OpDef =
    OpDef::new("Sin", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, sin_kernel);
/// Cosine.
pub static COS: OpDef =
    OpDef::new("Cos", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, cos_kernel);
/// Hyperbolic tangent.
pub static TANH: OpDef =
    OpDef::new("Tanh", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, tanh_kernel);
/// Logistic sigmoid `1 / (1 + e^-x)`.
pub static SIGMOID: OpDef =
    OpDef::new("Sigmoid", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, sigmoid_kernel);
/// Gauss error function.
pub static ERF: OpDef =
    OpDef::new("Erf", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, erf_kernel);
/// Complementary error function `1 - erf(x)`.
pub static ERFC: OpDef =
    OpDef::new("Erfc", Arity::Fixed(1), unary_float).cpu(DTypeSet::FLOAT, erfc_kernel);
/// Whether each element is NaN (bool output).
pub static IS_NAN: OpDef =
    OpDef::new("IsNan", Arity::Fixed(1), unary_float_to_bool).cpu(DTypeSet::FLOAT, is_nan_kernel);
/// Whether each element is finite (bool output).
pub static IS_FINITE: OpDef = OpDef::new("IsFinite", Arity::Fixed(1), unary_float_to_bool)
    .cpu(DTypeSet::FLOAT, is_finite_kernel);

pub(crate) static OPS: &[&OpDef] = &[
    &NEG,
    &ABS,
    &SIGN,
    &SQUARE,
    &RECIPROCAL,
    &ROUND,
    &FLOOR,
    &CEIL,
    &EXP,
    &EXPM1,
    &LOG,
    &LOG1P,
    &SQRT,
    &RSQRT,
    &SIN,
    &COS,
    &TANH,
    &SIGMOID,
    &ERF,
    &ERFC,
    &IS_NAN,
    &IS_FINITE,
];

fn unary(op: &'static OpDef, x: &Tensor) -> Result<Tensor> {
    call1(op, std::slice::from_ref(x), &Attrs::new())
}

/// `-x` (`tf.math.negative`). Floats, int8, int32, int64; integers wrap (`-MIN == MIN`).
///
/// Errors on other dtypes (uint8, bool).
pub fn neg(x: &Tensor) -> Result<Tensor> {
    unary(&NEG, x)
}

/// `|x|` (`tf.math.abs`). Floats, int8, int32, int64; `abs(MIN) == MIN` for integers.
pub fn abs(x: &Tensor) -> Result<Tensor> {
    unary(&ABS, x)
}

/// `tf.math.sign`: -1, 0 or 1 in `x`'s dtype (floats, int8, int32, int64); NaN stays NaN.
pub fn sign(x: &Tensor) -> Result<Tensor> {
    unary(&SIGN, x)
}

/// `x * x` (`tf.math.square`); every numeric dtype, integers wrap.
pub fn square(x: &Tensor) -> Result<Tensor> {
    unary(&SQUARE, x)
}

/// `1 / x` (`tf.math.reciprocal`). Floats, int8, int32, int64 (integer division).
///
/// Errors with "Integer division by zero" when an integer input holds 0.
pub fn reciprocal(x: &Tensor) -> Result<Tensor> {
    unary(&RECIPROCAL, x)
}

/// `tf.math.round`: rounds half to even (`round(2.5) == 2`); integers unchanged.
pub fn round(x: &Tensor) -> Result<Tensor> {
    unary(&ROUND, x)
}

/// `tf.math.floor` (float dtypes).
pub fn floor(x: &Tensor) -> Result<Tensor> {
    unary(&FLOOR, x)
}

/// `tf.math.ceil` (float dtypes).
pub fn ceil(x: &Tensor) -> Result<Tensor> {
    unary(&CEIL, x)
}

/// `e^x` (`tf.math.exp`). Float dtypes; f32 is vectorized (within 1 ulp).
///
/// Errors on integer and bool inputs (cast first).
pub fn exp(x: &Tensor) -> Result<Tensor> {
    unary(&EXP, x)
}

/// `e^x - 1`, accurate near 0 (`tf.math.expm1`). Float dtypes.
pub fn expm1(x: &Tensor) -> Result<Tensor> {
    unary(&EXPM1, x)
}

/// Natural logarithm (`tf.math.log`). Float dtypes; `log(0) = -inf`, negative gives NaN.
pub fn log(x: &Tensor) -> Result<Tensor> {
    unary(&LOG, x)
}

/// `ln(1 + x)`, accurate near 0 (`tf.math.log1p`). Float dtypes.
pub fn log1p(x: &Tensor) -> Result<Tensor> {
    unary(&LOG1P, x)
}

/// Square root (`tf.math.sqrt`). Float dtypes; negative gives NaN.
pub fn sqrt(x: &Tensor) -> Result<Tensor> {
    unary(&SQRT, x)
}

/// `1 / sqrt(x)` (`tf.math.rsqrt`). Float dtypes.
pub fn rsqrt(x: &Tensor) -> Result<Tensor> {
    unary(&RSQRT, x)
}

/// Sine (`tf.math.sin`). Float dtypes.
pub fn sin(x: &Tensor) -> Result<Tensor> {
    unary(&SIN, x)
}

/// Cosine (`tf.math.cos`). Float dtypes.
pub fn cos(x: &Tensor) -> Result<Tensor> {
    unary(&COS, x)
}

/// Hyperbolic tangent (`tf.math.tanh`). Float dtypes; f32 vectorized.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    unary(&TANH, x)
}

/// Logistic sigmoid `1 / (1 + e^-x)` (`tf.math.sigmoid`). Float dtypes; f32 vectorized.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    unary(&SIGMOID, x)
}

/// Gauss error function (`tf.math.erf`). Float dtypes; f32 vectorized.
pub fn erf(x: &Tensor) -> Result<Tensor> {
    unary(&ERF, x)
}

/// Complementary error function `1 - erf(x)` (`tf.math.erfc`), accurate in the tail.
pub fn erfc(x: &Tensor) -> Result<Tensor> {
    unary(&ERFC, x)
}

/// `tf.math.is_nan`: a bool tensor of `x`'s shape. Float dtypes.
pub fn is_nan(x: &Tensor) -> Result<Tensor> {
    unary(&IS_NAN, x)
}

/// `tf.math.is_finite`: a bool tensor of `x`'s shape (false for NaN and ±inf). Float dtypes.
pub fn is_finite(x: &Tensor) -> Result<Tensor> {
    unary(&IS_FINITE, x)
}
