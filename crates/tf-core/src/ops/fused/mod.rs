//! Fused ops made by tf-graph's remapper (Grappler's names): `_FusedMatMul` and
//! `_FusedConv2D` compute `act(op(x, w) + bias)` with the bias and activation applied in
//! one pass over the op's freshly written output, in place.
//!
//! Inputs: `x`, `w`, `bias` (rank 1, the output's last dimension). Attributes: those of
//! `MatMul` / `Conv2D`, plus `activation`: `""` (bias only), `"Relu"` or `"Relu6"`.
//! Dtypes: float32 and float64. These are graph-optimizer internals: like TensorFlow's,
//! they have no gradient (graphs under a tape run unfused).

use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::op::{
    Arity, Attrs, InferContext, KernelContext, OpCall, OpDef, Specs, call1, execute_eager,
};
use crate::ops::{CONV2D, MATMUL};
use crate::tensor::Tensor;

/// The activations the fused kernels apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activation {
    None,
    Relu,
    Relu6,
}

fn activation(op: &'static str, attrs: &Attrs) -> Result<Activation> {
    match attrs.str("activation").unwrap_or("") {
        "" => Ok(Activation::None),
        "Relu" => Ok(Activation::Relu),
        "Relu6" => Ok(Activation::Relu6),
        other => Err(Error::invalid(
            op,
            format!(
                "unsupported fused activation '{other}' (expected \"\", \"Relu\" or \"Relu6\")"
            ),
        )),
    }
}

/// The base op's attributes (everything but `activation`).
fn base_attrs(attrs: &Attrs) -> Attrs {
    let mut a = Attrs::new();
    for (k, v) in attrs.iter() {
        if k != "activation" {
            a.set(k.to_string(), v.clone());
        }
    }
    a
}

fn infer_fused(ctx: &InferContext<'_>, base: &'static OpDef) -> Result<Specs> {
    activation(ctx.name(), ctx.attrs)?;
    let attrs = base_attrs(ctx.attrs);
    let specs = (base.infer)(&InferContext {
        op: base,
        inputs: &ctx.inputs[..2],
        attrs: &attrs,
    })?;
    let out = specs
        .first()
        .ok_or_else(|| Error::precondition(ctx.name(), "base op inferred no output"))?;
    let bias = ctx.input(2);
    let last = out.shape.dims().last().copied().flatten();
    let bias_len = bias.partial_shape().dims().first().copied().flatten();
    if bias.dtype() != out.dtype || bias.rank() != 1 {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "bias must be a rank-1 {} tensor, got {}{}",
                out.dtype,
                bias.dtype(),
                bias.partial_shape()
            ),
        ));
    }
    if let (Some(c), Some(b)) = (last, bias_len)
        && c != b
    {
        return Err(Error::invalid(
            ctx.name(),
            format!("bias has {b} elements, the output's last dimension is {c}"),
        ));
    }
    if !matches!(out.dtype, DType::F32 | DType::F64) {
        return Err(Error::invalid(
            ctx.name(),
            format!("dtype {} is not supported (float32, float64)", out.dtype),
        ));
    }
    Ok(specs)
}

fn apply<T: Element + std::ops::Add<Output = T> + PartialOrd>(
    out: &mut [T],
    bias: &[T],
    act: Activation,
    zero: T,
    six: T,
) {
    let c = bias.len();
    if c == 0 {
        return;
    }
    let go = |row: &mut [T]| {
        for (v, &b) in row.iter_mut().zip(bias) {
            let x = *v + b;
            *v = match act {
                Activation::None => x,
                Activation::Relu => {
                    if x > zero {
                        x
                    } else {
                        zero
                    }
                }
                Activation::Relu6 => {
                    if x > six {
                        six
                    } else if x > zero {
                        x
                    } else {
                        zero
                    }
                }
            };
        }
    };
    if out.len() >= crate::kernels::parallel::PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let rows_per_chunk = (crate::kernels::parallel::PAR_CHUNK / c).max(1);
        out.par_chunks_mut(rows_per_chunk * c)
            .for_each(|chunk| chunk.chunks_mut(c).for_each(go));
    } else {
        out.chunks_mut(c).for_each(go);
    }
}

fn fused_kernel(ctx: &KernelContext<'_>, base: &'static OpDef) -> Result<Vec<Tensor>> {
    let act = activation(ctx.name(), ctx.attrs)?;
    let attrs = base_attrs(ctx.attrs);
    let mut out = execute_eager(&OpCall::new(base, &ctx.inputs[..2], &attrs))?;
    let mut y = out
        .pop()
        .ok_or_else(|| Error::precondition(ctx.name(), "base op produced no output"))?;
    let bias = ctx.input(2);
    match y.dtype() {
        DType::F32 => {
            let b = bias.host_data::<f32>()?;
            match y.unique_host_vec_mut::<f32>() {
                Some(v) => apply(v, &b, act, 0.0, 6.0),
                None => return Err(Error::precondition(ctx.name(), "output not writable")),
            }
        }
        DType::F64 => {
            let b = bias.host_data::<f64>()?;
            match y.unique_host_vec_mut::<f64>() {
                Some(v) => apply(v, &b, act, 0.0, 6.0),
                None => return Err(Error::precondition(ctx.name(), "output not writable")),
            }
        }
        d => return Err(ctx.unsupported_dtype(d)),
    }
    Ok(vec![y])
}

fn infer_fused_matmul(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_fused(ctx, &MATMUL)
}
fn fused_matmul_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    fused_kernel(ctx, &MATMUL)
}
fn infer_fused_conv2d(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_fused(ctx, &CONV2D)
}
fn fused_conv2d_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    fused_kernel(ctx, &CONV2D)
}

const FLOATS: DTypeSet = DTypeSet::of(&[DType::F32, DType::F64]);

/// `act(matmul(a, b) + bias)` (Grappler's `_FusedMatMul`).
pub static FUSED_MATMUL: OpDef = OpDef::new("_FusedMatMul", Arity::Fixed(3), infer_fused_matmul)
    .cpu(FLOATS, fused_matmul_kernel);

/// `act(conv2d(x, filters) + bias)` (Grappler's `_FusedConv2D`).
pub static FUSED_CONV2D: OpDef = OpDef::new("_FusedConv2D", Arity::Fixed(3), infer_fused_conv2d)
    .cpu(FLOATS, fused_conv2d_kernel);

pub(crate) static OPS: &[&OpDef] = &[&FUSED_MATMUL, &FUSED_CONV2D];

/// `act(matmul(a, b) + bias)` in one op; `attrs` are MatMul's (`transpose_a`,
/// `transpose_b`) plus `activation` (`""`, `"Relu"`, `"Relu6"`).
pub fn fused_matmul(a: &Tensor, b: &Tensor, bias: &Tensor, attrs: &Attrs) -> Result<Tensor> {
    call1(&FUSED_MATMUL, &[a.clone(), b.clone(), bias.clone()], attrs)
}
