//! Accumulation arithmetic of the gradient-support ops that add values together
//! (MirrorPadGrad, the unsorted segment reductions): each numeric element type sums in
//! an accumulator type and rounds once at the end.
//!
//! - `f16`/`bf16` accumulate in `f32`, `f32` and `f64` in `f64`;
//! - integers accumulate in their own type and wrap (TensorFlow's C++ arithmetic);
//! - max/min propagate NaN; the identities of empty max/min are the lowest/highest
//!   finite values (`std::numeric_limits<T>::lowest()`/`max()`, TensorFlow's choice).

use crate::dtype::Element;
use half::{bf16, f16};

/// How a numeric element type accumulates.
pub(crate) trait Accum: Element {
    /// The accumulator type.
    type Acc: Element;
    /// The lowest finite value (empty max).
    const LOWEST: Self;
    /// The highest finite value (empty min).
    const HIGHEST: Self;
    /// Widens an element (exact).
    fn widen(self) -> Self::Acc;
    /// Narrows an accumulator (rounding once; identity for integers).
    fn narrow(a: Self::Acc) -> Self;
    /// `a + b` (wrapping for integers).
    fn add(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// `a * b` (wrapping for integers).
    fn mul(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The larger value; NaN if either is NaN.
    fn max(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The smaller value; NaN if either is NaN.
    fn min(a: Self::Acc, b: Self::Acc) -> Self::Acc;
}

macro_rules! accum_float {
    ($t:ty, $acc:ty, $widen:expr, $narrow:expr) => {
        impl Accum for $t {
            type Acc = $acc;
            const LOWEST: $t = <$t>::MIN;
            const HIGHEST: $t = <$t>::MAX;
            #[inline(always)]
            fn widen(self) -> $acc {
                $widen(self)
            }
            #[inline(always)]
            fn narrow(a: $acc) -> $t {
                $narrow(a)
            }
            #[inline(always)]
            fn add(a: $acc, b: $acc) -> $acc {
                a + b
            }
            #[inline(always)]
            fn mul(a: $acc, b: $acc) -> $acc {
                a * b
            }
            #[inline(always)]
            #[allow(clippy::eq_op)]
            fn max(a: $acc, b: $acc) -> $acc {
                // Keeps a NaN `a`, takes a NaN `b` (the comparison fails).
                if a >= b || a != a { a } else { b }
            }
            #[inline(always)]
            #[allow(clippy::eq_op)]
            fn min(a: $acc, b: $acc) -> $acc {
                if a <= b || a != a { a } else { b }
            }
        }
    };
}
accum_float!(f32, f64, f64::from, |a: f64| a as f32);
accum_float!(f64, f64, |x: f64| x, |a: f64| a);
accum_float!(f16, f32, f16::to_f32, f16::from_f32);
accum_float!(bf16, f32, bf16::to_f32, bf16::from_f32);

macro_rules! accum_int {
    ($($t:ty),*) => {$(
        impl Accum for $t {
            type Acc = $t;
            const LOWEST: $t = <$t>::MIN;
            const HIGHEST: $t = <$t>::MAX;
            #[inline(always)]
            fn widen(self) -> $t { self }
            #[inline(always)]
            fn narrow(a: $t) -> $t { a }
            #[inline(always)]
            fn add(a: $t, b: $t) -> $t { a.wrapping_add(b) }
            #[inline(always)]
            fn mul(a: $t, b: $t) -> $t { a.wrapping_mul(b) }
            #[inline(always)]
            fn max(a: $t, b: $t) -> $t { if a >= b { a } else { b } }
            #[inline(always)]
            fn min(a: $t, b: $t) -> $t { if a <= b { a } else { b } }
        }
    )*};
}
accum_int!(i8, u8, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulators_round_once_wrap_and_propagate_nan() {
        // 2048 + 1 + 1 in f16 step by step stays 2048; widened it is 2050 (exact in f16).
        let a = f16::from_f32(2048.0).widen();
        let one = f16::ONE.widen();
        assert_eq!(
            <f16 as Accum>::narrow(<f16 as Accum>::add(<f16 as Accum>::add(a, one), one)).to_f32(),
            2050.0
        );
        assert_eq!(<i8 as Accum>::add(100, 100), -56);
        assert_eq!(<u8 as Accum>::mul(16, 17), 16);
        assert!(<f32 as Accum>::max(f64::NAN, 1.0).is_nan());
        assert!(<f32 as Accum>::max(1.0, f64::NAN).is_nan());
        assert!(<f32 as Accum>::min(1.0, f64::NAN).is_nan());
        assert_eq!(f32::LOWEST, -f32::MAX);
        assert_eq!(bf16::HIGHEST, bf16::MAX);
        assert_eq!(i32::LOWEST, i32::MIN);
    }
}
