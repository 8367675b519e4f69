//! Comparisons with broadcasting (`Equal`, `NotEqual`, `Less`, `LessEqual`, `Greater`,
//! `GreaterEqual`: bool output) and logical ops on bool tensors (`LogicalAnd`,
//! `LogicalOr`, `LogicalNot`).

use super::infer::{binary_bool, compare_all, compare_numeric, unary_bool};
use super::kernel::{binary_map_fn, unary_map_fn};
use crate::dtype::DTypeSet;
use crate::error::Result;
use crate::op::{Arity, Attrs, KernelContext, OpDef, call1};
use crate::tensor::Tensor;

/// Declares comparison kernels `(T, T) -> bool`: `all` ones for every dtype, the
/// ordering ones for the numeric dtypes.
macro_rules! compare_kernel {
    (all: $($name:ident => |$a:ident, $b:ident| $body:expr;)*) => {$(
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            let shape = ctx.out_shape(0)?;
            crate::with_dtype!(ctx.input(0).dtype(), T => {
                let f = |$a: T, $b: T| -> bool { $body };
                Ok(vec![binary_map_fn::<T, T, bool>(ctx.input(0), ctx.input(1), &shape, f)?])
            })
        }
    )*};
    (numeric: $($name:ident => |$a:ident, $b:ident| $body:expr;)*) => {$(
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            let shape = ctx.out_shape(0)?;
            crate::with_numeric!(ctx.input(0).dtype(), T => {
                let f = |$a: T, $b: T| -> bool { $body };
                Ok(vec![binary_map_fn::<T, T, bool>(ctx.input(0), ctx.input(1), &shape, f)?])
            }, other => Err(ctx.unsupported_dtype(other)))
        }
    )*};
}

compare_kernel! { all:
    equal_kernel => |a, b| a == b;
    not_equal_kernel => |a, b| a != b;
}

compare_kernel! { numeric:
    less_kernel => |a, b| a < b;
    less_equal_kernel => |a, b| a <= b;
    greater_kernel => |a, b| a > b;
    greater_equal_kernel => |a, b| a >= b;
}

fn logical_and_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let shape = ctx.out_shape(0)?;
    let f = |a: bool, b: bool| a & b;
    Ok(vec![binary_map_fn::<bool, bool, bool>(
        ctx.input(0),
        ctx.input(1),
        &shape,
        f,
    )?])
}

fn logical_or_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let shape = ctx.out_shape(0)?;
    let f = |a: bool, b: bool| a | b;
    Ok(vec![binary_map_fn::<bool, bool, bool>(
        ctx.input(0),
        ctx.input(1),
        &shape,
        f,
    )?])
}

fn logical_not_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    Ok(vec![unary_map_fn::<bool, bool>(
        ctx.input(0),
        |a: bool| !a,
    )?])
}

/// `x == y` elementwise with broadcasting (bool output); every dtype.
pub static EQUAL: OpDef =
    OpDef::new("Equal", Arity::Fixed(2), compare_all).cpu(DTypeSet::ALL, equal_kernel);
/// `x != y` elementwise with broadcasting (bool output); every dtype.
pub static NOT_EQUAL: OpDef =
    OpDef::new("NotEqual", Arity::Fixed(2), compare_all).cpu(DTypeSet::ALL, not_equal_kernel);
/// `x < y` (bool output); numeric dtypes.
pub static LESS: OpDef =
    OpDef::new("Less", Arity::Fixed(2), compare_numeric).cpu(DTypeSet::NUMERIC, less_kernel);
/// `x <= y` (bool output); numeric dtypes.
pub static LESS_EQUAL: OpDef = OpDef::new("LessEqual", Arity::Fixed(2), compare_numeric)
    .cpu(DTypeSet::NUMERIC, less_equal_kernel);
/// `x > y` (bool output); numeric dtypes.
pub static GREATER: OpDef =
    OpDef::new("Greater", Arity::Fixed(2), compare_numeric).cpu(DTypeSet::NUMERIC, greater_kernel);
/// `x >= y` (bool output); numeric dtypes.
pub static GREATER_EQUAL: OpDef = OpDef::new("GreaterEqual", Arity::Fixed(2), compare_numeric)
    .cpu(DTypeSet::NUMERIC, greater_equal_kernel);
/// `x && y` on bool tensors with broadcasting.
pub static LOGICAL_AND: OpDef =
    OpDef::new("LogicalAnd", Arity::Fixed(2), binary_bool).cpu(DTypeSet::BOOL, logical_and_kernel);
/// `x || y` on bool tensors with broadcasting.
pub static LOGICAL_OR: OpDef =
    OpDef::new("LogicalOr", Arity::Fixed(2), binary_bool).cpu(DTypeSet::BOOL, logical_or_kernel);
/// `!x` on a bool tensor.
pub static LOGICAL_NOT: OpDef =
    OpDef::new("LogicalNot", Arity::Fixed(1), unary_bool).cpu(DTypeSet::BOOL, logical_not_kernel);

pub(crate) static OPS: &[&OpDef] = &[
    &EQUAL,
    &NOT_EQUAL,
    &LESS,
    &LESS_EQUAL,
    &GREATER,
    &GREATER_EQUAL,
    &LOGICAL_AND,
    &LOGICAL_OR,
    &LOGICAL_NOT,
];

fn binary(op: &'static OpDef, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    call1(op, &[x.clone(), y.clone()], &Attrs::new())
}

/// `x == y` elementwise (`tf.math.equal`): a bool tensor of the broadcast shape. Every
/// dtype (same for both); NaN is unequal to everything.
pub fn equal(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&EQUAL, x, y)
}

/// `x != y` elementwise (`tf.math.not_equal`). Every dtype.
pub fn not_equal(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&NOT_EQUAL, x, y)
}

/// `x < y` elementwise (`tf.math.less`). Numeric dtypes.
pub fn less(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&LESS, x, y)
}

/// `x <= y` elementwise (`tf.math.less_equal`). Numeric dtypes.
pub fn less_equal(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&LESS_EQUAL, x, y)
}

/// `x > y` elementwise (`tf.math.greater`). Numeric dtypes.
pub fn greater(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&GREATER, x, y)
}

/// `x >= y` elementwise (`tf.math.greater_equal`). Numeric dtypes.
pub fn greater_equal(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&GREATER_EQUAL, x, y)
}

/// `x && y` (`tf.math.logical_and`); bool tensors, broadcasting.
pub fn logical_and(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&LOGICAL_AND, x, y)
}

/// `x || y` (`tf.math.logical_or`); bool tensors, broadcasting.
pub fn logical_or(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(&LOGICAL_OR, x, y)
}

/// `!x` (`tf.math.logical_not`); a bool tensor.
pub fn logical_not(x: &Tensor) -> Result<Tensor> {
    call1(&LOGICAL_NOT, std::slice::from_ref(x), &Attrs::new())
}
