//! Gradients of neural-network ops: softmax, log-softmax, the fused softmax
//! cross-entropies (with the gradient of their backprop output, for second
//! derivatives), l2_normalize, batch normalization (composed and fused, inference and
//! training) and dropout. Formulas follow TensorFlow's `nn_grad.py`; where an op here
//! is one fused op for what TensorFlow composes (`L2Normalize`, `BatchNormalization`),
//! the gradient is the one TensorFlow's composition gives.

use super::util::{scalar_like, unbroadcast};
use crate::registry::{GradContext, register_gradient};
use crate::tape::GradientTape;
use tf_core::{DType, Error, Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

/// The gradient of output `i` when it is connected (`None` when unconnected), so
/// terms for unconnected outputs can be skipped rather than multiplied by zeros.
fn connected(c: &GradContext<'_>, i: usize) -> Option<Tensor> {
    c.grads.get(i).and_then(Clone::clone)
}

fn softmax_axis(c: &GradContext<'_>) -> i64 {
    c.attrs.int("axis").unwrap_or(-1)
}

/// `(g - sum(g * y)) * y` along the axis (`_SoftmaxGrad`).
fn softmax(c: &GradContext<'_>) -> Grads {
    let (y, g) = (c.output(0), c.grad(0)?);
    let s = ops::reduce_sum(&ops::mul(&g, y)?, Some(&[softmax_axis(c)]), true)?;
    Ok(vec![Some(ops::mul(&ops::sub(&g, &s)?, y)?)])
}

/// `g - sum(g) * softmax(x)` along the axis (`_LogSoftmaxGrad`; the softmax is
/// recomputed from the input, equal to TensorFlow's `exp(output)`).
fn log_softmax(c: &GradContext<'_>) -> Grads {
    let axis = softmax_axis(c);
    let g = c.grad(0)?;
    let s = ops::reduce_sum(&g, Some(&[axis]), true)?;
    let sm = ops::softmax(c.input(0), axis)?;
    Ok(vec![Some(ops::sub(&g, &ops::mul(&s, &sm)?)?)])
}

/// `v[:, None]` for the `[batch]` gradient of a per-row loss.
fn column(v: &Tensor) -> Result<Tensor> {
    ops::reshape(v, &[-1, 1])
}

/// The logits gradient of a fused cross-entropy (`_SoftmaxCrossEntropyWithLogitsGrad`):
/// `grad_loss[:, None] * backprop`, plus, when the backprop output itself has a
/// gradient `gg` (second derivatives), the softmax Jacobian applied to it:
/// `(gg - sum(gg * softmax)) * softmax`.
fn xent_logits_grad(c: &GradContext<'_>, grad_loss: &Tensor) -> Result<Tensor> {
    let logits = c.input(0);
    let mut gx = ops::mul(&column(grad_loss)?, c.output(1))?;
    if let Some(gg) = connected(c, 1) {
        let sm = ops::softmax(logits, -1)?;
        let proj = ops::reduce_sum(&ops::mul(&gg, &sm)?, Some(&[-1]), true)?;
        gx = ops::add(&gx, &ops::mul(&ops::sub(&gg, &proj)?, &sm)?)?;
    }
    unbroadcast(&gx, logits)
}

/// Dense labels: logits as above; labels get `-grad_loss[:, None] * log_softmax(logits)`
/// like TensorFlow, minus the backprop output's gradient (`backprop = softmax -
/// labels`), a term TensorFlow omits: it is zero unless that output is differentiated.
fn softmax_xent(c: &GradContext<'_>) -> Grads {
    let grad_loss = c.grad(0)?;
    let gx = xent_logits_grad(c, &grad_loss)?;
    let mut gl = ops::mul(
        &column(&grad_loss)?,
        &ops::neg(&ops::log_softmax(c.input(0), -1)?)?,
    )?;
    if let Some(gg) = connected(c, 1) {
        gl = ops::sub(&gl, &gg)?;
    }
    Ok(vec![Some(gx), Some(unbroadcast(&gl, c.input(1))?)])
}

/// Class indices get no gradient.
fn sparse_softmax_xent(c: &GradContext<'_>) -> Grads {
    let gx = xent_logits_grad(c, &c.grad(0)?)?;
    Ok(vec![Some(gx), None])
}

/// `y = x * rsqrt(max(sum(x²), eps))`: `dx = inv * (g - y * sum(g * y) * [sum(x²) >=
/// eps])`, what TensorFlow's composition gives (its `Maximum` gradient goes to the
/// sum of squares where it is `>= eps`).
fn l2_normalize(c: &GradContext<'_>) -> Grads {
    let (x, y, g) = (c.input(0), c.output(0), c.grad(0)?);
    let axes = c.attrs.ints("axis").ok_or_else(|| {
        Error::invalid("L2Normalize", "missing 'axis' attribute on a recorded call")
    })?;
    let eps = scalar_like(x, c.attrs.float("epsilon").unwrap_or(1e-12))?;
    let ss = ops::reduce_sum(&ops::mul(x, x)?, Some(axes), true)?;
    let inv = ops::rsqrt(&ops::maximum(&ss, &eps)?)?;
    let through_norm = ops::cast(&ops::greater_equal(&ss, &eps)?, x.dtype())?;
    let gy = ops::reduce_sum(&ops::mul(&g, y)?, Some(axes), true)?;
    let proj = ops::mul(y, &ops::mul(&gy, &through_norm)?)?;
    Ok(vec![Some(ops::mul(&inv, &ops::sub(&g, &proj)?)?)])
}

/// `y = x * inv + (offset - mean * inv)`, `inv = rsqrt(variance + eps) * scale` (the
/// inputs broadcast against `x`): each input's gradient summed back to its shape.
fn batch_normalization(c: &GradContext<'_>) -> Grads {
    let has_offset = c.attrs.bool("has_offset").unwrap_or(false);
    let has_scale = c.attrs.bool("has_scale").unwrap_or(false);
    let (x, mean, var) = (c.input(0), c.input(1), c.input(2));
    let offset = has_offset.then(|| c.input(3));
    let scale = has_scale.then(|| c.input(3 + usize::from(has_offset)));
    let eps = scalar_like(x, c.attrs.float("variance_epsilon").unwrap_or(0.0))?;
    let g = c.grad(0)?;
    let inv0 = ops::rsqrt(&ops::add(var, &eps)?)?;
    let inv = match scale {
        Some(s) => ops::mul(&inv0, s)?,
        None => inv0.clone(),
    };
    let g_inv = ops::mul(&g, &inv)?;
    let g_xm = ops::mul(&g, &ops::sub(x, mean)?)?;
    // d inv / d variance = -0.5 * inv * inv0².
    let dinv_dvar = ops::mul(
        &inv,
        &ops::mul(&ops::mul(&inv0, &inv0)?, &scalar_like(x, -0.5)?)?,
    )?;
    let mut out = vec![
        Some(unbroadcast(&g_inv, x)?),
        Some(unbroadcast(&ops::neg(&g_inv)?, mean)?),
        Some(unbroadcast(&ops::mul(&g_xm, &dinv_dvar)?, var)?),
    ];
    if let Some(o) = offset {
        out.push(Some(unbroadcast(&g, o)?));
    }
    if let Some(s) = scale {
        out.push(Some(unbroadcast(&ops::mul(&g_xm, &inv0)?, s)?));
    }
    Ok(out)
}

/// The channel axis of a fused batch norm's `data_format`.
fn bn_channel_axis(c: &GradContext<'_>, rank: usize) -> Result<usize> {
    match c.attrs.str("data_format").unwrap_or("NHWC") {
        "NHWC" | "NDHWC" => Ok(rank.saturating_sub(1)),
        "NCHW" | "NCDHW" => Ok(1),
        other => Err(Error::invalid(
            "FusedBatchNormV3",
            format!("data_format {other:?} is not supported (NHWC, NCHW, NDHWC, NCDHW)"),
        )),
    }
}

/// Per-channel vectors reshaped to broadcast against `x` along the channel axis, and
/// the reductions back to per-channel vectors.
struct Channels {
    shape: Vec<i64>,
    axes: Vec<i64>,
}

impl Channels {
    fn new(rank: usize, axis: usize) -> Channels {
        Channels {
            shape: (0..rank).map(|d| if d == axis { -1 } else { 1 }).collect(),
            axes: (0..rank as i64).filter(|&d| d != axis as i64).collect(),
        }
    }
    fn bc(&self, v: &Tensor) -> Result<Tensor> {
        ops::reshape(v, &self.shape)
    }
    fn sum(&self, t: &Tensor) -> Result<Tensor> {
        ops::reduce_sum(t, Some(&self.axes), false)
    }
}

/// Elements per channel as a scalar (shape known) or a per-channel vector, of `dtype`.
fn per_channel_count(x: &Tensor, ch: &Channels, dtype: DType) -> Result<Tensor> {
    let p = x.partial_shape();
    let known: Option<Vec<usize>> = ch.axes.iter().map(|&a| p[a as usize]).collect();
    if let Some(dims) = known {
        let n: usize = dims.iter().product();
        return ops::cast(&Tensor::from_scalar(n as f64), dtype);
    }
    ch.sum(&ops::ones_like(&ops::cast(x, dtype)?)?)
}

/// A recorded fused batch norm (or its gradient op): what both gradients read.
struct FusedBn<'c> {
    x: &'c Tensor,
    scale: &'c Tensor,
    eps: f64,
    format: &'c str,
    training: bool,
    ch: Channels,
}

impl<'c> FusedBn<'c> {
    fn new(c: &'c GradContext<'c>, x: &'c Tensor, scale: &'c Tensor) -> Result<FusedBn<'c>> {
        Ok(FusedBn {
            x,
            scale,
            eps: c.attrs.float("epsilon").unwrap_or(1e-3),
            format: c.attrs.str("data_format").unwrap_or("NHWC"),
            training: c.attrs.bool("is_training").unwrap_or(true),
            ch: Channels::new(x.rank(), bn_channel_axis(c, x.rank())?),
        })
    }

    /// `t` in the statistics' dtype.
    fn to_u(&self, t: &Tensor) -> Result<Tensor> {
        if t.dtype() == self.scale.dtype() {
            Ok(t.clone())
        } else {
            ops::cast(t, self.scale.dtype())
        }
    }

    /// `FusedBatchNormGradV3`'s outputs composed of tf-core ops (the same formulas):
    /// what differentiating the fused gradient op goes through.
    fn composed_backward(
        &self,
        g: &Tensor,
        mean: &Tensor,
        var: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (ch, u) = (&self.ch, self.scale.dtype());
        let (xu, g) = (self.to_u(self.x)?, self.to_u(g)?);
        let eps = scalar_like(self.scale, self.eps)?;
        let inv = ops::rsqrt(&ops::add(var, &eps)?)?;
        let xhat = ops::mul(&ops::sub(&xu, &ch.bc(mean)?)?, &ch.bc(&inv)?)?;
        let sum_g = ch.sum(&g)?;
        let sum_gx = ch.sum(&ops::mul(&g, &xhat)?)?;
        let a = ch.bc(&ops::mul(self.scale, &inv)?)?;
        let mut dx = if self.training {
            let n = per_channel_count(self.x, ch, u)?;
            let centered = ops::sub(
                &ops::sub(&g, &ch.bc(&ops::real_div(&sum_g, &n)?)?)?,
                &ops::mul(&xhat, &ch.bc(&ops::real_div(&sum_gx, &n)?)?)?,
            )?;
            ops::mul(&a, &centered)?
        } else {
            ops::mul(&g, &a)?
        };
        if dx.dtype() != self.x.dtype() {
            dx = ops::cast(&dx, self.x.dtype())?;
        }
        Ok((dx, sum_gx, sum_g))
    }
}

/// `FusedBatchNormV3` (`_FusedBatchNormGrad`), through the two-pass
/// `FusedBatchNormGradV3` op.
///
/// Inference: `dx = g * scale * rsqrt(var + eps)`, `dscale = sum(g * (x - mean) *
/// rsqrt(var + eps))`, `doffset = sum(g)`. Training (batch statistics from the reserve
/// spaces): `dx = scale * inv * (g - mean(g) - x̂ * mean(g * x̂))`, `dscale = sum(g *
/// x̂)`, `doffset = sum(g)`. The `mean`/`variance` inputs get no gradient, as in
/// TensorFlow. In training mode the batch-statistic outputs (running mean/variance,
/// reserve spaces) also pass their gradients on to `x` (TensorFlow drops them; they
/// are zero unless differentiated), which also makes second derivatives through the
/// reserve spaces exact.
fn fused_batch_norm(c: &GradContext<'_>) -> Grads {
    let bn = FusedBn::new(c, c.input(0), c.input(1))?;
    let (mean, var) = if bn.training {
        (c.output(3), c.output(4))
    } else {
        (c.input(3), c.input(4))
    };
    let (mut dx, dscale, doffset) = ops::fused_batch_norm_grad(
        &c.grad(0)?,
        bn.x,
        bn.scale,
        mean,
        var,
        bn.eps,
        bn.format,
        bn.training,
    )?;
    if bn.training {
        let n = per_channel_count(bn.x, &bn.ch, bn.scale.dtype())?;
        if let Some(extra) = batch_stat_grads(c, &bn.to_u(bn.x)?, mean, &n, &bn.ch)? {
            let extra = if extra.dtype() == dx.dtype() {
                extra
            } else {
                ops::cast(&extra, dx.dtype())?
            };
            dx = ops::add(&dx, &extra)?;
        }
    }
    Ok(vec![Some(dx), Some(dscale), Some(doffset), None, None])
}

/// `FusedBatchNormGradV3` (inputs `g, x, scale, mean, variance, reserve_space_3`):
/// differentiates the same formulas composed of tf-core ops under a local tape, so the
/// fused op has exact second (and, through outer tapes, higher) derivatives.
fn fused_batch_norm_grad(c: &GradContext<'_>) -> Grads {
    let bn = FusedBn::new(c, c.input(1), c.input(2))?;
    let (g, mean, var) = (c.input(0), c.input(3), c.input(4));
    let tape = GradientTape::new();
    for t in [g, bn.x, bn.scale, mean, var] {
        tape.watch(t);
    }
    let (dx, dscale, doffset) = bn.composed_backward(g, mean, var)?;
    let mut target: Option<Tensor> = None;
    for (i, out) in [dx, dscale, doffset].iter().enumerate() {
        let Some(gg) = connected(c, i) else { continue };
        let term = bn.to_u(&ops::reduce_sum(&ops::mul(out, &gg)?, None, false)?)?;
        target = Some(match target {
            Some(t) => ops::add(&t, &term)?,
            None => term,
        });
    }
    let Some(target) = target else {
        return Ok(vec![None; 6]);
    };
    let mut grads = tape.gradient(&target, &[g, bn.x, bn.scale, mean, var])?;
    grads.push(None);
    Ok(grads)
}

/// The gradient reaching `x` (in the statistics' dtype) through the training-mode
/// batch-statistic outputs: running mean `(1-f)·old + f·m` (1), running variance
/// `(1-f)·old + f·n/(n-1)·v` (2), batch mean `m` (3), biased batch variance `v` (4),
/// with `dm/dx = 1/n` and `dv/dx = 2 (x - m) / n`. `None` when none is connected.
fn batch_stat_grads(
    c: &GradContext<'_>,
    xu: &Tensor,
    mean: &Tensor,
    n: &Tensor,
    ch: &Channels,
) -> Result<Option<Tensor>> {
    let gs: Vec<Option<Tensor>> = (1..=4).map(|i| connected(c, i)).collect();
    if gs.iter().all(Option::is_none) {
        return Ok(None);
    }
    let f = scalar_like(mean, c.attrs.float("exponential_avg_factor").unwrap_or(1.0))?;
    let one = scalar_like(mean, 1.0)?;
    let sum = |a: Option<Tensor>, b: Option<Tensor>| -> Result<Option<Tensor>> {
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(ops::add(&a, &b)?),
            (a, b) => a.or(b),
        })
    };
    // Per-channel gradients of the batch mean and of the biased batch variance.
    let g_mean = sum(
        gs[0].as_ref().map(|g| ops::mul(g, &f)).transpose()?,
        gs[2].clone(),
    )?;
    let adjust = ops::real_div(n, &ops::maximum(&ops::sub(n, &one)?, &one)?)?;
    let g_var = sum(
        gs[1]
            .as_ref()
            .map(|g| ops::mul(g, &ops::mul(&f, &adjust)?))
            .transpose()?,
        gs[3].clone(),
    )?;
    let mut out: Option<Tensor> = None;
    if let Some(gm) = g_mean {
        out = Some(ch.bc(&ops::real_div(&gm, n)?)?);
    }
    if let Some(gv) = g_var {
        let two_over_n = ops::real_div(&scalar_like(mean, 2.0)?, n)?;
        let term = ops::mul(
            &ops::sub(xu, &ch.bc(mean)?)?,
            &ch.bc(&ops::mul(&gv, &two_over_n)?)?,
        )?;
        out = sum(out, Some(term))?;
    }
    Ok(out)
}

/// `dx = g * mask` (the mask holds `1 / (1 - rate)` or 0 and broadcasts over `x` with
/// `noise_shape`): exactly TensorFlow's `g * scale * keep_mask`. The mask output is
/// random, not a function of `x`.
fn dropout(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let gx = ops::mul(&c.grad(0)?, c.output(1))?;
    Ok(vec![Some(unbroadcast(&gx, x)?)])
}

pub(super) fn register() {
    register_gradient(&ops::SOFTMAX, softmax);
    register_gradient(&ops::LOG_SOFTMAX, log_softmax);
    register_gradient(&ops::SOFTMAX_CROSS_ENTROPY_WITH_LOGITS, softmax_xent);
    register_gradient(
        &ops::SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
        sparse_softmax_xent,
    );
    register_gradient(&ops::L2_NORMALIZE, l2_normalize);
    register_gradient(&ops::BATCH_NORMALIZATION, batch_normalization);
    register_gradient(&ops::FUSED_BATCH_NORM_V3, fused_batch_norm);
    register_gradient(&ops::FUSED_BATCH_NORM_GRAD_V3, fused_batch_norm_grad);
    register_gradient(&ops::DROPOUT, dropout);
}
