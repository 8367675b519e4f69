//! `parse_sequence_example` / `parse_single_sequence_example` (FixedLenSequence,
//! VarLen and Ragged feature lists, context features) and `parse_example` with
//! RaggedFeature / FixedLenSequenceFeature, against TensorFlow 2.21's outputs and
//! error messages (`sequence_expected.json`, written by
//! `tests/fixtures/sequence_fixtures.py`), plus hostile bytes.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tf_core::DType;
use tf_data::Element;
use tf_data::formats::{
    Example, ExampleParser, Feature, FeatureList, FeatureSpec, FeatureType, SequenceExample,
    SequenceExampleParser, parse_example, parse_sequence_example, parse_single_sequence_example,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("sequence_expected.json")).unwrap())
        .unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn dtype(s: &Value) -> FeatureType {
    match s["dtype"].as_str().unwrap() {
        "float" => FeatureType::Float32,
        "int64" => FeatureType::Int64,
        _ => FeatureType::String,
    }
}

fn default_feature(t: FeatureType, v: &Value) -> Feature {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        x => vec![x.clone()],
    };
    match t {
        FeatureType::Float32 => Feature::floats(
            items
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect::<Vec<_>>(),
        ),
        FeatureType::Int64 => Feature::int64s(
            items
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect::<Vec<_>>(),
        ),
        FeatureType::String => Feature::bytes(items.iter().map(|x| x.as_str().unwrap())),
    }
}

/// The fixture's spec encoding → `FeatureSpec`s.
fn specs(v: &Value) -> BTreeMap<String, FeatureSpec> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| {
            let t = dtype(s);
            let shape = || -> Vec<usize> {
                s["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect()
            };
            let mut spec = match s["kind"].as_str().unwrap() {
                "fixed" => FeatureSpec::fixed_len(shape(), t),
                "var" => FeatureSpec::var_len(t),
                "seq" => FeatureSpec::fixed_len_sequence(
                    shape(),
                    t,
                    s["allow_missing"].as_bool().unwrap_or(false),
                ),
                _ => FeatureSpec::ragged(t),
            };
            if let Some(d) = s.get("default").filter(|d| !d.is_null()) {
                spec = spec.with_default(default_feature(t, d));
            }
            (k.clone(), spec)
        })
        .collect()
}

/// A parsed element in the fixture's JSON form.
fn to_json(e: &Element) -> Value {
    match e {
        Element::Tensor(t) => {
            let values: Vec<Value> = match t.dtype() {
                DType::F32 => t
                    .to_vec::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(|x| json!(x))
                    .collect(),
                DType::I64 => t
                    .to_vec::<i64>()
                    .unwrap()
                    .into_iter()
                    .map(|x| json!(x))
                    .collect(),
                DType::I32 => t
                    .to_vec::<i32>()
                    .unwrap()
                    .into_iter()
                    .map(|x| json!(x))
                    .collect(),
                d => panic!("unexpected dtype {d:?}"),
            };
            json!({"dtype": t.dtype().name(), "shape": t.dims(), "values": values})
        }
        Element::Strings(s) => json!({
            "dtype": "string",
            "shape": s.shape().dims(),
            "values": s.values().iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>(),
        }),
        Element::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        other => panic!("unexpected element {}", other.kind()),
    }
}

/// Numbers compared as f64 (TF writes `7.0`, we write `7.0` or `7`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn run_case(c: &Value) -> tf_core::Result<Vec<Element>> {
    let ser: Vec<Vec<u8>> = c["serialized"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| unhex(h.as_str().unwrap()))
        .collect();
    let single = c["single"].as_bool().unwrap();
    if let Some(spec) = c.get("example") {
        let parser = ExampleParser::new(&specs(spec))?;
        return Ok(vec![if single {
            parser.parse_single(&ser[0])?
        } else {
            parser.parse_batch(&ser)?
        }]);
    }
    let parser = SequenceExampleParser::new(&specs(&c["context"]), &specs(&c["sequence"]))?;
    Ok(if single {
        let (a, b) = parser.parse_single(&ser[0])?;
        vec![a, b]
    } else {
        let (a, b, l) = parser.parse_batch(&ser)?;
        vec![a, b, l]
    })
}

#[test]
fn outputs_match_tensorflow() {
    let exp = expected();
    let mut checked = 0;
    for c in exp["cases"].as_array().unwrap() {
        let Some(want) = c.get("output") else {
            continue;
        };
        let name = c["name"].as_str().unwrap();
        let got: Vec<Value> = run_case(c)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .iter()
            .map(to_json)
            .collect();
        let got = Value::Array(got);
        assert!(same(&got, want), "{name}:\n got {got}\nwant {want}");
        checked += 1;
    }
    assert_eq!(checked, 8);
}

/// Each TensorFlow error case: TF's message has the phrase, and so does ours (with the
/// feature name).
#[test]
fn errors_match_tensorflow() {
    let phrases = [
        (
            "err_required_list",
            "is required but could not be found",
            "absent",
        ),
        (
            "err_required_list_batch",
            "is required but could not be found",
            "absent",
        ),
        (
            "err_step_size",
            "number of values != expected",
            "'x', step 0",
        ),
        ("err_step_size_later", "", "'x', step 1"),
        ("err_list_type", "data types don't match", "'x', step 0"),
        ("err_list_type_batch", "data types don't match", "example 1"),
        ("err_context_required", "", "name"),
        (
            "err_malformed",
            "",
            "SequenceExample (example 0): malformed protobuf",
        ),
        (
            "example_err_stride",
            "not a multiple of stride length",
            "'a'",
        ),
        ("example_err_ragged_type", "data types don't match", "'a'"),
    ];
    let exp = expected();
    for (name, phrase, ours) in phrases {
        let c = exp["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        let tf = c["message"].as_str().unwrap().to_lowercase();
        assert!(tf.contains(phrase), "{name}: TF said {tf}");
        let err = run_case(c)
            .err()
            .unwrap_or_else(|| panic!("{name}: no error"));
        let msg = err.to_string();
        assert!(msg.to_lowercase().contains(phrase), "{name}: {msg}");
        assert!(msg.contains(ours), "{name}: {msg}");
    }
}

#[test]
fn spec_errors() {
    let seq = |s: FeatureSpec| BTreeMap::from([("k".to_string(), s)]);
    let none = BTreeMap::new();
    // A FixedLenFeature is not a feature list; a FixedLenSequence is not context.
    let e = SequenceExampleParser::new(&none, &seq(FeatureSpec::fixed_len([], FeatureType::Int64)))
        .unwrap_err();
    assert!(e.to_string().contains("feature list 'k'"), "{e}");
    let e = SequenceExampleParser::new(
        &seq(FeatureSpec::fixed_len_sequence(
            [],
            FeatureType::Int64,
            true,
        )),
        &none,
    )
    .unwrap_err();
    assert!(e.to_string().contains("context feature 'k'"), "{e}");
    // TensorFlow: "Value feature_list.dense_defaults[k] must be None".
    let e = SequenceExampleParser::new(
        &none,
        &seq(
            FeatureSpec::fixed_len_sequence([], FeatureType::Int64, true)
                .with_default(Feature::int64s([1])),
        ),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("dense_defaults[k] must be None"),
        "{e}"
    );
    // In an Example, allow_missing must be on.
    let e = ExampleParser::new(&seq(FeatureSpec::fixed_len_sequence(
        [2],
        FeatureType::Float32,
        false,
    )))
    .unwrap_err();
    assert!(e.to_string().contains("allow_missing"), "{e}");
    let e = ExampleParser::new(&seq(FeatureSpec::Ragged {
        dtype: FeatureType::Int64,
        row_splits_dtype: DType::F32,
    }))
    .unwrap_err();
    assert!(e.to_string().contains("row_splits_dtype"), "{e}");
}

#[test]
fn int64_row_splits_and_rank_dispatch() {
    let ex = Example::new()
        .with("a", Feature::int64s([1, 2, 3]))
        .encode();
    let spec = BTreeMap::from([(
        "a".to_string(),
        FeatureSpec::Ragged {
            dtype: FeatureType::Int64,
            row_splits_dtype: DType::I64,
        },
    )]);
    let parsed = parse_example(&[ex.clone(), ex], &spec).unwrap();
    let splits = parsed.field("a").unwrap().field("row_splits").unwrap();
    assert_eq!(
        splits.tensor().unwrap().to_vec::<i64>().unwrap(),
        vec![0, 3, 6]
    );

    let mut se = SequenceExample::default();
    se.feature_lists.insert(
        "x",
        FeatureList {
            feature: vec![Feature::floats([1.0]), Feature::floats([2.0])],
        },
    );
    let bytes = se.encode();
    let lists = BTreeMap::from([(
        "x".to_string(),
        FeatureSpec::fixed_len_sequence([], FeatureType::Float32, false),
    )]);
    let parser = SequenceExampleParser::new(&BTreeMap::new(), &lists).unwrap();
    let one = parser
        .parse_element(&Element::Strings(tf_data::StringTensor::scalar(&bytes[..])))
        .unwrap();
    assert_eq!(one.tuple().unwrap().len(), 2);
    let batch = parser
        .parse_element(&Element::Strings(
            tf_data::StringTensor::new(vec![bytes.as_slice().into(); 3], [3]).unwrap(),
        ))
        .unwrap();
    let parts = batch.tuple().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts[2]
            .field("x")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![2, 2, 2]
    );
    assert_eq!(
        parts[1].field("x").unwrap().tensor().unwrap().dims(),
        &[3, 2]
    );
    // The free functions agree with the parser.
    let (_, l) = parse_single_sequence_example(&bytes, &BTreeMap::new(), &lists).unwrap();
    assert_eq!(
        l.field("x")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0, 2.0]
    );
    let (_, _, n) = parse_sequence_example(&[&bytes[..]], &BTreeMap::new(), &lists).unwrap();
    assert_eq!(
        n.field("x")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![2]
    );
}

/// A naive reference: decode with `SequenceExample::decode`, then build the
/// FixedLenSequence / VarLen / Ragged outputs with plain loops.
#[test]
fn batch_matches_naive_reference() {
    let mut examples = Vec::new();
    for b in 0..5usize {
        let mut se = SequenceExample::default();
        let steps = (b * 3) % 4;
        se.feature_lists.insert(
            "v",
            FeatureList {
                feature: (0..steps)
                    .map(|s| {
                        Feature::int64s(
                            (0..(s + b) % 3)
                                .map(|k| (b * 100 + s * 10 + k) as i64)
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect(),
            },
        );
        examples.push(se.encode());
    }
    let lists = BTreeMap::from([("v".to_string(), FeatureSpec::var_len(FeatureType::Int64))]);
    let (_, parsed, _) = parse_sequence_example(&examples, &BTreeMap::new(), &lists).unwrap();
    let sp = parsed.field("v").unwrap();
    let idx = sp
        .field("indices")
        .unwrap()
        .tensor()
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    let vals = sp
        .field("values")
        .unwrap()
        .tensor()
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    let shape = sp
        .field("dense_shape")
        .unwrap()
        .tensor()
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    let (mut want_idx, mut want_vals) = (Vec::new(), Vec::new());
    let (mut most_steps, mut widest) = (0, 0);
    for (b, bytes) in examples.iter().enumerate() {
        let se = SequenceExample::decode(bytes).unwrap();
        let fl = se.feature_lists.get("v").unwrap();
        most_steps = most_steps.max(fl.feature.len());
        for (s, f) in fl.feature.iter().enumerate() {
            let Feature::Int64(v) = f else {
                // An empty list decodes as an unset feature.
                continue;
            };
            widest = widest.max(v.len());
            for (k, x) in v.iter().enumerate() {
                want_idx.extend([b as i64, s as i64, k as i64]);
                want_vals.push(*x);
            }
        }
    }
    assert_eq!(idx, want_idx);
    assert_eq!(vals, want_vals);
    assert_eq!(shape, vec![5, most_steps as i64, widest as i64]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Random bytes never panic.
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let ctx = BTreeMap::from([("c".to_string(), FeatureSpec::ragged(FeatureType::Int64))]);
        let lists = BTreeMap::from([
            ("a".to_string(), FeatureSpec::fixed_len_sequence([1], FeatureType::Float32, true)),
            ("b".to_string(), FeatureSpec::var_len(FeatureType::String)),
            ("c".to_string(), FeatureSpec::ragged(FeatureType::Int64)),
        ]);
        let _ = parse_sequence_example(&[&bytes[..], &bytes[..]], &ctx, &lists);
        let _ = parse_single_sequence_example(&bytes, &ctx, &lists);
    }
}
