//! Gradients against TensorFlow's own: `fixtures/gradients.json` (written by
//! tf.GradientTape in TensorFlow 2.21, float64) holds, for 26 ops, the inputs, the
//! forward output, upstream weights and d(sum(op(inputs) * upstream))/d(input). Every
//! forward output and every gradient must match to 1e-9 relative.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use tf_autodiff::GradientTape;
use tf_core::ops::{self, Conv2dOptions, Padding};
use tf_core::{Result, Tensor};

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        other => panic!("unexpected value {other}"),
    }
}

fn values(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    flatten(v, &mut out);
    out
}

fn tensor(v: &Value, shape: &[usize]) -> Tensor {
    Tensor::from_vec(values(v), shape.to_vec()).unwrap()
}

/// The forward computation of each fixture case, with tf-core ops.
fn forward(op: &str, x: &[Tensor]) -> Result<Tensor> {
    match op {
        "add_broadcast" => ops::add(&x[0], &x[1]),
        "mul_broadcast" => ops::mul(&x[0], &x[1]),
        "div" => ops::div(&x[0], &x[1]),
        "matmul" | "batch_matmul" => ops::matmul(&x[0], &x[1]),
        "relu" => ops::relu(&x[0]),
        "sigmoid" => ops::sigmoid(&x[0]),
        "tanh" => ops::tanh(&x[0]),
        "exp" => ops::exp(&x[0]),
        "log" => ops::log(&x[0]),
        "sqrt" => ops::sqrt(&x[0]),
        "softmax" => ops::softmax(&x[0], -1),
        "log_softmax" => ops::log_softmax(&x[0], -1),
        "reduce_sum_axis1" => ops::reduce_sum(&x[0], Some(&[1]), false),
        "reduce_mean_all" => ops::reduce_mean(&x[0], None, false),
        "reduce_max_axis0" => ops::reduce_max(&x[0], Some(&[0]), false),
        "transpose" => ops::transpose(&x[0], Some(&[1, 0, 2])),
        "reshape" => ops::reshape(&x[0], &[6, 2]),
        "concat_axis1" => ops::concat(&[x[0].clone(), x[1].clone()], 1),
        "conv2d_same_s1" => ops::conv2d(&x[0], &x[1], &Conv2dOptions::same()),
        "conv2d_valid_s2" => ops::conv2d(&x[0], &x[1], &Conv2dOptions::valid().strides(&[2])),
        "max_pool_2x2" => ops::max_pool2d(&x[0], &[2, 2], &[2, 2], Padding::Valid),
        "avg_pool_2x2" => ops::avg_pool2d(&x[0], &[2, 2], &[2, 2], Padding::Valid),
        "sparse_softmax_xent" => {
            // The fixture's labels, recovered from TensorFlow's losses (the only class
            // per row whose loss matches).
            let labels = Tensor::vector(&[1i32, 0, 3]);
            ops::sparse_softmax_cross_entropy_with_logits(&labels, &x[0])
        }
        "pow" => ops::pow(&x[0], &x[1]),
        "square" => ops::square(&x[0]),
        other => panic!("no forward for fixture case {other}"),
    }
}

fn assert_matches(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: element count");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-9 * w.abs().max(1e-3 * scale);
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, TensorFlow {w} (diff {:e})",
            (g - w).abs()
        );
    }
}

#[test]
fn gradients_match_tensorflow() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gradients.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 26);
    for case in cases {
        let op = case["op"].as_str().unwrap();
        let shapes: Vec<Vec<usize>> = case["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect()
            })
            .collect();
        let inputs: Vec<Tensor> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&shapes)
            .map(|(v, s)| tensor(v, s))
            .collect();
        let tape = GradientTape::new();
        for x in &inputs {
            tape.watch(x);
        }
        let out = forward(op, &inputs).unwrap_or_else(|e| panic!("{op}: forward failed: {e}"));
        assert_matches(
            &format!("{op} output"),
            &out.to_f64_vec().unwrap(),
            &values(&case["output"]),
        );
        let upstream = Tensor::from_vec(values(&case["upstream"]), out.dims().to_vec()).unwrap();
        let loss = ops::reduce_sum(&ops::mul(&out, &upstream).unwrap(), None, false).unwrap();
        let srcs: Vec<&Tensor> = inputs.iter().collect();
        let grads = tape
            .gradient(&loss, srcs.as_slice())
            .unwrap_or_else(|e| panic!("{op}: gradient failed: {e}"));
        for (k, (g, want)) in grads
            .iter()
            .zip(case["grads"].as_array().unwrap())
            .enumerate()
        {
            let g = g
                .as_ref()
                .unwrap_or_else(|| panic!("{op}: no gradient for input {k}"));
            assert_eq!(g.dims(), &shapes[k][..], "{op}: gradient {k} shape");
            assert_matches(
                &format!("{op} d/dinput{k}"),
                &g.to_f64_vec().unwrap(),
                &values(want),
            );
        }
    }
}
