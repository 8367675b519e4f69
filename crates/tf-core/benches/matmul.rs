//! Matrix multiplication throughput, f32, through `ops::matmul` (dispatch, output
//! allocation and GEMM): square products at 512², 1024² and 2048², and the small MLP
//! layer of a training step at batch 32 (32×784 · 784×256).
//!
//! TensorFlow 2.21 (oneDNN) reached 198 / 312 / 310 GFLOP/s on the square products on
//! this machine (2 Zen 5 cores with AVX-512, f32 FMA peak ≈ 480 GFLOP/s); the targets
//! are 1.2× those. Other builds share the two cores, so figures are indicative: the
//! best of several samples is reported beside the median.

use tf_bench::{Figure, measure};
use tf_core::{DType, Tensor, ops};

fn random(rows: usize, cols: usize, seed: u64) -> tf_core::Result<Tensor> {
    let mut s = seed;
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Tensor::from_vec(v, [rows, cols])
}

fn gflops(m: usize, n: usize, k: usize, seconds: f64) -> f64 {
    2.0 * (m * n * k) as f64 / seconds / 1e9
}

fn main() -> tf_core::Result<()> {
    for (size, tf) in [(512usize, 198.0), (1024, 312.0), (2048, 310.0)] {
        let a = random(size, size, 1)?;
        let b = random(size, size, 2)?;
        let t = measure(|| ops::matmul(&a, &b));
        Figure::new(
            format!("matmul f32 {size}x{size} (median)"),
            gflops(size, size, size, t.median_s),
            "GFLOP/s",
        )
        .compare("TensorFlow 2.21 oneDNN", tf)
        .target(1.2 * tf)
        .report();
        Figure::new(
            format!("matmul f32 {size}x{size} (best sample)"),
            gflops(size, size, size, t.best_s),
            "GFLOP/s",
        )
        .compare("TensorFlow 2.21 oneDNN", tf)
        .target(1.2 * tf)
        .report();
    }
    // The dense layer of an MNIST MLP at batch 32, forward and the two gradient
    // products (transposed operands, no copies).
    let x = random(32, 784, 3)?;
    let w = random(784, 256, 4)?;
    let t = measure(|| ops::matmul(&x, &w));
    Figure::new(
        "matmul f32 32x784 · 784x256 (MLP layer, batch 32)",
        t.median_s * 1e6,
        "us",
    )
    .lower_is_better()
    .report();
    let dy = random(32, 256, 5)?;
    let t = measure(|| ops::matmul_transposed(&x, &dy, true, false));
    Figure::new(
        "matmul f32 (32x784)ᵀ · 32x256 (MLP weight gradient)",
        t.median_s * 1e6,
        "us",
    )
    .lower_is_better()
    .report();
    let bf = ops::matmul(&random(512, 512, 6)?, &random(512, 512, 7)?)?;
    assert_eq!(bf.dtype(), DType::F32);
    Ok(())
}
