//! tf.train.Example / SequenceExample encoding and `parse_example` against TensorFlow
//! 2.21's outputs on the fixture records (`formats_expected.json`, written by
//! `tests/fixtures/make_fixtures.py`), plus error classes and hostile bytes.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tf_data::Element;
use tf_data::formats::tfrecord::read_tfrecord_file;
use tf_data::formats::{
    Compression, Example, ExampleParser, Feature, FeatureList, FeatureSpec, FeatureType, Features,
    SequenceExample, parse_example, parse_single_example, sparse_to_dense,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("formats_expected.json")).unwrap())
        .unwrap()
}

fn records() -> Vec<Vec<u8>> {
    read_tfrecord_file(fixture("examples.tfrecord"), Compression::None).unwrap()
}

fn i64s(v: &serde_json::Value) -> Vec<i64> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<i64>) {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            x => out.push(x.as_i64().unwrap()),
        }
    }
    walk(v, &mut out);
    out
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<f32>) {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            x => out.push(x.as_f64().unwrap() as f32),
        }
    }
    walk(v, &mut out);
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn spec() -> BTreeMap<String, FeatureSpec> {
    BTreeMap::from([
        (
            "label".to_string(),
            FeatureSpec::fixed_len([2], FeatureType::Int64),
        ),
        ("x".to_string(), FeatureSpec::var_len(FeatureType::Float32)),
        (
            "name".to_string(),
            FeatureSpec::var_len(FeatureType::String),
        ),
        (
            "missing".to_string(),
            FeatureSpec::fixed_len([3], FeatureType::Float32)
                .with_default(Feature::floats([1.0, 2.0, 3.0])),
        ),
    ])
}

#[test]
fn parse_example_matches_tensorflow() {
    let want = &expected()["parse_example"];
    let p = parse_example(&records(), &spec()).unwrap();
    let label = p.field("label").unwrap().tensor().unwrap();
    assert_eq!(label.dims(), &[5, 2]);
    assert_eq!(label.to_vec::<i64>().unwrap(), i64s(&want["label"]));
    let x = p.field("x").unwrap();
    let idx = x.field("indices").unwrap().tensor().unwrap();
    assert_eq!(idx.dims(), &[25, 2]);
    assert_eq!(idx.to_vec::<i64>().unwrap(), i64s(&want["x_indices"]));
    assert_eq!(
        x.field("values")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        f32s(&want["x_values"])
    );
    assert_eq!(
        x.field("dense_shape")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        i64s(&want["x_dense_shape"])
    );
    let name = p.field("name").unwrap();
    assert_eq!(
        name.field("indices")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        i64s(&want["name_indices"])
    );
    let names: Vec<String> = name
        .field("values")
        .unwrap()
        .strings()
        .unwrap()
        .values()
        .iter()
        .map(|b| hex(b))
        .collect();
    let want_names: Vec<String> = want["name_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, want_names);
    let missing = p.field("missing").unwrap().tensor().unwrap();
    assert_eq!(missing.dims(), &[5, 3]);
    assert_eq!(missing.to_vec::<f32>().unwrap(), f32s(&want["missing"]));
}

#[test]
fn parse_single_example_matches_tensorflow() {
    let want = &expected()["parse_single_example"];
    let recs = records();
    let p = parse_single_example(&recs[2], &spec()).unwrap();
    let label = p.field("label").unwrap().tensor().unwrap();
    assert_eq!(label.dims(), &[2]);
    assert_eq!(label.to_vec::<i64>().unwrap(), i64s(&want["label"]));
    let x = p.field("x").unwrap();
    let idx = x.field("indices").unwrap().tensor().unwrap();
    assert_eq!(idx.dims(), &[5, 1]);
    assert_eq!(idx.to_vec::<i64>().unwrap(), i64s(&want["x_indices"]));
    assert_eq!(
        x.field("dense_shape")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        i64s(&want["x_dense_shape"])
    );
    assert_eq!(p.field("missing").unwrap().tensor().unwrap().dims(), &[3]);
    // The same through parse_element on a rank-0 and a rank-1 string element.
    let parser = ExampleParser::new(&spec()).unwrap();
    let e = Element::Strings(tf_data::StringTensor::scalar(&recs[2][..]));
    let q = parser.parse_element(&e).unwrap();
    assert_eq!(
        q.field("label")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        i64s(&want["label"])
    );
    let batch =
        tf_data::StringTensor::new(recs.iter().map(|r| r[..].into()).collect(), [5]).unwrap();
    let q = parser.parse_element(&Element::Strings(batch)).unwrap();
    assert_eq!(q.field("label").unwrap().tensor().unwrap().dims(), &[5, 2]);
    assert!(parser.parse_element(&Element::Tuple(vec![])).is_err());
}

#[test]
fn fixed_len_strings_shapes_and_broadcast_defaults() {
    let ex = Example::new()
        .with("s", Feature::bytes([b"a".as_slice(), b"bc", b"", b"d"]))
        .with("m", Feature::floats([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
        .encode();
    let spec = BTreeMap::from([
        (
            "s".to_string(),
            FeatureSpec::fixed_len([2, 2], FeatureType::String),
        ),
        (
            "m".to_string(),
            FeatureSpec::fixed_len([2, 3], FeatureType::Float32),
        ),
        (
            "d".to_string(),
            FeatureSpec::fixed_len([2], FeatureType::String).with_default(Feature::bytes([b"z"])),
        ),
        ("v".to_string(), FeatureSpec::var_len(FeatureType::Int64)),
    ]);
    let p = parse_single_example(&ex, &spec).unwrap();
    let s = p.field("s").unwrap().strings().unwrap();
    assert_eq!(s.shape().dims(), &[2, 2]);
    assert_eq!(&*s.values()[1], b"bc");
    assert_eq!(p.field("m").unwrap().tensor().unwrap().dims(), &[2, 3]);
    let d = p.field("d").unwrap().strings().unwrap();
    assert_eq!(
        d.values().iter().map(|b| b.to_vec()).collect::<Vec<_>>(),
        vec![b"z".to_vec(), b"z".to_vec()]
    );
    // An absent var-len feature gives empty sparse components.
    let v = p.field("v").unwrap();
    assert_eq!(
        v.field("indices").unwrap().tensor().unwrap().dims(),
        &[0, 1]
    );
    assert_eq!(
        v.field("dense_shape")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![0]
    );
    // A batch where one example lacks the var-len feature: dense width is the max.
    let a = Example::new()
        .with("v", Feature::int64s([5, 6, 7]))
        .encode();
    let b = Example::new().encode();
    let spec = BTreeMap::from([("v".to_string(), FeatureSpec::var_len(FeatureType::Int64))]);
    let p = parse_example(&[a, b.clone(), b], &spec).unwrap();
    let v = p.field("v").unwrap();
    assert_eq!(
        v.field("dense_shape")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![3, 3]
    );
    assert_eq!(
        v.field("indices")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![0, 0, 0, 1, 0, 2]
    );
    // tf.sparse.to_dense of that batch.
    let dense = sparse_to_dense(v, &Feature::int64s([-1])).unwrap();
    let dense = dense.tensor().unwrap();
    assert_eq!(dense.dims(), &[3, 3]);
    assert_eq!(
        dense.to_vec::<i64>().unwrap(),
        vec![5, 6, 7, -1, -1, -1, -1, -1, -1]
    );
    assert!(sparse_to_dense(v, &Feature::floats([0.0])).is_err());
    assert!(sparse_to_dense(v, &Feature::int64s([0, 1])).is_err());
    // An empty batch.
    let p = parse_example::<Vec<u8>>(&[], &spec).unwrap();
    assert_eq!(
        p.field("v")
            .unwrap()
            .field("values")
            .unwrap()
            .tensor()
            .unwrap()
            .dims(),
        &[0]
    );
}

#[test]
fn error_classes_name_the_feature() {
    let recs = records();
    let err =
        |spec: BTreeMap<String, FeatureSpec>| parse_example(&recs, &spec).unwrap_err().to_string();
    // Missing required feature.
    let e = err(BTreeMap::from([(
        "nope".into(),
        FeatureSpec::fixed_len([1], FeatureType::Float32),
    )]));
    assert!(e.contains("nope") && e.contains("required"), "{e}");
    // dtype mismatch.
    let e = err(BTreeMap::from([(
        "x".into(),
        FeatureSpec::var_len(FeatureType::Int64),
    )]));
    assert!(
        e.contains("'x'") && e.contains("expected type int64") && e.contains("actual type float"),
        "{e}"
    );
    // Wrong number of values (example 0 has 3 x values).
    let e = err(BTreeMap::from([(
        "x".into(),
        FeatureSpec::fixed_len([2], FeatureType::Float32),
    )]));
    assert!(
        e.contains("example 0") && e.contains("'x'") && e.contains("values size 3"),
        "{e}"
    );
    // Bad default: wrong kind, wrong size.
    let bad = BTreeMap::from([(
        "x".to_string(),
        FeatureSpec::fixed_len([2], FeatureType::Float32).with_default(Feature::int64s([1, 2])),
    )]);
    assert!(
        ExampleParser::new(&bad)
            .unwrap_err()
            .to_string()
            .contains("default")
    );
    let bad = BTreeMap::from([(
        "x".to_string(),
        FeatureSpec::fixed_len([2], FeatureType::Float32)
            .with_default(Feature::floats([1.0, 2.0, 3.0])),
    )]);
    assert!(
        ExampleParser::new(&bad)
            .unwrap_err()
            .to_string()
            .contains("3 values")
    );
    // Malformed bytes name the example.
    let mut broken = recs.clone();
    broken[3].truncate(20);
    let e = parse_example(&broken, &spec()).unwrap_err().to_string();
    assert!(e.contains("example 3") && e.contains("malformed"), "{e}");
}

#[test]
fn sequence_example_round_trip_and_bytes() {
    let mut context = Features::new();
    context.insert("id", Feature::int64s([42]));
    let mut seq = SequenceExample {
        context,
        ..Default::default()
    };
    seq.feature_lists.insert(
        "tokens",
        FeatureList {
            feature: vec![
                Feature::int64s([1, 2]),
                Feature::int64s([3]),
                Feature::Unset,
            ],
        },
    );
    let bytes = seq.encode();
    // Serialized by TensorFlow 2.21's protobuf for the same message.
    assert_eq!(
        hex(&bytes),
        "0a0d0a0b0a02696412051a030a012a121d0a1b0a06746f6b656e7312110a061a040a0201020a051a030a01030a00"
    );
    let back = SequenceExample::decode(&bytes).unwrap();
    assert_eq!(back, seq);
    assert_eq!(back.encode(), bytes);
    // An Example read as a SequenceExample has its features as context.
    let ex = Example::new().with("a", Feature::floats([1.5]));
    let as_seq = SequenceExample::decode(&ex.encode()).unwrap();
    assert_eq!(as_seq.context, ex.features);
    // Empty messages and lists, as TensorFlow writes them.
    assert_eq!(hex(&Example::new().encode()), "0a00");
    let e = Example::new()
        .with("a", Feature::Unset)
        .with("b", Feature::floats([]));
    assert_eq!(hex(&e.encode()), "0a100a050a016112000a070a016212021200");
    assert_eq!(Example::decode(&e.encode()).unwrap(), e);
}

#[test]
fn decoding_accepts_unpacked_lists_and_unknown_fields() {
    // FloatList with two unpacked values (tag 0x0d), Int64List unpacked (tag 0x08), an
    // unknown varint field 7 in the Example, then the map entry.
    let float_list = [0x0d, 0, 0, 0x80, 0x3f, 0x0d, 0, 0, 0, 0x40];
    let feature = [&[0x12, float_list.len() as u8][..], &float_list].concat();
    let entry = [&[0x0a, 1, b'f', 0x12, feature.len() as u8][..], &feature].concat();
    let int_feature = [0x1a, 4, 0x08, 0x05, 0x08, 0x7f];
    let entry2 = [
        &[0x0a, 1, b'i', 0x12, int_feature.len() as u8][..],
        &int_feature,
    ]
    .concat();
    let features = [
        &[0x0a, entry.len() as u8][..],
        &entry,
        &[0x0a, entry2.len() as u8],
        &entry2,
    ]
    .concat();
    let bytes = [&[0x38, 0x01, 0x0a, features.len() as u8][..], &features].concat();
    let ex = Example::decode(&bytes).unwrap();
    assert_eq!(ex.get("f"), Some(&Feature::Float(vec![1.0, 2.0])));
    assert_eq!(ex.get("i"), Some(&Feature::Int64(vec![5, 127])));
    let spec = BTreeMap::from([
        (
            "f".to_string(),
            FeatureSpec::fixed_len([2], FeatureType::Float32),
        ),
        (
            "i".to_string(),
            FeatureSpec::fixed_len([2], FeatureType::Int64),
        ),
    ]);
    let p = parse_single_example(&bytes, &spec).unwrap();
    assert_eq!(
        p.field("f")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0, 2.0]
    );
    assert_eq!(
        p.field("i")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![5, 127]
    );
    // Negative int64s use 10-byte varints and round-trip.
    let neg = Example::new().with("n", Feature::int64s([-1, i64::MIN, i64::MAX]));
    assert_eq!(Example::decode(&neg.encode()).unwrap(), neg);
    // A duplicate key: the last value wins, in the first position.
    let entry3 = [
        &[0x0a, 1, b'f', 0x12, int_feature.len() as u8][..],
        &int_feature,
    ]
    .concat();
    let features = [
        &[0x0a, entry.len() as u8][..],
        &entry,
        &[0x0a, entry2.len() as u8],
        &entry2,
        &[0x0a, entry3.len() as u8],
        &entry3,
    ]
    .concat();
    let bytes = [&[0x0a, features.len() as u8][..], &features].concat();
    let ex = Example::decode(&bytes).unwrap();
    assert_eq!(ex.features.keys().collect::<Vec<_>>(), vec!["f", "i"]);
    assert_eq!(ex.get("f"), Some(&Feature::Int64(vec![5, 127])));
    let p = parse_single_example(
        &bytes,
        &BTreeMap::from([("f".to_string(), FeatureSpec::var_len(FeatureType::Int64))]),
    )
    .unwrap();
    assert_eq!(
        p.field("f")
            .unwrap()
            .field("values")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![5, 127]
    );
}

#[test]
fn hostile_protobufs_are_errors() {
    let good = Example::new()
        .with("x", Feature::floats([1.0, 2.0]))
        .encode();
    for cut in 0..good.len() {
        // Every strict prefix is either an error or (at a field boundary) a smaller
        // valid message; never a panic.
        let _ = Example::decode(&good[..cut]);
    }
    for bad in [
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // huge length
        vec![0x0b],                                                       // group wire type
        vec![0x08],                                                       // truncated varint
        vec![0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff],                   // non-UTF-8 key
        vec![0x0a, 0x07, 0x0a, 0x05, 0x12, 0x03, 0x12, 0x01, 0x0a],       // packed floats cut
        vec![0x0a, 0x02, 0x08, 0x01],                                     // features as varint
    ] {
        assert!(Example::decode(&bad).is_err(), "{bad:02x?}");
    }
    let spec = BTreeMap::from([("x".to_string(), FeatureSpec::var_len(FeatureType::Float32))]);
    assert!(parse_single_example(&[0x0a, 0xff, 0x01], &spec).is_err());
}

fn feature_strategy() -> impl Strategy<Value = Feature> {
    prop_oneof![
        Just(Feature::Unset),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 0..4)
            .prop_map(Feature::Bytes),
        proptest::collection::vec(-1e6f32..1e6, 0..6).prop_map(Feature::Float),
        proptest::collection::vec(any::<i64>(), 0..6).prop_map(Feature::Int64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn examples_round_trip(entries in proptest::collection::vec(("[a-z]{0,4}", feature_strategy()), 0..6)) {
        let mut ex = Example::new();
        for (k, f) in entries {
            ex.features.insert(k, f);
        }
        let bytes = ex.encode();
        let back = Example::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &ex);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn random_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = parse_single_example(&bytes, &spec());
        let _ = Example::decode(&bytes);
    }

    #[test]
    fn mutated_records_never_panic_the_parser(pos in 0usize..60, val in any::<u8>()) {
        let mut r = records()[1].clone();
        let p = pos % r.len();
        r[p] = val;
        let _ = parse_single_example(&r, &spec());
        let _ = parse_example(&[r], &spec());
    }
}

#[test]
fn tfrecord_to_parsed_batches_pipeline() {
    // TFRecordDataset -> batch -> map(parse_example), and map(parse_single_example).
    let want = &expected()["parse_example"];
    let labels = i64s(&want["label"]);
    let parser = ExampleParser::new(&spec()).unwrap();
    let p = parser.clone();
    let ds = tf_data::formats::TFRecordDataset::new([fixture("examples.tfrecord.gz")])
        .compression(Compression::Gzip)
        .build()
        .batch(2, false)
        .unwrap()
        .map(move |e| p.parse_element(&e));
    let batches = ds.collect().unwrap();
    assert_eq!(batches.len(), 3);
    let got: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.field("label")
                .unwrap()
                .tensor()
                .unwrap()
                .to_vec::<i64>()
                .unwrap()
        })
        .collect();
    assert_eq!(got, labels);
    assert_eq!(
        batches[2].field("label").unwrap().tensor().unwrap().dims(),
        &[1, 2]
    );
    let ds = tf_data::formats::TFRecordDataset::new([fixture("examples.tfrecord")])
        .build()
        .map(move |e| parser.parse_element(&e));
    let singles = ds.collect().unwrap();
    assert_eq!(singles.len(), 5);
    assert_eq!(
        singles[4]
            .field("label")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        labels[8..]
    );
}
