//! The functional API: two inputs, a shared layer, a merge, two heads trained jointly,
//! the summary with its "Connected to" column, and a `.keras` round trip.
//!
//! ```text
//! cargo run --release --example functional_api
//! ```

use anyhow::Result;
use tf_core::{DType, ops};
use tf_keras::layers::{Concatenate, Dense, Input};
use tf_keras::losses::{Loss, MeanSquaredError};
use tf_keras::optimizers::Adam;
use tf_keras::{Activation, FitOptions, LayerExt, LayerRef, Model, Verbose, load_model};

fn main() -> Result<()> {
    ops::set_random_seed(0);
    let a = Input::tensor(&[4]);
    let b = Input::tensor(&[4]);
    // One encoder applied to both inputs (shared weights).
    let encoder = LayerRef::new(Dense::new(8).activation(Activation::Relu));
    let ea = encoder.apply(&[&a])?;
    let eb = encoder.apply(&[&b])?;
    let joined = Concatenate::new(-1).apply(&[&ea, &eb])?;
    let sum_head = Dense::new(1).apply(&[&joined])?;
    let diff_head = Dense::new(1).apply(&[&joined])?;
    let mut model = Model::new(&[a, b], &[sum_head, diff_head])?;
    model.summary()?;

    // Targets: sum and difference of the inputs' means.
    let n = 1024;
    let xa = ops::random_uniform(&[n, 4], -1.0, 1.0, DType::F32, Some(1))?;
    let xb = ops::random_uniform(&[n, 4], -1.0, 1.0, DType::F32, Some(2))?;
    let ma = ops::reduce_mean(&xa, Some(&[1]), true)?;
    let mb = ops::reduce_mean(&xb, Some(&[1]), true)?;
    let ys = [ops::add(&ma, &mb)?, ops::sub(&ma, &mb)?];

    let losses: Vec<Box<dyn Loss>> = vec![
        Box::new(MeanSquaredError::new()),
        Box::new(MeanSquaredError::new()),
    ];
    model.compile_with(Box::new(Adam::new(0.01)?), losses, Vec::new())?;
    let history = model.fit_multi(
        &[xa.clone(), xb.clone()],
        &ys,
        FitOptions::new()
            .epochs(20)
            .batch_size(64)
            .verbose(Verbose::OneLinePerEpoch),
    )?;
    let last = history
        .get("loss")
        .and_then(|l| l.last().copied())
        .unwrap_or(f64::NAN);
    println!("final loss: {last:.5}");

    let path = std::env::temp_dir().join("functional_api_example.keras");
    model.save(&path)?;
    let mut back = load_model(&path)?;
    let p1 = model.predict_multi(&[xa.clone(), xb.clone()], 256)?;
    let p2 = back.predict_multi(&[xa, xb], 256)?;
    anyhow::ensure!(
        p1[0].to_vec::<f32>()? == p2[0].to_vec::<f32>()?,
        "reloaded model differs"
    );
    println!("saved and reloaded {} (same predictions)", path.display());
    std::fs::remove_file(&path).ok();
    anyhow::ensure!(last < 0.01, "the model did not learn (loss {last})");
    Ok(())
}
