//! Eager dispatch overhead: a 4-element f32 add, end to end through `ops::add`
//! (inference, placement, kernel, output allocation). TensorFlow 2.21's eager `tf.add`
//! of 4 elements costs 15.5 µs on this machine; the goal is at most 1 µs.

use tf_bench::{Figure, measure};
use tf_core::{Tensor, ops};

fn main() -> tf_core::Result<()> {
    let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [4])?;
    let b = Tensor::from_vec(vec![0.5f32; 4], [4])?;
    let t = measure(|| ops::add(&a, &b));
    Figure::new(
        "eager add, 4 x f32 (dispatch overhead)",
        t.median_s * 1e6,
        "us",
    )
    .lower_is_better()
    .compare("TensorFlow 2.21 eager tf.add", 15.5)
    .target(1.0)
    .report();
    let x = Tensor::from_vec(vec![1.0f32; 4], [2, 2])?;
    let t = measure(|| ops::reshape(&x, &[4]));
    Figure::new("eager reshape view, 2x2 f32", t.median_s * 1e6, "us")
        .lower_is_better()
        .report();
    Ok(())
}
