//! The input pipeline of the issue, timed end to end over full epochs:
//! `from_tensor_slices((60000x784 f32, labels)) -> map(x * 2) -> shuffle(10000) ->
//! batch(128) -> prefetch`. TensorFlow 2.21's tf.data runs it at 20,400 elements/s on
//! this machine (BENCHMARKS.md); the goal is 20x that. Also: the same pipeline with a
//! parallel map, the stages alone, and padded batching.
//!
//! Timings on the shared 2-core machine are noisy: indicative.

use std::time::Instant;
use tf_bench::{Figure, measure_with};
use tf_core::{Tensor, ops};
use tf_data::{AUTOTUNE, Dataset, Element, MapOptions};

const N: usize = 60_000;
const D: usize = 784;
const TF_ELEMENTS_PER_S: f64 = 20_400.0;
const TARGET: f64 = 400_000.0;

fn times_two(e: Element) -> tf_core::Result<Element> {
    thread_local! {
        static TWO: Tensor = Tensor::from_scalar(2.0f32);
    }
    let (x, y) = e.into_pair()?;
    let x2 = TWO.with(|two| ops::mul(x.tensor()?, two))?;
    Ok(Element::from((Element::Tensor(x2), y)))
}

/// Runs one epoch, returning the number of elements (rows) it delivered.
fn epoch(ds: &Dataset) -> tf_core::Result<usize> {
    let mut rows = 0;
    for b in ds {
        let b = b?;
        rows += b.get(0)?.tensor()?.dims().first().copied().unwrap_or(1);
    }
    Ok(rows)
}

/// Elements per second over whole epochs (median of 5 epochs after one warm-up).
fn rate(ds: &Dataset) -> tf_core::Result<f64> {
    let rows = epoch(ds)?;
    let t = measure_with(
        || epoch(ds),
        std::time::Duration::from_millis(0),
        std::time::Duration::from_millis(1),
        5,
    );
    Ok(rows as f64 / t.median_s)
}

/// Whether a figure is selected by the command-line filter (`cargo bench -- FILTER`).
fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn main() -> tf_core::Result<()> {
    let start = Instant::now();
    let images: Vec<f32> = (0..N * D).map(|i| (i % 251) as f32 / 251.0).collect();
    let images = Tensor::from_vec(images, [N, D])?;
    let labels = Tensor::from_vec((0..N as i64).map(|i| i % 10).collect::<Vec<_>>(), [N])?;
    let slices = Dataset::from_tensor_slices((images, labels))?;
    eprintln!("data ready in {:.2?}", start.elapsed());

    let pipeline = slices
        .map(times_two)
        .shuffle(10_000, Some(0), true)?
        .batch(128, false)?
        .prefetch(AUTOTUNE)?;
    assert_eq!(epoch(&pipeline)?, N);
    let name = "tf.data pipeline slices->map(x*2)->shuffle(10000)->batch(128)->prefetch";
    if selected(name) {
        Figure::new(name, rate(&pipeline)?, "elements/s")
            .compare("TensorFlow 2.21 tf.data", TF_ELEMENTS_PER_S)
            .target(TARGET)
            .report();
    }

    let parallel = slices
        .map_with(times_two, MapOptions::new().num_parallel_calls(AUTOTUNE))?
        .shuffle(10_000, Some(0), true)?
        .batch(128, false)?
        .prefetch(AUTOTUNE)?;
    let name = "same pipeline, map(num_parallel_calls=AUTOTUNE)";
    if selected(name) {
        Figure::new(name, rate(&parallel)?, "elements/s")
            .compare(
                "TensorFlow 2.21 tf.data (sequential map)",
                TF_ELEMENTS_PER_S,
            )
            .report();
    }

    let stages: [(&str, Dataset); 4] = [
        (
            "stage: from_tensor_slices -> batch(128)",
            slices.batch(128, false)?,
        ),
        (
            "stage: slices -> map(x*2) -> batch(128)",
            slices.map(times_two).batch(128, false)?,
        ),
        (
            "stage: slices -> shuffle(10000) -> batch(128)",
            slices.shuffle(10_000, Some(0), true)?.batch(128, false)?,
        ),
        (
            "stage: slices -> batch(128) -> prefetch",
            slices.batch(128, false)?.prefetch(AUTOTUNE)?,
        ),
    ];
    for (name, ds) in stages.iter().filter(|(n, _)| selected(n)) {
        Figure::new(*name, rate(ds)?, "elements/s").report();
    }

    // padded_batch of ragged int sequences (lengths 1..=64), 20000 elements.
    let ragged = Dataset::range(0, 20_000, 1)?.map(|x| {
        let n = (x.tensor()?.scalar::<i64>()? % 64 + 1) as usize;
        Tensor::fill([n], 1i32)
    });
    let padded = ragged.padded_batch(64, None, None, false)?;
    let name = "padded_batch(64) of ragged int32 rows";
    if !selected(name) {
        return Ok(());
    }
    let count = |ds: &Dataset| -> tf_core::Result<usize> {
        let mut rows = 0;
        for b in ds {
            rows += b?.tensor()?.dims()[0];
        }
        Ok(rows)
    };
    let t = measure_with(
        || count(&padded),
        std::time::Duration::from_millis(0),
        std::time::Duration::from_millis(1),
        5,
    );
    Figure::new(name, 20_000.0 / t.median_s, "elements/s").report();
    Ok(())
}
