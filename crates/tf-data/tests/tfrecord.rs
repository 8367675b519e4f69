//! TFRecord framing, reader/writer and dataset, against files written by TensorFlow
//! 2.21 (`tests/fixtures/examples.tfrecord(.gz)` with `examples.expected.json`), plus
//! corruption and hostile inputs.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use tf_data::Dataset;
use tf_data::formats::tfrecord::{
    encode_record, masked_crc32c, read_tfrecord_file, write_tfrecord_file,
};
use tf_data::formats::{
    Compression, Example, Feature, TFRecordDataset, TFRecordReader, TFRecordWriter,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tf-data-tfrecord-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn records_of(ds: &Dataset) -> Vec<Vec<u8>> {
    ds.iter()
        .unwrap()
        .map(|e| e.unwrap().strings().unwrap().as_bytes().unwrap().to_vec())
        .collect()
}

/// Checks decoded examples against the JSON TensorFlow wrote.
fn check_expected(records: &[Vec<u8>]) {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("examples.expected.json")).unwrap())
            .unwrap();
    let expected = expected.as_array().unwrap();
    assert_eq!(records.len(), expected.len());
    for (r, want) in records.iter().zip(expected) {
        let ex = Example::decode(r).unwrap();
        let labels: Vec<i64> = want["label"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let xs: Vec<f32> = want["x"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let names: Vec<Vec<u8>> = want["name"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| unhex(v.as_str().unwrap()))
            .collect();
        assert_eq!(ex.get("label"), Some(&Feature::Int64(labels)));
        assert_eq!(ex.get("x"), Some(&Feature::Float(xs)));
        assert_eq!(ex.get("name"), Some(&Feature::Bytes(names)));
        assert_eq!(ex.features.len(), 3);
        // Re-encoding reproduces TensorFlow's bytes exactly.
        assert_eq!(hex(&ex.encode()), hex(r));
    }
}

#[test]
fn reads_tensorflow_files_plain_and_gzip() {
    let plain = read_tfrecord_file(fixture("examples.tfrecord"), Compression::None).unwrap();
    check_expected(&plain);
    let gz = read_tfrecord_file(fixture("examples.tfrecord.gz"), Compression::Gzip).unwrap();
    assert_eq!(gz, plain);
    let ds = TFRecordDataset::new([fixture("examples.tfrecord.gz")])
        .compression(Compression::Gzip)
        .build();
    assert_eq!(records_of(&ds), plain);
    assert_eq!(
        ds.element_spec().to_string(),
        "TensorSpec(shape=[], dtype=string)"
    );
}

#[test]
fn written_files_match_tensorflow_bytes() {
    let tf_bytes = std::fs::read(fixture("examples.tfrecord")).unwrap();
    let records = read_tfrecord_file(fixture("examples.tfrecord"), Compression::None).unwrap();
    let d = tmpdir("write");
    // Re-encode each example from its decoded form, then frame it.
    let reencoded: Vec<Vec<u8>> = records
        .iter()
        .map(|r| Example::decode(r).unwrap().encode())
        .collect();
    write_tfrecord_file(d.join("a.tfrecord"), Compression::None, &reencoded).unwrap();
    assert_eq!(std::fs::read(d.join("a.tfrecord")).unwrap(), tf_bytes);
    // In memory, and each compressed form decompresses to the same bytes.
    let mut w = TFRecordWriter::new(Vec::new(), Compression::None);
    for r in &records {
        w.write(r).unwrap();
    }
    assert_eq!(w.finish().unwrap(), tf_bytes);
    for (c, name) in [(Compression::Gzip, "a.gz"), (Compression::Zlib, "a.zz")] {
        write_tfrecord_file(d.join(name), c, &records).unwrap();
        let raw = std::fs::read(d.join(name)).unwrap();
        let mut out = Vec::new();
        match c {
            Compression::Gzip => flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap(),
            _ => flate2::read::ZlibDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap(),
        };
        assert_eq!(out, tf_bytes, "{c}");
        assert_eq!(read_tfrecord_file(d.join(name), c).unwrap(), records);
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn spec_example_bytes() {
    // SPECS.md §7: x=[1.0,2.0], s=[b"hi"], i=[7], in the map order TensorFlow wrote.
    let ex = Example::new()
        .with("s", Feature::bytes([b"hi"]))
        .with("i", Feature::int64s([7]))
        .with("x", Feature::floats([1.0, 2.0]));
    let want = "0a2c0a0b0a017312060a040a0268690a0a0a016912051a030a01070a110a0178120c120a0a080000803f00000040";
    assert_eq!(hex(&ex.encode()), want);
    assert_eq!(Example::decode(&unhex(want)).unwrap(), ex);
    // The framing of that record, checked against the CRC definition.
    let rec = encode_record(&unhex(want));
    assert_eq!(&rec[..8], &46u64.to_le_bytes());
    let c = crc32c::crc32c(&46u64.to_le_bytes());
    // The formula exactly as SPECS.md states it.
    #[allow(clippy::manual_rotate)]
    let masked = ((c >> 15) | (c << 17)).wrapping_add(0xa282ead8);
    assert_eq!(&rec[8..12], &masked.to_le_bytes());
    assert_eq!(masked_crc32c(&46u64.to_le_bytes()), masked);
}

/// Byte offsets of the records of the TensorFlow fixture.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offs = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        offs.push(at);
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        at += 16 + len;
    }
    offs
}

fn read_all(bytes: Vec<u8>) -> (Vec<Vec<u8>>, Option<String>) {
    let mut ok = Vec::new();
    for r in TFRecordReader::from_bytes(bytes, Compression::None, "mem.tfrecord") {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => return (ok, Some(e.to_string())),
        }
    }
    (ok, None)
}

#[test]
fn corrupted_records_name_file_and_offset() {
    let good = std::fs::read(fixture("examples.tfrecord")).unwrap();
    let offs = record_offsets(&good);
    assert_eq!(offs.len(), 5);
    // Length CRC of the second record.
    let mut b = good.clone();
    b[offs[1] + 9] ^= 0x40;
    let (ok, err) = read_all(b);
    assert_eq!(ok.len(), 1);
    let err = err.unwrap();
    assert!(
        err.contains("mem.tfrecord") && err.contains(&format!("byte offset {}", offs[1])),
        "{err}"
    );
    assert!(err.contains("length CRC"), "{err}");
    // A data byte of the third record.
    let mut b = good.clone();
    b[offs[2] + 20] ^= 1;
    let (ok, err) = read_all(b);
    assert_eq!(ok.len(), 2);
    let err = err.unwrap();
    assert!(
        err.contains(&format!("byte offset {}", offs[2])) && err.contains("data CRC"),
        "{err}"
    );
    // The data CRC itself.
    let mut b = good.clone();
    let last = good.len() - 1;
    b[last] ^= 0x80;
    let (ok, err) = read_all(b);
    assert_eq!(ok.len(), 4);
    assert!(err.unwrap().contains(&format!("byte offset {}", offs[4])));
    // The length itself (its CRC then fails).
    let mut b = good.clone();
    b[offs[3]] ^= 0x01;
    let (ok, err) = read_all(b);
    assert_eq!(ok.len(), 3);
    assert!(err.unwrap().contains("length CRC"));
}

#[test]
fn every_truncation_is_an_error_or_a_record_boundary() {
    let good = std::fs::read(fixture("examples.tfrecord")).unwrap();
    let offs = record_offsets(&good);
    for cut in 0..good.len() {
        let (ok, err) = read_all(good[..cut].to_vec());
        match offs.iter().position(|&o| o == cut) {
            Some(n) => {
                assert_eq!(ok.len(), n, "cut at {cut}");
                assert!(err.is_none(), "cut at record boundary {cut}: {err:?}");
            }
            None => {
                let n = offs.iter().filter(|&&o| o < cut).count() - 1;
                assert_eq!(ok.len(), n, "cut at {cut}");
                let err = err.unwrap_or_else(|| panic!("cut at {cut} read cleanly"));
                assert!(
                    err.contains("truncated") && err.contains(&format!("byte offset {}", offs[n])),
                    "{err}"
                );
            }
        }
    }
}

#[test]
fn hostile_length_does_not_allocate() {
    // A header claiming 2^60 bytes, with a valid length CRC, then 10 bytes.
    let len = (1u64 << 60).to_le_bytes();
    let mut b = len.to_vec();
    b.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    b.extend_from_slice(&[7u8; 10]);
    let (ok, err) = read_all(b.clone());
    assert!(ok.is_empty());
    let err = err.unwrap();
    assert!(
        err.contains("claims 1152921504606846976 bytes") && err.contains("byte offset 0"),
        "{err}"
    );
    // Also through a file-backed dataset (the error carries the path).
    let d = tmpdir("hostile");
    std::fs::write(d.join("bad.tfrecord"), &b).unwrap();
    let ds = TFRecordDataset::new([d.join("bad.tfrecord")]).build();
    let e = ds.collect().unwrap_err().to_string();
    assert!(
        e.contains("bad.tfrecord") && e.contains("byte offset 0"),
        "{e}"
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn corrupt_gzip_stream_is_an_error() {
    let mut gz = std::fs::read(fixture("examples.tfrecord.gz")).unwrap();
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    let r: Result<Vec<_>, _> =
        TFRecordReader::from_bytes(gz.clone(), Compression::Gzip, "x.gz").collect();
    assert!(r.is_err());
    gz.truncate(mid);
    let r: Result<Vec<_>, _> = TFRecordReader::from_bytes(gz, Compression::Gzip, "x.gz").collect();
    let e = r.unwrap_err().to_string();
    assert!(e.contains("x.gz"), "{e}");
    // A plain file read as gzip.
    let plain = std::fs::read(fixture("examples.tfrecord")).unwrap();
    let r: Result<Vec<_>, _> = TFRecordReader::from_bytes(plain, Compression::Gzip, "p").collect();
    assert!(r.is_err());
}

fn write_numbered(dir: &Path, name: &str, file: usize, n: usize, c: Compression) -> PathBuf {
    let p = dir.join(name);
    write_tfrecord_file(&p, c, (0..n).map(|i| format!("f{file}r{i}"))).unwrap();
    p
}

#[test]
fn several_files_sequential_and_parallel() {
    let d = tmpdir("multi");
    let counts = [3usize, 0, 5, 1, 4];
    let files: Vec<PathBuf> = counts
        .iter()
        .enumerate()
        .map(|(f, &n)| write_numbered(&d, &format!("{f}.tfrecord"), f, n, Compression::None))
        .collect();
    let seq = records_of(&TFRecordDataset::new(&files).build());
    let want: Vec<Vec<u8>> = counts
        .iter()
        .enumerate()
        .flat_map(|(f, &n)| (0..n).map(move |i| format!("f{f}r{i}").into_bytes()))
        .collect();
    assert_eq!(seq, want);
    // Reference: TensorFlow's interleave(cycle_length=k, block_length=1) order.
    for k in [2usize, 3, 8] {
        let mut slots: Vec<Option<(usize, usize)>> = vec![None; k];
        let mut next = 0;
        let mut expect = Vec::new();
        let mut cycle = 0;
        loop {
            if next >= counts.len() && slots.iter().all(Option::is_none) {
                break;
            }
            match slots[cycle] {
                Some((f, i)) if i < counts[f] => {
                    expect.push(format!("f{f}r{i}").into_bytes());
                    slots[cycle] = Some((f, i + 1));
                    cycle = (cycle + 1) % k;
                }
                Some(_) => {
                    slots[cycle] = None;
                    cycle = (cycle + 1) % k;
                }
                None if next < counts.len() => {
                    slots[cycle] = Some((next, 0));
                    next += 1;
                }
                None => cycle = (cycle + 1) % k,
            }
        }
        // What TensorFlow 2.21's TFRecordDataset(num_parallel_reads=k) gave for these files.
        let tf_order = match k {
            2 => "f0r0 f0r1 f2r0 f0r2 f2r1 f2r2 f3r0 f2r3 f2r4 f4r0 f4r1 f4r2 f4r3",
            3 => "f0r0 f2r0 f0r1 f3r0 f2r1 f0r2 f2r2 f4r0 f2r3 f4r1 f2r4 f4r2 f4r3",
            _ => "",
        };
        if !tf_order.is_empty() {
            let tf: Vec<Vec<u8>> = tf_order.split(' ').map(|s| s.as_bytes().to_vec()).collect();
            assert_eq!(expect, tf, "k={k}");
        }
        let ds = TFRecordDataset::new(&files).num_parallel_reads(k).build();
        for _epoch in 0..2 {
            assert_eq!(records_of(&ds), expect, "k={k}");
        }
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn parallel_reads_deliver_errors_and_stop_early() {
    let d = tmpdir("perr");
    let a = write_numbered(&d, "a.tfrecord", 0, 300, Compression::Gzip);
    let b = d.join("missing.tfrecord");
    let ds = TFRecordDataset::new([a.clone(), b])
        .compression(Compression::Gzip)
        .num_parallel_reads(2)
        .build();
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(items.len(), 301);
    let e = items[1].as_ref().unwrap_err().to_string();
    assert!(e.contains("missing.tfrecord"), "{e}");
    // Dropping a partly consumed parallel iterator does not hang.
    let ds = TFRecordDataset::new([a.clone(), a])
        .compression(Compression::Gzip)
        .num_parallel_reads(2)
        .build();
    let mut it = ds.iter().unwrap();
    assert!(it.next().unwrap().is_ok());
    drop(it);
    std::fs::remove_dir_all(d).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for c in [Compression::None, Compression::Gzip, Compression::Zlib] {
            for r in TFRecordReader::from_bytes(bytes.clone(), c, "rand").take(100) {
                let _ = r;
            }
        }
        let _ = Example::decode(&bytes);
        let _ = tf_data::formats::SequenceExample::decode(&bytes);
    }

    #[test]
    fn mutated_fixture_never_panics(pos in 0usize..481, val in any::<u8>(), cut in 0usize..482) {
        let mut b = std::fs::read(fixture("examples.tfrecord")).unwrap();
        b[pos] = val;
        b.truncate(cut);
        let (ok, err) = read_all(b);
        prop_assert!(ok.len() <= 5);
        if let Some(e) = err {
            prop_assert!(e.contains("mem.tfrecord"));
        }
    }

    #[test]
    fn records_round_trip(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
        for c in [Compression::None, Compression::Gzip, Compression::Zlib] {
            let mut w = TFRecordWriter::new(Vec::new(), c);
            for r in &records {
                w.write(r).unwrap();
            }
            let bytes = w.finish().unwrap();
            let back: Vec<Vec<u8>> = TFRecordReader::from_bytes(bytes, c, "m").collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(&back, &records);
        }
    }
}

/// Files named by a dataset (`TFRecordDataset(list_files(...))`): the same records as
/// the sorted list, read in each epoch's shuffled file order; a dataset of non-strings
/// is rejected.
#[test]
fn file_names_from_a_dataset() {
    let d = tmpdir("names");
    let files: Vec<PathBuf> = (0..4)
        .map(|f| write_numbered(&d, &format!("part-{f}.tfrecord"), f, 3, Compression::None))
        .collect();
    let pattern = d.join("part-*.tfrecord").to_string_lossy().into_owned();
    let sorted = records_of(&TFRecordDataset::new(&files).build());
    for parallel in [1, 3] {
        let names = tf_data::formats::list_files(&[&pattern], true, Some(7)).unwrap();
        let ds = TFRecordDataset::from_file_names(&names)
            .unwrap()
            .num_parallel_reads(parallel)
            .build();
        // Each epoch reads the files in that epoch's list_files order.
        let mut orders = Vec::new();
        for _ in 0..4 {
            let mut got = records_of(&ds);
            orders.push(got.clone());
            got.sort();
            let mut want = sorted.clone();
            want.sort();
            assert_eq!(got, want, "parallel {parallel}");
        }
        assert!(
            orders.iter().any(|o| o != &orders[0]),
            "file order never changed over 4 shuffled epochs"
        );
        if parallel == 1 {
            // Sequential: whole files, one after another.
            for o in &orders {
                for chunk in o.chunks(3) {
                    let file = &chunk[0][..2];
                    assert!(chunk.iter().all(|r| &r[..2] == file), "{o:?}");
                }
            }
        }
    }
    let err = TFRecordDataset::from_file_names(&Dataset::range(0, 3, 1).unwrap()).unwrap_err();
    assert!(err.to_string().contains("rank-0 strings"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
