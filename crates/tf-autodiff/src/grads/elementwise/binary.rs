//! Gradients of broadcasting binary arithmetic: `AddV2`, `Sub`, `Mul`, `RealDiv`,
//! `FloorDiv`, `FloorMod`, `Pow`, `Maximum`, `Minimum`, `SquaredDifference`. Each
//! input's gradient is summed back to its own shape with `unbroadcast`.

use super::{Grads, keep_where, scale, zero_where};
use crate::grads::util::{scalar_like, unbroadcast};
use crate::registry::{GradContext, register_gradient};
use tf_core::{Result, Tensor, ops};

/// The two gradients, each reduced to its input's shape.
fn pair(c: &GradContext<'_>, gx: &Tensor, gy: &Tensor) -> Grads {
    Ok(vec![
        Some(unbroadcast(gx, c.input(0))?),
        Some(unbroadcast(gy, c.input(1))?),
    ])
}

fn add(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    pair(c, &g, &g)
}

fn sub(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    pair(c, &g, &ops::neg(&g)?)
}

fn mul(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let (x, y) = (c.input(0), c.input(1));
    pair(c, &ops::mul(&g, y)?, &ops::mul(&g, x)?)
}

fn real_div(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let (x, y) = (c.input(0), c.input(1));
    let gx = ops::real_div(&g, y)?;
    // d(x/y)/dy = -x / y² = -(x/y)/y, as TensorFlow writes it.
    let gy = ops::neg(&ops::mul(&g, &ops::real_div(&ops::real_div(x, y)?, y)?)?)?;
    pair(c, &gx, &gy)
}

/// `FloorDiv` is piecewise constant: TensorFlow's `_FloorDivGrad` returns `None, None`.
fn floor_div(_: &GradContext<'_>) -> Grads {
    Ok(vec![None, None])
}

/// TensorFlow's `_FloorModGrad`: `(g, -g · floor(x / y))`.
fn floor_mod(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let (x, y) = (c.input(0), c.input(1));
    let floor_xy = ops::floor_div(x, y)?;
    pair(c, &g, &ops::mul(&g, &ops::neg(&floor_xy)?)?)
}

/// TensorFlow's `_PowGrad`: `dx = g · y · x^(y-1)`, `dy = g · z · log(x)` where `x > 0`
/// and 0 elsewhere (no real logarithm; the `where` also avoids `0 · -inf` at `x = 0`).
fn pow(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let (x, y, z) = (c.input(0), c.input(1), c.output(0));
    let y_minus_1 = ops::sub(y, &scalar_like(y, 1.0)?)?;
    let gx = ops::mul(&ops::mul(&g, y)?, &ops::pow(x, &y_minus_1)?)?;
    let mask = ops::greater(x, &scalar_like(x, 0.0)?)?;
    let safe_x = ops::where_(&mask, x, &scalar_like(x, 1.0)?)?;
    let log_x = keep_where(&mask, &ops::log(&safe_x)?)?;
    let gy = ops::mul(&ops::mul(&g, z)?, &log_x)?;
    pair(c, &gx, &gy)
}

/// TensorFlow's `_MaximumMinimumGrad`: the gradient goes to `x` where
/// `selector(x, y)` holds (`x >= y` for `Maximum`, `x <= y` for `Minimum`; ties go to
/// `x`), to `y` elsewhere.
fn max_min(c: &GradContext<'_>, selector: fn(&Tensor, &Tensor) -> Result<Tensor>) -> Grads {
    let g = c.grad(0)?;
    let xmask = selector(c.input(0), c.input(1))?;
    pair(c, &keep_where(&xmask, &g)?, &zero_where(&xmask, &g)?)
}

fn maximum(c: &GradContext<'_>) -> Grads {
    max_min(c, ops::greater_equal)
}

fn minimum(c: &GradContext<'_>) -> Grads {
    max_min(c, ops::less_equal)
}

/// TensorFlow's `_SquaredDifferenceGrad`: `(2g (x - y), -2g (x - y))`.
fn squared_difference(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let (x, y) = (c.input(0), c.input(1));
    let x_grad = ops::mul(&scale(&g, 2.0)?, &ops::sub(x, y)?)?;
    Ok(vec![
        Some(unbroadcast(&x_grad, x)?),
        Some(ops::neg(&unbroadcast(&x_grad, y)?)?),
    ])
}

pub(super) fn register() {
    register_gradient(&ops::ADD, add);
    register_gradient(&ops::SUB, sub);
    register_gradient(&ops::MUL, mul);
    register_gradient(&ops::REAL_DIV, real_div);
    register_gradient(&ops::FLOOR_DIV, floor_div);
    register_gradient(&ops::FLOOR_MOD, floor_mod);
    register_gradient(&ops::POW, pow);
    register_gradient(&ops::MAXIMUM, maximum);
    register_gradient(&ops::MINIMUM, minimum);
    register_gradient(&ops::SQUARED_DIFFERENCE, squared_difference);
}
