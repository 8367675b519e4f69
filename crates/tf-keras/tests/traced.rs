//! The traced train step (default) against the eager one (`run_eagerly`): same losses
//! and weights step by step, for several layer kinds, optimizers, sample weights and a
//! ragged last batch; and the fallback when a step cannot be traced.

#![allow(clippy::unwrap_used)]

use tf_core::{DType, Tensor, ops};
use tf_keras::layers::{
    BatchNormalization, Conv2D, ConvPadding, Dense, Flatten, Input, MaxPooling2D, Rescaling,
    Reshape,
};
use tf_keras::losses::{CategoricalCrossentropy, SparseCategoricalCrossentropy};
use tf_keras::optimizers::{Adam, SGD, schedules::ExponentialDecay};
use tf_keras::{Activation, FitOptions, Model, Sequential, Verbose};

fn data(n: usize, seed: u64) -> (Tensor, Tensor) {
    let x = ops::random_uniform(&[n, 16], 0.0, 4.0, DType::F32, Some(seed)).unwrap();
    let y = ops::random_uniform_int(&[n], 0, 3, DType::I64, Some(seed + 1)).unwrap();
    (x, y)
}

fn mlp() -> Model {
    let mut m = Sequential::new();
    m.add(Input::new(&[16])).unwrap();
    m.add(Rescaling::new(0.25, 0.0)).unwrap();
    m.add(Dense::new(12).activation(Activation::Relu)).unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(Dense::new(3)).unwrap();
    m
}

fn cnn() -> Model {
    let mut m = Sequential::new();
    m.add(Input::new(&[16])).unwrap();
    m.add(Reshape::new(&[4, 4, 1])).unwrap();
    m.add(
        Conv2D::new(4, &[3])
            .padding(ConvPadding::Same)
            .activation(Activation::Relu),
    )
    .unwrap();
    m.add(MaxPooling2D::new([2, 2])).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(3)).unwrap();
    m
}

fn max_diff(a: &[Tensor], b: &[Tensor]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let (x, y) = (x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
            x.iter()
                .zip(&y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max)
        })
        .fold(0.0f32, f32::max)
}

/// Builds two identical models (same initial weights), compiles them with `compile`,
/// runs `fit` on both (one traced, one eager) and compares losses and weights.
fn check(build: fn() -> Model, compile: fn(&mut Model), weighted: bool) {
    ops::set_random_seed(3);
    let (x, y) = data(37, 11); // 37 = 2 batches of 16 + a ragged batch of 5
    let mut traced = build();
    let mut eager = build();
    eager.set_weights(&traced.get_weights().unwrap()).unwrap();
    compile(&mut traced);
    compile(&mut eager);
    eager.set_run_eagerly(true).unwrap();
    assert!(traced.is_traced());
    assert!(!eager.is_traced());
    let opts = || {
        let o = FitOptions::new()
            .epochs(3)
            .batch_size(16)
            .seed(5)
            .verbose(Verbose::Silent);
        if weighted {
            let w: Vec<f32> = (0..37).map(|i| 0.5 + (i % 4) as f32 * 0.25).collect();
            o.sample_weight(&Tensor::from_vec(w, [37]).unwrap())
        } else {
            o
        }
    };
    let ht = traced.fit(&x, &y, opts()).unwrap();
    let he = eager.fit(&x, &y, opts()).unwrap();
    assert!(
        traced.is_traced(),
        "{:?}",
        traced.compiled().unwrap().trace_fallback
    );
    for key in ["loss", "accuracy"] {
        let (a, b) = (ht.get(key).unwrap(), he.get(key).unwrap());
        for (p, q) in a.iter().zip(b) {
            assert!((p - q).abs() < 1e-4, "{key}: traced {a:?} eager {b:?}");
        }
    }
    let d = max_diff(
        &traced.get_weights().unwrap(),
        &eager.get_weights().unwrap(),
    );
    assert!(d < 1e-4, "weights differ by {d}");
    // The traced step really changed the weights.
    let fresh = build();
    let moved = max_diff(
        &traced.get_weights().unwrap()[..1],
        &fresh.get_weights().unwrap()[..1],
    );
    assert!(moved > 1e-3);
}

fn adam(m: &mut Model) {
    m.compile(
        Adam::new(0.01).unwrap(),
        SparseCategoricalCrossentropy::new(true),
        &["accuracy"],
    )
    .unwrap();
}

fn sgd_schedule(m: &mut Model) {
    m.compile(
        SGD::new(0.05)
            .unwrap()
            .momentum(0.9)
            .nesterov(true)
            .clipnorm(1.0)
            .schedule(ExponentialDecay {
                initial_learning_rate: 0.05,
                decay_steps: 2.0,
                decay_rate: 0.9,
                staircase: false,
            }),
        SparseCategoricalCrossentropy::new(true),
        &["accuracy"],
    )
    .unwrap();
}

#[test]
fn traced_mlp_with_batchnorm_matches_eager() {
    check(mlp, adam, false);
}

#[test]
fn traced_cnn_matches_eager_with_sample_weights() {
    check(cnn, adam, true);
}

#[test]
fn traced_sgd_with_schedule_and_clipping_matches_eager() {
    check(mlp, sgd_schedule, false);
}

#[test]
fn traced_step_counts_iterations_and_label_smoothing() {
    ops::set_random_seed(1);
    let (x, y) = data(20, 2);
    let y1 = ops::one_hot(&y, 3, 1.0, 0.0, -1, DType::F32).unwrap();
    let mut m = mlp();
    m.compile(
        Adam::new(1e-3).unwrap(),
        CategoricalCrossentropy::new(true).label_smoothing(0.1),
        &["accuracy"],
    )
    .unwrap();
    for _ in 0..3 {
        m.train_on_batch(&x, &y1).unwrap();
    }
    assert!(m.is_traced());
    assert_eq!(m.compiled().unwrap().optimizer.iterations().unwrap(), 3);
}

#[test]
fn export_writes_a_saved_model_that_predicts_like_the_model() {
    ops::set_random_seed(6);
    let dir = std::env::temp_dir().join(format!("tfk_export_{}", std::process::id()));
    let (x, _) = data(5, 21);
    for mut m in [mlp(), cnn()] {
        let want = m.predict(&x, 8).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        m.export(&dir).unwrap();
        let loaded = tf_graph::saved_model::load(&dir).unwrap();
        let sig = loaded.signature("serving_default").unwrap();
        assert_eq!(sig.def.outputs[0].0, "output_0");
        for rows in [5usize, 2] {
            let xs = ops::slice(&x, &[0, 0], &[rows as i64, -1]).unwrap();
            let got = sig.call(&[xs]).unwrap();
            let w = ops::slice(&want, &[0, 0], &[rows as i64, -1]).unwrap();
            assert!(max_diff(&got, &[w]) < 1e-5);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    // An unbuilt model cannot be exported.
    let mut m = Sequential::new();
    m.add(Dense::new(2)).unwrap();
    let e = m.export(&dir).unwrap_err().to_string();
    assert!(e.contains("input shape"), "{e}");
}

#[test]
fn traced_predict_matches_forward_and_follows_weight_changes() {
    ops::set_random_seed(8);
    let (x, _) = data(7, 31);
    for mut m in [mlp(), cnn()] {
        // 7 rows in batches of 3: two signatures (3 and 1 rows).
        let eager = m.forward(std::slice::from_ref(&x), false).unwrap();
        let traced = m.predict(&x, 3).unwrap();
        assert!(max_diff(&eager, &[traced]) < 1e-5);
        // New weight values are read by the cached graph.
        let w: Vec<Tensor> = m
            .get_weights()
            .unwrap()
            .iter()
            .map(|t| ops::mul(t, &Tensor::from_scalar(0.5f32)).unwrap())
            .collect();
        m.set_weights(&w).unwrap();
        let eager = m.forward(std::slice::from_ref(&x), false).unwrap();
        let traced = m.predict(&x, 3).unwrap();
        assert!(max_diff(&eager, &[traced]) < 1e-5);
    }
}

/// The traced-function caches keep `Model` movable to another thread (servers do).
#[test]
fn model_with_traced_caches_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Model>();
}
