//! Gradients of `SelectV2` (`tf.where`) and `ClipByValue`.

use super::{Grads, keep_where, zero_where};
use crate::grads::util::unbroadcast;
use crate::registry::{GradContext, register_gradient};
use tf_core::ops;

/// TensorFlow's `_SelectGradV2`: no gradient for the condition, `where(c, g, 0)` for
/// `x` and `where(c, 0, g)` for `y`, each summed back to its input's shape.
fn select_v2(c: &GradContext<'_>) -> Grads {
    let (cond, g) = (c.input(0), c.grad(0)?);
    Ok(vec![
        None,
        Some(unbroadcast(&keep_where(cond, &g)?, c.input(1))?),
        Some(unbroadcast(&zero_where(cond, &g)?, c.input(2))?),
    ])
}

/// TensorFlow's `_ClipByValueGrad`: `t` gets `g` where `min <= t <= max`; `min` gets
/// the gradient where `t < min`, `max` where `t > max`, each summed to its shape.
fn clip_by_value(c: &GradContext<'_>) -> Grads {
    let (t, lo, hi) = (c.input(0), c.input(1), c.input(2));
    let g = c.grad(0)?;
    let below = ops::less(t, lo)?;
    let over = ops::greater(t, hi)?;
    let outside = ops::logical_or(&below, &over)?;
    Ok(vec![
        Some(unbroadcast(&zero_where(&outside, &g)?, t)?),
        Some(unbroadcast(&keep_where(&below, &g)?, lo)?),
        Some(unbroadcast(&keep_where(&over, &g)?, hi)?),
    ])
}

pub(super) fn register() {
    register_gradient(&ops::SELECT_V2, select_v2);
    register_gradient(&ops::CLIP_BY_VALUE, clip_by_value);
}
