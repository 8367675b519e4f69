//! Pipelines compared with what TensorFlow 2.21 produces for the same pipelines:
//! outputs, cardinalities and element specs recorded in tests/fixtures/semantics.json
//! by tests/fixtures/gen_semantics.py (the same names are used there).
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tf_core::{DType, Tensor, ops};
use tf_data::{ByteString, Dataset, Element, ElementSpec, PaddedShapes, StringTensor};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/semantics.json")).unwrap()
}

fn range(a: i64, b: i64) -> Dataset {
    Dataset::range(a, b, 1).unwrap()
}

/// `range(1, 5, int32).map(lambda x: tf.fill([x], x))`.
fn a() -> Dataset {
    Dataset::range_with_dtype(1, 5, 1, DType::I32)
        .unwrap()
        .map(|x| {
            let v = x.tensor()?.scalar::<i32>()?;
            Tensor::fill([v as usize], v)
        })
}

fn gen_tuple() -> Dataset {
    let spec = ElementSpec::Tuple(vec![
        ElementSpec::tensor(DType::I32, vec![None]),
        ElementSpec::tensor(DType::I32, vec![None]),
    ]);
    Dataset::from_generator(
        || {
            vec![
                Ok(Element::from((i32s(&[1, 2, 3]), i32s(&[10])))),
                Ok(Element::from((i32s(&[4, 5]), i32s(&[11, 12])))),
            ]
        },
        spec,
    )
}

fn flt() -> Dataset {
    range(0, 10).filter(|x| Ok(x.tensor()?.scalar::<i64>()? % 2 == 0))
}

fn split_words(e: Element) -> tf_core::Result<Element> {
    let s = e.strings()?.as_bytes()?.to_vec();
    let words: Vec<ByteString> = s
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .map(Arc::from)
        .collect();
    let n = words.len();
    Ok(Element::Strings(StringTensor::new(words, [n])?))
}

fn scalar_i32(v: i32) -> Element {
    Element::Tensor(Tensor::from_scalar(v))
}

fn output_case(name: &str) -> Dataset {
    let pad = |d: &[i64]| Some(PaddedShapes::dims(d));
    match name {
        "batch_7_3" => range(0, 7).batch(3, false).unwrap(),
        "batch_7_3_drop" => range(0, 7).batch(3, true).unwrap(),
        "batch_tuple_strings" => Dataset::from_tensor_slices((
            Tensor::from_vec(vec![1i32, 2, 3, 4, 5, 6], [3, 2]).unwrap(),
            strings(&["a", "b", "c"]),
        ))
        .unwrap()
        .batch(2, false)
        .unwrap(),
        "padded_A" => a().padded_batch(2, None, None, false).unwrap(),
        "padded_A_5" => a().padded_batch(2, pad(&[5]), None, false).unwrap(),
        "padded_A_5_m1" => a()
            .padded_batch(2, pad(&[5]), Some(scalar_i32(-1)), false)
            .unwrap(),
        "padded_tuple" => gen_tuple()
            .padded_batch(
                2,
                Some(PaddedShapes::Tuple(vec![
                    PaddedShapes::dims(&[4]),
                    PaddedShapes::dims(&[-1]),
                ])),
                Some(Element::from((
                    Tensor::from_scalar(-1i32),
                    Tensor::from_scalar(100i32),
                ))),
                false,
            )
            .unwrap(),
        "padded_zip_m1" => Dataset::zip([a(), a()])
            .padded_batch(2, None, Some(scalar_i32(-1)), false)
            .unwrap(),
        "padded_strings" => Dataset::from_tensor_slices(strings(&["a b", "c", "d e f"]))
            .unwrap()
            .map(split_words)
            .padded_batch(
                2,
                None,
                Some(Element::Strings(StringTensor::scalar(&b"<pad>"[..]))),
                false,
            )
            .unwrap(),
        "padded_A_drop" => a().padded_batch(3, None, None, true).unwrap(),
        "interleave_spec" => range(1, 4)
            .interleave(|x| Ok(Dataset::from_tensors(x).repeat(3)), 2, 2)
            .unwrap(),
        "interleave_doc" => range(1, 6)
            .interleave(|x| Ok(Dataset::from_tensors(x).repeat(6)), 2, 4)
            .unwrap(),
        "interleave_ragged" => range(0, 6)
            .interleave(
                |x| {
                    let x = x.tensor()?.scalar::<i64>()?;
                    Dataset::range(10 * x, 10 * x + x, 1)
                },
                3,
                2,
            )
            .unwrap(),
        "flat_map" => Dataset::from_tensor_slices(i64s(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &[3, 3]))
            .unwrap()
            .flat_map(Dataset::from_tensor_slices),
        "window_3_2" => range(0, 7).window(3, Some(2), 1, false).unwrap(),
        "window_3" => range(0, 7).window(3, None, 1, false).unwrap(),
        "window_3_2_1_drop" => range(0, 7).window(3, Some(2), 1, true).unwrap(),
        "window_3_1_2_drop" => range(0, 7).window(3, Some(1), 2, true).unwrap(),
        "window_3_2_2" => range(0, 7).window(3, Some(2), 2, false).unwrap(),
        "window_2_4" => range(0, 10).window(2, Some(4), 1, false).unwrap(),
        "window_tuple" => {
            Dataset::from_tensor_slices((i32s(&[1, 2, 3, 4, 5]), i32s(&[6, 7, 8, 9, 10])))
                .unwrap()
                .window(2, None, 1, false)
                .unwrap()
        }
        "window_dict" => {
            let mut m = BTreeMap::new();
            m.insert("a".to_string(), Element::Tensor(i32s(&[1, 2, 3])));
            m.insert("b".to_string(), Element::Tensor(i32s(&[4, 5, 6])));
            Dataset::from_tensor_slices(Element::Map(m))
                .unwrap()
                .window(2, None, 1, false)
                .unwrap()
        }
        "window_flat_map_batch" => range(0, 7)
            .window(3, Some(2), 1, false)
            .unwrap()
            .flat_map(|w| w.dataset()?.batch(3, false)),
        "take_m1" => range(0, 5).take(-1),
        "take_3" => range(0, 5).take(3),
        "take_10" => range(0, 5).take(10),
        "skip_m1" => range(0, 5).skip(-1),
        "skip_3" => range(0, 5).skip(3),
        "skip_10" => range(0, 5).skip(10),
        "zip_shortest" => Dataset::zip([range(1, 4), range(4, 7), range(13, 15)]),
        "repeat_3" => range(0, 3).repeat(3),
        "repeat_0" => range(0, 3).repeat(0),
        "unbatch" => Dataset::from_tensor_slices(
            Tensor::from_vec(vec![1i32, 2, 3, 4, 5, 6], [2, 3]).unwrap(),
        )
        .unwrap()
        .unbatch()
        .unwrap(),
        "unbatch_tuple" => Dataset::from_tensors((
            Tensor::from_vec(vec![1i32, 2, 3, 4], [2, 2]).unwrap(),
            strings(&["x", "y"]),
        ))
        .unbatch()
        .unwrap(),
        "rebatch_2" => range(0, 8)
            .batch(4, false)
            .unwrap()
            .rebatch(2, false)
            .unwrap(),
        "rebatch_211" => range(0, 16)
            .batch(4, false)
            .unwrap()
            .rebatch_sizes(&[2, 1, 1], false)
            .unwrap(),
        "rebatch_3" => range(0, 10)
            .batch(4, false)
            .unwrap()
            .rebatch(3, false)
            .unwrap(),
        "rebatch_3_drop" => range(0, 10)
            .batch(4, false)
            .unwrap()
            .rebatch(3, true)
            .unwrap(),
        "shard_3_1" => range(0, 10).shard(3, 1).unwrap(),
        "enumerate_5" => Dataset::from_tensor_slices(i32s(&[1, 2, 3]))
            .unwrap()
            .enumerate(5),
        "concatenate" => range(1, 4).concatenate(&range(4, 8)).unwrap(),
        "filter_lt3" => Dataset::from_tensor_slices(i32s(&[1, 2, 3]))
            .unwrap()
            .filter(|x| Ok(x.tensor()?.scalar::<i32>()? < 3)),
        "range_neg" => Dataset::range(10, 0, -3).unwrap(),
        "slices_dict" => {
            let mut m = BTreeMap::new();
            m.insert(
                "x".to_string(),
                Element::Tensor(Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap()),
            );
            m.insert("y".to_string(), Element::Tensor(i32s(&[7, 8])));
            Dataset::from_tensor_slices(Element::Map(m)).unwrap()
        }
        other => panic!("no Rust pipeline for case {other}"),
    }
}

#[test]
fn outputs_match_tensorflow() {
    let fx = fixture();
    let cases = fx["outputs"].as_object().unwrap();
    assert!(cases.len() >= 40);
    for (name, expected) in cases {
        let ds = output_case(name);
        let got = Value::Array(values(&ds));
        assert_eq!(&got, expected, "case {name}");
        // A second epoch gives the same result.
        assert_eq!(Value::Array(values(&ds)), got, "case {name}, second epoch");
    }
}

fn card_case(name: &str) -> Dataset {
    let r10 = || range(0, 10);
    match name {
        "range" => r10(),
        "repeat_forever" => r10().repeat(None),
        "empty_repeat_forever" => range(0, 0).repeat(-1),
        "repeat_3" => r10().repeat(3),
        "repeat_0" => r10().repeat(0),
        "filter" => flt(),
        "filter_empty" => range(0, 0).filter(|_| Ok(true)),
        "filter_repeat" => flt().repeat(None),
        "filter_repeat_2" => flt().repeat(2),
        "repeat_take_5" => r10().repeat(None).take(5),
        "filter_take_5" => flt().take(5),
        "take_m1" => r10().take(-1),
        "repeat_take_m1" => r10().repeat(None).take(-1),
        "take_20" => r10().take(20),
        "skip_3" => r10().skip(3),
        "skip_20" => r10().skip(20),
        "skip_m1" => r10().skip(-1),
        "repeat_skip_5" => r10().repeat(None).skip(5),
        "repeat_skip_m1" => r10().repeat(None).skip(-1),
        "filter_skip_3" => flt().skip(3),
        "batch_3" => r10().batch(3, false).unwrap(),
        "batch_3_drop" => r10().batch(3, true).unwrap(),
        "repeat_batch_3" => r10().repeat(None).batch(3, false).unwrap(),
        "filter_batch_3" => flt().batch(3, false).unwrap(),
        "padded_batch_3" => r10().padded_batch(3, None, None, false).unwrap(),
        "shuffle" => r10().shuffle(4, None, true).unwrap(),
        "zip_10_5" => Dataset::zip([r10(), range(0, 5)]),
        "zip_10_inf" => Dataset::zip([r10(), range(0, 3).repeat(None)]),
        "zip_filter" => Dataset::zip([flt(), range(0, 3)]),
        "zip_inf_inf" => Dataset::zip([range(0, 3).repeat(None), range(0, 3).repeat(None)]),
        "zip_filter_inf" => Dataset::zip([flt(), range(0, 3).repeat(None)]),
        "concat_3_4" => range(0, 3).concatenate(&range(0, 4)).unwrap(),
        "concat_3_inf" => range(0, 3).concatenate(&range(0, 4).repeat(None)).unwrap(),
        "concat_filter_3" => flt().concatenate(&range(0, 3)).unwrap(),
        "concat_inf_filter" => range(0, 3).repeat(None).concatenate(&flt()).unwrap(),
        "concat_filter_inf" => flt().concatenate(&range(0, 3).repeat(None)).unwrap(),
        "take_0_of_filter" => flt().take(0),
        "window_of_filter" => flt().window(2, None, 1, false).unwrap(),
        "batch_of_empty" => range(0, 0).batch(4, false).unwrap(),
        "window_3_2" => range(0, 7).window(3, Some(2), 1, false).unwrap(),
        "window_3_2_1_drop" => range(0, 7).window(3, Some(2), 1, true).unwrap(),
        "window_3_1_2_drop" => range(0, 7).window(3, Some(1), 2, true).unwrap(),
        "window_3_2_2" => range(0, 7).window(3, Some(2), 2, false).unwrap(),
        "window_2_4" => r10().window(2, Some(4), 1, false).unwrap(),
        "window_5_drop_short" => range(0, 3).window(5, Some(1), 1, true).unwrap(),
        "unbatch_unknown" => r10().batch(3, false).unwrap().unbatch().unwrap(),
        "unbatch_known" => range(0, 12).batch(3, true).unwrap().unbatch().unwrap(),
        "unbatch_slices" => Dataset::from_tensor_slices(i64s(&[1, 2, 3, 4, 5, 6], &[3, 2]))
            .unwrap()
            .unbatch()
            .unwrap(),
        "unbatch_repeat" => range(0, 12)
            .batch(3, true)
            .unwrap()
            .repeat(None)
            .unbatch()
            .unwrap(),
        "rebatch_2" => range(0, 8)
            .batch(4, false)
            .unwrap()
            .rebatch(2, false)
            .unwrap(),
        "rebatch_2_known" => range(0, 8)
            .batch(4, true)
            .unwrap()
            .rebatch(3, false)
            .unwrap(),
        "rebatch_2_known_drop" => range(0, 8)
            .batch(4, true)
            .unwrap()
            .rebatch(3, true)
            .unwrap(),
        "rebatch_list" => range(0, 8)
            .batch(4, true)
            .unwrap()
            .rebatch_sizes(&[2, 1, 1], false)
            .unwrap(),
        "shard_3_1" => r10().shard(3, 1).unwrap(),
        "shard_3_0" => r10().shard(3, 0).unwrap(),
        "shard_3_2" => r10().shard(3, 2).unwrap(),
        "enumerate" => r10().enumerate(0),
        "interleave" => range(0, 3)
            .interleave(
                |x| Dataset::range(0, x.tensor()?.scalar::<i64>()?, 1),
                -1,
                1,
            )
            .unwrap(),
        "interleave_empty" => range(0, 0)
            .interleave(
                |x| Dataset::range(0, x.tensor()?.scalar::<i64>()?, 1),
                -1,
                1,
            )
            .unwrap(),
        "flat_map" => range(0, 3).flat_map(|x| Dataset::range(0, x.tensor()?.scalar::<i64>()?, 1)),
        "map" => r10().map(|x| ops::mul(x.tensor()?, &Tensor::from_scalar(2i64))),
        "prefetch" => r10().prefetch(2).unwrap(),
        "cache" => r10().cache(""),
        "from_generator" => gen_tuple(),
        "from_tensors" => Dataset::from_tensors(i32s(&[1, 2, 3])),
        "slices" => Dataset::from_tensor_slices(i32s(&[1, 2, 3])).unwrap(),
        other => panic!("no Rust pipeline for cardinality case {other}"),
    }
}

#[test]
fn cardinalities_match_tensorflow() {
    let fx = fixture();
    let cases = fx["cardinality"].as_object().unwrap();
    assert!(cases.len() >= 60);
    for (name, expected) in cases {
        let got = card_case(name).cardinality().as_i64();
        assert_eq!(Some(got), expected.as_i64(), "cardinality of {name}");
    }
}

fn spec_case(name: &str) -> Dataset {
    let ragged = || {
        Dataset::from_generator(
            || vec![Ok(Element::Tensor(i32s(&[1])))],
            ElementSpec::tensor(DType::I32, vec![None]),
        )
    };
    let pairs = || {
        Dataset::from_tensor_slices(Tensor::from_vec(vec![1i32, 2, 3, 4], [2, 2]).unwrap()).unwrap()
    };
    match name {
        "batch" => range(0, 10).batch(3, false).unwrap(),
        "batch_drop" => range(0, 10).batch(3, true).unwrap(),
        "batch_tuple" => Dataset::from_tensor_slices((
            Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]).unwrap(),
            strings(&["a"]),
        ))
        .unwrap()
        .batch(4, true)
        .unwrap(),
        "padded_default" => ragged().padded_batch(2, None, None, false).unwrap(),
        "padded_known" => pairs().padded_batch(2, None, None, false).unwrap(),
        "padded_5" => ragged()
            .padded_batch(2, Some(PaddedShapes::dims(&[5])), None, false)
            .unwrap(),
        "padded_m1_on_known" => pairs()
            .padded_batch(2, Some(PaddedShapes::dims(&[-1])), None, false)
            .unwrap(),
        "padded_drop" => pairs()
            .padded_batch(2, Some(PaddedShapes::dims(&[4])), None, true)
            .unwrap(),
        "unbatch" => range(0, 10).batch(3, false).unwrap().unbatch().unwrap(),
        "rebatch" => range(0, 8)
            .batch(4, false)
            .unwrap()
            .rebatch(2, false)
            .unwrap(),
        "rebatch_drop" => range(0, 8)
            .batch(4, false)
            .unwrap()
            .rebatch(2, true)
            .unwrap(),
        "rebatch_list_drop" => range(0, 8)
            .batch(4, false)
            .unwrap()
            .rebatch_sizes(&[2, 1], true)
            .unwrap(),
        "window" => range(0, 7).window(3, None, 1, false).unwrap(),
        "window_tuple" => Dataset::from_tensor_slices((i32s(&[1]), strings(&["a"])))
            .unwrap()
            .window(2, None, 1, false)
            .unwrap(),
        "enumerate" => Dataset::from_tensor_slices(strings(&["a"]))
            .unwrap()
            .enumerate(0),
        "zip" => Dataset::zip([
            range(0, 3),
            Dataset::from_tensor_slices(Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]).unwrap())
                .unwrap(),
        ]),
        "concatenate" => {
            Dataset::from_tensor_slices(Tensor::from_vec(vec![1i32, 2], [1, 2]).unwrap())
                .unwrap()
                .concatenate(
                    &Dataset::from_tensor_slices(
                        Tensor::from_vec(vec![1i32, 2, 3], [1, 3]).unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap()
        }
        "slices_dict" => {
            let mut m = BTreeMap::new();
            m.insert(
                "x".to_string(),
                Element::Tensor(Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]).unwrap()),
            );
            m.insert("y".to_string(), Element::Tensor(i32s(&[7])));
            Dataset::from_tensor_slices(Element::Map(m)).unwrap()
        }
        "range_int32" => Dataset::range_with_dtype(0, 3, 1, DType::I32).unwrap(),
        // The spec comes from tracing the function with a symbolic [3] f32 input.
        "map_mul" => Dataset::from_tensor_slices(Tensor::zeros([4, 3], DType::F32).unwrap())
            .unwrap()
            .map(|x| ops::mul(x.tensor()?, &Tensor::from_scalar(2.0f32))),
        "flat_map_window" => range(0, 7)
            .window(3, Some(2), 1, false)
            .unwrap()
            .flat_map(|w| w.dataset()?.batch(3, false)),
        "interleave" => range(0, 3)
            .interleave(|x| Ok(Dataset::from_tensors(x).repeat(2)), 2, 1)
            .unwrap(),
        other => panic!("no Rust pipeline for spec case {other}"),
    }
}

#[test]
fn element_specs_match_tensorflow() {
    let fx = fixture();
    let cases = fx["element_spec"].as_object().unwrap();
    assert!(cases.len() >= 20);
    for (name, expected) in cases {
        let got = spec_case(name).element_spec().to_string();
        assert_eq!(
            Some(got.as_str()),
            expected.as_str(),
            "element_spec of {name}"
        );
    }
}
