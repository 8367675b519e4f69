//! Dropout (`tf.nn.dropout`) as one stateful op with two outputs.
//!
//! Output 0 is `y`, output 1 is the `mask`: shaped like the noise (`noise_shape`, or
//! `x`'s shape), holding `1 / (1 - rate)` where an element is kept and 0 where it is
//! dropped, in `x`'s dtype. `y = x * mask` (broadcast), and the gradient is
//! `dy * mask`: both bit for bit what TensorFlow's `x * scale * keep_mask` gives.
//!
//! The noise is TensorFlow's: `RandomUniform` values in `x`'s dtype from the same
//! kernel stream as [`random_uniform`](crate::ops::random_uniform) with the same seeds,
//! kept where `u >= rate`. With `rate == 0`, `y` is `x` (a new view, no random draw and
//! no op seed consumed, as TensorFlow's fast path).

use super::fastmath::NnFloat;
use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, TensorSpec, call};
use crate::ops::elementwise::binary_map;
use crate::ops::random::{Dist, RANDOM_UNIFORM, Sampler, get_seed, run_dist, write_group};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;
use std::mem::MaybeUninit;

fn check_rate(op: &'static str, rate: f64) -> Result<()> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::invalid(
            op,
            format!("rate must be a scalar tensor or a float in the range [0, 1), got {rate}"),
        ));
    }
    Ok(())
}

/// The noise shape against `x`'s (partial) shape: `-1` entries take `x`'s dimension;
/// every dimension must equal `x`'s or be 1 (aligned from the right).
fn noise_shape(ctx: &InferContext<'_>, x: &PartialShape) -> Result<PartialShape> {
    let Some(ns) = ctx.attrs.ints("noise_shape") else {
        return Ok(x.clone());
    };
    let bad = || {
        Error::invalid(
            ctx.name(),
            format!("noise_shape {ns:?} does not broadcast to x's shape {x}"),
        )
    };
    if ns.len() > x.rank() {
        return Err(bad());
    }
    let off = x.rank() - ns.len();
    let mut out = PartialShape::new(&[]);
    for (i, &n) in ns.iter().enumerate() {
        let xd = x[off + i];
        let d = match n {
            -1 => xd,
            n if n < 0 => return Err(bad()),
            n => Some(n as usize),
        };
        if let (Some(d), Some(xd)) = (d, xd)
            && d != xd
            && d != 1
        {
            return Err(bad());
        }
        out.push(d);
    }
    Ok(out)
}

fn infer_dropout(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    check_rate(ctx.name(), ctx.attr_float("rate")?)?;
    let x = ctx.shape(0);
    let ns = noise_shape(ctx, &x)?;
    let mut s = Specs::new();
    s.push(TensorSpec::new(dt, x));
    s.push(TensorSpec::new(dt, ns));
    Ok(s)
}

/// The dropout mask drawn group by group from `RandomUniform`'s stream: `scale` where
/// the uniform value is `>= rate`, else 0.
struct MaskDist<T> {
    rate: T,
    scale: T,
}

impl<T: NnFloat + Sampler> Dist for MaskDist<T> {
    type T = T;
    const GROUP: usize = <T as Sampler>::GROUP;
    #[inline(always)]
    fn group(&self, w: [u32; 4], out: &mut [MaybeUninit<T>]) {
        let rate = self.rate.to_c();
        let u = T::uniform(w);
        write_group(
            u.map(|u| {
                if u.to_c() >= rate {
                    self.scale
                } else {
                    T::ZERO
                }
            }),
            out,
        );
    }
}

fn dropout_typed<T: NnFloat + Sampler>(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let rate = ctx.attr_float("rate")?;
    let mask_shape: Shape = ctx.out_shape(1)?;
    if rate == 0.0 {
        let y = x.view(
            ctx.name(),
            x.shape().clone(),
            x.strides().into(),
            x.offset(),
        )?;
        return Ok(vec![y, Tensor::ones(mask_shape, T::DTYPE)?]);
    }
    let dist = MaskDist {
        rate: T::from_f64(rate),
        scale: T::from_f64(1.0 / (1.0 - rate)),
    };
    let mask = run_dist(ctx, RANDOM_UNIFORM.name, mask_shape, &dist)?;
    let y = binary_map::<T, T>(x, &mask, x.shape(), |a, m| T::from_c(a.to_c() * m.to_c()))?;
    Ok(vec![y, mask])
}

fn dropout_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_float!(ctx.out_dtype(0), T => dropout_typed::<T>(ctx), other => Err(ctx.unsupported_dtype(other)))
}

/// `tf.nn.dropout` as one op: input `x` (float), attributes `rate` in `[0, 1)`,
/// optional `noise_shape` (ints, `-1` = `x`'s dimension, broadcasting to `x`), `seed`,
/// `seed2`. Outputs `y` and `mask` (see the module docs).
pub static DROPOUT: OpDef = OpDef::new("Dropout", Arity::Fixed(1), infer_dropout)
    .cpu(DTypeSet::FLOAT, dropout_kernel)
    .stateful();

/// `tf.nn.dropout(x, rate, noise_shape, seed)` returning `(y, mask)`: each element (or
/// each noise element, broadcast over `x` when `noise_shape` is given; `-1` entries
/// take `x`'s dimension) is kept with probability `1 - rate` and scaled by
/// `1 / (1 - rate)`, else zeroed. `mask` holds the scale or 0, so `y = x * mask`.
/// Seeds follow TensorFlow's model ([`set_random_seed`](crate::ops::set_random_seed)).
///
/// Errors on `rate` outside `[0, 1)`, a non-float `x`, or a `noise_shape` that does
/// not broadcast to `x`'s shape.
pub fn dropout_with_mask(
    x: &Tensor,
    rate: f64,
    noise_shape: Option<&[i64]>,
    seed: Option<u64>,
) -> Result<(Tensor, Tensor)> {
    check_rate(DROPOUT.name, rate)?;
    let (s1, s2) = if rate > 0.0 { get_seed(seed) } else { (0, 0) };
    let mut attrs = Attrs::new()
        .with("rate", rate)
        .with("seed", s1)
        .with("seed2", s2);
    if let Some(ns) = noise_shape {
        attrs.set("noise_shape", ns);
    }
    let mut out = call(&DROPOUT, std::slice::from_ref(x), &attrs)?;
    match (out.pop(), out.pop()) {
        (Some(mask), Some(y)) => Ok((y, mask)),
        _ => Err(Error::precondition(DROPOUT.name, "expected two outputs")),
    }
}

/// `tf.nn.dropout(x, rate, noise_shape, seed)`: [`dropout_with_mask`] without the mask.
///
/// ```
/// use tf_core::{DType, Tensor, ops};
/// let x = Tensor::ones([1000], DType::F32)?;
/// let y = ops::dropout(&x, 0.5, None, Some(1))?.to_vec::<f32>()?;
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn dropout(
    x: &Tensor,
    rate: f64,
    noise_shape: Option<&[i64]>,
    seed: Option<u64>,
) -> Result<Tensor> {
    Ok(dropout_with_mask(x, rate, noise_shape, seed)?.0)
}
