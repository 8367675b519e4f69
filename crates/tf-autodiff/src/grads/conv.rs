//! Gradients of convolutions and pooling, after TensorFlow's `nn_grad.py`.
//!
//! Each gradient is another tf-core op, so second derivatives work:
//!
//! | op | gradient of its inputs |
//! |---|---|
//! | `Conv2D(x, f)` | `Conv2DBackpropInput(f, g)`, `Conv2DBackpropFilter(x, g)` |
//! | `Conv2DBackpropInput(f, dy)` | `Conv2DBackpropFilter(g, dy)`, `Conv2D(g, f)` |
//! | `Conv2DBackpropFilter(x, dy)` | `Conv2DBackpropInput(g, dy)`, `Conv2D(x, g)` |
//! | `DepthwiseConv2dNative` and its two backprops | the same with the depthwise ops |
//! | `MaxPool(x)` | `MaxPoolGrad(x, y, g)` |
//! | `MaxPoolGrad(x, y, dy)` | zeros, zeros, `MaxPoolGradGrad(x, y, g)` |
//! | `MaxPoolGradGrad(x, y, dy)` | zeros, zeros, `MaxPoolGrad(x, y, g)` |
//! | `AvgPool(x)` | `AvgPoolGrad(g)` |
//! | `AvgPoolGrad(dy)` | `AvgPool(g)` |
//!
//! The shapes TensorFlow passes as tensors (`input_sizes`, `filter_sizes`,
//! `orig_input_shape`) are attributes here, read from the inputs' static shapes: a
//! gradient needing one of an input whose shape is not fully known is an error naming
//! the op. Integer convolutions and pools give no gradient (`None`), as their
//! backprops are float-only.

use crate::registry::{GradContext, register_gradient};
use tf_core::op::{Attrs, OpDef, call1};
use tf_core::{Error, Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

/// The window attributes of the convolutions, copied from the recorded call.
const CONV_ATTRS: &[&str] = &[
    "strides",
    "padding",
    "explicit_paddings",
    "dilations",
    "data_format",
];

/// The window attributes of the pools.
const POOL_ATTRS: &[&str] = &["ksize", "strides", "padding", "data_format"];

/// The attributes `names` of the recorded call (those it has).
fn copy_attrs(c: &GradContext<'_>, names: &[&'static str]) -> Attrs {
    let mut attrs = Attrs::new();
    for &name in names {
        if let Some(v) = c.attrs.get(name) {
            attrs.set(name, v.clone());
        }
    }
    attrs
}

/// The static shape of `t` as a shape attribute; an error naming the op when a
/// dimension is unknown (the gradient op takes the shape as an attribute).
fn shape_attr(c: &GradContext<'_>, t: &Tensor, what: &str) -> Result<Vec<i64>> {
    let p = t.partial_shape();
    p.iter()
        .map(|d| {
            d.and_then(|d| i64::try_from(d).ok()).ok_or_else(|| {
                Error::invalid(
                    c.op.name,
                    format!(
                        "gradient needs the static shape of the {what}, got {p} (dimensions must be known)"
                    ),
                )
            })
        })
        .collect()
}

/// Runs the conv-family op `op` on `inputs` with the recorded window attributes plus
/// `shape` as attribute `attr` (when given).
fn conv_op(
    c: &GradContext<'_>,
    op: &'static OpDef,
    inputs: [&Tensor; 2],
    shape: Option<(&'static str, Vec<i64>)>,
) -> Result<Tensor> {
    let mut attrs = copy_attrs(c, CONV_ATTRS);
    if let Some((name, sizes)) = shape {
        attrs.set(name, sizes);
    }
    call1(op, &[inputs[0].clone(), inputs[1].clone()], &attrs)
}

/// Whether the op ran on integers (no gradient then).
fn is_int(c: &GradContext<'_>) -> bool {
    !c.input(0).dtype().is_float()
}

/// The ops of one convolution family: forward, input gradient, filter gradient.
struct Family {
    forward: &'static OpDef,
    input: &'static OpDef,
    filter: &'static OpDef,
}

const CONV: Family = Family {
    forward: &ops::CONV2D,
    input: &ops::CONV2D_BACKPROP_INPUT,
    filter: &ops::CONV2D_BACKPROP_FILTER,
};

const DEPTHWISE: Family = Family {
    forward: &ops::DEPTHWISE_CONV2D,
    input: &ops::DEPTHWISE_CONV2D_BACKPROP_INPUT,
    filter: &ops::DEPTHWISE_CONV2D_BACKPROP_FILTER,
};

/// `forward(x, f)`: `dx = input(f, g)`, `df = filter(x, g)`.
fn forward_grad(c: &GradContext<'_>, fam: &Family) -> Grads {
    if is_int(c) {
        return Ok(vec![None, None]);
    }
    let (x, f, g) = (c.input(0), c.input(1), c.grad(0)?);
    // The first layer's input gradient is usually not needed: skip that convolution.
    let dx = if c.needs_grad(0) {
        Some(conv_op(
            c,
            fam.input,
            [f, &g],
            Some(("input_sizes", shape_attr(c, x, "input")?)),
        )?)
    } else {
        None
    };
    let df = if c.needs_grad(1) {
        Some(conv_op(
            c,
            fam.filter,
            [x, &g],
            Some(("filter_sizes", shape_attr(c, f, "filter")?)),
        )?)
    } else {
        None
    };
    Ok(vec![dx, df])
}

/// `input(f, dy)` (output shaped like the forward input): `df = filter(g, dy)`,
/// `ddy = forward(g, f)`.
fn input_grad(c: &GradContext<'_>, fam: &Family) -> Grads {
    if is_int(c) {
        return Ok(vec![None, None]);
    }
    let (f, dy, g) = (c.input(0), c.input(1), c.grad(0)?);
    let df = conv_op(
        c,
        fam.filter,
        [&g, dy],
        Some(("filter_sizes", shape_attr(c, f, "filter")?)),
    )?;
    let ddy = conv_op(c, fam.forward, [&g, f], None)?;
    Ok(vec![Some(df), Some(ddy)])
}

/// `filter(x, dy)` (output shaped like the filter): `dx = input(g, dy)`,
/// `ddy = forward(x, g)`.
fn filter_grad(c: &GradContext<'_>, fam: &Family) -> Grads {
    if is_int(c) {
        return Ok(vec![None, None]);
    }
    let (x, dy, g) = (c.input(0), c.input(1), c.grad(0)?);
    let dx = conv_op(
        c,
        fam.input,
        [&g, dy],
        Some(("input_sizes", shape_attr(c, x, "input")?)),
    )?;
    let ddy = conv_op(c, fam.forward, [x, &g], None)?;
    Ok(vec![Some(dx), Some(ddy)])
}

fn conv2d(c: &GradContext<'_>) -> Grads {
    forward_grad(c, &CONV)
}

fn conv2d_backprop_input(c: &GradContext<'_>) -> Grads {
    input_grad(c, &CONV)
}

fn conv2d_backprop_filter(c: &GradContext<'_>) -> Grads {
    filter_grad(c, &CONV)
}

fn depthwise_conv2d(c: &GradContext<'_>) -> Grads {
    forward_grad(c, &DEPTHWISE)
}

fn depthwise_conv2d_backprop_input(c: &GradContext<'_>) -> Grads {
    input_grad(c, &DEPTHWISE)
}

fn depthwise_conv2d_backprop_filter(c: &GradContext<'_>) -> Grads {
    filter_grad(c, &DEPTHWISE)
}

/// Runs the pool-family op `op` with the recorded window attributes (plus `extra`).
fn pool_op(
    c: &GradContext<'_>,
    op: &'static OpDef,
    inputs: &[Tensor],
    extra: Option<(&'static str, Vec<i64>)>,
) -> Result<Tensor> {
    let mut attrs = copy_attrs(c, POOL_ATTRS);
    if let Some((name, v)) = extra {
        attrs.set(name, v);
    }
    call1(op, inputs, &attrs)
}

/// `MaxPool(x) = y`: `MaxPoolGrad(x, y, g)`.
fn max_pool(c: &GradContext<'_>) -> Grads {
    if is_int(c) {
        return Ok(vec![None]);
    }
    let inputs = [c.input(0).clone(), c.output(0).clone(), c.grad(0)?];
    Ok(vec![Some(pool_op(c, &ops::MAX_POOL_GRAD, &inputs, None)?)])
}

/// `MaxPoolGrad(x, y, dy)` / `MaxPoolGradGrad(x, y, dy)`: linear in `dy` with the
/// argmax fixed by `x`, so `x` and `y` get zeros and `dy` the other op of the pair.
fn max_pool_grad_pair(c: &GradContext<'_>, other: &'static OpDef) -> Grads {
    if is_int(c) {
        return Ok(vec![None, None, None]);
    }
    let (x, y) = (c.input(0), c.input(1));
    let inputs = [x.clone(), y.clone(), c.grad(0)?];
    Ok(vec![
        Some(ops::zeros_like(x)?),
        Some(ops::zeros_like(y)?),
        Some(pool_op(c, other, &inputs, None)?),
    ])
}

fn max_pool_grad(c: &GradContext<'_>) -> Grads {
    max_pool_grad_pair(c, &ops::MAX_POOL_GRAD_GRAD)
}

fn max_pool_grad_grad(c: &GradContext<'_>) -> Grads {
    max_pool_grad_pair(c, &ops::MAX_POOL_GRAD)
}

/// `AvgPool(x)`: `AvgPoolGrad(g)` with `orig_input_shape` = the shape of `x`.
fn avg_pool(c: &GradContext<'_>) -> Grads {
    let shape = shape_attr(c, c.input(0), "input")?;
    let g = pool_op(
        c,
        &ops::AVG_POOL_GRAD,
        &[c.grad(0)?],
        Some(("orig_input_shape", shape)),
    )?;
    Ok(vec![Some(g)])
}

/// `AvgPoolGrad(dy)` is linear in `dy`, its adjoint is `AvgPool(g)`.
fn avg_pool_grad(c: &GradContext<'_>) -> Grads {
    Ok(vec![Some(pool_op(c, &ops::AVG_POOL, &[c.grad(0)?], None)?)])
}

pub(super) fn register() {
    register_gradient(&ops::CONV2D, conv2d);
    register_gradient(&ops::CONV2D_BACKPROP_INPUT, conv2d_backprop_input);
    register_gradient(&ops::CONV2D_BACKPROP_FILTER, conv2d_backprop_filter);
    register_gradient(&ops::DEPTHWISE_CONV2D, depthwise_conv2d);
    register_gradient(
        &ops::DEPTHWISE_CONV2D_BACKPROP_INPUT,
        depthwise_conv2d_backprop_input,
    );
    register_gradient(
        &ops::DEPTHWISE_CONV2D_BACKPROP_FILTER,
        depthwise_conv2d_backprop_filter,
    );
    register_gradient(&ops::MAX_POOL, max_pool);
    register_gradient(&ops::MAX_POOL_GRAD, max_pool_grad);
    register_gradient(&ops::MAX_POOL_GRAD_GRAD, max_pool_grad_grad);
    register_gradient(&ops::AVG_POOL, avg_pool);
    register_gradient(&ops::AVG_POOL_GRAD, avg_pool_grad);
}
