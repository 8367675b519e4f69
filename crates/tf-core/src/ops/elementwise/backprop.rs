//! Backpropagation ops of the hot activations, TensorFlow's `ReluGrad`, `TanhGrad` and
//! `SigmoidGrad`: each computes an activation's input gradient in one pass over memory
//! (composing `greater` + `select`, or `square` + `sub` + `mul`, would take several),
//! which is what every training step runs. Gradients of these ops (for higher-order
//! derivatives) are registered in tf-autodiff.
//!
//! Both operands must have the same shape (TensorFlow's `MergeBothInputsShapeFn`: an
//! unknown dimension takes the other operand's) and the same dtype.

use super::arith::Arith;
use super::kernel::binary_map_fn;
use crate::dtype::{DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::simd::{bf16_to_f32, f32_to_bf16};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::PartialShape;
use crate::tensor::Tensor;
use half::{bf16, f16};

/// The shape both operands share: equal ranks, each dimension equal or unknown on one
/// side (then the other side's).
fn infer_same_shape(ctx: &InferContext<'_>, allowed: DTypeSet) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, allowed)?;
    let (a, b) = (ctx.shape(0), ctx.shape(1));
    let mismatch = || {
        Error::invalid(
            ctx.name(),
            format!("inputs must have the same shape, got {a} and {b}"),
        )
    };
    if a.rank() != b.rank() {
        return Err(mismatch());
    }
    let mut out = PartialShape::scalar();
    for (&da, &db) in a.iter().zip(b.iter()) {
        out.push(match (da, db) {
            (Some(x), Some(y)) if x != y => return Err(mismatch()),
            (Some(x), _) | (None, Some(x)) => Some(x),
            (None, None) => None,
        });
    }
    spec1(dt, out)
}

fn infer_numeric(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_same_shape(ctx, DTypeSet::NUMERIC)
}

fn infer_float(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_same_shape(ctx, DTypeSet::FLOAT)
}

/// `g · (x > 0)`, TensorFlow's formula: a NaN or infinite `g` where `x <= 0` still
/// gives NaN (`NaN · 0`), as it does there.
#[inline(always)]
fn relu_grad_elem<T: Arith>(g: T, x: T) -> T {
    T::mul(g, if x > T::ZERO { T::ONE } else { T::ZERO })
}

/// The f32 formulas of the float backprop ops; f16 and bf16 compute in f32 and round
/// once.
trait FloatBackprop: Element {
    /// `dy · (1 - y²)`.
    fn tanh_grad(y: Self, dy: Self) -> Self;
    /// `dy · y · (1 - y)`.
    fn sigmoid_grad(y: Self, dy: Self) -> Self;
}

macro_rules! float_backprop {
    ($($t:ty),*) => {$(
        impl FloatBackprop for $t {
            #[inline(always)]
            fn tanh_grad(y: Self, dy: Self) -> Self {
                dy * (1.0 - y * y)
            }
            #[inline(always)]
            fn sigmoid_grad(y: Self, dy: Self) -> Self {
                dy * y * (1.0 - y)
            }
        }
    )*};
}
float_backprop!(f32, f64);

macro_rules! half_backprop {
    ($t:ty, $to:expr, $from:expr) => {
        impl FloatBackprop for $t {
            #[inline(always)]
            fn tanh_grad(y: Self, dy: Self) -> Self {
                $from(f32::tanh_grad($to(y), $to(dy)))
            }
            #[inline(always)]
            fn sigmoid_grad(y: Self, dy: Self) -> Self {
                $from(f32::sigmoid_grad($to(y), $to(dy)))
            }
        }
    };
}
half_backprop!(bf16, bf16_to_f32, f32_to_bf16);
half_backprop!(f16, f16::to_f32, f16::from_f32);

fn relu_grad_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let shape = ctx.out_shape(0)?;
    let (g, x) = (ctx.input(0), ctx.input(1));
    crate::with_numeric!(g.dtype(), T => {
        Ok(vec![binary_map_fn::<T, T, T>(g, x, &shape, relu_grad_elem::<T>)?])
    }, other => Err(ctx.unsupported_dtype(other)))
}

/// Declares kernels applying a [`FloatBackprop`] method to `(y, dy)`.
macro_rules! float_backprop_kernel {
    ($($name:ident => $method:ident),*) => {$(
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            let shape = ctx.out_shape(0)?;
            let (y, dy) = (ctx.input(0), ctx.input(1));
            crate::with_float!(y.dtype(), T => {
                Ok(vec![binary_map_fn::<T, T, T>(y, dy, &shape, <T as FloatBackprop>::$method)?])
            }, other => Err(ctx.unsupported_dtype(other)))
        }
    )*};
}
float_backprop_kernel!(tanh_grad_kernel => tanh_grad, sigmoid_grad_kernel => sigmoid_grad);

/// `ReluGrad(gradients, features)`: `gradients · (features > 0)`, the input gradient of
/// `Relu` (whose output can stand in for `features`: both are positive at the same
/// places). Every numeric dtype; both inputs share shape and dtype.
pub static RELU_GRAD: OpDef =
    OpDef::new("ReluGrad", Arity::Fixed(2), infer_numeric).cpu(DTypeSet::NUMERIC, relu_grad_kernel);
/// `TanhGrad(y, dy)`: `dy · (1 - y²)`, the input gradient of `Tanh` from its output `y`.
/// Float dtypes; both inputs share shape and dtype.
pub static TANH_GRAD: OpDef =
    OpDef::new("TanhGrad", Arity::Fixed(2), infer_float).cpu(DTypeSet::FLOAT, tanh_grad_kernel);
/// `SigmoidGrad(y, dy)`: `dy · y · (1 - y)`, the input gradient of `Sigmoid` from its
/// output `y`. Float dtypes; both inputs share shape and dtype.
pub static SIGMOID_GRAD: OpDef = OpDef::new("SigmoidGrad", Arity::Fixed(2), infer_float)
    .cpu(DTypeSet::FLOAT, sigmoid_grad_kernel);

pub(crate) static OPS: &[&OpDef] = &[&RELU_GRAD, &TANH_GRAD, &SIGMOID_GRAD];

fn binary(op: &'static OpDef, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    call1(op, &[a.clone(), b.clone()], &Attrs::new())
}

/// `gradients · (features > 0)` (`tf.raw_ops.ReluGrad`): `gradients` where `features`
/// is positive, zero elsewhere (NaN/inf `gradients` there still give NaN, as in
/// TensorFlow). Every numeric dtype.
///
/// Errors when the shapes or dtypes differ.
pub fn relu_grad(gradients: &Tensor, features: &Tensor) -> Result<Tensor> {
    binary(&RELU_GRAD, gradients, features)
}

/// `dy · (1 - y²)` (`tf.raw_ops.TanhGrad`; `y = tanh(x)`). Float dtypes.
///
/// Errors when the shapes or dtypes differ.
pub fn tanh_grad(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    binary(&TANH_GRAD, y, dy)
}

/// `dy · y · (1 - y)` (`tf.raw_ops.SigmoidGrad`; `y = sigmoid(x)`). Float dtypes.
///
/// Errors when the shapes or dtypes differ.
pub fn sigmoid_grad(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    binary(&SIGMOID_GRAD, y, dy)
}
