//! SavedModel round trips, signatures, and damaged or foreign directories.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use tf_core::op::TensorSpec;
use tf_core::{DType, Tensor, Variable, ops};
use tf_graph::{Signature, cond, function, saved_model};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tf_graph_sm_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn mlp_dir(name: &str) -> (PathBuf, Tensor, Vec<f32>) {
    let w = Variable::builder(
        Tensor::from_vec((0..12).map(|i| i as f32 * 0.1 - 0.5).collect(), [4, 3]).unwrap(),
    )
    .name("dense/kernel")
    .build()
    .unwrap();
    let b = Variable::builder(Tensor::from_vec(vec![0.1f32, -0.2, 0.3], [3]).unwrap())
        .name("dense/bias")
        .build()
        .unwrap();
    let f = function(move |a| {
        let h = ops::bias_add(&ops::matmul(&a[0], &w.read()?)?, &b.read()?)?;
        Ok(vec![ops::softmax(&ops::relu(&h)?, -1)?])
    });
    let cf = f
        .get_concrete_function(&[TensorSpec::new(DType::F32, vec![None, Some(4)])])
        .unwrap();
    let x = Tensor::from_vec((0..8).map(|i| (i as f32).sin()).collect(), [2, 4]).unwrap();
    let expected = cf.call(std::slice::from_ref(&x)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let dir = tmp(name);
    saved_model::save(
        &dir,
        &[Signature::new("serving_default", cf)
            .inputs(&["x"])
            .outputs(&["probs"])],
    )
    .unwrap();
    (dir, x, expected)
}

#[test]
fn round_trip_runs_without_the_original_code() {
    let (dir, x, expected) = mlp_dir("rt");
    let m = saved_model::load(&dir).unwrap();
    let sig = m.signature("serving_default").unwrap();
    assert_eq!(sig.def.inputs[0].0, "x");
    assert_eq!(
        sig.def.inputs[0].1,
        TensorSpec::new(DType::F32, vec![None, Some(4)])
    );
    assert_eq!(sig.def.outputs[0].0, "probs");
    assert_eq!(sig.def.method_name, saved_model::PREDICT_METHOD);
    let got = sig.call(std::slice::from_ref(&x)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(got, expected);
    let mut named = HashMap::new();
    named.insert("x".to_string(), x);
    let out = sig.call_named(&named).unwrap();
    assert_eq!(out["probs"].to_vec::<f32>().unwrap(), expected);
    named.insert("y".to_string(), Tensor::from_scalar(1.0f32));
    assert!(
        sig.call_named(&named)
            .unwrap_err()
            .to_string()
            .contains("'y'")
    );
    assert_eq!(m.variables().len(), 2);
    assert!(
        m.signature("predict")
            .err()
            .unwrap()
            .to_string()
            .contains("serving_default")
    );
    // The JSON lists -1 for unknown dims.
    let text = std::fs::read_to_string(dir.join("saved_model.json")).unwrap();
    assert!(text.contains("-1"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn control_flow_and_variable_updates_survive_saving() {
    let v = Variable::new(Tensor::from_scalar(1.0f32)).unwrap();
    let vc = v.clone();
    let f = function(move |a| {
        let r = cond(
            &ops::greater(&a[0], &Tensor::from_scalar(0.0f32))?,
            || {
                vc.assign_add(&a[0])?;
                Ok(vec![vc.read()?])
            },
            || Ok(vec![ops::neg(&a[0])?]),
        )?;
        Ok(r)
    });
    let cf = f
        .get_concrete_function(&[TensorSpec::new(DType::F32, [])])
        .unwrap();
    let dir = tmp("cf");
    saved_model::save(&dir, &[Signature::new("serving_default", cf)]).unwrap();
    let m = saved_model::load(&dir).unwrap();
    let sig = m.signature("serving_default").unwrap();
    let a = sig.call(&[Tensor::from_scalar(2.0f32)]).unwrap();
    assert_eq!(a[0].scalar::<f32>().unwrap(), 3.0);
    let b = sig.call(&[Tensor::from_scalar(-5.0f32)]).unwrap();
    assert_eq!(b[0].scalar::<f32>().unwrap(), 5.0);
    // The loaded model has its own copy of the variable.
    assert_eq!(v.value().scalar::<f32>().unwrap(), 1.0);
    assert_eq!(m.variables()[0].value().scalar::<f32>().unwrap(), 3.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn damaged_or_foreign_directories_are_clear_errors() {
    let missing = tmp("missing");
    let e = saved_model::load(&missing).err().unwrap().to_string();
    assert!(e.contains("not a SavedModel"), "{e}");

    let (dir, _, _) = mlp_dir("damaged");
    let json_path = dir.join("saved_model.json");
    let good = std::fs::read_to_string(&json_path).unwrap();

    std::fs::write(&json_path, "{ not json").unwrap();
    assert!(saved_model::load(&dir).is_err());

    std::fs::write(
        &json_path,
        good.replace("tf-rs-saved-model", "something-else"),
    )
    .unwrap();
    let e = saved_model::load(&dir).err().unwrap().to_string();
    assert!(e.contains("tf-rs-saved-model"), "{e}");

    std::fs::write(&json_path, good.replace("\"MatMul\"", "\"NoSuchOp\"")).unwrap();
    let e = saved_model::load(&dir).err().unwrap().to_string();
    assert!(e.contains("NoSuchOp"), "{e}");

    // A tampered shape is caught by re-running inference.
    let tampered = good.replacen(
        "\"shape\": [\n            -1,\n            3\n          ]",
        "\"shape\": [\n            -1,\n            7\n          ]",
        1,
    );
    if tampered != good {
        std::fs::write(&json_path, tampered).unwrap();
        assert!(saved_model::load(&dir).is_err());
    }

    std::fs::write(&json_path, &good).unwrap();
    let vars = dir.join("variables").join("variables.safetensors");
    let bytes = std::fs::read(&vars).unwrap();
    std::fs::write(&vars, &bytes[..bytes.len() / 2]).unwrap();
    let e = saved_model::load(&dir).err().unwrap().to_string();
    assert!(e.contains("variables.safetensors"), "{e}");
    std::fs::write(&vars, &bytes).unwrap();
    assert!(saved_model::load(&dir).is_ok());

    // Random byte flips in the JSON never panic.
    let raw = good.as_bytes().to_vec();
    let mut s = 0x9e3779b97f4a7c15u64;
    for _ in 0..200 {
        let mut b = raw.clone();
        for _ in 0..4 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let i = (s % b.len() as u64) as usize;
            b[i] = (s >> 32) as u8;
        }
        std::fs::write(&json_path, &b).unwrap();
        let _ = saved_model::load(&dir);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn loaded_models_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<saved_model::SavedModel>();
    let (dir, x, expected) = mlp_dir("threads");
    let m = std::sync::Arc::new(saved_model::load(&dir).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            let x = x.clone();
            std::thread::spawn(move || {
                m.signature("serving_default").unwrap().call(&[x]).unwrap()[0]
                    .to_vec::<f32>()
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
    std::fs::remove_dir_all(&dir).ok();
}
