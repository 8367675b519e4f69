//! Gradients of elementwise ops: arithmetic with broadcasting.

use super::util::unbroadcast;
use crate::registry::{GradContext, register_gradient};
use tf_core::{Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

fn add(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    Ok(vec![
        Some(unbroadcast(&g, c.input(0))?),
        Some(unbroadcast(&g, c.input(1))?),
    ])
}

fn sub(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    Ok(vec![
        Some(unbroadcast(&g, c.input(0))?),
        Some(unbroadcast(&ops::neg(&g)?, c.input(1))?),
    ])
}

fn mul(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let (x, y) = (c.input(0), c.input(1));
    Ok(vec![
        Some(unbroadcast(&ops::mul(&g, y)?, x)?),
        Some(unbroadcast(&ops::mul(&g, x)?, y)?),
    ])
}

fn real_div(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let (x, y) = (c.input(0), c.input(1));
    let gx = ops::real_div(&g, y)?;
    // d(x/y)/dy = -x / y^2 = -(x/y)/y
    let gy = ops::neg(&ops::mul(&g, &ops::real_div(&ops::real_div(x, y)?, y)?)?)?;
    Ok(vec![Some(unbroadcast(&gx, x)?), Some(unbroadcast(&gy, y)?)])
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

pub(super) fn register() {
    register_gradient(&ops::CAST, cast);
    register_gradient(&ops::ADD, add);
    register_gradient(&ops::SUB, sub);
    register_gradient(&ops::MUL, mul);
    register_gradient(&ops::REAL_DIV, real_div);
    register_gradient(&ops::NEG, neg);
}
