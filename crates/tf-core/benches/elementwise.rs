//! Elementwise throughput on 4M-element f32 tensors (16 MB each), end to end through
//! the ops (dispatch, output allocation, parallel SIMD kernel).
//!
//! Memory-bound ops are reported in GB/s of bytes moved (add: two inputs and one
//! output, 3 × 16 MB; relu: 2 × 16 MB), next to a plain memcpy moving the same number
//! of bytes (read + written) measured in the same run, on one thread and split over
//! the rayon pool like the kernels are. Targets: add and relu at 70% of the pooled
//! memcpy; TensorFlow 2.21's eager add of the same tensors does 43.9 GB/s here.
//! Transcendentals are reported in Gelem/s. Only 2 cores, shared with other builds:
//! figures are indicative.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use tf_bench::{Figure, measure};
use tf_core::{Tensor, ops};

const N: usize = 4 * 1024 * 1024;

fn random(seed: u64, lo: f32, hi: f32) -> tf_core::Result<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Tensor::from_vec((0..N).map(|_| rng.random_range(lo..hi)).collect(), [N])
}

/// GB/s of a memcpy moving `bytes` (half read, half written): (1 thread, pooled).
fn memcpy_gbs(bytes: usize) -> (f64, f64) {
    let n = bytes / 2;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let single = measure(|| {
        dst.copy_from_slice(&src);
        dst[n / 2]
    });
    let chunk = n.div_ceil(rayon::current_num_threads().max(1) * 8);
    let pooled = measure(|| {
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        dst[n / 2]
    });
    (
        bytes as f64 / single.median_s / 1e9,
        bytes as f64 / pooled.median_s / 1e9,
    )
}

fn gbs(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e9
}

fn main() -> tf_core::Result<()> {
    let a = random(1, -4.0, 4.0)?;
    let b = random(2, -4.0, 4.0)?;
    let mb16 = N * 4;

    let (copy1, copy) = memcpy_gbs(3 * mb16);
    Figure::new("memcpy 48 MB moved (1 thread)", copy1, "GB/s").report();
    Figure::new("memcpy 48 MB moved (rayon pool)", copy, "GB/s").report();
    let t = measure(|| ops::add(&a, &b));
    Figure::new(
        "add 2 x 4M f32 (3 x 16 MB moved)",
        gbs(3 * mb16, t.median_s),
        "GB/s",
    )
    .compare("TensorFlow 2.21", 43.9)
    .target(0.7 * copy)
    .report();

    let (copy1, copy) = memcpy_gbs(2 * mb16);
    Figure::new("memcpy 32 MB moved (1 thread)", copy1, "GB/s").report();
    Figure::new("memcpy 32 MB moved (rayon pool)", copy, "GB/s").report();
    let t = measure(|| ops::relu(&a));
    Figure::new(
        "relu 4M f32 (2 x 16 MB moved)",
        gbs(2 * mb16, t.median_s),
        "GB/s",
    )
    .target(0.7 * copy)
    .report();

    let gelem = |s: f64| N as f64 / s / 1e9;
    let t = measure(|| ops::mul(&a, &b));
    Figure::new("mul 2 x 4M f32", gbs(3 * mb16, t.median_s), "GB/s").report();
    let t = measure(|| ops::exp(&a));
    Figure::new("exp 4M f32", gelem(t.median_s), "Gelem/s").report();
    let t = measure(|| ops::tanh(&a));
    Figure::new("tanh 4M f32", gelem(t.median_s), "Gelem/s").report();
    let t = measure(|| ops::sigmoid(&a));
    Figure::new("sigmoid 4M f32", gelem(t.median_s), "Gelem/s").report();
    let t = measure(|| ops::gelu(&a, false));
    Figure::new("gelu (erf) 4M f32", gelem(t.median_s), "Gelem/s").report();
    let t = measure(|| ops::gelu(&a, true));
    Figure::new("gelu (tanh) 4M f32", gelem(t.median_s), "Gelem/s").report();
    let pos = random(3, 0.001, 100.0)?;
    let t = measure(|| ops::log(&pos));
    Figure::new("log 4M f32", gelem(t.median_s), "Gelem/s").report();
    let t = measure(|| ops::softplus(&a));
    Figure::new("softplus 4M f32", gelem(t.median_s), "Gelem/s").report();

    // Broadcasting: [2048, 2048] + bias [2048].
    let bias = Tensor::from_vec(vec![0.5f32; 2048], [2048])?;
    let m = ops::reshape(&a, &[2048, 2048])?;
    let t = measure(|| ops::add(&m, &bias));
    Figure::new(
        "add [2048,2048] + bias [2048] f32",
        gbs(2 * mb16, t.median_s),
        "GB/s",
    )
    .report();
    Ok(())
}
