//! The interpreter against LiteRT on TensorFlow's own converter output: float32 models
//! within 1e-5 (relative to the output's magnitude), int8 models within one quantization
//! unit (see the crate README for where and why single units differ).

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests do

use tf_core::Tensor;
use tf_lite::Interpreter;

fn path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn first_row(t: &Tensor) -> Tensor {
    let dims = t.shape().dims().to_vec();
    let row: usize = dims[1..].iter().product();
    let v = t.to_vec::<f32>().unwrap();
    let mut shape = dims.clone();
    shape[0] = 1;
    Tensor::from_vec(v[..row].to_vec(), shape).unwrap()
}

fn run(model: &str, input: &Tensor) -> Tensor {
    let mut it = Interpreter::from_file(path(model)).unwrap();
    it.set_input(0, input).unwrap();
    it.invoke().unwrap();
    it.output_tensor(0).unwrap()
}

#[test]
fn float32_models_match_litert() {
    for name in ["mlp", "cnn"] {
        let x = first_row(&Tensor::read_npy(path(&format!("{name}_input.npy"))).unwrap());
        let got = run(&format!("{name}_f32.tflite"), &x);
        let want = Tensor::read_npy(path(&format!("{name}_f32_output_b1.npy"))).unwrap();
        assert_eq!(got.shape().dims(), want.shape().dims(), "{name}");
        let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
        let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (a, b) in g.iter().zip(&w) {
            assert!((a - b).abs() <= 1e-5 * scale, "{name}: {g:?} vs {w:?}");
        }
    }
}

#[test]
fn bench_cnn_int8_matches_litert() {
    // 32- and 64-channel convolutions (the AVX-512 int8 kernels where the CPU has them),
    // batch 3, LiteRT's output from `fixtures/make_bench_outputs.py`.
    let x = Tensor::read_npy(path("bench_cnn_int8_input.npy")).unwrap();
    let mut it = Interpreter::from_file(format!(
        "{}/benches/models/bench_cnn_int8.tflite",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    it.set_input(0, &x).unwrap();
    it.invoke().unwrap();
    let got = it.output::<i8>(0).unwrap().to_vec();
    let want = Tensor::read_npy(path("bench_cnn_int8_litert.npy"))
        .unwrap()
        .to_vec::<i8>()
        .unwrap();
    assert_eq!(got.len(), want.len());
    for (a, b) in got.iter().zip(&want) {
        assert!(
            (i32::from(*a) - i32::from(*b)).abs() <= 1,
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn int8_mean_matches_litert() {
    // CONV_2D → MEAN (GlobalAveragePooling2D) → FULLY_CONNECTED from TensorFlow's
    // converter, batch 4; LiteRT's output from `fixtures/make_mean_int8.py`.
    let x = Tensor::read_npy(path("gap_int8_input.npy")).unwrap();
    let got = run("gap_int8.tflite", &x).to_vec::<i8>().unwrap();
    let want = Tensor::read_npy(path("gap_int8_litert.npy"))
        .unwrap()
        .to_vec::<i8>()
        .unwrap();
    assert_eq!(got.len(), want.len());
    for (a, b) in got.iter().zip(&want) {
        assert!(
            (i32::from(*a) - i32::from(*b)).abs() <= 1,
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn int8_models_match_litert() {
    for name in ["mlp", "cnn"] {
        let x = Tensor::read_npy(path(&format!("{name}_int8_input_b1.npy"))).unwrap();
        let got = run(&format!("{name}_int8.tflite"), &x);
        let want = Tensor::read_npy(path(&format!("{name}_int8_output_b1.npy"))).unwrap();
        assert_eq!(got.shape().dims(), want.shape().dims(), "{name}");
        let (g, w) = (got.to_vec::<i8>().unwrap(), want.to_vec::<i8>().unwrap());
        let diffs: Vec<i32> = g
            .iter()
            .zip(&w)
            .map(|(a, b)| i32::from(*a) - i32::from(*b))
            .collect();
        eprintln!("{name}_int8: ours {g:?}\n          litert {w:?}");
        assert!(diffs.iter().all(|d| d.abs() <= 1), "{name}: {g:?} vs {w:?}");
    }
}

#[test]
fn dynamic_batch_resizes() {
    // The CNN's dynamic batch goes through SHAPE → STRIDED_SLICE → PACK → RESHAPE, folded
    // while preparing; a batch of 4 must equal four batches of 1.
    let x = Tensor::read_npy(path("cnn_input.npy")).unwrap();
    let batch = x.shape().dims()[0];
    let all = run("cnn_f32.tflite", &x).to_vec::<f32>().unwrap();
    let v = x.to_vec::<f32>().unwrap();
    let row = v.len() / batch;
    let mut shape = x.shape().dims().to_vec();
    shape[0] = 1;
    for b in 0..batch {
        let xb = Tensor::from_vec(v[b * row..(b + 1) * row].to_vec(), shape.clone()).unwrap();
        let one = run("cnn_f32.tflite", &xb).to_vec::<f32>().unwrap();
        let n = one.len();
        for (a, c) in one.iter().zip(&all[b * n..(b + 1) * n]) {
            assert!((a - c).abs() <= 1e-5, "row {b}");
        }
    }
}

#[test]
fn keras_outputs_agree_with_float32_model() {
    // Independent check: Keras's own predictions for the whole batch.
    for name in ["mlp", "cnn"] {
        let x = Tensor::read_npy(path(&format!("{name}_input.npy"))).unwrap();
        let got = run(&format!("{name}_f32.tflite"), &x)
            .to_vec::<f32>()
            .unwrap();
        let want = Tensor::read_npy(path(&format!("{name}_keras_output.npy")))
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-4, "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn invoke_does_not_reallocate() {
    let mut it = Interpreter::from_file(path("cnn_int8.tflite")).unwrap();
    it.allocate_tensors().unwrap();
    let before = it.output_bytes(0).unwrap().as_ptr();
    for _ in 0..3 {
        it.invoke().unwrap();
    }
    assert_eq!(it.output_bytes(0).unwrap().as_ptr(), before);
    // Shape ops were folded: only the compute ops run.
    assert!(it.planned_ops().unwrap() <= 6, "{:?}", it.planned_ops());
}

#[test]
fn signature_runner_uses_names() {
    let it = Interpreter::from_file(path("mlp_f32.tflite")).unwrap();
    assert_eq!(it.signature_keys(), vec!["serving_default".to_string()]);
    let mut r = it.signature_runner("serving_default").unwrap();
    let name = r.input_names()[0].to_string();
    let x = first_row(&Tensor::read_npy(path("mlp_input.npy")).unwrap());
    let out = r.run(&[(&name, &x)]).unwrap();
    let want = Tensor::read_npy(path("mlp_f32_output_b1.npy")).unwrap();
    let (g, w) = (
        out[0].1.to_vec::<f32>().unwrap(),
        want.to_vec::<f32>().unwrap(),
    );
    for (a, b) in g.iter().zip(&w) {
        assert!((a - b).abs() <= 1e-5);
    }
    let e = r.run(&[("nope", &x)]).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    assert!(it.signature_runner("missing").is_err());
}

#[test]
fn wrong_input_dtype_is_an_error() {
    let mut it = Interpreter::from_file(path("mlp_int8.tflite")).unwrap();
    let x = Tensor::from_vec(vec![0f32; 64], [1, 64]).unwrap();
    let e = it.set_input(0, &x).unwrap_err().to_string();
    assert!(e.contains("INT8"), "{e}");
    assert!(it.input_mut::<f32>(0).is_err());
}
