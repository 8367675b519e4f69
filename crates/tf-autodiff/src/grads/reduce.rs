//! Gradients of reductions.

use super::util::{broadcast_like, reduce_axes, restore_reduced_dims, scalar_like};
use crate::registry::{GradContext, register_gradient};
use tf_core::{Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

fn keepdims(c: &GradContext<'_>) -> bool {
    c.attrs.bool("keepdims").unwrap_or(false)
}

fn sum(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let axes = reduce_axes(c.op.name, c.attrs, x.rank())?;
    let g = restore_reduced_dims(&c.grad(0)?, &axes, keepdims(c))?;
    Ok(vec![Some(broadcast_like(&g, x)?)])
}

fn mean(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let axes = reduce_axes(c.op.name, c.attrs, x.rank())?;
    let g = restore_reduced_dims(&c.grad(0)?, &axes, keepdims(c))?;
    let count: usize = if x.shape().is_fully_defined() {
        axes.iter().map(|&a| x.dims()[a as usize]).product()
    } else {
        return Ok(vec![Some(ops::real_div(
            &broadcast_like(&g, x)?,
            &ops::cast(
                &ops::reduce_sum(&ops::ones_like(x)?, Some(&axes), true)?,
                x.dtype(),
            )?,
        )?)]);
    };
    let scaled = ops::mul(&g, &scalar_like(x, 1.0 / count.max(1) as f64)?)?;
    Ok(vec![Some(broadcast_like(&scaled, x)?)])
}

pub(super) fn register() {
    register_gradient(&ops::SUM, sum);
    register_gradient(&ops::MEAN, mean);
}
