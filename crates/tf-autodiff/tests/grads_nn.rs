//! Linalg and nn gradients beyond the finite-difference table: second derivatives
//! through nested tapes, dropout's exact mask, fused batch norm against its composed
//! form, and gradients of non-contiguous views.

#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tf_autodiff::{GradientTape, UnconnectedGradients};
use tf_core::{Tensor, ops};

fn uniform(seed: u64, dims: &[usize], lo: f64, hi: f64) -> Tensor {
    let mut r = StdRng::seed_from_u64(seed);
    let n: usize = dims.iter().product();
    Tensor::from_vec(
        (0..n).map(|_| r.random_range(lo..hi)).collect::<Vec<f64>>(),
        dims.to_vec(),
    )
    .unwrap()
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

/// d/dx <op(x), w> through one tape.
fn grad(op: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, w: &Tensor) -> Vec<f64> {
    let tape = GradientTape::new();
    tape.watch(x);
    let y = op(x);
    let g = tape
        .gradient_with(&y, &[x], Some(w), UnconnectedGradients::None)
        .unwrap();
    vals(g[0].as_ref().unwrap())
}

/// `H v` of `x -> <op(x), w>` through nested tapes.
fn hvp(op: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, w: &Tensor, v: &Tensor) -> Vec<f64> {
    let outer = GradientTape::new();
    outer.watch(x);
    let inner = GradientTape::new();
    inner.watch(x);
    let y = op(x);
    let g = inner
        .gradient_with(&y, &[x], Some(w), UnconnectedGradients::None)
        .unwrap()
        .remove(0)
        .unwrap();
    let gv = ops::reduce_sum(&ops::mul(&g, v).unwrap(), None, false).unwrap();
    vals(&outer.gradient(&gv, &[x]).unwrap().remove(0).unwrap())
}

/// Checks the nested-tape gradient of `φ(x) = <g(x), v>` (`g` the first-order
/// gradient: `H v` when `g` is a true gradient) against central differences of `φ`,
/// coordinate by coordinate (no symmetry assumed: TensorFlow's fused batch norm
/// gradient in inference mode ignores the statistics, so it is not a gradient field).
fn check_second_derivative(
    what: &str,
    op: &dyn Fn(&Tensor) -> Tensor,
    dims: &[usize],
    out: &[usize],
) {
    let x = uniform(1, dims, -1.5, 1.5);
    let v = uniform(2, dims, -1.0, 1.0);
    let w = uniform(3, out, -1.0, 1.0);
    let hv = hvp(op, &x, &w, &v);
    let (xv, vv) = (vals(&x), vals(&v));
    let phi = |j: usize, d: f64| -> f64 {
        let mut p = xv.clone();
        p[j] += d;
        let g = grad(op, &Tensor::from_vec(p, dims.to_vec()).unwrap(), &w);
        g.iter().zip(&vv).map(|(a, b)| a * b).sum()
    };
    let h = 1e-5;
    for (j, &a) in hv.iter().enumerate() {
        let fd = (phi(j, h) - phi(j, -h)) / (2.0 * h);
        assert!(
            (a - fd).abs() < 1e-6 * (1.0 + fd.abs()),
            "{what}: d<g, v>/dx[{j}] = {a}, finite difference {fd}"
        );
    }
}

#[test]
fn second_derivatives_of_softmax_and_log_softmax() {
    check_second_derivative(
        "softmax",
        &|x| ops::softmax(x, -1).unwrap(),
        &[2, 4],
        &[2, 4],
    );
    check_second_derivative(
        "softmax axis 0",
        &|x| ops::softmax(x, 0).unwrap(),
        &[3, 2],
        &[3, 2],
    );
    check_second_derivative(
        "log_softmax",
        &|x| ops::log_softmax(x, -1).unwrap(),
        &[2, 4],
        &[2, 4],
    );
}

#[test]
fn second_derivatives_of_matmul_and_bias_add() {
    // <x @ x, w>: quadratic in x, so H v is exact.
    check_second_derivative("x @ x", &|x| ops::matmul(x, x).unwrap(), &[3, 3], &[3, 3]);
    check_second_derivative(
        "batch x @ xᵀ",
        &|x| ops::batch_matmul(x, x, false, true).unwrap(),
        &[2, 2, 3],
        &[2, 2, 2],
    );
    let b = uniform(9, &[3], -1.0, 1.0);
    check_second_derivative(
        "softmax(bias_add(x @ x))",
        &|x| ops::softmax(&ops::bias_add(&ops::matmul(x, x).unwrap(), &b).unwrap(), -1).unwrap(),
        &[3, 3],
        &[3, 3],
    );
}

#[test]
fn second_derivatives_of_normalizations() {
    check_second_derivative(
        "l2_normalize",
        &|x| ops::l2_normalize(x, Some(&[-1]), 1e-12).unwrap(),
        &[2, 3],
        &[2, 3],
    );
    let (m, v) = (uniform(20, &[3], -0.5, 0.5), uniform(21, &[3], 0.5, 1.5));
    let (o, s) = (uniform(22, &[3], -0.5, 0.5), uniform(23, &[3], 0.5, 1.5));
    check_second_derivative(
        "batch_normalization (x and variance)",
        &|x| {
            // The variance depends on x too, so the second derivative goes through rsqrt.
            let var = ops::add(
                &v,
                &ops::reduce_sum(&ops::mul(x, x).unwrap(), Some(&[0]), false).unwrap(),
            )
            .unwrap();
            ops::batch_normalization(x, &m, &var, Some(&o), Some(&s), 1e-3).unwrap()
        },
        &[2, 3],
        &[2, 3],
    );
    let (scale, offset) = (uniform(24, &[3], 0.5, 1.5), uniform(25, &[3], -0.5, 0.5));
    check_second_derivative(
        "fused batch norm, training",
        &|x| {
            ops::fused_batch_norm_training(x, &scale, &offset, None, 1e-3, 1.0, "NHWC")
                .unwrap()
                .0
        },
        &[2, 2, 2, 3],
        &[2, 2, 2, 3],
    );
    check_second_derivative(
        "fused batch norm, training, NCHW",
        &|x| {
            ops::fused_batch_norm_training(x, &scale, &offset, None, 1e-3, 1.0, "NCHW")
                .unwrap()
                .0
        },
        &[2, 3, 2, 2],
        &[2, 3, 2, 2],
    );
    // Inference with statistics computed from x: like TensorFlow, the first-order
    // gradient ignores the mean/variance inputs, but that gradient depends on x through
    // them, so differentiating it exercises the fused gradient op's own gradient.
    check_second_derivative(
        "fused batch norm, inference, statistics from x",
        &|x| {
            let (mean, var) = ops::moments(x, Some(&[0, 1, 2]), false).unwrap();
            ops::fused_batch_norm_inference(x, &scale, &offset, &mean, &var, 1e-3, "NHWC").unwrap()
        },
        &[2, 2, 2, 3],
        &[2, 2, 2, 3],
    );
}

#[test]
fn dropout_gradient_is_the_upstream_times_the_mask() {
    let x = uniform(4, &[4, 6], -1.0, 1.0);
    let w = uniform(5, &[4, 6], -1.0, 1.0);
    for noise in [None, Some(vec![1i64, 6])] {
        let tape = GradientTape::new();
        tape.watch(&x);
        let (y, mask) = ops::dropout_with_mask(&x, 0.5, noise.as_deref(), Some(7)).unwrap();
        let g = tape
            .gradient_with(&y, &[&x], Some(&w), UnconnectedGradients::None)
            .unwrap();
        let g = vals(g[0].as_ref().unwrap());
        let (m, wv) = (vals(&mask), vals(&w));
        let cols = 6;
        for i in 0..24 {
            let mi = if mask.num_elements() == 24 {
                m[i]
            } else {
                m[i % cols]
            };
            assert!(mi == 0.0 || mi == 2.0);
            assert_eq!(g[i], wv[i] * mi, "element {i}");
        }
    }
}

#[test]
fn fused_batch_norm_training_matches_its_composed_form() {
    let x = uniform(6, &[2, 3, 2, 4], -2.0, 2.0);
    let scale = uniform(7, &[4], 0.5, 2.0);
    let offset = uniform(8, &[4], -1.0, 1.0);
    let w = uniform(9, &[2, 3, 2, 4], -1.0, 1.0);
    let eps = 1e-3;
    let grads = |fused: bool| -> Vec<Vec<f64>> {
        let tape = GradientTape::new();
        for t in [&x, &scale, &offset] {
            tape.watch(t);
        }
        let y = if fused {
            ops::fused_batch_norm_training(&x, &scale, &offset, None, eps, 1.0, "NHWC")
                .unwrap()
                .0
        } else {
            let (m, v) = ops::moments(&x, Some(&[0, 1, 2]), false).unwrap();
            ops::batch_normalization(&x, &m, &v, Some(&offset), Some(&scale), eps).unwrap()
        };
        tape.gradient_with(
            &y,
            &[&x, &scale, &offset],
            Some(&w),
            UnconnectedGradients::None,
        )
        .unwrap()
        .iter()
        .map(|g| vals(g.as_ref().unwrap()))
        .collect()
    };
    let (f, c) = (grads(true), grads(false));
    for (k, name) in ["x", "scale", "offset"].iter().enumerate() {
        for (i, (a, b)) in f[k].iter().zip(&c[k]).enumerate() {
            assert!(
                (a - b).abs() < 1e-10,
                "d{name}[{i}]: fused {a}, composed {b}"
            );
        }
    }
}

#[test]
fn gradients_of_views_match_their_contiguous_copies() {
    let a = uniform(10, &[3, 2], -1.0, 1.0);
    let b = uniform(11, &[3, 4], -1.0, 1.0);
    let w = uniform(12, &[2, 4], -1.0, 1.0);
    // aᵀ as a transposed view, and as a contiguous copy.
    let view = ops::transpose(&a, None).unwrap();
    let copy = Tensor::from_vec(vals(&view), [2, 3]).unwrap();
    assert!(!view.is_contiguous());
    let g = |t: &Tensor| {
        let tape = GradientTape::new();
        tape.watch(t);
        tape.watch(&b);
        let y = ops::softmax(&ops::matmul(t, &b).unwrap(), -1).unwrap();
        let g = tape
            .gradient_with(&y, &[t, &b], Some(&w), UnconnectedGradients::None)
            .unwrap();
        let ga = g[0].clone().unwrap();
        assert_eq!(ga.dims(), &[2, 3]);
        (vals(&ga), vals(g[1].as_ref().unwrap()))
    };
    let (gv, gc) = (g(&view), g(&copy));
    for (x, y) in gv.0.iter().zip(&gc.0).chain(gv.1.iter().zip(&gc.1)) {
        assert!((x - y).abs() < 1e-14);
    }
}

#[test]
fn sparse_labels_get_no_gradient_and_dense_labels_get_minus_log_softmax() {
    let logits = uniform(13, &[2, 3], -1.0, 1.0);
    let labels = uniform(14, &[2, 3], 0.0, 1.0);
    let tape = GradientTape::persistent();
    tape.watch(&logits);
    tape.watch(&labels);
    let loss = ops::softmax_cross_entropy_with_logits(&labels, &logits).unwrap();
    let g = tape.gradient(&loss, &[&labels]).unwrap();
    let want = vals(&ops::log_softmax(&logits, -1).unwrap());
    for (a, b) in vals(g[0].as_ref().unwrap()).iter().zip(&want) {
        assert!((a + b).abs() < 1e-15);
    }
    let idx = Tensor::vector(&[2i32, 0]);
    let loss = ops::sparse_softmax_cross_entropy_with_logits(&idx, &logits).unwrap();
    let g = tape.gradient(&loss, &[&logits]).unwrap();
    let sm = vals(&ops::softmax(&logits, -1).unwrap());
    let gl = vals(g[0].as_ref().unwrap());
    for i in 0..6 {
        let onehot = if i == 2 || i == 3 { 1.0 } else { 0.0 };
        assert!((gl[i] - (sm[i] - onehot)).abs() < 1e-15, "{i}");
    }
}
