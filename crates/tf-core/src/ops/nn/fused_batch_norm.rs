//! `FusedBatchNormV3`: batch normalization over every dimension but the channel one,
//! in inference mode (given statistics) and training mode (batch statistics, running
//! averages), with TensorFlow's CPU outputs.

use super::fastmath::{Compute, NnFloat};
use super::normalize::affine;
use crate::dtype::{DType, DTypeSet};
use crate::error::{Error, Result};
use crate::kernels::alloc::alloc_uninit;
use crate::kernels::strided::{for_each_offsets, split_rows};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, TensorSpec, call};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;

/// The channel axis for the `data_format` attribute (absent = NHWC).
fn channel_axis(ctx: &InferContext<'_>, rank: usize) -> Result<usize> {
    match ctx.attrs.str("data_format").unwrap_or("NHWC") {
        "NHWC" | "NDHWC" => Ok(rank - 1),
        "NCHW" | "NCDHW" => Ok(1),
        other => Err(Error::invalid(
            ctx.name(),
            format!("data_format {other:?} is not supported (NHWC, NCHW, NDHWC, NCDHW)"),
        )),
    }
}

/// `is_training` (TensorFlow's default: true).
fn is_training(attrs: &Attrs) -> bool {
    attrs.bool("is_training").unwrap_or(true)
}

/// `exponential_avg_factor` (default 1: the batch statistics replace the running ones).
fn avg_factor(attrs: &Attrs) -> f64 {
    attrs.float("exponential_avg_factor").unwrap_or(1.0)
}

fn infer_fused_bn(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    let u = if dt == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let x = ctx.shape(0);
    if x.rank() != 4 && x.rank() != 5 {
        return Err(Error::invalid(
            ctx.name(),
            format!("input must be 4- or 5-dimensional, got shape {x}"),
        ));
    }
    let training = is_training(ctx.attrs);
    let factor = avg_factor(ctx.attrs);
    if factor.is_nan() {
        return Err(Error::invalid(ctx.name(), "exponential_avg_factor is NaN"));
    }
    // In training mode with a factor of 1 the running statistics are not read, and
    // TensorFlow accepts them empty.
    let stats_optional = training && factor == 1.0;
    let c = x[channel_axis(ctx, x.rank())?];
    for (i, name) in [(1, "scale"), (2, "offset"), (3, "mean"), (4, "variance")] {
        if ctx.dtype(i) != u {
            return Err(Error::invalid(
                ctx.name(),
                format!(
                    "{name} has dtype {}, expected {u} for x of dtype {dt}",
                    ctx.dtype(i)
                ),
            ));
        }
        let p = ctx.shape(i);
        let empty_ok = i >= 3 && stats_optional && p.rank() == 1 && p[0] == Some(0);
        if !empty_ok && (p.rank() != 1 || (p[0].is_some() && c.is_some() && p[0] != c)) {
            return Err(Error::invalid(
                ctx.name(),
                format!("{name} must be 1-D with the channel count of x {x}, got shape {p}"),
            ));
        }
    }
    let mut s = Specs::new();
    s.push(TensorSpec::new(dt, x));
    for _ in 0..4 {
        s.push(TensorSpec::new(u, PartialShape::new(&[c])));
    }
    s.push(TensorSpec::new(u, PartialShape::new(&[Some(0)])));
    Ok(s)
}

/// Walks `x` in row-major order calling `f(element, channel)` for each element.
fn map_channels<T: NnFloat>(
    x: &Tensor,
    axis: usize,
    f: impl Fn(T::C, usize) -> T,
) -> Result<Tensor> {
    let v = x.strided::<T>()?;
    let dims = x.dims();
    let (outer, inner) = split_rows(dims);
    let r = outer.len();
    let cstrides: Vec<usize> = (0..dims.len()).map(|d| usize::from(d == axis)).collect();
    let xs = x.strides();
    let mut out = alloc_uninit(x.num_elements())?;
    for_each_offsets(
        outer,
        [&xs[..r], &cstrides[..r]],
        [v.offset, 0],
        |[xo, co]| {
            for j in 0..inner {
                out.push(f(v.data[xo + j * xs[r]].to_c(), co + j * cstrides[r]));
            }
        },
    );
    Tensor::from_host_vec(out, x.shape().clone())
}

fn param<U: NnFloat>(ctx: &KernelContext<'_>, i: usize) -> Result<Vec<U::C>> {
    Ok(ctx
        .input(i)
        .to_vec::<U>()?
        .into_iter()
        .map(U::to_c)
        .collect())
}

fn contiguous_copy(ctx: &KernelContext<'_>, t: &Tensor) -> Result<Tensor> {
    t.contiguous_host()?.view(
        ctx.name(),
        t.shape().clone(),
        t.shape().contiguous_strides(),
        0,
    )
}

fn fused_bn_typed<T: NnFloat, U: NnFloat<C = T::C>>(
    ctx: &KernelContext<'_>,
) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axis = channel_axis(&ctx.infer(), x.rank())?;
    let eps = T::C::from_f64(U::from_f64(ctx.attrs.float("epsilon").unwrap_or(1e-3)).to_f64());
    let (scale, offset) = (param::<U>(ctx, 1)?, param::<U>(ctx, 2)?);
    let empty = || Tensor::from_host_vec(Vec::<U>::new(), Shape::new(&[0]));
    if !is_training(ctx.attrs) {
        let (mean, var) = (param::<U>(ctx, 3)?, param::<U>(ctx, 4)?);
        let ab: Vec<(T::C, T::C)> = (0..scale.len())
            .map(|j| affine(mean[j], var[j], Some(offset[j]), Some(scale[j]), eps))
            .collect();
        let y = map_channels::<T>(x, axis, |v, c| {
            let (a, b) = ab[c];
            T::from_c(v * a + b)
        })?;
        let mut outs = vec![y];
        for i in [3, 4, 3, 4] {
            outs.push(contiguous_copy(ctx, ctx.input(i))?);
        }
        outs.push(empty()?);
        return Ok(outs);
    }
    // Training: batch statistics over every dimension but the channel one (f64).
    let reduced: Vec<bool> = (0..x.rank()).map(|d| d != axis).collect();
    let (bm, bv) = crate::ops::reduce::mean_var_masked(ctx.name(), x, &reduced)?;
    let channels = bm.len();
    let n = x.num_elements() / channels.max(1);
    let adjust = if n > 1 {
        n as f64 / (n - 1) as f64
    } else {
        1.0
    };
    // y = (x - mean) * (rsqrt(var + eps) * scale) + offset, TensorFlow's CPU order.
    let ma: Vec<(T::C, T::C, T::C)> = (0..channels)
        .map(|j| {
            let m = U::from_f64(bm[j]).to_c();
            let v = U::from_f64(bv[j]).to_c();
            (m, T::C::ONE / (v + eps).sqrt() * scale[j], offset[j])
        })
        .collect();
    let y = map_channels::<T>(x, axis, |v, c| {
        let (m, a, o) = ma[c];
        T::from_c((v - m) * a + o)
    })?;
    let factor = avg_factor(ctx.attrs);
    let running = |batch: &[f64], adj: f64, old: usize| -> Result<Tensor> {
        let vals: Vec<U> = if factor == 1.0 {
            batch.iter().map(|&b| U::from_f64(b * adj)).collect()
        } else {
            let old = ctx.input(old).to_f64_vec()?;
            batch
                .iter()
                .zip(&old)
                .map(|(&b, &o)| U::from_f64((1.0 - factor) * o + factor * adj * b))
                .collect()
        };
        Tensor::from_host_vec(vals, Shape::new(&[channels]))
    };
    let saved = |v: &[f64]| {
        Tensor::from_host_vec(
            v.iter().map(|&b| U::from_f64(b)).collect::<Vec<U>>(),
            Shape::new(&[channels]),
        )
    };
    Ok(vec![
        y,
        running(&bm, 1.0, 3)?,
        running(&bv, adjust, 4)?,
        saved(&bm)?,
        saved(&bv)?,
        empty()?,
    ])
}

fn fused_bn_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    match ctx.input(0).dtype() {
        DType::F32 => fused_bn_typed::<f32, f32>(ctx),
        DType::F16 => fused_bn_typed::<half::f16, f32>(ctx),
        DType::BF16 => fused_bn_typed::<half::bf16, f32>(ctx),
        DType::F64 => fused_bn_typed::<f64, f64>(ctx),
        other => Err(ctx.unsupported_dtype(other)),
    }
}

/// TensorFlow's `FusedBatchNormV3` (CPU semantics): inputs `x` (4-D or 5-D), `scale`,
/// `offset`, `mean`, `variance` (1-D, channels; f32 for f16/bf16/f32 `x`, f64 for f64
/// `x`), attributes `epsilon` (default 0.001), `data_format` (default NHWC),
/// `is_training` (default true) and `exponential_avg_factor` (default 1).
///
/// Inference (`is_training = false`): `y = (x - mean) * rsqrt(variance + eps) * scale +
/// offset`; outputs `y`, `batch_mean` and `batch_variance` (copies of `mean` and
/// `variance`), `reserve_space_1/2` (the same) and an empty `reserve_space_3`.
///
/// Training: normalizes with the batch mean and (biased) variance over every dimension
/// but the channel one. `batch_mean` / `batch_variance` are the running statistics:
/// the batch mean and the Bessel-corrected batch variance (`n / (n - 1)`), blended as
/// `(1 - f) * old + f * new` when `f = exponential_avg_factor` is not 1 (`mean` and
/// `variance` may be empty when it is 1). `reserve_space_1/2` hold the batch mean and
/// biased variance (what the gradient uses); `reserve_space_3` is empty.
pub static FUSED_BATCH_NORM_V3: OpDef =
    OpDef::new("FusedBatchNormV3", Arity::Fixed(5), infer_fused_bn)
        .cpu(DTypeSet::FLOAT, fused_bn_kernel);

/// `tf.compat.v1.nn.fused_batch_norm(..., is_training=False)`: `y` for inference with
/// per-channel `scale`, `offset`, `mean`, `variance`; `data_format` "NHWC" or "NCHW"
/// (also NDHWC/NCDHW for 5-D).
///
/// Errors on a bad rank, data format, parameter shape or dtype.
pub fn fused_batch_norm_inference(
    x: &Tensor,
    scale: &Tensor,
    offset: &Tensor,
    mean: &Tensor,
    variance: &Tensor,
    epsilon: f64,
    data_format: &'static str,
) -> Result<Tensor> {
    let mut out = call(
        &FUSED_BATCH_NORM_V3,
        &[
            x.clone(),
            scale.clone(),
            offset.clone(),
            mean.clone(),
            variance.clone(),
        ],
        &Attrs::new()
            .with("epsilon", epsilon)
            .with("data_format", data_format)
            .with("is_training", false),
    )?;
    if out.is_empty() {
        return Err(Error::precondition(FUSED_BATCH_NORM_V3.name, "no outputs"));
    }
    Ok(out.swap_remove(0))
}

/// `tf.compat.v1.nn.fused_batch_norm(..., is_training=True)`: normalizes `x` with its
/// batch statistics per channel and returns `(y, running_mean, running_variance)` (see
/// [`FUSED_BATCH_NORM_V3`]): with `exponential_avg_factor` 1 the running statistics are
/// the batch mean and the Bessel-corrected batch variance, and `running` may be `None`;
/// otherwise `running = Some((mean, variance))` are blended with them.
///
/// Errors on a bad rank, data format, parameter shape or dtype, or a factor other than
/// 1 without running statistics.
pub fn fused_batch_norm_training(
    x: &Tensor,
    scale: &Tensor,
    offset: &Tensor,
    running: Option<(&Tensor, &Tensor)>,
    epsilon: f64,
    exponential_avg_factor: f64,
    data_format: &'static str,
) -> Result<(Tensor, Tensor, Tensor)> {
    let u = scale.dtype();
    let (mean, variance) = match running {
        Some((m, v)) => (m.clone(), v.clone()),
        None => (Tensor::zeros([0], u)?, Tensor::zeros([0], u)?),
    };
    let out = call(
        &FUSED_BATCH_NORM_V3,
        &[x.clone(), scale.clone(), offset.clone(), mean, variance],
        &Attrs::new()
            .with("epsilon", epsilon)
            .with("exponential_avg_factor", exponential_avg_factor)
            .with("data_format", data_format)
            .with("is_training", true),
    )?;
    let mut it = out.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(y), Some(m), Some(v)) => Ok((y, m, v)),
        _ => Err(Error::precondition(
            FUSED_BATCH_NORM_V3.name,
            "expected six outputs",
        )),
    }
}
