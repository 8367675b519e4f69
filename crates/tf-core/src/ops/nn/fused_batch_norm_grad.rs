//! `FusedBatchNormGradV3`: the gradient of `FusedBatchNormV3` with respect to `x`,
//! `scale` and `offset` in two passes over the data (per-channel sums, then `dx`),
//! instead of the dozen elementwise passes its composition with other ops takes.

use super::fastmath::{Compute, NnFloat};
use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::parallel::{PAR_THRESHOLD, fill_vec};
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

/// Widening of a compute value to f64 (for merging block sums).
trait Widen: Compute {
    fn wide(self) -> f64;
}
impl Widen for f32 {
    #[inline(always)]
    fn wide(self) -> f64 {
        f64::from(self)
    }
}
impl Widen for f64 {
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
}

/// Elements per parallel block (blocks are whole rows or whole runs).
const BLOCK: usize = 1 << 14;

/// The data as compute-type values (borrowed when the types coincide).
fn as_compute<T: NnFloat>(v: &[T]) -> std::borrow::Cow<'_, [T::C]> {
    match T::as_c(v) {
        Some(c) => std::borrow::Cow::Borrowed(c),
        None => std::borrow::Cow::Owned(v.iter().map(|&e| e.to_c()).collect()),
    }
}

/// Per-channel `(sum(g), sum(g * (x - mean)))` of contiguous data whose channel of
/// position `i` is `(i / inner) % channels`: short vectorizable loops accumulate in the
/// compute type per block (whole rows when `inner == 1`, whole runs of `inner`
/// otherwise), blocks merge in f64 in block order (thread-count independent).
fn channel_sums<C: Widen>(
    g: &[C],
    x: &[C],
    mean: &[C],
    channels: usize,
    inner: usize,
) -> (Vec<f64>, Vec<f64>) {
    let run = if inner == 1 { channels } else { inner };
    let runs = g.len() / run;
    let per_block = (BLOCK / run).max(1);
    let blocks = runs.div_ceil(per_block);
    let block = |b: usize| -> (Vec<f64>, Vec<f64>) {
        let (mut sg, mut sx) = (vec![0.0f64; channels], vec![0.0f64; channels]);
        let first = b * per_block;
        let last = (first + per_block).min(runs);
        if inner == 1 {
            let (mut ag, mut ax) = (vec![C::ZERO; channels], vec![C::ZERO; channels]);
            for r in first..last {
                let (gr, xr) = (&g[r * run..][..run], &x[r * run..][..run]);
                for ((((a, b), &gv), &xv), &m) in
                    ag.iter_mut().zip(ax.iter_mut()).zip(gr).zip(xr).zip(mean)
                {
                    *a = *a + gv;
                    *b = *b + gv * (xv - m);
                }
            }
            for c in 0..channels {
                sg[c] = ag[c].wide();
                sx[c] = ax[c].wide();
            }
        } else {
            const LANES: usize = 8;
            for r in first..last {
                let c = r % channels;
                let m = mean[c];
                let (gr, xr) = (&g[r * run..][..run], &x[r * run..][..run]);
                let (mut ag, mut ax) = ([C::ZERO; LANES], [C::ZERO; LANES]);
                let mut gc = gr.chunks_exact(LANES);
                let mut xc = xr.chunks_exact(LANES);
                for (gl, xl) in (&mut gc).zip(&mut xc) {
                    for l in 0..LANES {
                        ag[l] = ag[l] + gl[l];
                        ax[l] = ax[l] + gl[l] * (xl[l] - m);
                    }
                }
                for (&gv, &xv) in gc.remainder().iter().zip(xc.remainder()) {
                    ag[0] = ag[0] + gv;
                    ax[0] = ax[0] + gv * (xv - m);
                }
                sg[c] += ag.iter().map(|v| v.wide()).sum::<f64>();
                sx[c] += ax.iter().map(|v| v.wide()).sum::<f64>();
            }
        }
        (sg, sx)
    };
    let partial: Vec<(Vec<f64>, Vec<f64>)> =
        if g.len() >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
            (0..blocks).into_par_iter().map(block).collect()
        } else {
            (0..blocks).map(block).collect()
        };
    let (mut sum_g, mut sum_gxm) = (vec![0.0f64; channels], vec![0.0f64; channels]);
    for (pg, px) in &partial {
        for c in 0..channels {
            sum_g[c] += pg[c];
            sum_gxm[c] += px[c];
        }
    }
    (sum_g, sum_gxm)
}

/// Per-channel coefficients of `dx = k1 * g + k2 * (x - mean) + k3`.
struct Coefs<C> {
    k1: Vec<C>,
    k2: Vec<C>,
    k3: Vec<C>,
    mean: Vec<C>,
}

/// `dx` for contiguous `g`, `x`, walking segments of constant channel stride.
fn write_dx<T: NnFloat>(
    g: &[T::C],
    x: &[T::C],
    k: &Coefs<T::C>,
    channels: usize,
    inner: usize,
    with_x: bool,
) -> Result<Vec<T>> {
    fill_vec(g.len(), |start, chunk| {
        let mut pos = 0;
        while pos < chunk.len() {
            let i = start + pos;
            if inner == 1 {
                let c0 = i % channels;
                let len = (channels - c0).min(chunk.len() - pos);
                let out = &mut chunk[pos..pos + len];
                let (gs, xs) = (&g[i..i + len], &x[i..i + len]);
                let (k1, k2, k3, m) = (
                    &k.k1[c0..c0 + len],
                    &k.k2[c0..c0 + len],
                    &k.k3[c0..c0 + len],
                    &k.mean[c0..c0 + len],
                );
                if with_x {
                    for (((((o, &gv), &xv), &a), &b), (&c, &mv)) in out
                        .iter_mut()
                        .zip(gs)
                        .zip(xs)
                        .zip(k1)
                        .zip(k2)
                        .zip(k3.iter().zip(m))
                    {
                        o.write(T::from_c(a * gv + b * (xv - mv) + c));
                    }
                } else {
                    for ((o, &gv), &a) in out.iter_mut().zip(gs).zip(k1) {
                        o.write(T::from_c(a * gv));
                    }
                }
                pos += len;
            } else {
                let c = (i / inner) % channels;
                let len = (inner - i % inner).min(chunk.len() - pos);
                let out = &mut chunk[pos..pos + len];
                let (gs, xs) = (&g[i..i + len], &x[i..i + len]);
                let (a, b, cc, mv) = (k.k1[c], k.k2[c], k.k3[c], k.mean[c]);
                if with_x {
                    for ((o, &gv), &xv) in out.iter_mut().zip(gs).zip(xs) {
                        o.write(T::from_c(a * gv + b * (xv - mv) + cc));
                    }
                } else {
                    for (o, &gv) in out.iter_mut().zip(gs) {
                        o.write(T::from_c(a * gv));
                    }
                }
                pos += len;
            }
        }
    })
}

fn typed<T: NnFloat>(ctx: &KernelContext<'_>, u: DType) -> Result<Vec<Tensor>>
where
    T::C: Widen,
{
    let x = ctx.input(1);
    let axis = channel_axis(&ctx.infer(), x.rank())?;
    let channels = x.dims()[axis];
    let inner: usize = x.dims()[axis + 1..].iter().product();
    let training = ctx.attrs.bool("is_training").unwrap_or(true);
    let eps = ctx.attrs.float("epsilon").unwrap_or(1e-3);
    let eps = crate::with_float!(u, U => <U as Element>::from_f64(eps).to_f64(), _other => eps);
    let scale = ctx.input(2).to_f64_vec()?;
    let mean = ctx.input(3).to_f64_vec()?;
    let var = ctx.input(4).to_f64_vec()?;
    let n = x.num_elements();
    let stats = |v: Vec<f64>| -> Result<Tensor> {
        crate::with_float!(u, U => Tensor::from_host_vec(
            v.into_iter().map(<U as Element>::from_f64).collect::<Vec<U>>(),
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
    let gd = ctx.input(0).host_data::<T>()?;
    let xd = x.host_data::<T>()?;
    let (g, xs) = (as_compute::<T>(&gd), as_compute::<T>(&xd));
    let mean_c: Vec<T::C> = mean.iter().map(|&m| T::C::from_f64(m)).collect();
    // Pass 1: per-channel sums.
    let (sum_g, sum_gxm) = channel_sums(&g, &xs, &mean_c, channels, inner);
    // Pass 2: dx = k1 * g + k2 * (x - mean) + k3 per channel.
    let per_elem = (n / channels) as f64;
    let inv: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let k1: Vec<f64> = (0..channels).map(|c| scale[c] * inv[c]).collect();
    let coef = |f: &dyn Fn(usize) -> f64| -> Vec<T::C> {
        (0..channels).map(|c| T::C::from_f64(f(c))).collect()
    };
    let k = Coefs {
        k1: coef(&|c| k1[c]),
        k2: coef(&|c| {
            if training {
                -k1[c] * inv[c] * inv[c] * sum_gxm[c] / per_elem
            } else {
                0.0
            }
        }),
        k3: coef(&|c| {
            if training {
                -k1[c] * sum_g[c] / per_elem
            } else {
                0.0
            }
        }),
        mean: mean_c,
    };
    let dx = write_dx::<T>(&g, &xs, &k, channels, inner, training)?;
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
