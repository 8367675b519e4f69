//! Gradients of shape and layout ops.

use crate::registry::{GradContext, register_gradient};
use tf_core::{Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

fn identity(c: &GradContext<'_>) -> Grads {
    Ok(vec![Some(c.grad(0)?)])
}

/// Reshape the gradient back to the input's shape (`-1` stands for one unknown dim).
pub(crate) fn reshape_to(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    let p = x.partial_shape();
    let unknown = p.iter().filter(|d| d.is_none()).count();
    if unknown > 1 {
        return Err(tf_core::Error::invalid(
            "Reshape gradient",
            format!("input shape {p} has more than one unknown dimension"),
        ));
    }
    let dims: Vec<i64> = p.iter().map(|d| d.map_or(-1, |d| d as i64)).collect();
    ops::reshape(g, &dims)
}

fn reshape(c: &GradContext<'_>) -> Grads {
    Ok(vec![Some(reshape_to(&c.grad(0)?, c.input(0))?)])
}

pub(super) fn register() {
    register_gradient(&ops::IDENTITY, identity);
    register_gradient(&ops::RESHAPE, reshape);
}
