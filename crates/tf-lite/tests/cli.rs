//! The `tflite` binary end to end: run (plain and through a signature), inspect, bench,
//! and errors that name what is wrong.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests do

use std::process::Command;
use tf_core::Tensor;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn tflite(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tflite"))
        .args(args)
        .output()
        .unwrap()
}

fn tmp(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("tflite-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).display().to_string()
}

#[test]
fn run_writes_litert_outputs() {
    let out = tmp("cnn_int8_out.npy");
    let o = tflite(&[
        "run",
        &fixture("cnn_int8.tflite"),
        "--input",
        &fixture("cnn_int8_input_b1.npy"),
        "--output",
        &out,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = Tensor::read_npy(&out).unwrap().to_vec::<i8>().unwrap();
    let want = Tensor::read_npy(fixture("cnn_int8_output_b1.npy"))
        .unwrap()
        .to_vec::<i8>()
        .unwrap();
    assert_eq!(got, want);

    // Through the signature, float32 MLP, batch of 4.
    let out = tmp("mlp_out.npy");
    let o = tflite(&[
        "run",
        &fixture("mlp_f32.tflite"),
        "--input",
        &fixture("mlp_input.npy"),
        "--output",
        &out,
        "--signature",
        "serving_default",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = Tensor::read_npy(&out).unwrap();
    assert_eq!(got.shape().dims(), &[4, 10]);
}

#[test]
fn inspect_lists_tensors_ops_and_signatures() {
    let o = tflite(&["inspect", &fixture("cnn_int8.tflite")]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for want in [
        "CONV_2D",
        "MAX_POOL_2D",
        "FULLY_CONNECTED",
        "serving_default",
        "INT8",
        "scales on axis 0",
    ] {
        assert!(s.contains(want), "missing {want} in:\n{s}");
    }
}

#[test]
fn bench_prints_latency() {
    let o = tflite(&["bench", &fixture("mlp_int8.tflite"), "--runs", "20"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("median") && s.contains("p99"), "{s}");
}

#[test]
fn errors_name_the_problem() {
    let o = tflite(&[
        "run",
        "/nonexistent.tflite",
        "--input",
        "x.npy",
        "--output",
        "y.npy",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.tflite"));
    // A float input for an int8 model.
    let o = tflite(&[
        "run",
        &fixture("mlp_int8.tflite"),
        "--input",
        &fixture("mlp_input.npy"),
        "--output",
        &tmp("x.npy"),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("INT8"));
    let o = tflite(&["convert", "m.keras", "-o", "o.tflite"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("m.keras"));
    let o = tflite(&[
        "convert",
        &fixture("mlp.keras"),
        "-o",
        &tmp("o.tflite"),
        "--quantize",
        "int8",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--representative"));
}
