//! Prometheus metrics (`--monitoring`, served at `/monitoring/prometheus/metrics`) under
//! TF Serving's names: request counts by model, API and status, request latency, batch
//! sizes and loaded model versions.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct Latency {
    count: u64,
    sum_us: u64,
    buckets: [u64; BUCKETS.len()],
}

/// Latency bucket bounds in microseconds.
const BUCKETS: [u64; 10] = [
    100, 250, 500, 1000, 2500, 5000, 10_000, 50_000, 250_000, 1_000_000,
];

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    latency: Mutex<BTreeMap<(String, &'static str), Latency>>,
    batches: AtomicU64,
    batched_rows: AtomicU64,
    loads: AtomicU64,
    load_failures: AtomicU64,
}

impl Metrics {
    /// Counts a finished request (`api`: "predict", ...; `status`: "OK" or a code name)
    /// and its latency.
    pub fn record_request(
        &self,
        model: &str,
        api: &'static str,
        status: &'static str,
        micros: u64,
    ) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((model.to_string(), api, status)).or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let l = m.entry((model.to_string(), api)).or_default();
            l.count += 1;
            l.sum_us += micros;
            for (b, &bound) in l.buckets.iter_mut().zip(BUCKETS.iter()) {
                if micros <= bound {
                    *b += 1;
                }
            }
        }
    }

    /// Counts a batch of `rows` rows.
    pub fn record_batch(&self, rows: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched_rows.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Counts a model version load (and whether it failed).
    pub fn record_load(&self, ok: bool) {
        self.loads.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.load_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Batches run so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Rows run in batches so far.
    pub fn batched_rows(&self) -> u64 {
        self.batched_rows.load(Ordering::Relaxed)
    }

    /// Mean in-handler latency (µs) of the requests to `model` through `api`
    /// ("predict", ...), if any ran.
    pub fn mean_latency_us(&self, model: &str, api: &'static str) -> Option<f64> {
        let m = self.latency.lock().ok()?;
        let l = m.get(&(model.to_string(), api))?;
        (l.count > 0).then(|| l.sum_us as f64 / l.count as f64)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# TYPE :tensorflow:serving:request_count counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((model, api, status), n) in m.iter() {
                let _ = writeln!(
                    s,
                    ":tensorflow:serving:request_count{{model_name=\"{}\",entrypoint=\"{api}\",status=\"{status}\"}} {n}",
                    escape(model)
                );
            }
        }
        s.push_str("# TYPE :tensorflow:serving:request_latency histogram\n");
        if let Ok(m) = self.latency.lock() {
            for ((model, api), l) in m.iter() {
                let labels = format!("model_name=\"{}\",API=\"{api}\"", escape(model));
                for (b, bound) in l.buckets.iter().zip(BUCKETS.iter()) {
                    let _ = writeln!(
                        s,
                        ":tensorflow:serving:request_latency_bucket{{{labels},le=\"{bound}\"}} {b}"
                    );
                }
                let _ = writeln!(
                    s,
                    ":tensorflow:serving:request_latency_bucket{{{labels},le=\"+Inf\"}} {}",
                    l.count
                );
                let _ = writeln!(
                    s,
                    ":tensorflow:serving:request_latency_sum{{{labels}}} {}",
                    l.sum_us
                );
                let _ = writeln!(
                    s,
                    ":tensorflow:serving:request_latency_count{{{labels}}} {}",
                    l.count
                );
            }
        }
        let _ = writeln!(
            s,
            "# TYPE :tensorflow:serving:batching_session:batch_count counter"
        );
        let _ = writeln!(
            s,
            ":tensorflow:serving:batching_session:batch_count {}",
            self.batches()
        );
        let _ = writeln!(
            s,
            "# TYPE :tensorflow:serving:batching_session:batched_rows counter"
        );
        let _ = writeln!(
            s,
            ":tensorflow:serving:batching_session:batched_rows {}",
            self.batched_rows()
        );
        let _ = writeln!(s, "# TYPE :tensorflow:serving:load_attempt_count counter");
        let _ = writeln!(
            s,
            ":tensorflow:serving:load_attempt_count {}",
            self.loads.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "# TYPE :tensorflow:serving:load_failure_count counter");
        let _ = writeln!(
            s,
            ":tensorflow:serving:load_failure_count {}",
            self.load_failures.load(Ordering::Relaxed)
        );
        s
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
