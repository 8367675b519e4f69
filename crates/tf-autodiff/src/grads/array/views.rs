//! Gradients of the view ops: Transpose, Slice, StridedSlice, StridedSliceGrad,
//! ExpandDims, Squeeze, BroadcastTo.

use super::{Grads, attr_ints, grad_name, known_dims, reshape_to, unary};
use crate::grads::util::unbroadcast;
use crate::registry::{GradContext, register_gradient};
use tf_core::Error;
use tf_core::ops::{self, SliceMasks};

/// Transpose: the gradient transposed by the inverse permutation.
fn transpose(c: &GradContext<'_>) -> Grads {
    let perm = attr_ints(c, "perm")?;
    let mut inv = vec![0i64; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        let slot = usize::try_from(p)
            .ok()
            .and_then(|p| inv.get_mut(p))
            .ok_or_else(|| {
                Error::invalid(grad_name(c), format!("perm {perm:?} is not a permutation"))
            })?;
        *slot = i as i64;
    }
    unary(ops::transpose(&c.grad(0)?, Some(&inv)))
}

/// Slice: the gradient zero-padded back to the input's shape (TensorFlow's `_SliceGrad`).
fn slice(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let dims = known_dims(c, x, "the sliced input")?;
    let begin = attr_ints(c, "begin")?;
    let size = attr_ints(c, "size")?;
    if begin.len() != dims.len() || size.len() != dims.len() {
        return Err(Error::invalid(
            grad_name(c),
            format!(
                "begin {begin:?} and size {size:?} do not match the input rank {}",
                dims.len()
            ),
        ));
    }
    let pads = dims
        .iter()
        .zip(begin.iter().zip(size))
        .map(|(&d, (&b, &s))| {
            let d = d as i64;
            let s = if s == -1 { d - b } else { s };
            [b, d - b - s]
        })
        .collect::<Vec<_>>();
    unary(ops::pad(&c.grad(0)?, &pads))
}

/// The masks of a recorded StridedSlice or StridedSliceGrad call.
fn masks(c: &GradContext<'_>) -> SliceMasks {
    let get = |name: &str| c.attrs.int(name).unwrap_or(0);
    SliceMasks {
        begin_mask: get("begin_mask"),
        end_mask: get("end_mask"),
        ellipsis_mask: get("ellipsis_mask"),
        new_axis_mask: get("new_axis_mask"),
        shrink_axis_mask: get("shrink_axis_mask"),
    }
}

/// StridedSlice: StridedSliceGrad of the gradient, with the input's shape.
fn strided_slice(c: &GradContext<'_>) -> Grads {
    let dims = known_dims(c, c.input(0), "the sliced input")?;
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    unary(ops::strided_slice_grad(
        &c.grad(0)?,
        &shape,
        attr_ints(c, "begin")?,
        attr_ints(c, "end")?,
        attr_ints(c, "strides")?,
        masks(c),
    ))
}

/// StridedSliceGrad: StridedSlice of the gradient (the op is linear in `dy`).
fn strided_slice_grad(c: &GradContext<'_>) -> Grads {
    unary(ops::strided_slice(
        &c.grad(0)?,
        attr_ints(c, "begin")?,
        attr_ints(c, "end")?,
        attr_ints(c, "strides")?,
        masks(c),
    ))
}

/// ExpandDims and Squeeze: the gradient reshaped to the input's shape.
fn reshape_back(c: &GradContext<'_>) -> Grads {
    unary(reshape_to(&c.grad(0)?, c.input(0)))
}

/// BroadcastTo: the gradient summed over the broadcast dimensions.
fn broadcast_to(c: &GradContext<'_>) -> Grads {
    unary(unbroadcast(&c.grad(0)?, c.input(0)))
}

pub(super) fn register() {
    register_gradient(&ops::TRANSPOSE, transpose);
    register_gradient(&ops::SLICE, slice);
    register_gradient(&ops::STRIDED_SLICE, strided_slice);
    register_gradient(&ops::STRIDED_SLICE_GRAD, strided_slice_grad);
    register_gradient(&ops::EXPAND_DIMS, reshape_back);
    register_gradient(&ops::SQUEEZE, reshape_back);
    register_gradient(&ops::BROADCAST_TO, broadcast_to);
}
