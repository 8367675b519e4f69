//! Reduction, scan and sort gradients where finite differences say nothing: ties and
//! zeros (TensorFlow's values there), scatter/permutation bookkeeping, views, and
//! second derivatives through nested tapes.

#![allow(clippy::unwrap_used)]

use tf_autodiff::{
    Differentiability, GradientTape, UnconnectedGradients, ensure_builtin_gradients, gradient_of,
};
use tf_core::Tensor;
use tf_core::ops::{self, SortDirection};

fn t(v: &[f64], dims: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), dims.to_vec()).unwrap()
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

/// d/dx <op(x), w>.
fn grad(op: impl Fn(&Tensor) -> Tensor, x: &Tensor, w: &Tensor) -> Vec<f64> {
    let tape = GradientTape::new();
    tape.watch(x);
    let y = op(x);
    let g = tape
        .gradient_with(&y, &[x], Some(w), UnconnectedGradients::None)
        .unwrap();
    vals(g[0].as_ref().unwrap())
}

#[test]
fn max_and_min_split_the_gradient_equally_among_ties() {
    let x = t(&[1.0, 3.0, 3.0, 2.0, 0.5, 0.5, 0.5, 4.0], &[2, 4]);
    let w = t(&[6.0, 9.0], &[2]);
    let g = grad(|x| ops::reduce_max(x, Some(&[1]), false).unwrap(), &x, &w);
    assert_eq!(g, vec![0.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0, 9.0]);
    let g = grad(|x| ops::reduce_min(x, Some(&[1]), false).unwrap(), &x, &w);
    assert_eq!(g, vec![6.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 0.0]);
    // Over both axes: the three 0.5s share.
    let g = grad(
        |x| ops::reduce_min(x, None, false).unwrap(),
        &x,
        &Tensor::from_scalar(3.0f64),
    );
    assert_eq!(g, vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
}

#[test]
fn prod_gradient_is_exact_with_zeros() {
    // d/dx_i prod(x) = product of the others: with one zero only that element gets a
    // nonzero gradient; with two zeros every gradient is zero.
    let x = t(&[2.0, 0.0, 3.0, 0.0, 0.0, 5.0], &[2, 3]);
    let w = t(&[1.0, 1.0], &[2]);
    let g = grad(|x| ops::reduce_prod(x, Some(&[1]), false).unwrap(), &x, &w);
    assert_eq!(g, vec![0.0, 6.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn cumprod_gradient_is_zero_at_zeros_like_tensorflow() {
    // TensorFlow's _CumprodGrad divides by x with div_no_nan: 0 where x == 0 (the true
    // derivative there, 8, is not what TensorFlow returns).
    let x = t(&[2.0, 0.0, 3.0], &[3]);
    let g = grad(
        |x| ops::cumprod(x, 0, false, false).unwrap(),
        &x,
        &t(&[1.0, 1.0, 1.0], &[3]),
    );
    assert_eq!(g, vec![1.0, 0.0, 0.0]);
}

#[test]
fn cumsum_gradient_runs_the_other_way() {
    let x = t(&[1.0, 2.0, 3.0], &[3]);
    let w = t(&[1.0, 10.0, 100.0], &[3]);
    for (exclusive, reverse, want) in [
        (false, false, [111.0, 110.0, 100.0]),
        (true, false, [110.0, 100.0, 0.0]),
        (false, true, [1.0, 11.0, 111.0]),
        (true, true, [0.0, 1.0, 11.0]),
    ] {
        let g = grad(|x| ops::cumsum(x, 0, exclusive, reverse).unwrap(), &x, &w);
        assert_eq!(g, want.to_vec(), "exclusive={exclusive} reverse={reverse}");
    }
}

#[test]
fn top_k_scatters_to_the_selected_positions() {
    let x = t(&[1.0, 5.0, 3.0, 4.0, 7.0, 7.0, 0.0, 2.0], &[2, 4]);
    let tape = GradientTape::new();
    tape.watch(&x);
    let (values, indices) = ops::top_k(&x, 2, true).unwrap();
    assert_eq!(indices.to_vec::<i32>().unwrap(), vec![1, 3, 0, 1]);
    let w = t(&[10.0, 20.0, 30.0, 40.0], &[2, 2]);
    let g = tape
        .gradient_with(&values, &[&x], Some(&w), UnconnectedGradients::None)
        .unwrap();
    // Ties: the lower index comes first, as TensorFlow.
    assert_eq!(
        vals(g[0].as_ref().unwrap()),
        vec![0.0, 10.0, 0.0, 20.0, 30.0, 40.0, 0.0, 0.0]
    );
}

#[test]
fn sort_gradient_follows_the_permutation() {
    let x = t(&[3.0, 1.0, 2.0, 0.0, 5.0, 4.0], &[3, 2]);
    let w = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    // Column 0 is [3, 2, 5] -> descending [5, 3, 2]; column 1 [1, 0, 4] -> [4, 1, 0].
    let g = grad(
        |x| ops::sort(x, 0, SortDirection::Descending).unwrap(),
        &x,
        &w,
    );
    assert_eq!(g, vec![3.0, 4.0, 5.0, 6.0, 1.0, 2.0]);
    let g = grad(
        |x| ops::sort(x, -1, SortDirection::Ascending).unwrap(),
        &x,
        &w,
    );
    assert_eq!(g, vec![2.0, 1.0, 4.0, 3.0, 6.0, 5.0]);
}

#[test]
fn argsort_is_not_differentiable() {
    ensure_builtin_gradients();
    assert!(matches!(
        gradient_of(&ops::ARG_SORT),
        Differentiability::NotDifferentiable
    ));
}

#[test]
fn reductions_of_views_match_their_contiguous_copies() {
    let base = t(&[0.5, -1.5, 2.0, 1.25, -0.75, 3.0], &[2, 3]);
    let view = ops::transpose(&base, None).unwrap();
    let copy = t(&vals(&view), &[3, 2]);
    let w = t(&[1.0, -2.0, 0.5], &[3]);
    let ops_list: Vec<(&str, Box<dyn Fn(&Tensor) -> Tensor>)> = vec![
        (
            "prod",
            Box::new(|x| ops::reduce_prod(x, Some(&[1]), false).unwrap()),
        ),
        (
            "max",
            Box::new(|x| ops::reduce_max(x, Some(&[1]), false).unwrap()),
        ),
        (
            "logsumexp",
            Box::new(|x| ops::reduce_logsumexp(x, Some(&[1]), false).unwrap()),
        ),
        (
            "moments",
            Box::new(|x| ops::moments(x, Some(&[1]), false).unwrap().1),
        ),
    ];
    for (name, op) in &ops_list {
        let (a, b) = (grad(op, &view, &w), grad(op, &copy, &w));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-14, "{name}: view {a:?} vs copy {b:?}");
        }
    }
}

#[test]
fn second_derivative_of_the_variance() {
    // var = mean((x - mean)²) over n elements: d²var/dx_i dx_j = 2/n (δij - 1/n), so
    // H v = 2/n (v - mean(v)).
    let x = t(&[0.3, -1.2, 2.0, 0.7], &[1, 4]);
    let v = t(&[1.0, 0.5, -2.0, 0.25], &[1, 4]);
    let outer = GradientTape::new();
    outer.watch(&x);
    let inner = GradientTape::new();
    inner.watch(&x);
    let (_, var) = ops::moments(&x, Some(&[1]), true).unwrap();
    let g = inner
        .gradient_with(
            &var,
            &[&x],
            Some(&t(&[1.0], &[1, 1])),
            UnconnectedGradients::None,
        )
        .unwrap()
        .remove(0)
        .unwrap();
    let gv = ops::reduce_sum(&ops::mul(&g, &v).unwrap(), None, false).unwrap();
    let hv = vals(&outer.gradient(&gv, &[&x]).unwrap().remove(0).unwrap());
    let vv = vals(&v);
    let mv = vv.iter().sum::<f64>() / 4.0;
    for i in 0..4 {
        let want = 0.5 * (vv[i] - mv);
        assert!(
            (hv[i] - want).abs() < 1e-14,
            "Hv[{i}] = {}, want {want}",
            hv[i]
        );
    }
}

#[test]
fn second_derivatives_of_reductions() {
    // H v of x -> <op(x), w> against a central difference of the gradient.
    let x = t(&[0.3, -1.2, 2.0, 0.7, 1.1, -0.4], &[2, 3]);
    let v = t(&[1.0, 0.5, -2.0, 0.25, -0.75, 1.5], &[2, 3]);
    let w = t(&[0.5, -1.5], &[2]);
    let cases: Vec<(&str, Box<dyn Fn(&Tensor) -> Tensor>)> = vec![
        (
            "logsumexp",
            Box::new(|x| ops::reduce_logsumexp(x, Some(&[1]), false).unwrap()),
        ),
        (
            "prod",
            Box::new(|x| ops::reduce_prod(x, Some(&[1]), false).unwrap()),
        ),
        (
            "variance",
            Box::new(|x| ops::moments(x, Some(&[1]), false).unwrap().1),
        ),
        (
            "mean of squares",
            Box::new(|x| {
                ops::moments(&ops::mul(x, x).unwrap(), Some(&[1]), false)
                    .unwrap()
                    .0
            }),
        ),
        (
            "max of squares",
            Box::new(|x| ops::reduce_max(&ops::mul(x, x).unwrap(), Some(&[1]), false).unwrap()),
        ),
    ];
    for (name, op) in &cases {
        let outer = GradientTape::new();
        outer.watch(&x);
        let inner = GradientTape::new();
        inner.watch(&x);
        let y = op(&x);
        let g = inner
            .gradient_with(&y, &[&x], Some(&w), UnconnectedGradients::None)
            .unwrap()
            .remove(0)
            .unwrap();
        let gv = ops::reduce_sum(&ops::mul(&g, &v).unwrap(), None, false).unwrap();
        let hv = vals(&outer.gradient(&gv, &[&x]).unwrap().remove(0).unwrap());
        let h = 1e-5;
        let at = |s: f64| {
            let xs: Vec<f64> = vals(&x)
                .iter()
                .zip(vals(&v))
                .map(|(a, b)| a + s * b)
                .collect();
            grad(op, &t(&xs, &[2, 3]), &w)
        };
        let (gp, gm) = (at(h), at(-h));
        for i in 0..6 {
            let fd = (gp[i] - gm[i]) / (2.0 * h);
            assert!(
                (hv[i] - fd).abs() < 1e-6,
                "{name}: Hv[{i}] = {}, finite difference {fd}",
                hv[i]
            );
        }
    }
}
