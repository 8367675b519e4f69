//! Reduction throughput in GB/s of input read, each next to a plain memcpy of the same
//! bytes measured in the same run (the memory-bandwidth yardstick; target: at least 70%
//! of it). Cases: `reduce_sum` of 4M f32 over all axes, row sums of [4096,1024] (axis 1),
//! column sums (axis 0) and `reduce_max` over all axes, on the default rayon pool and
//! on one thread.
//!
//! Figures on a shared 2-core machine are indicative only.

use tf_bench::{Figure, measure};
use tf_core::{Tensor, ops};

const ROWS: usize = 4096;
const COLS: usize = 1024;
const N: usize = ROWS * COLS;
const BYTES: f64 = (N * 4) as f64;

fn gbps(seconds: f64) -> f64 {
    BYTES / seconds / 1e9
}

/// A plain copy of the same 16 MiB on the current rayon pool (split in chunks across its
/// threads, so the two-thread reductions are compared with a two-thread copy).
fn memcpy_gbps() -> f64 {
    use rayon::prelude::*;
    let src: Vec<f32> = (0..N).map(|i| (i % 977) as f32).collect();
    let mut dst = vec![0f32; N];
    let chunk = N.div_ceil(rayon::current_num_threads().max(1) * 8);
    let t = measure(|| {
        dst.par_chunks_mut(chunk)
            .zip(std::hint::black_box(&src).par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(dst[N / 2])
    });
    gbps(t.median_s)
}

fn run(label: &str) -> tf_core::Result<()> {
    let memcpy = memcpy_gbps();
    Figure::new(format!("memcpy 16 MiB f32, {label}"), memcpy, "GB/s").report();
    let values: Vec<f32> = (0..N).map(|i| ((i % 1013) as f32) * 1e-3).collect();
    let flat = Tensor::from_vec(values.clone(), [N])?;
    let mat = Tensor::from_vec(values, [ROWS, COLS])?;
    let cases: [(&str, Box<dyn Fn() -> tf_core::Result<Tensor>>); 4] = [
        (
            "reduce_sum 4M f32, all axes",
            Box::new(|| ops::reduce_sum(&flat, None, false)),
        ),
        (
            "reduce_sum [4096,1024] f32, axis 1 (rows)",
            Box::new(|| ops::reduce_sum(&mat, Some(&[1]), false)),
        ),
        (
            "reduce_sum [4096,1024] f32, axis 0 (columns)",
            Box::new(|| ops::reduce_sum(&mat, Some(&[0]), false)),
        ),
        (
            "reduce_max 4M f32, all axes",
            Box::new(|| ops::reduce_max(&flat, None, false)),
        ),
    ];
    for (name, f) in &cases {
        let t = measure(f);
        Figure::new(format!("{name}, {label}"), gbps(t.median_s), "GB/s")
            .compare(format!("memcpy of the same 16 MiB, {label}"), memcpy)
            .target(0.7 * memcpy)
            .report();
    }
    Ok(())
}

fn main() -> tf_core::Result<()> {
    let threads = rayon::current_num_threads();
    run(&format!("{threads} threads"))?;
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| tf_core::Error::precondition("bench", e.to_string()))?;
    single.install(|| run("1 thread"))
}
