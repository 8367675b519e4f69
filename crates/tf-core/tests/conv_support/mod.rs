//! Reference implementations shared by the convolution test files: window
//! configurations (random and fixed), TensorFlow's output-size formulas, naive
//! direct-loop convolutions and pools in f64, and tolerance checks.
#![allow(dead_code, clippy::unwrap_used)]

pub mod grads;

use rand::Rng;
use rand::rngs::StdRng;
use tf_core::ops::{Conv2dOptions, Padding};
use tf_core::{DType, Tensor};

/// One spatial window configuration.
#[derive(Clone, Copy, Debug)]
pub struct Win {
    pub s: [usize; 2],
    pub d: [usize; 2],
    pub pad: Padding,
}

impl Win {
    pub fn options(&self) -> Conv2dOptions {
        Conv2dOptions::new(self.pad)
            .strides(&self.s)
            .dilations(&self.d)
    }

    /// Output size and padding before for one axis, from TensorFlow's documented
    /// formulas; `None` when TensorFlow reports a negative output size.
    pub fn axis(&self, axis: usize, input: usize, k: usize) -> Option<(usize, usize)> {
        let (s, d) = (self.s[axis] as i64, self.d[axis] as i64);
        let (i, k) = (input as i64, k as i64);
        let k_eff = (k - 1) * d + 1;
        let (out, before) = match self.pad {
            Padding::Valid => ((i - k_eff + s) / s, 0),
            Padding::Explicit(p) => {
                let [b, a] = p[axis];
                ((i + b as i64 + a as i64 - k_eff + s) / s, b as i64)
            }
            Padding::Same => {
                let out = (i + s - 1) / s;
                (out, ((out - 1) * s + k_eff - i).max(0) / 2)
            }
        };
        (out >= 0).then_some((out as usize, before as usize))
    }
}

/// Input position of output `o`, kernel tap `k` on `axis`, if inside `[0, size)`.
pub fn src(w: &Win, axis: usize, o: usize, k: usize, before: usize, size: usize) -> Option<usize> {
    let p = (o * w.s[axis] + k * w.d[axis]) as i64 - before as i64;
    (p >= 0 && (p as usize) < size).then_some(p as usize)
}

/// Naive values and Σ|terms| (for tolerances).
pub struct Reference {
    pub dims: Vec<usize>,
    pub values: Vec<f64>,
    pub abs: Vec<f64>,
}

pub fn naive_conv(x: &Tensor, f: &Tensor, w: &Win, depthwise: bool) -> Option<Reference> {
    let [n, h, wd, c] = <[usize; 4]>::try_from(x.dims()).unwrap();
    let [kh, kw, _, o] = <[usize; 4]>::try_from(f.dims()).unwrap();
    let (ho, pt) = w.axis(0, h, kh)?;
    let (wo, pl) = w.axis(1, wd, kw)?;
    let (xv, fv) = (x.to_f64_vec().unwrap(), f.to_f64_vec().unwrap());
    let oc = if depthwise { c * o } else { o };
    let mut values = vec![0.0; n * ho * wo * oc];
    let mut abs = values.clone();
    for b in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                for ky in 0..kh {
                    let Some(iy) = src(w, 0, oy, ky, pt, h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(ix) = src(w, 1, ox, kx, pl, wd) else {
                            continue;
                        };
                        for ci in 0..c {
                            let xval = xv[((b * h + iy) * wd + ix) * c + ci];
                            for m in 0..o {
                                let fval = fv[((ky * kw + kx) * c + ci) * o + m];
                                let ch = if depthwise { ci * o + m } else { m };
                                let at = ((b * ho + oy) * wo + ox) * oc + ch;
                                values[at] += xval * fval;
                                abs[at] += (xval * fval).abs();
                            }
                        }
                    }
                }
            }
        }
    }
    Some(Reference {
        dims: vec![n, ho, wo, oc],
        values,
        abs,
    })
}

/// `dx` of a Conv2D with input shape `out_shape`, from `dy` and the HWIO filter.
pub fn naive_transpose(dy: &Tensor, f: &Tensor, out_shape: [usize; 4], w: &Win) -> Reference {
    naive_backprop_input(dy, f, out_shape, w, false)
}

/// `dx` of a Conv2D (or, when `depthwise`, a DepthwiseConv2dNative) with input shape
/// `out_shape`, from `dy` and the filter: the scatter of every output term.
pub fn naive_backprop_input(
    dy: &Tensor,
    f: &Tensor,
    out_shape: [usize; 4],
    w: &Win,
    depthwise: bool,
) -> Reference {
    let [n, h, wd, c] = out_shape;
    let [kh, kw, _, o] = <[usize; 4]>::try_from(f.dims()).unwrap();
    let (ho, pt) = w.axis(0, h, kh).unwrap();
    let (wo, pl) = w.axis(1, wd, kw).unwrap();
    let oc = if depthwise { c * o } else { o };
    let (dv, fv) = (dy.to_f64_vec().unwrap(), f.to_f64_vec().unwrap());
    let mut values = vec![0.0; n * h * wd * c];
    let mut abs = values.clone();
    for b in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                for ky in 0..kh {
                    let Some(iy) = src(w, 0, oy, ky, pt, h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(ix) = src(w, 1, ox, kx, pl, wd) else {
                            continue;
                        };
                        for ci in 0..c {
                            for m in 0..o {
                                let ch = if depthwise { ci * o + m } else { m };
                                let t = dv[((b * ho + oy) * wo + ox) * oc + ch]
                                    * fv[((ky * kw + kx) * c + ci) * o + m];
                                let at = ((b * h + iy) * wd + ix) * c + ci;
                                values[at] += t;
                                abs[at] += t.abs();
                            }
                        }
                    }
                }
            }
        }
    }
    Reference {
        dims: out_shape.to_vec(),
        values,
        abs,
    }
}

/// `df` `[kh, kw, c, o]` of a Conv2D (or depthwise convolution, `o` then being the
/// channel multiplier) from its input `x` and `dy`.
pub fn naive_backprop_filter(
    x: &Tensor,
    dy: &Tensor,
    fsizes: [usize; 4],
    w: &Win,
    depthwise: bool,
) -> Reference {
    let [n, h, wd, c] = <[usize; 4]>::try_from(x.dims()).unwrap();
    let [kh, kw, _, o] = fsizes;
    let (ho, pt) = w.axis(0, h, kh).unwrap();
    let (wo, pl) = w.axis(1, wd, kw).unwrap();
    let oc = if depthwise { c * o } else { o };
    let (xv, dv) = (x.to_f64_vec().unwrap(), dy.to_f64_vec().unwrap());
    let mut values = vec![0.0; kh * kw * c * o];
    let mut abs = values.clone();
    for b in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                for ky in 0..kh {
                    let Some(iy) = src(w, 0, oy, ky, pt, h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(ix) = src(w, 1, ox, kx, pl, wd) else {
                            continue;
                        };
                        for ci in 0..c {
                            let xval = xv[((b * h + iy) * wd + ix) * c + ci];
                            for m in 0..o {
                                let ch = if depthwise { ci * o + m } else { m };
                                let t = xval * dv[((b * ho + oy) * wo + ox) * oc + ch];
                                let at = ((ky * kw + kx) * c + ci) * o + m;
                                values[at] += t;
                                abs[at] += t.abs();
                            }
                        }
                    }
                }
            }
        }
    }
    Reference {
        dims: fsizes.to_vec(),
        values,
        abs,
    }
}

pub fn naive_pool(x: &Tensor, k: [usize; 2], w: &Win, max: bool) -> Option<Reference> {
    let [n, h, wd, c] = <[usize; 4]>::try_from(x.dims()).unwrap();
    let (ho, pt) = w.axis(0, h, k[0])?;
    let (wo, pl) = w.axis(1, wd, k[1])?;
    let xv = x.to_f64_vec().unwrap();
    let (mut values, mut abs) = (Vec::new(), Vec::new());
    for b in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                for ci in 0..c {
                    let mut vals = Vec::new();
                    for ky in 0..k[0] {
                        let Some(iy) = src(w, 0, oy, ky, pt, h) else {
                            continue;
                        };
                        for kx in 0..k[1] {
                            let Some(ix) = src(w, 1, ox, kx, pl, wd) else {
                                continue;
                            };
                            vals.push(xv[((b * h + iy) * wd + ix) * c + ci]);
                        }
                    }
                    abs.push(vals.iter().map(|v| v.abs()).sum::<f64>() / vals.len() as f64);
                    values.push(if max {
                        vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        vals.iter().sum::<f64>() / vals.len() as f64
                    });
                }
            }
        }
    }
    Some(Reference {
        dims: vec![n, ho, wo, c],
        values,
        abs,
    })
}

/// Relative tolerance against Σ|terms| per dtype.
pub fn conv_tol(dt: DType) -> f64 {
    match dt {
        DType::F64 => 1e-13,
        DType::F32 => 1e-5,
        DType::F16 => 1e-3,
        DType::BF16 => 8e-3,
        _ => 0.0,
    }
}

pub fn check(got: &Tensor, r: &Reference, dt: DType, what: &str) {
    assert_eq!(got.dtype(), dt, "{what}: dtype");
    assert_eq!(got.dims(), &r.dims[..], "{what}: shape");
    let g = got.to_f64_vec().unwrap();
    for (i, ((&x, &e), &s)) in g.iter().zip(&r.values).zip(&r.abs).enumerate() {
        let tol = conv_tol(dt) * (s + e.abs());
        assert!(
            (x - e).abs() <= tol,
            "{what}: element {i}: got {x}, expected {e} (tol {tol})"
        );
    }
}

pub fn random_win(r: &mut StdRng) -> Win {
    let pad = match r.random_range(0..3) {
        0 => Padding::Same,
        1 => Padding::Valid,
        _ => Padding::Explicit([
            [r.random_range(0..3), r.random_range(0..3)],
            [r.random_range(0..3), r.random_range(0..3)],
        ]),
    };
    let dil = |r: &mut StdRng| {
        if r.random_range(0..4) == 0 {
            r.random_range(2..4)
        } else {
            1
        }
    };
    Win {
        s: [r.random_range(1..4), r.random_range(1..4)],
        d: [dil(r), dil(r)],
        pad,
    }
}

/// Random (input dims, filter spatial size, window).
pub fn random_config(r: &mut StdRng) -> ([usize; 4], [usize; 2], Win) {
    let x = [
        r.random_range(1..4),
        r.random_range(1..9),
        r.random_range(1..9),
        r.random_range(1..5),
    ];
    let k = [r.random_range(1..5), r.random_range(1..5)];
    (x, k, random_win(r))
}

/// Fixed configurations covering the special paths: 1×1 stride 1 (plain GEMM), a
/// window covering the whole input, kernels larger than the input with SAME, and
/// sizes large enough for the tiled parallel path.
pub fn fixed_configs() -> Vec<([usize; 4], [usize; 2], usize, Win)> {
    let w = |s: usize, d: usize, pad| Win {
        s: [s, s],
        d: [d, d],
        pad,
    };
    vec![
        ([2, 5, 6, 3], [1, 1], 4, w(1, 1, Padding::Valid)),
        ([2, 5, 6, 3], [1, 1], 4, w(1, 3, Padding::Same)),
        ([1, 4, 4, 3], [1, 1], 2, w(2, 1, Padding::Valid)),
        ([3, 4, 5, 2], [4, 5], 3, w(1, 1, Padding::Valid)),
        ([1, 2, 3, 2], [5, 4], 3, w(1, 1, Padding::Same)),
        ([2, 1, 1, 1], [3, 3], 1, w(2, 2, Padding::Same)),
        ([2, 12, 12, 8], [3, 3], 16, w(1, 1, Padding::Same)),
        (
            [3, 11, 9, 5],
            [3, 2],
            7,
            w(2, 1, Padding::Explicit([[1, 2], [0, 1]])),
        ),
        ([1, 1, 1, 1], [1, 1], 1, w(1, 1, Padding::Valid)),
        ([2, 0, 4, 3], [2, 2], 2, w(1, 1, Padding::Same)),
        ([0, 4, 4, 3], [2, 2], 2, w(1, 1, Padding::Same)),
    ]
}
