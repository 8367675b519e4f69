//! Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput (conv2d_transpose), MaxPool and
//! AvgPool against naive direct loops over many random configurations (strides 1-3,
//! dilations, SAME/VALID/EXPLICIT, odd sizes, kernels larger than the input, batch and
//! channel counts), every dtype, several layouts; plus errors and shape inference.

#![allow(clippy::unwrap_used)]

mod common;
mod conv_support;

use common::*;
use conv_support::*;
use rand::Rng;
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef, call1};
use tf_core::ops::{self, CONV2D, Conv2dOptions, MAX_POOL, Padding};
use tf_core::{DType, PartialShape, Shape, Tensor};

#[test]
fn conv2d_matches_naive() {
    let mut r = rng(21);
    let mut configs: Vec<_> = fixed_configs();
    for _ in 0..70 {
        let (x, k, win) = random_config(&mut r);
        configs.push((x, k, r.random_range(1..5), win));
    }
    let mut negative = 0;
    for (i, &(xd, k, o, win)) in configs.iter().enumerate() {
        let dts: &[DType] = if i % 5 == 0 {
            &[DType::F64, DType::F32, DType::F16, DType::BF16, DType::I32]
        } else {
            &[DType::F64, DType::F32]
        };
        for &dt in dts {
            let x = random_tensor(&mut r, dt, &xd);
            let f = random_tensor(&mut r, dt, &[k[0], k[1], xd[3], o]);
            let what = format!("conv2d {dt} x{xd:?} k{k:?} o{o} {win:?}");
            match naive_conv(&x, &f, &win, false) {
                None => {
                    negative += 1;
                    let e = ops::conv2d(&x, &f, &win.options()).unwrap_err().to_string();
                    assert!(
                        e.starts_with("Conv2D:") && e.contains("negative"),
                        "{what}: {e}"
                    );
                }
                Some(reference) => {
                    for (l, xv) in
                        layouts(&x)
                            .iter()
                            .enumerate()
                            .take(if i % 3 == 0 { 3 } else { 1 })
                    {
                        let got = ops::conv2d(xv, &f, &win.options()).unwrap();
                        check(&got, &reference, dt, &format!("{what} layout {l}"));
                    }
                }
            }
        }
    }
    assert!(negative < configs.len() / 4, "too few valid configurations");
}

#[test]
fn depthwise_conv2d_matches_naive() {
    let mut r = rng(22);
    let mut configs: Vec<_> = fixed_configs();
    for _ in 0..50 {
        let (x, k, win) = random_config(&mut r);
        configs.push((x, k, r.random_range(1..4), win));
    }
    for (i, &(xd, k, m, win)) in configs.iter().enumerate() {
        let dts: &[DType] = if i % 5 == 0 {
            &[DType::F64, DType::F32, DType::F16, DType::BF16]
        } else {
            &[DType::F64, DType::F32]
        };
        for &dt in dts {
            let x = random_tensor(&mut r, dt, &xd);
            let f = random_tensor(&mut r, dt, &[k[0], k[1], xd[3], m]);
            let what = format!("depthwise {dt} x{xd:?} k{k:?} m{m} {win:?}");
            let got = ops::depthwise_conv2d(&strided_copy(&x), &f, &win.options());
            match naive_conv(&x, &f, &win, true) {
                None => {
                    let e = got.unwrap_err().to_string();
                    assert!(
                        e.starts_with("DepthwiseConv2dNative:") && e.contains("negative"),
                        "{what}: {e}"
                    );
                }
                Some(reference) => check(&got.unwrap(), &reference, dt, &what),
            }
        }
    }
    // Output channel order is c·M + m, as in TensorFlow.
    let x = Tensor::from_vec(vec![1.0f32, 10.0], [1, 1, 1, 2]).unwrap();
    let f = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 1, 2, 3]).unwrap();
    let y = ops::depthwise_conv2d(&x, &f, &Conv2dOptions::valid()).unwrap();
    assert_eq!(
        y.to_vec::<f32>().unwrap(),
        vec![1.0, 2.0, 3.0, 40.0, 50.0, 60.0]
    );
}

#[test]
fn conv2d_transpose_matches_naive() {
    let mut r = rng(23);
    let mut configs: Vec<_> = fixed_configs();
    for _ in 0..50 {
        let (x, k, win) = random_config(&mut r);
        configs.push((x, k, r.random_range(1..5), win));
    }
    let mut checked = 0;
    for (i, &(xd, k, o, win)) in configs.iter().enumerate() {
        // `xd` is the output shape of the transpose (the forward conv's input).
        let Some((ho, _)) = win.axis(0, xd[1], k[0]) else {
            continue;
        };
        let Some((wo, _)) = win.axis(1, xd[2], k[1]) else {
            continue;
        };
        let dts: &[DType] = if i % 5 == 0 {
            &[DType::F64, DType::F32, DType::F16, DType::BF16, DType::I32]
        } else {
            &[DType::F64, DType::F32]
        };
        for &dt in dts {
            let dy = random_tensor(&mut r, dt, &[xd[0], ho, wo, o]);
            let f = random_tensor(&mut r, dt, &[k[0], k[1], xd[3], o]);
            let reference = naive_transpose(&dy, &f, xd, &win);
            for (l, dyv) in layouts(&dy)
                .iter()
                .enumerate()
                .take(if i % 3 == 0 { 3 } else { 1 })
            {
                let got = ops::conv2d_transpose(dyv, &f, &xd, &win.options()).unwrap();
                check(
                    &got,
                    &reference,
                    dt,
                    &format!("transpose {dt} out{xd:?} k{k:?} o{o} {win:?} layout {l}"),
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn conv2d_transpose_is_the_adjoint_of_conv2d() {
    // <conv2d(x, f), dy> == <x, conv2d_transpose(dy, f)> for any x, dy.
    let mut r = rng(24);
    for _ in 0..20 {
        let (xd, k, win) = random_config(&mut r);
        let o = r.random_range(1..4);
        let x = random_tensor(&mut r, DType::F64, &xd);
        let f = random_tensor(&mut r, DType::F64, &[k[0], k[1], xd[3], o]);
        let Ok(y) = ops::conv2d(&x, &f, &win.options()) else {
            continue;
        };
        let dy = random_tensor(&mut r, DType::F64, y.dims());
        let dx = ops::conv2d_transpose(&dy, &f, &xd, &win.options()).unwrap();
        let dot = |a: &Tensor, b: &Tensor| -> f64 {
            a.to_f64_vec()
                .unwrap()
                .iter()
                .zip(b.to_f64_vec().unwrap())
                .map(|(p, q)| p * q)
                .sum()
        };
        let (lhs, rhs) = (dot(&y, &dy), dot(&x, &dx));
        assert!(
            (lhs - rhs).abs() <= 1e-9 * (1.0 + lhs.abs()),
            "{xd:?} {k:?} {win:?}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn pools_match_naive() {
    let mut r = rng(25);
    let mut cases = 0;
    for i in 0..80 {
        let (xd, k, mut win) = random_config(&mut r);
        win.d = [1, 1];
        if matches!(win.pad, Padding::Explicit(_)) {
            win.pad = Padding::Same;
        }
        let dts: &[DType] = if i % 4 == 0 {
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
        for &dt in dts {
            let x = random_tensor(&mut r, dt, &xd);
            let what = format!("{dt} x{xd:?} k{k:?} {win:?}");
            let got = ops::max_pool2d(&x, &k, &win.s, win.pad);
            match naive_pool(&x, k, &win, true) {
                None => {
                    let e = got.unwrap_err().to_string();
                    assert!(
                        e.starts_with("MaxPool:") && e.contains("negative"),
                        "{what}: {e}"
                    );
                    continue;
                }
                Some(reference) => {
                    // The max is one of the inputs: exact.
                    assert_close(
                        &got.unwrap(),
                        &reference.values,
                        &reference.dims,
                        0.0,
                        0.0,
                        &format!("max_pool {what}"),
                    );
                    cases += 1;
                }
            }
            if dt.is_float() {
                let reference = naive_pool(&x, k, &win, false).unwrap();
                for xv in layouts(&x) {
                    let got = ops::avg_pool2d(&xv, &k, &win.s, win.pad).unwrap();
                    check(&got, &reference, dt, &format!("avg_pool {what}"));
                }
            }
        }
    }
    assert!(cases > 100);
    // Larger input for the parallel path.
    let x = random_tensor(&mut r, DType::F32, &[2, 40, 40, 24]);
    let win = Win {
        s: [2, 2],
        d: [1, 1],
        pad: Padding::Same,
    };
    let reference = naive_pool(&x, [3, 3], &win, false).unwrap();
    check(
        &ops::avg_pool2d(&x, &[3], &[2], Padding::Same).unwrap(),
        &reference,
        DType::F32,
        "avg large",
    );
    let reference = naive_pool(&x, [3, 3], &win, true).unwrap();
    assert_close(
        &ops::max_pool2d(&x, &[3, 3], &[1, 2, 2, 1], Padding::Same).unwrap(),
        &reference.values,
        &reference.dims,
        0.0,
        0.0,
        "max large",
    );
}

#[test]
fn avg_pool_same_divides_by_valid_elements() {
    // 2x2 input, 3x3 window, stride 1, SAME: every window sees all 4 values
    // (corners see 4 of 9 positions), so every output is the mean 2.5.
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [1, 2, 2, 1]).unwrap();
    let y = ops::avg_pool2d(&x, &[3], &[1], Padding::Same).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.5; 4]);
    // Max pooling ignores padding even when every input is negative.
    let neg = Tensor::from_vec(vec![-1.0f32, -2.0, -3.0, -4.0], [1, 2, 2, 1]).unwrap();
    let y = ops::max_pool2d(&neg, &[3], &[1], Padding::Same).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1.0; 4]);
}

#[test]
fn options_accept_tensorflow_forms() {
    let mut r = rng(26);
    let x = random_tensor(&mut r, DType::F64, &[1, 7, 8, 2]);
    let f = random_tensor(&mut r, DType::F64, &[3, 3, 2, 3]);
    let a = ops::conv2d(&x, &f, &Conv2dOptions::same().strides(&[2])).unwrap();
    let b = ops::conv2d(&x, &f, &Conv2dOptions::same().strides(&[2, 2])).unwrap();
    let c = ops::conv2d(
        &x,
        &f,
        &Conv2dOptions::same()
            .strides(&[1, 2, 2, 1])
            .dilations(&[1, 1, 1, 1]),
    )
    .unwrap();
    assert_eq!(a.dims(), &[1, 4, 4, 3]);
    assert_eq!(a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    assert_eq!(a.to_f64_vec().unwrap(), c.to_f64_vec().unwrap());
    assert_eq!(Conv2dOptions::default(), Conv2dOptions::valid());
    assert_eq!("same".parse::<Padding>().unwrap(), Padding::Same);
    assert_eq!("VALID".parse::<Padding>().unwrap(), Padding::Valid);
    let e = "full".parse::<Padding>().unwrap_err().to_string();
    assert!(e.contains("\"full\""), "{e}");
    assert_eq!(
        Padding::Explicit([[1, 2], [3, 4]]).to_string(),
        "EXPLICIT[[1, 2], [3, 4]]"
    );
}

#[test]
fn conv_errors_name_the_op_and_shapes() {
    let t = |d: &[usize]| Tensor::zeros(Shape::new(d), DType::F32).unwrap();
    let same = Conv2dOptions::same();
    // Rank.
    let e = ops::conv2d(&t(&[5, 5, 3]), &t(&[3, 3, 3, 4]), &same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: input must be 4-dimensional") && e.contains("[5,5,3]"),
        "{e}"
    );
    let e = ops::conv2d(&t(&[1, 5, 5, 3]), &t(&[3, 3, 3]), &same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: filter must be 4-dimensional") && e.contains("[3,3,3]"),
        "{e}"
    );
    // Channel mismatch.
    let e = ops::conv2d(&t(&[1, 5, 5, 3]), &t(&[3, 3, 2, 4]), &same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D:") && e.contains("[1,5,5,3]") && e.contains("[3,3,2,4]"),
        "{e}"
    );
    let e = ops::depthwise_conv2d(&t(&[1, 5, 5, 3]), &t(&[3, 3, 2, 1]), &same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("DepthwiseConv2dNative:") && e.contains("[3,3,2,1]"),
        "{e}"
    );
    // Filter dtype mismatch.
    let f64f = Tensor::zeros([3, 3, 3, 4], DType::F64).unwrap();
    let e = ops::conv2d(&t(&[1, 5, 5, 3]), &f64f, &same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D:") && e.contains("float64") && e.contains("float32"),
        "{e}"
    );
    // Unsupported dtype.
    let i8s = Tensor::zeros([1, 5, 5, 3], DType::I8).unwrap();
    let e = ops::conv2d(
        &i8s,
        &Tensor::zeros([3, 3, 3, 4], DType::I8).unwrap(),
        &same,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("Conv2D:") && e.contains("int8"), "{e}");
    let e = ops::avg_pool2d(
        &Tensor::zeros([1, 2, 2, 1], DType::I32).unwrap(),
        &[2],
        &[2],
        Padding::Valid,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("AvgPool:") && e.contains("int32"), "{e}");
    // Empty filter.
    let e = ops::conv2d(&t(&[1, 5, 5, 3]), &t(&[0, 3, 3, 4]), &same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D:") && e.contains("zero elements"),
        "{e}"
    );
    // Bad strides and dilations.
    let x = t(&[1, 5, 5, 3]);
    let f = t(&[3, 3, 3, 4]);
    let e = ops::conv2d(&x, &f, &same.clone().strides(&[1, 2, 2]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: strides must have 1, 2 or 4 elements") && e.contains("[1, 2, 2]"),
        "{e}"
    );
    let e = ops::conv2d(&x, &f, &same.clone().strides(&[0]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("Conv2D: strides must be positive"), "{e}");
    let e = ops::conv2d(&x, &f, &same.clone().strides(&[2, 1, 1, 1]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: strides in the batch and depth dimensions must be 1"),
        "{e}"
    );
    let e = ops::conv2d(&x, &f, &same.clone().dilations(&[1, 1, 1, 2]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: dilations in the batch and depth dimensions must be 1"),
        "{e}"
    );
    // Bad padding string at the op level, and explicit paddings checks.
    let attrs = |pad: &'static str| {
        Attrs::new()
            .with("strides", vec![1i64, 1, 1, 1])
            .with("padding", pad)
    };
    let e = call1(&CONV2D, &[x.clone(), f.clone()], &attrs("same"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: padding must be") && e.contains("\"same\""),
        "{e}"
    );
    let e = call1(&CONV2D, &[x.clone(), f.clone()], &attrs("EXPLICIT"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: explicit_paddings must have 8 elements"),
        "{e}"
    );
    let bad = attrs("EXPLICIT").with("explicit_paddings", vec![1i64, 0, 0, 0, 0, 0, 0, 0]);
    let e = call1(&CONV2D, &[x.clone(), f.clone()], &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch and depth dimensions must be 0"), "{e}");
    let bad = attrs("VALID").with("explicit_paddings", vec![0i64; 8]);
    let e = call1(&CONV2D, &[x.clone(), f.clone()], &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("must be empty"), "{e}");
    let e = call1(
        &CONV2D,
        &[x.clone(), f.clone()],
        &attrs("SAME").with("data_format", "NCHW"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("Conv2D: data_format"), "{e}");
    let e = call1(&MAX_POOL, std::slice::from_ref(&x), &attrs("SAME"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MaxPool: missing attribute 'ksize'"), "{e}");
    // Output size would be negative (VALID, kernel larger than the input).
    let e = ops::conv2d(
        &t(&[1, 1, 5, 3]),
        &t(&[4, 3, 3, 4]),
        &Conv2dOptions::valid(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("Conv2D: computed output size would be negative: -2"),
        "{e}"
    );
    // Pools reject explicit padding and bad windows.
    let e = ops::max_pool2d(&x, &[2], &[2], Padding::Explicit([[1, 1], [1, 1]]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("MaxPool: padding must be \"SAME\" or \"VALID\""),
        "{e}"
    );
    let e = ops::avg_pool2d(&x, &[2, 2, 2], &[2], Padding::Same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("AvgPool: ksize must have 1, 2 or 4 elements"),
        "{e}"
    );
    let e = ops::max_pool2d(&x, &[2, 2, 2, 2], &[1], Padding::Same)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("MaxPool: ksize in the batch and depth dimensions must be 1"),
        "{e}"
    );
    let e = ops::max_pool2d(&t(&[5, 5, 3]), &[2], &[2], Padding::Same)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MaxPool: input must be 4-dimensional"), "{e}");
}

#[test]
fn huge_attributes_are_errors_not_overflows() {
    let x = Tensor::zeros([1, 2, 2, 1], DType::F32).unwrap();
    let f = Tensor::zeros([3, 3, 1, 1], DType::F32).unwrap();
    let huge = 1usize << 62;
    let e = ops::conv2d(&x, &f, &Conv2dOptions::same().dilations(&[huge, 1]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("Conv2D: window geometry overflows"), "{e}");
    let pad = Padding::Explicit([[huge, huge], [0, 0]]);
    let e = ops::conv2d(&x, &f, &Conv2dOptions::new(pad))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("Conv2D:"), "{e}");
    let pad = Padding::Explicit([[1 << 40, 1 << 40], [1 << 40, 1 << 40]]);
    let e = ops::conv2d(&x, &f, &Conv2dOptions::new(pad))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2D: output shape") && e.contains("too many elements"),
        "{e}"
    );
    // A huge stride is fine: one output per spatial dimension.
    let y = ops::conv2d(&x, &f, &Conv2dOptions::same().strides(&[huge])).unwrap();
    assert_eq!(y.dims(), &[1, 1, 1, 1]);
    // A window far larger than the input only visits the valid positions.
    let x = Tensor::from_vec(vec![1.0f32, 5.0, -2.0, 3.0], [1, 2, 2, 1]).unwrap();
    let y = ops::max_pool2d(&x, &[huge], &[1], Padding::Same).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0; 4]);
    let y = ops::avg_pool2d(&x, &[huge], &[1], Padding::Same).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.75; 4]);
}

#[test]
fn conv2d_transpose_validates_output_shape() {
    let t = |d: &[usize]| Tensor::zeros(Shape::new(d), DType::F32).unwrap();
    let opts = Conv2dOptions::same().strides(&[2]);
    let (dy, f) = (t(&[2, 4, 4, 8]), t(&[3, 3, 5, 8]));
    assert_eq!(
        ops::conv2d_transpose(&dy, &f, &[2, 8, 8, 5], &opts)
            .unwrap()
            .dims(),
        &[2, 8, 8, 5]
    );
    // SAME with stride 2 maps 7 to 4 as well.
    assert_eq!(
        ops::conv2d_transpose(&dy, &f, &[2, 7, 8, 5], &opts)
            .unwrap()
            .dims(),
        &[2, 7, 8, 5]
    );
    let e = ops::conv2d_transpose(&dy, &f, &[2, 8, 8], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2DBackpropInput: output_shape must have 4 elements"),
        "{e}"
    );
    let e = ops::conv2d_transpose(&dy, &f, &[2, 9, 8, 5], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2DBackpropInput: size of out_backprop doesn't match computed: actual = 4, computed = 5"),
        "{e}"
    );
    let e = ops::conv2d_transpose(&dy, &f, &[3, 8, 8, 5], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("same batch size") && e.contains("[3,8,8,5]"),
        "{e}"
    );
    let e = ops::conv2d_transpose(&dy, &f, &[2, 8, 8, 4], &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("filter in_channels"), "{e}");
    let e = ops::conv2d_transpose(&t(&[2, 4, 4, 7]), &f, &[2, 8, 8, 5], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("out_backprop depth") && e.contains("[2,4,4,7]"),
        "{e}"
    );
    let e = ops::conv2d_transpose(&t(&[4, 4, 8]), &f, &[2, 8, 8, 5], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Conv2DBackpropInput: out_backprop must be 4-dimensional"),
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
fn shape_inference_on_partial_shapes() {
    let attrs = Attrs::new()
        .with("strides", vec![1i64, 2, 2, 1])
        .with("padding", "SAME");
    let s = infer(
        &CONV2D,
        &[
            vec![None, Some(28), None, Some(3)],
            vec![Some(3), Some(3), Some(3), Some(8)],
        ],
        &attrs,
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[None, Some(14), None, Some(8)]));
    let s = infer(
        &CONV2D,
        &[
            vec![Some(1), Some(28), Some(28), None],
            vec![None, Some(3), None, None],
        ],
        &attrs,
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[Some(1), None, Some(14), None]));
    let pool = attrs.clone().with("ksize", vec![1i64, 2, 2, 1]);
    let s = infer(&MAX_POOL, &[vec![None, Some(7), Some(8), Some(3)]], &pool).unwrap();
    assert_eq!(s, PartialShape::new(&[None, Some(4), Some(4), Some(3)]));
    let s = infer(
        &ops::DEPTHWISE_CONV2D,
        &[
            vec![None, Some(8), Some(8), Some(3)],
            vec![Some(3), Some(3), Some(3), Some(2)],
        ],
        &attrs,
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[None, Some(4), Some(4), Some(6)]));
    let t = attrs.clone().with("input_sizes", vec![2i64, 8, 8, 5]);
    let s = infer(
        &ops::CONV2D_BACKPROP_INPUT,
        &[
            vec![Some(3), Some(3), Some(5), Some(8)],
            vec![None, None, Some(4), None],
        ],
        &t,
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[Some(2), Some(8), Some(8), Some(5)]));
}
