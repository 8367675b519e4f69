//! Convolution and pooling throughput, f32 NHWC through the public ops.
//!
//! Conv2D GFLOP/s count `2·N·Ho·Wo·Cout·kh·kw·Cin`. TensorFlow 2.21 (oneDNN) reached
//! 186 GFLOP/s on (batch 32, 28×28×32 → 64, 3×3, SAME) and 197 on (batch 8,
//! 56×56×64 → 64, 3×3, SAME) on this machine (2 Zen 5 cores, f32 FMA peak ≈ 480
//! GFLOP/s); the targets are 1.2× those. Other builds share the two cores, so figures
//! are indicative: the best of several samples is reported beside the median.

use tf_bench::{Figure, measure};
use tf_core::ops::{self, Conv2dOptions, Padding};
use tf_core::{Shape, Tensor};

fn random(dims: &[usize], seed: u64) -> tf_core::Result<Tensor> {
    let n: usize = dims.iter().product();
    let mut s = seed;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Tensor::from_vec(v, Shape::new(dims))
}

/// Reports a conv2d figure and returns its median GFLOP/s.
fn conv_figure(
    name: &str,
    [n, h, w, c]: [usize; 4],
    [kh, kw, o]: [usize; 3],
    tf: Option<f64>,
) -> tf_core::Result<f64> {
    let x = random(&[n, h, w, c], 1)?;
    let f = random(&[kh, kw, c, o], 2)?;
    let opts = Conv2dOptions::same();
    let y = ops::conv2d(&x, &f, &opts)?;
    let [_, ho, wo, _] = [y.dims()[0], y.dims()[1], y.dims()[2], y.dims()[3]];
    let flops = 2.0 * (n * ho * wo * o * kh * kw * c) as f64;
    let t = measure(|| ops::conv2d(&x, &f, &opts));
    for (label, secs) in [("median", t.median_s), ("best sample", t.best_s)] {
        let mut fig = Figure::new(format!("{name} ({label})"), flops / secs / 1e9, "GFLOP/s");
        if let Some(tf) = tf {
            fig = fig.compare("TensorFlow 2.21 oneDNN", tf).target(1.2 * tf);
        }
        fig.report();
    }
    Ok(flops / t.median_s / 1e9)
}

/// Median GFLOP/s of a 1024² f32 matmul, measured in this process for the ratio
/// figures (both sides see the same machine load).
fn matmul_1024() -> tf_core::Result<f64> {
    let a = random(&[1024, 1024], 7)?;
    let b = random(&[1024, 1024], 8)?;
    let t = measure(|| ops::matmul(&a, &b));
    Ok(2.0 * 1024f64.powi(3) / t.median_s / 1e9)
}

fn main() -> tf_core::Result<()> {
    let mm_before = matmul_1024()?;
    let small = conv_figure(
        "conv2d f32 32x28x28x32 -> 64, 3x3 SAME",
        [32, 28, 28, 32],
        [3, 3, 64],
        Some(186.0),
    )?;
    let large = conv_figure(
        "conv2d f32 8x56x56x64 -> 64, 3x3 SAME",
        [8, 56, 56, 64],
        [3, 3, 64],
        Some(197.0),
    )?;
    let mm = 0.5 * (mm_before + matmul_1024()?);
    for (name, v) in [("32x28x28x32 -> 64", small), ("8x56x56x64 -> 64", large)] {
        Figure::new(
            format!("conv2d f32 {name} 3x3 as a share of matmul f32 1024² (same run)"),
            100.0 * v / mm,
            "%",
        )
        .target(60.0)
        .report();
    }
    conv_figure(
        "conv2d f32 8x56x56x64 -> 64, 1x1 (plain GEMM)",
        [8, 56, 56, 64],
        [1, 1, 64],
        None,
    )?;

    // conv2d_transpose (the input gradient) on the first shape.
    let dy = random(&[32, 28, 28, 64], 3)?;
    let f = random(&[3, 3, 32, 64], 4)?;
    let opts = Conv2dOptions::same();
    let t = measure(|| ops::conv2d_transpose(&dy, &f, &[32, 28, 28, 32], &opts));
    let flops = 2.0 * (32 * 28 * 28 * 64 * 9 * 32) as f64;
    Figure::new(
        "conv2d_transpose f32 32x28x28x64 -> 32, 3x3 SAME",
        flops / t.median_s / 1e9,
        "GFLOP/s",
    )
    .report();

    // Depthwise 3x3 (MobileNet-style) and pooling on activations of the second shape.
    let x = random(&[8, 56, 56, 64], 5)?;
    let dw = random(&[3, 3, 64, 1], 6)?;
    let t = measure(|| ops::depthwise_conv2d(&x, &dw, &opts));
    let flops = 2.0 * (8 * 56 * 56 * 64 * 9) as f64;
    Figure::new(
        "depthwise_conv2d f32 8x56x56x64, 3x3 SAME",
        flops / t.median_s / 1e9,
        "GFLOP/s",
    )
    .report();
    let bytes = (8 * 56 * 56 * 64 * 4) as f64;
    let t = measure(|| ops::max_pool2d(&x, &[2], &[2], Padding::Valid));
    Figure::new(
        "max_pool2d f32 8x56x56x64, 2x2 stride 2 (input bytes/s)",
        bytes / t.median_s / 1e9,
        "GB/s",
    )
    .report();
    let t = measure(|| ops::avg_pool2d(&x, &[3], &[1], Padding::Same));
    Figure::new(
        "avg_pool2d f32 8x56x56x64, 3x3 stride 1 SAME (input bytes/s)",
        bytes / t.median_s / 1e9,
        "GB/s",
    )
    .report();
    Ok(())
}
