//! `MirroredStrategy` with several replicas in one process, on the CPU (this machine has
//! no GPU): `MirroredStrategy::with_replicas(&[Device::Cpu; n])` runs `n` replicas on
//! the CPU through the path replicas on `n` distinct devices take (each replica under
//! its device scope). Checked: 2 and 3 replicas training the digits MLP end with the
//! weights of one process on the combined batches, with unequal replica shares, on the
//! traced and the eager step; logs are the global ones; two workers with two local
//! replicas each; `fit_dataset`; batch normalization's moving statistics end a step
//! with the mean of the replicas' updates (TensorFlow's replica-local variables);
//! synchronized batch normalization is refused with a clear error; bad device lists
//! are errors. The same
//! on two (fake) GPUs, checking each replica's ops ran on its device, is
//! `mirrored_devices.rs`.

#![allow(clippy::unwrap_used)]

mod dist_common;

use dist_common::*;
use std::rc::Rc;
use tf_core::{Device, Tensor};
use tf_distribute::{LocalGroup, MirroredStrategy, MultiWorkerMirroredStrategy, Strategy};
use tf_keras::History;

/// Trains the MLP (weights from seed 100) under `strategy` with global batch `batch`;
/// returns initial and final weights, the history, and whether the step stayed traced.
fn train(
    strategy: Rc<dyn Strategy>,
    batch: usize,
    run_eagerly: bool,
) -> (Vec<Tensor>, Vec<Tensor>, History, bool) {
    let mut m = mlp(100);
    m.set_run_eagerly(run_eagerly).unwrap();
    let initial = m.get_weights().unwrap();
    let (x, y) = digits();
    let h = m
        .fit(&x, &y, options().batch_size(batch).strategy(strategy))
        .unwrap();
    let traced = m.is_traced();
    (initial, m.get_weights().unwrap(), h, traced)
}

/// One process (no strategy) on the same global batches from `initial`.
fn reference_with_batch(initial: &[Tensor], batch: usize) -> (Vec<Tensor>, History) {
    let mut m = mlp(7);
    m.set_weights(initial).unwrap();
    let (x, y) = digits();
    let h = m.fit(&x, &y, options().batch_size(batch)).unwrap();
    (m.get_weights().unwrap(), h)
}

/// `n` replicas on the CPU with global batch `batch` match one process.
fn check_replicas(n: usize, batch: usize, run_eagerly: bool) {
    let s: Rc<dyn Strategy> =
        Rc::new(MirroredStrategy::with_replicas(&vec![Device::Cpu; n]).unwrap());
    assert_eq!(s.num_replicas_in_sync(), n);
    let (init, fin, h, traced) = train(s, batch, run_eagerly);
    assert_eq!(
        traced, !run_eagerly,
        "the step fell back to eager execution"
    );
    let (want, href) = reference_with_batch(&init, batch);
    let d = max_diff(&fin, &want);
    eprintln!("{n} replicas, batch {batch}, eager {run_eagerly}: max |diff| {d:.2e}");
    assert!(d < 1e-5, "{n} replicas vs one process: max |diff| {d}");
    assert!(max_diff(&init, &want) > 1e-3, "training changed nothing");
    // The logs are those of the global batch.
    for key in ["loss", "accuracy"] {
        let (got, want) = (h.get(key).unwrap(), href.get(key).unwrap());
        assert_eq!(got.len(), EPOCHS);
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{key} {a} vs {b}");
        }
    }
}

/// The MLP with plain SGD (Adam hides a gradient off by a constant factor).
fn mlp_sgd(seed: u64) -> tf_keras::Model {
    use tf_keras::layers::{Dense, Input};
    tf_core::ops::set_random_seed(seed);
    let mut m = tf_keras::Sequential::new();
    m.add(Input::new(&[784])).unwrap();
    m.add(Dense::new(32).activation(tf_keras::Activation::Relu))
        .unwrap();
    m.add(Dense::new(10)).unwrap();
    m.compile(
        tf_keras::optimizers::SGD::new(0.5).unwrap(),
        tf_keras::losses::SparseCategoricalCrossentropy::new(true),
        &["accuracy"],
    )
    .unwrap();
    m
}

#[test]
fn gradients_have_the_global_scale_under_sgd() {
    for (replicas, run_eagerly) in [(2usize, false), (3, false), (2, true)] {
        let s: Rc<dyn Strategy> =
            Rc::new(MirroredStrategy::with_replicas(&vec![Device::Cpu; replicas]).unwrap());
        let (x, y) = digits();
        let mut m = mlp_sgd(100);
        m.set_run_eagerly(run_eagerly).unwrap();
        let init = m.get_weights().unwrap();
        m.fit(&x, &y, options().batch_size(25).strategy(s)).unwrap();
        let mut r = mlp_sgd(7);
        r.set_weights(&init).unwrap();
        r.fit(&x, &y, options().batch_size(25)).unwrap();
        let want = r.get_weights().unwrap();
        let d = max_diff(&m.get_weights().unwrap(), &want);
        eprintln!("SGD, {replicas} replicas, eager {run_eagerly}: max |diff| {d:.2e}");
        assert!(d < 1e-5, "SGD, {replicas} replicas: max |diff| {d}");
        assert!(max_diff(&init, &want) > 1e-2, "training changed little");
    }
}

#[test]
fn two_replicas_match_one_process_with_unequal_shares() {
    // 128 rows in global batches of 25: replicas get 12/13 rows, the last batch (3
    // rows) 1/2.
    check_replicas(2, 25, false);
}

#[test]
fn three_replicas_match_one_process() {
    // 32 rows: 10/11/11.
    check_replicas(3, 32, false);
}

#[test]
fn two_eager_replicas_match_one_process_with_unequal_shares() {
    check_replicas(2, 25, true);
}

#[test]
fn three_eager_replicas_match_one_process() {
    check_replicas(3, 32, true);
}

#[test]
fn a_batch_smaller_than_the_replica_count_trains_on_the_replicas_with_rows() {
    // 128 rows in batches of 42: the last batch has 2 rows for 3 replicas (one sits
    // the step out) and still matches one process.
    check_replicas(3, 42, false);
}

/// Two workers (threads) with two local replicas each match one process.
fn check_two_workers_two_replicas(run_eagerly: bool) {
    // 128 rows in global batches of 27: workers get 13/14 rows, their replicas 6/7 and
    // 7/7; the last batch (20 rows) 10/10 and 5/5.
    let batch = 27;
    let hs: Vec<_> = LocalGroup::new(2)
        .unwrap()
        .into_iter()
        .map(|c| {
            std::thread::spawn(move || {
                let s = MultiWorkerMirroredStrategy::with_communicator(Box::new(c))
                    .with_local_devices(&[Device::Cpu, Device::Cpu]);
                assert_eq!((s.num_workers(), s.num_replicas_in_sync()), (2, 4));
                let rank = s.worker_index();
                let mut m = mlp(100 + rank as u64);
                m.set_run_eagerly(run_eagerly).unwrap();
                let initial = m.get_weights().unwrap();
                let (x, y) = digits();
                let h = m
                    .fit(&x, &y, options().batch_size(batch).strategy(Rc::new(s)))
                    .unwrap();
                assert_eq!(m.is_traced(), !run_eagerly);
                (initial, m.get_weights().unwrap(), h)
            })
        })
        .collect();
    let out: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let (init0, fin0, h0) = &out[0];
    let (_, fin1, h1) = &out[1];
    assert_eq!(max_diff(fin0, fin1), 0.0, "workers diverged");
    let (want, href) = reference_with_batch(init0, batch);
    let d = max_diff(fin0, &want);
    eprintln!("2 workers x 2 replicas, batch {batch}, eager {run_eagerly}: max |diff| {d:.2e}");
    assert!(d < 1e-5, "max |diff| {d}");
    // Logs averaged over the workers: equal on both, close to the global ones (the
    // per-worker means are not weighted by rows, as with one replica per worker).
    assert_worker_losses(h0, h1, &href, 1e-3);
}

#[test]
fn two_workers_with_two_local_replicas_each_match_one_process() {
    check_two_workers_two_replicas(false);
}

#[test]
fn two_eager_workers_with_two_local_replicas_each_match_one_process() {
    check_two_workers_two_replicas(true);
}

#[test]
fn fit_dataset_splits_each_batch_between_the_replicas() {
    let ds = || {
        let (x, y) = digits();
        tf_data::Dataset::from_tensor_slices(tf_data::Element::Tuple(vec![x.into(), y.into()]))
            .unwrap()
            .batch(25, false)
            .unwrap()
    };
    let s: Rc<dyn Strategy> =
        Rc::new(MirroredStrategy::with_replicas(&[Device::Cpu, Device::Cpu]).unwrap());
    let mut m = mlp(100);
    let init = m.get_weights().unwrap();
    m.fit_dataset(&ds(), options().strategy(s)).unwrap();
    let mut r = mlp(7);
    r.set_weights(&init).unwrap();
    r.fit_dataset(&ds(), options()).unwrap();
    let d = max_diff(&m.get_weights().unwrap(), &r.get_weights().unwrap());
    assert!(
        d < 1e-5,
        "fit_dataset, 2 replicas vs one process: max |diff| {d}"
    );
    assert!(max_diff(&init, &r.get_weights().unwrap()) > 1e-3);
}

#[test]
fn synchronized_batch_norm_is_refused_with_several_local_replicas() {
    for run_eagerly in [false, true] {
        let s: Rc<dyn Strategy> =
            Rc::new(MirroredStrategy::with_replicas(&[Device::Cpu, Device::Cpu]).unwrap());
        let mut m = bn_model(100, true);
        m.set_run_eagerly(run_eagerly).unwrap();
        let (x, y) = digits();
        let e = m
            .fit(&x, &y, options().strategy(s))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 local replicas") && e.contains("synchronized BatchNormalization"),
            "{e}"
        );
    }
    // Plain batch normalization trains (statistics per replica, as in TensorFlow).
    let s: Rc<dyn Strategy> =
        Rc::new(MirroredStrategy::with_replicas(&[Device::Cpu, Device::Cpu]).unwrap());
    let mut m = bn_model(100, false);
    let (x, y) = digits();
    let h = m.fit(&x, &y, options().strategy(s)).unwrap();
    assert!(h.get("loss").unwrap().iter().all(|l| l.is_finite()));
}

/// Batch normalization's moving statistics after one step of `replicas` replicas on
/// 128 rows: TensorFlow's replica-local variables end the step with the mean over the
/// replicas of each replica's update, `momentum * old + (1 - momentum) * stat_r`.
#[test]
fn moving_statistics_are_the_mean_of_the_replicas_updates() {
    use tf_core::ops;
    for (replicas, run_eagerly) in [(2usize, false), (3, false), (2, true)] {
        let s: Rc<dyn Strategy> =
            Rc::new(MirroredStrategy::with_replicas(&vec![Device::Cpu; replicas]).unwrap());
        let mut m = bn_model(100, false);
        m.set_run_eagerly(run_eagerly).unwrap();
        let init = m.get_weights().unwrap();
        let (x, y) = digits();
        m.fit(
            &x,
            &y,
            options().epochs(1).batch_size(N).shuffle(false).strategy(s),
        )
        .unwrap();
        let w = m.get_weights().unwrap();
        // Weights: dense kernel, gamma, beta, moving mean, moving variance, dense.
        let (moving_mean, moving_var) =
            (w[3].to_vec::<f32>().unwrap(), w[4].to_vec::<f32>().unwrap());
        // Independent reference: each replica's rows through the initial kernel.
        let h = ops::matmul(&x, &init[0]).unwrap();
        let mut want_mean = [0.0f64; 16];
        let mut want_var = [0.0f64; 16];
        for r in 0..replicas {
            let (lo, hi) = (N * r / replicas, N * (r + 1) / replicas);
            let rows = h.to_vec::<f32>().unwrap()[lo * 16..hi * 16].to_vec();
            for c in 0..16 {
                let col: Vec<f64> = rows
                    .iter()
                    .skip(c)
                    .step_by(16)
                    .map(|&v| f64::from(v))
                    .collect();
                let mean = col.iter().sum::<f64>() / col.len() as f64;
                let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
                // momentum 0.5 from moving mean 0 and moving variance 1.
                want_mean[c] += 0.5 * mean / replicas as f64;
                want_var[c] += (0.5 + 0.5 * var) / replicas as f64;
            }
        }
        for c in 0..16 {
            let (gm, gv) = (f64::from(moving_mean[c]), f64::from(moving_var[c]));
            assert!(
                (gm - want_mean[c]).abs() < 1e-5 * want_mean[c].abs().max(1.0),
                "{replicas} replicas, mean[{c}]: {gm} vs {}",
                want_mean[c]
            );
            assert!(
                (gv - want_var[c]).abs() < 1e-5 * want_var[c].abs().max(1.0),
                "{replicas} replicas, var[{c}]: {gv} vs {}",
                want_var[c]
            );
        }
    }
}

#[test]
fn device_lists_follow_tensorflow() {
    // TensorFlow: "No duplicates allowed in `devices` argument".
    let e = MirroredStrategy::with_devices(&[Device::Cpu, Device::Cpu])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no duplicates allowed"), "{e}");
    let s = MirroredStrategy::with_devices(&[Device::Cuda(0), Device::Cpu]).unwrap();
    assert_eq!(s.num_replicas_in_sync(), 2);
    assert_eq!(s.devices(), [Device::Cuda(0), Device::Cpu]);
    assert_eq!(
        MirroredStrategy::with_devices(&[]).unwrap().devices(),
        [Device::Cpu]
    );
}
