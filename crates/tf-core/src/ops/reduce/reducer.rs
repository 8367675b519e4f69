//! Reducers: what one reduction does to its accumulator, independent of layout.
//!
//! The layout engine ([`super::engine`]) calls a reducer on contiguous runs of one output
//! (`run`), on single strided elements (`step`) and on rows of consecutive outputs
//! (`cols`, column reductions), then merges partial accumulators of parallel chunks.
//! `o` is always the flat index of the output being accumulated, so reducers with
//! per-output parameters (the second pass of moments and logsumexp) can look them up.

use super::num::{Compute, FloatC, NumC, fold_cols, fold_lanes};

/// One reduction's accumulator and folds over compute values of `T`.
pub(crate) trait Reducer<T: Compute>: Sync {
    /// The accumulator.
    type Acc: Copy + Send + Sync;
    /// The empty accumulator.
    fn init(&self) -> Self::Acc;
    /// Folds one value into output `o`'s accumulator.
    fn step(&self, acc: Self::Acc, x: T::C, o: usize) -> Self::Acc;
    /// Folds a contiguous run into output `o`'s accumulator (vectorized).
    fn run(&self, acc: Self::Acc, xs: &[T::C], o: usize) -> Self::Acc;
    /// `acc[j] = fold(acc[j], xs[j])` for outputs `o + j` (vectorized).
    fn cols(&self, acc: &mut [Self::Acc], xs: &[T::C], o: usize);
    /// Merges two partial accumulators of the same output.
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
}

/// Sum (wrapping for integers, `f64` accumulation for floats).
pub(crate) struct SumR;
/// Sum for a mean (integers accumulate in `i64`).
pub(crate) struct MeanR;
/// Product.
pub(crate) struct ProdR;
/// Maximum (NaN-propagating).
pub(crate) struct MaxR;
/// Minimum (NaN-propagating).
pub(crate) struct MinR;
/// Logical and.
pub(crate) struct AllR;
/// Logical or.
pub(crate) struct AnyR;

impl<T: Compute> Reducer<T> for SumR
where
    T::C: NumC,
{
    type Acc = <T::C as NumC>::Sum;
    #[inline(always)]
    fn init(&self) -> Self::Acc {
        <T::C as NumC>::SUM0
    }
    #[inline(always)]
    fn step(&self, acc: Self::Acc, x: T::C, _: usize) -> Self::Acc {
        <T::C as NumC>::sum_step(acc, x)
    }
    #[inline(always)]
    fn run(&self, acc: Self::Acc, xs: &[T::C], _: usize) -> Self::Acc {
        <T::C as NumC>::sum_run(acc, xs)
    }
    #[inline(always)]
    fn cols(&self, acc: &mut [Self::Acc], xs: &[T::C], _: usize) {
        <T::C as NumC>::sum_cols(acc, xs)
    }
    #[inline(always)]
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
        <T::C as NumC>::sum_merge(a, b)
    }
}

impl<T: Compute> Reducer<T> for MeanR
where
    T::C: NumC,
{
    type Acc = <T::C as NumC>::Mean;
    #[inline(always)]
    fn init(&self) -> Self::Acc {
        <T::C as NumC>::MEAN0
    }
    #[inline(always)]
    fn step(&self, acc: Self::Acc, x: T::C, _: usize) -> Self::Acc {
        <T::C as NumC>::mean_step(acc, x)
    }
    #[inline(always)]
    fn run(&self, acc: Self::Acc, xs: &[T::C], _: usize) -> Self::Acc {
        <T::C as NumC>::mean_run(acc, xs)
    }
    #[inline(always)]
    fn cols(&self, acc: &mut [Self::Acc], xs: &[T::C], _: usize) {
        <T::C as NumC>::mean_cols(acc, xs)
    }
    #[inline(always)]
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
        <T::C as NumC>::mean_merge(a, b)
    }
}

macro_rules! simple_reducer {
    ($name:ident, $init:expr, $op:path, $run:path) => {
        impl<T: Compute> Reducer<T> for $name
        where
            T::C: NumC,
        {
            type Acc = T::C;
            #[inline(always)]
            fn init(&self) -> T::C {
                $init
            }
            #[inline(always)]
            fn step(&self, acc: T::C, x: T::C, _: usize) -> T::C {
                $op(acc, x)
            }
            #[inline(always)]
            fn run(&self, acc: T::C, xs: &[T::C], _: usize) -> T::C {
                $run(acc, xs)
            }
            #[inline(always)]
            fn cols(&self, acc: &mut [T::C], xs: &[T::C], _: usize) {
                fold_cols(acc, xs, $op)
            }
            #[inline(always)]
            fn merge(&self, a: T::C, b: T::C) -> T::C {
                $op(a, b)
            }
        }
    };
}
simple_reducer!(
    ProdR,
    <T::C as crate::Element>::ONE,
    NumC::mul,
    NumC::prod_run
);
simple_reducer!(MaxR, <T::C as NumC>::MAX_ID, NumC::max2, NumC::max_run);
simple_reducer!(MinR, <T::C as NumC>::MIN_ID, NumC::min2, NumC::min_run);

macro_rules! bool_reducer {
    ($name:ident, $init:expr, $op:tt) => {
        impl Reducer<bool> for $name {
            type Acc = bool;
            #[inline(always)]
            fn init(&self) -> bool {
                $init
            }
            #[inline(always)]
            fn step(&self, acc: bool, x: bool, _: usize) -> bool {
                acc $op x
            }
            #[inline(always)]
            fn run(&self, acc: bool, xs: &[bool], _: usize) -> bool {
                acc $op fold_lanes(xs, $init, |a, x| a $op x, |a, b| a $op b)
            }
            #[inline(always)]
            fn cols(&self, acc: &mut [bool], xs: &[bool], _: usize) {
                fold_cols(acc, xs, |a, x| a $op x)
            }
            #[inline(always)]
            fn merge(&self, a: bool, b: bool) -> bool {
                a $op b
            }
        }
    };
}
bool_reducer!(AllR, true, &);
bool_reducer!(AnyR, false, |);

/// Sum of squared deviations from a per-output mean (second pass of moments), in `f64`.
pub(crate) struct SqDevR<'a> {
    /// The mean of every output.
    pub mean: &'a [f64],
}

impl<T: Compute> Reducer<T> for SqDevR<'_>
where
    T::C: FloatC,
{
    type Acc = f64;
    #[inline(always)]
    fn init(&self) -> f64 {
        0.0
    }
    #[inline(always)]
    fn step(&self, acc: f64, x: T::C, o: usize) -> f64 {
        let d = x.f64() - self.mean[o];
        acc + d * d
    }
    #[inline(always)]
    fn run(&self, acc: f64, xs: &[T::C], o: usize) -> f64 {
        let m = self.mean[o];
        acc + fold_lanes(
            xs,
            0f64,
            |a, x| {
                let d = x.f64() - m;
                a + d * d
            },
            |a, b| a + b,
        )
    }
    #[inline(always)]
    fn cols(&self, acc: &mut [f64], xs: &[T::C], o: usize) {
        let means = &self.mean[o..o + acc.len()];
        for ((a, &x), &m) in acc.iter_mut().zip(xs).zip(means) {
            let d = x.f64() - m;
            *a += d * d;
        }
    }
    #[inline(always)]
    fn merge(&self, a: f64, b: f64) -> f64 {
        a + b
    }
}

/// `sum(exp(x - shift[o]))` in `f64` (second pass of logsumexp).
pub(crate) struct SumExpR<'a, C> {
    /// The (finite) shift of every output.
    pub shift: &'a [C],
}

impl<T: Compute> Reducer<T> for SumExpR<'_, T::C>
where
    T::C: FloatC,
{
    type Acc = f64;
    #[inline(always)]
    fn init(&self) -> f64 {
        0.0
    }
    #[inline(always)]
    fn step(&self, acc: f64, x: T::C, o: usize) -> f64 {
        acc + x.sub(self.shift[o]).exp().f64()
    }
    #[inline(always)]
    fn run(&self, acc: f64, xs: &[T::C], o: usize) -> f64 {
        let s = self.shift[o];
        xs.iter().fold(acc, |a, &x| a + x.sub(s).exp().f64())
    }
    #[inline(always)]
    fn cols(&self, acc: &mut [f64], xs: &[T::C], o: usize) {
        let shifts = &self.shift[o..o + acc.len()];
        for ((a, &x), &s) in acc.iter_mut().zip(xs).zip(shifts) {
            *a += x.sub(s).exp().f64();
        }
    }
    #[inline(always)]
    fn merge(&self, a: f64, b: f64) -> f64 {
        a + b
    }
}
