//! Data-parallel `fit` with a strategy, workers as threads of this process
//! ([`LocalGroup`]): two workers on the digits MLP end with the weights of one process
//! trained on the combined batches; a stalled worker gives a timeout error; workers
//! with different numbers of batches stop together. The same check across processes
//! over MPI is `mpi_fit.rs`.

#![allow(clippy::unwrap_used)]

mod dist_common;

use dist_common::*;
use std::rc::Rc;
use std::time::Duration;
use tf_core::Tensor;
use tf_distribute::{CollectiveOptions, MirroredStrategy, Strategy};
use tf_keras::FitOptions;

/// Checks two workers' results against one process on the combined batches.
fn check_two_workers(out: &[(Vec<Tensor>, Vec<Tensor>, tf_keras::History)]) {
    let (init0, final0, h0) = &out[0];
    let (init1, final1, h1) = &out[1];
    // The workers started apart; the broadcast made them one.
    assert!(max_diff(init0, init1) > 1e-3);
    assert_eq!(max_diff(final0, final1), 0.0, "workers diverged");
    let (want, href) = reference(init0);
    let d = max_diff(final0, &want);
    assert!(d < 1e-5, "distributed vs combined batch: max |diff| {d}");
    eprintln!("distributed vs combined batch: max |diff| {d:.2e}");
    assert!(max_diff(init0, &want) > 1e-3, "training changed nothing");
    // Logs are averaged over workers: the same on both, and the global mean.
    assert_worker_losses(h0, h1, &href, 1e-4);
}

#[test]
fn two_workers_match_one_process_on_the_combined_batch() {
    // The traced step (the default): `worker` checks it did not fall back to eager.
    let out = spawn_workers(2, CollectiveOptions::default(), worker);
    check_two_workers(&out);
}

#[test]
fn overlapped_gradient_buckets_match_one_process() {
    // One bucket per weight (the all-reduce of each starts as soon as the backward pass
    // produced it, in the traced step's graph), then a 100 KB first bucket followed by
    // the rest: the same weights as one process.
    for options in [
        CollectiveOptions::default()
            .first_bucket_bytes(1)
            .bucket_bytes(1),
        CollectiveOptions::default()
            .first_bucket_bytes(100_000)
            .bucket_bytes(1 << 20),
    ] {
        let out = spawn_workers(2, options, worker);
        check_two_workers(&out);
    }
}

#[test]
fn two_eager_workers_match_one_process_on_the_combined_batch() {
    let out = spawn_workers(2, CollectiveOptions::default(), |s| {
        let (i, f, h, traced) = worker_mode(s, true);
        assert!(!traced);
        (i, f, h)
    });
    check_two_workers(&out);
}

#[test]
fn mirrored_strategy_on_one_device_is_plain_training() {
    let mut m = mlp(100);
    let init = m.get_weights().unwrap();
    let (x, y) = digits();
    let s: Rc<dyn Strategy> = Rc::new(MirroredStrategy::new().unwrap());
    m.fit(&x, &y, options().strategy(s)).unwrap();
    let (want, _) = reference(&init);
    let d = max_diff(&m.get_weights().unwrap(), &want);
    assert!(d < 1e-5, "max |diff| {d}");
}

#[test]
fn stalled_worker_makes_fit_fail_with_a_timeout() {
    let out = spawn_workers(
        2,
        CollectiveOptions::default().timeout(Duration::from_millis(300)),
        |s| {
            if s.worker_index() == 1 {
                std::thread::sleep(Duration::from_millis(1500));
                return Ok(());
            }
            let mut m = mlp(1);
            let (x, y) = digits();
            m.fit(&x, &y, options().strategy(s))
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    );
    let e = out[0].as_ref().unwrap_err();
    assert!(e.contains("deadline exceeded"), "{e}");
}

#[test]
fn workers_with_unequal_batches_stop_together() {
    // Worker 1's dataset has one batch less: both run the shorter count, no hang.
    let out = spawn_workers(2, CollectiveOptions::default(), |s| {
        let (x, y) = digits();
        let rows = if s.worker_index() == 0 {
            N
        } else {
            N - GLOBAL_BATCH
        };
        let (x, y) = (
            x.slice(&[0, 0], &[rows as i64, -1]).unwrap(),
            y.slice(&[0], &[rows as i64]).unwrap(),
        );
        let ds =
            tf_data::Dataset::from_tensor_slices(tf_data::Element::Tuple(vec![x.into(), y.into()]))
                .unwrap()
                .batch(GLOBAL_BATCH, false)
                .unwrap();
        let mut m = mlp(3);
        let h = m
            .fit_dataset(
                &ds,
                FitOptions::new()
                    .epochs(1)
                    .verbose(tf_keras::Verbose::Silent)
                    .strategy(s),
            )
            .unwrap();
        (h.get("loss").unwrap().to_vec(), m.get_weights().unwrap())
    });
    assert_eq!(out[0].0, out[1].0);
    assert_eq!(max_diff(&out[0].1, &out[1].1), 0.0);
}

/// Rows `[a, b)` of the digits data, for the reference order.
fn rows(x: &Tensor, a: usize, b: usize) -> Tensor {
    let mut dims = vec![(b - a) as i64];
    dims.extend(x.dims().iter().skip(1).map(|_| -1i64));
    let mut begin = vec![a as i64];
    begin.extend(x.dims().iter().skip(1).map(|_| 0i64));
    x.slice(&begin, &dims).unwrap()
}

/// `n` text files of digit-row indices (32 consecutive indices each) in a fresh temp dir.
fn index_files(tag: &str, n: usize) -> Vec<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tf_keras_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (0..n)
        .map(|f| {
            let p = dir.join(format!("part-{f}.txt"));
            let lines: Vec<String> = (f * 32..(f + 1) * 32).map(|i| i.to_string()).collect();
            std::fs::write(&p, lines.join("\n")).unwrap();
            p
        })
        .collect()
}

/// The digits rows named by the lines of `files`, as (image[784], label) batches of
/// `GLOBAL_BATCH` (a file-reading pipeline that FILE sharding can split).
fn indexed_digit_batches(files: &[std::path::PathBuf]) -> tf_data::Dataset {
    let (x, y) = digits();
    tf_data::formats::TextLineDataset::new(files.iter())
        .build()
        .map(move |line: tf_data::Element| {
            let i: i64 = std::str::from_utf8(line.strings()?.as_bytes()?)
                .map_err(|e| tf_core::Error::invalid("test", e.to_string()))?
                .trim()
                .parse()
                .map_err(|e: std::num::ParseIntError| {
                    tf_core::Error::invalid("test", e.to_string())
                })?;
            Ok(tf_data::Element::Tuple(vec![
                x.slice(&[i, 0], &[1, -1])?.reshape(&[784])?.into(),
                y.slice(&[i], &[1])?.reshape(&[])?.into(),
            ]))
        })
        .batch(GLOBAL_BATCH, false)
        .unwrap()
}

#[test]
fn file_sharded_dataset_matches_one_process() {
    // 4 text files of sample indices (32 each); every worker reads whole files
    // (AUTO -> FILE), batches 32 of its own samples and splits each batch into 2 steps
    // of 16, so a step's global batch has 32 rows, half from each worker.
    let files = index_files("file_shard", 4);
    let dir = files[0].parent().unwrap().to_path_buf();
    let files = std::sync::Arc::new(files);
    let out = spawn_workers(2, CollectiveOptions::default(), move |s| {
        let ds = indexed_digit_batches(&files);
        let mut m = mlp(100 + s.worker_index() as u64);
        let init = m.get_weights().unwrap();
        let h = m
            .fit_dataset(
                &ds,
                FitOptions::new()
                    .epochs(1)
                    .verbose(tf_keras::Verbose::Silent)
                    .strategy(s),
            )
            .unwrap();
        (
            init,
            m.get_weights().unwrap(),
            h.get("loss").unwrap().to_vec(),
        )
    });
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(max_diff(&out[0].1, &out[1].1), 0.0, "workers diverged");
    // Worker 0 reads files 0 and 2 (rows 0..32, 64..96), worker 1 files 1 and 3; step
    // k takes the k-th 16 rows of each.
    let (x, y) = digits();
    let order = [
        (0, 16),
        (32, 48),
        (16, 32),
        (48, 64),
        (64, 80),
        (96, 112),
        (80, 96),
        (112, 128),
    ];
    let xs: Vec<Tensor> = order.iter().map(|&(a, b)| rows(&x, a, b)).collect();
    let ys: Vec<Tensor> = order.iter().map(|&(a, b)| rows(&y, a, b)).collect();
    let (xr, yr) = (
        tf_core::ops::concat(&xs, 0).unwrap(),
        tf_core::ops::concat(&ys, 0).unwrap(),
    );
    let mut m = mlp(7);
    m.set_weights(&out[0].0).unwrap();
    m.fit(
        &xr,
        &yr,
        FitOptions::new()
            .epochs(1)
            .batch_size(GLOBAL_BATCH)
            .shuffle(false)
            .verbose(tf_keras::Verbose::Silent),
    )
    .unwrap();
    let d = max_diff(&out[0].1, &m.get_weights().unwrap());
    assert!(d < 1e-5, "FILE-sharded vs one process: max |diff| {d}");
    assert!(
        max_diff(&out[0].0, &out[0].1) > 1e-3,
        "training changed nothing"
    );
}

#[test]
fn file_policy_with_too_few_files_is_an_error() {
    let dir = std::env::temp_dir().join(format!("tf_keras_few_files_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("only.txt");
    std::fs::write(&file, "0\n1\n").unwrap();
    let out = spawn_workers(2, CollectiveOptions::default(), move |s| {
        let ds = tf_data::formats::TextLineDataset::new([file.clone()])
            .build()
            .batch(2, false)
            .unwrap();
        let mut m = mlp(1);
        m.fit_dataset(
            &ds,
            FitOptions::new()
                .verbose(tf_keras::Verbose::Silent)
                .auto_shard_policy(tf_distribute::AutoShardPolicy::File)
                .strategy(s),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    std::fs::remove_dir_all(&dir).unwrap();
    for r in out {
        let e = r.unwrap_err();
        assert!(e.contains("1 file(s) for 2 workers"), "{e}");
    }
}

#[test]
fn unseeded_dataset_shuffles_agree_across_workers() {
    // Under DATA each worker takes its rows of every global batch: the pipeline's
    // unseeded shuffle is reseeded from the seed shared by rank 0, so the workers'
    // rows are disjoint and the run matches one process on the same shuffle.
    let ds = || {
        let (x, y) = digits();
        tf_data::Dataset::from_tensor_slices(tf_data::Element::Tuple(vec![x.into(), y.into()]))
            .unwrap()
            .shuffle(N, None, true)
            .unwrap()
            .batch(GLOBAL_BATCH, false)
            .unwrap()
    };
    let opts = || {
        FitOptions::new()
            .epochs(EPOCHS)
            .verbose(tf_keras::Verbose::Silent)
            .seed(SEED)
    };
    let out = spawn_workers(2, CollectiveOptions::default(), move |s| {
        let mut m = mlp(100 + s.worker_index() as u64);
        let init = m.get_weights().unwrap();
        m.fit_dataset(&ds(), opts().strategy(s)).unwrap();
        (init, m.get_weights().unwrap())
    });
    assert_eq!(max_diff(&out[0].1, &out[1].1), 0.0, "workers diverged");
    let mut m = mlp(7);
    m.set_weights(&out[0].0).unwrap();
    // Rank 0's seed is SEED: the same reseeding on one process.
    m.fit_dataset(&ds().with_shuffle_seed(SEED), opts())
        .unwrap();
    let d = max_diff(&out[0].1, &m.get_weights().unwrap());
    assert!(d < 1e-5, "shuffled DATA vs one process: max |diff| {d}");
}

/// Counts the steps of each epoch.
struct StepCounter {
    steps: usize,
    per_epoch: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl tf_keras::Callback for StepCounter {
    fn on_train_batch_end(
        &mut self,
        _m: &mut tf_keras::Model,
        _batch: usize,
        _logs: &tf_keras::Logs,
    ) -> tf_core::Result<()> {
        self.steps += 1;
        Ok(())
    }
    fn on_epoch_end(
        &mut self,
        _m: &mut tf_keras::Model,
        _epoch: usize,
        _logs: &mut tf_keras::Logs,
    ) -> tf_core::Result<()> {
        self.per_epoch.lock().unwrap().push(self.steps);
        self.steps = 0;
        Ok(())
    }
}

#[test]
fn file_sharding_gives_every_worker_the_same_step_count() {
    // 3 files of 32 samples for 2 workers under FILE: worker 0 reads 2 files (64 rows:
    // 2 batches of 32, split into 4 steps of 16), worker 1 one file (2 steps). Without
    // steps_per_epoch the epoch ends for both when worker 1 runs out (its remainder
    // on worker 0 is dropped); with steps_per_epoch = 3 (counted after the split) both
    // run exactly 3 steps per epoch, worker 1 restarting its pipeline (Keras's
    // continuing iterator). No collective waits for a worker that stopped.
    let files = index_files("file_steps", 3);
    let dir = files[0].parent().unwrap().to_path_buf();
    let files = std::sync::Arc::new(files);
    let run = move |steps_per_epoch: Option<usize>| {
        let files = files.clone();
        spawn_workers(2, CollectiveOptions::default(), move |s| {
            let ds = indexed_digit_batches(&files);
            let per_epoch = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut m = mlp(100 + s.worker_index() as u64);
            let mut opts = FitOptions::new()
                .epochs(2)
                .verbose(tf_keras::Verbose::Silent)
                .callback(StepCounter {
                    steps: 0,
                    per_epoch: per_epoch.clone(),
                })
                .strategy(s);
            if let Some(n) = steps_per_epoch {
                opts = opts.steps_per_epoch(n);
            }
            m.fit_dataset(&ds, opts).unwrap();
            let counts = per_epoch.lock().unwrap().clone();
            (counts, m.get_weights().unwrap())
        })
    };
    let out = run(None);
    for (counts, _) in &out {
        assert_eq!(counts, &[2, 2]);
    }
    assert_eq!(max_diff(&out[0].1, &out[1].1), 0.0, "workers diverged");
    let out = run(Some(3));
    for (counts, _) in &out {
        assert_eq!(counts, &[3, 3]);
    }
    assert_eq!(max_diff(&out[0].1, &out[1].1), 0.0, "workers diverged");
    std::fs::remove_dir_all(&dir).unwrap();
}
