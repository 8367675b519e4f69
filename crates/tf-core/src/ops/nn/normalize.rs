//! Normalization: `l2_normalize` and `batch_normalization` (`FusedBatchNormV3` is in
//! `fused_batch_norm`).
//!
//! `tf.math.l2_normalize` and `tf.nn.batch_normalization` are compositions of
//! elementwise ops in TensorFlow; here each is one fused op ("L2Normalize",
//! "BatchNormalization") computing the same formula in the same order.

use super::fastmath::{Compute, NnFloat};
use super::rows::{fill_rows, reader};
use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::kernels::alloc::alloc_uninit;
use crate::kernels::strided::{for_each_offsets, split_rows};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{broadcast_partial, broadcast_strides, normalize_axis};
use crate::tensor::Tensor;

/// The `axis` list attribute, normalized, sorted and checked for duplicates.
fn axes_attr(ctx: &InferContext<'_>, rank: usize) -> Result<Vec<usize>> {
    let raw = ctx.attr_ints("axis")?;
    let mut axes = Vec::with_capacity(raw.len());
    for &a in raw {
        let a = normalize_axis(ctx.name(), a, rank)?;
        if axes.contains(&a) {
            return Err(Error::invalid(
                ctx.name(),
                format!("axis {raw:?} names dimension {a} twice"),
            ));
        }
        axes.push(a);
    }
    axes.sort_unstable();
    Ok(axes)
}

fn infer_l2(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    let shape = ctx.shape(0);
    axes_attr(ctx, shape.rank())?;
    let eps = ctx.attr_float("epsilon")?;
    if eps.is_nan() {
        return Err(Error::invalid(ctx.name(), "epsilon is NaN"));
    }
    spec1(dt, shape)
}

fn l2_typed<T: NnFloat>(ctx: &KernelContext<'_>) -> Result<Tensor> {
    let x = ctx.input(0);
    let axes = axes_attr(&ctx.infer(), x.rank())?;
    let eps = T::C::from_f64(T::from_f64(ctx.attr_float("epsilon")?).to_f64());
    let inv_norm = |ss: f64| -> T::C {
        let ss = T::C::from_f64(ss);
        let m = if ss > eps { ss } else { eps };
        T::C::ONE / m.sqrt()
    };
    let rank = x.rank();
    // Fast path: one axis, the last.
    if rank > 0 && axes.len() == 1 && axes[0] == rank - 1 {
        let rd = reader::<T>(x, rank - 1)?;
        let cols = rd.cols;
        let out = fill_rows(rd.rows, cols, cols * 2, |first, n, block| {
            let mut xb = Vec::new();
            for (k, o) in block.chunks_mut(cols.max(1)).take(n).enumerate() {
                let row = rd.row(first + k, &mut xb);
                let ss: f64 = row
                    .iter()
                    .map(|&v| {
                        let v = T::from_c(v).to_f64();
                        v * v
                    })
                    .sum();
                let inv = inv_norm(ss);
                for (o, &v) in o.iter_mut().zip(row) {
                    o.write(T::from_c(v * inv));
                }
            }
        })?;
        return Tensor::from_host_vec(out, x.shape().clone());
    }
    // General axes: sums of squares per kept position, then the scaling pass.
    let v = x.strided::<T>()?;
    let dims: Vec<usize> = if rank == 0 {
        vec![1]
    } else {
        x.dims().to_vec()
    };
    let xstrides: Vec<usize> = if rank == 0 {
        vec![1]
    } else {
        x.strides().to_vec()
    };
    let kept: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(d, &n)| if axes.contains(&d) { 1 } else { n })
        .collect();
    let kstrides: Vec<usize> = crate::shape::contiguous_strides(&kept)
        .iter()
        .enumerate()
        .map(|(d, &s)| if axes.contains(&d) { 0 } else { s })
        .collect();
    let (outer, inner) = split_rows(&dims);
    let r = outer.len();
    let (xi, ki) = (xstrides[r], kstrides[r]);
    let mut ss = vec![0.0f64; kept.iter().product()];
    for_each_offsets(
        outer,
        [&xstrides[..r], &kstrides[..r]],
        [v.offset, 0],
        |[xo, ko]| {
            for j in 0..inner {
                let e = v.data[xo + j * xi].to_f64();
                ss[ko + j * ki] += e * e;
            }
        },
    );
    let inv: Vec<T::C> = ss.into_iter().map(inv_norm).collect();
    let mut out = alloc_uninit(x.num_elements())?;
    for_each_offsets(
        outer,
        [&xstrides[..r], &kstrides[..r]],
        [v.offset, 0],
        |[xo, ko]| {
            for j in 0..inner {
                out.push(T::from_c(v.data[xo + j * xi].to_c() * inv[ko + j * ki]));
            }
        },
    );
    Tensor::from_host_vec(out, x.shape().clone())
}

fn l2_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let out = crate::with_float!(ctx.out_dtype(0), T => l2_typed::<T>(ctx)?,
        other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

/// `x / sqrt(max(sum(x²) over axis, epsilon))` (`tf.math.l2_normalize`, fused).
/// Attributes `axis` (list of ints) and `epsilon` (float). Float dtypes.
pub static L2_NORMALIZE: OpDef =
    OpDef::new("L2Normalize", Arity::Fixed(1), infer_l2).cpu(DTypeSet::FLOAT, l2_kernel);

/// `tf.math.l2_normalize(x, axis, epsilon)`: divides by the L2 norm over `axis` (all
/// axes when `None`), with the squared norm floored at `epsilon` (TensorFlow's default
/// is 1e-12). Float dtypes.
///
/// Errors on an axis out of range or repeated, or a non-float dtype.
///
/// ```
/// use tf_core::{Tensor, ops};
/// let x = Tensor::from_vec(vec![3.0f32, 4.0], [2])?;
/// assert_eq!(ops::l2_normalize(&x, None, 1e-12)?.to_vec::<f32>()?, vec![0.6, 0.8]);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn l2_normalize(x: &Tensor, axis: Option<&[i64]>, epsilon: f64) -> Result<Tensor> {
    let axes: Vec<i64> = match axis {
        Some(a) => a.to_vec(),
        None => (0..x.rank() as i64).collect(),
    };
    call1(
        &L2_NORMALIZE,
        std::slice::from_ref(x),
        &Attrs::new().with("axis", axes).with("epsilon", epsilon),
    )
}

fn infer_batch_norm(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    ctx.same_dtype()?;
    let has_offset = ctx.attrs.bool("has_offset").unwrap_or(false);
    let has_scale = ctx.attrs.bool("has_scale").unwrap_or(false);
    let want = 3 + usize::from(has_offset) + usize::from(has_scale);
    if ctx.num_inputs() != want {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "expected {want} inputs (x, mean, variance{}{}), got {}",
                if has_offset { ", offset" } else { "" },
                if has_scale { ", scale" } else { "" },
                ctx.num_inputs()
            ),
        ));
    }
    let x = ctx.shape(0);
    let names = [
        "x",
        "mean",
        "variance",
        if has_offset { "offset" } else { "scale" },
        "scale",
    ];
    for i in 1..want {
        let p = ctx.shape(i);
        let b = broadcast_partial(ctx.name(), &x, &p);
        let ok = matches!(&b, Ok(b) if b.rank() == x.rank()
            && b.iter().zip(x.iter()).all(|(b, x)| x.is_none() || b == x));
        if !ok {
            return Err(Error::invalid(
                ctx.name(),
                format!(
                    "{} of shape {p} does not broadcast to x's shape {x}",
                    names[i]
                ),
            ));
        }
    }
    ctx.attr_float("variance_epsilon")?;
    spec1(dt, x)
}

/// Per-element `(a, b)` with `y = x * a + b`, exactly TensorFlow's
/// `inv = rsqrt(var + eps) [* scale]`, `b = offset - mean * inv` (or `-mean * inv`).
#[inline(always)]
pub(super) fn affine<C: Compute>(
    mean: C,
    var: C,
    offset: Option<C>,
    scale: Option<C>,
    eps: C,
) -> (C, C) {
    let mut inv = C::ONE / (var + eps).sqrt();
    if let Some(s) = scale {
        inv = inv * s;
    }
    let b = match offset {
        Some(o) => o - mean * inv,
        None => -(mean * inv),
    };
    (inv, b)
}

fn batch_norm_typed<T: NnFloat>(ctx: &KernelContext<'_>) -> Result<Tensor> {
    let x = ctx.input(0);
    let has_offset = ctx.attrs.bool("has_offset").unwrap_or(false);
    let has_scale = ctx.attrs.bool("has_scale").unwrap_or(false);
    let eps = T::C::from_f64(T::from_f64(ctx.attr_float("variance_epsilon")?).to_f64());
    let (mean, var) = (ctx.input(1), ctx.input(2));
    let offset = has_offset.then(|| ctx.input(3));
    let scale = has_scale.then(|| ctx.input(3 + usize::from(has_offset)));
    let rank = x.rank();
    let dims = x.dims();
    // Fast path: every parameter varies along the last axis only.
    let per_channel =
        |p: &Tensor| rank > 0 && p.num_elements() == p.dims().last().copied().unwrap_or(1);
    let params: Vec<&Tensor> = [Some(mean), Some(var), offset, scale]
        .into_iter()
        .flatten()
        .collect();
    if rank > 0 && params.iter().all(|p| per_channel(p)) {
        let c = dims[rank - 1];
        let at = |p: Option<&Tensor>, j: usize| -> Result<Option<T::C>> {
            let Some(p) = p else { return Ok(None) };
            let v = p.strided::<T>()?;
            let s = p.strides().last().copied().unwrap_or(0);
            let k = if p.num_elements() == 1 { 0 } else { j * s };
            Ok(Some(v.data[v.offset + k].to_c()))
        };
        let mut a = Vec::with_capacity(c);
        let mut b = Vec::with_capacity(c);
        for j in 0..c {
            let (m, v) = (at(Some(mean), j)?, at(Some(var), j)?);
            let (ai, bi) = affine(
                m.unwrap_or(T::C::ZERO),
                v.unwrap_or(T::C::ZERO),
                at(offset, j)?,
                at(scale, j)?,
                eps,
            );
            a.push(T::from_c(ai).to_c());
            b.push(T::from_c(bi).to_c());
        }
        let rd = reader::<T>(x, rank - 1)?;
        let out = fill_rows(rd.rows, c, c, |first, n, block| {
            let mut xb = Vec::new();
            for (k, o) in block.chunks_mut(c.max(1)).take(n).enumerate() {
                let row = rd.row(first + k, &mut xb);
                for (((o, &v), &ai), &bi) in o.iter_mut().zip(row).zip(&a).zip(&b) {
                    o.write(T::from_c(T::from_c(v * ai).to_c() + bi));
                }
            }
        })?;
        return Tensor::from_host_vec(out, x.shape().clone());
    }
    // General broadcasting: walk x and the four parameters in lockstep.
    let one = Tensor::from_scalar(T::from_f64(0.0));
    let ops: [&Tensor; 5] = [x, mean, var, offset.unwrap_or(&one), scale.unwrap_or(&one)];
    let views = [
        ops[0].strided::<T>()?,
        ops[1].strided::<T>()?,
        ops[2].strided::<T>()?,
        ops[3].strided::<T>()?,
        ops[4].strided::<T>()?,
    ];
    let full: Vec<usize> = if rank == 0 { vec![1] } else { dims.to_vec() };
    let strides: Vec<Vec<usize>> = ops
        .iter()
        .map(|t| {
            if rank == 0 {
                vec![0]
            } else {
                broadcast_strides(t.dims(), t.strides(), dims).to_vec()
            }
        })
        .collect();
    let (outer, inner) = split_rows(&full);
    let r = outer.len();
    let inner_s: Vec<usize> = strides.iter().map(|s| s[r]).collect();
    let mut out = alloc_uninit(x.num_elements())?;
    for_each_offsets(
        outer,
        [
            &strides[0][..r],
            &strides[1][..r],
            &strides[2][..r],
            &strides[3][..r],
            &strides[4][..r],
        ],
        views.map(|v| v.offset),
        |o| {
            for j in 0..inner {
                let get = |k: usize| views[k].data[o[k] + j * inner_s[k]].to_c();
                let (a, b) = affine(
                    get(1),
                    get(2),
                    has_offset.then(|| get(3)),
                    has_scale.then(|| get(4)),
                    eps,
                );
                let (a, b) = (T::from_c(a).to_c(), T::from_c(b).to_c());
                out.push(T::from_c(T::from_c(get(0) * a).to_c() + b));
            }
        },
    );
    Tensor::from_host_vec(out, x.shape().clone())
}

fn batch_norm_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let out = crate::with_float!(ctx.out_dtype(0), T => batch_norm_typed::<T>(ctx)?,
        other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

/// `tf.nn.batch_normalization`, fused: inputs `x, mean, variance[, offset][, scale]`
/// (presence given by bool attributes `has_offset`, `has_scale`), all of one float
/// dtype, parameters broadcasting to `x`'s shape; attribute `variance_epsilon`.
/// `y = x * inv + (offset - mean * inv)` with `inv = rsqrt(variance + eps) * scale`.
pub static BATCH_NORMALIZATION: OpDef =
    OpDef::new("BatchNormalization", Arity::Range(3, 5), infer_batch_norm)
        .cpu(DTypeSet::FLOAT, batch_norm_kernel);

/// `tf.nn.batch_normalization(x, mean, variance, offset, scale, variance_epsilon)`:
/// normalizes `x` with the given statistics; parameters broadcast against `x` (usually
/// shape `[channels]` for the last axis). `offset` and `scale` are optional.
///
/// Errors on mismatched dtypes, parameters that do not broadcast to `x`'s shape
/// (naming both shapes), or non-float dtypes.
pub fn batch_normalization(
    x: &Tensor,
    mean: &Tensor,
    variance: &Tensor,
    offset: Option<&Tensor>,
    scale: Option<&Tensor>,
    variance_epsilon: f64,
) -> Result<Tensor> {
    let mut inputs = vec![x.clone(), mean.clone(), variance.clone()];
    inputs.extend(offset.cloned());
    inputs.extend(scale.cloned());
    call1(
        &BATCH_NORMALIZATION,
        &inputs,
        &Attrs::new()
            .with("variance_epsilon", variance_epsilon)
            .with("has_offset", offset.is_some())
            .with("has_scale", scale.is_some()),
    )
}
