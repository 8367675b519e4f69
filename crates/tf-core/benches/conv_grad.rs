//! Convolution and pooling gradient throughput, f32 NHWC through the public ops, each
//! printed next to its forward op measured in the same run (same shapes, same machine
//! load).
//!
//! The backprops of a convolution do the forward convolution's multiply-adds
//! (`2·N·Ho·Wo·Cout·kh·kw·Cin` FLOPs each), so equal GFLOP/s means equal time. The
//! CNN training step of BENCHMARKS.md (TensorFlow: 4,900 samples/s) spends two thirds of
//! its convolution time in these. Other builds share the two cores: figures are
//! indicative, medians of many samples.

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

/// Median seconds of `f`.
fn secs<R>(f: impl FnMut() -> R) -> f64 {
    measure(f).median_s
}

/// Forward, input-gradient and filter-gradient figures of one convolution.
fn conv_figures(
    name: &str,
    [n, h, w, c]: [usize; 4],
    [kh, kw, o]: [usize; 3],
    opts: &Conv2dOptions,
) -> tf_core::Result<()> {
    let x = random(&[n, h, w, c], 1)?;
    let f = random(&[kh, kw, c, o], 2)?;
    let y = ops::conv2d(&x, &f, opts)?;
    let dy = random(y.dims(), 3)?;
    let [_, ho, wo, _] = [y.dims()[0], y.dims()[1], y.dims()[2], y.dims()[3]];
    let flops = 2.0 * (n * ho * wo * o * kh * kw * c) as f64;
    let fwd = flops / secs(|| ops::conv2d(&x, &f, opts)) / 1e9;
    Figure::new(format!("conv2d {name}"), fwd, "GFLOP/s").report();
    let (xs, fs) = ([n, h, w, c], [kh, kw, c, o]);
    let bi = flops / secs(|| ops::conv2d_backprop_input(&f, &dy, &xs, opts)) / 1e9;
    Figure::new(format!("conv2d_backprop_input {name}"), bi, "GFLOP/s")
        .compare("forward conv2d, same run", fwd)
        .report();
    let bf = flops / secs(|| ops::conv2d_backprop_filter(&x, &dy, &fs, opts)) / 1e9;
    Figure::new(format!("conv2d_backprop_filter {name}"), bf, "GFLOP/s")
        .compare("forward conv2d, same run", fwd)
        .report();
    Ok(())
}

fn main() -> tf_core::Result<()> {
    let same = Conv2dOptions::same();
    conv_figures(
        "f32 32x28x28x32 -> 64, 3x3 SAME",
        [32, 28, 28, 32],
        [3, 3, 64],
        &same,
    )?;
    conv_figures(
        "f32 8x56x56x64 -> 64, 3x3 SAME",
        [8, 56, 56, 64],
        [3, 3, 64],
        &same,
    )?;
    conv_figures(
        "f32 32x28x28x32 -> 64, 3x3 stride 2 SAME",
        [32, 28, 28, 32],
        [3, 3, 64],
        &same.clone().strides(&[2]),
    )?;
    // The Keras CNN's first layer: one input channel.
    conv_figures(
        "f32 64x28x28x1 -> 32, 3x3 VALID",
        [64, 28, 28, 1],
        [3, 3, 32],
        &Conv2dOptions::valid(),
    )?;

    // Depthwise 3x3 (MobileNet-style).
    let x = random(&[8, 56, 56, 64], 5)?;
    let dw = random(&[3, 3, 64, 1], 6)?;
    let dy = random(&[8, 56, 56, 64], 7)?;
    let flops = 2.0 * (8 * 56 * 56 * 64 * 9) as f64;
    let fwd = flops / secs(|| ops::depthwise_conv2d(&x, &dw, &same)) / 1e9;
    let name = "f32 8x56x56x64, 3x3 SAME";
    Figure::new(format!("depthwise_conv2d {name}"), fwd, "GFLOP/s").report();
    let bi = flops
        / secs(|| ops::depthwise_conv2d_backprop_input(&dw, &dy, &[8, 56, 56, 64], &same))
        / 1e9;
    Figure::new(
        format!("depthwise_conv2d_backprop_input {name}"),
        bi,
        "GFLOP/s",
    )
    .compare("forward depthwise_conv2d, same run", fwd)
    .report();
    let bf = flops
        / secs(|| ops::depthwise_conv2d_backprop_filter(&x, &dy, &[3, 3, 64, 1], &same))
        / 1e9;
    Figure::new(
        format!("depthwise_conv2d_backprop_filter {name}"),
        bf,
        "GFLOP/s",
    )
    .compare("forward depthwise_conv2d, same run", fwd)
    .report();

    // Pooling: input bytes per second, gradients next to their forward pool.
    let bytes = (8 * 56 * 56 * 64 * 4) as f64;
    let fwd = bytes / secs(|| ops::max_pool2d(&x, &[2], &[2], Padding::Valid)) / 1e9;
    Figure::new(
        "max_pool2d f32 8x56x56x64, 2x2 stride 2 (input bytes/s)",
        fwd,
        "GB/s",
    )
    .report();
    let y = ops::max_pool2d(&x, &[2], &[2], Padding::Valid)?;
    let dyp = random(y.dims(), 8)?;
    let g = bytes / secs(|| ops::max_pool_grad(&x, &y, &dyp, &[2], &[2], Padding::Valid)) / 1e9;
    Figure::new(
        "max_pool_grad f32 8x56x56x64, 2x2 stride 2 (input bytes/s)",
        g,
        "GB/s",
    )
    .compare("forward max_pool2d, same run", fwd)
    .report();
    let fwd = bytes / secs(|| ops::avg_pool2d(&x, &[3], &[1], Padding::Same)) / 1e9;
    Figure::new(
        "avg_pool2d f32 8x56x56x64, 3x3 stride 1 SAME (input bytes/s)",
        fwd,
        "GB/s",
    )
    .report();
    let g =
        bytes / secs(|| ops::avg_pool_grad(&[8, 56, 56, 64], &dy, &[3], &[1], Padding::Same)) / 1e9;
    Figure::new(
        "avg_pool_grad f32 8x56x56x64, 3x3 stride 1 SAME (input bytes/s)",
        g,
        "GB/s",
    )
    .compare("forward avg_pool2d, same run", fwd)
    .report();
    Ok(())
}
