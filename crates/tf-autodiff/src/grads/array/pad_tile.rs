//! Gradients of Tile, Pad, PadV2, MirrorPad, MirrorPadGrad and ReverseV2.

use super::{Grads, attr_ints, attr_str, grad_name, reshape_dims, unary};
use crate::registry::{GradContext, register_gradient};
use tf_core::ops::{self, SliceMasks};
use tf_core::{Error, Result};

/// Tile: the gradient reshaped to `[m0, d0, m1, d1, ...]` and summed over the
/// multiples (TensorFlow's `_TileGrad`). One input dimension may be unknown.
fn tile(c: &GradContext<'_>) -> Grads {
    let g = c.grad(0)?;
    let x = c.input(0);
    let multiples = attr_ints(c, "multiples")?;
    let dims = reshape_dims(c, x, "the tiled input")?;
    if multiples.len() != dims.len() {
        return Err(Error::invalid(
            grad_name(c),
            format!(
                "multiples {multiples:?} do not match the input rank {}",
                dims.len()
            ),
        ));
    }
    if dims.is_empty() {
        return Ok(vec![Some(g)]);
    }
    let split: Vec<i64> = multiples
        .iter()
        .zip(&dims)
        .flat_map(|(&m, &d)| [m, d])
        .collect();
    let axes: Vec<i64> = (0..dims.len() as i64).map(|i| 2 * i).collect();
    unary(ops::reduce_sum(
        &ops::reshape(&g, &split)?,
        Some(&axes),
        false,
    ))
}

/// The `paddings` attribute as `[before, after]` pairs.
fn pad_pairs(c: &GradContext<'_>) -> Result<Vec<[i64; 2]>> {
    let p = attr_ints(c, "paddings")?;
    if p.len() % 2 != 0 {
        return Err(Error::invalid(
            grad_name(c),
            format!("paddings {p:?} do not come in [before, after] pairs"),
        ));
    }
    Ok(p.chunks_exact(2).map(|w| [w[0], w[1]]).collect())
}

/// Pad and PadV2: the unpadded block of the gradient, sliced as
/// `g[before_0 : dim_0 - after_0, ...]` with a negative end (so unknown dimensions
/// are fine). PadV2's `constant_values` gets no gradient, as in TensorFlow.
fn pad(c: &GradContext<'_>) -> Grads {
    let pairs = pad_pairs(c)?;
    let begin: Vec<i64> = pairs.iter().map(|p| p[0]).collect();
    let end: Vec<i64> = pairs.iter().map(|p| -p[1]).collect();
    let mut end_mask = 0i64;
    for (i, p) in pairs.iter().enumerate() {
        if p[1] == 0 {
            if i >= 63 {
                return Err(Error::invalid(
                    grad_name(c),
                    format!("rank {} is too large", pairs.len()),
                ));
            }
            end_mask |= 1 << i;
        }
    }
    let strides = vec![1i64; pairs.len()];
    let masks = SliceMasks {
        end_mask,
        ..SliceMasks::default()
    };
    let dx = ops::strided_slice(&c.grad(0)?, &begin, &end, &strides, masks)?;
    let mut out = vec![Some(dx)];
    out.resize(c.inputs.len(), None);
    Ok(out)
}

/// MirrorPad: MirrorPadGrad of the gradient (each padded element added onto the one
/// it mirrors).
fn mirror_pad(c: &GradContext<'_>) -> Grads {
    unary(ops::mirror_pad_grad(
        &c.grad(0)?,
        &pad_pairs(c)?,
        attr_str(c, "mode")?,
    ))
}

/// MirrorPadGrad: MirrorPad of the gradient (the op is linear).
fn mirror_pad_grad(c: &GradContext<'_>) -> Grads {
    unary(ops::mirror_pad(
        &c.grad(0)?,
        &pad_pairs(c)?,
        attr_str(c, "mode")?,
    ))
}

/// ReverseV2: the gradient reversed along the same axes.
fn reverse(c: &GradContext<'_>) -> Grads {
    unary(ops::reverse(&c.grad(0)?, attr_ints(c, "axis")?))
}

pub(super) fn register() {
    register_gradient(&ops::TILE, tile);
    register_gradient(&ops::PAD, pad);
    register_gradient(&ops::PAD_V2, pad);
    register_gradient(&ops::MIRROR_PAD, mirror_pad);
    register_gradient(&ops::MIRROR_PAD_GRAD, mirror_pad_grad);
    register_gradient(&ops::REVERSE, reverse);
}
