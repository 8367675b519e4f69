//! Per-dtype arithmetic with TensorFlow's semantics: integers wrap on overflow (C++
//! two's complement behaviour, never a Rust overflow panic), half floats compute in f32
//! and round once, float `maximum`/`minimum` propagate NaN.
//!
//! Integer division and modulo by zero, and integer powers with negative exponents, are
//! rejected by the kernels before these run (TensorFlow errors); here they return 0
//! instead of panicking.

use crate::dtype::Element;
use crate::kernels::simd::{bf16_to_f32, f32_to_bf16};
use half::{bf16, f16};

/// Arithmetic on one element type, as TensorFlow's CPU kernels define it.
pub trait Arith: Element {
    /// `a + b`
    fn add(a: Self, b: Self) -> Self;
    /// `a - b`
    fn sub(a: Self, b: Self) -> Self;
    /// `a * b`
    fn mul(a: Self, b: Self) -> Self;
    /// `a / b`: true division for floats, truncating division for integers.
    fn div(a: Self, b: Self) -> Self;
    /// `-a`
    fn neg(a: Self) -> Self;
    /// `max(a, 0)` (NaN stays NaN).
    fn relu(a: Self) -> Self;
    /// `min(max(a, 0), 6)` (NaN stays NaN).
    fn relu6(a: Self) -> Self;
    /// `|a|` (integer minimum wraps to itself).
    fn abs(a: Self) -> Self;
    /// -1, 0 or 1 (NaN stays NaN).
    fn sign(a: Self) -> Self;
    /// `a * a`
    fn square(a: Self) -> Self;
    /// Larger of the two; NaN if either is NaN.
    fn maximum(a: Self, b: Self) -> Self;
    /// Smaller of the two; NaN if either is NaN.
    fn minimum(a: Self, b: Self) -> Self;
    /// `(a - b)²`
    fn squared_difference(a: Self, b: Self) -> Self;
    /// `floor(a / b)`.
    fn floor_div(a: Self, b: Self) -> Self;
    /// `a - floor(a / b) * b`: the result has the sign of `b` (Python's `%`).
    fn floor_mod(a: Self, b: Self) -> Self;
    /// `a^b` (integers by repeated squaring, wrapping).
    fn pow(a: Self, b: Self) -> Self;
    /// Round half to even (integers unchanged).
    fn round(a: Self) -> Self;
    /// `1 / a` (integer truncating).
    fn reciprocal(a: Self) -> Self;
    /// Whether `a == 0` (integer division checks).
    fn is_zero(a: Self) -> bool;
    /// Whether `a < 0` (integer power checks).
    fn is_negative(a: Self) -> bool;
}

#[inline(always)]
fn fmax<T: PartialOrd + Copy>(a: T, b: T, a_nan: bool) -> T {
    if a > b || a_nan { a } else { b }
}

#[inline(always)]
fn fmin<T: PartialOrd + Copy>(a: T, b: T, a_nan: bool) -> T {
    if a < b || a_nan { a } else { b }
}

macro_rules! arith_float {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(a: Self, b: Self) -> Self { a + b }
            #[inline(always)] fn sub(a: Self, b: Self) -> Self { a - b }
            #[inline(always)] fn mul(a: Self, b: Self) -> Self { a * b }
            #[inline(always)] fn div(a: Self, b: Self) -> Self { a / b }
            #[inline(always)] fn neg(a: Self) -> Self { -a }
            // NaN propagates, as in TensorFlow's Relu.
            #[inline(always)] fn relu(a: Self) -> Self { if a < 0.0 { 0.0 } else { a } }
            #[inline(always)] fn relu6(a: Self) -> Self {
                let r = if a < 0.0 { 0.0 } else { a };
                if r > 6.0 { 6.0 } else { r }
            }
            #[inline(always)] fn abs(a: Self) -> Self { a.abs() }
            #[inline(always)] fn sign(a: Self) -> Self {
                if a > 0.0 { 1.0 } else if a < 0.0 { -1.0 } else { a * 0.0 }
            }
            #[inline(always)] fn square(a: Self) -> Self { a * a }
            #[inline(always)] fn maximum(a: Self, b: Self) -> Self { fmax(a, b, a.is_nan()) }
            #[inline(always)] fn minimum(a: Self, b: Self) -> Self { fmin(a, b, a.is_nan()) }
            #[inline(always)] fn squared_difference(a: Self, b: Self) -> Self { (a - b) * (a - b) }
            #[inline(always)] fn floor_div(a: Self, b: Self) -> Self { (a / b).floor() }
            #[inline(always)] fn floor_mod(a: Self, b: Self) -> Self {
                let r = a % b;
                if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
            }
            #[inline(always)] fn pow(a: Self, b: Self) -> Self { a.powf(b) }
            #[inline(always)] fn round(a: Self) -> Self { a.round_ties_even() }
            #[inline(always)] fn reciprocal(a: Self) -> Self { 1.0 / a }
            #[inline(always)] fn is_zero(a: Self) -> bool { a == 0.0 }
            #[inline(always)] fn is_negative(a: Self) -> bool { a < 0.0 }
        }
    )*};
}
arith_float!(f32, f64);

macro_rules! arith_half {
    ($t:ty, $to:expr, $from:expr) => {
        impl Arith for $t {
            #[inline(always)]
            fn add(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::add($to(a), $to(b)))
            }
            #[inline(always)]
            fn sub(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::sub($to(a), $to(b)))
            }
            #[inline(always)]
            fn mul(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::mul($to(a), $to(b)))
            }
            #[inline(always)]
            fn div(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::div($to(a), $to(b)))
            }
            #[inline(always)]
            fn neg(a: Self) -> Self {
                -a
            }
            #[inline(always)]
            fn relu(a: Self) -> Self {
                if $to(a) < 0.0 { <$t>::ZERO } else { a }
            }
            #[inline(always)]
            fn relu6(a: Self) -> Self {
                $from(<f32 as Arith>::relu6($to(a)))
            }
            #[inline(always)]
            fn abs(a: Self) -> Self {
                <$t>::from_bits(a.to_bits() & 0x7fff)
            }
            #[inline(always)]
            fn sign(a: Self) -> Self {
                $from(<f32 as Arith>::sign($to(a)))
            }
            #[inline(always)]
            fn square(a: Self) -> Self {
                $from(<f32 as Arith>::square($to(a)))
            }
            #[inline(always)]
            fn maximum(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::maximum($to(a), $to(b)))
            }
            #[inline(always)]
            fn minimum(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::minimum($to(a), $to(b)))
            }
            #[inline(always)]
            fn squared_difference(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::squared_difference($to(a), $to(b)))
            }
            #[inline(always)]
            fn floor_div(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::floor_div($to(a), $to(b)))
            }
            #[inline(always)]
            fn floor_mod(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::floor_mod($to(a), $to(b)))
            }
            #[inline(always)]
            fn pow(a: Self, b: Self) -> Self {
                $from(<f32 as Arith>::pow($to(a), $to(b)))
            }
            #[inline(always)]
            fn round(a: Self) -> Self {
                $from(<f32 as Arith>::round($to(a)))
            }
            #[inline(always)]
            fn reciprocal(a: Self) -> Self {
                $from(1.0 / $to(a))
            }
            #[inline(always)]
            fn is_zero(a: Self) -> bool {
                $to(a) == 0.0
            }
            #[inline(always)]
            fn is_negative(a: Self) -> bool {
                $to(a) < 0.0
            }
        }
    };
}
arith_half!(f16, f16::to_f32, f16::from_f32);
arith_half!(bf16, bf16_to_f32, f32_to_bf16);

macro_rules! arith_int {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(a: Self, b: Self) -> Self { a.wrapping_add(b) }
            #[inline(always)] fn sub(a: Self, b: Self) -> Self { a.wrapping_sub(b) }
            #[inline(always)] fn mul(a: Self, b: Self) -> Self { a.wrapping_mul(b) }
            #[inline(always)] fn div(a: Self, b: Self) -> Self {
                if b == 0 { 0 } else { a.wrapping_div(b) }
            }
            #[inline(always)] fn neg(a: Self) -> Self { (0 as $t).wrapping_sub(a) }
            #[inline(always)] fn relu(a: Self) -> Self { if a > 0 { a } else { 0 } }
            #[allow(unused_comparisons)]
            #[inline(always)] fn relu6(a: Self) -> Self {
                if a < 0 { 0 } else if a > 6 { 6 } else { a }
            }
            #[allow(unused_comparisons)]
            #[inline(always)] fn abs(a: Self) -> Self { if a < 0 { Self::neg(a) } else { a } }
            #[allow(unused_comparisons)]
            #[inline(always)] fn sign(a: Self) -> Self {
                if a > 0 { 1 } else if a < 0 { Self::neg(1) } else { 0 }
            }
            #[inline(always)] fn square(a: Self) -> Self { a.wrapping_mul(a) }
            #[inline(always)] fn maximum(a: Self, b: Self) -> Self { if a > b { a } else { b } }
            #[inline(always)] fn minimum(a: Self, b: Self) -> Self { if a < b { a } else { b } }
            #[inline(always)] fn squared_difference(a: Self, b: Self) -> Self {
                let d = a.wrapping_sub(b);
                d.wrapping_mul(d)
            }
            #[allow(unused_comparisons)]
            #[inline(always)] fn floor_div(a: Self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let q = a.wrapping_div(b);
                if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) { q.wrapping_sub(1) } else { q }
            }
            #[allow(unused_comparisons)]
            #[inline(always)] fn floor_mod(a: Self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let r = a.wrapping_rem(b);
                if r != 0 && ((r < 0) != (b < 0)) { r.wrapping_add(b) } else { r }
            }
            #[allow(unused_comparisons)]
            #[inline(always)] fn pow(a: Self, b: Self) -> Self {
                if b < 0 {
                    return 0;
                }
                let (mut base, mut e, mut acc) = (a, b, 1 as $t);
                while e > 0 {
                    if e & 1 == 1 {
                        acc = acc.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    e >>= 1;
                }
                acc
            }
            #[inline(always)] fn round(a: Self) -> Self { a }
            #[inline(always)] fn reciprocal(a: Self) -> Self { Self::div(1, a) }
            #[inline(always)] fn is_zero(a: Self) -> bool { a == 0 }
            #[allow(unused_comparisons)]
            #[inline(always)] fn is_negative(a: Self) -> bool { a < 0 }
        }
    )*};
}
arith_int!(i8, u8, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_semantics_follow_tf() {
        assert_eq!(<i32 as Arith>::floor_div(7, -2), -4);
        assert_eq!(<i32 as Arith>::floor_div(-7, 2), -4);
        assert_eq!(<i32 as Arith>::floor_div(-8, 2), -4);
        assert_eq!(<i32 as Arith>::floor_mod(7, -2), -1);
        assert_eq!(<i32 as Arith>::floor_mod(-7, 2), 1);
        assert_eq!(<i8 as Arith>::floor_div(i8::MIN, -1), i8::MIN);
        assert_eq!(<i8 as Arith>::floor_mod(i8::MIN, -1), 0);
        assert_eq!(<u8 as Arith>::floor_div(7, 2), 3);
        assert_eq!(<i32 as Arith>::pow(3, 4), 81);
        assert_eq!(<i32 as Arith>::pow(0, 0), 1);
        assert_eq!(<i8 as Arith>::pow(2, 7), i8::MIN);
        assert_eq!(<u8 as Arith>::pow(3, 5), 243);
        assert_eq!(<i32 as Arith>::abs(i32::MIN), i32::MIN);
        assert_eq!(<i8 as Arith>::sign(-5), -1);
        assert_eq!(<u8 as Arith>::neg(1), 255);
        assert_eq!(
            <i64 as Arith>::square(3_037_000_500),
            3_037_000_500i64.wrapping_mul(3_037_000_500)
        );
        assert_eq!(<i32 as Arith>::div(7, 0), 0);
    }

    #[test]
    fn float_semantics_follow_tf() {
        assert_eq!(<f32 as Arith>::floor_mod(7.0, -2.0), -1.0);
        assert_eq!(<f32 as Arith>::floor_mod(-7.5, 2.0), 0.5);
        assert!(<f32 as Arith>::floor_mod(1.0, 0.0).is_nan());
        assert_eq!(<f64 as Arith>::floor_div(7.0, -2.0), -4.0);
        assert!(<f32 as Arith>::maximum(f32::NAN, 1.0).is_nan());
        assert!(<f32 as Arith>::maximum(1.0, f32::NAN).is_nan());
        assert!(<f64 as Arith>::minimum(f64::NAN, 1.0).is_nan());
        assert!(<f64 as Arith>::minimum(1.0, f64::NAN).is_nan());
        assert!(<f32 as Arith>::sign(f32::NAN).is_nan());
        assert_eq!(<f32 as Arith>::round(2.5), 2.0);
        assert_eq!(<f32 as Arith>::round(-0.5), -0.0);
        assert_eq!(<f32 as Arith>::relu6(7.0), 6.0);
        assert!(<f32 as Arith>::relu(f32::NAN).is_nan());
        assert_eq!(
            <bf16 as Arith>::abs(bf16::from_f32(-2.0)),
            bf16::from_f32(2.0)
        );
        assert!(<f16 as Arith>::maximum(f16::NAN, f16::ONE).is_nan());
    }
}
