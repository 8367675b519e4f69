//! Keras's `BatchNormalization(synchronized=True)` under a strategy, workers as threads
//! of this process ([`LocalGroup`]): two (and three, with unequal rows per worker)
//! data-parallel workers end with the weights and moving statistics of one process
//! trained on the combined batches, with the traced and with the eager step, while
//! plain batch normalization under the same setup does not (its statistics are per
//! worker). The same check across processes over MPI is in `mpi_fit.rs`.

#![allow(clippy::unwrap_used)]

mod dist_common;

use dist_common::*;
use std::rc::Rc;
use tf_core::Tensor;
use tf_distribute::Strategy;

/// Runs `n` workers and returns (max |diff| of each worker to one process on the
/// combined batches, max |diff| between workers).
fn run(n: usize, synchronized: bool, run_eagerly: bool) -> (Vec<f32>, f32) {
    let out = spawn_workers(n, Default::default(), move |s| {
        bn_worker(s, synchronized, run_eagerly)
    });
    for (_, _, traced) in &out {
        assert_eq!(
            *traced, !run_eagerly,
            "traced step expected: {}",
            !run_eagerly
        );
    }
    let init: &[Tensor] = &out[0].0;
    assert!(max_diff(init, &out[1].0) > 1e-3, "workers started alike");
    // Weights: Dense kernel, gamma, beta, moving mean/variance, Dense kernel/bias.
    assert_eq!(out[0].1.len(), 7);
    let want = bn_reference(init, synchronized);
    assert!(max_diff(init, &want) > 1e-2, "training changed nothing");
    let to_ref = out.iter().map(|(_, w, _)| max_diff(w, &want)).collect();
    let between = out
        .iter()
        .map(|(_, w, _)| max_diff(w, &out[0].1))
        .fold(0.0, f32::max);
    (to_ref, between)
}

#[test]
fn synchronized_bn_matches_one_process_traced() {
    let (d, between) = run(2, true, false);
    eprintln!("sync BN, 2 traced workers vs combined batch: {d:?}, between {between:.2e}");
    assert!(d.iter().all(|&d| d < 1e-5), "{d:?}");
    assert_eq!(between, 0.0);
}

#[test]
fn synchronized_bn_matches_one_process_eager() {
    let (d, between) = run(2, true, true);
    eprintln!("sync BN, 2 eager workers vs combined batch: {d:?}, between {between:.2e}");
    assert!(d.iter().all(|&d| d < 1e-5), "{d:?}");
    assert_eq!(between, 0.0);
}

#[test]
fn synchronized_bn_with_unequal_rows_per_worker_matches_one_process() {
    // 32 rows over 3 workers: 10, 11 and 11 rows each step (unequal shares).
    let (d, between) = run(3, true, false);
    eprintln!("sync BN, 3 workers vs combined batch: {d:?}, between {between:.2e}");
    assert!(d.iter().all(|&d| d < 1e-5), "{d:?}");
    assert_eq!(between, 0.0);
}

#[test]
fn plain_bn_does_not_match_one_process() {
    // Per-worker statistics: the moving averages (and the gradients) differ.
    let (d, between) = run(2, false, false);
    eprintln!("plain BN, 2 workers vs combined batch: {d:?}, between {between:.2e}");
    assert!(d.iter().all(|&d| d > 1e-3), "{d:?}");
    assert!(
        between > 1e-4,
        "plain BN workers keep their own moving statistics"
    );
}

#[test]
fn synchronized_round_trips_through_config_and_keras_files() {
    use tf_keras::layers::{BatchNormalization, Layer};
    use tf_keras::saving::layer_from_config;
    let bn = BatchNormalization::new().synchronized(true);
    let cfg = bn.get_config();
    assert_eq!(cfg["synchronized"], serde_json::json!(true));
    let back = layer_from_config("BatchNormalization", &cfg).unwrap();
    assert_eq!(back.get_config()["synchronized"], serde_json::json!(true));
    let plain = BatchNormalization::new().get_config();
    assert_eq!(plain["synchronized"], serde_json::json!(false));
    // TF 2's `tf.keras.layers.experimental.SyncBatchNormalization` (no such key).
    let mut old = plain.clone();
    old.remove("synchronized");
    let sync = layer_from_config("SyncBatchNormalization", &old).unwrap();
    assert_eq!(sync.get_config()["synchronized"], serde_json::json!(true));
    // A whole model in a .keras file, reloaded.
    let dir = std::env::temp_dir().join(format!("sync_bn_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.keras");
    bn_model(3, true).save(&path).unwrap();
    let loaded = tf_keras::load_model(&path).unwrap();
    let cfg = tf_keras::saving::model_to_config(&loaded).unwrap();
    let text = serde_json::to_string(&cfg).unwrap();
    assert!(text.contains("\"synchronized\":true"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_step_traced_for_one_replica_is_retraced_for_two() {
    // Fit under a 1-replica strategy (no collectives traced), then under 2 workers:
    // the cached step must not be reused (it would normalize per worker). The first fit
    // uses batches of 16, the rows each worker gets later, so the signatures agree.
    let out = spawn_workers(2, Default::default(), |s| {
        let mut m = bn_model(5, true);
        let (x, y) = digits();
        let one: Rc<dyn Strategy> = Rc::new(tf_distribute::MirroredStrategy::new().unwrap());
        m.fit(&x, &y, options().epochs(1).batch_size(16).strategy(one))
            .unwrap();
        m.fit(&x, &y, options().epochs(1).strategy(s)).unwrap();
        assert!(m.is_traced());
        m.get_weights().unwrap()
    });
    let mut m = bn_model(5, true);
    let (x, y) = digits();
    m.fit(&x, &y, options().epochs(1).batch_size(16)).unwrap();
    m.fit(&x, &y, options().epochs(1)).unwrap();
    let want = m.get_weights().unwrap();
    for w in &out {
        let d = max_diff(w, &want);
        assert!(d < 1e-5, "max |diff| {d}");
    }
}

/// Sequences with trailing padding (zeros) for a masked model; labels 0..3.
fn padded_sequences() -> (Tensor, Tensor) {
    use tf_core::ops;
    ops::set_random_seed(42);
    let x = ops::random_uniform(&[N, 5, 6], 0.5, 1.5, tf_core::DType::F32, Some(21)).unwrap();
    let mut v = x.to_vec::<f32>().unwrap();
    for i in 0..N {
        for t in (2 + i % 4)..5 {
            v[(i * 5 + t) * 6..(i * 5 + t + 1) * 6].fill(0.0);
        }
    }
    let y = ops::random_uniform_int(&[N], 0, 3, tf_core::DType::I64, Some(22)).unwrap();
    (Tensor::from_vec(v, [N, 5, 6]).unwrap(), y)
}

/// Masking -> BatchNormalization(synchronized) -> SimpleRNN -> Dense.
fn masked_model(seed: u64) -> tf_keras::Model {
    use tf_keras::layers::{BatchNormalization, Dense, Input, Masking, SimpleRNN};
    tf_core::ops::set_random_seed(seed);
    let mut m = tf_keras::Sequential::new();
    m.add(Input::new(&[5, 6])).unwrap();
    m.add(Masking::new(0.0)).unwrap();
    m.add(BatchNormalization::new().momentum(0.5).synchronized(true))
        .unwrap();
    m.add(SimpleRNN::new(4)).unwrap();
    m.add(Dense::new(3)).unwrap();
    m.compile(
        tf_keras::optimizers::Adam::new(1e-3).unwrap(),
        tf_keras::losses::SparseCategoricalCrossentropy::new(true),
        &[],
    )
    .unwrap();
    m
}

#[test]
fn synchronized_bn_skips_masked_steps_like_one_process() {
    // The masked moments (padding excluded) are summed over the workers too.
    let out = spawn_workers(2, Default::default(), |s| {
        let mut m = masked_model(100 + s.worker_index() as u64);
        let init = m.get_weights().unwrap();
        let (x, y) = padded_sequences();
        m.fit(&x, &y, options().strategy(s)).unwrap();
        (init, m.get_weights().unwrap())
    });
    assert_eq!(max_diff(&out[0].1, &out[1].1), 0.0, "workers diverged");
    let mut m = masked_model(7);
    m.set_weights(&out[0].0).unwrap();
    let (x, y) = padded_sequences();
    m.fit(&x, &y, options()).unwrap();
    let want = m.get_weights().unwrap();
    assert!(
        max_diff(&out[0].0, &want) > 1e-3,
        "training changed nothing"
    );
    let d = max_diff(&out[0].1, &want);
    eprintln!("masked sync BN, 2 workers vs combined batch: {d:.2e}");
    assert!(d < 1e-5, "max |diff| {d}");
}
