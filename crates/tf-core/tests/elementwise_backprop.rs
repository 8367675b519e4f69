//! The fused activation backprop ops (`ReluGrad`, `TanhGrad`, `SigmoidGrad`) against
//! naive f64 references: every supported dtype, scalar / zero-size / rank-3 shapes,
//! contiguous, strided, transposed and broadcast (stride-0) layouts, TensorFlow's NaN
//! behaviour, shape inference on partial shapes, and one test per error class.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef};
use tf_core::{DType, PartialShape, Tensor, ops};

const FLOATS: &[DType] = &[DType::F32, DType::F64, DType::F16, DType::BF16];
const NUMERIC: &[DType] = &[
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I8,
    DType::U8,
    DType::I32,
    DType::I64,
];
const SHAPES: &[&[usize]] = &[&[], &[0], &[7], &[3, 4], &[2, 3, 5], &[2, 0, 3]];

type OpFn = fn(&Tensor, &Tensor) -> tf_core::Result<Tensor>;

/// Runs `op(a, b)` on every layout pair of `a`, `b` and compares with `reference`
/// applied to the (dtype-rounded) input values, rounded to the dtype.
fn check_op(op: OpFn, name: &str, a: &Tensor, b: &Tensor, reference: fn(f64, f64) -> f64) {
    let dt = a.dtype();
    let (va, vb) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    let expected = round_to(
        dt,
        &va.iter()
            .zip(&vb)
            .map(|(&x, &y)| reference(x, y))
            .collect::<Vec<_>>(),
    );
    for (i, la) in layouts(a).iter().enumerate() {
        for (j, lb) in layouts(b).iter().enumerate() {
            let out = op(la, lb).unwrap();
            assert_eq!(out.dtype(), dt);
            assert_close(
                &out,
                &expected,
                a.dims(),
                tol(dt),
                tol(dt),
                &format!("{name} {dt} {:?} layouts {i},{j}", a.dims()),
            );
        }
    }
}

fn relu_grad_ref(g: f64, x: f64) -> f64 {
    g * if x > 0.0 { 1.0 } else { 0.0 }
}

fn tanh_grad_ref(y: f64, dy: f64) -> f64 {
    dy * (1.0 - y * y)
}

fn sigmoid_grad_ref(y: f64, dy: f64) -> f64 {
    dy * y * (1.0 - y)
}

#[test]
fn relu_grad_matches_reference_on_every_numeric_dtype_and_layout() {
    let mut r = rng(1);
    for &dt in NUMERIC {
        for dims in SHAPES {
            let g = random_tensor(&mut r, dt, dims);
            let mut x = random_tensor(&mut r, dt, dims);
            if x.num_elements() > 0 && dt != DType::U8 {
                // Exact zeros: relu'(0) = 0.
                let mut v = x.to_f64_vec().unwrap();
                v[0] = 0.0;
                x = tensor_from_f64(&v, dt, dims);
            }
            check_op(ops::relu_grad, "ReluGrad", &g, &x, relu_grad_ref);
        }
    }
}

#[test]
fn tanh_and_sigmoid_grad_match_reference_on_every_float_dtype_and_layout() {
    let mut r = rng(2);
    for &dt in FLOATS {
        for dims in SHAPES {
            let n: usize = dims.iter().product();
            let y: Vec<f64> = random_values(&mut r, DType::F64, n)
                .iter()
                .map(|v| v / 3.0)
                .collect();
            let y = tensor_from_f64(&y, dt, dims);
            let dy = random_tensor(&mut r, dt, dims);
            check_op(ops::tanh_grad, "TanhGrad", &y, &dy, tanh_grad_ref);
            check_op(ops::sigmoid_grad, "SigmoidGrad", &y, &dy, sigmoid_grad_ref);
        }
    }
}

#[test]
fn large_inputs_take_the_parallel_path() {
    let mut r = rng(3);
    let dims = [300, 257];
    for &dt in &[DType::F32, DType::BF16] {
        let g = random_tensor(&mut r, dt, &dims);
        let x = random_tensor(&mut r, dt, &dims);
        let y = tensor_from_f64(
            &x.to_f64_vec()
                .unwrap()
                .iter()
                .map(|v| v / 3.0)
                .collect::<Vec<_>>(),
            dt,
            &dims,
        );
        check_op(ops::relu_grad, "ReluGrad", &g, &x, relu_grad_ref);
        check_op(ops::tanh_grad, "TanhGrad", &y, &g, tanh_grad_ref);
        check_op(ops::sigmoid_grad, "SigmoidGrad", &y, &g, sigmoid_grad_ref);
    }
}

#[test]
fn broadcast_views_are_read_correctly() {
    // A gradient that is a stride-0 view (what reduce_sum's gradient produces).
    let g = ops::broadcast_to(&Tensor::from_scalar(2.5f32), &[2, 3]).unwrap();
    let x = Tensor::from_vec(vec![-1.0f32, 0.0, 1.0, 2.0, -3.0, 4.0], [2, 3]).unwrap();
    let out = ops::relu_grad(&g, &x).unwrap();
    assert_eq!(
        out.to_vec::<f32>().unwrap(),
        vec![0.0, 0.0, 2.5, 2.5, 0.0, 2.5]
    );
    let y = ops::broadcast_to(
        &Tensor::from_vec(vec![0.5f64, -0.25, 0.0], [3]).unwrap(),
        &[2, 3],
    )
    .unwrap();
    let dy = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    let out = ops::tanh_grad(&y, &dy).unwrap();
    let expected: Vec<f64> = [0.5, -0.25, 0.0, 0.5, -0.25, 0.0]
        .iter()
        .zip(1..=6)
        .map(|(&y, d)| tanh_grad_ref(y, d as f64))
        .collect();
    assert_close(&out, &expected, &[2, 3], 0.0, 0.0, "TanhGrad broadcast y");
}

#[test]
fn relu_grad_follows_tensorflow_on_nan_and_infinity() {
    // gradients · (features > 0): a NaN or infinite gradient where features <= 0 gives
    // NaN (0 · inf); a NaN feature is not > 0, so its gradient is 0.
    let g = Tensor::from_vec(vec![f32::NAN, f32::INFINITY, 1.0, f32::NAN], [4]).unwrap();
    let x = Tensor::from_vec(vec![-1.0f32, 0.0, f32::NAN, 2.0], [4]).unwrap();
    let out = ops::relu_grad(&g, &x).unwrap().to_vec::<f32>().unwrap();
    assert!(out[0].is_nan() && out[1].is_nan() && out[3].is_nan());
    assert_eq!(out[2], 0.0);
}

/// A symbolic tensor with a partial shape (as a tracer makes).
fn sym(dims: &[Option<usize>]) -> Tensor {
    Tensor::symbolic(DType::F32, PartialShape::new(dims), Arc::new(()))
}

fn infer(
    op: &'static OpDef,
    a: &[Option<usize>],
    b: &[Option<usize>],
) -> tf_core::Result<PartialShape> {
    let inputs = [sym(a), sym(b)];
    let specs = (op.infer)(&InferContext {
        op,
        inputs: &inputs,
        attrs: &Attrs::new(),
    })?;
    Ok(specs[0].shape.clone())
}

#[test]
fn shape_inference_merges_partial_shapes() {
    for op in [&ops::RELU_GRAD, &ops::TANH_GRAD, &ops::SIGMOID_GRAD] {
        let s = infer(op, &[None, Some(3), None], &[Some(2), None, None]).unwrap();
        assert_eq!(s.dims(), &[Some(2), Some(3), None]);
        let e = infer(op, &[None, Some(3)], &[None, Some(4)]).unwrap_err();
        assert!(e.to_string().contains(op.name), "{e}");
        assert!(infer(op, &[Some(3)], &[Some(3), Some(1)]).is_err());
    }
}

#[test]
fn mismatched_shapes_are_an_error_naming_the_op_and_shapes() {
    let a = Tensor::zeros([2, 3], DType::F32).unwrap();
    let b = Tensor::zeros([3], DType::F32).unwrap();
    for (name, op) in [
        ("ReluGrad", ops::relu_grad as OpFn),
        ("TanhGrad", ops::tanh_grad),
        ("SigmoidGrad", ops::sigmoid_grad),
    ] {
        let e = op(&a, &b).unwrap_err().to_string();
        assert!(
            e.contains(name) && e.contains("[2,3]") && e.contains("[3]"),
            "{e}"
        );
    }
}

#[test]
fn mismatched_dtypes_are_an_error() {
    let a = Tensor::zeros([2], DType::F32).unwrap();
    let b = Tensor::zeros([2], DType::F64).unwrap();
    let e = ops::relu_grad(&a, &b).unwrap_err().to_string();
    assert!(e.contains("ReluGrad") && e.contains("float64"), "{e}");
    let e = ops::tanh_grad(&a, &b).unwrap_err().to_string();
    assert!(e.contains("TanhGrad"), "{e}");
}

#[test]
fn unsupported_dtypes_are_an_error() {
    let i = Tensor::zeros([2], DType::I32).unwrap();
    let e = ops::sigmoid_grad(&i, &i).unwrap_err().to_string();
    assert!(e.contains("SigmoidGrad") && e.contains("int32"), "{e}");
    assert!(ops::tanh_grad(&i, &i).is_err());
    let b = Tensor::from_vec(vec![true, false], [2]).unwrap();
    let e = ops::relu_grad(&b, &b).unwrap_err().to_string();
    assert!(e.contains("ReluGrad") && e.contains("bool"), "{e}");
}
