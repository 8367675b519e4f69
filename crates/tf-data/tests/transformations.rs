//! Transformations beyond the TensorFlow fixture: structure handling, error items and
//! messages, argument validation, spec inference through traced functions.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use tf_core::{DType, Error, PartialShape, Tensor, ops};
use tf_data::{Cardinality, Dataset, Element, ElementSpec, PaddedShapes, StringTensor};

fn range(n: i64) -> Dataset {
    Dataset::range(0, n, 1).unwrap()
}

#[test]
fn batch_of_different_shapes_is_an_error_item_naming_the_component() {
    let ds = Dataset::from_generator(
        || {
            vec![
                Ok(Element::from((Tensor::from_scalar(1i32), i32s(&[1, 2, 3])))),
                Ok(Element::from((Tensor::from_scalar(2i32), i32s(&[1, 2])))),
            ]
        },
        ElementSpec::Tuple(vec![
            ElementSpec::tensor(DType::I32, PartialShape::scalar()),
            ElementSpec::tensor(DType::I32, vec![None]),
        ]),
    )
    .batch(2, false)
    .unwrap();
    let err = ds.collect().unwrap_err().to_string();
    assert!(
        err.contains("component 1") && err.contains("[3]") && err.contains("[2]"),
        "{err}"
    );
}

#[test]
fn batching_strings_and_maps() {
    let ds = Dataset::from_tensor_slices(strings(&["a", "b", "c"]))
        .unwrap()
        .batch(2, false)
        .unwrap();
    assert_eq!(ds.element_spec(), ElementSpec::strings(vec![None]));
    let b = ds.collect().unwrap();
    assert_eq!(b[0].strings().unwrap().shape().dims(), &[2]);
    assert_eq!(&*b[1].strings().unwrap().values()[0], b"c");
    // Batch then unbatch is the identity.
    let round = ds.unbatch().unwrap();
    assert_eq!(
        values(&round),
        values(&Dataset::from_tensor_slices(strings(&["a", "b", "c"])).unwrap())
    );
}

#[test]
fn batch_unbatch_rebatch_agree_on_random_sizes() {
    for (n, b, r) in [(17, 4, 3), (10, 10, 1), (9, 2, 5), (1, 3, 2)] {
        let x = Tensor::from_vec((0..n * 2).collect::<Vec<i64>>(), [n as usize, 2]).unwrap();
        let base = Dataset::zip([Dataset::from_tensor_slices(x).unwrap(), range(n)]);
        let via_unbatch = base
            .batch(b, false)
            .unwrap()
            .unbatch()
            .unwrap()
            .batch(r, false)
            .unwrap();
        let via_rebatch = base.batch(b, false).unwrap().rebatch(r, false).unwrap();
        assert_eq!(
            values(&via_rebatch),
            values(&via_unbatch),
            "n {n} b {b} r {r}"
        );
        assert_eq!(
            values(&base.batch(b, false).unwrap().unbatch().unwrap()),
            values(&base)
        );
        let dropped = base.batch(b, false).unwrap().rebatch(r, true).unwrap();
        assert_eq!(values(&dropped).len(), n as usize / r);
    }
}

#[test]
fn unbatch_rejects_scalars_and_mismatched_components() {
    assert!(
        range(3)
            .unbatch()
            .unwrap_err()
            .to_string()
            .contains("non-scalar")
    );
    let ds = Dataset::from_generator(
        || vec![Ok(Element::from((i32s(&[1, 2]), i32s(&[1]))))],
        ElementSpec::Tuple(vec![
            ElementSpec::tensor(DType::I32, vec![None]),
            ElementSpec::tensor(DType::I32, vec![None]),
        ]),
    );
    let err = ds.unbatch().unwrap().collect().unwrap_err().to_string();
    assert!(err.contains("different first dimensions"), "{err}");
}

#[test]
fn padded_batch_errors() {
    // A padded size smaller than a known dimension is rejected up front.
    let known = Dataset::from_tensor_slices(i64s(&[1, 2, 3, 4], &[2, 2])).unwrap();
    let err = known
        .padded_batch(2, Some(PaddedShapes::dims(&[1])), None, false)
        .unwrap_err();
    assert!(err.to_string().contains("not compatible"), "{err}");
    // Wrong rank.
    assert!(
        known
            .padded_batch(2, Some(PaddedShapes::dims(&[3, 3])), None, false)
            .is_err()
    );
    // Wrong padding dtype.
    let err = known
        .padded_batch(
            2,
            None,
            Some(Element::Tensor(Tensor::from_scalar(1.0f32))),
            false,
        )
        .unwrap_err();
    assert!(err.to_string().contains("dtype"), "{err}");
    // An element larger than the padded shape, found while iterating.
    let ragged = Dataset::from_generator(
        || vec![Ok(Element::Tensor(i32s(&[1, 2, 3])))],
        ElementSpec::tensor(DType::I32, vec![None]),
    );
    let err = ragged
        .padded_batch(2, Some(PaddedShapes::dims(&[2])), None, false)
        .unwrap()
        .collect()
        .unwrap_err();
    assert!(err.to_string().contains("smaller size"), "{err}");
    assert!(known.padded_batch(0, None, None, false).is_err());
}

#[test]
fn padded_batch_of_maps_and_bools() {
    let ds = Dataset::from_generator(
        || {
            (1..4usize).map(|n| {
                let mut m = std::collections::BTreeMap::new();
                m.insert(
                    "ok".to_string(),
                    Element::Tensor(Tensor::from_vec(vec![true; n], [n])?),
                );
                m.insert(
                    "ids".to_string(),
                    Element::Tensor(Tensor::from_vec(vec![n as i64; n * 2], [n, 2])?),
                );
                Ok(Element::Map(m))
            })
        },
        ElementSpec::Unknown,
    )
    .padded_batch(3, None, None, false)
    .unwrap();
    let v = values(&ds);
    assert_eq!(
        v[0],
        serde_json::json!({
            "ids": [[[1, 1], [0, 0], [0, 0]], [[2, 2], [2, 2], [0, 0]], [[3, 3], [3, 3], [3, 3]]],
            "ok": [[true, false, false], [true, true, false], [true, true, true]]
        })
    );
}

#[test]
fn filter_and_map_errors_name_the_element() {
    let ds = range(5).filter(|x| {
        let v = x.tensor()?.scalar::<i64>()?;
        if v == 3 {
            Err(Error::invalid("Pred", "cannot decide"))
        } else {
            Ok(v % 2 == 0)
        }
    });
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(items.len(), 4); // 0, 2, error at 3, 4
    let msg = items[2].as_ref().unwrap_err().to_string();
    assert!(
        msg.contains("element 3") && msg.contains("cannot decide"),
        "{msg}"
    );
    assert_eq!(ds.cardinality(), Cardinality::Unknown);
}

#[test]
fn map_spec_is_inferred_by_tracing() {
    let ds = Dataset::from_tensor_slices(Tensor::zeros([5, 4], DType::F32).unwrap())
        .unwrap()
        .map(|x| {
            let x = x.tensor()?;
            let y = ops::reduce_sum(x, Some(&[0]), false)?;
            Ok(Element::from((ops::mul(x, x)?, y)))
        });
    assert_eq!(
        ds.element_spec(),
        ElementSpec::Tuple(vec![
            ElementSpec::tensor(DType::F32, vec![Some(4)]),
            ElementSpec::tensor(DType::F32, PartialShape::scalar()),
        ])
    );
    // A function that reads values cannot be traced: the spec is unknown, unless given.
    let opaque = range(3).map(|x| Ok(Tensor::from_scalar(x.tensor()?.scalar::<i64>()? as f32)));
    assert_eq!(opaque.element_spec(), ElementSpec::Unknown);
    let given = range(3)
        .map_with(
            |x| Ok(Tensor::from_scalar(x.tensor()?.scalar::<i64>()? as f32)),
            tf_data::MapOptions::new()
                .output_spec(ElementSpec::tensor(DType::F32, PartialShape::scalar())),
        )
        .unwrap();
    assert_eq!(
        given.element_spec(),
        ElementSpec::tensor(DType::F32, PartialShape::scalar())
    );
    assert_eq!(
        given.batch(2, true).unwrap().element_spec(),
        ElementSpec::tensor(DType::F32, vec![Some(2)])
    );
    // Unknown passes through batch.
    assert_eq!(
        opaque.batch(2, false).unwrap().element_spec(),
        ElementSpec::Unknown
    );
}

#[test]
fn invalid_arguments_are_errors() {
    let ds = range(5);
    let cases: Vec<(&str, Result<Dataset, Error>)> = vec![
        ("batch_size", ds.batch(0, false)),
        ("batch_size", ds.rebatch(0, false)),
        ("Number of shards", ds.shard(0, 0)),
        ("Index", ds.shard(3, 3)),
        ("size", ds.window(0, None, 1, false)),
        ("shift", ds.window(2, Some(0), 1, false)),
        ("stride", ds.window(2, None, 0, false)),
        ("buffer_size", ds.prefetch(-3)),
        ("buffer_size", ds.shuffle(0, None, true)),
        (
            "num_parallel_calls",
            ds.map_with(Ok, tf_data::MapOptions::new().num_parallel_calls(0)),
        ),
        (
            "cycle_length",
            ds.interleave(|x| Ok(Dataset::from_tensors(x)), 0, 1),
        ),
        (
            "block_length",
            ds.interleave(|x| Ok(Dataset::from_tensors(x)), 1, 0),
        ),
        (
            "Incompatible",
            ds.concatenate(&Dataset::from_tensors(strings(&["a"]))),
        ),
    ];
    for (needle, r) in cases {
        let err = r
            .err()
            .unwrap_or_else(|| panic!("expected an error about {needle}"));
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert_eq!(err.code(), "INVALID_ARGUMENT");
    }
}

#[test]
fn take_skip_and_repeat_edge_cases() {
    assert!(ints(&range(5).take(0)).is_empty());
    assert_eq!(ints(&range(5).skip(0)), vec![0, 1, 2, 3, 4]);
    assert_eq!(
        ints(&range(3).repeat(None).take(7)),
        vec![0, 1, 2, 0, 1, 2, 0]
    );
    // An endless repeat of an empty dataset ends instead of spinning.
    assert!(ints(&range(0).repeat(None)).is_empty());
    assert!(ints(&range(0).repeat(-1)).is_empty());
    assert_eq!(
        range(3).repeat(None).take(-1).cardinality(),
        Cardinality::Infinite
    );
}

#[test]
fn zip_and_concatenate_structures() {
    let z = Dataset::zip([
        range(3),
        Dataset::from_tensor_slices(strings(&["a", "b"])).unwrap(),
    ]);
    assert_eq!(
        values(&z),
        vec![serde_json::json!([0, "a"]), serde_json::json!([1, "b"])]
    );
    let c = Dataset::from_tensor_slices(i64s(&[1, 2], &[1, 2]))
        .unwrap()
        .concatenate(&Dataset::from_tensor_slices(i64s(&[3, 4, 5], &[1, 3])).unwrap())
        .unwrap();
    assert_eq!(
        c.element_spec(),
        ElementSpec::tensor(DType::I64, vec![None])
    );
    assert_eq!(
        c.collect().unwrap().iter().map(tvec).collect::<Vec<_>>(),
        vec![vec![1, 2], vec![3, 4, 5]]
    );
    assert_eq!(Dataset::zip([]).cardinality(), Cardinality::Finite(0));
}

#[test]
fn enumerate_and_shard_cover_everything_once() {
    let e = range(3).enumerate(10);
    assert_eq!(
        values(&e),
        vec![
            serde_json::json!([10, 0]),
            serde_json::json!([11, 1]),
            serde_json::json!([12, 2])
        ]
    );
    let mut all: Vec<i64> = (0..4)
        .flat_map(|i| ints(&range(23).shard(4, i).unwrap()))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..23).collect::<Vec<_>>());
    for i in 0..4 {
        let ds = range(23).shard(4, i).unwrap();
        assert_eq!(
            ds.cardinality(),
            Cardinality::Finite(ints(&ds).len() as u64)
        );
    }
}

#[test]
fn window_values_are_datasets_with_specs() {
    let w = range(5).window(2, None, 1, false).unwrap();
    assert_eq!(
        w.element_spec(),
        ElementSpec::Dataset(Box::new(ElementSpec::tensor(
            DType::I64,
            PartialShape::scalar()
        )))
    );
    let first = w.collect().unwrap().remove(0);
    let inner = first.dataset().unwrap();
    assert_eq!(inner.cardinality(), Cardinality::Finite(2));
    assert_eq!(ints(inner), vec![0, 1]);
    // Windows of pairs are pairs of datasets; zip them back inside flat_map.
    let pairs = Dataset::zip([
        range(5),
        range(5).map(|x| ops::mul(x.tensor()?, &Tensor::from_scalar(10i64))),
    ])
    .window(2, None, 1, true)
    .unwrap()
    .flat_map(|w| {
        let (a, b) = w.into_pair()?;
        Dataset::zip([a.dataset()?.clone(), b.dataset()?.clone()]).batch(2, false)
    });
    assert_eq!(
        values(&pairs),
        vec![
            serde_json::json!([[0, 1], [0, 10]]),
            serde_json::json!([[2, 3], [20, 30]])
        ]
    );
}

#[test]
fn windows_of_strings_and_errors_inside_windows() {
    let w = Dataset::from_tensor_slices(strings(&["a", "b", "c"]))
        .unwrap()
        .window(2, Some(1), 1, true)
        .unwrap()
        .flat_map(|w| w.dataset()?.batch(2, false));
    assert_eq!(
        values(&w),
        vec![serde_json::json!(["a", "b"]), serde_json::json!(["b", "c"])]
    );
    // An error item inside overlapping windows fails every window containing it.
    let src = range(5).map(|x| {
        if x.tensor()?.scalar::<i64>()? == 2 {
            Err(Error::invalid("Src", "bad element"))
        } else {
            Ok(x)
        }
    });
    let items: Vec<_> = src
        .window(3, Some(1), 1, true)
        .unwrap()
        .iter()
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|r| r.is_err()));
}

#[test]
fn interleave_passes_errors_of_its_function() {
    let ds = range(4)
        .interleave(
            |x| {
                let v = x.tensor()?.scalar::<i64>()?;
                if v == 2 {
                    return Err(Error::invalid("Opener", "cannot open 2"));
                }
                Ok(Dataset::from_tensors(x).repeat(2))
            },
            1,
            1,
        )
        .unwrap();
    let items: Vec<_> = ds.iter().unwrap().collect();
    let errs: Vec<_> = items.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].to_string().contains("input element 2"),
        "{}",
        errs[0]
    );
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 6);
}

#[test]
fn string_scalars_round_trip() {
    let s = StringTensor::scalar(&b"hello"[..]);
    let ds = Dataset::from_tensors(s).repeat(2).batch(2, true).unwrap();
    assert_eq!(ds.element_spec(), ElementSpec::strings(vec![Some(2)]));
    assert_eq!(values(&ds), vec![serde_json::json!(["hello", "hello"])]);
}

#[test]
fn functions_that_panic_on_placeholders_still_work() {
    // The trace panics (to_vec of a symbolic tensor, unwrapped); iteration is fine.
    let ds = range(3).map(|x| {
        let v = x.tensor()?.to_vec::<i64>().unwrap();
        Ok(Tensor::from_scalar(v[0] * 3))
    });
    assert_eq!(ds.element_spec(), ElementSpec::Unknown);
    assert_eq!(ints(&ds), vec![0, 3, 6]);
    // Nested traces: a flat_map whose datasets map with such a function.
    let nested = range(2).flat_map(|x| {
        Ok(Dataset::from_tensors(x).map(|y| {
            let v = y.tensor()?.to_vec::<i64>().unwrap();
            Ok(Tensor::from_scalar(v[0] + 10))
        }))
    });
    assert_eq!(ints(&nested), vec![10, 11]);
}

/// range(10) whose element 4 is an error (like a map function failing on it).
fn with_error_at_4() -> Dataset {
    range(10).map(|x| {
        if x.tensor()?.scalar::<i64>()? == 4 {
            Err(Error::invalid("Check", "element is 4"))
        } else {
            Ok(x)
        }
    })
}

/// One epoch with error items as "E" (TensorFlow's iteration with try/except, default
/// optimizations off, gives the same sequences).
fn with_errors(ds: &Dataset) -> Vec<String> {
    ds.iter()
        .unwrap()
        .map(|r| match r {
            Ok(e) => to_json(&e).to_string(),
            Err(_) => "E".to_string(),
        })
        .collect()
}

#[test]
fn error_items_flow_like_tensorflow() {
    let ds = with_error_at_4;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        with_errors(&ds().batch(3, false).unwrap()),
        s(&["[0,1,2]", "E", "[5,6,7]", "[8,9]"])
    );
    assert_eq!(
        with_errors(&ds().padded_batch(3, None, None, false).unwrap()),
        s(&["[0,1,2]", "E", "[5,6,7]", "[8,9]"])
    );
    assert_eq!(
        with_errors(&ds().take(6)),
        s(&["0", "1", "2", "3", "E", "5", "6"])
    );
    assert_eq!(
        with_errors(&ds().take(6).repeat(2)),
        s(&[
            "0", "1", "2", "3", "E", "5", "6", "0", "1", "2", "3", "E", "5", "6"
        ])
    );
    assert_eq!(
        with_errors(&ds().filter(|x| Ok(x.tensor()?.scalar::<i64>()? % 2 == 0))),
        s(&["0", "2", "E", "6", "8"])
    );
    assert_eq!(
        with_errors(&ds().batch(2, false).unwrap().unbatch().unwrap()),
        s(&["0", "1", "2", "3", "E", "5", "6", "7", "8", "9"])
    );
    assert_eq!(with_errors(&ds().enumerate(0))[4..6], s(&["E", "[5,5]"]));
    assert_eq!(
        with_errors(&Dataset::zip([ds(), Dataset::range(100, 110, 1).unwrap()]))[3..6],
        s(&["[3,103]", "E", "[5,105]"])
    );
    assert_eq!(
        with_errors(&ds().concatenate(&range(2)).unwrap()),
        s(&["0", "1", "2", "3", "E", "5", "6", "7", "8", "9", "0", "1"])
    );
    assert_eq!(
        with_errors(&ds().prefetch(2).unwrap()),
        s(&["0", "1", "2", "3", "E", "5", "6", "7", "8", "9"])
    );
    // Windows that contain the error fail (TensorFlow with ignore_errors keeps
    // [0,1,2] [1,2,3] [5,6,7] [6,7,8] [7,8,9]).
    let w = ds()
        .window(3, Some(1), 1, true)
        .unwrap()
        .flat_map(|w| w.dataset()?.batch(3, false));
    assert_eq!(
        with_errors(&w),
        s(&[
            "[0,1,2]", "[1,2,3]", "E", "E", "E", "[5,6,7]", "[6,7,8]", "[7,8,9]"
        ])
    );
}
