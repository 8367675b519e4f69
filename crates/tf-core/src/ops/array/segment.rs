//! Unsorted segment reductions (UnsortedSegmentSum/Max/Min/Prod): rows of `data`
//! reduced into `num_segments` output rows picked by `segment_ids`.
//!
//! The ids are bucketed once (a counting sort: for each segment, the rows that belong
//! to it, ascending), then every output row is reduced independently, in parallel for
//! large outputs, in a deterministic order. Values accumulate in the dtype's
//! accumulator (see `accum`) and round once; integers wrap.

use super::accum::Accum;
use super::copy::{alloc_shape, index_values, multi_index};
use crate::dtype::{DType, DTypeSet};
use crate::error::{Error, Result};
use crate::kernels::parallel::fill_vec;
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::PartialShape;
use crate::tensor::Tensor;

/// The reduction of a segment op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reduction {
    Sum,
    Max,
    Min,
    Prod,
}

fn num_segments(op: &'static str, n: i64) -> Result<usize> {
    usize::try_from(n)
        .map_err(|_| Error::invalid(op, format!("num_segments = {n} must not be negative")))
}

fn infer_segment(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let dtype = ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let ids_dtype = ctx.dtype(1);
    if !matches!(ids_dtype, DType::I32 | DType::I64) {
        return Err(Error::invalid(
            op,
            format!("segment_ids must be int32 or int64, got {ids_dtype}"),
        ));
    }
    let n = num_segments(op, ctx.attr_int("num_segments")?)?;
    let (data, ids) = (ctx.shape(0), ctx.shape(1));
    let prefix = ids.rank() <= data.rank()
        && ids
            .iter()
            .zip(data.iter())
            .all(|(a, b)| a.is_none() || b.is_none() || a == b);
    if !prefix {
        return Err(Error::invalid(
            op,
            format!("data.shape = {data} does not start with segment_ids.shape = {ids}"),
        ));
    }
    let mut out = PartialShape::known(&[n]);
    for &d in &data[ids.rank()..] {
        out.push(d);
    }
    spec1(dtype, out)
}

/// For each segment, the rows of `ids` that belong to it, ascending: rows of segment
/// `s` are `rows[begin(s)..ends[s]]` with `begin(0) = 0`, `begin(s) = ends[s - 1]`.
/// Negative ids are dropped; every other id is below `n` (checked by the caller).
fn bucket(op: &'static str, ids: &[i64], n: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    let table = |len: usize| -> Result<Vec<usize>> {
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|_| {
            Error::exhausted(op, format!("cannot allocate a table of {len} segments"))
        })?;
        v.resize(len, 0);
        Ok(v)
    };
    let mut ends = table(n)?;
    for &i in ids {
        if i >= 0 {
            ends[i as usize] += 1;
        }
    }
    // Exclusive prefix sums: ends[s] = first row slot of segment s.
    let mut acc = 0usize;
    for e in ends.iter_mut() {
        let c = *e;
        *e = acc;
        acc += c;
    }
    let mut rows = table(acc)?;
    // Placing a row advances its segment's cursor; afterwards ends[s] is the end.
    for (r, &i) in ids.iter().enumerate() {
        if i >= 0 {
            let slot = &mut ends[i as usize];
            rows[*slot] = r;
            *slot += 1;
        }
    }
    Ok((ends, rows))
}

/// The `[n, inner]` output: row `s` folds the rows of segment `s` into `empty` (the
/// value of an empty segment) with `combine`, in the accumulator type.
fn reduce_segments<T: Accum>(
    op: &'static str,
    values: &[T],
    ids: &[i64],
    n: usize,
    inner: usize,
    empty: T,
    combine: impl Fn(T::Acc, T::Acc) -> T::Acc + Sync,
) -> Result<Vec<T>> {
    let total = n * inner;
    if total == 0 {
        return Ok(Vec::new());
    }
    let (ends, rows) = bucket(op, ids, n)?;
    let init = empty.widen();
    fill_vec(total, |first, chunk| {
        let mut scratch: Vec<T::Acc> = Vec::with_capacity(inner.min(chunk.len()));
        let mut seg = first / inner;
        let mut col = first % inner;
        let mut pos = 0;
        while pos < chunk.len() {
            let take = (inner - col).min(chunk.len() - pos);
            let dst = &mut chunk[pos..pos + take];
            let begin = if seg == 0 { 0 } else { ends[seg - 1] };
            let members = &rows[begin..ends[seg]];
            if members.is_empty() {
                for slot in dst.iter_mut() {
                    slot.write(empty);
                }
            } else {
                scratch.clear();
                scratch.resize(take, init);
                for &r in members {
                    let s = r * inner + col;
                    for (a, &x) in scratch.iter_mut().zip(&values[s..s + take]) {
                        *a = combine(*a, x.widen());
                    }
                }
                for (slot, &a) in dst.iter_mut().zip(&scratch) {
                    slot.write(T::narrow(a));
                }
            }
            pos += take;
            col = 0;
            seg += 1;
        }
    })
}

/// [`reduce_segments`] for one reduction, with TensorFlow's empty-segment values
/// (0, lowest, highest, 1).
fn segment_typed<T: Accum>(
    op: &'static str,
    data: &Tensor,
    ids: &[i64],
    n: usize,
    inner: usize,
    red: Reduction,
) -> Result<Vec<T>> {
    let values = data.host_data::<T>()?;
    let v: &[T] = &values;
    match red {
        Reduction::Sum => reduce_segments(op, v, ids, n, inner, T::ZERO, T::add),
        Reduction::Max => reduce_segments(op, v, ids, n, inner, T::LOWEST, T::max),
        Reduction::Min => reduce_segments(op, v, ids, n, inner, T::HIGHEST, T::min),
        Reduction::Prod => reduce_segments(op, v, ids, n, inner, T::ONE, T::mul),
    }
}

fn segment_kernel(ctx: &KernelContext<'_>, red: Reduction) -> Result<Vec<Tensor>> {
    let op = ctx.name();
    let (data, ids) = (ctx.input(0), ctx.input(1));
    let out_shape = alloc_shape(ctx, 0)?;
    let n = out_shape[0];
    let inner: usize = out_shape[1..].iter().product();
    let idv = index_values(op, "segment_ids", ids)?;
    if let Some(bad) = idv.iter().position(|&i| i >= 0 && i as u64 >= n as u64) {
        return Err(Error::invalid(
            op,
            format!(
                "segment_ids{} = {} is out of range [0, {n})",
                multi_index(bad, ids.dims()),
                idv[bad]
            ),
        ));
    }
    let out = crate::with_numeric!(data.dtype(), T => {
        Tensor::from_host_vec(segment_typed::<T>(op, data, &idv, n, inner, red)?, out_shape)?
    }, other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

fn sum_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    segment_kernel(ctx, Reduction::Sum)
}
fn max_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    segment_kernel(ctx, Reduction::Max)
}
fn min_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    segment_kernel(ctx, Reduction::Min)
}
fn prod_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    segment_kernel(ctx, Reduction::Prod)
}

/// UnsortedSegmentSum (inputs data, segment_ids; attr `num_segments`).
pub static UNSORTED_SEGMENT_SUM: OpDef =
    OpDef::new("UnsortedSegmentSum", Arity::Fixed(2), infer_segment)
        .cpu(DTypeSet::NUMERIC, sum_kernel);
/// UnsortedSegmentMax (inputs data, segment_ids; attr `num_segments`).
pub static UNSORTED_SEGMENT_MAX: OpDef =
    OpDef::new("UnsortedSegmentMax", Arity::Fixed(2), infer_segment)
        .cpu(DTypeSet::NUMERIC, max_kernel);
/// UnsortedSegmentMin (inputs data, segment_ids; attr `num_segments`).
pub static UNSORTED_SEGMENT_MIN: OpDef =
    OpDef::new("UnsortedSegmentMin", Arity::Fixed(2), infer_segment)
        .cpu(DTypeSet::NUMERIC, min_kernel);
/// UnsortedSegmentProd (inputs data, segment_ids; attr `num_segments`).
pub static UNSORTED_SEGMENT_PROD: OpDef =
    OpDef::new("UnsortedSegmentProd", Arity::Fixed(2), infer_segment)
        .cpu(DTypeSet::NUMERIC, prod_kernel);

fn segment_call(
    op: &'static OpDef,
    data: &Tensor,
    segment_ids: &Tensor,
    num_segments: i64,
) -> Result<Tensor> {
    call1(
        op,
        &[data.clone(), segment_ids.clone()],
        &Attrs::new().with("num_segments", num_segments),
    )
}

/// `tf.math.unsorted_segment_sum`: `output[s, ...] = Σ data[j.., ...]` over the
/// positions `j..` where `segment_ids[j..] == s`. `segment_ids` (int32/int64) has a
/// prefix of `data`'s shape; the output has shape
/// `[num_segments] + data.shape[segment_ids.rank:]`. Rows with a negative id are
/// dropped; empty segments are 0. Numeric dtypes; integers wrap, floats accumulate in
/// a wider type (f64 for f32, f32 for halves) and round once.
///
/// ```
/// use tf_core::{Tensor, ops};
/// let data = Tensor::from_vec(vec![1, 2, 3, 4, 5, 6, 7, 8], [4, 2])?;
/// let ids = Tensor::vector(&[0i32, 2, 0, -1]);
/// let y = ops::unsorted_segment_sum(&data, &ids, 3)?;
/// assert_eq!(y.to_vec::<i32>()?, vec![6, 8, 0, 0, 3, 4]);
/// # Ok::<(), tf_core::Error>(())
/// ```
///
/// Errors when an id is `>= num_segments` (naming it), `num_segments` is negative,
/// `segment_ids`'s shape is not a prefix of `data`'s, or the dtypes are not supported.
pub fn unsorted_segment_sum(
    data: &Tensor,
    segment_ids: &Tensor,
    num_segments: i64,
) -> Result<Tensor> {
    segment_call(&UNSORTED_SEGMENT_SUM, data, segment_ids, num_segments)
}

/// `tf.math.unsorted_segment_max`: like [`unsorted_segment_sum`] with the maximum
/// (NaN propagates); an empty segment holds the dtype's lowest finite value.
pub fn unsorted_segment_max(
    data: &Tensor,
    segment_ids: &Tensor,
    num_segments: i64,
) -> Result<Tensor> {
    segment_call(&UNSORTED_SEGMENT_MAX, data, segment_ids, num_segments)
}

/// `tf.math.unsorted_segment_min`: like [`unsorted_segment_sum`] with the minimum
/// (NaN propagates); an empty segment holds the dtype's highest finite value.
pub fn unsorted_segment_min(
    data: &Tensor,
    segment_ids: &Tensor,
    num_segments: i64,
) -> Result<Tensor> {
    segment_call(&UNSORTED_SEGMENT_MIN, data, segment_ids, num_segments)
}

/// `tf.math.unsorted_segment_prod`: like [`unsorted_segment_sum`] with the product
/// (integers wrap); an empty segment holds 1.
pub fn unsorted_segment_prod(
    data: &Tensor,
    segment_ids: &Tensor,
    num_segments: i64,
) -> Result<Tensor> {
    segment_call(&UNSORTED_SEGMENT_PROD, data, segment_ids, num_segments)
}
