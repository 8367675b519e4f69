//! Shape and layout ops: identity, reshape and the views.

use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;

fn infer_identity(ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(ctx.dtype(0), ctx.shape(0))
}

fn identity_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    Ok(vec![ctx.input(0).contiguous_host()?])
}

/// Resolves a reshape target (`-1` infers one dimension) against a partial input shape.
fn reshape_target(op: &'static str, input: &PartialShape, target: &[i64]) -> Result<PartialShape> {
    let mut infer_at = None;
    let mut known = 1usize;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => infer_at = Some(i),
            -1 => {
                return Err(Error::invalid(
                    op,
                    format!("can only infer one dimension: {target:?}"),
                ));
            }
            d if d < 0 => {
                return Err(Error::invalid(
                    op,
                    format!("size {d} at position {i} is negative: {target:?}"),
                ));
            }
            d => {
                known = known
                    .checked_mul(d as usize)
                    .ok_or_else(|| Error::invalid(op, "target shape overflows"))?
            }
        }
    }
    let total = input.num_elements();
    let mut out: PartialShape = target
        .iter()
        .map(|&d| (d >= 0).then_some(d as usize))
        .collect();
    match (infer_at, total) {
        (Some(i), Some(total)) => {
            if known == 0 || total % known != 0 {
                return Err(Error::invalid(
                    op,
                    format!(
                        "input of shape {input} ({total} elements) cannot be reshaped to {target:?}"
                    ),
                ));
            }
            out = out
                .iter()
                .enumerate()
                .map(|(j, d)| if j == i { Some(total / known) } else { *d })
                .collect();
        }
        (None, Some(total)) if total != known => {
            return Err(Error::invalid(
                op,
                format!(
                    "input of shape {input} has {total} elements, target {target:?} has {known}"
                ),
            ));
        }
        _ => {}
    }
    Ok(out)
}

fn infer_reshape(ctx: &InferContext<'_>) -> Result<Specs> {
    let target = ctx.attr_ints("shape")?;
    spec1(
        ctx.dtype(0),
        reshape_target(ctx.name(), &ctx.shape(0), target)?,
    )
}

fn reshape_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let shape: Shape = ctx.out_shape(0)?;
    // A view when the input is contiguous; otherwise copy first.
    let base = if x.is_contiguous() {
        x.clone()
    } else {
        x.contiguous_host()?
    };
    let strides = shape.contiguous_strides();
    Ok(vec![base.view(
        ctx.name(),
        shape,
        strides,
        base.offset(),
    )?])
}

/// Returns the input unchanged in value, as a contiguous tensor (`tf.identity`).
pub static IDENTITY: OpDef =
    OpDef::new("Identity", Arity::Fixed(1), infer_identity).cpu(DTypeSet::ALL, identity_kernel);
/// Reshape (attr `shape`, list of ints with at most one `-1`); a view when possible.
pub static RESHAPE: OpDef =
    OpDef::new("Reshape", Arity::Fixed(1), infer_reshape).cpu(DTypeSet::ALL, reshape_kernel);

pub(crate) static OPS: &[&OpDef] = &[&IDENTITY, &RESHAPE];

/// `tf.identity`: same value, contiguous; recorded by tapes (unlike
/// [`Tensor::contiguous_host`]).
pub fn identity(x: &Tensor) -> Result<Tensor> {
    call1(&IDENTITY, std::slice::from_ref(x), &Attrs::new())
}

/// `tf.reshape`: same elements in row-major order with a new shape; one dimension may
/// be `-1` (inferred). Shares storage when the input is contiguous.
///
/// Errors when the element counts differ.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    call1(
        &RESHAPE,
        std::slice::from_ref(x),
        &Attrs::new().with("shape", shape),
    )
}
