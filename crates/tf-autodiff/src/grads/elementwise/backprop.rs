//! Gradients of the fused backprop ops `ReluGrad`, `TanhGrad` and `SigmoidGrad`
//! (TensorFlow's `_ReluGradGrad`, `_TanhGradGrad`, `_SigmoidGradGrad`), which make
//! second and higher derivatives through `Relu`, `Tanh` and `Sigmoid` work.

use super::{Grads, scale};
use crate::registry::{GradContext, register_gradient};
use tf_core::ops;

/// `ReluGrad(g, x) = g · (x > 0)` is linear in `g` and piecewise constant in `x`:
/// `(ReluGrad(grad, x), zeros_like(x))`.
fn relu_grad(c: &GradContext<'_>) -> Grads {
    let x = c.input(1);
    Ok(vec![
        Some(ops::relu_grad(&c.grad(0)?, x)?),
        Some(ops::zeros_like(x)?),
    ])
}

/// `TanhGrad(y, dy) = dy (1 - y²)`: `(grad · -2 dy y, TanhGrad(y, grad))`.
fn tanh_grad(c: &GradContext<'_>) -> Grads {
    let (y, dy, grad) = (c.input(0), c.input(1), c.grad(0)?);
    let gy = ops::mul(&ops::mul(&scale(&grad, -2.0)?, dy)?, y)?;
    Ok(vec![Some(gy), Some(ops::tanh_grad(y, &grad)?)])
}

/// `SigmoidGrad(y, dy) = dy y (1 - y)`: with `gb = grad · dy`,
/// `(gb - 2 gb y, SigmoidGrad(y, grad))`.
fn sigmoid_grad(c: &GradContext<'_>) -> Grads {
    let (y, dy, grad) = (c.input(0), c.input(1), c.grad(0)?);
    let gb = ops::mul(&grad, dy)?;
    let gy = ops::sub(&gb, &ops::mul(&scale(&gb, 2.0)?, y)?)?;
    Ok(vec![Some(gy), Some(ops::sigmoid_grad(y, &grad)?)])
}

pub(super) fn register() {
    register_gradient(&ops::RELU_GRAD, relu_grad);
    register_gradient(&ops::TANH_GRAD, tanh_grad);
    register_gradient(&ops::SIGMOID_GRAD, sigmoid_grad);
}
