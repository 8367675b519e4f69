//! Helpers shared by gradient functions: undoing broadcasting, broadcasting a reduced
//! gradient back, and reading axis attributes. All work on partial shapes, so they
//! also serve gradients inside traced functions.

use tf_core::{Error, Result, Tensor, ops};

/// Sums `g` (shaped like a broadcast result) back to the shape of `x`: over leading
/// dimensions `x` lacks and over dimensions where `x` has size 1. Dimensions unknown
/// in `x` are assumed not broadcast. Returns `g` itself when nothing needs summing.
pub(crate) fn unbroadcast(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    let gs = g.partial_shape();
    let xs = x.partial_shape();
    if gs.rank() < xs.rank() {
        return Err(Error::invalid(
            "unbroadcast",
            format!(
                "gradient of rank {} for an input of rank {}",
                gs.rank(),
                xs.rank()
            ),
        ));
    }
    let lead = gs.rank() - xs.rank();
    let mut keep_axes: Vec<i64> = Vec::new();
    for (i, xd) in xs.iter().enumerate() {
        let gd = gs[lead + i];
        if *xd == Some(1) && gd != Some(1) {
            keep_axes.push((lead + i) as i64);
        }
    }
    let mut out = g.clone();
    if !keep_axes.is_empty() {
        out = ops::reduce_sum(&out, Some(&keep_axes), true)?;
    }
    if lead > 0 {
        let lead_axes: Vec<i64> = (0..lead as i64).collect();
        out = ops::reduce_sum(&out, Some(&lead_axes), false)?;
    }
    Ok(out)
}

/// Broadcasts `g` (whose shape broadcasts to `x`'s) to the shape of `x`: a free
/// stride-0 view when `x`'s shape is known, otherwise `g * ones_like(x)`.
pub(crate) fn broadcast_like(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    if g.dims() == x.dims() && g.shape().is_fully_defined() {
        return Ok(g.clone());
    }
    if x.shape().is_fully_defined() {
        let dims: Vec<i64> = x.dims().iter().map(|&d| d as i64).collect();
        return ops::broadcast_to(g, &dims);
    }
    ops::mul(g, &ops::ones_like(x)?)
}

/// The resolved reduction axes of a reduce op (its `axis` attribute, non-negative).
pub(crate) fn reduce_axes(op: &str, attrs: &tf_core::op::Attrs, rank: usize) -> Result<Vec<i64>> {
    let axes = attrs.ints("axis").ok_or_else(|| {
        Error::invalid(
            op.to_string(),
            "missing 'axis' attribute on a recorded reduction",
        )
    })?;
    Ok(axes
        .iter()
        .map(|&a| if a < 0 { a + rank as i64 } else { a })
        .collect())
}

/// `g` of a reduction over `axes` (without keepdims) with the reduced axes re-inserted
/// as size 1, ready to broadcast against the input.
pub(crate) fn restore_reduced_dims(g: &Tensor, axes: &[i64], keepdims: bool) -> Result<Tensor> {
    if keepdims {
        return Ok(g.clone());
    }
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    let mut out = g.clone();
    for a in sorted {
        out = ops::expand_dims(&out, a)?;
    }
    Ok(out)
}

/// A scalar of `x`'s dtype.
pub(crate) fn scalar_like(x: &Tensor, v: f64) -> Result<Tensor> {
    ops::cast(&Tensor::from_scalar(v), x.dtype())
}
