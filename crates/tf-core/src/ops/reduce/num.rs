//! Per-dtype arithmetic of the reduction kernels.
//!
//! Every element type `T` computes in a *compute type* [`Compute::C`]: itself, except
//! `f16`/`bf16` which widen to `f32` (converted in short vectorized chunks, rounded once
//! at the end). [`NumC`] then gives each numeric compute type its accumulators and
//! vectorizable folds with TensorFlow's semantics:
//!
//! - sums: floats accumulate in `f64` (f32 values are first summed in short `f32` lane
//!   blocks, then the block sums in `f64`), integers wrap in their own type;
//! - means: floats as sums, integers in `i64` (TensorFlow's intermediate type) with
//!   truncating division;
//! - products in the compute type (integers wrap);
//! - max/min propagate NaN.

use crate::dtype::Element;
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// Lanes of independent accumulators in contiguous folds: enough to hide add latency and
/// fill AVX-512 registers; the compiler turns each lane array into vector registers.
pub(crate) const LANES: usize = 64;

/// Elements per `f32` lane block before the partial sum moves to `f64` (each lane adds
/// at most `F32_BLOCK / LANES` values in single precision).
pub(crate) const F32_BLOCK: usize = 1024;

/// Folds `xs` with `LANES` independent accumulators and merges them pairwise.
#[inline(always)]
pub(crate) fn fold_lanes<A: Copy, X: Copy>(
    xs: &[X],
    init: A,
    step: impl Fn(A, X) -> A,
    merge: impl Fn(A, A) -> A,
) -> A {
    if xs.len() < LANES {
        // Short runs (reductions over small inner axes): merging lanes would cost more
        // than the run itself.
        return xs.iter().fold(init, |a, &x| step(a, x));
    }
    let mut acc = [init; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] = step(acc[i], c[i]);
        }
    }
    for (i, &x) in chunks.remainder().iter().enumerate() {
        acc[i] = step(acc[i], x);
    }
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] = merge(acc[i], acc[i + w]);
        }
    }
    acc[0]
}

/// `acc[j] = step(acc[j], xs[j])` over two equally long slices (vectorizes).
#[inline(always)]
pub(crate) fn fold_cols<A: Copy, X: Copy>(acc: &mut [A], xs: &[X], step: impl Fn(A, X) -> A) {
    for (a, &x) in acc.iter_mut().zip(xs) {
        *a = step(*a, x);
    }
}

/// How an element type is read by the reduction kernels.
pub(crate) trait Compute: Element {
    /// The type arithmetic runs in.
    type C: Copy + Send + Sync + PartialOrd + 'static;
    /// Widens one element.
    fn to_c(self) -> Self::C;
    /// Narrows a compute value (rounding once).
    fn from_c(c: Self::C) -> Self;
    /// Calls `f` on consecutive compute-typed pieces of `xs`, in order: the slice itself
    /// when no widening is needed, otherwise short converted chunks.
    fn chunks_c(xs: &[Self], f: impl FnMut(&[Self::C]));
}

macro_rules! compute_self {
    ($($t:ty),*) => {$(
        impl Compute for $t {
            type C = $t;
            #[inline(always)]
            fn to_c(self) -> $t { self }
            #[inline(always)]
            fn from_c(c: $t) -> $t { c }
            #[inline(always)]
            fn chunks_c(xs: &[$t], mut f: impl FnMut(&[$t])) { f(xs) }
        }
    )*};
}
compute_self!(f32, f64, i8, u8, i32, i64, bool);

/// Chunk length for widening half floats on the stack.
const HALF_CHUNK: usize = 512;

macro_rules! compute_half {
    ($($t:ty),*) => {$(
        impl Compute for $t {
            type C = f32;
            #[inline(always)]
            fn to_c(self) -> f32 { self.to_f32() }
            #[inline(always)]
            fn from_c(c: f32) -> $t { <$t>::from_f32(c) }
            #[inline(always)]
            fn chunks_c(xs: &[$t], mut f: impl FnMut(&[f32])) {
                let mut buf = [0f32; HALF_CHUNK];
                for c in xs.chunks(HALF_CHUNK) {
                    let b = &mut buf[..c.len()];
                    c.convert_to_f32_slice(b);
                    f(b);
                }
            }
        }
    )*};
}
compute_half!(f16, bf16);

/// Accumulators and folds of a numeric compute type (`f32`, `f64` and the integers).
pub(crate) trait NumC: Element + PartialOrd {
    /// Sum accumulator (`f64` for floats, the type itself for integers: wraps).
    type Sum: Copy + Send + Sync;
    /// Mean accumulator (`f64` for floats, `i64` for integers).
    type Mean: Copy + Send + Sync;
    /// Empty sum.
    const SUM0: Self::Sum;
    /// Empty mean accumulator.
    const MEAN0: Self::Mean;
    /// Identity of max: `-inf` for floats, the lowest value for integers.
    const MAX_ID: Self;
    /// Identity of min: `+inf` for floats, the highest value for integers.
    const MIN_ID: Self;

    /// Adds a contiguous run to a sum.
    fn sum_run(acc: Self::Sum, xs: &[Self]) -> Self::Sum;
    /// Adds one value to a sum.
    fn sum_step(acc: Self::Sum, x: Self) -> Self::Sum;
    /// Merges two sums.
    fn sum_merge(a: Self::Sum, b: Self::Sum) -> Self::Sum;
    /// `acc[j] += xs[j]`.
    fn sum_cols(acc: &mut [Self::Sum], xs: &[Self]);
    /// The sum as an output element (rounded once).
    fn sum_out<T: Element>(acc: Self::Sum) -> T;

    /// Adds one value to a mean accumulator.
    fn mean_step(acc: Self::Mean, x: Self) -> Self::Mean;
    /// Adds a contiguous run to a mean accumulator.
    fn mean_run(acc: Self::Mean, xs: &[Self]) -> Self::Mean;
    /// Merges two mean accumulators.
    fn mean_merge(a: Self::Mean, b: Self::Mean) -> Self::Mean;
    /// `acc[j] += xs[j]` for means.
    fn mean_cols(acc: &mut [Self::Mean], xs: &[Self]);
    /// The mean of `count` values as an output element: floats divide (NaN when
    /// empty), integers divide truncating toward zero (0 when empty), like TensorFlow.
    fn mean_out<T: Element>(acc: Self::Mean, count: usize) -> T;

    /// `a * b` (wrapping for integers).
    fn mul(a: Self, b: Self) -> Self;
    /// The larger value; NaN if either is NaN.
    fn max2(a: Self, b: Self) -> Self;
    /// The smaller value; NaN if either is NaN.
    fn min2(a: Self, b: Self) -> Self;

    /// Product of a contiguous run.
    #[inline(always)]
    fn prod_run(acc: Self, xs: &[Self]) -> Self {
        Self::mul(acc, fold_lanes(xs, Self::ONE, Self::mul, Self::mul))
    }
    /// Max of a contiguous run.
    #[inline(always)]
    fn max_run(acc: Self, xs: &[Self]) -> Self {
        Self::max2(acc, fold_lanes(xs, Self::MAX_ID, Self::max2, Self::max2))
    }
    /// Min of a contiguous run.
    #[inline(always)]
    fn min_run(acc: Self, xs: &[Self]) -> Self {
        Self::min2(acc, fold_lanes(xs, Self::MIN_ID, Self::min2, Self::min2))
    }
}

macro_rules! num_float {
    ($t:ty) => {
        #[inline(always)]
        fn sum_step(acc: f64, x: $t) -> f64 {
            acc + x as f64
        }
        #[inline(always)]
        fn sum_merge(a: f64, b: f64) -> f64 {
            a + b
        }
        #[inline(always)]
        fn sum_cols(acc: &mut [f64], xs: &[$t]) {
            fold_cols(acc, xs, |a, x| a + x as f64)
        }
        #[inline(always)]
        fn sum_out<T: Element>(acc: f64) -> T {
            T::from_f64(acc)
        }
        #[inline(always)]
        fn mean_step(acc: f64, x: $t) -> f64 {
            acc + x as f64
        }
        #[inline(always)]
        fn mean_run(acc: f64, xs: &[$t]) -> f64 {
            Self::sum_run(acc, xs)
        }
        #[inline(always)]
        fn mean_merge(a: f64, b: f64) -> f64 {
            a + b
        }
        #[inline(always)]
        fn mean_cols(acc: &mut [f64], xs: &[$t]) {
            Self::sum_cols(acc, xs)
        }
        #[inline(always)]
        fn mean_out<T: Element>(acc: f64, count: usize) -> T {
            T::from_f64(acc / count as f64)
        }
        #[inline(always)]
        fn mul(a: $t, b: $t) -> $t {
            a * b
        }
        #[inline(always)]
        #[allow(clippy::eq_op)]
        fn max2(a: $t, b: $t) -> $t {
            // Keeps `a` when it is NaN (sticky) or not smaller; takes `b` otherwise, which
            // also takes a NaN `b`. Branch-free, so lane arrays vectorize.
            if a >= b || a != a { a } else { b }
        }
        #[inline(always)]
        #[allow(clippy::eq_op)]
        fn min2(a: $t, b: $t) -> $t {
            if a <= b || a != a { a } else { b }
        }
    };
}

impl NumC for f32 {
    type Sum = f64;
    type Mean = f64;
    const SUM0: f64 = 0.0;
    const MEAN0: f64 = 0.0;
    const MAX_ID: f32 = f32::NEG_INFINITY;
    const MIN_ID: f32 = f32::INFINITY;

    /// Blocks of [`F32_BLOCK`] values are summed in `f32` lanes (fast, each lane adds a
    /// few dozen values), the block sums in `f64`: accurate for any length.
    #[inline(always)]
    fn sum_run(acc: f64, xs: &[f32]) -> f64 {
        let mut total = acc;
        for block in xs.chunks(F32_BLOCK) {
            total += fold_lanes(block, 0f32, |a, x| a + x, |a, b| a + b) as f64;
        }
        total
    }
    num_float!(f32);
}

impl NumC for f64 {
    type Sum = f64;
    type Mean = f64;
    const SUM0: f64 = 0.0;
    const MEAN0: f64 = 0.0;
    const MAX_ID: f64 = f64::NEG_INFINITY;
    const MIN_ID: f64 = f64::INFINITY;

    #[inline(always)]
    fn sum_run(acc: f64, xs: &[f64]) -> f64 {
        acc + fold_lanes(xs, 0f64, |a, x| a + x, |a, b| a + b)
    }
    num_float!(f64);
}

macro_rules! num_int {
    ($($t:ty),*) => {$(
        impl NumC for $t {
            type Sum = $t;
            type Mean = i64;
            const SUM0: $t = 0;
            const MEAN0: i64 = 0;
            const MAX_ID: $t = <$t>::MIN;
            const MIN_ID: $t = <$t>::MAX;

            #[inline(always)]
            fn sum_run(acc: $t, xs: &[$t]) -> $t {
                acc.wrapping_add(fold_lanes(xs, 0, <$t>::wrapping_add, <$t>::wrapping_add))
            }
            #[inline(always)]
            fn sum_step(acc: $t, x: $t) -> $t { acc.wrapping_add(x) }
            #[inline(always)]
            fn sum_merge(a: $t, b: $t) -> $t { a.wrapping_add(b) }
            #[inline(always)]
            fn sum_cols(acc: &mut [$t], xs: &[$t]) { fold_cols(acc, xs, <$t>::wrapping_add) }
            #[inline(always)]
            fn sum_out<T: Element>(acc: $t) -> T { acc.cast::<T>() }
            #[inline(always)]
            fn mean_step(acc: i64, x: $t) -> i64 { acc.wrapping_add(x as i64) }
            #[inline(always)]
            fn mean_run(acc: i64, xs: &[$t]) -> i64 {
                acc.wrapping_add(fold_lanes(xs, 0i64, |a, x| a.wrapping_add(x as i64), i64::wrapping_add))
            }
            #[inline(always)]
            fn mean_merge(a: i64, b: i64) -> i64 { a.wrapping_add(b) }
            #[inline(always)]
            fn mean_cols(acc: &mut [i64], xs: &[$t]) {
                fold_cols(acc, xs, |a, x| a.wrapping_add(x as i64))
            }
            #[inline(always)]
            fn mean_out<T: Element>(acc: i64, count: usize) -> T {
                // TensorFlow fills empty integer means with NumTraits::quiet_NaN() == 0.
                if count == 0 {
                    return T::ZERO;
                }
                let q = acc.wrapping_div(i64::try_from(count).unwrap_or(i64::MAX));
                T::from_i64(q)
            }
            #[inline(always)]
            fn mul(a: $t, b: $t) -> $t { a.wrapping_mul(b) }
            #[inline(always)]
            fn max2(a: $t, b: $t) -> $t { if a >= b { a } else { b } }
            #[inline(always)]
            fn min2(a: $t, b: $t) -> $t { if a <= b { a } else { b } }
        }
    )*};
}
num_int!(i8, u8, i32, i64);

/// Float compute types (`f32`, `f64`) for logsumexp and moments.
pub(crate) trait FloatC: NumC<Sum = f64> {
    /// As f64.
    fn f64(self) -> f64;
    /// From f64 (rounding).
    fn from_f64c(v: f64) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Whether finite.
    fn finite(self) -> bool;
    /// `self - b`.
    fn sub(self, b: Self) -> Self;
}

macro_rules! float_c {
    ($($t:ty),*) => {$(
        impl FloatC for $t {
            #[inline(always)]
            fn f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn from_f64c(v: f64) -> $t { v as $t }
            #[inline(always)]
            fn exp(self) -> $t { <$t>::exp(self) }
            #[inline(always)]
            fn finite(self) -> bool { self.is_finite() }
            #[inline(always)]
            fn sub(self, b: $t) -> $t { self - b }
        }
    )*};
}
float_c!(f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_cover_every_element() {
        for n in [0usize, 1, 31, 32, 33, 100, 1025, 5000] {
            let xs: Vec<i64> = (0..n as i64).collect();
            let s = fold_lanes(&xs, 0i64, |a, x| a + x, |a, b| a + b);
            assert_eq!(s, (n as i64) * (n as i64 - 1).max(0) / 2, "n={n}");
            let f: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let expect = (0..n).map(|i| i as f64).sum::<f64>();
            assert_eq!(f32::sum_run(0.0, &f), expect);
        }
    }

    #[test]
    fn nan_propagates_through_max_and_min() {
        let xs = [1.0f32, f32::NAN, 3.0];
        assert!(f32::max_run(f32::MAX_ID, &xs).is_nan());
        assert!(f32::min_run(f32::MIN_ID, &xs).is_nan());
        assert!(f32::max2(f32::NAN, 1.0).is_nan());
        assert!(f32::max2(1.0, f32::NAN).is_nan());
        assert_eq!(i8::max_run(i8::MAX_ID, &[-3, 7, 2]), 7);
        assert_eq!(u8::min_run(u8::MIN_ID, &[9, 4, 200]), 4);
    }

    #[test]
    fn integer_sums_wrap_and_means_truncate() {
        assert_eq!(i8::sum_run(0, &[100, 100]), -56);
        assert_eq!(i8::mean_out::<i8>(i8::mean_run(0, &[100, 100, 1]), 3), 67);
        assert_eq!(i32::mean_out::<i32>(i32::mean_run(0, &[-7, 0]), 2), -3);
        assert_eq!(i32::mean_out::<i32>(0, 0), 0);
        assert!(f32::mean_out::<f32>(0.0, 0).is_nan());
        let widened: Vec<f32> = {
            let h = vec![f16::from_f32(1.5); 1000];
            let mut v = Vec::new();
            f16::chunks_c(&h, |c| v.extend_from_slice(c));
            v
        };
        assert_eq!(widened, vec![1.5f32; 1000]);
    }
}
