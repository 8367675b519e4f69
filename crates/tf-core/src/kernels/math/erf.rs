//! The error function family and GELU, branch-free for SIMD loops.
//!
//! The rational approximations are fdlibm's `s_erff.c` (four intervals); all intervals
//! are evaluated and the right one is selected per lane. The `exp(-a²)` factor of the
//! tails takes its argument in f64 (exact for f32 inputs), which keeps erfc and GELU
//! relative-accurate far into their tails.

// Coefficients keep the digits of their published sources (Cephes, fdlibm).
#![allow(clippy::excessive_precision)]

use super::{EXP_LOW, exp_split_parts, exp_wide_parts, scale2, scaled_sigmoid, vector_fn};
use crate::kernels::simd::UnaryFn;

const ERX: f32 = 8.450_629_1e-1;
// erf on [0, 0.84375]: a + a·P(a²)/Q(a²)
const PP: [f32; 5] = [
    1.283_791_7e-1,
    -3.250_421e-1,
    -2.848_175e-2,
    -5.770_270_2e-3,
    -2.376_301_7e-5,
];
const QQ: [f32; 5] = [
    3.979_172_2e-1,
    6.502_225_3e-2,
    5.081_306_3e-3,
    1.324_947_4e-4,
    -3.960_228_3e-6,
];
// erf on [0.84375, 1.25]: erx + P(s)/Q(s), s = a - 1
const PA: [f32; 7] = [
    -2.362_118_6e-3,
    4.148_561_1e-1,
    -3.722_078_8e-1,
    3.183_466_2e-1,
    -1.108_947e-1,
    3.547_830_5e-2,
    -2.166_375_5e-3,
];
const QA: [f32; 6] = [
    1.064_208_8e-1,
    5.403_979_5e-1,
    7.182_865_6e-2,
    1.261_712_2e-1,
    1.363_708_4e-2,
    1.198_45e-2,
];
// erfc on [1.25, 1/0.35]: exp(-a² - 0.5625 + R(s)/S(s)) / a, s = 1/a²
const RA: [f32; 8] = [
    -9.864_944e-3,
    -6.938_585_6e-1,
    -1.055_862_6e1,
    -6.237_533_2e1,
    -1.623_966_7e2,
    -1.846_050_9e2,
    -8.128_743_7e1,
    -9.814_329e0,
];
const SA: [f32; 8] = [
    1.965_127_2e1,
    1.376_577_6e2,
    4.345_658_9e2,
    6.453_872_7e2,
    4.290_081_5e2,
    1.086_350_0e2,
    6.570_249_6e0,
    -6.042_441_4e-2,
];
// erfc on [1/0.35, 28] (padded with zeros to the shape of RA/SA)
const RB: [f32; 8] = [
    -9.864_943e-3,
    -7.992_832_7e-1,
    -1.775_795_6e1,
    -1.606_363_8e2,
    -6.375_664_7e2,
    -1.025_095_1e3,
    -4.835_192e2,
    0.0,
];
const SB: [f32; 8] = [
    3.033_806e1,
    3.257_925_1e2,
    1.536_729_6e3,
    3.199_858_2e3,
    2.553_050_3e3,
    4.745_285_4e2,
    -2.244_095_2e1,
    0.0,
];

/// Horner evaluation of `c[0] + c[1] x + ...`.
#[inline(always)]
fn horner<const N: usize>(x: f32, c: &[f32; N]) -> f32 {
    let mut p = c[N - 1];
    for i in (0..N - 1).rev() {
        p = p.mul_add(x, c[i]);
    }
    p
}

/// `1 + c[0] x + c[1] x² + ...`.
#[inline(always)]
fn horner1<const N: usize>(x: f32, c: &[f32; N]) -> f32 {
    horner(x, c).mul_add(x, 1.0)
}

/// `(erf(a), c, n)` with erfc(a) = c · 2^n, for `a >= 0` (or NaN), given a² exactly
/// as `a2_hi + a2_lo` (f32 high part and FMA remainder, from `a` itself or from the
/// caller's own input). Keeping the exponent apart lets callers scale tiny tails once,
/// at the end.
#[inline(always)]
fn erf_erfc_nonneg(a: f32, a2_hi: f32, a2_lo: f32) -> (f32, f32, i32) {
    let z = a * a;
    let (n1, d1) = (horner(z, &PP), horner1(z, &QQ));
    let s = a - 1.0;
    let (n2, d2) = (horner(s, &PA), horner1(s, &QA));
    // R(1/z)/S(1/z) with numerator and denominator multiplied by z^8 (no division);
    // z is capped where erfc has long underflowed so the powers stay finite.
    let zc = if z > 784.0 { 784.0 } else { z };
    let near = a < 2.857_142_8; // 1/0.35
    let mut n3 = 0f32;
    let mut d3 = 1f32;
    for i in 0..8 {
        n3 = n3.mul_add(zc, if near { RA[i] } else { RB[i] });
        d3 = d3.mul_add(zc, if near { SA[i] } else { SB[i] });
    }
    let n3 = n3 * zc;
    let small = a < 0.843_75;
    let mid = a < 1.25;
    let num = if small {
        n1
    } else if mid {
        n2
    } else {
        n3
    };
    let den = if small {
        d1
    } else if mid {
        d2
    } else {
        d3
    };
    let y = num / den;
    // Interval 1: erf = a + a·y.
    let erf1 = a.mul_add(y, a);
    let erfc1 = if a < 0.25 {
        1.0 - erf1
    } else {
        0.5 - a.mul_add(y, a - 0.5)
    };
    // Interval 2.
    let erf2 = ERX + y;
    let erfc2 = (1.0 - ERX) - y;
    // Intervals 3 and 4 (erfc underflows to 0 beyond a ≈ 10.1).
    let (m, n) = exp_split_parts(-a2_hi, (y - 0.5625) - a2_lo);
    let c3 = m / a;
    let erf3 = 1.0 - scale2(c3, n);
    if small {
        (erf1, erfc1, 0)
    } else if mid {
        (erf2, erfc2, 0)
    } else {
        (erf3, c3, n)
    }
}

/// x² as `hi + lo` exactly (`lo` is the FMA remainder; 0 when `hi` is infinite).
#[inline(always)]
fn square_split(x: f32) -> (f32, f32) {
    let hi = x * x;
    let lo = x.mul_add(x, -hi);
    (hi, if lo.is_nan() { 0.0 } else { lo })
}

/// The error function (within a few ulp; `erf(±inf) = ±1`).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let (hi, lo) = square_split(a);
    erf_erfc_nonneg(a, hi, lo).0.copysign(x)
}

/// The complementary error function 1 - erf(x), relative-accurate in its tail.
#[inline(always)]
pub fn erfc(x: f32) -> f32 {
    let a = x.abs();
    let (hi, lo) = square_split(a);
    let (e, c, n) = erf_erfc_nonneg(a, hi, lo);
    if x < 0.0 { 1.0 + e } else { scale2(c, n) }
}

/// Exact GELU `0.5 x (1 + erf(x / √2))`, computed as `0.5 x erfc(-x / √2)` so that it is
/// relative-accurate for negative x as well.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    let a = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let (hi, lo) = square_split(x);
    let (e, c, n) = erf_erfc_nonneg(a, 0.5 * hi, 0.5 * lo);
    let positive = x > 0.0;
    let two_cdf = if positive { 1.0 + e } else { c };
    scale2(0.5 * x * two_cdf, if positive { 0 } else { n })
}

/// `sqrt(2 / pi)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

/// GELU with the tanh approximation, `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`,
/// computed as `x · sigmoid(2 √(2/π) (x + 0.044715 x³))` with the argument in f64.
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    let w = gelu_tanh_wide(x as f64);
    let (m, n) = exp_wide_parts(-w.abs());
    let y = scaled_sigmoid(w < 0.0, m, n, x);
    if w < EXP_LOW as f64 { x * 0.0 } else { y }
}

/// The sigmoid argument of the tanh-approximated GELU, `2 √(2/π) (x + 0.044715 x³)`.
#[inline(always)]
pub fn gelu_tanh_wide(x: f64) -> f64 {
    2.0 * SQRT_2_OVER_PI * (0.044_715 * x * x).mul_add(x, x)
}

vector_fn!(Erf, erf, erf_slice, erf_inplace);
vector_fn!(Erfc, erfc, erfc_slice, erfc_inplace);
vector_fn!(Gelu, gelu, gelu_slice, gelu_inplace);
vector_fn!(GeluTanh, gelu_tanh, gelu_tanh_slice, gelu_tanh_inplace);
