//! Data-parallel `fit` across 2 processes over MPI (feature `mpi`): both workers end
//! with the weights of one process trained on the combined batches (to 1e-5), for the
//! digits MLP and for a model with synchronized batch normalization (weights and
//! moving statistics; traced and eager steps), while plain batch normalization does
//! not match (its statistics are per worker); and with two local replicas per worker
//! (`with_local_devices`), traced and eager. Gradients go one bucket per weight, so
//! several non-blocking all-reduces overlap the backward pass. Run by
//! `cargo xtask ci` under `mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl
//! tcp,self --mca btl_tcp_if_include lo`; without `mpirun` it says it skipped. A plain
//! `main` (harness = false): MPI is initialised once, on the main thread.

#![allow(clippy::unwrap_used)]

mod dist_common;

use dist_common::*;
use std::rc::Rc;
use tf_core::Tensor;
use tf_distribute::{CollectiveOptions, MultiWorkerMirroredStrategy, Strategy};

fn main() -> anyhow::Result<()> {
    let launched = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|k| std::env::var(k).ok());
    if launched.is_none() {
        println!("mpi_fit: skipped (not started under mpirun)");
        return Ok(());
    }
    // One gradient bucket per weight: each bucket's non-blocking all-reduce starts
    // while the backward pass goes on (several in flight, advanced between graph nodes).
    let strategy = Rc::new(
        MultiWorkerMirroredStrategy::new()?.with_options(
            CollectiveOptions::default()
                .first_bucket_bytes(1)
                .bucket_bytes(1),
        ),
    );
    anyhow::ensure!(
        strategy.num_replicas_in_sync() == 2,
        "expected a world of 2 ranks (mpirun -np 2), got {}",
        strategy.num_replicas_in_sync()
    );
    let rank = strategy.worker_index();
    let s: Rc<dyn Strategy> = strategy.clone();
    let (initial, fin, hist) = worker(s);
    // Every rank checks against the reference from rank 0's initial weights.
    let init0 = from_rank0(strategy.as_ref(), &initial)?;
    if rank == 1 {
        anyhow::ensure!(max_diff(&initial, &init0) > 1e-3, "ranks started equal");
    }
    let (want, href) = reference(&init0);
    let d = max_diff(&fin, &want);
    anyhow::ensure!(
        d < 1e-5,
        "rank {rank}: distributed vs combined batch: max |diff| {d}"
    );
    anyhow::ensure!(max_diff(&init0, &want) > 1e-3, "training changed nothing");
    let (l, lr) = (hist.get("loss").unwrap(), href.get("loss").unwrap());
    for (a, b) in l.iter().zip(lr) {
        anyhow::ensure!((a - b).abs() < 1e-4 * b.abs().max(1.0), "loss {a} vs {b}");
    }
    println!("mpi_fit: rank {rank} of 2: weights match one process to {d:.2e}");
    // Batch normalization: synchronized (traced, then eager) matches one process on
    // the combined batches; plain does not.
    for (synchronized, eager) in [(true, false), (true, true), (false, false)] {
        let s: Rc<dyn Strategy> = strategy.clone();
        let (initial, fin, traced) = bn_worker(s, synchronized, eager);
        anyhow::ensure!(
            traced != eager,
            "rank {rank}: traced step expected: {}",
            !eager
        );
        let init0 = from_rank0(strategy.as_ref(), &initial)?;
        let want = bn_reference(&init0, synchronized);
        let d = max_diff(&fin, &want);
        let what = if synchronized {
            "synchronized"
        } else {
            "plain"
        };
        if synchronized {
            anyhow::ensure!(
                d < 1e-5,
                "rank {rank}: {what} BN (eager {eager}): max |diff| {d}"
            );
        } else {
            anyhow::ensure!(d > 1e-3, "rank {rank}: {what} BN matched: max |diff| {d}");
        }
        println!(
            "mpi_fit: rank {rank} of 2: {what} BN (eager {eager}) vs one process on the \
             combined batches: max |diff| {d:.2e} (weights and moving statistics)"
        );
    }
    // Two local replicas per worker (4 replicas in sync): traced (each local replica's
    // in-graph all-reduce meets the other rank's same replica) and eager (local sum,
    // then one host all-reduce). MPI is initialised once: the same strategy, unshared.
    let strategy = Rc::try_unwrap(strategy)
        .map_err(|_| anyhow::anyhow!("the strategy is still shared"))?
        .with_local_devices(&[tf_core::Device::Cpu, tf_core::Device::Cpu]);
    let strategy = Rc::new(strategy);
    anyhow::ensure!(strategy.num_replicas_in_sync() == 4, "expected 4 replicas");
    for eager in [false, true] {
        let (initial, fin, _, traced) = worker_mode(strategy.clone(), eager);
        anyhow::ensure!(
            traced != eager,
            "rank {rank}: traced step expected: {}",
            !eager
        );
        let init0 = from_rank0(strategy.as_ref(), &initial)?;
        let (want, _) = reference(&init0);
        let d = max_diff(&fin, &want);
        anyhow::ensure!(
            d < 1e-5,
            "rank {rank}: 2 local replicas (eager {eager}): max |diff| {d}"
        );
        println!(
            "mpi_fit: rank {rank} of 2, 2 local replicas each (eager {eager}): weights \
             match one process to {d:.2e}"
        );
    }
    Ok(())
}

/// Rank 0's tensors (shapes and dtypes as `local`), on every rank.
fn from_rank0(strategy: &dyn Strategy, local: &[Tensor]) -> anyhow::Result<Vec<Tensor>> {
    let comm = strategy.group().communicator();
    let mut bytes = Vec::new();
    if strategy.worker_index() == 0 {
        for t in local {
            bytes.extend(t.to_le_bytes()?);
        }
    }
    comm.broadcast_bytes(&mut bytes, 0, tf_distribute::DEFAULT_TIMEOUT)?;
    let mut at = 0;
    let mut out = Vec::new();
    for t in local {
        let n = t.num_elements() * t.dtype().size_of();
        let chunk = bytes
            .get(at..at + n)
            .ok_or_else(|| anyhow::anyhow!("rank 0 sent {} bytes", bytes.len()))?;
        out.push(Tensor::from_le_bytes(
            "test",
            t.dtype(),
            t.shape().clone(),
            chunk,
        )?);
        at += n;
    }
    Ok(out)
}
