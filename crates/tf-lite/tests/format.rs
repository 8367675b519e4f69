//! The `.tflite` reader and writer on TensorFlow's own files: structure as LiteRT sees it,
//! byte-level round trips, and hostile inputs (truncations, random mutations) that must
//! be errors, never panics.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests do

use proptest::prelude::*;
use tf_lite::format::{self, BuiltinOperator, TensorType};

const FIXTURES: [&str; 4] = ["mlp_f32", "mlp_int8", "cnn_f32", "cnn_int8"];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}.tflite",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn reads_tensorflow_converter_output() {
    for name in FIXTURES {
        let m = format::read_model(&fixture(name)).unwrap();
        assert_eq!(m.version, 3, "{name}");
        assert_eq!(m.description.as_deref(), Some("MLIR Converted."), "{name}");
        let buffers = m.buffers.as_ref().unwrap();
        assert!(buffers[0].data.as_ref().is_none_or(Vec::is_empty));
        let sigs = m.signature_defs.as_ref().unwrap();
        assert_eq!(sigs[0].signature_key.as_deref(), Some("serving_default"));
        let meta: Vec<_> = m
            .metadata
            .iter()
            .flatten()
            .map(|x| x.name.clone().unwrap())
            .collect();
        assert!(meta.iter().any(|n| n == "min_runtime_version"), "{meta:?}");
        let sg = &m.subgraphs.as_ref().unwrap()[0];
        let codes: Vec<_> = m
            .operator_codes
            .iter()
            .flatten()
            .map(format::builtin_code)
            .collect();
        assert!(
            codes.contains(&BuiltinOperator::FULLY_CONNECTED),
            "{name}: {codes:?}"
        );
        if name.starts_with("cnn") {
            assert!(codes.contains(&BuiltinOperator::CONV_2D));
            assert!(codes.contains(&BuiltinOperator::MAX_POOL_2D));
        }
        let tensors = sg.tensors.as_ref().unwrap();
        let input = &tensors[sg.inputs.as_ref().unwrap()[0] as usize];
        if name.ends_with("int8") {
            assert_eq!(input.type_, TensorType::INT8);
            let q = input.quantization.as_ref().unwrap();
            assert_eq!(q.scale.as_ref().unwrap().len(), 1);
            // Per-channel weights: some tensor has several scales on its quantized axis.
            assert!(tensors.iter().any(|t| {
                t.quantization
                    .as_ref()
                    .and_then(|q| q.scale.as_ref())
                    .is_some_and(|s| s.len() > 1)
            }));
        } else {
            assert_eq!(input.type_, TensorType::FLOAT32);
        }
    }
}

#[test]
fn write_then_read_is_identity() {
    for name in FIXTURES {
        let m = format::read_model(&fixture(name)).unwrap();
        let bytes = format::write_model(&m).unwrap();
        assert_eq!(&bytes[4..8], b"TFL3");
        let back = format::read_model(&bytes).unwrap();
        assert_eq!(back, m, "{name}");
        // Writing is deterministic.
        assert_eq!(format::write_model(&back).unwrap(), bytes);
    }
}

#[test]
fn rejects_truncated_and_foreign_files() {
    let bytes = fixture("mlp_int8");
    for cut in [0, 3, 7, 8, 16, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(format::read_model(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut wrong_id = bytes.clone();
    wrong_id[4..8].copy_from_slice(b"XXXX");
    let e = format::read_model(&wrong_id).unwrap_err().to_string();
    assert!(e.contains("TFL3"), "{e}");
}

#[test]
fn rejects_out_of_range_indices() {
    let m = format::read_model(&fixture("mlp_f32")).unwrap();
    let mut bad = m.clone();
    bad.subgraphs.as_mut().unwrap()[0]
        .operators
        .as_mut()
        .unwrap()[0]
        .opcode_index = 99;
    let e = format::read_model(&format::write_model(&bad).unwrap()).unwrap_err();
    assert!(e.to_string().contains("opcode index 99"), "{e}");
    let mut bad = m.clone();
    bad.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[0].buffer = 1000;
    let e = format::read_model(&format::write_model(&bad).unwrap()).unwrap_err();
    assert!(e.to_string().contains("buffer 1000"), "{e}");
    let mut bad = m.clone();
    bad.subgraphs.as_mut().unwrap()[0]
        .operators
        .as_mut()
        .unwrap()[0]
        .inputs
        .as_mut()
        .unwrap()[0] = 5000;
    let e = format::read_model(&format::write_model(&bad).unwrap()).unwrap_err();
    assert!(e.to_string().contains("input tensor 5000"), "{e}");
    let mut bad = m.clone();
    bad.buffers.as_mut().unwrap()[0].data = Some(vec![1, 2, 3]);
    let e = format::read_model(&format::write_model(&bad).unwrap()).unwrap_err();
    assert!(e.to_string().contains("sentinel"), "{e}");
    let mut bad = m;
    let has_data: Vec<bool> = bad
        .buffers
        .iter()
        .flatten()
        .map(|b| b.data.as_ref().is_some_and(|d| !d.is_empty()))
        .collect();
    let sg = &mut bad.subgraphs.as_mut().unwrap()[0];
    let t = sg
        .tensors
        .as_mut()
        .unwrap()
        .iter_mut()
        .find(|t| has_data[t.buffer as usize])
        .unwrap();
    t.shape.as_mut().unwrap()[0] += 1;
    let e = format::read_model(&format::write_model(&bad).unwrap()).unwrap_err();
    assert!(e.to_string().contains("needs"), "{e}");
}

#[test]
fn operator_codes_follow_the_extended_code_rule() {
    let c = format::operator_code(BuiltinOperator::GELU, 1);
    assert_eq!(
        (c.deprecated_builtin_code, c.builtin_code),
        (127, BuiltinOperator::GELU)
    );
    let c = format::operator_code(BuiltinOperator::CONV_2D, 2);
    assert_eq!(c.deprecated_builtin_code, 3);
    // Old files carry only the deprecated byte.
    let mut old = format::OperatorCode::default();
    old.deprecated_builtin_code = 9;
    old.builtin_code = BuiltinOperator::ADD;
    assert_eq!(format::builtin_code(&old), BuiltinOperator::FULLY_CONNECTED);
    assert_eq!(format::op_name(BuiltinOperator(9999)), "BUILTIN_9999");
}

fn check_no_panic(bytes: &[u8]) {
    // Reading may fail; if it succeeds, building an interpreter and running must not panic
    // either (errors are fine).
    if let Ok(m) = format::read_model(bytes)
        && let Ok(mut it) = tf_lite::Interpreter::new(m)
        && it.allocate_tensors().is_ok()
        && it.arena_bytes().is_some_and(|b| b < 1 << 26)
    {
        let _ = it.invoke();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = fixture(FIXTURES[which]);
        for (i, v) in edits {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        check_no_panic(&bytes);
    }

    #[test]
    fn mutated_headers_never_panic(
        which in 0usize..4,
        at in 0usize..256,
        v in any::<u32>(),
    ) {
        // Offsets live mostly near the start (root table, vtables, vector headers).
        let mut bytes = fixture(FIXTURES[which]);
        let at = at.min(bytes.len() - 4) & !3;
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
        check_no_panic(&bytes);
    }
}
