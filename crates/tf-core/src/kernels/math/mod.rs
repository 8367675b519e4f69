//! Vectorizable f32 math: exp, expm1, log, log1p, tanh, sigmoid, softplus, silu, erf,
//! erfc and gelu, accurate to a few ulp over the whole f32 range (denormals, ±inf and
//! NaN included).
//!
//! Each function exists in three forms:
//! - a scalar `fn(f32) -> f32` (`math::exp`), branch-free and `#[inline(always)]`, so
//!   it vectorizes inside any loop run through [`simd::dispatch`](super::simd::dispatch);
//! - a zero-sized [`UnaryFn`] type (`math::Exp`) to pass to [`simd::map`](super::simd::map)
//!   and friends, which guarantees the body is inlined into the SIMD loop;
//! - slice functions (`math::exp_slice(src, dst)`, `math::exp_inplace(buf)`) that run
//!   vectorized with AVX-512 where the CPU has it.
//!
//! The algorithms are the classic Cephes/fdlibm reductions with minimax polynomials;
//! every multiply-add is fused (`f32::mul_add`), so results are identical whatever the
//! instruction set.

// Coefficients keep the digits of their published sources (Cephes, fdlibm).
#![allow(clippy::excessive_precision)]

mod erf;

pub use erf::{Erf, Erfc, Gelu, GeluTanh, erf, erf_inplace, erf_slice, erfc, erfc_inplace};
pub use erf::{erfc_slice, gelu, gelu_inplace, gelu_slice, gelu_tanh, gelu_tanh_inplace};
pub use erf::{gelu_tanh_slice, gelu_tanh_wide};

use super::simd::UnaryFn;

/// Declares the zero-sized function type and the slice functions of a scalar function.
macro_rules! vector_fn {
    ($Type:ident, $scalar:ident, $slice:ident, $inplace:ident) => {
        #[doc = concat!("[`", stringify!($scalar), "`] as a [`UnaryFn`] for SIMD loops.")]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $Type;

        impl UnaryFn<f32, f32> for $Type {
            #[inline(always)]
            fn apply(&self, x: f32) -> f32 {
                $scalar(x)
            }
        }

        #[doc = concat!("`dst[i] = ", stringify!($scalar), "(src[i])`, vectorized; writes ")]
        #[doc = "`min(src.len(), dst.len())` elements."]
        pub fn $slice(src: &[f32], dst: &mut [f32]) {
            $crate::kernels::simd::map_into(src, dst, $Type);
        }

        #[doc = concat!("`buf[i] = ", stringify!($scalar), "(buf[i])`, vectorized.")]
        pub fn $inplace(buf: &mut [f32]) {
            $crate::kernels::simd::map_inplace(buf, $Type);
        }
    };
}
pub(crate) use vector_fn;

/// 1.5 · 2^23: adding it to |t| < 2^22 rounds t to an integer (ties to even) held in
/// the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
const ROUND_MAGIC_BITS: i32 = 0x4B40_0000;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n * LN2_HI` is exact for |n| < 2^15.
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;

/// 2^n as f32 for n in [-126, 127].
#[inline(always)]
pub(crate) fn pow2i(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32).wrapping_shl(23))
}

/// x · 2^n for n in [-252, 254] (two exact scalings, one rounding; overflows to inf and
/// underflows gradually through the denormals).
#[inline(always)]
pub(crate) fn scale2(x: f32, n: i32) -> f32 {
    let n1 = n >> 1;
    x * pow2i(n1) * pow2i(n.wrapping_sub(n1))
}

/// e^r - 1 for |r| <= ln2/2 (Cephes expf polynomial, ~1 ulp).
#[inline(always)]
pub(crate) fn expm1_reduced(r: f32) -> f32 {
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 5.000_000_1e-1);
    (r * r).mul_add(p, r)
}

/// Splits x (|x| < 2^21) as n·ln2 + r with integer n and |r| <= ln2/2.
#[inline(always)]
fn reduce_ln2(x: f32) -> (i32, f32) {
    let t = x.mul_add(LOG2E, ROUND_MAGIC);
    let nf = t - ROUND_MAGIC;
    let n = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC_BITS);
    let r = nf.mul_add(-LN2_HI, x);
    (n, nf.mul_add(-LN2_LO, r))
}

/// Below this, e^x times anything up to 2^23 underflows to 0.
pub(crate) const EXP_LOW: f32 = -120.0;

/// e^x as `(m, n)` with e^x = m · 2^n and m in [0.7, 1.42] (x clamped to
/// [-120, 88.8], NaN kept).
#[inline(always)]
fn exp_parts(x: f32) -> (f32, i32) {
    // Clamping keeps NaN (comparisons with NaN are false).
    let x = if x > 88.8 { 88.8 } else { x };
    let x = if x < EXP_LOW { EXP_LOW } else { x };
    let (n, r) = reduce_ln2(x);
    (1.0 + expm1_reduced(r), n)
}

/// e^x (within 1 ulp; denormal results included; `exp(NaN)` is NaN).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let (m, n) = exp_parts(x);
    scale2(m, n)
}

/// e^x - 1, accurate near 0 (within a few ulp everywhere).
#[inline(always)]
pub fn expm1(x: f32) -> f32 {
    let xc = if x > 88.8 { 88.8 } else { x };
    let xc = if xc < -87.0 { -87.0 } else { xc };
    let (n, r) = reduce_ln2(xc);
    let p = expm1_reduced(r);
    // 2^n (1 + p) - 1 = 2^n p + (2^n - 1); 2^n - 1 is exact for |n| <= 24.
    let s = pow2i(if n > 64 { 64 } else { n });
    let moderate = s.mul_add(p, s - 1.0);
    let large = scale2(1.0 + p, n);
    let y = if n > 64 { large } else { moderate };
    // Keeps the sign of -0.
    if x == 0.0 { x } else { y }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Natural logarithm (within ~1 ulp; `log(0) = -inf`, negative or NaN gives NaN,
/// denormal inputs handled).
#[inline(always)]
pub fn log(x: f32) -> f32 {
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 8_388_608.0 } else { x }; // 2^23
    let bits = xs.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - if tiny { 126 + 23 } else { 126 };
    // Mantissa in [0.5, 1), then moved to [sqrt(1/2), sqrt(2)) - 1.
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let low = m < FRAC_1_SQRT_2;
    let e = if low { e - 1 } else { e };
    let m = if low { m + m } else { m } - 1.0;
    let ef = e as f32;
    let z = m * m;
    let mut p = 7.037_683_6e-2f32;
    p = p.mul_add(m, -1.151_461e-1);
    p = p.mul_add(m, 1.167_699_9e-1);
    p = p.mul_add(m, -1.242_014_1e-1);
    p = p.mul_add(m, 1.424_932_3e-1);
    p = p.mul_add(m, -1.666_805_8e-1);
    p = p.mul_add(m, 2.000_071_5e-1);
    p = p.mul_add(m, -2.499_999_4e-1);
    p = p.mul_add(m, 3.333_333_1e-1);
    let mut y = m * z * p;
    y = ef.mul_add(LN2_LO, y);
    y = z.mul_add(-0.5, y);
    let r = ef.mul_add(LN2_HI, m + y);
    let r = if x == f32::INFINITY { x } else { r };
    let r = if x == 0.0 { f32::NEG_INFINITY } else { r };
    if x < 0.0 || x.is_nan() { f32::NAN } else { r }
}

/// ln(1 + x), accurate near 0 (Goldberg's `log(u) · x / (u - 1)` with `u = 1 + x`).
#[inline(always)]
pub fn log1p(x: f32) -> f32 {
    let u = 1.0 + x;
    let d = u - 1.0;
    let y = if d == 0.0 { x } else { log(u) * (x / d) };
    if x == f32::INFINITY { x } else { y }
}

/// Hyperbolic tangent (within a few ulp; Cephes tanhf).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = a * a;
    let mut p = -5.704_988_7e-3f32;
    p = p.mul_add(z, 2.063_908_9e-2);
    p = p.mul_add(z, -5.373_971_6e-2);
    p = p.mul_add(z, 1.333_144_2e-1);
    p = p.mul_add(z, -3.333_328_2e-1);
    let small = (a * z).mul_add(p, a);
    let big = 1.0 - 2.0 / (exp(a + a) + 1.0);
    let y = if a < 0.625 { small } else { big };
    y.copysign(x)
}

/// e^(hi + small) as `(m, n)` with e^(hi + small) = m · 2^n, for an exactly known
/// `hi` (e.g. the high part of -x² split with an FMA) and a correction `|small| < 2`.
/// The reduction subtracts n·ln2 from `hi` exactly and adds `small` afterwards, so the
/// result keeps full f32 accuracy even when `hi` is large. Underflowing (or NaN) sums
/// give `m = 0`.
#[inline(always)]
pub(crate) fn exp_split_parts(hi: f32, small: f32) -> (f32, i32) {
    let y = hi + small;
    let yc = if y < EXP_LOW { EXP_LOW } else { y };
    let yc = if yc > 88.8 { 88.8 } else { yc };
    let t = yc.mul_add(LOG2E, ROUND_MAGIC);
    let nf = t - ROUND_MAGIC;
    let n = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC_BITS);
    let r = nf.mul_add(-LN2_HI, hi);
    let r = nf.mul_add(-LN2_LO, r) + small;
    let m = 1.0 + expm1_reduced(r);
    (if y >= EXP_LOW { m } else { 0.0 }, n)
}

/// `k · sigmoid(t)` given e^-|t| as `(m, n)` (see [`exp_parts`]); the final scaling by
/// 2^n comes last so tiny results round once, even in the denormal range.
#[inline(always)]
pub(crate) fn scaled_sigmoid(negative: bool, m: f32, n: i32, k: f32) -> f32 {
    let d = 1.0 + scale2(m, n);
    let num = if negative { k * m } else { k };
    scale2(num / d, if negative { n } else { 0 })
}

/// The logistic function 1 / (1 + e^-x), relative-accurate for large negative x too.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let (m, n) = exp_parts(-x.abs());
    let y = scaled_sigmoid(x < 0.0, m, n, 1.0);
    if x < EXP_LOW { 0.0 } else { y }
}

/// ln(1 + e^x), computed as `max(x, 0) + log1p(e^-|x|)` (no overflow, accurate for
/// large negative x).
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    let l = log1p(exp(-x.abs()));
    let m = if x > 0.0 { x } else { 0.0 };
    m + l
}

/// x · sigmoid(x) (SiLU / swish); `silu(-inf)` is NaN like TensorFlow's
/// `x * sigmoid(x)`.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    let (m, n) = exp_parts(-x.abs());
    let y = scaled_sigmoid(x < 0.0, m, n, x);
    if x < EXP_LOW { x * 0.0 } else { y }
}

vector_fn!(Exp, exp, exp_slice, exp_inplace);
vector_fn!(Expm1, expm1, expm1_slice, expm1_inplace);
vector_fn!(Log, log, log_slice, log_inplace);
vector_fn!(Log1p, log1p, log1p_slice, log1p_inplace);
vector_fn!(Tanh, tanh, tanh_slice, tanh_inplace);
vector_fn!(Sigmoid, sigmoid, sigmoid_slice, sigmoid_inplace);
vector_fn!(Softplus, softplus, softplus_slice, softplus_inplace);
vector_fn!(Silu, silu, silu_slice, silu_inplace);

/// e^y for an f64 argument as `(m, n)` with e^y = m · 2^n (y clamped to [-120, 89],
/// NaN kept): the reduction runs in f64, so arguments known more precisely than an f32
/// (like -x² of an f32 x) keep full accuracy.
#[inline(always)]
pub(crate) fn exp_wide_parts(y: f64) -> (f32, i32) {
    /// 1.5 · 2^52: adding it rounds |t| < 2^51 to an integer held in the low bits.
    const ROUND_MAGIC_F64: f64 = 6_755_399_441_055_744.0;
    let y = if y > 89.0 { 89.0 } else { y };
    let y = if y < EXP_LOW as f64 {
        EXP_LOW as f64
    } else {
        y
    };
    // No float-to-int conversion (it would not vectorize): the integer is read from
    // the bits.
    let t = y.mul_add(std::f64::consts::LOG2_E, ROUND_MAGIC_F64);
    let nf = t - ROUND_MAGIC_F64;
    let n = t.to_bits() as i32;
    let r = nf.mul_add(-std::f64::consts::LN_2, y) as f32;
    (1.0 + expm1_reduced(r), n)
}

#[cfg(test)]
pub(crate) mod tests;
