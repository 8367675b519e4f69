//! Gradients of shape and layout ops (TensorFlow's `array_grad.py`), by concept:
//!
//! - here: Identity, Reshape, StopGradient (not differentiable), and the helpers the
//!   others share (attributes of the recorded call, known dimensions);
//! - `views`: Transpose, Slice, StridedSlice(+Grad), ExpandDims, Squeeze, BroadcastTo;
//! - `join`: ConcatV2, Pack, Unpack, Split, SplitV;
//! - `pad_tile`: Tile, Pad, PadV2, MirrorPad(+Grad), ReverseV2;
//! - `gather`: GatherV2, GatherNd, ScatterNd and the unsorted segment reductions.
//!
//! Every gradient is built from tf-core ops, so it runs eagerly, traced and under
//! outer tapes. Where TensorFlow feeds a dynamic shape to an op that takes the shape
//! as an attribute here (Slice's padding, Tile's reshape, GatherNd's scatter shape),
//! the dimensions must be known; an unknown one is an error naming the op.

mod gather;
mod join;
mod pad_tile;
mod views;

use crate::registry::{GradContext, register_gradient, register_not_differentiable};
use tf_core::{Error, Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

/// The gradient of an op with one input whose gradient is `f(upstream)`.
fn unary(f: Result<Tensor>) -> Grads {
    Ok(vec![Some(f?)])
}

/// Integer attribute `name` of the recorded call.
fn attr_int(c: &GradContext<'_>, name: &str) -> Result<i64> {
    c.attrs.int(name).ok_or_else(|| missing(c, name))
}

/// Integer-list attribute `name` of the recorded call.
fn attr_ints<'a>(c: &'a GradContext<'_>, name: &str) -> Result<&'a [i64]> {
    c.attrs.ints(name).ok_or_else(|| missing(c, name))
}

/// String attribute `name` of the recorded call.
fn attr_str<'a>(c: &'a GradContext<'_>, name: &str) -> Result<&'a str> {
    c.attrs.str(name).ok_or_else(|| missing(c, name))
}

fn missing(c: &GradContext<'_>, name: &str) -> Error {
    Error::invalid(
        grad_name(c),
        format!("missing '{name}' attribute on the recorded call"),
    )
}

/// `"<Op> gradient"`, the name gradient errors carry.
fn grad_name(c: &GradContext<'_>) -> String {
    format!("{} gradient", c.op.name)
}

/// The dimensions of `t`, which must all be known (`what` names `t` in the error).
fn known_dims(c: &GradContext<'_>, t: &Tensor, what: &str) -> Result<Vec<usize>> {
    let p = t.partial_shape();
    p.to_shape().map(|s| s.dims().to_vec()).ok_or_else(|| {
        Error::invalid(
            grad_name(c),
            format!("the shape of {what} must be fully known, got {p}"),
        )
    })
}

/// `t`'s dimensions as a reshape target: unknown dimensions become `-1`, which works
/// when at most one is unknown (an error otherwise).
fn reshape_dims(c: &GradContext<'_>, t: &Tensor, what: &str) -> Result<Vec<i64>> {
    let p = t.partial_shape();
    if p.iter().filter(|d| d.is_none()).count() > 1 {
        return Err(Error::invalid(
            grad_name(c),
            format!("the shape of {what} has more than one unknown dimension: {p}"),
        ));
    }
    Ok(p.iter().map(|d| d.map_or(-1, |d| d as i64)).collect())
}

/// Resolves `axis` (negative counts from the end) against `rank`.
fn resolve_axis(c: &GradContext<'_>, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(Error::invalid(
            grad_name(c),
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(a as usize)
}

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
    unary(reshape_to(&c.grad(0)?, c.input(0)))
}

pub(super) fn register() {
    register_gradient(&ops::IDENTITY, identity);
    register_gradient(&ops::RESHAPE, reshape);
    // TensorFlow: ops.NotDifferentiable("StopGradient").
    register_not_differentiable(&ops::STOP_GRADIENT);
    views::register();
    join::register();
    pad_tile::register();
    gather::register();
}
