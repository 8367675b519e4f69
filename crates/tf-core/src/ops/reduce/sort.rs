//! Sorting: `TopKV2`, `Sort` and `ArgSort`.
//!
//! One total order serves all three: numbers by value, `-0.0 == 0.0`, and NaN greater
//! than every number (so NaN sorts last ascending, like NumPy, and first descending and
//! in `top_k`). Equal values keep their index order in both directions (`argsort` is
//! stable; `top_k` puts the lower index first, as TensorFlow). Each value maps to an
//! order-preserving `u64` key; lines sort `(key, index)` pairs, which are all distinct,
//! so the fast unstable sort and selection give exactly the stable result.

use super::axes::split_at_axis;
use super::par::{fill_blocks, fill_blocks2};
use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call, call1, spec1};
use crate::shape::{PartialShape, normalize_axis};
use crate::tensor::Tensor;
use half::{bf16, f16};

/// An order-preserving key: `a < b` in the sort order iff `a.key() < b.key()`.
trait SortKey: Element {
    fn key(self) -> u64;
}

#[inline(always)]
fn f32_key(x: f32) -> u64 {
    if x.is_nan() {
        return u64::MAX;
    }
    // +0.0 for both zeros, then flip: negatives reversed below positives.
    let bits = (x + 0.0).to_bits();
    (if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }) as u64
}

impl SortKey for f32 {
    #[inline(always)]
    fn key(self) -> u64 {
        f32_key(self)
    }
}
impl SortKey for f16 {
    #[inline(always)]
    fn key(self) -> u64 {
        f32_key(self.to_f32())
    }
}
impl SortKey for bf16 {
    #[inline(always)]
    fn key(self) -> u64 {
        f32_key(self.to_f32())
    }
}
impl SortKey for f64 {
    #[inline(always)]
    fn key(self) -> u64 {
        if self.is_nan() {
            return u64::MAX;
        }
        let bits = (self + 0.0).to_bits();
        if bits >> 63 == 1 {
            !bits
        } else {
            bits | 1 << 63
        }
    }
}
macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl SortKey for $t {
            #[inline(always)]
            fn key(self) -> u64 { (self as i64 as u64) ^ (1 << 63) }
        }
    )*};
}
int_key!(i8, i32, i64);
impl SortKey for u8 {
    #[inline(always)]
    fn key(self) -> u64 {
        self as u64
    }
}

/// Fills `buf` with the `(key, index)` pairs of `n` elements from `start` (step
/// `stride`); descending order uses complemented keys.
#[inline]
fn keys<T: SortKey>(
    buf: &mut Vec<(u64, u32)>,
    src: &[T],
    start: usize,
    n: usize,
    stride: usize,
    desc: bool,
) {
    buf.clear();
    let flip = if desc { u64::MAX } else { 0 };
    buf.extend((0..n).map(|i| (src[start + i * stride].key() ^ flip, i as u32)));
}

/// Rejects dimensions whose indices do not fit int32 (the index dtype of these ops).
fn check_index_range(op: &'static str, shape: &PartialShape, axis: usize) -> Result<()> {
    match shape[axis] {
        Some(n) if n > i32::MAX as usize => Err(Error::invalid(
            op,
            format!("dimension {axis} of shape {shape} is too large for int32 indices"),
        )),
        _ => Ok(()),
    }
}

/// Whether the `direction` attribute asks for descending order.
fn descending(op: &'static str, direction: &str) -> Result<bool> {
    match direction {
        "ASCENDING" => Ok(false),
        "DESCENDING" => Ok(true),
        other => Err(Error::invalid(
            op,
            format!("direction must be \"ASCENDING\" or \"DESCENDING\", got {other:?}"),
        )),
    }
}

/// Sorts every line along the middle axis of `(outer, n, inner)` and writes
/// `put(source element, source position)` in sorted order along the line.
fn sorted_lines<T: SortKey, O: Clone + Send + Sync>(
    data: &[T],
    (outer, n, inner): (usize, usize, usize),
    desc: bool,
    fill: O,
    put: impl Fn(usize, u32) -> O + Sync,
) -> Vec<O> {
    let len = n * inner;
    let work = len * (usize::BITS - n.leading_zeros()).max(1) as usize;
    fill_blocks(fill, outer, len, work, |first, chunk| {
        let mut buf = Vec::with_capacity(n);
        for (b, dst) in chunk.chunks_mut(len).enumerate() {
            let base = (first + b) * len;
            for j in 0..inner {
                keys(&mut buf, data, base + j, n, inner, desc);
                buf.sort_unstable();
                for (i, &(_, p)) in buf.iter().enumerate() {
                    dst[j + i * inner] = put(base + j + p as usize * inner, p);
                }
            }
        }
    })
}

fn sort_kernel_t<T: SortKey>(ctx: &KernelContext<'_>, indices: bool) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axis = normalize_axis(ctx.name(), ctx.attr_int("axis")?, x.rank())?;
    let desc = descending(ctx.name(), ctx.attr_str("direction")?)?;
    let layout = split_at_axis(x.dims(), axis);
    let data = x.host_data::<T>()?;
    let data: &[T] = &data;
    let shape = x.shape().clone();
    Ok(vec![if indices {
        Tensor::from_host_vec(
            sorted_lines(data, layout, desc, 0i32, |_, p| p as i32),
            shape,
        )?
    } else {
        Tensor::from_host_vec(
            sorted_lines(data, layout, desc, T::ZERO, |s, _| data[s]),
            shape,
        )?
    }])
}

fn top_k_t<T: SortKey>(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let k = usize::try_from(ctx.attr_int("k")?).unwrap_or(0);
    let (outer, n, _) = split_at_axis(x.dims(), x.rank().saturating_sub(1));
    let data = x.host_data::<T>()?;
    let data: &[T] = &data;
    let work = n * (usize::BITS - k.leading_zeros()).max(1) as usize;
    let (values, indices) = fill_blocks2((T::ZERO, 0i32), outer, (k, k), work, |first, va, ia| {
        let mut buf = Vec::with_capacity(n);
        for (b, (vo, io)) in va.chunks_mut(k).zip(ia.chunks_mut(k)).enumerate() {
            let base = (first + b) * n;
            keys(&mut buf, data, base, n, 1, true);
            if k < n {
                buf.select_nth_unstable(k);
                buf.truncate(k);
            }
            buf.sort_unstable();
            for (i, &(_, p)) in buf.iter().enumerate() {
                vo[i] = data[base + p as usize];
                io[i] = p as i32;
            }
        }
    });
    Ok(vec![
        Tensor::from_host_vec(values, ctx.out_shape(0)?)?,
        Tensor::from_host_vec(indices, ctx.out_shape(1)?)?,
    ])
}

macro_rules! by_dtype {
    ($ctx:expr, $f:ident $(, $arg:expr)*) => {
        match $ctx.input(0).dtype() {
            DType::F32 => $f::<f32>($ctx $(, $arg)*),
            DType::F64 => $f::<f64>($ctx $(, $arg)*),
            DType::F16 => $f::<f16>($ctx $(, $arg)*),
            DType::BF16 => $f::<bf16>($ctx $(, $arg)*),
            DType::I8 => $f::<i8>($ctx $(, $arg)*),
            DType::U8 => $f::<u8>($ctx $(, $arg)*),
            DType::I32 => $f::<i32>($ctx $(, $arg)*),
            DType::I64 => $f::<i64>($ctx $(, $arg)*),
            other => Err($ctx.unsupported_dtype(other)),
        }
    };
}

fn sort_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    by_dtype!(ctx, sort_kernel_t, false)
}
fn argsort_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    by_dtype!(ctx, sort_kernel_t, true)
}
fn top_k_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    by_dtype!(ctx, top_k_t)
}

fn infer_sort(ctx: &InferContext<'_>, out: Option<DType>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let shape = ctx.shape(0);
    let axis = normalize_axis(ctx.name(), ctx.attr_int("axis")?, shape.rank())?;
    descending(ctx.name(), ctx.attr_str("direction")?)?;
    check_index_range(ctx.name(), &shape, axis)?;
    spec1(out.unwrap_or(dt), shape)
}
fn infer_sort_values(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_sort(ctx, None)
}
fn infer_argsort(ctx: &InferContext<'_>) -> Result<Specs> {
    infer_sort(ctx, Some(DType::I32))
}

fn infer_top_k(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let shape = ctx.shape(0);
    let k = ctx.attr_int("k")?;
    ctx.attr_bool("sorted")?;
    let Some(&last) = shape.last() else {
        return Err(Error::invalid(
            ctx.name(),
            format!("input must be at least rank 1, got shape {shape}"),
        ));
    };
    if k < 0 {
        return Err(Error::invalid(
            ctx.name(),
            format!("k must be >= 0, got {k}"),
        ));
    }
    if let Some(n) = last
        && (k as u64) > n as u64
    {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "input of shape {shape} must have at least k={k} columns in its last dimension, had {n}"
            ),
        ));
    }
    check_index_range(ctx.name(), &shape, shape.rank() - 1)?;
    let r = shape.rank();
    let out: PartialShape = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if i + 1 == r { Some(k as usize) } else { d })
        .collect();
    let mut specs = spec1(dt, out.clone())?;
    specs.push(crate::op::TensorSpec::new(DType::I32, out));
    Ok(specs)
}

/// Sorted values along `axis` (`tf.sort`; attributes `axis`, `direction`).
pub static SORT: OpDef =
    OpDef::new("Sort", Arity::Fixed(1), infer_sort_values).cpu(DTypeSet::NUMERIC, sort_kernel);
/// Stable sorting permutation along `axis` as int32 (`tf.argsort`).
pub static ARG_SORT: OpDef =
    OpDef::new("ArgSort", Arity::Fixed(1), infer_argsort).cpu(DTypeSet::NUMERIC, argsort_kernel);
/// The `k` largest values of the last axis and their int32 indices (`TopKV2`;
/// attributes `k`, `sorted`).
pub static TOP_K: OpDef =
    OpDef::new("TopKV2", Arity::Fixed(1), infer_top_k).cpu(DTypeSet::NUMERIC, top_k_kernel);

/// Sort order of [`sort`] and [`argsort`] (TensorFlow's `direction` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortDirection {
    /// Smallest first; NaN last.
    #[default]
    Ascending,
    /// Largest first; NaN first.
    Descending,
}

impl SortDirection {
    /// TensorFlow's name: `"ASCENDING"` or `"DESCENDING"`.
    pub fn name(self) -> &'static str {
        match self {
            SortDirection::Ascending => "ASCENDING",
            SortDirection::Descending => "DESCENDING",
        }
    }
}

fn sort_attrs(axis: i64, direction: SortDirection) -> Attrs {
    Attrs::new()
        .with("axis", axis)
        .with("direction", direction.name())
}

/// `tf.sort(x, axis, direction)`: the values sorted along `axis`, same shape and
/// dtype. NaN counts as larger than every number (last ascending, first descending);
/// `-0.0` and `0.0` are equal and keep their order. Numeric dtypes.
///
/// Errors on an axis out of range (including rank 0) or a bool input.
///
/// ```
/// use tf_core::{ops, ops::SortDirection, Tensor};
/// let x = Tensor::from_vec(vec![3.0f32, f32::NAN, -1.0, 2.0], [4])?;
/// let s = ops::sort(&x, -1, SortDirection::Ascending)?.to_vec::<f32>()?;
/// assert_eq!(&s[..3], &[-1.0, 2.0, 3.0]);
/// assert!(s[3].is_nan());
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn sort(x: &Tensor, axis: i64, direction: SortDirection) -> Result<Tensor> {
    call1(&SORT, std::slice::from_ref(x), &sort_attrs(axis, direction))
}

/// `tf.argsort(x, axis, direction, stable=True)`: int32 indices that sort `x` along
/// `axis` (same order as [`sort`]); always stable, in both directions: equal values keep
/// their index order.
pub fn argsort(x: &Tensor, axis: i64, direction: SortDirection) -> Result<Tensor> {
    call1(
        &ARG_SORT,
        std::slice::from_ref(x),
        &sort_attrs(axis, direction),
    )
}

/// `tf.math.top_k(x, k, sorted)`: the `k` largest entries of the last axis, as
/// `(values, int32 indices)` of shape `[..., k]`, largest first; equal values give the
/// lower index first; NaN counts as the largest value. The output is sorted whatever
/// `sorted` says (any order is valid for `sorted=false`). Numeric dtypes.
///
/// Errors when `x` is a scalar or its last dimension is smaller than `k`.
///
/// ```
/// use tf_core::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1i32, 5, 3, 5], [4])?;
/// let (v, i) = ops::top_k(&x, 2, true)?;
/// assert_eq!(v.to_vec::<i32>()?, vec![5, 5]);
/// assert_eq!(i.to_vec::<i32>()?, vec![1, 3]);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn top_k(x: &Tensor, k: usize, sorted: bool) -> Result<(Tensor, Tensor)> {
    let attrs = Attrs::new().with("k", k).with("sorted", sorted);
    let mut out = call(&TOP_K, std::slice::from_ref(x), &attrs)?.into_iter();
    match (out.next(), out.next()) {
        (Some(v), Some(i)) => Ok((v, i)),
        _ => Err(Error::precondition("TopKV2", "expected two outputs")),
    }
}
