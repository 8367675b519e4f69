//! Fused softmax cross-entropy: `SoftmaxCrossEntropyWithLogits` (dense labels) and
//! `SparseSoftmaxCrossEntropyWithLogits` (class indices), each returning the per-row
//! loss and the backprop `softmax(logits) - labels` that its gradient reuses.

use super::fastmath::{Compute, NnFloat};
use super::rows::{RowReader, fill_rows2, reader};
use crate::dtype::{DType, DTypeSet};
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, TensorSpec, call};
use crate::ops::array::reshape;
use crate::shape::{PartialShape, broadcast_partial, broadcast_strides};
use crate::tensor::{StridedView, Tensor};

fn two_specs(dt: DType, batch: Option<usize>, shape: PartialShape) -> Specs {
    let mut s = Specs::new();
    s.push(TensorSpec::new(dt, PartialShape::new(&[batch])));
    s.push(TensorSpec::new(dt, shape));
    s
}

fn infer_xent(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    ctx.same_dtype()?;
    let (f, l) = (ctx.shape(0), ctx.shape(1));
    let b = broadcast_partial(ctx.name(), &f, &l).map_err(|_| {
        Error::invalid(
            ctx.name(),
            format!("logits and labels must be broadcastable: logits_size={f} labels_size={l}"),
        )
    })?;
    if b.rank() != 2 {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "logits and labels must be either 2-dimensional, or broadcasted to be 2-dimensional: logits_size={f} labels_size={l}"
            ),
        ));
    }
    Ok(two_specs(dt, b[0], b))
}

/// A view of `t` broadcast to `dims` (stride 0 along broadcast dimensions).
fn broadcast_view<'a, T: crate::Element>(
    t: &'a Tensor,
    dims: &'a [usize],
    strides: &'a [usize],
) -> Result<StridedView<'a, T>> {
    let v = t.strided::<T>()?;
    Ok(StridedView {
        data: v.data,
        offset: v.offset,
        dims,
        strides,
    })
}

fn xent_typed<T: NnFloat>(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let shape = ctx.out_shape(1)?;
    let (f, l) = (ctx.input(0), ctx.input(1));
    let fs = broadcast_strides(f.dims(), f.strides(), &shape);
    let ls = broadcast_strides(l.dims(), l.strides(), &shape);
    let fr = RowReader::new(broadcast_view::<T>(f, &shape, &fs)?, 1);
    let lr = RowReader::new(broadcast_view::<T>(l, &shape, &ls)?, 1);
    let (rows, cols) = (shape[0], shape[1]);
    let (loss, backprop) = fill_rows2(rows, 1, cols, cols * 6, |first, n, loss, bp| {
        let (mut xb, mut lb, mut eb) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..n {
            let x = fr.row(first + k, &mut xb);
            let lab = lr.row(first + k, &mut lb);
            let m = T::C::row_max(x);
            let s = T::C::exp_shift_sum(x, m, &mut eb);
            let log_s = s.ln();
            let mut acc = T::C::ZERO;
            for (&v, &y) in x.iter().zip(lab) {
                acc = acc + y * (log_s - (v - m));
            }
            loss[k].write(T::from_c(acc));
            let o = &mut bp[k * cols..(k + 1) * cols];
            for ((o, &e), &y) in o.iter_mut().zip(&eb).zip(lab) {
                o.write(T::from_c(e / s - y));
            }
        }
    })?;
    Ok(vec![
        Tensor::from_host_vec(loss, [rows])?,
        Tensor::from_host_vec(backprop, shape)?,
    ])
}

fn xent_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_float!(ctx.out_dtype(0), T => xent_typed::<T>(ctx), other => Err(ctx.unsupported_dtype(other)))
}

fn infer_sparse_xent(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    ctx.check_dtype(1, DTypeSet::of(&[DType::I32, DType::I64]))?;
    let (f, l) = (ctx.shape(0), ctx.shape(1));
    if f.rank() != 2 {
        return Err(Error::invalid(
            ctx.name(),
            format!("logits must be 2-D, but got shape {f}"),
        ));
    }
    if l.rank() != 1 {
        return Err(Error::invalid(
            ctx.name(),
            format!("labels must be 1-D, but got shape {l}"),
        ));
    }
    let batch = match (f[0], l[0]) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::invalid(
                ctx.name(),
                format!(
                    "logits and labels must have the same first dimension, got logits shape {f} and labels shape {l}"
                ),
            ));
        }
        (a, b) => a.or(b),
    };
    let mut bp = PartialShape::new(&[batch]);
    bp.push(f[1]);
    Ok(two_specs(dt, batch, bp))
}

/// Checks every label is in `[0, classes)`, with TensorFlow's CPU error otherwise.
fn check_labels(op: &'static str, labels: &[i64], classes: usize) -> Result<()> {
    let (Some(&lo), Some(&hi)) = (labels.iter().min(), labels.iter().max()) else {
        return Ok(());
    };
    if lo < 0 || hi >= classes as i64 {
        let bad = if lo < 0 { lo } else { hi };
        let shown: Vec<String> = labels.iter().take(64).map(i64::to_string).collect();
        let more = if labels.len() > 64 { " ..." } else { "" };
        return Err(Error::invalid(
            op,
            format!(
                "Received a label value of {bad} which is outside the valid range of [0, {classes}).  Label values: {}{more}",
                shown.join(" ")
            ),
        ));
    }
    Ok(())
}

fn sparse_typed<T: NnFloat>(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let f = ctx.input(0);
    let (rows, cols) = (f.dims()[0], f.dims()[1]);
    if rows > 0 && cols == 0 {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "Must have at least one class, but got logits shape {}",
                f.shape()
            ),
        ));
    }
    let labels: Vec<i64> = match ctx.input(1).dtype() {
        DType::I32 => ctx
            .input(1)
            .to_vec::<i32>()?
            .into_iter()
            .map(i64::from)
            .collect(),
        _ => ctx.input(1).to_vec::<i64>()?,
    };
    check_labels(ctx.name(), &labels, cols)?;
    let fr = reader::<T>(f, 1)?;
    let (loss, backprop) = fill_rows2(rows, 1, cols, cols * 5, |first, n, loss, bp| {
        let (mut xb, mut eb) = (Vec::new(), Vec::new());
        for k in 0..n {
            let x = fr.row(first + k, &mut xb);
            let label = labels[first + k] as usize;
            let m = T::C::row_max(x);
            let s = T::C::exp_shift_sum(x, m, &mut eb);
            loss[k].write(T::from_c(s.ln() - (x[label] - m)));
            let o = &mut bp[k * cols..(k + 1) * cols];
            for (o, &e) in o.iter_mut().zip(&eb) {
                o.write(T::from_c(e / s));
            }
            o[label].write(T::from_c(eb[label] / s - T::C::ONE));
        }
    })?;
    Ok(vec![
        Tensor::from_host_vec(loss, [rows])?,
        Tensor::from_host_vec(backprop, [rows, cols])?,
    ])
}

fn sparse_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_float!(ctx.out_dtype(0), T => sparse_typed::<T>(ctx), other => Err(ctx.unsupported_dtype(other)))
}

/// Softmax cross-entropy with dense labels (TensorFlow's raw op): inputs `features`
/// (logits) and `labels`, same float dtype, broadcasting to `[batch, classes]`.
/// Outputs `loss` `[batch]` = `sum(labels * (log(sum(exp(f - max))) - (f - max)))` and
/// `backprop` `[batch, classes]` = `softmax(features) - labels`.
pub static SOFTMAX_CROSS_ENTROPY_WITH_LOGITS: OpDef =
    OpDef::new("SoftmaxCrossEntropyWithLogits", Arity::Fixed(2), infer_xent)
        .cpu(DTypeSet::FLOAT, xent_kernel);

/// Softmax cross-entropy with class indices (TensorFlow's raw op): `features`
/// `[batch, classes]` (float) and `labels` `[batch]` (int32/int64, each in
/// `[0, classes)`, else an error naming the value and the class count). Outputs `loss`
/// `[batch]` and `backprop` `[batch, classes]` = `softmax(features) - one_hot(labels)`.
pub static SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS: OpDef = OpDef::new(
    "SparseSoftmaxCrossEntropyWithLogits",
    Arity::Fixed(2),
    infer_sparse_xent,
)
.cpu(DTypeSet::FLOAT, sparse_kernel);

fn two(mut v: Vec<Tensor>) -> Result<(Tensor, Tensor)> {
    match (v.pop(), v.pop()) {
        (Some(b), Some(a)) => Ok((a, b)),
        _ => Err(Error::precondition(
            "SoftmaxCrossEntropyWithLogits",
            "expected two outputs",
        )),
    }
}

/// TensorFlow's raw `SoftmaxCrossEntropyWithLogits(features, labels)`: `(loss,
/// backprop)` for 2-D (or broadcast to 2-D) inputs; see
/// [`SOFTMAX_CROSS_ENTROPY_WITH_LOGITS`].
pub fn softmax_cross_entropy_with_logits_raw(
    features: &Tensor,
    labels: &Tensor,
) -> Result<(Tensor, Tensor)> {
    two(call(
        &SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
        &[features.clone(), labels.clone()],
        &Attrs::new(),
    )?)
}

/// TensorFlow's raw `SparseSoftmaxCrossEntropyWithLogits(features, labels)`: `(loss,
/// backprop)` for `[batch, classes]` logits and `[batch]` labels; see
/// [`SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS`].
pub fn sparse_softmax_cross_entropy_with_logits_raw(
    features: &Tensor,
    labels: &Tensor,
) -> Result<(Tensor, Tensor)> {
    two(call(
        &SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
        &[features.clone(), labels.clone()],
        &Attrs::new(),
    )?)
}

/// `dims` as reshape targets: unknown dimensions become -1 (at most one allowed).
fn reshape_target(op: &'static str, dims: &[Option<usize>]) -> Result<Vec<i64>> {
    if dims.iter().filter(|d| d.is_none()).count() > 1 {
        return Err(Error::invalid(
            op,
            format!(
                "cannot flatten shape {} with more than one unknown dimension",
                PartialShape::new(dims)
            ),
        ));
    }
    Ok(dims.iter().map(|d| d.map_or(-1, |d| d as i64)).collect())
}

/// `tf.nn.softmax_cross_entropy_with_logits(labels, logits)` over the last axis: the
/// loss per row, shaped like `logits` without its last dimension. 2-D inputs may
/// broadcast against each other; other ranks need equal shapes (flattened to 2-D).
///
/// Errors on mismatched dtypes or shapes (naming both), rank 0, non-float dtypes.
///
/// ```
/// use tf_core::{Tensor, ops};
/// let logits = Tensor::from_vec(vec![0.0f32, 0.0], [1, 2])?;
/// let labels = Tensor::from_vec(vec![1.0f32, 0.0], [1, 2])?;
/// let loss = ops::softmax_cross_entropy_with_logits(&labels, &logits)?;
/// assert!((loss.to_vec::<f32>()?[0] - std::f32::consts::LN_2).abs() < 1e-6);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn softmax_cross_entropy_with_logits(labels: &Tensor, logits: &Tensor) -> Result<Tensor> {
    const OP: &str = "SoftmaxCrossEntropyWithLogits";
    let (ls, fs) = (labels.partial_shape(), logits.partial_shape());
    if ls.rank() == 2 && fs.rank() == 2 {
        return Ok(softmax_cross_entropy_with_logits_raw(logits, labels)?.0);
    }
    if fs.rank() == 0 || ls != fs {
        return Err(Error::invalid(
            OP,
            format!(
                "logits and labels must have the same shape (or both be 2-D): logits_size={fs} labels_size={ls}"
            ),
        ));
    }
    let r = fs.rank();
    let classes = fs[r - 1];
    let flat = match (
        classes,
        fs[..r - 1].iter().copied().collect::<Option<Vec<usize>>>(),
    ) {
        (Some(c), _) => vec![-1, c as i64],
        (None, Some(batch)) => vec![batch.iter().product::<usize>() as i64, -1],
        (None, None) => {
            return Err(Error::invalid(
                OP,
                format!(
                    "cannot flatten logits of shape {fs} with unknown batch and class dimensions"
                ),
            ));
        }
    };
    let (loss, _) =
        softmax_cross_entropy_with_logits_raw(&reshape(logits, &flat)?, &reshape(labels, &flat)?)?;
    reshape(&loss, &reshape_target(OP, &fs[..r - 1])?)
}

/// `tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)`: `labels` (int32 or
/// int64) of shape `logits.shape[:-1]`, each in `[0, classes)`; returns the loss shaped
/// like `labels`.
///
/// Errors on a rank or shape mismatch (naming both shapes), a label out of range
/// (naming the value and the class count), non-float logits or non-int labels.
pub fn sparse_softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "SparseSoftmaxCrossEntropyWithLogits";
    let (ls, fs) = (labels.partial_shape(), logits.partial_shape());
    if ls.rank() + 1 != fs.rank() {
        return Err(Error::invalid(
            OP,
            format!(
                "Rank mismatch: Rank of labels (received {}) should equal rank of logits minus 1 (received {})",
                ls.rank(),
                fs.rank()
            ),
        ));
    }
    let r = fs.rank();
    let compatible = ls
        .iter()
        .zip(&fs[..r - 1])
        .all(|(a, b)| a.is_none() || b.is_none() || a == b);
    if !compatible {
        return Err(Error::invalid(
            OP,
            format!(
                "Shape mismatch: The shape of labels (received {ls}) should equal the shape of logits except for the last dimension (received {fs})"
            ),
        ));
    }
    if r == 2 {
        return Ok(sparse_softmax_cross_entropy_with_logits_raw(logits, labels)?.0);
    }
    let batch = reshape_target(OP, &ls)?;
    let n: i64 = if batch.contains(&-1) {
        -1
    } else {
        batch.iter().product()
    };
    let c = fs[r - 1].map_or(-1, |c| c as i64);
    if n == -1 && c == -1 {
        return Err(Error::invalid(
            OP,
            format!("cannot flatten logits of shape {fs} with unknown batch and class dimensions"),
        ));
    }
    let (loss, _) = sparse_softmax_cross_entropy_with_logits_raw(
        &reshape(logits, &[n, c])?,
        &reshape(labels, &[n])?,
    )?;
    reshape(&loss, &batch)
}
