//! Array-op gradients beyond the finite-difference check: StopGradient gives `None`;
//! gradients through views of non-contiguous inputs; TensorFlow's values at ties and
//! zeros of the segment reductions; second derivatives through nested tapes (which
//! run the gradients of the gradient ops: UnsortedSegmentSum, StridedSliceGrad,
//! MirrorPadGrad); clear errors when a needed shape is unknown.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use tf_autodiff::{GradContext, GradientTape, UnconnectedGradients, gradient_of};
use tf_core::op::Attrs;
use tf_core::ops::{self, SliceMasks};
use tf_core::{DType, PartialShape, Tensor};

fn vals(t: &Option<Tensor>) -> Vec<f64> {
    t.as_ref().expect("a gradient").to_vec::<f64>().unwrap()
}

/// `reduce_sum(t * w)` for fixed weights `w` of `t`'s shape.
fn weighted_sum(t: &Tensor, w: &[f64]) -> Tensor {
    let w = Tensor::from_vec(w.to_vec(), t.dims().to_vec()).unwrap();
    ops::reduce_sum(&ops::mul(t, &w).unwrap(), None, false).unwrap()
}

fn sum(t: &Tensor) -> Tensor {
    ops::reduce_sum(t, None, false).unwrap()
}

fn assert_all_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

// ------------------------------------------------------------------ StopGradient

#[test]
fn stop_gradient_blocks_the_tape() {
    let x = Tensor::vector(&[1.0f64, -2.0, 3.0]);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let s = tf_autodiff::stop_gradient(&x).unwrap();
    assert_eq!(s.to_vec::<f64>().unwrap(), vec![1.0, -2.0, 3.0]);
    // Only through stop_gradient: no gradient at all.
    let g = tape.gradient(&sum(&s), &[&x]).unwrap();
    assert!(g[0].is_none(), "a gradient flowed through stop_gradient");
    let g = tape
        .gradient_with(&sum(&s), &[&x], None, UnconnectedGradients::Zero)
        .unwrap();
    assert_eq!(vals(&g[0]), vec![0.0; 3]);
    // d/dx sum(stop_gradient(x) * x) = stop_gradient(x), not 2x.
    let y = sum(&ops::mul(&s, &x).unwrap());
    assert_eq!(
        vals(&tape.gradient(&y, &[&x]).unwrap()[0]),
        vec![1.0, -2.0, 3.0]
    );
}

// ------------------------------------------------------------------ views

/// A [3, 4] matrix stored transposed (a non-contiguous view) with values `v[i][j] =
/// 10 i + j`.
fn transposed_input() -> Tensor {
    let base: Vec<f64> = (0..12).map(|k| (10 * (k % 3) + k / 3) as f64).collect();
    let t = ops::transpose(&Tensor::from_vec(base, [4, 3]).unwrap(), None).unwrap();
    assert_eq!(t.dims(), &[3, 4]);
    assert!(!t.is_contiguous(), "the test needs a non-contiguous input");
    t
}

#[test]
fn gradients_flow_through_views_of_non_contiguous_inputs() {
    let x = transposed_input();
    let w: Vec<f64> = (0..12).map(|k| 0.5 + k as f64).collect();

    // Strided slice x[::-2, 1:] of the transposed input.
    let tape = GradientTape::new();
    tape.watch(&x);
    let m = SliceMasks {
        begin_mask: 0b1,
        end_mask: 0b11,
        ..Default::default()
    };
    let y = ops::strided_slice(&x, &[0, 1], &[0, 0], &[-2, 1], m).unwrap();
    assert_eq!(y.dims(), &[2, 3]);
    let g = tape.gradient(&weighted_sum(&y, &w[..6]), &[&x]).unwrap();
    // Row 2 of x is y's row 0, row 0 is y's row 1; column 0 gets nothing.
    let mut want = vec![0.0; 12];
    for (r, xr) in [2usize, 0].into_iter().enumerate() {
        for c in 0..3 {
            want[xr * 4 + 1 + c] = w[r * 3 + c];
        }
    }
    assert_eq!(vals(&g[0]), want, "strided slice");

    // Transpose, reshape, slice and expand_dims chained on the view.
    let tape = GradientTape::new();
    tape.watch(&x);
    let t = ops::transpose(&x, None).unwrap(); // [4, 3]
    let s = ops::slice(&t, &[1, 0], &[2, -1]).unwrap(); // rows 1..3 of t
    let e = ops::expand_dims(&s, 0).unwrap(); // [1, 2, 3]
    let g = tape.gradient(&weighted_sum(&e, &w[..6]), &[&x]).unwrap();
    let mut want = vec![0.0; 12];
    for tr in 0..2 {
        for tc in 0..3 {
            // t[1 + tr][tc] = x[tc][1 + tr].
            want[tc * 4 + 1 + tr] = w[tr * 3 + tc];
        }
    }
    assert_eq!(vals(&g[0]), want, "transpose/slice/expand_dims");

    // Gather along axis 1 (repeated index) and tile of the view.
    let tape = GradientTape::new();
    tape.watch(&x);
    let idx = Tensor::vector(&[3i32, 0, 3]);
    let gth = ops::gather(&x, &idx, 1, 0).unwrap(); // [3, 3]
    let tl = ops::tile(&x, &[1, 2]).unwrap(); // [3, 8]
    let y = ops::add(&weighted_sum(&gth, &w[..9]), &sum(&tl)).unwrap();
    let g = tape.gradient(&y, &[&x]).unwrap();
    let mut want = vec![2.0; 12]; // each element appears twice in the tile
    for r in 0..3 {
        for (j, &c) in [3usize, 0, 3].iter().enumerate() {
            want[r * 4 + c] += w[r * 3 + j];
        }
    }
    assert_eq!(vals(&g[0]), want, "gather/tile");

    // A broadcast (stride-0) view as the source, padded and reversed.
    let b = ops::broadcast_to(&Tensor::vector(&[1.0f64, 2.0]), &[3, 2]).unwrap();
    let tape = GradientTape::new();
    tape.watch(&b);
    let p = ops::pad(&ops::reverse(&b, &[1]).unwrap(), &[[1, 0], [0, 2]]).unwrap();
    assert_eq!(p.dims(), &[4, 4]);
    let wp: Vec<f64> = (0..16).map(|k| 1.0 + k as f64).collect();
    let g = tape.gradient(&weighted_sum(&p, &wp), &[&b]).unwrap();
    let mut want = vec![0.0; 6];
    for r in 0..3 {
        for c in 0..2 {
            // b[r][c] lands at p[r + 1][1 - c].
            want[r * 2 + c] = wp[(r + 1) * 4 + (1 - c)];
        }
    }
    assert_eq!(vals(&g[0]), want, "pad/reverse of a broadcast view");
}

// ------------------------------------------------------------------ TF's values

#[test]
fn segment_max_and_min_split_ties_equally() {
    let x = Tensor::vector(&[3.0f64, 3.0, 1.0, 5.0, -1.0]);
    let ids = Tensor::vector(&[0i32, 0, 0, 1, -1]);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let mx = ops::unsorted_segment_max(&x, &ids, 3).unwrap();
    let g = tape
        .gradient(&weighted_sum(&mx, &[2.0, 7.0, 5.0]), &[&x])
        .unwrap();
    // Segment 0's two maxima share its gradient; the dropped id gets nothing.
    assert_eq!(vals(&g[0]), vec![1.0, 1.0, 0.0, 7.0, 0.0]);
    let y = Tensor::vector(&[1.0f64, 2.0, 1.0, 4.0, 0.0]);
    tape.watch(&y);
    let mn = ops::unsorted_segment_min(&y, &ids, 2).unwrap();
    let g = tape
        .gradient(&weighted_sum(&mn, &[3.0, 1.0]), &[&y])
        .unwrap();
    assert_eq!(vals(&g[0]), vec![1.5, 0.0, 1.5, 1.0, 0.0]);
}

#[test]
fn segment_prod_gradient_at_zeros() {
    // Segment 0: one zero; segment 1: two zeros; segment 2: none.
    let x = Tensor::vector(&[0.0f64, 2.0, 3.0, 0.0, 0.0, 5.0, 4.0, -2.0]);
    let ids = Tensor::vector(&[0i64, 0, 0, 1, 1, 1, 2, 2]);
    let tape = GradientTape::new();
    tape.watch(&x);
    let p = ops::unsorted_segment_prod(&x, &ids, 3).unwrap();
    let g = tape.gradient(&sum(&p), &[&x]).unwrap();
    assert_eq!(vals(&g[0]), vec![6.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.0, 4.0]);
}

#[test]
fn gather_negative_segment_ids_and_unconnected_split_outputs() {
    // UnsortedSegmentSum drops negative ids: their rows get zero gradient.
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).unwrap();
    let tape = GradientTape::new();
    tape.watch(&x);
    let s = ops::unsorted_segment_sum(&x, &Tensor::vector(&[1i32, -1, 0]), 2).unwrap();
    let g = tape
        .gradient(&weighted_sum(&s, &[1.0, 2.0, 3.0, 4.0]), &[&x])
        .unwrap();
    assert_eq!(vals(&g[0]), vec![3.0, 4.0, 0.0, 0.0, 1.0, 2.0]);

    // Only one of Split's outputs is used: the others contribute zeros.
    let tape = GradientTape::new();
    tape.watch(&x);
    let parts = ops::split(&x, 3, 0).unwrap();
    let g = tape
        .gradient(&weighted_sum(&parts[1], &[5.0, 6.0]), &[&x])
        .unwrap();
    assert_eq!(vals(&g[0]), vec![0.0, 0.0, 5.0, 6.0, 0.0, 0.0]);
}

// ------------------------------------------------------------------ second order

/// d/dx of `sum(dy/dx)` and the Hessian-vector product `d/dx sum(dy/dx · v)` for
/// `y = f(x)`, through nested tapes.
fn second_order(x: &Tensor, v: &[f64], f: impl Fn(&Tensor) -> Tensor) -> (Vec<f64>, Vec<f64>) {
    let outer = GradientTape::persistent();
    outer.watch(x);
    let inner = GradientTape::new();
    inner.watch(x);
    let y = f(x);
    let dy = inner.gradient(&y, &[x]).unwrap().remove(0).unwrap();
    let d2 = outer.gradient(&sum(&dy), &[x]).unwrap();
    let hv = outer.gradient(&weighted_sum(&dy, v), &[x]).unwrap();
    (vals(&d2[0]), vals(&hv[0]))
}

#[test]
fn second_derivatives_through_gather_strided_slice_and_mirror_pad() {
    let xv = vec![0.5f64, -1.5, 2.0, 1.0, -0.25];
    let x = Tensor::vector(&xv);
    let v = [1.0, -2.0, 0.5, 3.0, 1.5];
    let sq = |t: &Tensor| ops::mul(t, t).unwrap();

    // y = Σ gather(x, idx)²: dy/dx_j = 2 c_j x_j (c_j = times j is gathered), so
    // d²y/dx_j² = 2 c_j and the Hessian is diagonal. The gradient of the gradient runs
    // through UnsortedSegmentSum's gradient.
    let idx = Tensor::vector(&[4i32, 0, 4, 2, 4]);
    let c = [1.0, 0.0, 1.0, 0.0, 3.0];
    let (d2, hv) = second_order(&x, &v, |x| sum(&sq(&ops::gather(x, &idx, 0, 0).unwrap())));
    assert_all_close(&d2, &c.map(|c| 2.0 * c), "gather d2");
    let want: Vec<f64> = c.iter().zip(&v).map(|(c, v)| 2.0 * c * v).collect();
    assert_all_close(&hv, &want, "gather Hv");

    // y = Σ x[::-2]³: d²y/dx² = 6x on the selected elements (0, 2, 4). Runs
    // StridedSliceGrad's gradient.
    let m = SliceMasks {
        begin_mask: 1,
        end_mask: 1,
        ..Default::default()
    };
    let (d2, hv) = second_order(&x, &v, |x| {
        let s = ops::strided_slice(x, &[0], &[0], &[-2], m).unwrap();
        sum(&ops::mul(&sq(&s), &s).unwrap())
    });
    let sel = [1.0, 0.0, 1.0, 0.0, 1.0];
    let want: Vec<f64> = xv.iter().zip(&sel).map(|(x, s)| 6.0 * x * s).collect();
    assert_all_close(&d2, &want, "strided slice d2");
    let want: Vec<f64> = want.iter().zip(&v).map(|(h, v)| h * v).collect();
    assert_all_close(&hv, &want, "strided slice Hv");

    // y = Σ mirror_pad(x, [2, 1], REFLECT)²: padded = [x2, x1, x0..x4, x3], so
    // element j appears c_j times and d²y/dx_j² = 2 c_j. Runs MirrorPadGrad's
    // gradient.
    let (d2, hv) = second_order(&x, &v, |x| {
        sum(&sq(&ops::mirror_pad(x, &[[2, 1]], "REFLECT").unwrap()))
    });
    let c = [1.0, 2.0, 2.0, 2.0, 1.0];
    assert_all_close(&d2, &c.map(|c| 2.0 * c), "mirror pad d2");
    let want: Vec<f64> = c.iter().zip(&v).map(|(c, v)| 2.0 * c * v).collect();
    assert_all_close(&hv, &want, "mirror pad Hv");
}

// ------------------------------------------------------------------ unknown shapes

#[test]
fn unknown_shapes_needed_by_a_gradient_are_clear_errors() {
    let sym = |dims: Vec<Option<usize>>| {
        Tensor::symbolic(DType::F32, PartialShape::from(dims), Arc::new(()))
    };
    let params = sym(vec![None, Some(3)]);
    let indices = Tensor::symbolic(
        DType::I32,
        PartialShape::from(vec![Some(2), Some(1)]),
        Arc::new(()),
    );
    let out = sym(vec![Some(2), Some(3)]);
    let grads = [Some(out.clone())];
    let attrs = Attrs::new();
    let ctx = GradContext {
        op: &ops::GATHER_ND,
        inputs: &[params, indices],
        outputs: std::slice::from_ref(&out),
        attrs: &attrs,
        grads: &grads,
        skip_input_indices: &[],
    };
    let tf_autodiff::Differentiability::Gradient(f) = gradient_of(&ops::GATHER_ND) else {
        panic!("GatherNd has no gradient");
    };
    let e = f(&ctx).map(|_| ()).unwrap_err().to_string();
    assert!(
        e.contains("GatherNd gradient") && e.contains("params must be fully known, got [?,3]"),
        "{e}"
    );
}
