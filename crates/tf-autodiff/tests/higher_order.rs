//! Higher-order derivatives through nested tapes, and gradients at kinks.
//!
//! Nested tapes must give d²/dx² and d³/dx³ of x³ (6x, 6), tanh, sigmoid and softplus
//! matching their closed forms to 1e-10 in float64, whether the outer tapes are
//! persistent or not. At kinks the gradients take TensorFlow's values: relu'(0) = 0,
//! abs'(0) = 0, `Maximum`/`Minimum` ties go to x, and `ClipByValue` passes the
//! gradient to `t` at the bounds themselves.

#![allow(clippy::unwrap_used)]

use tf_autodiff::GradientTape;
use tf_core::{Result, Tensor, ops};

/// Points away from every kink, both signs.
const XS: [f64; 7] = [-2.1, -1.3, -0.4, 0.05, 0.2, 0.9, 1.7];

fn vec_tensor(v: &[f64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), vec![v.len()]).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

fn tape(persistent: bool) -> GradientTape {
    if persistent {
        GradientTape::persistent()
    } else {
        GradientTape::new()
    }
}

/// f(x), f'(x), f''(x), f'''(x) of an elementwise `f` at `XS`, through three nested
/// tapes (the two outer ones persistent or not). The gradient of a non-scalar target
/// sums its elements, which for an elementwise function is the elementwise derivative.
fn derivatives(f: fn(&Tensor) -> Result<Tensor>, persistent: bool) -> [Vec<f64>; 4] {
    let x = vec_tensor(&XS);
    let t3 = tape(persistent);
    t3.watch(&x);
    let t2 = tape(persistent);
    t2.watch(&x);
    let t1 = GradientTape::new();
    t1.watch(&x);
    let y = f(&x).unwrap();
    let d1 = t1.gradient(&y, &[&x]).unwrap().remove(0).unwrap();
    let d2 = t2.gradient(&d1, &[&x]).unwrap().remove(0).unwrap();
    let d3 = t3.gradient(&d2, &[&x]).unwrap().remove(0).unwrap();
    if persistent {
        // A persistent outer tape can answer again, with the same result.
        let again = t2.gradient(&d1, &[&x]).unwrap().remove(0).unwrap();
        assert_eq!(values(&again), values(&d2));
    }
    [values(&y), values(&d1), values(&d2), values(&d3)]
}

/// Checks f and its first three derivatives against closed forms to 1e-10.
fn check(name: &str, f: fn(&Tensor) -> Result<Tensor>, closed: impl Fn(f64) -> [f64; 4]) {
    for persistent in [false, true] {
        let got = derivatives(f, persistent);
        for (i, &x) in XS.iter().enumerate() {
            let want = closed(x);
            for order in 0..4 {
                let (g, w) = (got[order][i], want[order]);
                assert!(
                    (g - w).abs() <= 1e-10 * (1.0 + w.abs()),
                    "{name} (persistent outer tapes: {persistent}): derivative {order} at x = {x}: got {g}, closed form {w}"
                );
            }
        }
    }
}

fn cube(x: &Tensor) -> Result<Tensor> {
    ops::mul(&ops::mul(x, x)?, x)
}

fn cube_via_square(x: &Tensor) -> Result<Tensor> {
    ops::mul(&ops::square(x)?, x)
}

fn cube_via_pow(x: &Tensor) -> Result<Tensor> {
    ops::pow(x, &Tensor::from_scalar(3.0f64))
}

#[test]
fn cube_derivatives_are_3x2_6x_6() {
    let closed = |x: f64| [x * x * x, 3.0 * x * x, 6.0 * x, 6.0];
    check("x*x*x", cube, closed);
    check("square(x)*x", cube_via_square, closed);
    // pow's gradient is x^(y-1) · y: for negative x this still works (integer y).
    check("pow(x, 3)", cube_via_pow, closed);
}

#[test]
fn tanh_derivatives_match_closed_forms() {
    check("tanh", ops::tanh, |x| {
        let t = x.tanh();
        let d1 = 1.0 - t * t;
        [t, d1, -2.0 * t * d1, -2.0 * d1 * (1.0 - 3.0 * t * t)]
    });
}

fn sigmoid_closed(x: f64) -> [f64; 4] {
    let s = 1.0 / (1.0 + (-x).exp());
    let d1 = s * (1.0 - s);
    let d2 = d1 * (1.0 - 2.0 * s);
    let d3 = d1 * (1.0 - 2.0 * s).powi(2) - 2.0 * d1 * d1;
    [s, d1, d2, d3]
}

#[test]
fn sigmoid_derivatives_match_closed_forms() {
    check("sigmoid", ops::sigmoid, sigmoid_closed);
}

#[test]
fn softplus_derivatives_match_closed_forms() {
    // softplus' = sigmoid, so the higher derivatives are sigmoid's.
    check("softplus", ops::softplus, |x| {
        let [s, d1, d2, _] = sigmoid_closed(x);
        [x.exp().ln_1p(), s, d1, d2]
    });
}

#[test]
fn one_persistent_tape_gives_the_second_derivative_of_tanh() {
    // SPECS §5: the gradient computed inside a persistent tape that is still recording
    // is itself recorded.
    let x = vec_tensor(&XS);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::tanh(&x).unwrap();
    let d1 = tape.gradient(&y, &[&x]).unwrap().remove(0).unwrap();
    let d2 = tape.gradient(&d1, &[&x]).unwrap().remove(0).unwrap();
    for (i, &x) in XS.iter().enumerate() {
        let t = x.tanh();
        let want = -2.0 * t * (1.0 - t * t);
        assert!((values(&d2)[i] - want).abs() <= 1e-10, "tanh'' at {x}");
    }
}

/// d(sum f(x))/dx at `xs`.
fn grad_at(f: impl Fn(&Tensor) -> Result<Tensor>, xs: &[f64]) -> Vec<f64> {
    let x = vec_tensor(xs);
    let tape = GradientTape::new();
    tape.watch(&x);
    let y = f(&x).unwrap();
    values(&tape.gradient(&y, &[&x]).unwrap().remove(0).unwrap())
}

#[test]
fn relu_gradient_at_zero_is_zero() {
    assert_eq!(grad_at(ops::relu, &[-1.0, 0.0, 2.0]), vec![0.0, 0.0, 1.0]);
    // -0.0 too.
    assert_eq!(grad_at(ops::relu, &[-0.0]), vec![0.0]);
}

#[test]
fn relu_second_derivative_is_zero_not_missing() {
    // TensorFlow's ReluGrad gradient: (ReluGrad(grad, x), zeros): relu'' = 0 everywhere.
    let x = vec_tensor(&[-1.0, 0.0, 2.0]);
    let outer = GradientTape::new();
    outer.watch(&x);
    let inner = GradientTape::new();
    inner.watch(&x);
    let y = ops::relu(&x).unwrap();
    let d1 = inner.gradient(&y, &[&x]).unwrap().remove(0).unwrap();
    let d2 = outer.gradient(&d1, &[&x]).unwrap().remove(0).unwrap();
    assert_eq!(values(&d2), vec![0.0, 0.0, 0.0]);
}

#[test]
fn abs_gradient_at_zero_is_zero() {
    assert_eq!(grad_at(ops::abs, &[-3.0, 0.0, 2.0]), vec![-1.0, 0.0, 1.0]);
}

/// (d/dx, d/dy) of sum(op(x, y)).
fn binary_grads(
    op: fn(&Tensor, &Tensor) -> Result<Tensor>,
    x: &Tensor,
    y: &Tensor,
) -> (Vec<f64>, Vec<f64>) {
    let tape = GradientTape::new();
    tape.watch(x);
    tape.watch(y);
    let z = op(x, y).unwrap();
    let g = tape.gradient(&z, &[x, y]).unwrap();
    (
        values(g[0].as_ref().unwrap()),
        values(g[1].as_ref().unwrap()),
    )
}

#[test]
fn maximum_and_minimum_ties_go_to_x() {
    let x = vec_tensor(&[1.0, 2.0, 3.0]);
    let y = vec_tensor(&[2.0, 2.0, 2.0]);
    // Maximum: x where x >= y.
    assert_eq!(
        binary_grads(ops::maximum, &x, &y),
        (vec![0.0, 1.0, 1.0], vec![1.0, 0.0, 0.0])
    );
    // Minimum: x where x <= y.
    assert_eq!(
        binary_grads(ops::minimum, &x, &y),
        (vec![1.0, 1.0, 0.0], vec![0.0, 0.0, 1.0])
    );
    // A broadcast scalar y collects the gradient of every element it wins.
    let s = Tensor::from_scalar(2.0f64);
    assert_eq!(
        binary_grads(ops::maximum, &x, &s),
        (vec![0.0, 1.0, 1.0], vec![1.0])
    );
}

#[test]
fn clip_by_value_passes_the_gradient_to_t_at_the_bounds() {
    let t = vec_tensor(&[-2.0, -1.0, 0.0, 1.0, 2.0]);
    let lo = Tensor::from_scalar(-1.0f64);
    let hi = Tensor::from_scalar(1.0f64);
    let tape = GradientTape::new();
    for v in [&t, &lo, &hi] {
        tape.watch(v);
    }
    let z = ops::clip_by_value(&t, &lo, &hi).unwrap();
    let g = tape.gradient(&z, &[&t, &lo, &hi]).unwrap();
    // t gets the gradient inside [lo, hi] bounds included; lo where t < lo; hi where
    // t > hi (TensorFlow's _ClipByValueGrad).
    assert_eq!(
        values(g[0].as_ref().unwrap()),
        vec![0.0, 1.0, 1.0, 1.0, 0.0]
    );
    assert_eq!(values(g[1].as_ref().unwrap()), vec![1.0]);
    assert_eq!(values(g[2].as_ref().unwrap()), vec![1.0]);
}
