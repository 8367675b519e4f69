//! Data-parallel training of the digits MLP (784-256-128-10, Adam) at batch 128 per
//! worker under `mpirun -np 2` (`cargo xtask bench distributed`): samples per second
//! per worker and the share of step time spent in communication (all collectives:
//! gradient all-reduce, the per-step agreement and log reduction, waiting for the
//! slower peer included; and the gradient all-reduce alone), next to the same model
//! trained by each process alone at batch 128 (both processes at once, so the CPU
//! contention is the same), and the data-parallel step run eagerly (op by op, the
//! path before the traced distributed step). 2 processes on 2 cores cannot beat 1 on compute: the point is the overhead.
//! The traced step reduces its gradients inside its graph; with per-layer buckets each
//! layer's all-reduce starts as soon as the backward pass produced it (overlap), which
//! is compared with one bucket (the default for this 0.9 MB model: the reduction
//! starts after the whole backward pass): samples/s and the share of step time the
//! gradient all-reduce is not hidden.
//! Started without mpirun it says so and measures nothing. Indicative figures: 2 cores
//! shared with other jobs.

use std::rc::Rc;
use std::time::Instant;
use tf_bench::Figure;
use tf_core::{DType, ops};
use tf_distribute::{CollectiveOptions, MultiWorkerMirroredStrategy, Strategy};
use tf_keras::losses::SparseCategoricalCrossentropy;
use tf_keras::optimizers::Adam;
use tf_keras::{FitOptions, Model, Verbose};

mod common;

const PER_WORKER: usize = 128;
const STEPS: usize = 40;

fn mlp() -> tf_core::Result<Model> {
    ops::set_random_seed(1);
    let mut m = common::mlp()?;
    m.compile(
        Adam::new(1e-3)?,
        SparseCategoricalCrossentropy::new(true),
        &["accuracy"],
    )?;
    Ok(m)
}

fn main() -> anyhow::Result<()> {
    let mut strategy = Rc::new(MultiWorkerMirroredStrategy::new()?);
    let workers = strategy.num_replicas_in_sync();
    if workers < 2 {
        println!(
            "distributed: 1 worker: skipped (run under mpirun -np 2: cargo xtask bench distributed)"
        );
        return Ok(());
    }
    let chief = strategy.is_chief();
    let n = PER_WORKER * workers * STEPS;
    let x = ops::random_uniform(&[n, 784], 0.0, 1.0, DType::F32, Some(1))?;
    let y = ops::random_uniform_int(&[n], 0, 10, DType::I64, Some(2))?;
    let opts = || {
        FitOptions::new()
            .batch_size(PER_WORKER * workers)
            .verbose(Verbose::Silent)
            .epochs(1)
    };
    // Best of 3 epochs (after a warm-up one): samples/s per worker, the share of
    // time in all collectives and in the gradient all-reduce.
    let run = |strategy: &Rc<MultiWorkerMirroredStrategy>,
               eager: bool|
     -> anyhow::Result<(f64, f64, f64)> {
        let s: Rc<dyn Strategy> = strategy.clone();
        let mut m = mlp()?;
        m.set_run_eagerly(eager)?;
        m.fit(&x, &y, opts().strategy(s.clone()))?; // warm-up
        let (mut best, mut share, mut grad_share) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..3 {
            strategy.group().reset_stats();
            let t = Instant::now();
            m.fit(&x, &y, opts().strategy(s.clone()))?;
            let el = t.elapsed().as_secs_f64();
            let rate = (n / workers) as f64 / el;
            if rate > best {
                best = rate;
                let st = strategy.group().stats();
                share = st.time.as_secs_f64() / el;
                grad_share = st.gradient_time.as_secs_f64() / el;
            }
        }
        Ok((best, share, grad_share))
    };
    let (best, share, grad_share) = run(&strategy, false)?;
    let (eager_dist, eager_share, _) = run(&strategy, true)?;
    // Per-layer buckets: (bias, kernel) of each Dense layer, last layer first.
    strategy = Rc::new(
        Rc::try_unwrap(strategy)
            .map_err(|_| anyhow::anyhow!("the strategy is still shared"))?
            .with_options(
                CollectiveOptions::default()
                    .first_bucket_bytes(4096)
                    .bucket_bytes(65536),
            ),
    );
    let (layered, _, layered_grad_share) = run(&strategy, false)?;
    // Each process alone on its half at batch 128 (traced step, the default), both at once.
    let xs = x.slice(&[0, 0], &[(n / workers) as i64, -1])?;
    let ys = y.slice(&[0], &[(n / workers) as i64])?;
    let mut alone = mlp()?;
    let single = |bs| {
        FitOptions::new()
            .batch_size(bs)
            .verbose(Verbose::Silent)
            .epochs(1)
    };
    strategy.group().barrier()?;
    alone.fit(&xs, &ys, single(PER_WORKER))?;
    let mut alone_best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        alone.fit(&xs, &ys, single(PER_WORKER))?;
        alone_best = alone_best.max((n / workers) as f64 / t.elapsed().as_secs_f64());
    }
    let mut eager = mlp()?;
    eager.set_run_eagerly(true)?;
    eager.fit(&xs, &ys, single(PER_WORKER))?;
    let t = Instant::now();
    eager.fit(&xs, &ys, single(PER_WORKER))?;
    let eager_rate = (n / workers) as f64 / t.elapsed().as_secs_f64();
    strategy.group().barrier()?;
    if chief {
        Figure::new(
            format!("MLP data-parallel b{PER_WORKER}/worker, {workers} workers: per worker"),
            best,
            "samples/s",
        )
        .compare("one process alone, b128, traced step", alone_best)
        .report();
        Figure::new(
            format!("MLP data-parallel b{PER_WORKER}/worker vs eager single step"),
            best,
            "samples/s",
        )
        .compare("one process alone, b128, eager step", eager_rate)
        .report();
        Figure::new(
            format!("MLP data-parallel b{PER_WORKER}/worker: traced vs eager distributed step"),
            best,
            "samples/s",
        )
        .compare("data-parallel, eager step", eager_dist)
        .report();
        Figure::new(
            format!("MLP data-parallel b{PER_WORKER}/worker: communication share of step time"),
            100.0 * share,
            "%",
        )
        .compare("eager distributed step", 100.0 * eager_share)
        .lower_is_better()
        .report();
        Figure::new(
            format!(
                "MLP data-parallel b{PER_WORKER}/worker: gradient all-reduce share of step time"
            ),
            100.0 * grad_share,
            "%",
        )
        .lower_is_better()
        .report();
        Figure::new(
            format!("MLP data-parallel b{PER_WORKER}/worker: per-layer buckets (overlapped)"),
            layered,
            "samples/s",
        )
        .compare("one bucket after the backward pass", best)
        .report();
        Figure::new(
            format!(
                "MLP data-parallel b{PER_WORKER}/worker: per-layer buckets, gradient all-reduce share"
            ),
            100.0 * layered_grad_share,
            "%",
        )
        .compare("one bucket", 100.0 * grad_share)
        .lower_is_better()
        .report();
    }
    Ok(())
}
