//! Convolution and pooling gradients beyond first-order finite differences: second
//! derivatives through nested tapes (which run the gradients of the backprop ops),
//! checked against identities that use forward ops only; max-pool ties as TensorFlow's
//! CPU kernel resolves them; gradients of non-contiguous views; and the error for
//! shapes that are not static.

#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use tf_autodiff::{Differentiability, GradContext, GradientTape, gradient_of};
use tf_core::ops::{self, Conv2dOptions, Padding};
use tf_core::{DType, PartialShape, Result, Tensor};

fn random(r: &mut StdRng, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|_| r.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

/// `Σ a·b` as a scalar tensor (recorded by the tapes).
fn inner(a: &Tensor, b: &Tensor) -> Tensor {
    ops::reduce_sum(&ops::mul(a, b).unwrap(), None, false).unwrap()
}

/// `Σ a·b` as a number.
fn dot(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    inner(a, b).scalar::<f64>().unwrap()
}

/// `½ y²` elementwise: a non-scalar target, whose gradient is that of `½|y|²`. The
/// inner tapes' targets avoid `Sum` so the outer tapes need no gradient of the
/// `BroadcastTo` that `Sum`'s gradient runs.
fn half_square(y: &Tensor) -> Tensor {
    ops::mul(&ops::mul(y, y).unwrap(), &Tensor::from_scalar(0.5f64)).unwrap()
}

fn grad(tape: &GradientTape, target: &Tensor, source: &Tensor) -> Tensor {
    tape.gradient(target, &[source]).unwrap().remove(0).unwrap()
}

fn assert_near(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs())),
        "{what}: {a} vs {b}"
    );
}

type Bilinear = fn(&Tensor, &Tensor, &Conv2dOptions) -> Result<Tensor>;

/// Second derivatives of a bilinear convolution `C(x, w)`, each compared through an
/// inner product with a random direction against forward convolutions only:
/// * `∂²/∂x² ½|C(x, w)|²` applied to `u` is `Cᵀ C u`: `<H u, v> = <C(u, w), C(v, w)>`
///   (the gradient of the backprop-input op with respect to `out_backprop`);
/// * `∂/∂w <∂/∂x <C(x, w), dy>, u>` is `<C(u, v), dy>` along `v` (its gradient with
///   respect to the filter);
/// * `∂/∂x <∂/∂w ½|C(x, w)|², u>` is `<C(v, w), C(x, u)> + <C(x, w), C(v, u)>` along
///   `v` (the backprop-filter op's gradients).
fn check_second_order(conv: Bilinear, xd: &[usize], fd: &[usize], opts: &Conv2dOptions) {
    let mut r = StdRng::seed_from_u64(7);
    let x = random(&mut r, xd);
    let w = random(&mut r, fd);
    let y = conv(&x, &w, opts).unwrap();
    let c = |a: &Tensor, b: &Tensor| conv(a, b, opts).unwrap();
    let (u, v) = (random(&mut r, xd), random(&mut r, xd));
    let (uw, vw) = (random(&mut r, fd), random(&mut r, fd));
    let dy = random(&mut r, y.dims());
    let what = format!("{xd:?} {fd:?} {opts:?}");

    // Hessian-vector product in x.
    let outer = GradientTape::new();
    outer.watch(&x);
    let t = GradientTape::new();
    t.watch(&x);
    let gx = grad(&t, &half_square(&c(&x, &w)), &x);
    assert_near(
        dot(&gx, &v),
        dot(&y, &c(&v, &w)),
        &format!("{what}: gradient"),
    );
    let h = grad(&outer, &inner(&gx, &u), &x);
    assert_near(
        dot(&h, &v),
        dot(&c(&u, &w), &c(&v, &w)),
        &format!("{what}: d2/dx2"),
    );

    // Mixed: the input gradient differentiated by the filter.
    let outer = GradientTape::new();
    outer.watch(&w);
    let t = GradientTape::new();
    t.watch(&x);
    let gx = grad(&t, &ops::mul(&c(&x, &w), &dy).unwrap(), &x);
    let h = grad(&outer, &inner(&gx, &u), &w);
    assert_near(
        dot(&h, &vw),
        dot(&c(&u, &vw), &dy),
        &format!("{what}: d2/dwdx"),
    );

    // The filter gradient differentiated by the input.
    let outer = GradientTape::new();
    outer.watch(&x);
    let t = GradientTape::new();
    t.watch(&w);
    let gw = grad(&t, &half_square(&c(&x, &w)), &w);
    let h = grad(&outer, &inner(&gw, &uw), &x);
    let expected = dot(&c(&v, &w), &c(&x, &uw)) + dot(&c(&x, &w), &c(&v, &uw));
    assert_near(dot(&h, &v), expected, &format!("{what}: d2/dxdw"));
}

#[test]
fn conv2d_second_derivatives() {
    check_second_order(
        ops::conv2d,
        &[2, 6, 5, 3],
        &[3, 3, 3, 4],
        &Conv2dOptions::same().strides(&[2, 1]),
    );
    check_second_order(
        ops::conv2d,
        &[1, 7, 7, 2],
        &[2, 3, 2, 3],
        &Conv2dOptions::new(Padding::Explicit([[1, 0], [2, 1]])).dilations(&[2]),
    );
}

#[test]
fn depthwise_conv2d_second_derivatives() {
    check_second_order(
        ops::depthwise_conv2d,
        &[2, 6, 5, 3],
        &[3, 3, 3, 2],
        &Conv2dOptions::same().strides(&[2]),
    );
    check_second_order(
        ops::depthwise_conv2d,
        &[1, 6, 7, 2],
        &[2, 2, 2, 1],
        &Conv2dOptions::valid().dilations(&[1, 2]),
    );
}

/// Well-separated random values (distinct by far more than a finite-difference step).
fn separated(r: &mut StdRng, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.1).collect();
    for i in (1..n).rev() {
        v.swap(i, r.random_range(0..=i));
    }
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

/// The directional derivative of the linear-near-`x` map `f` along `v` (exact for
/// pools: the argmax does not move for this step).
fn along(f: impl Fn(&Tensor) -> Tensor, x: &Tensor, v: &Tensor) -> Tensor {
    let eps = 1e-4;
    let xe = ops::add(x, &ops::mul(v, &Tensor::from_scalar(eps)).unwrap()).unwrap();
    ops::mul(
        &ops::sub(&f(&xe), &f(x)).unwrap(),
        &Tensor::from_scalar(1.0 / eps),
    )
    .unwrap()
}

#[test]
fn pool_second_derivatives() {
    let mut r = StdRng::seed_from_u64(8);
    let dims = [2, 5, 6, 3];
    let x = separated(&mut r, &dims);
    let (u, v) = (random(&mut r, &dims), random(&mut r, &dims));
    for (k, s, pad) in [
        ([2, 2], [2, 2], Padding::Valid),
        ([3, 2], [1, 2], Padding::Same),
    ] {
        for max in [true, false] {
            let pool = |t: &Tensor| {
                if max {
                    ops::max_pool2d(t, &k, &s, pad).unwrap()
                } else {
                    ops::avg_pool2d(t, &k, &s, pad).unwrap()
                }
            };
            // ½|P(x)|²: Hessian PᵀP (for max pooling at fixed argmax), so
            // <H u, v> = <P'u, P'v> with P' the pool's derivative at x.
            let outer = GradientTape::new();
            outer.watch(&x);
            let t = GradientTape::new();
            t.watch(&x);
            let g = grad(&t, &half_square(&pool(&x)), &x);
            let h = grad(&outer, &inner(&g, &u), &x);
            let (pu, pv) = (along(pool, &x, &u), along(pool, &x, &v));
            let (a, b) = (dot(&h, &v), dot(&pu, &pv));
            assert!(
                (a - b).abs() <= 1e-6 * (1.0 + a.abs()),
                "max {max} k{k:?} s{s:?} {pad}: {a} vs {b}"
            );
        }
        // MaxPoolGradGrad's gradient (third order of max pooling) is MaxPoolGrad:
        // d/du <MaxPoolGradGrad(x, y, u), w> = MaxPoolGrad(x, y, w).
        let y = ops::max_pool2d(&x, &k, &s, pad).unwrap();
        let w = random(&mut r, y.dims());
        let t = GradientTape::new();
        t.watch(&u);
        let gg = ops::max_pool_grad_grad(&x, &y, &u, &k, &s, pad).unwrap();
        let h = grad(&t, &inner(&gg, &w), &u);
        let pool = |t: &Tensor| ops::max_pool2d(t, &k, &s, pad).unwrap();
        let (a, b) = (dot(&h, &v), dot(&w, &along(pool, &x, &v)));
        assert!(
            (a - b).abs() <= 1e-6 * (1.0 + a.abs()),
            "MaxPoolGradGrad: {a} vs {b}"
        );
    }
}

#[test]
fn max_pool_ties_go_to_the_first_maximum() {
    // TensorFlow's CPU kernel: the first maximum in row-major window order.
    let x = Tensor::from_vec(vec![1.0f64, 3.0, 3.0, 2.0, 0.0, 3.0], [1, 2, 3, 1]).unwrap();
    let t = GradientTape::new();
    t.watch(&x);
    let y = ops::max_pool2d(&x, &[2], &[1], Padding::Valid).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![3.0, 3.0]);
    let g = grad(&t, &ops::reduce_sum(&y, None, false).unwrap(), &x);
    // Window 0 covers (0,0),(0,1),(1,0),(1,1): first 3 at (0,1). Window 1 covers
    // (0,1),(0,2),(1,1),(1,2): first 3 at (0,1) again.
    assert_eq!(
        g.to_vec::<f64>().unwrap(),
        vec![0.0, 2.0, 0.0, 0.0, 0.0, 0.0]
    );
    // Average pooling with SAME padding divides by the valid count only.
    let x = Tensor::ones([1, 2, 2, 1], DType::F64).unwrap();
    let t = GradientTape::new();
    t.watch(&x);
    let y = ops::avg_pool2d(&x, &[2], &[1], Padding::Same).unwrap();
    let g = grad(&t, &ops::reduce_sum(&y, None, false).unwrap(), &x);
    // Windows hold 4, 2, 2, 1 pixels: pixel (0,0) gets 1/4, (0,1) 1/4 + 1/2, ...
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![0.25, 0.75, 0.75, 2.25]);
}

#[test]
fn gradients_of_non_contiguous_views() {
    let mut r = StdRng::seed_from_u64(9);
    let base = random(&mut r, &[2, 5, 6, 3]);
    // [2, 6, 5, 3] view with the spatial axes swapped.
    let xv = ops::transpose(&base, Some(&[0, 2, 1, 3])).unwrap();
    let xc = Tensor::from_vec(xv.to_vec::<f64>().unwrap(), xv.dims().to_vec()).unwrap();
    assert!(!xv.is_contiguous() && xc.is_contiguous());
    let w = random(&mut r, &[3, 2, 3, 4]);
    let opts = Conv2dOptions::same().strides(&[2]);
    let grads = |x: &Tensor| {
        let t = GradientTape::persistent();
        t.watch(x);
        t.watch(&w);
        let y = ops::conv2d(x, &w, &opts).unwrap();
        let p = ops::max_pool2d(&y, &[2], &[1], Padding::Same).unwrap();
        let a = ops::avg_pool2d(&p, &[2], &[2], Padding::Valid).unwrap();
        let l = inner(&a, &a);
        let g = t.gradient(&l, &[x, &w]).unwrap();
        (
            g[0].as_ref().unwrap().to_vec::<f64>().unwrap(),
            g[1].as_ref().unwrap().to_vec::<f64>().unwrap(),
        )
    };
    let (gv, gc) = (grads(&xv), grads(&xc));
    for (a, b) in gv.0.iter().zip(&gc.0).chain(gv.1.iter().zip(&gc.1)) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn unknown_shapes_are_an_error_naming_the_op() {
    let Differentiability::Gradient(f) = gradient_of(&ops::CONV2D) else {
        panic!("Conv2D has a gradient");
    };
    let sym =
        |d: &[Option<usize>]| Tensor::symbolic(DType::F32, PartialShape::new(d), Arc::new(()));
    let x = sym(&[None, Some(8), Some(8), Some(3)]);
    let w = sym(&[Some(3), Some(3), Some(3), Some(4)]);
    let y = sym(&[None, Some(8), Some(8), Some(4)]);
    let attrs = tf_core::op::Attrs::new()
        .with("strides", vec![1i64, 1, 1, 1])
        .with("padding", "SAME");
    let e = f(&GradContext {
        op: &ops::CONV2D,
        inputs: &[x, w],
        outputs: std::slice::from_ref(&y),
        attrs: &attrs,
        grads: &[Some(y.clone())],
        skip_input_indices: &[],
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with("Conv2D:")
            && e.contains("static shape of the input")
            && e.contains("[?,8,8,3]"),
        "{e}"
    );
}
