//! Shared by the data-parallel tests (`distributed.rs` on threads, `mpi_fit.rs` under
//! mpirun): the digits MLP (784-256-128-10), digit-shaped data, and the reference run
//! of one process on the combined batches.

#![allow(dead_code, clippy::unwrap_used)]

use std::rc::Rc;
use tf_core::{DType, Tensor, ops};
use tf_distribute::Strategy;
use tf_keras::layers::{Dense, Input};
use tf_keras::losses::SparseCategoricalCrossentropy;
use tf_keras::optimizers::Adam;
use tf_keras::{Activation, FitOptions, History, Model, Sequential, Verbose};

/// Samples, global batch, epochs: 4 steps per epoch, 2 epochs.
pub const N: usize = 128;
pub const GLOBAL_BATCH: usize = 32;
pub const EPOCHS: usize = 2;
pub const SEED: u64 = 1234;

/// The digits MLP, its weights drawn from `seed`.
pub fn mlp(seed: u64) -> Model {
    ops::set_random_seed(seed);
    let mut m = Sequential::new();
    m.add(Input::new(&[784])).unwrap();
    m.add(Dense::new(256).activation(Activation::Relu)).unwrap();
    m.add(Dense::new(128).activation(Activation::Relu)).unwrap();
    m.add(Dense::new(10)).unwrap();
    m.compile(
        Adam::new(1e-3).unwrap(),
        SparseCategoricalCrossentropy::new(true),
        &["accuracy"],
    )
    .unwrap();
    m
}

/// `N` digit-shaped samples: pixels in [0, 1), labels 0..10 (same on every worker).
pub fn digits() -> (Tensor, Tensor) {
    // Random ops depend on the global seed too: fix it (models set their own).
    ops::set_random_seed(42);
    let x = ops::random_uniform(&[N, 784], 0.0, 1.0, DType::F32, Some(11)).unwrap();
    let y = ops::random_uniform_int(&[N], 0, 10, DType::I64, Some(12)).unwrap();
    (x, y)
}

pub fn options() -> FitOptions {
    FitOptions::new()
        .epochs(EPOCHS)
        .batch_size(GLOBAL_BATCH)
        .verbose(Verbose::Silent)
        .seed(SEED)
}

/// One worker: a model from its own seed (so only the broadcast makes them agree),
/// trained under `strategy` with the traced step (checked). Returns its initial
/// weights, final weights and history.
pub fn worker(strategy: Rc<dyn Strategy>) -> (Vec<Tensor>, Vec<Tensor>, History) {
    let (initial, fin, h, traced) = worker_mode(strategy, false);
    assert!(traced, "the distributed step fell back to eager execution");
    (initial, fin, h)
}

/// [`worker`] with `run_eagerly` chosen; also returns whether the step ran traced.
pub fn worker_mode(
    strategy: Rc<dyn Strategy>,
    run_eagerly: bool,
) -> (Vec<Tensor>, Vec<Tensor>, History, bool) {
    let mut m = mlp(100 + strategy.worker_index() as u64);
    m.set_run_eagerly(run_eagerly).unwrap();
    let initial = m.get_weights().unwrap();
    let (x, y) = digits();
    let h = m.fit(&x, &y, options().strategy(strategy)).unwrap();
    let traced = m.is_traced();
    (initial, m.get_weights().unwrap(), h, traced)
}

/// One process on the combined batches, from `initial` weights.
pub fn reference(initial: &[Tensor]) -> (Vec<Tensor>, History) {
    let mut m = mlp(7);
    m.set_weights(initial).unwrap();
    let (x, y) = digits();
    let h = m.fit(&x, &y, options()).unwrap();
    (m.get_weights().unwrap(), h)
}

/// Largest absolute difference between two weight lists.
pub fn max_diff(a: &[Tensor], b: &[Tensor]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
            assert_eq!(a.len(), b.len());
            a.iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

/// A small classifier on the digits with batch normalization between its dense
/// layers (784-16 without bias, BN, relu, 10), weights drawn from `seed`; `synchronized` is Keras's
/// `BatchNormalization(synchronized=...)`. Momentum 0.5 so the moving statistics move.
pub fn bn_model(seed: u64, synchronized: bool) -> Model {
    use tf_keras::layers::{BatchNormalization, ReLU};
    ops::set_random_seed(seed);
    let mut m = Sequential::new();
    m.add(Input::new(&[784])).unwrap();
    // No bias before the normalization: its true gradient is zero, so Adam would turn
    // rounding noise into full-size steps.
    m.add(Dense::new(16).use_bias(false)).unwrap();
    m.add(
        BatchNormalization::new()
            .momentum(0.5)
            .synchronized(synchronized),
    )
    .unwrap();
    m.add(ReLU::new()).unwrap();
    m.add(Dense::new(10)).unwrap();
    m.compile(
        Adam::new(1e-3).unwrap(),
        SparseCategoricalCrossentropy::new(true),
        &["accuracy"],
    )
    .unwrap();
    m
}

/// One worker training [`bn_model`] under `strategy`: initial weights, final weights
/// (moving statistics included), whether the step stayed traced.
pub fn bn_worker(
    strategy: Rc<dyn Strategy>,
    synchronized: bool,
    run_eagerly: bool,
) -> (Vec<Tensor>, Vec<Tensor>, bool) {
    let mut m = bn_model(100 + strategy.worker_index() as u64, synchronized);
    m.set_run_eagerly(run_eagerly).unwrap();
    let initial = m.get_weights().unwrap();
    let (x, y) = digits();
    m.fit(&x, &y, options().strategy(strategy)).unwrap();
    let traced = m.is_traced();
    (initial, m.get_weights().unwrap(), traced)
}

/// [`bn_model`] trained by one process on the combined batches from `initial`.
pub fn bn_reference(initial: &[Tensor], synchronized: bool) -> Vec<Tensor> {
    let mut m = bn_model(7, synchronized);
    m.set_weights(initial).unwrap();
    let (x, y) = digits();
    m.fit(&x, &y, options()).unwrap();
    m.get_weights().unwrap()
}

/// Two workers' per-epoch losses: equal to each other and within `rel` (relative) of
/// the reference run's.
pub fn assert_worker_losses(h0: &History, h1: &History, href: &History, rel: f64) {
    let (l0, l1, lr) = (
        h0.get("loss").unwrap(),
        h1.get("loss").unwrap(),
        href.get("loss").unwrap(),
    );
    assert_eq!(l0, l1);
    for (a, b) in l0.iter().zip(lr) {
        assert!((a - b).abs() < rel * b.abs().max(1.0), "loss {a} vs {b}");
    }
}

/// Runs `f` on `n` worker threads, each with a `MultiWorkerMirroredStrategy` over its
/// member of a `LocalGroup` whose collectives use `options`; the results by rank.
pub fn spawn_workers<R: Send + 'static>(
    n: usize,
    options: tf_distribute::CollectiveOptions,
    f: impl Fn(Rc<dyn Strategy>) -> R + Send + Sync + 'static,
) -> Vec<R> {
    let f = std::sync::Arc::new(f);
    let hs: Vec<_> = tf_distribute::LocalGroup::new(n)
        .unwrap()
        .into_iter()
        .map(|c| {
            let f = f.clone();
            let o = options.clone();
            std::thread::spawn(move || {
                let s = tf_distribute::MultiWorkerMirroredStrategy::with_communicator(Box::new(c))
                    .with_options(o);
                f(Rc::new(s))
            })
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).collect()
}
