//! The backward step of the hot activations on 4M-element f32 tensors (16 MB each):
//! tf-core's fused `ReluGrad` / `TanhGrad` / `SigmoidGrad` (what the registered
//! gradients call) against the same gradient composed from ordinary ops (what they
//! would cost without the fused ops), and the whole forward + backward through a
//! `GradientTape`.
//!
//! Each backprop op reads two tensors and writes one (3 × 16 MB moved); figures are
//! GB/s next to a memcpy moving as many bytes on the rayon pool in the same run
//! (target: 70% of it). Only 2 cores here, shared with other builds: indicative.
//!
//! One run here (2 cores, under load): pooled memcpy 26.4 GB/s (target 18.5); ReluGrad
//! 23.0 GB/s fused vs 1.7 composed (greater + where); TanhGrad 25.0 vs 10.1; SigmoidGrad
//! 51 (noisy) vs 8.5; forward + backward through a tape: relu 3.5 ms, tanh 4.3 ms,
//! sigmoid 4.3 ms.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use tf_autodiff::GradientTape;
use tf_bench::{Figure, measure};
use tf_core::{Result, Tensor, ops};

const N: usize = 4 * 1024 * 1024;
const MOVED: usize = 3 * N * 4;

fn random(seed: u64, lo: f32, hi: f32) -> Result<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Tensor::from_vec((0..N).map(|_| rng.random_range(lo..hi)).collect(), [N])
}

/// GB/s of a pooled memcpy moving `bytes` (half read, half written).
fn memcpy_gbs(bytes: usize) -> f64 {
    let n = bytes / 2;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let chunk = n.div_ceil(rayon::current_num_threads().max(1) * 8);
    let t = measure(|| {
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        dst[n / 2]
    });
    bytes as f64 / t.median_s / 1e9
}

fn gbs(seconds: f64) -> f64 {
    MOVED as f64 / seconds / 1e9
}

/// Forward and backward of `f` through a tape, with upstream gradient `g`.
fn tape_step(f: fn(&Tensor) -> Result<Tensor>, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    let tape = GradientTape::new();
    tape.watch(x);
    let y = f(x)?;
    let mut grads =
        tape.gradient_with(&y, &[x], Some(g), tf_autodiff::UnconnectedGradients::None)?;
    grads
        .pop()
        .flatten()
        .ok_or_else(|| tf_core::Error::invalid("bench", "no gradient"))
}

fn main() -> Result<()> {
    let x = random(1, -4.0, 4.0)?;
    let g = random(2, -1.0, 1.0)?;
    let zero = Tensor::from_scalar(0.0f32);
    let one = Tensor::from_scalar(1.0f32);
    let copy = memcpy_gbs(MOVED);
    Figure::new("memcpy 48 MB moved (rayon pool)", copy, "GB/s").report();

    let y = ops::relu(&x)?;
    let fused = measure(|| ops::relu_grad(&g, &y));
    let composed = measure(|| ops::where_(&ops::greater(&y, &zero)?, &g, &zero));
    Figure::new("ReluGrad 4M f32 (fused)", gbs(fused.median_s), "GB/s")
        .compare("composed greater + where", gbs(composed.median_s))
        .target(0.7 * copy)
        .report();

    let y = ops::tanh(&x)?;
    let fused = measure(|| ops::tanh_grad(&y, &g));
    let composed = measure(|| ops::mul(&g, &ops::sub(&one, &ops::square(&y)?)?));
    Figure::new("TanhGrad 4M f32 (fused)", gbs(fused.median_s), "GB/s")
        .compare("composed square + sub + mul", gbs(composed.median_s))
        .target(0.7 * copy)
        .report();

    let y = ops::sigmoid(&x)?;
    let fused = measure(|| ops::sigmoid_grad(&y, &g));
    let composed = measure(|| ops::mul(&g, &ops::mul(&y, &ops::sub(&one, &y)?)?));
    Figure::new("SigmoidGrad 4M f32 (fused)", gbs(fused.median_s), "GB/s")
        .compare("composed sub + mul + mul", gbs(composed.median_s))
        .target(0.7 * copy)
        .report();

    for (name, f) in [
        ("relu", ops::relu as fn(&Tensor) -> Result<Tensor>),
        ("tanh", ops::tanh),
        ("sigmoid", ops::sigmoid),
    ] {
        let t = measure(|| tape_step(f, &x, &g));
        Figure::new(
            format!("{name} 4M f32 forward + backward through a tape"),
            t.median_s * 1e3,
            "ms",
        )
        .lower_is_better()
        .report();
    }
    Ok(())
}
