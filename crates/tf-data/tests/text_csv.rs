//! TextLineDataset, CsvDataset and list_files, against TensorFlow 2.21's outputs for the
//! same files (`formats_expected.json`), plus compression, several files, and errors.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use tf_data::formats::compression::CompressedWriter;
use tf_data::formats::{
    Compression, CsvColumn, CsvDataset, TextLineDataset, list_files, matching_files,
};
use tf_data::{Cardinality, Dataset, Element};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("formats_expected.json")).unwrap())
        .unwrap()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tf-data-textcsv-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(path: &Path, bytes: &[u8], c: Compression) {
    let mut w = CompressedWriter::new(std::fs::File::create(path).unwrap(), c);
    w.write_all(bytes).unwrap();
    w.finish().unwrap();
}

fn strings(ds: &Dataset) -> Vec<String> {
    ds.iter()
        .unwrap()
        .map(|e| {
            String::from_utf8_lossy(e.unwrap().strings().unwrap().as_bytes().unwrap()).into_owned()
        })
        .collect()
}

#[test]
fn text_lines_match_tensorflow() {
    let want: Vec<String> = expected()["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let ds = TextLineDataset::new([fixture("lines.txt")]).build();
    assert_eq!(strings(&ds), want);
    assert_eq!(ds.cardinality(), Cardinality::Unknown);
}

#[test]
fn text_lines_compressed_and_several_files() {
    let d = tmpdir("lines");
    let src = std::fs::read(fixture("lines.txt")).unwrap();
    let want = strings(&TextLineDataset::new([fixture("lines.txt")]).build());
    for (c, name) in [(Compression::Gzip, "l.gz"), (Compression::Zlib, "l.zz")] {
        write(&d.join(name), &src, c);
        let ds = TextLineDataset::new([d.join(name)])
            .compression(c)
            .buffer_size(3)
            .build();
        assert_eq!(strings(&ds), want, "{c}");
    }
    write(&d.join("a.txt"), b"a1\na2\na3\n", Compression::None);
    write(&d.join("b.txt"), b"b1", Compression::None);
    write(&d.join("empty.txt"), b"", Compression::None);
    let files = [d.join("a.txt"), d.join("empty.txt"), d.join("b.txt")];
    assert_eq!(
        strings(&TextLineDataset::new(&files).build()),
        ["a1", "a2", "a3", "b1"]
    );
    // Two files at a time, in TensorFlow's interleave order: a1 (slot 0); slot 1's empty
    // file ends, so the cycle moves on to a2; slot 1 then takes b.txt: b1; a3.
    assert_eq!(
        strings(&TextLineDataset::new(&files).num_parallel_reads(2).build()),
        ["a1", "a2", "b1", "a3"]
    );
    // A missing file is an error naming it.
    let e = TextLineDataset::new([d.join("nope.txt")])
        .build()
        .collect()
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.txt"), "{e}");
    // A corrupt gzip stream is an error naming the file and the line reached.
    let mut gz = std::fs::read(d.join("l.gz")).unwrap();
    gz.truncate(gz.len() - 6);
    std::fs::write(d.join("bad.gz"), gz).unwrap();
    let e = TextLineDataset::new([d.join("bad.gz")])
        .compression(Compression::Gzip)
        .build()
        .collect();
    assert!(e.unwrap_err().to_string().contains("bad.gz"));
    std::fs::remove_dir_all(d).unwrap();
}

fn defaults() -> Vec<CsvColumn> {
    vec![
        CsvColumn::Int64(Some(0)),
        CsvColumn::string("dflt"),
        CsvColumn::Float32(Some(-1.0)),
        CsvColumn::Int32(Some(-9)),
    ]
}

/// One element as JSON-like values in TensorFlow's printing.
fn row(e: &Element) -> Vec<serde_json::Value> {
    e.tuple()
        .unwrap()
        .iter()
        .map(|c| match c {
            Element::Strings(s) => serde_json::Value::String(
                String::from_utf8(s.as_bytes().unwrap().to_vec()).unwrap(),
            ),
            Element::Tensor(t) => match t.dtype() {
                tf_core::DType::F32 => {
                    let v = t.scalar::<f32>().unwrap();
                    if v.is_nan() {
                        "nan".into()
                    } else if v.is_infinite() {
                        "inf".into()
                    } else {
                        serde_json::json!(f64::from(v))
                    }
                }
                tf_core::DType::I32 => serde_json::json!(t.scalar::<i32>().unwrap()),
                _ => serde_json::json!(t.scalar::<i64>().unwrap()),
            },
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn csv_matches_tensorflow() {
    let want = &expected()["csv"];
    let ds = CsvDataset::new([fixture("table.csv")], defaults())
        .header(true)
        .na_value("NA")
        .build();
    let got: Vec<Vec<serde_json::Value>> = ds.iter().unwrap().map(|e| row(&e.unwrap())).collect();
    assert_eq!(serde_json::Value::from(got), want["all"]);
    assert_eq!(
        ds.element_spec().to_string(),
        "(TensorSpec(shape=[], dtype=int64), TensorSpec(shape=[], dtype=string), TensorSpec(shape=[], dtype=float32), TensorSpec(shape=[], dtype=int32))"
    );
    let ds = CsvDataset::new([fixture("table.csv")], defaults()[1..3].to_vec())
        .header(true)
        .select_cols([1, 2])
        .build();
    let got: Vec<Vec<serde_json::Value>> = ds.iter().unwrap().map(|e| row(&e.unwrap())).collect();
    assert_eq!(serde_json::Value::from(got), want["select_1_2"]);
    // -0.0 keeps its sign.
    let last = ds.collect().unwrap().pop().unwrap();
    assert!(
        last.get(1)
            .unwrap()
            .tensor()
            .unwrap()
            .scalar::<f32>()
            .unwrap()
            .is_sign_negative()
    );
}

#[test]
fn csv_select_columns_by_name_gives_maps() {
    let ds = CsvDataset::new([fixture("table.csv")], vec![])
        .select_columns(vec![
            ("score", CsvColumn::Float64(Some(0.0))),
            ("id", CsvColumn::Int32(None)),
        ])
        .unwrap()
        .build();
    let rows = ds.collect().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows[0]
            .field("id")
            .unwrap()
            .tensor()
            .unwrap()
            .scalar::<i32>()
            .unwrap(),
        1
    );
    assert_eq!(
        rows[2]
            .field("score")
            .unwrap()
            .tensor()
            .unwrap()
            .scalar::<f64>()
            .unwrap(),
        1000.0
    );
    assert_eq!(
        rows[1]
            .field("score")
            .unwrap()
            .tensor()
            .unwrap()
            .scalar::<f64>()
            .unwrap(),
        0.0
    );
    assert_eq!(
        ds.element_spec().to_string(),
        "{'id': TensorSpec(shape=[], dtype=int32), 'score': TensorSpec(shape=[], dtype=float64)}"
    );
    let e = CsvDataset::new([fixture("table.csv")], vec![])
        .select_columns(vec![("nope", CsvColumn::Int32(None))]);
    assert!(e.unwrap_err().to_string().contains("'nope'"));
}

#[test]
fn csv_digits_gzip() {
    // 1797 rows of 64 pixels + label; sums computed independently with Python.
    let cols = vec![CsvColumn::Int32(None); 65];
    let ds = CsvDataset::new([fixture("digits.csv.gz")], cols)
        .compression(Compression::Gzip)
        .build();
    let (mut n, mut pixels, mut labels) = (0usize, 0i64, 0i64);
    let mut counts = [0usize; 10];
    for e in ds.iter().unwrap() {
        let e = e.unwrap();
        let t = e.tuple().unwrap();
        assert_eq!(t.len(), 65);
        pixels += t[..64]
            .iter()
            .map(|c| i64::from(c.tensor().unwrap().scalar::<i32>().unwrap()))
            .sum::<i64>();
        let l = t[64].tensor().unwrap().scalar::<i32>().unwrap();
        labels += i64::from(l);
        counts[l as usize] += 1;
        n += 1;
    }
    assert_eq!((n, pixels, labels), (1797, 561718, 8070));
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
}

fn csv_err(content: &[u8], cols: Vec<CsvColumn>) -> String {
    let d = tmpdir("csverr");
    let p = d.join("bad.csv");
    std::fs::write(&p, content).unwrap();
    let e = CsvDataset::new([&p], cols)
        .build()
        .collect()
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(d).unwrap();
    e
}

#[test]
fn csv_errors_name_file_line_and_field() {
    let three = || {
        vec![
            CsvColumn::Int32(Some(0)),
            CsvColumn::string("d"),
            CsvColumn::Float32(Some(-1.0)),
        ]
    };
    // The same inputs TensorFlow rejects (messages checked with TF 2.21).
    let e = csv_err(b"1,a,2\n\n", three());
    assert!(
        e.contains("bad.csv") && e.contains("line 2") && e.contains("expected 3 fields but have 1"),
        "{e}"
    );
    let e = csv_err(b"1,x\"y,2\n", three());
    assert!(e.contains("unquoted fields cannot have quotes"), "{e}");
    let e = csv_err(b"1,\"x\"y,2\n", three());
    assert!(e.contains("must be doubled"), "{e}");
    let e = csv_err(b"1,\"open,2\n", three());
    assert!(e.contains("end of the file inside a quoted field"), "{e}");
    let e = csv_err(b"1,2\n", three());
    assert!(e.contains("expected 3 fields but have 2"), "{e}");
    let e = csv_err(b"1,2,3,4\n", three());
    assert!(e.contains("expected 3 fields but have more"), "{e}");
    let e = csv_err(b"ok,a,1\n", three());
    assert!(e.contains("field 0 is not a valid int32: ok"), "{e}");
    let e = csv_err(b"99999999999,a,1\n", three());
    assert!(e.contains("not a valid int32"), "{e}");
    let e = csv_err(
        b"1,a,\n",
        vec![
            CsvColumn::Int32(None),
            CsvColumn::String(None),
            CsvColumn::Float32(None),
        ],
    );
    assert!(
        e.contains("record 0") && e.contains("field 2 is required but missing"),
        "{e}"
    );
    // Bad configurations.
    let e = csv_err(b"1\n", vec![]);
    assert!(e.contains("record_defaults"), "{e}");
    let d = tmpdir("csvcfg");
    std::fs::write(d.join("a.csv"), b"1,2,3\n").unwrap();
    let ds = CsvDataset::new([d.join("a.csv")], vec![CsvColumn::Int32(None); 2])
        .select_cols([2, 1])
        .build();
    assert!(
        ds.iter()
            .err()
            .unwrap()
            .to_string()
            .contains("strictly increasing")
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn csv_delimiters_quotes_and_whitespace() {
    let d = tmpdir("csvopt");
    std::fs::write(d.join("s.csv"), b"a;b\n 1.5 ;\"x;y\"\n").unwrap();
    let ds = CsvDataset::new(
        [d.join("s.csv")],
        vec![CsvColumn::Float64(None), CsvColumn::String(None)],
    )
    .field_delim(b';')
    .header(true)
    .build();
    let rows = ds.collect().unwrap();
    assert_eq!(
        rows[0]
            .get(0)
            .unwrap()
            .tensor()
            .unwrap()
            .scalar::<f64>()
            .unwrap(),
        1.5
    );
    assert_eq!(
        rows[0]
            .get(1)
            .unwrap()
            .strings()
            .unwrap()
            .as_bytes()
            .unwrap(),
        b"x;y"
    );
    // Without quote handling quotes are ordinary characters (TensorFlow: `"x` stays).
    std::fs::write(d.join("q.csv"), b"1,\"x,y\"\n").unwrap();
    let ds = CsvDataset::new(
        [d.join("q.csv")],
        vec![CsvColumn::Int32(None), CsvColumn::String(None)],
    )
    .use_quote_delim(false)
    .select_cols([0, 1])
    .build();
    let rows = ds.collect().unwrap();
    assert_eq!(
        rows[0]
            .get(1)
            .unwrap()
            .strings()
            .unwrap()
            .as_bytes()
            .unwrap(),
        b"\"x"
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn list_files_sorted_and_shuffled_per_epoch() {
    let d = tmpdir("glob");
    for name in [
        "b.tfrecord",
        "a.tfrecord",
        "c.txt",
        "d1.tfrecord",
        "d2.tfrecord",
        "e.tfrecord",
    ] {
        std::fs::write(d.join(name), b"").unwrap();
    }
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/x.tfrecord"), b"").unwrap();
    let pat = format!("{}/*.tfrecord", d.display());
    let names: Vec<String> = matching_files(&pat)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "a.tfrecord",
            "b.tfrecord",
            "d1.tfrecord",
            "d2.tfrecord",
            "e.tfrecord"
        ]
    );
    assert_eq!(
        matching_files(&format!("{}/d[0-9].*", d.display()))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        matching_files(&format!("{}/*/x.*", d.display()))
            .unwrap()
            .len(),
        1
    );
    assert!(
        matching_files(&format!("{}/nodir/*", d.display()))
            .unwrap()
            .is_empty()
    );
    // Unshuffled: sorted, every epoch.
    let ds = list_files(&[&pat], false, None).unwrap();
    let sorted = strings(&ds);
    assert_eq!(sorted.len(), 5);
    assert!(sorted.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ds.cardinality(), Cardinality::Finite(5));
    // Shuffled with a seed: each epoch a permutation; the sequence of orders repeats
    // for the same seed; orders differ between epochs.
    let a = list_files(&[&pat], true, Some(7)).unwrap();
    let b = list_files(&[&pat], true, Some(7)).unwrap();
    let epochs_a: Vec<Vec<String>> = (0..6).map(|_| strings(&a)).collect();
    let epochs_b: Vec<Vec<String>> = (0..6).map(|_| strings(&b)).collect();
    assert_eq!(epochs_a, epochs_b);
    for e in &epochs_a {
        let mut s = e.clone();
        s.sort();
        assert_eq!(s, sorted);
    }
    assert!(epochs_a.windows(2).any(|w| w[0] != w[1]));
    // No match is an error naming the pattern.
    let e = list_files(&[format!("{}/*.none", d.display())], true, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("No files matched pattern") && e.contains("*.none"),
        "{e}"
    );
    std::fs::remove_dir_all(d).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_csv_and_text_never_panic(bytes in proptest::collection::vec(prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), any::<u8>()], 0..80)) {
        let d = tmpdir("prop");
        let p = d.join("r.csv");
        std::fs::write(&p, &bytes).unwrap();
        let cols = vec![CsvColumn::Int32(Some(0)), CsvColumn::string(""), CsvColumn::Float64(Some(0.0))];
        for e in CsvDataset::new([&p], cols).build().iter().unwrap().take(100) {
            let _ = e;
        }
        let lines = strings(&TextLineDataset::new([&p]).build()).len();
        prop_assert!(lines <= bytes.len());
        for c in [Compression::Gzip, Compression::Zlib] {
            let _ = TextLineDataset::new([&p]).compression(c).build().collect();
        }
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// `exclude_cols` against TensorFlow 2.21 (`sequence_expected.json`'s `csv` part, file
/// `exclude.csv`), and its argument errors with TensorFlow's wording.
#[test]
fn csv_exclude_cols_matches_tensorflow() {
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("sequence_expected.json")).unwrap())
            .unwrap();
    let cases: [(&str, Vec<CsvColumn>); 3] = [
        (
            "exclude_1_3",
            vec![CsvColumn::Int64(Some(0)), CsvColumn::Float32(Some(0.0))],
        ),
        (
            "exclude_0",
            vec![
                CsvColumn::string(""),
                CsvColumn::Float32(Some(-1.0)),
                CsvColumn::string(""),
            ],
        ),
        ("exclude_wrong_count", vec![CsvColumn::Int64(Some(0))]),
    ];
    for (name, cols) in cases {
        let case = exp["csv"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        let exclude: Vec<usize> = case["exclude"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let ds = CsvDataset::new([fixture("exclude.csv")], cols)
            .exclude_cols(exclude)
            .build();
        match case.get("rows") {
            Some(want) => {
                let got: Vec<serde_json::Value> = ds
                    .collect()
                    .unwrap()
                    .iter()
                    .map(|e| serde_json::Value::Array(row(e)))
                    .collect();
                assert_eq!(&serde_json::Value::Array(got), want, "{name}");
            }
            None => {
                // TF: "Expect 1 fields but have more in record".
                assert!(case["message"].as_str().unwrap().contains("have more"));
                let err = ds.collect().unwrap_err().to_string();
                assert!(err.contains("expected 1 fields but have more"), "{err}");
                assert!(err.contains("exclude.csv: line 1"), "{err}");
            }
        }
    }
    // A record shorter than the columns: the count of kept fields is named.
    let err = CsvDataset::new([fixture("exclude.csv")], vec![CsvColumn::string(""); 5])
        .exclude_cols([1])
        .build()
        .collect()
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected 5 fields but have 3"), "{err}");
    // Excluded columns past the end of the record are ignored (as in TensorFlow).
    let rows = CsvDataset::new([fixture("exclude.csv")], vec![CsvColumn::string(""); 4])
        .exclude_cols([7])
        .build()
        .collect()
        .unwrap();
    assert_eq!(rows.len(), 3);
    let bad = |ds: CsvDataset| ds.build().collect().unwrap_err().to_string();
    let one = || CsvDataset::new([fixture("exclude.csv")], vec![CsvColumn::string(""); 2]);
    let e = bad(one().exclude_cols([2, 1]));
    assert!(e.contains("should be strictly increasing"), "{e}");
    let e = bad(one().exclude_cols([1, 1]));
    assert!(e.contains("should be strictly increasing"), "{e}");
    let e = bad(one().exclude_cols([1]).select_cols([0, 2]));
    assert!(
        e.contains("Either select_cols or exclude_cols should be empty"),
        "{e}"
    );
}

/// The `Dataset`-level entry points build the same sources, and text/CSV files can
/// come from a dataset of names.
#[test]
fn dataset_entry_points_and_file_name_datasets() {
    let lines = fixture("lines.txt");
    let direct = strings(&TextLineDataset::new([&lines]).build());
    assert!(!direct.is_empty());
    assert_eq!(strings(&Dataset::text_lines([&lines]).into()), direct);
    let pattern = lines.to_string_lossy().into_owned();
    let names = Dataset::list_files(&[&pattern], false, None).unwrap();
    assert_eq!(
        strings(&TextLineDataset::from_file_names(&names).unwrap().build()),
        direct
    );

    let table = fixture("table.csv");
    let csv = |ds: Dataset| -> Vec<Vec<serde_json::Value>> {
        ds.collect().unwrap().iter().map(row).collect()
    };
    let want = csv(CsvDataset::new([&table], defaults())
        .header(true)
        .na_value("NA")
        .build());
    assert_eq!(
        csv(Dataset::csv([&table], defaults())
            .header(true)
            .na_value("NA")
            .into()),
        want
    );
    let names = Dataset::list_files(&[table.to_string_lossy().as_ref()], false, None).unwrap();
    assert_eq!(
        csv(CsvDataset::from_file_names(&names, defaults())
            .unwrap()
            .header(true)
            .na_value("NA")
            .build()),
        want
    );
    // An unknown-length source: files named by a generator.
    let err = CsvDataset::from_file_names(&Dataset::range(0, 2, 1).unwrap(), defaults())
        .unwrap_err()
        .to_string();
    assert!(err.contains("rank-0 strings"), "{err}");
    assert_eq!(
        TextLineDataset::from_file_names(&Dataset::list_files(&[&pattern], false, None).unwrap())
            .unwrap()
            .build()
            .cardinality(),
        Cardinality::Unknown
    );
}
