//! Accuracy of the f32 math against f64 references over the whole f32 range.

use super::*;

/// Every `step`-th positive f32 bit pattern (denormals to inf), both signs, plus specials.
fn sweep(step: u32) -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::EPSILON,
        1.0,
        -1.0,
        0.5,
        0.25,
        0.625,
        0.843_75,
        1.25,
        2.857_142_8,
        88.72,
        88.73,
        -87.33,
        -103.9,
        -104.1,
        -120.0,
        -121.0,
    ];
    let mut bits = 1u32;
    while bits < 0x7f80_0000 {
        let x = f32::from_bits(bits);
        v.push(x);
        v.push(-x);
        bits += step;
    }
    // Dense around the origin and the usual activation range.
    for i in -20_000..=20_000 {
        v.push(i as f32 * 1e-3);
    }
    v
}

/// Error of `got` against the exact `want`, in units of the f32 spacing at `want`.
fn ulps(got: f32, want: f64) -> f64 {
    if want.is_nan() {
        return if got.is_nan() { 0.0 } else { f64::INFINITY };
    }
    let rounded = want as f32;
    if rounded.is_infinite() {
        return if got == rounded { 0.0 } else { f64::INFINITY };
    }
    if got.is_nan() || got.is_infinite() {
        return f64::INFINITY;
    }
    let a = rounded.abs();
    let spacing = if a < f32::MIN_POSITIVE {
        f32::from_bits(1) as f64
    } else {
        let next = f32::from_bits(a.to_bits() + 1);
        (next - a) as f64
    };
    (got as f64 - want).abs() / spacing
}

fn check(
    name: &str,
    slice: fn(&[f32], &mut [f32]),
    scalar: fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
    max_ulps: f64,
) {
    let xs = sweep(4099);
    let mut got = vec![0f32; xs.len()];
    slice(&xs, &mut got);
    let mut worst = (0.0f64, 0f32);
    for (i, (&x, &g)) in xs.iter().zip(&got).enumerate() {
        let e = ulps(g, reference(x as f64));
        if e > worst.0 || e.is_nan() {
            worst = (e, x);
        }
        // The vectorized loop and the scalar function agree bit for bit.
        if i % 61 == 0 {
            let s = scalar(x);
            assert!(
                s.to_bits() == g.to_bits() || (s.is_nan() && g.is_nan()),
                "{name}({x:e}): slice {g:e} vs scalar {s:e}"
            );
        }
    }
    let x = worst.1;
    eprintln!("{name}: max {:.2} ulp at {x:e}", worst.0);
    assert!(
        worst.0 <= max_ulps,
        "{name}: {} ulp at x = {x:e} (got {:e}, want {:e})",
        worst.0,
        scalar(x),
        reference(x as f64)
    );
}

fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn softplus64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[test]
fn exp_family() {
    check("exp", exp_slice, exp, f64::exp, 1.0);
    check("expm1", expm1_slice, expm1, f64::exp_m1, 1.5);
    check("log", log_slice, log, f64::ln, 1.0);
    check("log1p", log1p_slice, log1p, f64::ln_1p, 2.5);
}

#[test]
fn activations() {
    check("tanh", tanh_slice, tanh, f64::tanh, 1.5);
    check("sigmoid", sigmoid_slice, sigmoid, sigmoid64, 2.0);
    check("softplus", softplus_slice, softplus, softplus64, 3.0);
    check("silu", silu_slice, silu, |x| x * sigmoid64(x), 3.0);
}

#[test]
fn erf_family() {
    check("erf", erf_slice, erf, libm::erf, 1.0);
    check("erfc", erfc_slice, erfc, libm::erfc, 2.5);
    check(
        "gelu",
        gelu_slice,
        gelu,
        |x| 0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2),
        4.0,
    );
    check(
        "gelu_tanh",
        gelu_tanh_slice,
        gelu_tanh,
        |x| x * sigmoid64(gelu_tanh_wide(x)),
        3.0,
    );
}

#[test]
fn special_values() {
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp(f32::INFINITY), f32::INFINITY);
    assert_eq!(exp(-104.5), 0.0);
    assert_eq!(exp(-103.9), f32::from_bits(1));
    assert_eq!(log(1.0), 0.0);
    assert_eq!(log(0.0), f32::NEG_INFINITY);
    assert_eq!(log(-0.0), f32::NEG_INFINITY);
    assert!(log(-1.0).is_nan());
    assert_eq!(log(f32::from_bits(1)), -103.278_93);
    assert_eq!(log1p(-1.0), f32::NEG_INFINITY);
    assert_eq!(expm1(f32::NEG_INFINITY), -1.0);
    assert!(expm1(-0.0).is_sign_negative());
    assert_eq!(tanh(f32::INFINITY), 1.0);
    assert_eq!(tanh(-f32::INFINITY), -1.0);
    assert!(tanh(-0.0).is_sign_negative());
    assert_eq!(sigmoid(f32::INFINITY), 1.0);
    assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
    assert_eq!(softplus(f32::INFINITY), f32::INFINITY);
    assert_eq!(softplus(f32::NEG_INFINITY), 0.0);
    assert_eq!(erf(f32::INFINITY), 1.0);
    assert_eq!(erf(f32::NEG_INFINITY), -1.0);
    assert_eq!(erfc(f32::NEG_INFINITY), 2.0);
    assert_eq!(gelu(f32::INFINITY), f32::INFINITY);
    assert_eq!(gelu(0.0), 0.0);
    for f in [
        exp, expm1, log, log1p, tanh, sigmoid, softplus, silu, erf, erfc, gelu,
    ] {
        assert!(f(f32::NAN).is_nan());
    }
    assert!(gelu_tanh(f32::NAN).is_nan());
}
