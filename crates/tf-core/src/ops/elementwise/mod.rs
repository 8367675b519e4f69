//! Elementwise ops: unary math, binary arithmetic with broadcasting.

mod arith;
mod kernel;

pub use arith::Arith;
pub use kernel::{binary_map, unary_map};

use crate::dtype::DTypeSet;
use crate::error::Result;
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::broadcast_partial;
use crate::tensor::Tensor;

fn infer_binary_numeric(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    spec1(
        dt,
        broadcast_partial(ctx.name(), &ctx.shape(0), &ctx.shape(1))?,
    )
}

fn infer_unary_signed(ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(ctx.check_dtype(0, DTypeSet::SIGNED)?, ctx.shape(0))
}

fn infer_unary_numeric(ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(ctx.check_dtype(0, DTypeSet::NUMERIC)?, ctx.shape(0))
}

macro_rules! binary_kernel {
    ($name:ident, $f:path) => {
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            let shape = ctx.out_shape(0)?;
            crate::with_numeric!(ctx.out_dtype(0), T => {
                Ok(vec![binary_map::<T, T>(ctx.input(0), ctx.input(1), &shape, $f)?])
            }, other => Err(ctx.unsupported_dtype(other)))
        }
    };
}
macro_rules! unary_kernel {
    ($name:ident, $f:path) => {
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            crate::with_numeric!(ctx.out_dtype(0), T => {
                Ok(vec![unary_map::<T, T>(ctx.input(0), $f)?])
            }, other => Err(ctx.unsupported_dtype(other)))
        }
    };
}

binary_kernel!(add_kernel, Arith::add);
binary_kernel!(sub_kernel, Arith::sub);
unary_kernel!(neg_kernel, Arith::neg);
unary_kernel!(relu_kernel, Arith::relu);

/// `x + y` with broadcasting (TensorFlow's `AddV2`).
pub static ADD: OpDef =
    OpDef::new("AddV2", Arity::Fixed(2), infer_binary_numeric).cpu(DTypeSet::NUMERIC, add_kernel);
/// `x - y` with broadcasting.
pub static SUB: OpDef =
    OpDef::new("Sub", Arity::Fixed(2), infer_binary_numeric).cpu(DTypeSet::NUMERIC, sub_kernel);
/// `-x`.
pub static NEG: OpDef =
    OpDef::new("Neg", Arity::Fixed(1), infer_unary_signed).cpu(DTypeSet::SIGNED, neg_kernel);
/// `max(x, 0)`.
pub static RELU: OpDef =
    OpDef::new("Relu", Arity::Fixed(1), infer_unary_numeric).cpu(DTypeSet::NUMERIC, relu_kernel);

pub(crate) static OPS: &[&OpDef] = &[&ADD, &SUB, &NEG, &RELU];

/// `x + y` with NumPy broadcasting (`tf.add`). Dtypes must match.
pub fn add(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    call1(&ADD, &[x.clone(), y.clone()], &Attrs::new())
}

/// `x - y` with broadcasting (`tf.subtract`).
pub fn sub(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    call1(&SUB, &[x.clone(), y.clone()], &Attrs::new())
}

/// `-x` (`tf.negative`); signed dtypes.
pub fn neg(x: &Tensor) -> Result<Tensor> {
    call1(&NEG, std::slice::from_ref(x), &Attrs::new())
}

/// `max(x, 0)` (`tf.nn.relu`).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    call1(&RELU, std::slice::from_ref(x), &Attrs::new())
}
