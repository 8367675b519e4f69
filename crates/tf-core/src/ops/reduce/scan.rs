//! Scans: `Cumsum` and `Cumprod` along one axis.
//!
//! Attributes: `axis` (int), `exclusive` (output `i` folds the elements before `i`,
//! starting from the identity) and `reverse` (scan from the end), as in TensorFlow.
//! Float cumulative sums accumulate in f64 and round each output once; half-float
//! products accumulate in f32; integers wrap.

use super::axes::split_at_axis;
use super::num::{Compute, NumC};
use super::par::fill_blocks;
use crate::dtype::{DTypeSet, Element};
use crate::error::Result;
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

/// One scan's running accumulator.
trait ScanOp<T: Compute>: Sync {
    type Acc: Copy + Send + Sync;
    fn init(&self) -> Self::Acc;
    fn add(&self, acc: Self::Acc, x: T::C) -> Self::Acc;
    fn out(&self, acc: Self::Acc) -> T;
}

struct SumScan;
struct ProdScan;

impl<T: Compute> ScanOp<T> for SumScan
where
    T::C: NumC,
{
    type Acc = <T::C as NumC>::Sum;
    #[inline(always)]
    fn init(&self) -> Self::Acc {
        <T::C as NumC>::SUM0
    }
    #[inline(always)]
    fn add(&self, acc: Self::Acc, x: T::C) -> Self::Acc {
        <T::C as NumC>::sum_step(acc, x)
    }
    #[inline(always)]
    fn out(&self, acc: Self::Acc) -> T {
        <T::C as NumC>::sum_out::<T>(acc)
    }
}

impl<T: Compute> ScanOp<T> for ProdScan
where
    T::C: NumC,
{
    type Acc = T::C;
    #[inline(always)]
    fn init(&self) -> T::C {
        <T::C as Element>::ONE
    }
    #[inline(always)]
    fn add(&self, acc: T::C, x: T::C) -> T::C {
        <T::C as NumC>::mul(acc, x)
    }
    #[inline(always)]
    fn out(&self, acc: T::C) -> T {
        T::from_c(acc)
    }
}

fn scan<T: Compute, S: ScanOp<T>>(ctx: &KernelContext<'_>, s: &S) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let axis = normalize_axis(ctx.name(), ctx.attr_int("axis")?, x.rank())?;
    let exclusive = ctx.attr_bool("exclusive")?;
    let reverse = ctx.attr_bool("reverse")?;
    let (outer, n, inner) = split_at_axis(x.dims(), axis);
    let data = x.host_data::<T>()?;
    let data: &[T] = &data;
    let len = n * inner;
    let out = fill_blocks(T::ZERO, outer, len, len, |first, chunk| {
        let mut acc = vec![s.init(); inner];
        for (b, dst) in chunk.chunks_mut(len).enumerate() {
            let src = &data[(first + b) * len..][..len];
            acc.fill(s.init());
            for step in 0..n {
                let i = if reverse { n - 1 - step } else { step };
                let row = &src[i * inner..][..inner];
                let out = &mut dst[i * inner..][..inner];
                for ((a, o), &v) in acc.iter_mut().zip(out.iter_mut()).zip(row) {
                    if exclusive {
                        *o = s.out(*a);
                        *a = s.add(*a, v.to_c());
                    } else {
                        *a = s.add(*a, v.to_c());
                        *o = s.out(*a);
                    }
                }
            }
        }
    });
    Ok(vec![Tensor::from_host_vec(out, x.shape().clone())?])
}

fn cumsum_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_numeric!(ctx.input(0).dtype(), T => scan::<T, _>(ctx, &SumScan),
        other => Err(ctx.unsupported_dtype(other)))
}

fn cumprod_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    crate::with_numeric!(ctx.input(0).dtype(), T => scan::<T, _>(ctx, &ProdScan),
        other => Err(ctx.unsupported_dtype(other)))
}

fn infer_scan(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let shape = ctx.shape(0);
    normalize_axis(ctx.name(), ctx.attr_int("axis")?, shape.rank())?;
    ctx.attr_bool("exclusive")?;
    ctx.attr_bool("reverse")?;
    spec1(dt, shape)
}

/// Cumulative sum along `axis` (`Cumsum`).
pub static CUMSUM: OpDef =
    OpDef::new("Cumsum", Arity::Fixed(1), infer_scan).cpu(DTypeSet::NUMERIC, cumsum_kernel);
/// Cumulative product along `axis` (`Cumprod`).
pub static CUMPROD: OpDef =
    OpDef::new("Cumprod", Arity::Fixed(1), infer_scan).cpu(DTypeSet::NUMERIC, cumprod_kernel);

fn scan_attrs(axis: i64, exclusive: bool, reverse: bool) -> Attrs {
    Attrs::new()
        .with("axis", axis)
        .with("exclusive", exclusive)
        .with("reverse", reverse)
}

/// `tf.math.cumsum(x, axis, exclusive, reverse)`: running sums along `axis`, same shape
/// and dtype. `exclusive` leaves each element out of its own sum (the first output is
/// 0); `reverse` sums from the end. Numeric dtypes.
///
/// Errors on an axis out of range or a bool input.
///
/// ```
/// use tf_core::{ops, Tensor};
/// let x = Tensor::from_vec(vec![1i32, 2, 3], [3])?;
/// assert_eq!(ops::cumsum(&x, 0, false, false)?.to_vec::<i32>()?, vec![1, 3, 6]);
/// assert_eq!(ops::cumsum(&x, 0, true, false)?.to_vec::<i32>()?, vec![0, 1, 3]);
/// assert_eq!(ops::cumsum(&x, 0, false, true)?.to_vec::<i32>()?, vec![6, 5, 3]);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn cumsum(x: &Tensor, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
    call1(
        &CUMSUM,
        std::slice::from_ref(x),
        &scan_attrs(axis, exclusive, reverse),
    )
}

/// `tf.math.cumprod(x, axis, exclusive, reverse)`: running products along `axis` (the
/// first exclusive output is 1); see [`cumsum`].
pub fn cumprod(x: &Tensor, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
    call1(
        &CUMPROD,
        std::slice::from_ref(x),
        &scan_attrs(axis, exclusive, reverse),
    )
}
