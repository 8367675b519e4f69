//! Worker threads (parallel file readers, parallel map workers, prefetch and parallel
//! interleave threads) exit when the consumer drops the iterator mid-epoch, and the
//! drop does not hang. Its own test binary so that no other test's threads are
//! counted. Linux only (threads are counted in `/proc/self/task`).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tf_data::formats::tfrecord::write_tfrecord_file;
use tf_data::formats::{Compression, TFRecordDataset};
use tf_data::{AUTOTUNE, Dataset, Element, InterleaveOptions, MapOptions};

/// Threads of this process whose name starts with `tf-data` (every worker tf-data
/// starts is named so).
fn tf_data_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("tf-data"))
        .count()
}

/// Waits (up to 10 s) until no tf-data thread is left; returns how long it took.
fn wait_for_exit() -> Duration {
    let start = Instant::now();
    while tf_data_threads() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} tf-data threads still running 10 s after the iterator was dropped",
            tf_data_threads()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

fn files() -> Vec<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tf-data-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    (0..4)
        .map(|f| {
            let path = dir.join(format!("part-{f}.tfrecord"));
            let records: Vec<Vec<u8>> = (0..5000u32)
                .map(|i| format!("file {f} record {i}").into_bytes())
                .collect();
            write_tfrecord_file(&path, Compression::None, records).unwrap();
            path
        })
        .collect()
}

/// Takes a few elements of `ds`, checks threads are running, drops the iterator and
/// checks they all exit (and the drop itself is prompt).
fn check(what: &str, ds: &Dataset) {
    assert_eq!(
        tf_data_threads(),
        0,
        "{what}: threads left over before the run"
    );
    let mut it = ds.iter().unwrap();
    for _ in 0..3 {
        it.next().unwrap().unwrap();
    }
    assert!(
        tf_data_threads() > 0,
        "{what}: no worker thread was started"
    );
    let start = Instant::now();
    drop(it);
    let dropped = start.elapsed();
    assert!(
        dropped < Duration::from_secs(5),
        "{what}: drop took {dropped:?}"
    );
    wait_for_exit();
}

fn slow_identity(e: Element) -> tf_core::Result<Element> {
    std::thread::sleep(Duration::from_micros(200));
    Ok(e)
}

/// One test, so the stages are checked one after the other with nothing else running.
#[test]
fn workers_exit_when_the_iterator_is_dropped() {
    let files = files();
    let records = TFRecordDataset::new(&files).num_parallel_reads(4).build();
    check("parallel TFRecord reads", &records);

    let pipeline = records
        .map_with(
            slow_identity,
            MapOptions::new().num_parallel_calls(AUTOTUNE),
        )
        .unwrap()
        .shuffle(100, Some(1), true)
        .unwrap()
        .batch(8, false)
        .unwrap()
        .prefetch(4)
        .unwrap();
    check(
        "reads -> parallel map -> shuffle -> batch -> prefetch",
        &pipeline,
    );

    // Infinite inputs: the workers are blocked on full buffers when the consumer goes.
    let endless = Dataset::range(0, i64::MAX, 1)
        .unwrap()
        .map_with(
            Ok::<Element, tf_core::Error>,
            MapOptions::new().num_parallel_calls(2),
        )
        .unwrap()
        .prefetch(AUTOTUNE)
        .unwrap();
    check("endless range -> parallel map -> prefetch", &endless);

    let interleaved = Dataset::range(0, 8, 1)
        .unwrap()
        .interleave_with(
            |x| Ok(Dataset::from_tensors(x).repeat(None)),
            InterleaveOptions::new()
                .cycle_length(4)
                .block_length(2)
                .num_parallel_calls(4),
        )
        .unwrap();
    check("parallel interleave of endless datasets", &interleaved);

    // A slow consumer: the iterator is dropped while the workers are mid-function.
    let slow = Dataset::range(0, 1_000_000, 1)
        .unwrap()
        .map_with(slow_identity, MapOptions::new().num_parallel_calls(4))
        .unwrap();
    check("parallel map busy in the function", &slow);
    let _ = std::fs::remove_dir_all(files[0].parent().unwrap());
}
