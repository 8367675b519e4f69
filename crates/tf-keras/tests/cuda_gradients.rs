//! Gradients on the GPU (feature `cuda`): the loss and every gradient of a small CNN +
//! MLP (Conv2D, MaxPool, BiasAdd, Relu, MatMul, sparse softmax cross-entropy, Mean)
//! computed with a `GradientTape` on GPU 0 match the CPU's. Says it skipped when no GPU
//! answers.

#![cfg(feature = "cuda")]
#![allow(clippy::unwrap_used)]

use tf_autodiff::GradientTape;
use tf_core::ops::{self, Conv2dOptions};
use tf_core::{Device, Result, Tensor};

fn seeded(shape: &[usize], seed: u64, scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| {
            let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (((h >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) as f32 * scale as f32
        })
        .collect();
    Tensor::from_vec(v, shape).unwrap()
}

/// Loss and gradients w.r.t. the parameters, everything on `device`.
fn loss_and_grads(
    device: Device,
    params: &[Tensor],
    x: &Tensor,
    labels: &Tensor,
) -> Result<(f32, Vec<Vec<f32>>)> {
    let p: Vec<Tensor> = params.iter().map(|t| t.to(device)).collect::<Result<_>>()?;
    let x = x.to(device)?;
    let labels = labels.to(device)?;
    let tape = GradientTape::new();
    for t in &p {
        tape.watch(t);
    }
    let h = ops::conv2d(&x, &p[0], &Conv2dOptions::same())?;
    let h = ops::relu(&ops::bias_add(&h, &p[1])?)?;
    let h = ops::max_pool2d(&h, &[2, 2], &[2, 2], ops::Padding::Valid)?;
    let h = ops::reshape(&h, &[x.dims()[0] as i64, -1])?;
    let h = ops::relu(&ops::bias_add(&ops::matmul(&h, &p[2])?, &p[3])?)?;
    let logits = ops::bias_add(&ops::matmul(&h, &p[4])?, &p[5])?;
    let loss = ops::reduce_mean(
        &ops::sparse_softmax_cross_entropy_with_logits(&labels, &logits)?,
        None,
        false,
    )?;
    let refs: Vec<&Tensor> = p.iter().collect();
    let grads = tape.gradient(&loss, refs.as_slice())?;
    let out = grads
        .into_iter()
        .map(|g| {
            let g = g.unwrap();
            assert_eq!(g.device(), device, "gradient computed off the device");
            g.to_vec::<f32>()
        })
        .collect::<Result<_>>()?;
    Ok((loss.to_vec::<f32>()?[0], out))
}

#[test]
fn cnn_gradients_on_gpu_match_cpu() {
    let params = vec![
        seeded(&[3, 3, 1, 4], 1, 0.5),
        seeded(&[4], 2, 0.1),
        seeded(&[4 * 4 * 4, 16], 3, 0.3),
        seeded(&[16], 4, 0.1),
        seeded(&[16, 10], 5, 0.3),
        seeded(&[10], 6, 0.1),
    ];
    let x = seeded(&[8, 8, 8, 1], 7, 1.0);
    let labels = Tensor::from_vec((0..8i32).map(|i| i * 3 % 10).collect::<Vec<_>>(), [8]).unwrap();
    let (lc, gc) = loss_and_grads(Device::Cpu, &params, &x, &labels).unwrap();
    assert!(lc.is_finite() && gc.iter().flatten().all(|g| g.is_finite()));
    if tf_core::cuda::init() == 0 {
        println!("SKIPPED (GPU half): no CUDA device answers (no driver or no GPU)");
        return;
    }
    let (lg, gg) = loss_and_grads(Device::Cuda(0), &params, &x, &labels).unwrap();
    assert!(
        (lc - lg).abs() <= 1e-5 * lc.abs().max(1.0),
        "loss cpu {lc} gpu {lg}"
    );
    for (i, (c, g)) in gc.iter().zip(&gg).enumerate() {
        for (a, b) in c.iter().zip(g) {
            assert!(
                (a - b).abs() <= 1e-4 * a.abs().max(1e-2),
                "param {i}: cpu {a} gpu {b}"
            );
        }
    }
}
