//! Gradients of linear algebra: `MatMul`, `BatchMatMulV2`, `BiasAdd` and `BiasAddGrad`
//! (TensorFlow's `_MatMulGrad`, `_BatchMatMulV2`, `_BiasAddGrad`, `_BiasAddGradGrad`).

use super::util::{broadcast_like, unbroadcast};
use crate::registry::{GradContext, register_gradient};
use tf_core::{Error, Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

fn flag(c: &GradContext<'_>, name: &str) -> bool {
    c.attrs.bool(name).unwrap_or(false)
}

/// The two gradients of `op(a) × op(b)` (`op` transposes when its flag is set), as
/// products of the incoming gradient with the other operand, built by `mm(x, y, tx, ty)`.
/// A gradient whose input is skipped (`need` false) is not computed.
fn product_grads(
    g: &Tensor,
    (a, b): (&Tensor, &Tensor),
    (ta, tb): (bool, bool),
    need: [bool; 2],
    mm: impl Fn(&Tensor, &Tensor, bool, bool) -> Result<Tensor>,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let ga = || match (ta, tb) {
        (false, false) => mm(g, b, false, true),
        (false, true) => mm(g, b, false, false),
        (true, false) => mm(b, g, false, true),
        (true, true) => mm(b, g, true, true),
    };
    let gb = || match (ta, tb) {
        (false, false) => mm(a, g, true, false),
        (false, true) => mm(g, a, true, false),
        (true, false) => mm(a, g, false, false),
        (true, true) => mm(g, a, true, true),
    };
    Ok((need[0].then(ga).transpose()?, need[1].then(gb).transpose()?))
}

fn matmul(c: &GradContext<'_>) -> Grads {
    let (a, b) = (c.input(0), c.input(1));
    if !a.dtype().is_float() {
        return Ok(vec![None, None]);
    }
    let (ga, gb) = product_grads(
        &c.grad(0)?,
        (a, b),
        (flag(c, "transpose_a"), flag(c, "transpose_b")),
        [c.needs_grad(0), c.needs_grad(1)],
        ops::matmul_transposed,
    )?;
    Ok(vec![ga, gb])
}

fn batch_matmul(c: &GradContext<'_>) -> Grads {
    let (x, y) = (c.input(0), c.input(1));
    if !x.dtype().is_float() {
        return Ok(vec![None, None]);
    }
    let (gx, gy) = product_grads(
        &c.grad(0)?,
        (x, y),
        (flag(c, "adj_x"), flag(c, "adj_y")),
        [c.needs_grad(0), c.needs_grad(1)],
        ops::batch_matmul,
    )?;
    // Broadcast batch dimensions are summed back (the matrix dimensions already match).
    Ok(vec![
        gx.map(|g| unbroadcast(&g, x)).transpose()?,
        gy.map(|g| unbroadcast(&g, y)).transpose()?,
    ])
}

fn data_format<'a>(c: &'a GradContext<'a>) -> &'a str {
    c.attrs.str("data_format").unwrap_or("NHWC")
}

fn bias_add(c: &GradContext<'_>) -> Grads {
    if !c.input(0).dtype().is_float() {
        return Ok(vec![None, None]);
    }
    let g = c.grad(0)?;
    let gb = ops::bias_add_grad(&g, data_format(c))?;
    Ok(vec![Some(g), Some(gb)])
}

/// The gradient of `BiasAddGrad` (a sum over all but the channel dimension): the
/// incoming `[C]` gradient broadcast back along the channel dimension.
fn bias_add_grad(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    if !x.dtype().is_float() {
        return Ok(vec![None]);
    }
    let g = c.grad(0)?;
    let rank = x.rank() as i64;
    let shape: Vec<i64> = match data_format(c) {
        "NCHW" => (0..rank).map(|d| if d == 1 { -1 } else { 1 }).collect(),
        "NHWC" => (0..rank)
            .map(|d| if d == rank - 1 { -1 } else { 1 })
            .collect(),
        other => {
            return Err(Error::invalid(
                "BiasAddGrad",
                format!("data_format must be \"NHWC\" or \"NCHW\", got {other:?}"),
            ));
        }
    };
    Ok(vec![Some(broadcast_like(&ops::reshape(&g, &shape)?, x)?)])
}

pub(super) fn register() {
    register_gradient(&ops::MATMUL, matmul);
    register_gradient(&ops::BATCH_MATMUL, batch_matmul);
    register_gradient(&ops::BIAS_ADD, bias_add);
    register_gradient(&ops::BIAS_ADD_GRAD, bias_add_grad);
}
