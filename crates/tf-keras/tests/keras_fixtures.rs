//! `load_model` on `.keras` files written by Python Keras 3.15 (see
//! `fixtures/README.md`): the rebuilt models predict Keras's own outputs.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use tf_core::Tensor;
use tf_keras::load_model;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn mlp_fixture_predicts_keras_output() {
    let mut model = load_model(fixture("mlp.keras")).unwrap();
    assert!(model.is_sequential());
    assert_eq!(model.name(), "sequential");
    let x = Tensor::read_npy(fixture("mlp_input.npy")).unwrap();
    let want = Tensor::read_npy(fixture("mlp_keras_output.npy")).unwrap();
    let got = model.predict(&x, 32).unwrap();
    let d = max_abs_diff(&got, &want);
    assert!(d < 1e-5, "max difference {d}");
    // The compile config came along: Adam with Keras's defaults and the saved state.
    let c = model.compiled().unwrap();
    assert_eq!(c.optimizer.class_name(), "Adam");
    assert!(c.optimizer.iterations().unwrap() > 0);
    assert!((c.optimizer.learning_rate().unwrap() - 0.001).abs() < 1e-9);
}

#[test]
fn cnn_fixture_predicts_keras_output() {
    let mut model = load_model(fixture("cnn.keras")).unwrap();
    let x = Tensor::read_npy(fixture("cnn_input.npy")).unwrap();
    let want = Tensor::read_npy(fixture("cnn_keras_output.npy")).unwrap();
    let got = model.predict(&x, 2).unwrap();
    let d = max_abs_diff(&got, &want);
    assert!(d < 1e-5, "max difference {d}");
    let summary = model.summary_string().unwrap();
    assert!(
        summary.contains(
            "│ conv2d (Conv2D)                 │ (None, 26, 26, 8)      │            80 │"
        ),
        "{summary}"
    );
}

#[test]
fn unsupported_layer_class_is_named() {
    // Rewrite the MLP's config with a layer class we do not implement.
    let dir = std::env::temp_dir().join(format!("tfk_unsupported_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::fs::read(fixture("mlp.keras")).unwrap();
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(src)).unwrap();
    let out_path = dir.join("bad.keras");
    let mut zout = zip::ZipWriter::new(std::fs::File::create(&out_path).unwrap());
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
        if name == "config.json" {
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replacen("\"Dense\"", "\"FancyCapsule\"", 1)
                .into_bytes();
        }
        zout.start_file(
            name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        std::io::Write::write_all(&mut zout, &bytes).unwrap();
    }
    zout.finish().unwrap();
    let err = load_model(&out_path).err().expect("must fail").to_string();
    assert!(err.contains("FancyCapsule"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn not_a_zip_is_a_format_error() {
    let dir = std::env::temp_dir().join(format!("tfk_notzip_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("junk.keras");
    std::fs::write(&p, b"definitely not a zip archive").unwrap();
    let err = load_model(&p).err().expect("must fail").to_string();
    assert!(err.contains("junk.keras"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
