//! The convolution and pooling gradient ops (Conv2DBackpropInput/Filter, their
//! depthwise versions, MaxPoolGrad, MaxPoolGradGrad, AvgPoolGrad) against naive
//! scatter loops over random configurations (strides, dilations, SAME/VALID/EXPLICIT,
//! odd sizes, kernels larger than the input, zero-size dimensions), every dtype,
//! several layouts; the adjoint identities `<conv(x, w), dy> = <x, backprop_input(dy)>
//! = <w, backprop_filter(dy)>`; reproducibility across thread counts; errors and shape
//! inference.

#![allow(clippy::unwrap_used)]

mod common;
mod conv_support;

use common::*;
use conv_support::grads::*;
use conv_support::*;
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef};
use tf_core::ops::{self, Conv2dOptions, Padding};
use tf_core::{DType, PartialShape, Shape, Tensor};

/// A convolution configuration whose forward output size is valid: input dims, kernel
/// size, output channels (or multiplier), window, and the output's spatial size.
type Config = ([usize; 4], [usize; 2], usize, Win, [usize; 2]);

fn conv_configs(r: &mut StdRng, random: usize) -> Vec<Config> {
    let mut raw: Vec<_> = fixed_configs();
    for _ in 0..random {
        let (x, k, win) = random_config(r);
        raw.push((x, k, r.random_range(1..5), win));
    }
    // Larger shapes for the tiled, grouped and parallel paths.
    let w = |s: usize, d: usize, pad| Win {
        s: [s, s],
        d: [d, d],
        pad,
    };
    raw.push(([4, 20, 20, 16], [3, 3], 8, w(1, 1, Padding::Same)));
    raw.push(([2, 17, 19, 12], [5, 3], 6, w(2, 2, Padding::Valid)));
    raw.push(([1, 9, 9, 70], [3, 3], 2, w(1, 1, Padding::Same)));
    raw.into_iter()
        .filter_map(|(x, k, o, win)| {
            let (ho, _) = win.axis(0, x[1], k[0])?;
            let (wo, _) = win.axis(1, x[2], k[1])?;
            Some((x, k, o, win, [ho, wo]))
        })
        .collect()
}

fn dtypes(i: usize) -> &'static [DType] {
    if i.is_multiple_of(5) {
        &[DType::F64, DType::F32, DType::F16, DType::BF16]
    } else {
        &[DType::F64, DType::F32]
    }
}

#[test]
fn conv2d_backprop_filter_matches_naive() {
    let mut r = rng(41);
    let configs = conv_configs(&mut r, 60);
    assert!(configs.len() > 50);
    for (i, &(xd, k, o, win, [ho, wo])) in configs.iter().enumerate() {
        for &dt in dtypes(i) {
            let x = random_tensor(&mut r, dt, &xd);
            let dy = random_tensor(&mut r, dt, &[xd[0], ho, wo, o]);
            let fs = [k[0], k[1], xd[3], o];
            let reference = naive_backprop_filter(&x, &dy, fs, &win, false);
            let what = format!("backprop_filter {dt} x{xd:?} k{k:?} o{o} {win:?}");
            let (xls, dyls) = (layouts(&x), layouts(&dy));
            let n = if i.is_multiple_of(3) { xls.len() } else { 1 };
            for l in 0..n {
                let got =
                    ops::conv2d_backprop_filter(&xls[l], &dyls[n - 1 - l], &fs, &win.options())
                        .unwrap();
                check(&got, &reference, dt, &format!("{what} layout {l}"));
            }
        }
    }
}

#[test]
fn conv2d_backprop_input_matches_naive() {
    let mut r = rng(42);
    let configs = conv_configs(&mut r, 50);
    for (i, &(xd, k, o, win, [ho, wo])) in configs.iter().enumerate() {
        let mut dts = dtypes(i).to_vec();
        if i.is_multiple_of(7) {
            dts.push(DType::I32);
        }
        for dt in dts {
            let dy = random_tensor(&mut r, dt, &[xd[0], ho, wo, o]);
            let f = random_tensor(&mut r, dt, &[k[0], k[1], xd[3], o]);
            let reference = naive_backprop_input(&dy, &f, xd, &win, false);
            let what = format!("backprop_input {dt} x{xd:?} k{k:?} o{o} {win:?}");
            let fl = if i.is_multiple_of(2) {
                transposed_copy(&f)
            } else {
                f.clone()
            };
            let got =
                ops::conv2d_backprop_input(&fl, &strided_copy(&dy), &xd, &win.options()).unwrap();
            check(&got, &reference, dt, &what);
        }
    }
}

#[test]
fn depthwise_backprops_match_naive() {
    let mut r = rng(43);
    let configs = conv_configs(&mut r, 60);
    for (i, &(xd, k, m, win, [ho, wo])) in configs.iter().enumerate() {
        let m = 1 + m % 3;
        for &dt in dtypes(i) {
            let x = random_tensor(&mut r, dt, &xd);
            let f = random_tensor(&mut r, dt, &[k[0], k[1], xd[3], m]);
            let dy = random_tensor(&mut r, dt, &[xd[0], ho, wo, xd[3] * m]);
            let fs = [k[0], k[1], xd[3], m];
            let what = format!("depthwise {dt} x{xd:?} k{k:?} m{m} {win:?}");
            let reference = naive_backprop_input(&dy, &f, xd, &win, true);
            for (l, dyv) in layouts(&dy).iter().enumerate().take(1 + i % 3) {
                let got =
                    ops::depthwise_conv2d_backprop_input(&f, dyv, &xd, &win.options()).unwrap();
                check(&got, &reference, dt, &format!("{what} input layout {l}"));
            }
            let reference = naive_backprop_filter(&x, &dy, fs, &win, true);
            for (l, xv) in layouts(&x).iter().enumerate().take(1 + i % 3) {
                let got =
                    ops::depthwise_conv2d_backprop_filter(xv, &dy, &fs, &win.options()).unwrap();
                check(&got, &reference, dt, &format!("{what} filter layout {l}"));
            }
        }
    }
}

#[test]
fn backprops_are_the_adjoints_of_the_convolutions() {
    // <conv(x, w), dy> == <x, backprop_input(w, dy)> == <w, backprop_filter(x, dy)>.
    let mut r = rng(44);
    for (xd, k, o, win, [ho, wo]) in conv_configs(&mut r, 30) {
        for depthwise in [false, true] {
            let x = random_tensor(&mut r, DType::F64, &xd);
            let fs = [k[0], k[1], xd[3], o];
            let f = random_tensor(&mut r, DType::F64, &fs);
            let oc = if depthwise { xd[3] * o } else { o };
            let dy = random_tensor(&mut r, DType::F64, &[xd[0], ho, wo, oc]);
            let opts = win.options();
            let (y, dx, df) = if depthwise {
                (
                    ops::depthwise_conv2d(&x, &f, &opts).unwrap(),
                    ops::depthwise_conv2d_backprop_input(&f, &dy, &xd, &opts).unwrap(),
                    ops::depthwise_conv2d_backprop_filter(&x, &dy, &fs, &opts).unwrap(),
                )
            } else {
                (
                    ops::conv2d(&x, &f, &opts).unwrap(),
                    ops::conv2d_backprop_input(&f, &dy, &xd, &opts).unwrap(),
                    ops::conv2d_backprop_filter(&x, &dy, &fs, &opts).unwrap(),
                )
            };
            let (a, b, c) = (dot(&y, &dy), dot(&x, &dx), dot(&f, &df));
            let scale = 1e-10 * (1.0 + a.abs());
            assert!(
                (a - b).abs() <= scale && (a - c).abs() <= scale,
                "depthwise {depthwise} x{xd:?} k{k:?} o{o} {win:?}: {a} {b} {c}"
            );
        }
    }
}

/// Runs `f` on a rayon pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn filter_gradients_are_reproducible_on_any_thread_count() {
    let mut r = rng(45);
    let x = random_tensor(&mut r, DType::F32, &[3, 24, 24, 16]);
    let dy = random_tensor(&mut r, DType::F32, &[3, 24, 24, 32]);
    let dyd = random_tensor(&mut r, DType::F32, &[3, 24, 24, 16]);
    let opts = Conv2dOptions::same();
    let run = || {
        (
            ops::conv2d_backprop_filter(&x, &dy, &[3, 3, 16, 32], &opts)
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            ops::depthwise_conv2d_backprop_filter(&x, &dyd, &[3, 3, 16, 1], &opts)
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
        )
    };
    let one = on_threads(1, run);
    let three = on_threads(3, run);
    assert_eq!(one, three);
    assert_eq!(one, run());
}

/// Pool configurations (no dilation, SAME or VALID) with a valid output size.
fn pool_configs(r: &mut StdRng, n: usize) -> Vec<([usize; 4], [usize; 2], Win, [usize; 2])> {
    let mut out = Vec::new();
    while out.len() < n {
        let (xd, k, mut win) = random_config(r);
        win.d = [1, 1];
        if matches!(win.pad, Padding::Explicit(_)) {
            win.pad = Padding::Same;
        }
        if let (Some((ho, _)), Some((wo, _))) = (win.axis(0, xd[1], k[0]), win.axis(1, xd[2], k[1]))
        {
            out.push((xd, k, win, [ho, wo]));
        }
    }
    let w = |s: usize, pad| Win {
        s: [s, s],
        d: [1, 1],
        pad,
    };
    out.push(([2, 40, 40, 24], [3, 3], w(2, Padding::Same), [20, 20]));
    out.push(([1, 33, 31, 70], [3, 2], w(1, Padding::Valid), [31, 30]));
    out.push(([2, 0, 4, 3], [2, 2], w(1, Padding::Same), [0, 4]));
    out.push(([0, 4, 4, 3], [2, 2], w(2, Padding::Same), [2, 2]));
    out.push(([1, 3, 3, 2], [5, 5], w(1, Padding::Same), [3, 3]));
    out
}

/// Random values of `dt`; with `ties`, small integers so windows hold equal maxima.
fn pool_input(r: &mut StdRng, dt: DType, dims: &[usize], ties: bool) -> Tensor {
    if ties {
        let n = dims.iter().product();
        // Non-negative for u8 (its sums must not wrap).
        let lo = if dt == DType::U8 { 0 } else { -2 };
        let v: Vec<f64> = (0..n).map(|_| r.random_range(lo..3) as f64).collect();
        tensor_from_f64(&v, dt, dims)
    } else {
        random_tensor(r, dt, dims)
    }
}

/// Windows reaching one input element at most (bound on the summed terms).
fn overlap(k: [usize; 2], w: &Win) -> usize {
    k[0].div_ceil(w.s[0]) * k[1].div_ceil(w.s[1])
}

#[test]
fn max_pool_grads_match_naive() {
    let mut r = rng(46);
    for (i, (xd, k, win, [ho, wo])) in pool_configs(&mut r, 60).into_iter().enumerate() {
        let dts: &[DType] = if i.is_multiple_of(4) {
            &[
                DType::F64,
                DType::F32,
                DType::F16,
                DType::BF16,
                DType::I8,
                DType::U8,
                DType::I32,
                DType::I64,
            ]
        } else {
            &[DType::F64, DType::F32]
        };
        let yd = [xd[0], ho, wo, xd[3]];
        for &dt in dts {
            let x = pool_input(&mut r, dt, &xd, i.is_multiple_of(2));
            let y = ops::max_pool2d(&x, &k, &win.s, win.pad).unwrap();
            assert_eq!(y.dims(), &yd);
            let dy = pool_input(&mut r, dt, &yd, true);
            let what = format!("{dt} x{xd:?} k{k:?} {win:?}");
            let reference = naive_max_pool_grad(&x, &dy, k, &win);
            for (l, xv) in layouts(&x).iter().enumerate().take(1 + i % 3) {
                let got = ops::max_pool_grad(xv, &y, &dy, &k, &win.s, win.pad).unwrap();
                check_rounded(
                    &got,
                    &reference,
                    dt,
                    overlap(k, &win),
                    &format!("max_pool_grad {what} layout {l}"),
                );
            }
            // Gradient-of-gradient: a selection, exact.
            let gg = pool_input(&mut r, dt, &xd, false);
            let reference = naive_max_pool_grad_grad(&x, &gg, k, &win);
            let got =
                ops::max_pool_grad_grad(&x, &y, &strided_copy(&gg), &k, &win.s, win.pad).unwrap();
            assert_eq!(got.dtype(), dt);
            assert_close(
                &got,
                &reference.values,
                &reference.dims,
                0.0,
                0.0,
                &format!("max_pool_grad_grad {what}"),
            );
        }
    }
}

#[test]
fn avg_pool_grad_matches_naive() {
    let mut r = rng(47);
    for (i, (xd, k, win, [ho, wo])) in pool_configs(&mut r, 60).into_iter().enumerate() {
        let dts: &[DType] = if i.is_multiple_of(4) {
            &[DType::F64, DType::F32, DType::F16, DType::BF16]
        } else {
            &[DType::F64, DType::F32]
        };
        for &dt in dts {
            let dy = random_tensor(&mut r, dt, &[xd[0], ho, wo, xd[3]]);
            let reference = naive_avg_pool_grad(xd, &dy, k, &win);
            for (l, dyv) in layouts(&dy).iter().enumerate().take(1 + i % 3) {
                let got = ops::avg_pool_grad(&xd, dyv, &k, &win.s, win.pad).unwrap();
                check_rounded(
                    &got,
                    &reference,
                    dt,
                    overlap(k, &win) + 2,
                    &format!("avg_pool_grad {dt} x{xd:?} k{k:?} {win:?} layout {l}"),
                );
            }
        }
    }
}

#[test]
fn pool_grads_are_adjoints() {
    // <avg_pool(x), dy> == <x, avg_pool_grad(dy)>; <max_pool_grad(dy), g> ==
    // <dy, max_pool_grad_grad(g)> (both linear in their last argument).
    let mut r = rng(48);
    for (xd, k, win, [ho, wo]) in pool_configs(&mut r, 30) {
        let yd = [xd[0], ho, wo, xd[3]];
        let x = random_tensor(&mut r, DType::F64, &xd);
        let dy = random_tensor(&mut r, DType::F64, &yd);
        let g = random_tensor(&mut r, DType::F64, &xd);
        let avg = ops::avg_pool2d(&x, &k, &win.s, win.pad).unwrap();
        let dx = ops::avg_pool_grad(&xd, &dy, &k, &win.s, win.pad).unwrap();
        let (a, b) = (dot(&avg, &dy), dot(&x, &dx));
        assert!((a - b).abs() <= 1e-10 * (1.0 + a.abs()), "{a} vs {b}");
        let y = ops::max_pool2d(&x, &k, &win.s, win.pad).unwrap();
        let mg = ops::max_pool_grad(&x, &y, &dy, &k, &win.s, win.pad).unwrap();
        let mgg = ops::max_pool_grad_grad(&x, &y, &g, &k, &win.s, win.pad).unwrap();
        let (a, b) = (dot(&mg, &g), dot(&dy, &mgg));
        assert!((a - b).abs() <= 1e-10 * (1.0 + a.abs()), "{a} vs {b}");
    }
}

#[test]
fn max_pool_grad_ties_and_nans_follow_tensorflow() {
    // One 2x2 window over [[1, 3], [3, 2]]: the first maximum (row-major) gets it all.
    let x = Tensor::from_vec(vec![1.0f32, 3.0, 3.0, 2.0], [1, 2, 2, 1]).unwrap();
    let y = ops::max_pool2d(&x, &[2], &[2], Padding::Valid).unwrap();
    let dy = Tensor::from_vec(vec![5.0f32], [1, 1, 1, 1]).unwrap();
    let dx = ops::max_pool_grad(&x, &y, &dy, &[2], &[2], Padding::Valid).unwrap();
    assert_eq!(dx.to_vec::<f32>().unwrap(), vec![0.0, 5.0, 0.0, 0.0]);
    // Overlapping windows (stride 1) accumulate at a shared maximum.
    let x = Tensor::from_vec(vec![1.0f32, 9.0, 2.0], [1, 1, 3, 1]).unwrap();
    let y = ops::max_pool2d(&x, &[1, 2], &[1], Padding::Valid).unwrap();
    let dy = Tensor::from_vec(vec![2.0f32, 3.0], [1, 1, 2, 1]).unwrap();
    let dx = ops::max_pool_grad(&x, &y, &dy, &[1, 2], &[1], Padding::Valid).unwrap();
    assert_eq!(dx.to_vec::<f32>().unwrap(), vec![0.0, 5.0, 0.0]);
    let gg = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], [1, 1, 3, 1]).unwrap();
    let out = ops::max_pool_grad_grad(&x, &y, &gg, &[1, 2], &[1], Padding::Valid).unwrap();
    assert_eq!(out.to_vec::<f32>().unwrap(), vec![20.0, 20.0]);
    // A NaN in first position holds the window; elsewhere it never wins.
    let nan = f32::NAN;
    let x = Tensor::from_vec(vec![nan, 4.0, 1.0, nan], [1, 1, 4, 1]).unwrap();
    let y = ops::max_pool2d(&x, &[1, 2], &[1, 2], Padding::Valid).unwrap();
    let dy = Tensor::from_vec(vec![1.0f32, 2.0], [1, 1, 2, 1]).unwrap();
    let dx = ops::max_pool_grad(&x, &y, &dy, &[1, 2], &[1, 2], Padding::Valid).unwrap();
    assert_eq!(dx.to_vec::<f32>().unwrap(), vec![1.0, 0.0, 2.0, 0.0]);
    // SAME padding never wins, even over negative values.
    let x = Tensor::from_vec(vec![-4.0f64, -1.0, -3.0, -2.0], [1, 2, 2, 1]).unwrap();
    let y = ops::max_pool2d(&x, &[3], &[1], Padding::Same).unwrap();
    let dy = Tensor::ones([1, 2, 2, 1], DType::F64).unwrap();
    let dx = ops::max_pool_grad(&x, &y, &dy, &[3], &[1], Padding::Same).unwrap();
    assert_eq!(dx.to_vec::<f64>().unwrap(), vec![0.0, 4.0, 0.0, 0.0]);
}

#[test]
fn avg_pool_grad_spreads_over_valid_positions() {
    // 3x3 window, stride 1, SAME over 2x2: each window holds all 4 pixels.
    let dy = Tensor::from_vec(vec![4.0f32, 8.0, 12.0, 16.0], [1, 2, 2, 1]).unwrap();
    let dx = ops::avg_pool_grad(&[1, 2, 2, 1], &dy, &[3], &[1], Padding::Same).unwrap();
    assert_eq!(dx.to_vec::<f32>().unwrap(), vec![10.0; 4]);
    // 2x2 window, stride 2, SAME over 3x3: the last row/column windows are partial.
    let dy = Tensor::from_vec(vec![4.0f64, 2.0, 2.0, 1.0], [1, 2, 2, 1]).unwrap();
    let dx = ops::avg_pool_grad(&[1, 3, 3, 1], &dy, &[2], &[2], Padding::Same).unwrap();
    assert_eq!(
        dx.to_vec::<f64>().unwrap(),
        vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    );
}

fn err(r: tf_core::Result<Tensor>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn conv_backprop_errors_name_the_op_and_shapes() {
    let t = |d: &[usize]| Tensor::zeros(Shape::new(d), DType::F32).unwrap();
    let opts = Conv2dOptions::same().strides(&[2]);
    let (x, dy) = (t(&[2, 8, 8, 5]), t(&[2, 4, 4, 6]));
    assert_eq!(
        ops::conv2d_backprop_filter(&x, &dy, &[3, 3, 5, 6], &opts)
            .unwrap()
            .dims(),
        &[3, 3, 5, 6]
    );
    let e = err(ops::conv2d_backprop_filter(&x, &dy, &[3, 3, 5], &opts));
    assert!(
        e.starts_with("Conv2DBackpropFilter: filter_sizes must be 4 non-negative sizes")
            && e.contains("[3, 3, 5]"),
        "{e}"
    );
    let e = err(ops::conv2d_backprop_filter(&x, &dy, &[3, 3, 4, 6], &opts));
    assert!(
        e.starts_with("Conv2DBackpropFilter: input depth must equal filter in_channels")
            && e.contains("[2,8,8,5]")
            && e.contains("[3,3,4,6]"),
        "{e}"
    );
    let e = err(ops::conv2d_backprop_filter(&x, &dy, &[3, 3, 5, 7], &opts));
    assert!(
        e.contains("out_backprop depth") && e.contains("[2,4,4,6]"),
        "{e}"
    );
    let e = err(ops::conv2d_backprop_filter(
        &t(&[3, 8, 8, 5]),
        &dy,
        &[3, 3, 5, 6],
        &opts,
    ));
    assert!(e.contains("same batch size"), "{e}");
    let e = err(ops::conv2d_backprop_filter(
        &t(&[2, 10, 8, 5]),
        &dy,
        &[3, 3, 5, 6],
        &opts,
    ));
    assert!(
        e.starts_with(
            "Conv2DBackpropFilter: size of out_backprop doesn't match computed: actual = 4, computed = 5"
        ),
        "{e}"
    );
    let e = err(ops::conv2d_backprop_filter(&x, &dy, &[0, 3, 5, 6], &opts));
    assert!(e.contains("zero elements"), "{e}");
    let e = err(ops::conv2d_backprop_filter(
        &t(&[8, 8, 5]),
        &dy,
        &[3, 3, 5, 6],
        &opts,
    ));
    assert!(
        e.starts_with("Conv2DBackpropFilter: input must be 4-dimensional") && e.contains("[8,8,5]"),
        "{e}"
    );
    let xi = Tensor::zeros([2, 8, 8, 5], DType::I32).unwrap();
    let dyi = Tensor::zeros([2, 4, 4, 6], DType::I32).unwrap();
    let e = err(ops::conv2d_backprop_filter(&xi, &dyi, &[3, 3, 5, 6], &opts));
    assert!(
        e.starts_with("Conv2DBackpropFilter:") && e.contains("int32"),
        "{e}"
    );
    let e = err(ops::conv2d_backprop_filter(&xi, &dy, &[3, 3, 5, 6], &opts));
    assert!(e.contains("int32") && e.contains("float32"), "{e}");
    let e = err(ops::conv2d_backprop_filter(
        &x,
        &dy,
        &[3, 3, 5, 6],
        &opts.clone().strides(&[2, 2, 2]),
    ));
    assert!(
        e.starts_with("Conv2DBackpropFilter: strides must have"),
        "{e}"
    );
    // Input gradient through the new public function.
    let f = t(&[3, 3, 5, 6]);
    let e = err(ops::conv2d_backprop_input(&f, &dy, &[2, 8, 8], &opts));
    assert!(
        e.starts_with("Conv2DBackpropInput: input_sizes must be 4 non-negative sizes"),
        "{e}"
    );
    // Depthwise: out_backprop depth is in_channels × multiplier.
    let fd = t(&[3, 3, 5, 2]);
    let dyd = t(&[2, 4, 4, 10]);
    assert_eq!(
        ops::depthwise_conv2d_backprop_input(&fd, &dyd, &[2, 8, 8, 5], &opts)
            .unwrap()
            .dims(),
        &[2, 8, 8, 5]
    );
    let e = err(ops::depthwise_conv2d_backprop_input(
        &fd,
        &dy,
        &[2, 8, 8, 5],
        &opts,
    ));
    assert!(
        e.starts_with("DepthwiseConv2dNativeBackpropInput: filter in_channels × channel_multiplier must equal out_backprop depth")
            && e.contains("[2,4,4,6]"),
        "{e}"
    );
    let e = err(ops::depthwise_conv2d_backprop_filter(
        &x,
        &dyd,
        &[3, 3, 5, 3],
        &opts,
    ));
    assert!(
        e.starts_with("DepthwiseConv2dNativeBackpropFilter:") && e.contains("[3,3,5,3]"),
        "{e}"
    );
    let e = err(ops::depthwise_conv2d_backprop_filter(
        &x,
        &dyd,
        &[3, 3, 5, usize::MAX],
        &opts,
    ));
    assert!(e.starts_with("DepthwiseConv2dNativeBackpropFilter:"), "{e}");
    let e = err(ops::depthwise_conv2d_backprop_input(
        &t(&[3, 3, 5]),
        &dyd,
        &[2, 8, 8, 5],
        &opts,
    ));
    assert!(
        e.starts_with("DepthwiseConv2dNativeBackpropInput: depthwise filter must be 4-dimensional"),
        "{e}"
    );
    let e = err(ops::depthwise_conv2d_backprop_input(
        &fd,
        &dyd,
        &[2, 8, 8, 5],
        &Conv2dOptions::same(),
    ));
    assert!(e.contains("doesn't match computed"), "{e}");
}

#[test]
fn pool_grad_errors_name_the_op_and_shapes() {
    let t = |d: &[usize]| Tensor::zeros(Shape::new(d), DType::F32).unwrap();
    let (x, y) = (t(&[1, 6, 6, 2]), t(&[1, 3, 3, 2]));
    let bad = t(&[1, 2, 3, 2]);
    let e = err(ops::max_pool_grad(
        &x,
        &bad,
        &bad,
        &[2],
        &[2],
        Padding::Valid,
    ));
    assert!(
        e.starts_with(
            "MaxPoolGrad: orig_output shape [1,2,3,2] must be the pooled shape [1,3,3,2]"
        ),
        "{e}"
    );
    let e = err(ops::max_pool_grad(&x, &y, &x, &[2], &[2], Padding::Valid));
    assert!(
        e.starts_with("MaxPoolGrad: grad shape [1,6,6,2] must equal the orig_output shape"),
        "{e}"
    );
    let e = err(ops::max_pool_grad_grad(
        &x,
        &y,
        &y,
        &[2],
        &[2],
        Padding::Valid,
    ));
    assert!(
        e.starts_with("MaxPoolGradGrad: grad shape [1,3,3,2] must equal the orig_input shape"),
        "{e}"
    );
    let yd = Tensor::zeros([1, 3, 3, 2], DType::F64).unwrap();
    let e = err(ops::max_pool_grad(&x, &y, &yd, &[2], &[2], Padding::Valid));
    assert!(
        e.starts_with("MaxPoolGrad:") && e.contains("float64"),
        "{e}"
    );
    let e = err(ops::max_pool_grad(
        &x,
        &y,
        &y,
        &[2],
        &[2],
        Padding::Explicit([[1, 1], [1, 1]]),
    ));
    assert!(e.starts_with("MaxPoolGrad: padding must be"), "{e}");
    let e = err(ops::max_pool_grad(
        &t(&[6, 6, 2]),
        &y,
        &y,
        &[2],
        &[2],
        Padding::Valid,
    ));
    assert!(
        e.starts_with("MaxPoolGrad: orig_input must be 4-dimensional"),
        "{e}"
    );
    let e = err(ops::max_pool_grad(
        &x,
        &y,
        &y,
        &[2, 2, 2],
        &[2],
        Padding::Valid,
    ));
    assert!(
        e.starts_with("MaxPoolGrad: ksize must have 1, 2 or 4 elements"),
        "{e}"
    );
    let b = Tensor::zeros([1, 6, 6, 2], DType::Bool).unwrap();
    let bb = Tensor::zeros([1, 3, 3, 2], DType::Bool).unwrap();
    let e = err(ops::max_pool_grad(&b, &bb, &bb, &[2], &[2], Padding::Valid));
    assert!(e.starts_with("MaxPoolGrad:") && e.contains("bool"), "{e}");
    // AvgPoolGrad.
    assert_eq!(
        ops::avg_pool_grad(&[1, 6, 6, 2], &y, &[2], &[2], Padding::Valid)
            .unwrap()
            .dims(),
        &[1, 6, 6, 2]
    );
    let e = err(ops::avg_pool_grad(
        &[1, 6, 6],
        &y,
        &[2],
        &[2],
        Padding::Valid,
    ));
    assert!(
        e.starts_with("AvgPoolGrad: orig_input_shape must be 4 non-negative sizes"),
        "{e}"
    );
    let e = err(ops::avg_pool_grad(
        &[1, 8, 6, 2],
        &y,
        &[2],
        &[2],
        Padding::Valid,
    ));
    assert!(
        e.starts_with("AvgPoolGrad: grad shape [1,3,3,2] must be the pooled shape [1,4,3,2]"),
        "{e}"
    );
    let e = err(ops::avg_pool_grad(
        &[1, 6, 6, 2],
        &Tensor::zeros([1, 3, 3, 2], DType::I32).unwrap(),
        &[2],
        &[2],
        Padding::Valid,
    ));
    assert!(e.starts_with("AvgPoolGrad:") && e.contains("int32"), "{e}");
    let e = err(ops::avg_pool_grad(
        &[1, 1, 6, 2],
        &y,
        &[3],
        &[1],
        Padding::Valid,
    ));
    assert!(
        e.starts_with("AvgPoolGrad: computed output size would be negative"),
        "{e}"
    );
}

fn infer(
    op: &'static OpDef,
    inputs: &[Vec<Option<usize>>],
    attrs: &Attrs,
) -> tf_core::Result<PartialShape> {
    let tensors: Vec<Tensor> = inputs
        .iter()
        .map(|d| Tensor::symbolic(DType::F32, PartialShape::new(d), Arc::new(())))
        .collect();
    let specs = (op.infer)(&InferContext {
        op,
        inputs: &tensors,
        attrs,
    })?;
    Ok(specs[0].shape.clone())
}

#[test]
fn grad_shape_inference_on_partial_shapes() {
    let win = Attrs::new()
        .with("strides", vec![1i64, 2, 2, 1])
        .with("padding", "SAME");
    let bf = win.clone().with("filter_sizes", vec![3i64, 3, 5, 8]);
    let s = infer(
        &ops::CONV2D_BACKPROP_FILTER,
        &[
            vec![None, None, Some(9), None],
            vec![None, None, None, Some(8)],
        ],
        &bf,
    )
    .unwrap();
    assert_eq!(s, PartialShape::known(&[3, 3, 5, 8]));
    // Known dimensions are still checked.
    let e = infer(
        &ops::CONV2D_BACKPROP_FILTER,
        &[
            vec![None, None, Some(9), None],
            vec![None, None, Some(4), None],
        ],
        &bf,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("actual = 4, computed = 5"), "{e}");
    let bi = win.clone().with("input_sizes", vec![2i64, 8, 8, 3]);
    let s = infer(
        &ops::DEPTHWISE_CONV2D_BACKPROP_INPUT,
        &[
            vec![Some(3), Some(3), None, Some(2)],
            vec![None, None, None, None],
        ],
        &bi,
    )
    .unwrap();
    assert_eq!(s, PartialShape::known(&[2, 8, 8, 3]));
    let pool = win.clone().with("ksize", vec![1i64, 2, 2, 1]);
    let s = infer(
        &ops::MAX_POOL_GRAD,
        &[
            vec![None, Some(7), None, Some(3)],
            vec![Some(2), None, None, None],
            vec![None, None, Some(4), None],
        ],
        &pool,
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[Some(2), Some(7), None, Some(3)]));
    let s = infer(
        &ops::MAX_POOL_GRAD_GRAD,
        &[
            vec![None, Some(7), None, Some(3)],
            vec![None, None, None, None],
            vec![Some(2), None, Some(8), None],
        ],
        &pool,
    )
    .unwrap();
    assert_eq!(s, PartialShape::known(&[2, 4, 4, 3]));
    let ap = pool.clone().with("orig_input_shape", vec![2i64, 7, 8, 3]);
    let s = infer(&ops::AVG_POOL_GRAD, &[vec![None, None, None, None]], &ap).unwrap();
    assert_eq!(s, PartialShape::known(&[2, 7, 8, 3]));
    let e = infer(&ops::AVG_POOL_GRAD, &[vec![None, Some(3), None, None]], &ap)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pooled shape"), "{e}");
}

#[test]
fn zero_size_gradients_are_zeros() {
    let opts = Conv2dOptions::same();
    let x = Tensor::zeros([0, 4, 4, 3], DType::F32).unwrap();
    let dy = Tensor::zeros([0, 4, 4, 2], DType::F32).unwrap();
    let df = ops::conv2d_backprop_filter(&x, &dy, &[3, 3, 3, 2], &opts).unwrap();
    assert_eq!(df.dims(), &[3, 3, 3, 2]);
    assert!(df.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0));
    let df = ops::depthwise_conv2d_backprop_filter(
        &x,
        &Tensor::zeros([0, 4, 4, 3], DType::F32).unwrap(),
        &[3, 3, 3, 1],
        &opts,
    )
    .unwrap();
    assert!(df.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0));
    // An empty output spatial size (VALID, input smaller than the window).
    let x = Tensor::ones([1, 2, 2, 1], DType::F64).unwrap();
    let dy = Tensor::zeros([1, 0, 0, 1], DType::F64).unwrap();
    let opts = Conv2dOptions::valid();
    let df = ops::conv2d_backprop_filter(&x, &dy, &[3, 3, 1, 1], &opts).unwrap();
    assert_eq!(df.to_vec::<f64>().unwrap(), vec![0.0; 9]);
    let f = Tensor::ones([3, 3, 1, 1], DType::F64).unwrap();
    let dx = ops::conv2d_backprop_input(&f, &dy, &[1, 2, 2, 1], &opts).unwrap();
    assert_eq!(dx.to_vec::<f64>().unwrap(), vec![0.0; 4]);
}
