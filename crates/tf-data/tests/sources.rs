//! Sources: tensor slices (tensors, tuples, maps, strings; rows are views), from_tensors,
//! range (steps, dtypes), generators and one-shot iterators, from_elements.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use std::collections::BTreeMap;
use tf_core::{DType, Error, PartialShape, Tensor};
use tf_data::{Cardinality, Dataset, Element, ElementSpec};

#[test]
fn slices_of_a_tensor_are_views() {
    let t = Tensor::from_vec((0..12).map(|v| v as f32).collect(), [4, 3]).unwrap();
    let ds = Dataset::from_tensor_slices(t.clone()).unwrap();
    assert_eq!(ds.cardinality(), Cardinality::Finite(4));
    assert_eq!(
        ds.element_spec(),
        ElementSpec::tensor(DType::F32, vec![Some(3)])
    );
    let rows = ds.collect().unwrap();
    assert_eq!(rows.len(), 4);
    for (i, r) in rows.iter().enumerate() {
        let r = r.tensor().unwrap();
        assert!(r.shares_storage_with(&t), "row {i} was copied");
        assert_eq!(
            r.to_vec::<f32>().unwrap(),
            vec![3.0 * i as f32, 3.0 * i as f32 + 1.0, 3.0 * i as f32 + 2.0]
        );
    }
}

#[test]
fn slices_of_a_transposed_view() {
    let t = Tensor::from_vec((0..6).map(|v| v as i64).collect(), [2, 3]).unwrap();
    let tt = t.transpose(None).unwrap(); // [3, 2]: rows (0,3), (1,4), (2,5)
    let ds = Dataset::from_tensor_slices(tt).unwrap();
    let rows: Vec<Vec<i64>> = ds.collect().unwrap().iter().map(tvec).collect();
    assert_eq!(rows, vec![vec![0, 3], vec![1, 4], vec![2, 5]]);
    // Batching the strided rows gives a contiguous copy with the same values.
    let b = ds.batch(3, false).unwrap().collect().unwrap();
    assert_eq!(tvec(&b[0]), vec![0, 3, 1, 4, 2, 5]);
}

#[test]
fn slices_of_tuples_maps_and_strings() {
    let mut m = BTreeMap::new();
    m.insert(
        "x".to_string(),
        Element::Tensor(i64s(&[1, 2, 3, 4, 5, 6], &[3, 2])),
    );
    m.insert("s".to_string(), Element::Strings(strings(&["a", "b", "c"])));
    let ds = Dataset::from_tensor_slices((Element::Map(m), i32s(&[7, 8, 9]))).unwrap();
    assert_eq!(
        ds.element_spec().to_string(),
        "({'s': TensorSpec(shape=[], dtype=string), 'x': TensorSpec(shape=[2], dtype=int64)}, TensorSpec(shape=[], dtype=int32))"
    );
    let v = values(&ds);
    assert_eq!(
        serde_json::Value::Array(v),
        serde_json::json!([[{"s": "a", "x": [1, 2]}, 7], [{"s": "b", "x": [3, 4]}, 8], [{"s": "c", "x": [5, 6]}, 9]])
    );
}

#[test]
fn slices_errors() {
    let err = Dataset::from_tensor_slices(Tensor::from_scalar(1.0f32)).unwrap_err();
    assert!(err.to_string().contains("non-scalar"), "{err}");
    let err = Dataset::from_tensor_slices((i32s(&[1, 2, 3]), i32s(&[1, 2]))).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("size 3") && msg.contains("size 2"), "{msg}");
    assert_eq!(err.code(), "INVALID_ARGUMENT");
}

#[test]
fn zero_rows() {
    let ds = Dataset::from_tensor_slices(Tensor::zeros([0, 4], DType::F32).unwrap()).unwrap();
    assert_eq!(ds.cardinality(), Cardinality::Finite(0));
    assert!(ds.collect().unwrap().is_empty());
    assert!(ds.batch(2, false).unwrap().collect().unwrap().is_empty());
}

#[test]
fn from_tensors_is_one_element() {
    let ds = Dataset::from_tensors((i32s(&[1, 2, 3]), strings(&["x"])));
    assert_eq!(ds.cardinality(), Cardinality::Finite(1));
    assert_eq!(values(&ds), vec![serde_json::json!([[1, 2, 3], ["x"]])]);
}

#[test]
fn ranges() {
    assert_eq!(ints(&Dataset::range(0, 5, 1).unwrap()), vec![0, 1, 2, 3, 4]);
    assert_eq!(ints(&Dataset::range(2, 11, 3).unwrap()), vec![2, 5, 8]);
    assert_eq!(ints(&Dataset::range(5, 0, -2).unwrap()), vec![5, 3, 1]);
    assert!(ints(&Dataset::range(5, 0, 1).unwrap()).is_empty());
    let f = Dataset::range_with_dtype(0, 3, 1, DType::F32).unwrap();
    assert_eq!(
        f.element_spec(),
        ElementSpec::tensor(DType::F32, PartialShape::scalar())
    );
    let v: Vec<f32> = f
        .collect()
        .unwrap()
        .iter()
        .map(|e| e.tensor().unwrap().scalar::<f32>().unwrap())
        .collect();
    assert_eq!(v, vec![0.0, 1.0, 2.0]);
    assert!(
        Dataset::range(0, 5, 0)
            .unwrap_err()
            .to_string()
            .contains("step")
    );
    assert!(Dataset::range_with_dtype(0, 5, 1, DType::Bool).is_err());
}

#[test]
fn generators_are_checked_and_rerun_each_epoch() {
    let spec = ElementSpec::tensor(DType::I64, vec![None]);
    let ds = Dataset::from_generator(
        || (1..4).map(|n| Ok(Element::Tensor(Tensor::from_vec(vec![n as i64; n], [n])?))),
        spec.clone(),
    );
    assert_eq!(ds.cardinality(), Cardinality::Unknown);
    assert_eq!(ds.element_spec(), spec);
    for _ in 0..2 {
        assert_eq!(
            ds.collect().unwrap().iter().map(tvec).collect::<Vec<_>>(),
            vec![vec![1], vec![2, 2], vec![3, 3, 3]]
        );
    }
    // An element that does not match the signature is an error item naming it.
    let bad = Dataset::from_generator(
        || {
            vec![
                Ok(Element::Tensor(Tensor::from_scalar(1i64))),
                Ok(Element::Tensor(Tensor::from_scalar(1.0f32))),
            ]
        },
        ElementSpec::tensor(DType::I64, PartialShape::scalar()),
    );
    let items: Vec<_> = bad.iter().unwrap().collect();
    assert!(items[0].is_ok());
    let msg = items[1].as_ref().unwrap_err().to_string();
    assert!(
        msg.contains("element 1") && msg.contains("float32"),
        "{msg}"
    );
}

#[test]
fn one_shot_iterators_run_once() {
    let ds = Dataset::from_iter(
        (0..3i64).map(|i| Ok(Element::Tensor(Tensor::from_scalar(i)))),
        ElementSpec::tensor(DType::I64, PartialShape::scalar()),
    );
    assert_eq!(ints(&ds), vec![0, 1, 2]);
    let err = ds.iter().err().unwrap();
    assert_eq!(err.code(), "FAILED_PRECONDITION");
}

#[test]
fn from_elements_merges_specs() {
    let ds = Dataset::from_elements(vec![
        Element::Tensor(i32s(&[1, 2])),
        Element::Tensor(i32s(&[3])),
    ])
    .unwrap();
    assert_eq!(
        ds.element_spec(),
        ElementSpec::tensor(DType::I32, vec![None])
    );
    assert!(Dataset::from_elements(vec![]).is_err());
    let err = Dataset::from_elements(vec![
        Element::Tensor(i32s(&[1])),
        Element::Tensor(Tensor::from_scalar(1.0f32)),
    ])
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
}

#[test]
fn iterating_a_reference_runs_an_epoch() {
    let ds = Dataset::range(0, 3, 1).unwrap();
    let mut n = 0;
    for e in &ds {
        e.unwrap();
        n += 1;
    }
    assert_eq!(n, 3);
}
