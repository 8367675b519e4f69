//! Shape attributes and shape checks shared by the convolution backprops
//! (`Conv2DBackpropInput`, `Conv2DBackpropFilter` and their depthwise versions): the
//! `input_sizes` / `filter_sizes` attributes and the consistency of input, filter and
//! `out_backprop` shapes with the forward convolution's geometry.

use super::geometry::Window;
use crate::error::{Error, Result};
use crate::op::{AttrValue, InferContext};
use crate::shape::PartialShape;
use crate::tensor::Tensor;

/// Reads a 4-element shape attribute (`input_sizes`, `filter_sizes`,
/// `orig_input_shape`) of non-negative sizes; `layout` names its dimensions for the
/// error message.
pub(crate) fn sizes_attr(ctx: &InferContext<'_>, name: &str, layout: &str) -> Result<[usize; 4]> {
    let v = match ctx.attrs.get(name) {
        Some(AttrValue::Ints(v)) => v,
        Some(other) => {
            return Err(Error::invalid(
                ctx.name(),
                format!("attribute '{name}' must be a list of ints, got {other}"),
            ));
        }
        None => {
            return Err(Error::invalid(
                ctx.name(),
                format!("missing attribute '{name}'"),
            ));
        }
    };
    if v.len() != 4 || v.iter().any(|&d| d < 0) {
        return Err(Error::invalid(
            ctx.name(),
            format!("{name} must be 4 non-negative sizes {layout}, got {v:?}"),
        ));
    }
    let mut out = [0usize; 4];
    for (o, &d) in out.iter_mut().zip(v) {
        *o = usize::try_from(d)
            .map_err(|_| Error::invalid(ctx.name(), format!("{name} too large: {v:?}")))?;
    }
    Ok(out)
}

/// The dimensions of a 4-D tensor (checked by shape inference before a kernel runs;
/// an error rather than a panic if a kernel is ever called otherwise).
pub(crate) fn dims4(op: &'static str, t: &Tensor) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(t.dims()).map_err(|_| {
        Error::invalid(
            op,
            format!("expected a 4-D tensor, got shape {}", t.shape()),
        )
    })
}

/// Which convolution a backprop belongs to: how the filter's channels relate to
/// `out_backprop`'s depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvKind {
    /// `Conv2D`: filter `[kh, kw, in, out]`, out_backprop depth `out`.
    Conv,
    /// `DepthwiseConv2dNative`: filter `[kh, kw, in, multiplier]`, out_backprop depth
    /// `in·multiplier`.
    Depthwise,
}

/// Checks that `input` (`[batch, h, w, in]`), `filter` and `dy` (`out_backprop`,
/// `[batch, out_h, out_w, depth]`) are the shapes of one forward convolution with
/// window `win`, as TensorFlow's `ConvBackpropComputeDimensions` does. Unknown
/// dimensions pass. `names` labels the input and filter shapes in messages (e.g.
/// `["input_sizes", "filter"]`).
pub(crate) fn check_backprop_shapes(
    ctx: &InferContext<'_>,
    win: &Window,
    kind: ConvKind,
    [x, f, dy]: [&PartialShape; 3],
    names: [&str; 2],
) -> Result<()> {
    let op = ctx.name();
    let shapes = || format!("{} {x}, {} {f}, out_backprop {dy}", names[0], names[1]);
    let mismatch = |what: &str| Error::invalid(op, format!("{what}: {}", shapes()));
    let differ =
        |a: Option<usize>, b: Option<usize>| matches!((a, b), (Some(a), Some(b)) if a != b);
    if differ(x[0], dy[0]) {
        return Err(mismatch(
            "input and out_backprop must have the same batch size",
        ));
    }
    if differ(x[3], f[2]) {
        return Err(mismatch(
            "input depth must equal filter in_channels (dimension 2)",
        ));
    }
    match kind {
        ConvKind::Conv => {
            if differ(f[3], dy[3]) {
                return Err(mismatch(
                    "filter out_channels (dimension 3) must equal out_backprop depth",
                ));
            }
        }
        ConvKind::Depthwise => {
            let out = match (f[2], f[3]) {
                (Some(c), Some(m)) => Some(c.checked_mul(m).ok_or_else(|| {
                    Error::invalid(op, format!("too many output channels: {}", shapes()))
                })?),
                _ => None,
            };
            if differ(out, dy[3]) {
                return Err(mismatch(
                    "filter in_channels × channel_multiplier must equal out_backprop depth",
                ));
            }
        }
    }
    for axis in 0..2 {
        let computed = win.partial_dim(op, axis, x[1 + axis], f[axis])?;
        if let (Some(c), Some(actual)) = (computed, dy[1 + axis])
            && c != actual
        {
            let known = |d: Option<usize>| d.map_or("?".to_string(), |k| k.to_string());
            return Err(Error::invalid(
                op,
                format!(
                    "size of out_backprop doesn't match computed: actual = {actual}, computed = {c} spatial_dim: {} input: {} filter: {} stride: {} dilation: {} ({})",
                    axis + 1,
                    known(x[1 + axis]),
                    known(f[axis]),
                    win.strides[axis],
                    win.dilations[axis],
                    shapes(),
                ),
            ));
        }
    }
    Ok(())
}
