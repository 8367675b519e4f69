//! Softmax and LogSoftmax over any axis.
//!
//! TensorFlow's ops work on the last axis; `tf.nn.softmax(x, axis)` transposes around
//! them. Here the axis is an attribute (`axis`, default -1, which is TensorFlow's op):
//! rows along it are read in place from any layout, the output is computed row by row
//! (in parallel above a size threshold) and, for an axis other than the last, returned
//! as a strided view of the row-major result.

use super::fastmath::{Compute, NnFloat};
use super::rows::{fill_rows, from_axis_last, reader};
use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::tensor::Tensor;

/// The `axis` attribute (default -1) resolved against `rank`.
pub(super) fn axis_attr(ctx: &InferContext<'_>, rank: usize) -> Result<usize> {
    let axis = ctx.attrs.int("axis").unwrap_or(-1);
    crate::shape::normalize_axis(ctx.name(), axis, rank)
}

fn infer_softmax(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::FLOAT)?;
    let shape = ctx.shape(0);
    if shape.rank() == 0 {
        return Err(Error::invalid(
            ctx.name(),
            format!("logits must have >= 1 dimension, got shape {shape}"),
        ));
    }
    axis_attr(ctx, shape.rank())?;
    spec1(dt, shape)
}

fn softmax_typed<T: NnFloat>(ctx: &KernelContext<'_>, log: bool) -> Result<Tensor> {
    let x = ctx.input(0);
    let axis = axis_attr(&ctx.infer(), x.rank())?;
    let rd = reader::<T>(x, axis)?;
    let cols = rd.cols;
    let out = fill_rows(rd.rows, cols, cols * 4, |first, n, block| {
        let mut xb = Vec::new();
        let mut eb = Vec::new();
        for (k, o) in block.chunks_mut(cols.max(1)).take(n).enumerate() {
            let row = rd.row(first + k, &mut xb);
            let m = T::C::row_max(row);
            let s = T::C::exp_shift_sum(row, m, &mut eb);
            if log {
                let ls = s.ln();
                for (o, &v) in o.iter_mut().zip(row) {
                    o.write(T::from_c((v - m) - ls));
                }
            } else {
                T::C::scale_into(&eb, T::C::ONE / s, o);
            }
        }
    })?;
    from_axis_last(ctx.name(), out, x.dims(), axis)
}

fn softmax_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let log = std::ptr::eq(ctx.op, &LOG_SOFTMAX);
    let out = crate::with_float!(ctx.out_dtype(0), T => softmax_typed::<T>(ctx, log)?,
        other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

/// `exp(x) / sum(exp(x))` along attribute `axis` (default -1), computed as
/// `exp(x - max)` times the reciprocal of its sum. Float dtypes; rank >= 1.
pub static SOFTMAX: OpDef =
    OpDef::new("Softmax", Arity::Fixed(1), infer_softmax).cpu(DTypeSet::FLOAT, softmax_kernel);

/// `x - max - log(sum(exp(x - max)))` along attribute `axis` (default -1). Float
/// dtypes; rank >= 1.
pub static LOG_SOFTMAX: OpDef =
    OpDef::new("LogSoftmax", Arity::Fixed(1), infer_softmax).cpu(DTypeSet::FLOAT, softmax_kernel);

/// `tf.nn.softmax(logits, axis)`: softmax along `axis` (negative counts from the end),
/// numerically stable for any finite logits. Float dtypes (f16/bf16 computed in f32).
///
/// Errors on a rank-0 input, an axis out of range or a non-float dtype.
///
/// ```
/// use tf_core::{Tensor, ops};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 1e4], [2, 2])?;
/// let y = ops::softmax(&x, -1)?.to_vec::<f32>()?;
/// assert!((y[0] - 0.268_941_4).abs() < 1e-6 && y[3] == 1.0);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn softmax(logits: &Tensor, axis: i64) -> Result<Tensor> {
    call1(
        &SOFTMAX,
        std::slice::from_ref(logits),
        &Attrs::new().with("axis", axis),
    )
}

/// `tf.nn.log_softmax(logits, axis)`: log of the softmax along `axis`, computed without
/// forming the softmax (finite for any finite logits).
///
/// Errors like [`softmax`].
pub fn log_softmax(logits: &Tensor, axis: i64) -> Result<Tensor> {
    call1(
        &LOG_SOFTMAX,
        std::slice::from_ref(logits),
        &Attrs::new().with("axis", axis),
    )
}

impl Tensor {
    /// [`softmax`] along `axis`.
    pub fn softmax(&self, axis: i64) -> Result<Tensor> {
        softmax(self, axis)
    }

    /// [`log_softmax`] along `axis`.
    pub fn log_softmax(&self, axis: i64) -> Result<Tensor> {
        log_softmax(self, axis)
    }
}
