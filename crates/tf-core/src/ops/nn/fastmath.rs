//! The row primitives of the nn kernels (max, `exp(x - shift)` with its sum) in the
//! compute precision: f32 (also for f16/bf16) or f64.
//!
//! f32 uses a branch-free polynomial `exp` (Cephes' `expf`, about 1 ulp) written so the
//! compiler vectorizes it, and the loops are compiled for AVX-512 and AVX2+FMA with
//! runtime detection (the crate is built for baseline x86-64). f64 uses the scalar
//! `f64::exp`. This is the one place to switch to a shared vectorized `exp` later.

use crate::dtype::Element;
use half::{bf16, f16};
use std::mem::MaybeUninit;

/// Arithmetic precision of the nn kernels: f32 or f64.
pub trait Compute:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Conversion from f64 (rounding).
    fn from_f64(v: f64) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// The row maximum (NaNs ignored; `-inf` for an empty row).
    fn row_max(x: &[Self]) -> Self;
    /// Writes `exp(x[i] - shift)` to `out` (resized to `x.len()`), returns their sum.
    fn exp_shift_sum(x: &[Self], shift: Self, out: &mut Vec<Self>) -> Self;
    /// Writes `e[i] * k` to `out`, converted to `T`.
    #[inline(always)]
    fn scale_into<T: NnFloat<C = Self>>(e: &[Self], k: Self, out: &mut [MaybeUninit<T>]) {
        for (o, &v) in out.iter_mut().zip(e) {
            o.write(T::from_c(v * k));
        }
    }
}

/// A float element type and its compute precision (f16/bf16 compute in f32 and round
/// once on output).
pub trait NnFloat: Element {
    /// The compute type.
    type C: Compute;
    /// Widens to the compute type.
    fn to_c(self) -> Self::C;
    /// Rounds from the compute type.
    fn from_c(c: Self::C) -> Self;
    /// The slice as compute-type values without a copy, when the types coincide.
    fn as_c(x: &[Self]) -> Option<&[Self::C]>;
    /// An output slice as compute-type slots, when the types coincide.
    fn as_c_out(x: &mut [MaybeUninit<Self>]) -> Option<&mut [MaybeUninit<Self::C>]>;
}

impl NnFloat for f32 {
    type C = f32;
    #[inline(always)]
    fn to_c(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_c(c: f32) -> f32 {
        c
    }
    #[inline(always)]
    fn as_c(x: &[f32]) -> Option<&[f32]> {
        Some(x)
    }
    #[inline(always)]
    fn as_c_out(x: &mut [MaybeUninit<f32>]) -> Option<&mut [MaybeUninit<f32>]> {
        Some(x)
    }
}
impl NnFloat for f64 {
    type C = f64;
    #[inline(always)]
    fn to_c(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_c(c: f64) -> f64 {
        c
    }
    #[inline(always)]
    fn as_c(x: &[f64]) -> Option<&[f64]> {
        Some(x)
    }
    #[inline(always)]
    fn as_c_out(x: &mut [MaybeUninit<f64>]) -> Option<&mut [MaybeUninit<f64>]> {
        Some(x)
    }
}
macro_rules! nn_half {
    ($t:ty) => {
        impl NnFloat for $t {
            type C = f32;
            #[inline(always)]
            fn to_c(self) -> f32 {
                self.to_f32()
            }
            #[inline(always)]
            fn from_c(c: f32) -> $t {
                <$t>::from_f32(c)
            }
            #[inline(always)]
            fn as_c(_: &[$t]) -> Option<&[f32]> {
                None
            }
            #[inline(always)]
            fn as_c_out(_: &mut [MaybeUninit<$t>]) -> Option<&mut [MaybeUninit<f32>]> {
                None
            }
        }
    };
}
nn_half!(f16);
nn_half!(bf16);

const LANES: usize = 16;

/// `a * b + c`, fused when the code is compiled with FMA (never a libm call).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `e^x` for f32, vectorizable: Cephes' range reduction and degree-6 polynomial; about
/// 1 ulp. Returns 0 below ln(f32::MIN_POSITIVE) (no subnormal results), `inf` above
/// ln(f32::MAX), NaN for NaN.
#[cfg(test)]
fn exp_f32(x: f32) -> f32 {
    exp_f32_impl::<false>(x)
}

/// [`exp_f32`] with fused multiply-adds when `FMA` (only inside code compiled for FMA).
#[inline(always)]
fn exp_f32_impl<const FMA: bool>(x: f32) -> f32 {
    const HI: f32 = 88.722_84;
    const LO: f32 = -87.336_55;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer.
    // NaN stays NaN.
    let xc = x.clamp(LO, HI);
    let t = madd::<FMA>(xc, LOG2E, MAGIC);
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, xc));
    let mut p = 1.987_569_2e-4f32;
    p = madd::<FMA>(p, r, 1.398_2e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 1.666_666_5e-1);
    p = madd::<FMA>(p, r, 0.5);
    let y = madd::<FMA>(p * r, r, r) + 1.0;
    // 2^n in two factors so that n in [-126, 128] never overflows the exponent field.
    let h = ni >> 1;
    let s1 = f32::from_bits(((h + 127) as u32) << 23);
    let s2 = f32::from_bits(((ni - h + 127) as u32) << 23);
    let v = y * s1 * s2;
    if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        v
    }
}

#[inline(always)]
fn row_max_f32_generic(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &v in acc.iter().chain(rest) {
        m = if v > m { v } else { m };
    }
    m
}

#[inline(always)]
fn exp_shift_sum_f32_fma(x: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    exp_shift_sum_f32_impl::<true>(x, shift, out)
}

#[inline(always)]
fn exp_shift_sum_f32_generic(x: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    exp_shift_sum_f32_impl::<false>(x, shift, out)
}

#[inline(always)]
fn exp_shift_sum_f32_impl<const FMA: bool>(x: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let xc = x.chunks_exact(LANES);
    let xr = xc.remainder();
    let mut oc = out.chunks_exact_mut(LANES);
    for (c, o) in xc.zip(&mut oc) {
        for i in 0..LANES {
            let e = exp_f32_impl::<FMA>(c[i] - shift);
            o[i] = e;
            acc[i] += e;
        }
    }
    let mut s = 0.0f32;
    for (&v, o) in xr.iter().zip(oc.into_remainder()) {
        let e = exp_f32_impl::<FMA>(v - shift);
        *o = e;
        s += e;
    }
    // Pairwise sum of the lanes.
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0] + s
}

macro_rules! dispatch_simd {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),*) -> $r:ty => $generic:ident) => {
        dispatch_simd!($(#[$m])* $vis fn $name($($a: $t),*) -> $r => $generic, $generic);
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),*) -> $r:ty => $fast:ident, $generic:ident) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) -> $r {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512($($a: $t),*) -> $r {
                    $fast($($a),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($a: $t),*) -> $r {
                    $fast($($a),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU supports the features `avx512` is compiled for.
                    return unsafe { avx512($($a),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports the features `avx2` is compiled for.
                    return unsafe { avx2($($a),*) };
                }
            }
            $generic($($a),*)
        }
    };
}

dispatch_simd!(
    /// Row maximum of f32 values.
    pub fn row_max_f32(x: &[f32]) -> f32 => row_max_f32_generic
);
dispatch_simd!(
    /// `out[i] = exp(x[i] - shift)`; returns the sum.
    pub fn exp_shift_sum_f32(x: &[f32], shift: f32, out: &mut [f32]) -> f32 => exp_shift_sum_f32_fma, exp_shift_sum_f32_generic
);

#[inline(always)]
fn scale_into_f32_generic(e: &[f32], k: f32, out: &mut [MaybeUninit<f32>]) {
    for (o, &v) in out.iter_mut().zip(e) {
        o.write(v * k);
    }
}

dispatch_simd!(
    /// `out[i] = e[i] * k`.
    pub fn scale_into_f32(e: &[f32], k: f32, out: &mut [MaybeUninit<f32>]) -> () => scale_into_f32_generic
);

impl Compute for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    #[inline(always)]
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    #[inline(always)]
    fn ln(self) -> f32 {
        f32::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    #[inline]
    fn row_max(x: &[f32]) -> f32 {
        row_max_f32(x)
    }
    #[inline]
    fn exp_shift_sum(x: &[f32], shift: f32, out: &mut Vec<f32>) -> f32 {
        // Every element is overwritten: only grow (zeroing once), never clear.
        out.resize(x.len(), 0.0);
        exp_shift_sum_f32(x, shift, out)
    }
    #[inline]
    fn scale_into<T: NnFloat<C = f32>>(e: &[f32], k: f32, out: &mut [MaybeUninit<T>]) {
        match T::as_c_out(out) {
            Some(o) => scale_into_f32(e, k, o),
            None => {
                for (o, &v) in out.iter_mut().zip(e) {
                    o.write(T::from_c(v * k));
                }
            }
        }
    }
}

impl Compute for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline(always)]
    fn from_f64(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn ln(self) -> f64 {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    fn row_max(x: &[f64]) -> f64 {
        x.iter()
            .fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }
    fn exp_shift_sum(x: &[f64], shift: f64, out: &mut Vec<f64>) -> f64 {
        out.clear();
        out.extend(x.iter().map(|&v| (v - shift).exp()));
        out.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.5 {
            let want = (x as f64).exp();
            for got in [exp_f32(x), exp_f32_impl::<true>(x)] {
                worst = worst.max(((got as f64 - want) / want).abs());
            }
            x += 0.001_37;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-1e4), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(1e4), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        // Near the ends of the range.
        let lo = exp_f32(-87.3) as f64;
        assert!((lo / (-87.3f32 as f64).exp() - 1.0).abs() < 1e-6, "{lo}");
        let hi = exp_f32(88.7) as f64;
        assert!((hi / (88.7f32 as f64).exp() - 1.0).abs() < 1e-6, "{hi}");
    }

    #[test]
    fn simd_rows_match_scalar() {
        let x: Vec<f32> = (0..103)
            .map(|i| ((i * 37) % 23) as f32 * 0.5 - 4.0)
            .collect();
        assert_eq!(row_max_f32(&x), 7.0);
        assert_eq!(row_max_f32(&[]), f32::NEG_INFINITY);
        let mut out = vec![0.0; x.len()];
        let s = exp_shift_sum_f32(&x, 7.0, &mut out);
        let want: f64 = x.iter().map(|&v| (v as f64 - 7.0).exp()).sum();
        assert!((s as f64 - want).abs() < 1e-5 * want);
        for (o, &v) in out.iter().zip(&x) {
            assert!((*o as f64 - (v as f64 - 7.0).exp()).abs() < 1e-6);
        }
    }
}
