//! `FusedBatchNormGradV3`: the gradient of `FusedBatchNormV3` with respect to `x`,
//! `scale` and `offset` in two passes over the data (per-channel sums, then `dx`),
//! instead of the dozen elementwise passes its composition with other ops takes.

use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::parallel::{PAR_CHUNK, PAR_THRESHOLD, fill_vec};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, TensorSpec, call};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// The channel axis of `data_format` (absent = NHWC).
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

fn infer(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    let u = if dt == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let (g, x) = (ctx.shape(0), ctx.shape(1));
    if ctx.dtype(1) != dt {
        return Err(Error::invalid(
            ctx.name(),
            format!("x has dtype {}, y_backprop {dt}", ctx.dtype(1)),
        ));
    }
    if x.rank() != 4 && x.rank() != 5 {
        return Err(Error::invalid(
            ctx.name(),
            format!("x must be 4- or 5-dimensional, got shape {x}"),
        ));
    }
    let same = g.rank() == x.rank()
        && g.iter()
            .zip(x.iter())
            .all(|(a, b)| a.is_none() || b.is_none() || a == b);
    if !same {
        return Err(Error::invalid(
            ctx.name(),
            format!("y_backprop shape {g} differs from x shape {x}"),
        ));
    }
    let c = x[channel_axis(ctx, x.rank())?];
    for (i, name) in [(2, "scale"), (3, "reserve_space_1"), (4, "reserve_space_2")] {
        let p = ctx.shape(i);
        if ctx.dtype(i) != u || p.rank() != 1 || (p[0].is_some() && c.is_some() && p[0] != c) {
            return Err(Error::invalid(
                ctx.name(),
                format!(
                    "{name} must be a 1-D {u} tensor with the channel count of x {x}, got {} {p}",
                    ctx.dtype(i)
                ),
            ));
        }
    }
    let mut s = Specs::new();
    s.push(TensorSpec::new(dt, x));
    s.push(TensorSpec::new(u, PartialShape::new(&[c])));
    s.push(TensorSpec::new(u, PartialShape::new(&[c])));
    s.push(TensorSpec::new(u, PartialShape::new(&[Some(0)])));
    s.push(TensorSpec::new(u, PartialShape::new(&[Some(0)])));
    Ok(s)
}

/// Walks flat positions `start..start + len` of a contiguous tensor whose channel of
/// position `i` is `(i / inner) % channels`, calling `f(i, channel)`.
#[inline(always)]
fn for_channels(
    start: usize,
    len: usize,
    inner: usize,
    channels: usize,
    mut f: impl FnMut(usize, usize),
) {
    let end = start + len;
    if inner == 1 {
        let mut c = start % channels;
        for i in start..end {
            f(i, c);
            c += 1;
            if c == channels {
                c = 0;
            }
        }
        return;
    }
    let mut i = start;
    while i < end {
        let run = i / inner;
        let c = run % channels;
        let stop = end.min((run + 1) * inner);
        for j in i..stop {
            f(j, c);
        }
        i = stop;
    }
}

fn typed<T: Element>(ctx: &KernelContext<'_>, u: DType) -> Result<Vec<Tensor>> {
    let x = ctx.input(1);
    let axis = channel_axis(&ctx.infer(), x.rank())?;
    let channels = x.dims()[axis];
    let inner: usize = x.dims()[axis + 1..].iter().product();
    let training = ctx.attrs.bool("is_training").unwrap_or(true);
    let eps = ctx.attrs.float("epsilon").unwrap_or(1e-3);
    let eps = crate::with_float!(u, U => U::from_f64(eps).to_f64(), _other => eps);
    let scale = ctx.input(2).to_f64_vec()?;
    let mean = ctx.input(3).to_f64_vec()?;
    let var = ctx.input(4).to_f64_vec()?;
    let gd = ctx.input(0).host_data::<T>()?;
    let xd = x.host_data::<T>()?;
    let (g, xs): (&[T], &[T]) = (&gd, &xd);
    let n = xs.len();
    let stats = |v: Vec<f64>| -> Result<Tensor> {
        crate::with_float!(u, U => Tensor::from_host_vec(
            v.into_iter().map(U::from_f64).collect::<Vec<U>>(),
            Shape::new(&[channels]),
        ), other => Err(ctx.unsupported_dtype(other)))
    };
    let empty = || Tensor::zeros(Shape::new(&[0]), u);
    if channels == 0 || n == 0 {
        return Ok(vec![
            Tensor::zeros(x.shape().clone(), x.dtype())?,
            stats(vec![0.0; channels])?,
            stats(vec![0.0; channels])?,
            empty()?,
            empty()?,
        ]);
    }
    // Pass 1: per-channel sum(g) and sum(g * (x - mean)), in f64, chunk by chunk (merged
    // in chunk order: the result does not depend on the thread count).
    let sums_of = |k: usize| {
        let start = k * PAR_CHUNK;
        let len = PAR_CHUNK.min(n - start);
        let mut acc = vec![(0.0f64, 0.0f64); channels];
        for_channels(start, len, inner, channels, |i, c| {
            let gv = g[i].to_f64();
            let a = &mut acc[c];
            a.0 += gv;
            a.1 += gv * (xs[i].to_f64() - mean[c]);
        });
        acc
    };
    let chunks = n.div_ceil(PAR_CHUNK);
    let partial: Vec<Vec<(f64, f64)>> = if n >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        (0..chunks).into_par_iter().map(sums_of).collect()
    } else {
        (0..chunks).map(sums_of).collect()
    };
    let mut sum_g = vec![0.0f64; channels];
    let mut sum_gxm = vec![0.0f64; channels];
    for p in &partial {
        for (c, &(a, b)) in p.iter().enumerate() {
            sum_g[c] += a;
            sum_gxm[c] += b;
        }
    }
    // Pass 2: dx = k1 * g + k2 * (x - mean) + k3 per channel.
    let per_elem = (n / channels) as f64;
    let inv: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let k1: Vec<f64> = (0..channels).map(|c| scale[c] * inv[c]).collect();
    let (k2, k3): (Vec<f64>, Vec<f64>) = if training {
        (0..channels)
            .map(|c| {
                (
                    -k1[c] * inv[c] * inv[c] * sum_gxm[c] / per_elem,
                    -k1[c] * sum_g[c] / per_elem,
                )
            })
            .unzip()
    } else {
        (vec![0.0; channels], vec![0.0; channels])
    };
    let dx = fill_vec(n, |start, chunk| {
        for_channels(start, chunk.len(), inner, channels, |i, c| {
            let v = k1[c] * g[i].to_f64() + k2[c] * (xs[i].to_f64() - mean[c]) + k3[c];
            chunk[i - start].write(T::from_f64(v));
        });
    })?;
    let dscale: Vec<f64> = (0..channels).map(|c| sum_gxm[c] * inv[c]).collect();
    Ok(vec![
        Tensor::from_host_vec(dx, x.shape().clone())?,
        stats(dscale)?,
        stats(sum_g)?,
        empty()?,
        empty()?,
    ])
}

fn kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let u = ctx.out_dtype(1);
    crate::with_float!(ctx.input(0).dtype(), T => typed::<T>(ctx, u),
        other => Err(ctx.unsupported_dtype(other)))
}

/// TensorFlow's `FusedBatchNormGradV3` (CPU semantics): inputs `y_backprop`, `x` (4-D
/// or 5-D, same float dtype), `scale`, `reserve_space_1` (the mean), `reserve_space_2`
/// (the variance) — 1-D with the channel count, f32 (f64 for f64 `x`) — and
/// `reserve_space_3` (unused); attributes `epsilon` (default 0.001, like this
/// project's `FusedBatchNormV3`), `data_format` (default NHWC) and `is_training`
/// (default true). With `inv = rsqrt(variance + eps)` and `x̂ = (x - mean) * inv`
/// per channel, the outputs are `x_backprop` (training: `scale * inv * (g - mean(g) -
/// x̂ * mean(g * x̂))`; inference: `g * scale * inv`), `scale_backprop = sum(g * x̂)`,
/// `offset_backprop = sum(g)`, and two empty reserve spaces. Two passes over the data
/// with f64 sums, parallel above a size threshold.
pub static FUSED_BATCH_NORM_GRAD_V3: OpDef =
    OpDef::new("FusedBatchNormGradV3", Arity::Fixed(6), infer).cpu(DTypeSet::FLOAT, kernel);

/// `FusedBatchNormGradV3` (see [`FUSED_BATCH_NORM_GRAD_V3`]): `(x_backprop,
/// scale_backprop, offset_backprop)` of a fused batch norm of `x` normalized with
/// `mean` and `variance` (the batch statistics in training mode, the given ones in
/// inference), for the upstream gradient `y_backprop`.
///
/// Errors on mismatched shapes or dtypes, a bad rank or data format.
pub fn fused_batch_norm_grad(
    y_backprop: &Tensor,
    x: &Tensor,
    scale: &Tensor,
    mean: &Tensor,
    variance: &Tensor,
    epsilon: f64,
    data_format: &str,
    is_training: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let unused = Tensor::zeros(Shape::new(&[0]), scale.dtype())?;
    let out = call(
        &FUSED_BATCH_NORM_GRAD_V3,
        &[
            y_backprop.clone(),
            x.clone(),
            scale.clone(),
            mean.clone(),
            variance.clone(),
            unused,
        ],
        &Attrs::new()
            .with("epsilon", epsilon)
            .with("data_format", data_format.to_string())
            .with("is_training", is_training),
    )?;
    let mut it = out.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(dx), Some(ds), Some(db)) => Ok((dx, ds, db)),
        _ => Err(Error::precondition(
            FUSED_BATCH_NORM_GRAD_V3.name,
            "expected five outputs",
        )),
    }
}
