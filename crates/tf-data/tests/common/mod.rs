//! Helpers shared by the tf-data integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{Value, json};
use std::sync::Arc;
use tf_core::{DType, Tensor};
use tf_data::{ByteString, Dataset, Element, StringTensor};

/// Nested JSON lists of a tensor's values (ints for integer dtypes).
fn nest(flat: &[Value], dims: &[usize]) -> Value {
    match dims.split_first() {
        None => flat.first().cloned().unwrap_or(Value::Null),
        Some((&n, rest)) => {
            let step: usize = rest.iter().product();
            Value::Array(
                (0..n)
                    .map(|i| nest(&flat[i * step..(i + 1) * step], rest))
                    .collect(),
            )
        }
    }
}

/// An element as JSON, in the layout of tests/fixtures/gen_semantics.py.
pub fn to_json(e: &Element) -> Value {
    match e {
        Element::Tensor(t) => {
            let vals = t.to_f64_vec().unwrap();
            let flat: Vec<Value> = vals
                .iter()
                .map(|&v| match t.dtype() {
                    DType::Bool => json!(v != 0.0),
                    d if d.is_int() => json!(v as i64),
                    _ => json!(v),
                })
                .collect();
            nest(&flat, t.dims())
        }
        Element::Strings(s) => {
            let flat: Vec<Value> = s
                .values()
                .iter()
                .map(|b| json!(String::from_utf8_lossy(b)))
                .collect();
            nest(&flat, s.shape().dims())
        }
        Element::Tuple(v) => Value::Array(v.iter().map(to_json).collect()),
        Element::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Element::Dataset(d) => json!({ "dataset": values(d) }),
    }
}

/// One epoch as JSON values (panics on error items).
pub fn values(ds: &Dataset) -> Vec<Value> {
    ds.collect().unwrap().iter().map(to_json).collect()
}

/// One epoch of int64 scalars.
pub fn ints(ds: &Dataset) -> Vec<i64> {
    ds.collect()
        .unwrap()
        .iter()
        .map(|e| e.tensor().unwrap().scalar::<i64>().unwrap())
        .collect()
}

/// A rank-1 string tensor.
pub fn strings(v: &[&str]) -> StringTensor {
    let values: Vec<ByteString> = v.iter().map(|s| Arc::from(s.as_bytes())).collect();
    StringTensor::new(values, [v.len()]).unwrap()
}

/// A rank-1 tensor of i32.
pub fn i32s(v: &[i32]) -> Tensor {
    Tensor::from_vec(v.to_vec(), [v.len()]).unwrap()
}

/// A tensor of i64 with a shape.
pub fn i64s(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
}

/// The i64 values of a tensor element.
pub fn tvec(e: &Element) -> Vec<i64> {
    e.tensor().unwrap().to_vec::<i64>().unwrap()
}
