//! nn and random op throughput: softmax over [1024, 1000] f32, sparse softmax
//! cross-entropy at [128, 10] and [1024, 1000], log_softmax and dropout at
//! [1024, 1000], and random_normal / random_uniform / truncated_normal of 4M f32.
//!
//! TensorFlow 2.21 figures were measured on this machine (2 cores, eager, same shapes,
//! median of 11 samples after warm-up) with the scripts' `tf.nn.*` / `tf.random.*`
//! calls; these machines are shared and noisy, so all figures are indicative.
//! Bytes counted: every input element read once plus every output element written
//! once.
//!
//! Outputs are fresh allocations per call. glibc returns freed buffers of several MB to
//! the OS, so ops whose outputs total 8 MB or more (dropout: y and mask) pay page
//! faults on every call; with `MALLOC_TRIM_THRESHOLD_` and `MALLOC_MMAP_THRESHOLD_`
//! raised, dropout [1024,1000] drops from ~9 ms to ~3 ms here.

use tf_bench::{Figure, measure};
use tf_core::{DType, Tensor, ops};

fn main() -> tf_core::Result<()> {
    ops::set_random_seed(1);
    let x = ops::random_normal(&[1024, 1000], 0.0, 1.0, DType::F32, None)?;
    let n = 1024.0 * 1000.0;

    let t = measure(|| ops::softmax(&x, -1));
    Figure::new("softmax [1024,1000] f32", t.median_s * 1e6, "us")
        .lower_is_better()
        .compare("TensorFlow 2.21 tf.nn.softmax", 536.0)
        .report();
    Figure::new(
        "softmax [1024,1000] f32 bandwidth",
        8.0 * n / t.median_s / 1e9,
        "GB/s",
    )
    .compare("TensorFlow 2.21 tf.nn.softmax", 15.3)
    .report();

    let t = measure(|| ops::log_softmax(&x, -1));
    Figure::new("log_softmax [1024,1000] f32", t.median_s * 1e6, "us")
        .lower_is_better()
        .compare("TensorFlow 2.21 tf.nn.log_softmax", 1456.0)
        .report();

    for (b, c, tf_us) in [(128usize, 10usize, 52.7), (1024, 1000, 6074.0)] {
        let logits = ops::random_normal(&[b, c], 0.0, 1.0, DType::F32, None)?;
        let labels = ops::random_uniform_int(&[b], 0, c as i64, DType::I32, None)?;
        let t = measure(|| ops::sparse_softmax_cross_entropy_with_logits_raw(&logits, &labels));
        let bytes = (8 * b * c + 8 * b) as f64;
        Figure::new(
            format!("sparse softmax xent [{b},{c}] f32"),
            t.median_s * 1e6,
            "us",
        )
        .lower_is_better()
        .compare(
            "TensorFlow 2.21 tf.nn.sparse_softmax_cross_entropy_with_logits",
            tf_us,
        )
        .report();
        Figure::new(
            format!("sparse softmax xent [{b},{c}] f32 bandwidth"),
            bytes / t.median_s / 1e9,
            "GB/s",
        )
        .compare("TensorFlow 2.21", bytes / (tf_us * 1e-6) / 1e9)
        .report();
    }

    let ones = Tensor::ones([1024, 1000], DType::F32)?;
    let t = measure(|| ops::dropout(&ones, 0.5, None, None));
    Figure::new("dropout rate 0.5 [1024,1000] f32", t.median_s * 1e6, "us")
        .lower_is_better()
        .compare("TensorFlow 2.21 tf.nn.dropout", 4647.0)
        .report();

    let m = 4usize << 20;
    let t = measure(|| ops::random_normal(&[m], 0.0, 1.0, DType::F32, None));
    Figure::new(
        "random_normal 4M f32",
        m as f64 / t.median_s / 1e6,
        "Melem/s",
    )
    .compare("TensorFlow 2.21 tf.random.normal", 62.0)
    .report();
    let t = measure(|| ops::random_uniform(&[m], 0.0, 1.0, DType::F32, None));
    Figure::new(
        "random_uniform 4M f32",
        m as f64 / t.median_s / 1e6,
        "Melem/s",
    )
    .compare("TensorFlow 2.21 tf.random.uniform", 222.0)
    .report();
    let t = measure(|| ops::truncated_normal(&[m], 0.0, 1.0, DType::F32, None));
    Figure::new(
        "truncated_normal 4M f32",
        m as f64 / t.median_s / 1e6,
        "Melem/s",
    )
    .compare("TensorFlow 2.21 tf.random.truncated_normal", 35.8)
    .report();
    Ok(())
}
