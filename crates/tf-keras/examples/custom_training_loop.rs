//! A custom training loop with `GradientTape`, Keras layers and an optimizer — the Rust
//! version of TensorFlow's "writing a training loop from scratch" guide.
//!
//! ```text
//! cargo run --release --example custom_training_loop
//! ```

use anyhow::Result;
use tf_autodiff::GradientTape;
use tf_core::{DType, Tensor, Variable, ops};
use tf_keras::layers::{Dense, Input};
use tf_keras::losses::{Loss, MeanSquaredError};
use tf_keras::metrics::{self, Metric};
use tf_keras::optimizers::{Adam, Optimizer};
use tf_keras::{Activation, Sequential};

fn main() -> Result<()> {
    ops::set_random_seed(0);
    // y = sin(3x) + noise on [-1, 1].
    let n = 512;
    let x = ops::random_uniform(&[n, 1], -1.0, 1.0, DType::F32, Some(1))?;
    let noise = ops::random_normal(&[n, 1], 0.0, 0.05, DType::F32, Some(2))?;
    let y = ops::add(
        &ops::sin(&ops::mul(&x, &Tensor::from_scalar(3.0f32))?)?,
        &noise,
    )?;

    let mut model = Sequential::new();
    model.add(Input::new(&[1]))?;
    model.add(Dense::new(32).activation(Activation::Tanh))?;
    model.add(Dense::new(32).activation(Activation::Tanh))?;
    model.add(Dense::new(1))?;
    let mut optimizer = Adam::new(0.01)?;
    let loss_fn = MeanSquaredError::new();
    let mut mae = metrics::mean_absolute_error()?;
    let vars: Vec<Variable> = model.trainable_weights()?;

    for epoch in 0..30 {
        mae.reset_state()?;
        let mut total = 0.0;
        for start in (0..n).step_by(64) {
            let xb = ops::slice(&x, &[start as i64, 0], &[64, -1])?;
            let yb = ops::slice(&y, &[start as i64, 0], &[64, -1])?;
            let tape = GradientTape::new();
            let pred = model.forward(std::slice::from_ref(&xb), true)?.remove(0);
            let loss = loss_fn.compute(&yb, &pred, None)?;
            let grads = tape.gradient(&loss, &vars)?;
            let pairs: Vec<(Option<Tensor>, Variable)> =
                grads.into_iter().zip(vars.iter().cloned()).collect();
            optimizer.apply_gradients(&pairs)?;
            mae.update_state(&yb, &pred, None)?;
            total += f64::from(loss.scalar::<f32>()?);
        }
        if epoch % 5 == 4 {
            println!(
                "epoch {:2}: loss {:.5}  mae {:.4}",
                epoch + 1,
                total / 8.0,
                mae.result()?
            );
        }
    }
    let final_mae = mae.result()?;
    println!("final training mae: {final_mae:.4}");
    anyhow::ensure!(final_mae < 0.2, "the loop did not learn (mae {final_mae})");
    Ok(())
}
