//! Per-dtype arithmetic with TensorFlow's semantics: integers wrap on overflow (C++
//! two's complement behaviour, never a Rust overflow panic), half floats compute in f32.

use crate::dtype::Element;
use half::{bf16, f16};

/// Arithmetic on one element type.
pub trait Arith: Element {
    /// `a + b`
    fn add(a: Self, b: Self) -> Self;
    /// `a - b`
    fn sub(a: Self, b: Self) -> Self;
    /// `a * b`
    fn mul(a: Self, b: Self) -> Self;
    /// `-a`
    fn neg(a: Self) -> Self;
    /// `max(a, 0)`
    fn relu(a: Self) -> Self;
}

macro_rules! arith_float {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(a: Self, b: Self) -> Self { a + b }
            #[inline(always)] fn sub(a: Self, b: Self) -> Self { a - b }
            #[inline(always)] fn mul(a: Self, b: Self) -> Self { a * b }
            #[inline(always)] fn neg(a: Self) -> Self { -a }
            // NaN propagates, as in TensorFlow's Relu.
            #[inline(always)] fn relu(a: Self) -> Self { if a < 0.0 { 0.0 } else { a } }
        }
    )*};
}
arith_float!(f32, f64);

macro_rules! arith_half {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(a: Self, b: Self) -> Self { <$t>::from_f32(a.to_f32() + b.to_f32()) }
            #[inline(always)] fn sub(a: Self, b: Self) -> Self { <$t>::from_f32(a.to_f32() - b.to_f32()) }
            #[inline(always)] fn mul(a: Self, b: Self) -> Self { <$t>::from_f32(a.to_f32() * b.to_f32()) }
            #[inline(always)] fn neg(a: Self) -> Self { -a }
            #[inline(always)] fn relu(a: Self) -> Self { if a.to_f32() < 0.0 { <$t>::ZERO } else { a } }
        }
    )*};
}
arith_half!(f16, bf16);

macro_rules! arith_int {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(a: Self, b: Self) -> Self { a.wrapping_add(b) }
            #[inline(always)] fn sub(a: Self, b: Self) -> Self { a.wrapping_sub(b) }
            #[inline(always)] fn mul(a: Self, b: Self) -> Self { a.wrapping_mul(b) }
            #[inline(always)] fn neg(a: Self) -> Self { (0 as $t).wrapping_sub(a) }
            #[inline(always)] fn relu(a: Self) -> Self { if a > 0 { a } else { 0 } }
        }
    )*};
}
arith_int!(i8, u8, i32, i64);
