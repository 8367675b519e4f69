//! GradientTape semantics (SPECS §5), one test each.

#![allow(clippy::unwrap_used)]

use tf_autodiff::{GradientTape, Source, UnconnectedGradients, custom_gradient};
use tf_core::{DType, Tensor, Variable, ops};

fn s(v: f64) -> Tensor {
    Tensor::from_scalar(v)
}

fn val(t: &Option<Tensor>) -> f64 {
    t.as_ref().expect("a gradient").scalar::<f64>().unwrap()
}

#[test]
fn watched_tensor_gets_a_gradient() {
    let x = s(3.0);
    let tape = GradientTape::new();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    let g = tape.gradient(&y, &[&x]).unwrap();
    assert_eq!(val(&g[0]), 6.0);
}

#[test]
fn unwatched_tensors_are_not_recorded() {
    let x = s(3.0);
    let tape = GradientTape::new();
    let y = ops::mul(&x, &x).unwrap();
    assert_eq!(tape.num_recorded(), 0);
    assert!(tape.gradient(&y, &[&x]).unwrap()[0].is_none());
}

#[test]
fn trainable_variables_read_are_watched_automatically() {
    let v = Variable::builder(s(2.0)).name("w").build().unwrap();
    let frozen = Variable::builder(s(5.0)).trainable(false).build().unwrap();
    let tape = GradientTape::new();
    let y = ops::mul(&v.read().unwrap(), &frozen.read().unwrap()).unwrap();
    let watched = tape.watched_variables();
    assert_eq!(watched.len(), 1);
    assert!(watched[0].same_as(&v));
    let g = tape
        .gradient(&y, &[Source::from(&v), Source::from(&frozen)])
        .unwrap();
    assert_eq!(val(&g[0]), 5.0);
    assert!(g[1].is_none());
}

#[test]
fn watch_accessed_variables_false_watches_only_explicitly() {
    let v = Variable::new(s(2.0)).unwrap();
    let u = Variable::new(s(3.0)).unwrap();
    let tape = GradientTape::builder()
        .watch_accessed_variables(false)
        .build();
    tape.watch_variable(&u);
    let y = ops::mul(&v.read().unwrap(), &u.read().unwrap()).unwrap();
    let g = tape.gradient(&y, &[&v, &u]).unwrap();
    assert!(g[0].is_none());
    assert_eq!(val(&g[1]), 2.0);
}

#[test]
fn variable_read_twice_sums_both_uses() {
    let v = Variable::new(s(3.0)).unwrap();
    let tape = GradientTape::new();
    let a = v.read().unwrap();
    let b = v.read().unwrap();
    let y = ops::add(&ops::mul(&a, &a).unwrap(), &b).unwrap(); // v^2 + v
    assert_eq!(val(&tape.gradient(&y, &[&v]).unwrap()[0]), 7.0);
}

#[test]
fn unconnected_sources_are_none_or_zero() {
    let x = s(1.0);
    let z = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
    let tape = GradientTape::persistent();
    tape.watch(&x);
    tape.watch(&z);
    let y = ops::mul(&x, &x).unwrap();
    assert!(tape.gradient(&y, &[&z]).unwrap()[0].is_none());
    let g = tape
        .gradient_with(&y, &[&z], None, UnconnectedGradients::Zero)
        .unwrap();
    let g = g[0].as_ref().unwrap();
    assert_eq!(g.dims(), &[2]);
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![0.0, 0.0]);
}

#[test]
fn second_gradient_on_a_non_persistent_tape_is_an_error() {
    let x = s(2.0);
    let tape = GradientTape::new();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    tape.gradient(&y, &[&x]).unwrap();
    let e = tape.gradient(&y, &[&x]).unwrap_err().to_string();
    assert!(
        e.contains("non-persistent GradientTape can only be used to compute one set of gradients"),
        "{e}"
    );
}

#[test]
fn persistent_tape_allows_several_gradients() {
    let x = s(2.0);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    let z = ops::mul(&y, &x).unwrap();
    assert_eq!(val(&tape.gradient(&y, &[&x]).unwrap()[0]), 4.0);
    assert_eq!(val(&tape.gradient(&z, &[&x]).unwrap()[0]), 12.0);
}

#[test]
fn integer_sources_give_none() {
    let i = Tensor::from_scalar(3i32);
    let x = s(1.0);
    let tape = GradientTape::new();
    tape.watch(&i);
    tape.watch(&x);
    let y = ops::mul(&x, &ops::cast(&i, DType::F64).unwrap()).unwrap();
    let g = tape.gradient(&y, &[&i, &x]).unwrap();
    assert!(g[0].is_none());
    assert_eq!(val(&g[1]), 3.0);
}

#[test]
fn non_scalar_targets_sum_and_output_gradients_weight() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3]).unwrap();
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    let g = tape.gradient(&y, &[&x]).unwrap();
    assert_eq!(
        g[0].as_ref().unwrap().to_vec::<f64>().unwrap(),
        vec![2.0, 4.0, 6.0]
    );
    let w = Tensor::from_vec(vec![1.0f64, 0.0, -1.0], [3]).unwrap();
    let g = tape
        .gradient_with(&y, &[&x], Some(&w), UnconnectedGradients::None)
        .unwrap();
    assert_eq!(
        g[0].as_ref().unwrap().to_vec::<f64>().unwrap(),
        vec![2.0, 0.0, -6.0]
    );
    let bad = Tensor::from_vec(vec![1.0f64, 0.0], [2]).unwrap();
    let e = tape
        .gradient_with(&y, &[&x], Some(&bad), UnconnectedGradients::None)
        .unwrap_err();
    assert!(e.to_string().contains("output_gradients"), "{e}");
}

#[test]
fn stop_recording_pauses_only_this_tape() {
    let x = s(2.0);
    let outer = GradientTape::persistent();
    outer.watch(&x);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = tape.stop_recording(|| ops::mul(&x, &x).unwrap());
    assert!(tape.gradient(&y, &[&x]).unwrap()[0].is_none());
    assert_eq!(val(&outer.gradient(&y, &[&x]).unwrap()[0]), 4.0);
    assert!(tape.is_recording());
}

#[test]
fn reset_clears_the_record() {
    let x = s(2.0);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let _y = ops::mul(&x, &x).unwrap();
    tape.reset();
    assert_eq!(tape.num_recorded(), 0);
    tape.watch(&x);
    let z = ops::add(&x, &x).unwrap();
    assert_eq!(val(&tape.gradient(&z, &[&x]).unwrap()[0]), 2.0);
}

#[test]
fn gradient_inside_a_recording_persistent_tape_is_recorded() {
    // SPECS §5: d²(x²)/dx² = 2 with one persistent tape still recording.
    let x = s(5.0);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    let dy = tape.gradient(&y, &[&x]).unwrap().remove(0).unwrap();
    let d2y = tape.gradient(&dy, &[&x]).unwrap();
    assert_eq!(dy.scalar::<f64>().unwrap(), 10.0);
    assert_eq!(val(&d2y[0]), 2.0);
}

#[test]
fn nested_tapes_give_higher_order_derivatives() {
    // x^3: 3x^2, 6x, 6.
    let x = s(2.0);
    let t3 = GradientTape::new();
    t3.watch(&x);
    let t2 = GradientTape::new();
    t2.watch(&x);
    let t1 = GradientTape::new();
    t1.watch(&x);
    let y = ops::mul(&ops::mul(&x, &x).unwrap(), &x).unwrap();
    let d1 = t1.gradient(&y, &[&x]).unwrap().remove(0).unwrap();
    let d2 = t2.gradient(&d1, &[&x]).unwrap().remove(0).unwrap();
    let d3 = t3.gradient(&d2, &[&x]).unwrap();
    assert_eq!(d1.scalar::<f64>().unwrap(), 12.0);
    assert_eq!(d2.scalar::<f64>().unwrap(), 12.0);
    assert_eq!(val(&d3[0]), 6.0);
}

#[test]
fn custom_gradient_replaces_the_recorded_gradient_and_reaches_variables() {
    let x = s(3.0);
    let w = Variable::new(s(2.0)).unwrap();
    let tape = GradientTape::new();
    tape.watch(&x);
    let y = custom_gradient(std::slice::from_ref(&x), |xs| {
        // y = w * x, with a gradient that reports 10x the truth for x and 100 for w.
        let y = ops::mul(&w.read()?, &xs[0])?;
        let grad = |dys: &[Tensor], vars: &[Variable]| {
            assert_eq!(vars.len(), 1);
            let gx = ops::mul(&dys[0], &s(10.0 * 2.0))?;
            Ok((vec![Some(gx)], vec![Some(ops::mul(&dys[0], &s(100.0))?)]))
        };
        Ok((vec![y], grad))
    })
    .unwrap();
    assert_eq!(y[0].scalar::<f64>().unwrap(), 6.0);
    // The forward ops inside were not recorded; only the custom node was.
    assert_eq!(tape.num_recorded(), 1);
    let g = tape
        .gradient(&y[0], &[Source::from(&x), Source::from(&w)])
        .unwrap();
    assert_eq!(val(&g[0]), 20.0);
    assert_eq!(val(&g[1]), 100.0);
}

#[test]
fn broadcasting_gradients_reduce_to_the_input_shape() {
    let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    let b = Tensor::from_vec(vec![10.0f64, 20.0, 30.0], [3]).unwrap();
    let c = Tensor::from_vec(vec![7.0f64, 8.0], [2, 1]).unwrap();
    let tape = GradientTape::new();
    for t in [&a, &b, &c] {
        tape.watch(t);
    }
    let y = ops::mul(&ops::add(&a, &b).unwrap(), &c).unwrap();
    let g = tape.gradient(&y, &[&a, &b, &c]).unwrap();
    assert_eq!(
        g[0].as_ref().unwrap().to_vec::<f64>().unwrap(),
        vec![7.0, 7.0, 7.0, 8.0, 8.0, 8.0]
    );
    assert_eq!(g[1].as_ref().unwrap().dims(), &[3]);
    assert_eq!(
        g[1].as_ref().unwrap().to_vec::<f64>().unwrap(),
        vec![15.0; 3]
    );
    assert_eq!(g[2].as_ref().unwrap().dims(), &[2, 1]);
    assert_eq!(
        g[2].as_ref().unwrap().to_vec::<f64>().unwrap(),
        vec![66.0, 75.0]
    );
}

#[test]
fn jacobians() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap(); // diag(2x)
    let j = tape.jacobian(&y, &x).unwrap().unwrap();
    assert_eq!(j.dims(), &[2, 2]);
    assert_eq!(j.to_vec::<f64>().unwrap(), vec![2.0, 0.0, 0.0, 4.0]);
    // Batch: y[b, i] = x[b, i] * 3, so each example's jacobian is 3·I.
    let xb = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    let tape = GradientTape::new();
    tape.watch(&xb);
    let yb = ops::mul(&xb, &s(3.0)).unwrap();
    let bj = tape.batch_jacobian(&yb, &xb).unwrap().unwrap();
    assert_eq!(bj.dims(), &[2, 2, 2]);
    assert_eq!(
        bj.to_vec::<f64>().unwrap(),
        vec![3.0, 0.0, 0.0, 3.0, 3.0, 0.0, 0.0, 3.0]
    );
}

#[test]
fn gradients_flow_through_views_and_reductions() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    let tape = GradientTape::new();
    tape.watch(&x);
    let r = ops::reshape(&x, &[3, 2]).unwrap();
    let m = ops::reduce_mean(&ops::mul(&r, &r).unwrap(), Some(&[0]), false).unwrap();
    let y = ops::reduce_sum(&m, None, false).unwrap();
    let g = tape.gradient(&y, &[&x]).unwrap();
    let expect: Vec<f64> = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .map(|v| 2.0 * v / 3.0)
        .collect();
    let got = g[0].as_ref().unwrap().to_vec::<f64>().unwrap();
    for (a, b) in got.iter().zip(&expect) {
        assert!((a - b).abs() < 1e-12, "{got:?} vs {expect:?}");
    }
}

#[test]
fn non_differentiable_ops_give_none_not_errors() {
    let x = Tensor::from_vec(vec![1.0f64, 5.0, 3.0], [3]).unwrap();
    let tape = GradientTape::persistent();
    tape.watch(&x);
    // A comparison: the mask depends on x, but no gradient flows through it.
    let mask = ops::cast(&ops::greater(&x, &s(2.0)).unwrap(), DType::F64).unwrap();
    assert!(tape.gradient(&mask, &[&x]).unwrap()[0].is_none());
    // An index-valued op.
    let idx = ops::cast(&ops::argmax(&x, 0).unwrap(), DType::F64).unwrap();
    assert!(tape.gradient(&idx, &[&x]).unwrap()[0].is_none());
    // Mixed: the differentiable path still gets its gradient.
    let y = ops::mul(&x, &mask).unwrap();
    let g = tape.gradient(&y, &[&x]).unwrap();
    assert_eq!(
        g[0].as_ref().unwrap().to_vec::<f64>().unwrap(),
        vec![0.0, 1.0, 1.0]
    );
}

/// Gradients skip inputs that depend on no source (`skip_input_indices`); the
/// gradients that are needed must be unaffected, for either operand alone or both,
/// transposed or not (checked against the closed forms `g·bᵀ` and `aᵀ·g`).
#[test]
fn skipped_inputs_leave_needed_gradients_intact() {
    let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    let b = Tensor::from_vec(vec![0.5f64, -1.0, 2.0, 0.25, -3.0, 1.5], [3, 2]).unwrap();
    let ones = Tensor::ones([2, 2], DType::F64).unwrap();
    let want_a = ops::matmul_transposed(&ones, &b, false, true)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    let want_b = ops::matmul_transposed(&a, &ones, true, false)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    for (watch_a, watch_b) in [(true, false), (false, true), (true, true)] {
        let tape = GradientTape::new();
        if watch_a {
            tape.watch(&a);
        }
        if watch_b {
            tape.watch(&b);
        }
        let y = ops::matmul(&a, &b).unwrap();
        // Ask only for the watched operands: the other one depends on no source, so
        // the MatMul gradient is told to skip it.
        let sources: Vec<&Tensor> = [(watch_a, &a), (watch_b, &b)]
            .into_iter()
            .filter_map(|(w, t)| w.then_some(t))
            .collect();
        let g = tape.gradient(&y, &sources[..]).unwrap();
        let mut g = g.into_iter();
        if watch_a {
            let ga = g.next().flatten().unwrap();
            assert_eq!(ga.to_vec::<f64>().unwrap(), want_a);
        }
        if watch_b {
            let gb = g.next().flatten().unwrap();
            assert_eq!(gb.to_vec::<f64>().unwrap(), want_b);
        }
    }
    // Through a chain: only the second MatMul's left operand depends on `b`.
    let tape = GradientTape::new();
    tape.watch(&b);
    let h = ops::matmul(&a, &b).unwrap();
    let y = ops::reduce_sum(
        &ops::matmul(&h, &ops::transpose(&b, None).unwrap()).unwrap(),
        None,
        false,
    )
    .unwrap();
    let g = tape.gradient(&y, &[&b]).unwrap()[0].clone().unwrap();
    // Checked by central differences.
    let eps = 1e-6;
    let bv = b.to_vec::<f64>().unwrap();
    for (i, gi) in g.to_vec::<f64>().unwrap().into_iter().enumerate() {
        let f = |d: f64| {
            let mut v = bv.clone();
            v[i] += d;
            let bb = Tensor::from_vec(v, [3, 2]).unwrap();
            let h = ops::matmul(&a, &bb).unwrap();
            ops::reduce_sum(
                &ops::matmul(&h, &ops::transpose(&bb, None).unwrap()).unwrap(),
                None,
                false,
            )
            .unwrap()
            .scalar::<f64>()
            .unwrap()
        };
        let fd = (f(eps) - f(-eps)) / (2.0 * eps);
        assert!(
            (fd - gi).abs() < 1e-5 * (1.0 + fd.abs()),
            "{i}: {fd} vs {gi}"
        );
    }
}
