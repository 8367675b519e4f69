//! `Cast` between all dtypes with `tf.cast` semantics (see [`Element::cast`]).

use super::kernel::unary_map_fn;
use crate::dtype::{DType, DTypeSet, Element};
use crate::error::Result;
use crate::kernels::simd::{bf16_to_f32, f32_to_bf16};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::tensor::Tensor;
use half::bf16;

fn infer_cast(ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(ctx.attr_dtype("DstT")?, ctx.shape(0))
}

fn cast_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let to = ctx.out_dtype(0);
    if x.dtype() == to {
        // A new handle (new id) sharing the storage: no copy.
        return Ok(vec![x.view(
            ctx.name(),
            x.shape().clone(),
            x.strides().into(),
            x.offset(),
        )?]);
    }
    // The two hottest conversions use the branch-free bf16 helpers so they vectorize.
    match (x.dtype(), to) {
        (DType::F32, DType::BF16) => return Ok(vec![unary_map_fn::<f32, bf16>(x, f32_to_bf16)?]),
        (DType::BF16, DType::F32) => return Ok(vec![unary_map_fn::<bf16, f32>(x, bf16_to_f32)?]),
        _ => {}
    }
    crate::with_dtype!(x.dtype(), S => {
        crate::with_dtype!(to, D => {
            Ok(vec![unary_map_fn::<S, D>(x, |v: S| v.cast::<D>())?])
        })
    })
}

/// Converts to the dtype in attribute `DstT` (TensorFlow's `Cast`): float to int
/// truncates toward zero and saturates (NaN becomes 0), int to int wraps, anything to
/// bool is `!= 0`, to half types rounds to nearest even. Keyed on the source dtype.
pub static CAST: OpDef =
    OpDef::new("Cast", Arity::Fixed(1), infer_cast).cpu(DTypeSet::ALL, cast_kernel);

pub(crate) static OPS: &[&OpDef] = &[&CAST];

/// `tf.cast(x, dtype)`: `x` converted to `dtype` with `tf.cast` semantics (see
/// [`Element::cast`]). Casting to the same dtype returns a new tensor handle sharing
/// `x`'s storage (no element is copied).
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    call1(
        &CAST,
        std::slice::from_ref(x),
        &Attrs::new().with("DstT", dtype),
    )
}
