//! Gradients of joining and splitting: ConcatV2, Pack, Unpack, Split, SplitV. Each
//! is the other's adjoint (concat ↔ split, stack ↔ unstack); unconnected outputs of
//! the splitting ops contribute zeros.

use super::{Grads, attr_int, grad_name, resolve_axis, unary};
use crate::registry::{GradContext, register_gradient};
use tf_core::{Error, Result, Tensor, ops};

/// ConcatV2: the gradient split along the axis into the inputs' extents (at most one
/// of them may be unknown while tracing).
fn concat(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let rank = c.input(0).partial_shape().rank();
    let axis = resolve_axis(c, attr_int(c, "axis")?, rank)?;
    let sizes: Vec<i64> = c
        .inputs
        .iter()
        .map(|x| x.partial_shape()[axis].map_or(-1, |d| d as i64))
        .collect();
    if sizes.iter().filter(|&&s| s < 0).count() > 1 {
        return Err(Error::invalid(
            grad_name(c),
            format!(
                "more than one input has an unknown extent along axis {axis}: {:?}",
                c.inputs
                    .iter()
                    .map(|x| x.partial_shape().to_string())
                    .collect::<Vec<_>>()
            ),
        ));
    }
    let parts = ops::split_v(&g, &sizes, axis as i64)?;
    Ok(parts.into_iter().map(Some).collect())
}

/// Pack: the gradient unstacked along the stacking axis.
fn pack(c: &GradContext<'_>) -> Grads {
    let parts = ops::unstack(&c.grad(0)?, attr_int(c, "axis")?)?;
    if parts.len() != c.inputs.len() {
        return Err(Error::invalid(
            grad_name(c),
            format!(
                "the gradient unstacks into {} pieces for {} inputs",
                parts.len(),
                c.inputs.len()
            ),
        ));
    }
    Ok(parts.into_iter().map(Some).collect())
}

/// Every output's gradient (zeros for unconnected outputs).
fn all_grads(c: &GradContext<'_>) -> Result<Vec<Tensor>> {
    (0..c.outputs.len()).map(|i| c.grad(i)).collect()
}

/// Unpack: the outputs' gradients stacked back along the axis.
fn unpack(c: &GradContext<'_>) -> Grads {
    unary(ops::stack(&all_grads(c)?, attr_int(c, "axis")?))
}

/// Split and SplitV: the outputs' gradients concatenated along the axis.
fn split(c: &GradContext<'_>) -> Grads {
    unary(ops::concat(&all_grads(c)?, attr_int(c, "axis")?))
}

pub(super) fn register() {
    register_gradient(&ops::CONCAT, concat);
    register_gradient(&ops::STACK, pack);
    register_gradient(&ops::UNSTACK, unpack);
    register_gradient(&ops::SPLIT, split);
    register_gradient(&ops::SPLIT_V, split);
}
