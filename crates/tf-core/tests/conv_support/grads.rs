//! Naive references for the pooling gradients (`MaxPoolGrad`, `MaxPoolGradGrad`,
//! `AvgPoolGrad`), written from TensorFlow's CPU kernels' definitions: window positions
//! in row-major order, the first maximum wins ties, `AvgPool` divides by the number of
//! valid positions.
#![allow(dead_code, clippy::unwrap_used)]

use super::{Reference, Win, src};
use tf_core::{DType, Tensor};

/// For every output `(b, oy, ox)`: the valid input pixels `(iy, ix)` of its window in
/// row-major window order, with the output geometry `[n, ho, wo]`.
fn windows(xd: [usize; 4], k: [usize; 2], w: &Win) -> ([usize; 3], Vec<Vec<(usize, usize)>>) {
    let [n, h, wd, _] = xd;
    let (ho, pt) = w.axis(0, h, k[0]).unwrap();
    let (wo, pl) = w.axis(1, wd, k[1]).unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut win = Vec::new();
                for ky in 0..k[0] {
                    let Some(iy) = src(w, 0, oy, ky, pt, h) else {
                        continue;
                    };
                    for kx in 0..k[1] {
                        if let Some(ix) = src(w, 1, ox, kx, pl, wd) {
                            win.push((iy, ix));
                        }
                    }
                }
                out.push(win);
            }
        }
    }
    ([n, ho, wo], out)
}

/// Index into `x` (`[n, h, w, c]`) of the first maximum of output `p`'s window in
/// channel `ci` (a later value replaces the held one only when strictly greater).
fn argmax(xv: &[f64], xd: [usize; 4], b: usize, win: &[(usize, usize)], ci: usize) -> usize {
    let [_, h, wd, c] = xd;
    let at = |(iy, ix): (usize, usize)| ((b * h + iy) * wd + ix) * c + ci;
    let mut best = at(win[0]);
    for &pix in &win[1..] {
        if xv[at(pix)] > xv[best] {
            best = at(pix);
        }
    }
    best
}

/// `MaxPoolGrad`: `dy` (pooled shape) added at each window's first maximum in `x`.
pub fn naive_max_pool_grad(x: &Tensor, dy: &Tensor, k: [usize; 2], w: &Win) -> Reference {
    let xd = <[usize; 4]>::try_from(x.dims()).unwrap();
    let c = xd[3];
    let ([_, ho, wo], wins) = windows(xd, k, w);
    let (xv, dv) = (x.to_f64_vec().unwrap(), dy.to_f64_vec().unwrap());
    let mut values = vec![0.0; xv.len()];
    let mut abs = values.clone();
    for (p, win) in wins.iter().enumerate() {
        for ci in 0..c {
            let at = argmax(&xv, xd, p / (ho * wo), win, ci);
            let g = dv[p * c + ci];
            values[at] += g;
            abs[at] += g.abs();
        }
    }
    Reference {
        dims: xd.to_vec(),
        values,
        abs,
    }
}

/// `MaxPoolGradGrad`: for each window, `gg` (shaped like `x`) at the first maximum.
pub fn naive_max_pool_grad_grad(x: &Tensor, gg: &Tensor, k: [usize; 2], w: &Win) -> Reference {
    let xd = <[usize; 4]>::try_from(x.dims()).unwrap();
    let c = xd[3];
    let ([n, ho, wo], wins) = windows(xd, k, w);
    let (xv, gv) = (x.to_f64_vec().unwrap(), gg.to_f64_vec().unwrap());
    let mut values = vec![0.0; n * ho * wo * c];
    for (p, win) in wins.iter().enumerate() {
        for ci in 0..c {
            values[p * c + ci] = gv[argmax(&xv, xd, p / (ho * wo), win, ci)];
        }
    }
    let abs = values.iter().map(|v| v.abs()).collect();
    Reference {
        dims: vec![n, ho, wo, c],
        values,
        abs,
    }
}

/// `AvgPoolGrad`: `dy / count` added over each window's valid positions.
pub fn naive_avg_pool_grad(xd: [usize; 4], dy: &Tensor, k: [usize; 2], w: &Win) -> Reference {
    let [_, h, wd, c] = xd;
    let ([_, ho, wo], wins) = windows(xd, k, w);
    let dv = dy.to_f64_vec().unwrap();
    let mut values = vec![0.0; xd.iter().product()];
    let mut abs = values.clone();
    for (p, win) in wins.iter().enumerate() {
        let b = p / (ho * wo);
        for ci in 0..c {
            let share = dv[p * c + ci] / win.len() as f64;
            for &(iy, ix) in win {
                let at = ((b * h + iy) * wd + ix) * c + ci;
                values[at] += share;
                abs[at] += share.abs();
            }
        }
    }
    Reference {
        dims: xd.to_vec(),
        values,
        abs,
    }
}

/// Unit roundoff of a dtype (0 for integers: exact).
pub fn unit_roundoff(dt: DType) -> f64 {
    match dt {
        DType::F64 => f64::EPSILON / 2.0,
        DType::F32 => f32::EPSILON as f64 / 2.0,
        DType::F16 => 1.0 / 2048.0,
        DType::BF16 => 1.0 / 256.0,
        _ => 0.0,
    }
}

/// Checks `got` against `r` with `|got - e| <= terms · u · (Σ|terms| + |e|)`: the
/// bound of a sum of `terms` values each rounded in the dtype (half types accumulate
/// in their own precision here, like TensorFlow's pooling gradients).
pub fn check_rounded(got: &Tensor, r: &Reference, dt: DType, terms: usize, what: &str) {
    assert_eq!(got.dtype(), dt, "{what}: dtype");
    assert_eq!(got.dims(), &r.dims[..], "{what}: shape");
    let u = unit_roundoff(dt) * (terms as f64 + 2.0);
    let g = got.to_f64_vec().unwrap();
    for (i, ((&x, &e), &s)) in g.iter().zip(&r.values).zip(&r.abs).enumerate() {
        let tol = u * (s + e.abs());
        assert!(
            (x - e).abs() <= tol,
            "{what}: element {i}: got {x}, expected {e} (tol {tol})"
        );
    }
}

/// `Σ a·b` over the elements of two same-shaped tensors, in f64.
pub fn dot(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    a.to_f64_vec()
        .unwrap()
        .iter()
        .zip(b.to_f64_vec().unwrap())
        .map(|(p, q)| p * q)
        .sum()
}
