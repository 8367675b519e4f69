//! File-format throughput: TFRecord reading (MB/s and records/s) of records holding a
//! `tf.train.Example` with 784 floats and a label (an MNIST row), next to the raw file
//! read, and `parse_example` of those records (examples/s).
//!
//! TensorFlow 2.21 on this machine (BENCHMARKS.md): TFRecord raw read 125 MB/s,
//! parse_example 241,000 examples/s; the goals are ≥ 4× and ≥ 2×.

use std::collections::BTreeMap;
use std::io::Read;
use tf_bench::{Figure, measure};
use tf_data::formats::tfrecord::write_tfrecord_file;
use tf_data::formats::{
    Compression, Example, ExampleParser, Feature, FeatureSpec, FeatureType, TFRecordDataset,
    TFRecordReader,
};

const RECORDS: usize = 10_000;
const BATCH: usize = 256;

fn main() -> tf_core::Result<()> {
    let dir = std::env::temp_dir().join(format!("tf-data-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| tf_core::Error::io("bench dir", e))?;
    let path = dir.join("mnist-like.tfrecord");
    let records: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| {
            let x: Vec<f32> = (0..784)
                .map(|k| ((i * 31 + k * 7) % 256) as f32 / 255.0)
                .collect();
            Example::new()
                .with("x", Feature::floats(x))
                .with("label", Feature::int64s([(i % 10) as i64]))
                .encode()
        })
        .collect();
    write_tfrecord_file(&path, Compression::None, &records)?;
    let gz = dir.join("mnist-like.tfrecord.gz");
    write_tfrecord_file(&gz, Compression::Gzip, &records)?;
    let bytes = std::fs::metadata(&path)
        .map_err(|e| tf_core::Error::io("bench file", e))?
        .len() as f64;
    let mb = bytes / 1e6;

    // The raw file read (page cache) as the ceiling.
    let t = measure(|| {
        let mut f = std::fs::File::open(&path).ok()?;
        let mut v = Vec::new();
        f.read_to_end(&mut v).ok()?;
        Some(v.len())
    });
    Figure::new(
        "raw file read (page cache), same file",
        mb / t.median_s,
        "MB/s",
    )
    .report();

    let t = measure(|| {
        let mut r = TFRecordReader::open(&path, Compression::None).ok()?;
        let mut buf = Vec::new();
        let mut n = 0usize;
        while r.read_into(&mut buf).ok()? {
            n += buf.len();
        }
        Some(n)
    });
    Figure::new(
        "TFRecordReader, 10k x 3.2 KB records, CRCs checked",
        mb / t.median_s,
        "MB/s",
    )
    .compare("TensorFlow 2.21 TFRecord raw read", 125.0)
    .target(500.0)
    .report();
    Figure::new(
        "TFRecordReader records/s",
        RECORDS as f64 / t.median_s,
        "records/s",
    )
    .report();

    let ds = TFRecordDataset::new([&path]).build();
    let t = measure(|| ds.iter().map(|it| it.count()).ok());
    Figure::new(
        "TFRecordDataset iteration (string elements)",
        mb / t.median_s,
        "MB/s",
    )
    .compare("TensorFlow 2.21 TFRecord raw read", 125.0)
    .target(500.0)
    .report();

    // The same records split over 4 files, read 4 at a time on background threads.
    let parts: Vec<std::path::PathBuf> = (0..4)
        .map(|f| dir.join(format!("part-{f}.tfrecord")))
        .collect();
    for (f, p) in parts.iter().enumerate() {
        write_tfrecord_file(p, Compression::None, records.iter().skip(f).step_by(4))?;
    }
    let ds = TFRecordDataset::new(&parts).num_parallel_reads(4).build();
    let t = measure(|| ds.iter().map(|it| it.count()).ok());
    Figure::new(
        "TFRecordDataset 4 files, num_parallel_reads=4",
        mb / t.median_s,
        "MB/s",
    )
    .compare("TensorFlow 2.21 TFRecord raw read", 125.0)
    .report();

    let ds = TFRecordDataset::new([&gz])
        .compression(Compression::Gzip)
        .build();
    let t = measure(|| ds.iter().map(|it| it.count()).ok());
    Figure::new(
        "TFRecordDataset GZIP (uncompressed MB/s)",
        mb / t.median_s,
        "MB/s",
    )
    .report();

    let parser = ExampleParser::new(&BTreeMap::from([
        (
            "x".to_string(),
            FeatureSpec::fixed_len([784], FeatureType::Float32),
        ),
        (
            "label".to_string(),
            FeatureSpec::fixed_len([], FeatureType::Int64),
        ),
    ]))?;
    let batch = &records[..BATCH];
    let t = measure(|| parser.parse_batch(batch).ok());
    Figure::new(
        "parse_example, batch 256, 784 floats + label",
        BATCH as f64 / t.median_s,
        "examples/s",
    )
    .compare("TensorFlow 2.21 parse_example", 241_000.0)
    .target(482_000.0)
    .report();
    let one = &records[0];
    let t = measure(|| parser.parse_single(one).ok());
    Figure::new(
        "parse_single_example, 784 floats + label",
        1.0 / t.median_s,
        "examples/s",
    )
    .report();

    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
