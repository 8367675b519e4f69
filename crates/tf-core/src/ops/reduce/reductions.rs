//! Reductions over any set of axes: `Sum`, `Mean`, `Prod`, `Max`, `Min`, `All`, `Any`,
//! `ReduceLogSumExp` and the two-output `Moments`.
//!
//! Attributes: `axis` (list of ints; negative allowed, duplicates rejected; every axis
//! for `axis=None`) and `keepdims` (bool). Empty reductions give TensorFlow's
//! identities: sum 0, prod 1, mean NaN (0 for integers), max -inf / lowest, min +inf /
//! highest, all true, any false, logsumexp -inf, moments NaN.

use super::axes::{axis_mask, call_reduction, infer_reduction, reduce_attrs};
use super::engine::{Plan, reduce};
use super::num::{Compute, FloatC, NumC};
use super::reducer::{AllR, AnyR, MaxR, MeanR, MinR, ProdR, SqDevR, SumExpR, SumR};
use crate::dtype::{DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::parallel::fill_vec;
use crate::op::{Arity, InferContext, KernelContext, OpDef, Specs, TensorSpec};
use crate::tensor::Tensor;

/// The input's storage and the reduction plan of a kernel call.
fn prepare<'a, T: Element>(ctx: &KernelContext<'a>) -> Result<(&'a [T], Plan)> {
    let x = ctx.input(0);
    let (axes, _) = reduce_attrs(&ctx.infer())?;
    let mask = axis_mask(ctx.name(), x.rank(), axes)?;
    let v = x.strided::<T>()?;
    Ok((v.data, Plan::new(v.dims, v.strides, v.offset, &mask)))
}

/// Maps accumulators to output elements (in parallel when there are many).
fn finish<A: Copy + Sync, O: Element>(
    acc: &[A],
    f: impl Fn(usize, A) -> O + Sync,
) -> Result<Vec<O>> {
    fill_vec(acc.len(), |start, chunk| {
        for (k, slot) in chunk.iter_mut().enumerate() {
            slot.write(f(start + k, acc[start + k]));
        }
    })
}

fn output(ctx: &KernelContext<'_>, i: usize, data: Vec<impl Element>) -> Result<Tensor> {
    Tensor::from_host_vec(data, ctx.out_shape(i)?)
}

macro_rules! numeric_kernel {
    ($name:ident, $reducer:expr, |$acc:ident, $n:ident| $out:expr) => {
        fn $name(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
            crate::with_numeric!(ctx.input(0).dtype(), T => {
                let (data, plan) = prepare::<T>(ctx)?;
                let acc = reduce(&$reducer, data, &plan);
                let $n = plan.n_red;
                let out: Vec<T> = finish(&acc, |_, $acc| $out)?;
                Ok(vec![output(ctx, 0, out)?])
            }, other => Err(ctx.unsupported_dtype(other)))
        }
    };
}

numeric_kernel!(sum_kernel, SumR, |a, _n| {
    <<T as Compute>::C as NumC>::sum_out::<T>(a)
});
numeric_kernel!(mean_kernel, MeanR, |a, n| {
    <<T as Compute>::C as NumC>::mean_out::<T>(a, n)
});
numeric_kernel!(prod_kernel, ProdR, |a, _n| T::from_c(a));
numeric_kernel!(max_kernel, MaxR, |a, _n| T::from_c(a));
numeric_kernel!(min_kernel, MinR, |a, _n| T::from_c(a));

fn all_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (data, plan) = prepare::<bool>(ctx)?;
    Ok(vec![output(ctx, 0, reduce(&AllR, data, &plan))?])
}

fn any_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (data, plan) = prepare::<bool>(ctx)?;
    Ok(vec![output(ctx, 0, reduce(&AnyR, data, &plan))?])
}

/// `log(sum(exp(x - m))) + m` with `m` the (NaN-propagating) max, replaced by 0 where it
/// is not finite, exactly TensorFlow's `reduce_logsumexp` formula; sums in `f64`.
fn logsumexp_t<T: Compute>(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>>
where
    T::C: FloatC,
{
    let (data, plan) = prepare::<T>(ctx)?;
    let maxes = reduce(&MaxR, data, &plan);
    let shift: Vec<T::C> = maxes
        .iter()
        .map(|&m| {
            if m.finite() {
                m
            } else {
                <T::C as FloatC>::from_f64c(0.0)
            }
        })
        .collect();
    let sums = reduce(&SumExpR { shift: &shift }, data, &plan);
    let out: Vec<T> = finish(&sums, |o, s| T::from_f64(s.ln() + shift[o].f64()))?;
    Ok(vec![output(ctx, 0, out)?])
}

fn logsumexp_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_float!(ctx.input(0).dtype(), T => logsumexp_t::<T>(ctx),
        other => Err(ctx.unsupported_dtype(other)))
}

/// Two passes in `f64`: the mean, then the mean squared deviation from it (population
/// variance, as `tf.nn.moments`).
fn moments_t<T: Compute>(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>>
where
    T::C: FloatC,
{
    let (data, plan) = prepare::<T>(ctx)?;
    let n = plan.n_red as f64;
    let mean: Vec<f64> = reduce(&SumR, data, &plan).iter().map(|s| s / n).collect();
    let sq = reduce(&SqDevR { mean: &mean }, data, &plan);
    let mean_out: Vec<T> = finish(&mean, |_, m| T::from_f64(m))?;
    let var_out: Vec<T> = finish(&sq, |_, s| T::from_f64(s / n))?;
    Ok(vec![output(ctx, 0, mean_out)?, output(ctx, 1, var_out)?])
}

fn moments_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_float!(ctx.input(0).dtype(), T => moments_t::<T>(ctx),
        other => Err(ctx.unsupported_dtype(other)))
}

/// The `Sum` kernel on any view of a numeric tensor: sums over the dimensions marked in
/// `reduced` (one flag per dimension) into a tensor of `shape` (the kept dimensions in
/// row-major order). One pass, vectorized and parallel like `Sum`; floats accumulate in
/// f64, integers wrap. For kernels of other families (`BiasAddGrad`, ...).
pub(crate) fn sum_masked(
    op: &'static str,
    x: &Tensor,
    reduced: &[bool],
    shape: crate::shape::Shape,
) -> Result<Tensor> {
    if reduced.len() != x.rank() {
        return Err(Error::precondition(
            op,
            format!("{} axis flags for a rank-{} input", reduced.len(), x.rank()),
        ));
    }
    crate::with_numeric!(x.dtype(), T => {
        let v = x.strided::<T>()?;
        let plan = Plan::new(v.dims, v.strides, v.offset, reduced);
        let acc = reduce(&SumR, v.data, &plan);
        let out: Vec<T> = finish(&acc, |_, a| <<T as Compute>::C as NumC>::sum_out::<T>(a))?;
        Tensor::from_host_vec(out, shape)
    }, other => Err(Error::unimplemented(op, format!("no CPU kernel for dtype {other}"))))
}

/// Per-output mean and population variance (two f64 passes, as `Moments`) of a float
/// tensor over the dimensions marked in `reduced`, in row-major order of the kept
/// dimensions. For kernels of other families (`FusedBatchNormV3` in training mode).
pub(crate) fn mean_var_masked(
    op: &'static str,
    x: &Tensor,
    reduced: &[bool],
) -> Result<(Vec<f64>, Vec<f64>)> {
    fn run<T: Compute>(x: &Tensor, reduced: &[bool]) -> Result<(Vec<f64>, Vec<f64>)>
    where
        T::C: FloatC,
    {
        let v = x.strided::<T>()?;
        let plan = Plan::new(v.dims, v.strides, v.offset, reduced);
        let n = plan.n_red as f64;
        let mean: Vec<f64> = reduce(&SumR, v.data, &plan).iter().map(|s| s / n).collect();
        let var: Vec<f64> = reduce(&SqDevR { mean: &mean }, v.data, &plan)
            .iter()
            .map(|s| s / n)
            .collect();
        Ok((mean, var))
    }
    if reduced.len() != x.rank() {
        return Err(Error::precondition(
            op,
            format!("{} axis flags for a rank-{} input", reduced.len(), x.rank()),
        ));
    }
    crate::with_float!(x.dtype(), T => run::<T>(x, reduced),
        other => Err(Error::unimplemented(op, format!("no CPU kernel for dtype {other}"))))
}

fn infer_numeric(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_reduction(ctx, DTypeSet::NUMERIC)
}
fn infer_bool(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_reduction(ctx, DTypeSet::BOOL)
}
fn infer_float(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_reduction(ctx, DTypeSet::FLOAT)
}
fn infer_moments(ctx: &InferContext<'_>) -> Result<Specs> {
    let mut specs = infer_reduction(ctx, DTypeSet::FLOAT)?;
    let s: TensorSpec = specs[0].clone();
    specs.push(s);
    Ok(specs)
}

/// Sum over axes (TensorFlow's `Sum`); numeric dtypes; integers wrap.
pub static SUM: OpDef =
    OpDef::new("Sum", Arity::Fixed(1), infer_numeric).cpu(DTypeSet::NUMERIC, sum_kernel);
/// Mean over axes (`Mean`); integers truncate.
pub static MEAN: OpDef =
    OpDef::new("Mean", Arity::Fixed(1), infer_numeric).cpu(DTypeSet::NUMERIC, mean_kernel);
/// Product over axes (`Prod`).
pub static PROD: OpDef =
    OpDef::new("Prod", Arity::Fixed(1), infer_numeric).cpu(DTypeSet::NUMERIC, prod_kernel);
/// Maximum over axes (`Max`), NaN-propagating.
pub static MAX: OpDef =
    OpDef::new("Max", Arity::Fixed(1), infer_numeric).cpu(DTypeSet::NUMERIC, max_kernel);
/// Minimum over axes (`Min`), NaN-propagating.
pub static MIN: OpDef =
    OpDef::new("Min", Arity::Fixed(1), infer_numeric).cpu(DTypeSet::NUMERIC, min_kernel);
/// Logical and over axes (`All`); bool.
pub static ALL: OpDef =
    OpDef::new("All", Arity::Fixed(1), infer_bool).cpu(DTypeSet::BOOL, all_kernel);
/// Logical or over axes (`Any`); bool.
pub static ANY: OpDef =
    OpDef::new("Any", Arity::Fixed(1), infer_bool).cpu(DTypeSet::BOOL, any_kernel);
/// `log(sum(exp(x)))` over axes, computed stably (`tf.reduce_logsumexp` as one op).
pub static REDUCE_LOGSUMEXP: OpDef = OpDef::new("ReduceLogSumExp", Arity::Fixed(1), infer_float)
    .cpu(DTypeSet::FLOAT, logsumexp_kernel);
/// Mean and population variance over axes (`tf.nn.moments` as one two-output op).
pub static MOMENTS: OpDef =
    OpDef::new("Moments", Arity::Fixed(1), infer_moments).cpu(DTypeSet::FLOAT, moments_kernel);

fn one(op: &'static OpDef, x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    call_reduction(op, x, axis, keepdims)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::precondition(op.name, "op produced no outputs"))
}

/// `tf.reduce_sum`: the sum over `axis` (`None`: every axis; `Some(&[])`: none;
/// negative axes count from the end), keeping reduced dimensions as 1 with `keepdims`.
/// Numeric dtypes; integer sums wrap; float sums accumulate in f64.
///
/// Errors on an axis out of range, an axis named twice, or a bool input.
///
/// ```
/// use tf_core::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3])?;
/// assert_eq!(ops::reduce_sum(&x, Some(&[0]), false)?.to_vec::<f32>()?, vec![5.0, 7.0, 9.0]);
/// assert_eq!(ops::reduce_sum(&x, Some(&[-1]), true)?.dims(), &[2, 1]);
/// assert_eq!(ops::reduce_sum(&x, None, false)?.scalar::<f32>()?, 21.0);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn reduce_sum(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&SUM, x, axis, keepdims)
}

/// `tf.reduce_mean`: the mean over `axis` (see [`reduce_sum`] for `axis`/`keepdims`).
/// Integer means sum in i64 and truncate toward zero; an empty mean is NaN (0 for
/// integers).
pub fn reduce_mean(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&MEAN, x, axis, keepdims)
}

/// `tf.reduce_prod`: the product over `axis` (see [`reduce_sum`]); integers wrap; an
/// empty product is 1.
pub fn reduce_prod(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&PROD, x, axis, keepdims)
}

/// `tf.reduce_max`: the maximum over `axis` (see [`reduce_sum`]). NaN propagates; an
/// empty max is -inf for floats and the lowest value for integers.
pub fn reduce_max(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&MAX, x, axis, keepdims)
}

/// `tf.reduce_min`: the minimum over `axis` (see [`reduce_sum`]). NaN propagates; an
/// empty min is +inf for floats and the highest value for integers.
pub fn reduce_min(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&MIN, x, axis, keepdims)
}

/// `tf.reduce_all`: logical and over `axis` (see [`reduce_sum`]); bool input only.
pub fn reduce_all(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&ALL, x, axis, keepdims)
}

/// `tf.reduce_any`: logical or over `axis` (see [`reduce_sum`]); bool input only.
pub fn reduce_any(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&ANY, x, axis, keepdims)
}

/// `tf.reduce_logsumexp`: `log(sum(exp(x)))` over `axis` (see [`reduce_sum`]), computed
/// as `log(sum(exp(x - m))) + m` with `m` the max (0 where the max is not finite), so it
/// neither overflows nor underflows. Float dtypes; empty reductions give -inf.
pub fn reduce_logsumexp(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    one(&REDUCE_LOGSUMEXP, x, axis, keepdims)
}

/// `tf.nn.moments`: `(mean, variance)` over `axis` (see [`reduce_sum`]), the variance
/// being the population variance `mean((x - mean)^2)`. Float dtypes; computed in two
/// f64 passes, so it stays accurate when the mean is large next to the spread.
pub fn moments(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<(Tensor, Tensor)> {
    let mut out = call_reduction(&MOMENTS, x, axis, keepdims)?.into_iter();
    match (out.next(), out.next()) {
        (Some(m), Some(v)) => Ok((m, v)),
        _ => Err(Error::precondition("Moments", "expected two outputs")),
    }
}
