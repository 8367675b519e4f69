//! Gradients of unary math ops: `Neg`, `Cast`, `Abs`, `Sign`, `Square`, `Reciprocal`,
//! `Round`, `Floor`, `Ceil`, `Exp`, `Expm1`, `Log`, `Log1p`, `Sqrt`, `Rsqrt`, `Sin`,
//! `Cos`, `Tanh`, `Sigmoid`, `Erf`, `Erfc`.
//!
//! Where TensorFlow's gradient uses the op's output (its `TanhGrad`, `SigmoidGrad`,
//! `SqrtGrad`, `RsqrtGrad`, `ReciprocalGrad` kernels and `_ExpGrad`), so does this one;
//! `Tanh` and `Sigmoid` call tf-core's fused `TanhGrad`/`SigmoidGrad` ops, the others
//! compose ordinary ops.

use super::{Grads, plus, scale};
use crate::registry::{GradContext, register_gradient};
use tf_core::{Result, Tensor, ops};

/// `g · f` for the op's single input, where `f` is the local derivative.
fn times(c: &GradContext<'_>, f: Result<Tensor>) -> Grads {
    Ok(vec![Some(ops::mul(&c.grad(0)?, &f?)?)])
}

fn neg(c: &GradContext<'_>) -> Grads {
    Ok(vec![Some(ops::neg(&c.grad(0)?)?)])
}

fn cast(c: &GradContext<'_>) -> Grads {
    let src = c.input(0).dtype();
    if !src.is_float() || !c.output(0).dtype().is_float() {
        return Ok(vec![None]);
    }
    Ok(vec![Some(ops::cast(&c.grad(0)?, src)?)])
}

/// TensorFlow's `_AbsGrad`: `g · sign(x)` (so `abs'(0) = 0`).
fn abs(c: &GradContext<'_>) -> Grads {
    times(c, ops::sign(c.input(0)))
}

/// TensorFlow's `_SignGrad`: zeros of `x`'s shape.
fn sign(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    if !x.dtype().is_float() {
        return Ok(vec![None]);
    }
    Ok(vec![Some(ops::zeros_like(x)?)])
}

/// `Round`, `Floor`, `Ceil`: TensorFlow registers gradients returning `[None]`.
fn no_gradient(_: &GradContext<'_>) -> Grads {
    Ok(vec![None])
}

/// TensorFlow's `_SquareGrad`: `g · (2x)`.
fn square(c: &GradContext<'_>) -> Grads {
    times(c, scale(c.input(0), 2.0))
}

/// TensorFlow's `ReciprocalGrad(y, g)`: `-g · y²`.
fn reciprocal(c: &GradContext<'_>) -> Grads {
    let y = c.output(0);
    Ok(vec![Some(ops::neg(&ops::mul(
        &c.grad(0)?,
        &ops::square(y)?,
    )?)?)])
}

/// TensorFlow's `_ExpGrad`: `g · y`.
fn exp(c: &GradContext<'_>) -> Grads {
    times(c, Ok(c.output(0).clone()))
}

/// TensorFlow's `_Expm1Grad`: `g · exp(x)`.
fn expm1(c: &GradContext<'_>) -> Grads {
    times(c, ops::exp(c.input(0)))
}

/// TensorFlow's `_LogGrad`: `g · (1 / x)`.
fn log(c: &GradContext<'_>) -> Grads {
    times(c, ops::reciprocal(c.input(0)))
}

/// TensorFlow's `_Log1pGrad`: `g · (1 / (1 + x))`.
fn log1p(c: &GradContext<'_>) -> Grads {
    times(c, ops::reciprocal(&plus(c.input(0), 1.0)?))
}

/// TensorFlow's `SqrtGrad(y, g)`: `0.5 · g / y`.
fn sqrt(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    Ok(vec![Some(ops::real_div(&scale(&g, 0.5)?, c.output(0))?)])
}

/// TensorFlow's `RsqrtGrad(y, g)`: `-0.5 · g · y³`.
fn rsqrt(c: &GradContext<'_>) -> Grads {
    let y = c.output(0);
    times(c, scale(&ops::mul(&ops::square(y)?, y)?, -0.5))
}

/// TensorFlow's `_SinGrad`: `g · cos(x)`.
fn sin(c: &GradContext<'_>) -> Grads {
    times(c, ops::cos(c.input(0)))
}

/// TensorFlow's `_CosGrad`: `-g · sin(x)`.
fn cos(c: &GradContext<'_>) -> Grads {
    times(c, ops::neg(&ops::sin(c.input(0))?))
}

/// TensorFlow's `_TanhGrad`: `TanhGrad(y, g)` = `g · (1 - y²)`, one fused pass.
fn tanh(c: &GradContext<'_>) -> Grads {
    Ok(vec![Some(ops::tanh_grad(c.output(0), &c.grad(0)?)?)])
}

/// TensorFlow's `_SigmoidGrad`: `SigmoidGrad(y, g)` = `g · y (1 - y)`, one fused pass.
fn sigmoid(c: &GradContext<'_>) -> Grads {
    Ok(vec![Some(ops::sigmoid_grad(c.output(0), &c.grad(0)?)?)])
}

/// `2/√π · exp(-x²)`, the derivative of `erf`.
fn erf_derivative(x: &Tensor) -> Result<Tensor> {
    let two_over_root_pi = std::f64::consts::FRAC_2_SQRT_PI;
    scale(&ops::exp(&ops::neg(&ops::square(x)?)?)?, two_over_root_pi)
}

/// TensorFlow's `_ErfGrad`: `g · 2/√π · exp(-x²)`.
fn erf(c: &GradContext<'_>) -> Grads {
    times(c, erf_derivative(c.input(0)))
}

/// TensorFlow's `_ErfcGrad`: `-g · 2/√π · exp(-x²)`.
fn erfc(c: &GradContext<'_>) -> Grads {
    times(c, ops::neg(&erf_derivative(c.input(0))?))
}

pub(super) fn register() {
    register_gradient(&ops::NEG, neg);
    register_gradient(&ops::CAST, cast);
    register_gradient(&ops::ABS, abs);
    register_gradient(&ops::SIGN, sign);
    register_gradient(&ops::SQUARE, square);
    register_gradient(&ops::RECIPROCAL, reciprocal);
    register_gradient(&ops::ROUND, no_gradient);
    register_gradient(&ops::FLOOR, no_gradient);
    register_gradient(&ops::CEIL, no_gradient);
    register_gradient(&ops::EXP, exp);
    register_gradient(&ops::EXPM1, expm1);
    register_gradient(&ops::LOG, log);
    register_gradient(&ops::LOG1P, log1p);
    register_gradient(&ops::SQRT, sqrt);
    register_gradient(&ops::RSQRT, rsqrt);
    register_gradient(&ops::SIN, sin);
    register_gradient(&ops::COS, cos);
    register_gradient(&ops::TANH, tanh);
    register_gradient(&ops::SIGMOID, sigmoid);
    register_gradient(&ops::ERF, erf);
    register_gradient(&ops::ERFC, erfc);
}
