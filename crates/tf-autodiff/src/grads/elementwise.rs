//! Gradients of elementwise ops, following TensorFlow's `math_grad.py` and `nn_grad.py`:
//! arithmetic with broadcasting (`binary`), unary math (`unary`), activations
//! (`activation`), selection/clipping (`select`), and the fused backprop ops
//! `ReluGrad`/`TanhGrad`/`SigmoidGrad` (`backprop`).
//!
//! Every gradient is written with tf-core ops on the recorded inputs and outputs, so
//! it is itself differentiable: gradients that reuse an op's output (`tanh' = 1 - y²`,
//! `sigmoid' = y (1 - y)`, `exp' = y`, as TensorFlow's `TanhGrad`, `SigmoidGrad`, ...
//! do) send their own gradient back through the recorded forward node. `Relu`, `Tanh`
//! and `Sigmoid`, which a training step differentiates every time, use tf-core's fused
//! one-pass `ReluGrad`/`TanhGrad`/`SigmoidGrad` ops, whose own gradients are here too.
//!
//! Kinks take TensorFlow's values: `relu'(0) = 0`, `abs'(0) = sign(0) = 0`,
//! `Maximum`/`Minimum` ties go to `x`; `Sign` has a zero gradient and `Round`, `Floor`,
//! `Ceil`, `FloorDiv` return no gradient (`None`), as TensorFlow registers them.

mod activation;
mod backprop;
mod binary;
mod select;
mod unary;

use super::util::scalar_like;
use tf_core::{Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

/// `where(cond, g, 0)`: `g` where `cond` holds, zero elsewhere (shape: `cond` and `g`
/// broadcast together).
fn keep_where(cond: &Tensor, g: &Tensor) -> Result<Tensor> {
    ops::where_(cond, g, &scalar_like(g, 0.0)?)
}

/// `where(cond, 0, g)`: zero where `cond` holds, `g` elsewhere.
fn zero_where(cond: &Tensor, g: &Tensor) -> Result<Tensor> {
    ops::where_(cond, &scalar_like(g, 0.0)?, g)
}

/// `x * v` for a constant `v` in `x`'s dtype.
fn scale(x: &Tensor, v: f64) -> Result<Tensor> {
    ops::mul(x, &scalar_like(x, v)?)
}

/// `x + v` for a constant `v` in `x`'s dtype.
fn plus(x: &Tensor, v: f64) -> Result<Tensor> {
    ops::add(x, &scalar_like(x, v)?)
}

/// `v - x` for a constant `v` in `x`'s dtype.
fn minus(v: f64, x: &Tensor) -> Result<Tensor> {
    ops::sub(&scalar_like(x, v)?, x)
}

/// Registers every elementwise gradient.
pub(super) fn register() {
    binary::register();
    unary::register();
    activation::register();
    select::register();
    backprop::register();
}
