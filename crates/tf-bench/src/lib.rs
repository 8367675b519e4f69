//! # tf-bench
//!
//! Dev-only support for the workspace's bench binaries (`benches/*.rs` with
//! `harness = false`): [`measure`] times a closure the way the TensorFlow comparison
//! figures were taken (warm-up first, then many repetitions, median of several samples),
//! and [`Figure::report`] prints one `BENCH {json}` line that `cargo xtask bench`
//! collects into its table.
//!
//! ```
//! use tf_bench::{Figure, measure};
//! let t = measure(|| std::hint::black_box((0..1000u64).sum::<u64>()));
//! assert!(t.median_s > 0.0);
//! Figure::new("sum 1000", 1000.0 / t.median_s / 1e6, "M elem/s").report();
//! ```

#![warn(missing_docs)]

use std::time::{Duration, Instant};

/// Timing of one benchmarked closure.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Median seconds per call over the samples.
    pub median_s: f64,
    /// Fastest sample's seconds per call.
    pub best_s: f64,
    /// Calls per sample.
    pub iters: u64,
}

/// Times `f`: warms up for ~0.3 s, then takes 11 samples of at least ~50 ms each.
pub fn measure<R>(f: impl FnMut() -> R) -> Timing {
    measure_with(f, Duration::from_millis(300), Duration::from_millis(50), 11)
}

/// [`measure`] with explicit warm-up time, minimum sample time and sample count.
pub fn measure_with<R>(
    mut f: impl FnMut() -> R,
    warmup: Duration,
    sample: Duration,
    samples: usize,
) -> Timing {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < warmup || calls == 0 {
        std::hint::black_box(f());
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let iters = ((sample.as_secs_f64() / per_call.max(1e-9)).ceil() as u64).max(1);
    let mut times: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(f());
            }
            t.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Timing {
        median_s: times[times.len() / 2],
        best_s: times[0],
        iters,
    }
}

/// One reported figure, with what it is compared against.
#[derive(Clone, Debug)]
pub struct Figure {
    name: String,
    value: f64,
    unit: String,
    higher_is_better: bool,
    compare_label: Option<String>,
    compare_value: Option<f64>,
    target: Option<f64>,
}

impl Figure {
    /// A figure where higher is better (throughput).
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            higher_is_better: true,
            compare_label: None,
            compare_value: None,
            target: None,
        }
    }

    /// Marks the figure as a cost (latency): lower is better.
    pub fn lower_is_better(mut self) -> Figure {
        self.higher_is_better = false;
        self
    }

    /// What it is compared with (e.g. "TensorFlow 2.21 oneDNN") and that figure.
    pub fn compare(mut self, label: impl Into<String>, value: f64) -> Figure {
        self.compare_label = Some(label.into());
        self.compare_value = Some(value);
        self
    }

    /// The goal the issue sets for this figure.
    pub fn target(mut self, target: f64) -> Figure {
        self.target = Some(target);
        self
    }

    /// The figure as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "compare": self.compare_label,
            "compare_value": self.compare_value,
            "target": self.target,
        })
    }

    /// Prints the `BENCH {json}` line `cargo xtask bench` collects.
    pub fn report(&self) {
        println!("BENCH {}", self.to_json());
    }
}
