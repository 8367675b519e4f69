//! MPI collectives across 2 processes (feature `mpi`). Run by `cargo xtask ci` as
//! `mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl tcp,self
//! --mca btl_tcp_if_include lo <this test binary>`; without `mpirun` it says it
//! skipped. A plain `main` (harness = false): MPI is initialised once, on the main
//! thread.
//!
//! With `MPI_COLLECTIVES_CASE=fatal_stall` it instead checks the default
//! [`TimeoutMode::Fatal`] all-reduce against a stalled peer: rank 1 sleeps 60 s, rank
//! 0's 0.5 s all-reduce deadline aborts the job. `cargo xtask ci` runs that case too and
//! expects the job to fail within seconds with the `DeadlineExceeded` message.

use std::time::{Duration, Instant};
use tf_core::{Tensor, Variable};
use tf_distribute::mpi::{MpiCommunicator, TimeoutMode};
use tf_distribute::{
    CollectiveOptions, Communicator, MultiWorkerMirroredStrategy, ReduceOp, Strategy,
};

const T: Duration = Duration::from_secs(60);

/// The world size the launcher promised (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`).
fn launcher_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .and_then(|v| v.parse().ok())
}

fn main() -> anyhow::Result<()> {
    let Some(launched) = launcher_size() else {
        println!("mpi_collectives: skipped (not started under mpirun)");
        return Ok(());
    };
    let mut comm = MpiCommunicator::init()?;
    // A launcher from another MPI than the one linked gives N separate 1-rank worlds.
    anyhow::ensure!(
        comm.size() == 2 && launched == 2,
        "expected a world of 2 ranks (mpirun -np 2), got size {} (launcher says {launched})",
        comm.size()
    );
    let rank = comm.rank();
    let r = rank as f32;

    if std::env::var("MPI_COLLECTIVES_CASE").as_deref() == Ok("fatal_stall") {
        anyhow::ensure!(comm.timeout_mode() == TimeoutMode::Fatal, "default mode");
        let mut v = vec![1.0f32; 1000];
        comm.all_reduce_f32(&mut v, ReduceOp::Sum, T)?;
        anyhow::ensure!(v == vec![2.0; 1000], "sum before the stall");
        if rank == 1 {
            std::thread::sleep(Duration::from_secs(60));
        }
        let r = comm.all_reduce_f32(&mut v, ReduceOp::Sum, Duration::from_millis(500));
        // Not reached on rank 0: the watchdog aborts the job.
        anyhow::bail!("rank {rank}: the stalled all-reduce returned {r:?} instead of aborting");
    }

    // all_reduce: sum, mean, max, min; f32 and f64; empty and 1 MB buffers.
    let mut v = vec![r + 1.0, 10.0 * r];
    comm.all_reduce_f32(&mut v, ReduceOp::Sum, T)?;
    anyhow::ensure!(v == [3.0, 10.0], "sum: {v:?}");
    let mut v = vec![r as f64, 4.0];
    comm.all_reduce_f64(&mut v, ReduceOp::Mean, T)?;
    anyhow::ensure!(v == [0.5, 4.0], "mean: {v:?}");
    let mut v = vec![r, -r];
    comm.all_reduce_f32(&mut v, ReduceOp::Max, T)?;
    anyhow::ensure!(v == [1.0, 0.0], "max: {v:?}");
    let mut v = vec![r, -r];
    comm.all_reduce_f32(&mut v, ReduceOp::Min, T)?;
    anyhow::ensure!(v == [0.0, -1.0], "min: {v:?}");
    let mut v: Vec<f32> = Vec::new();
    comm.all_reduce_f32(&mut v, ReduceOp::Sum, T)?;
    anyhow::ensure!(v.is_empty());
    let n = 1 << 18;
    // Both timeout modes: blocking + watchdog (default) and non-blocking.
    for mode in [TimeoutMode::Fatal, TimeoutMode::Recoverable] {
        comm.set_timeout_mode(mode);
        let mut big: Vec<f32> = (0..n).map(|i| (i % 97) as f32 + r).collect();
        comm.all_reduce_f32(&mut big, ReduceOp::Sum, T)?;
        anyhow::ensure!(
            big.iter()
                .enumerate()
                .all(|(i, &x)| x == 2.0 * (i % 97) as f32 + 1.0),
            "1 MB sum ({mode:?})"
        );
        let mut v = vec![r, -r];
        comm.all_reduce_f32(&mut v, ReduceOp::Max, T)?;
        anyhow::ensure!(v == [1.0, 0.0], "max ({mode:?}): {v:?}");
    }
    comm.set_timeout_mode(TimeoutMode::Fatal);

    // Started (non-blocking) all-reduces: two in flight, a blocking one between them,
    // advanced by progress calls, waited in reverse order; a mean; a 1 MB one.
    let mut first = comm.start_all_reduce_f32(vec![r + 1.0; 3], ReduceOp::Sum, T)?;
    let second = comm.start_all_reduce_f32(vec![r, 2.0 * r], ReduceOp::Mean, T)?;
    let mut v = vec![r];
    comm.all_reduce_f32(&mut v, ReduceOp::Sum, T)?;
    anyhow::ensure!(v == [1.0], "blocking between started: {v:?}");
    let t0 = Instant::now();
    while !first.progress() {
        anyhow::ensure!(t0.elapsed() < T, "started all-reduce never progressed");
    }
    let b = second.wait()?;
    anyhow::ensure!(b == [0.5, 1.0], "started mean: {b:?}");
    let a = first.wait()?;
    anyhow::ensure!(a == [3.0; 3], "started sum: {a:?}");
    let big = comm.start_all_reduce_f32(
        (0..n).map(|i| (i % 89) as f32 * r).collect(),
        ReduceOp::Sum,
        T,
    )?;
    let big = big.wait()?;
    anyhow::ensure!(
        big.len() == n && big.iter().enumerate().all(|(i, &x)| x == (i % 89) as f32),
        "started 1 MB sum"
    );
    // Dropped without a wait: the communicator keeps the request (no panic, no hang).
    drop(comm.start_all_reduce_f32(vec![1.0; 4], ReduceOp::Sum, T)?);

    // broadcast from each root, all_gather of different lengths, barrier.
    for root in 0..2 {
        let mut b = if rank == root {
            vec![root as u8 + 1; 5 + root]
        } else {
            vec![9; 2]
        };
        comm.broadcast_bytes(&mut b, root, T)?;
        anyhow::ensure!(
            b == vec![root as u8 + 1; 5 + root],
            "broadcast {root}: {b:?}"
        );
    }
    let g = comm.all_gather_bytes(&vec![rank as u8; rank + 1], T)?;
    anyhow::ensure!(g == vec![vec![0u8], vec![1, 1]], "all_gather: {g:?}");
    comm.barrier(T)?;

    // Tensor level through the strategy: variables from rank 0, gradients averaged.
    let strategy = MultiWorkerMirroredStrategy::with_communicator(Box::new(comm))
        .with_options(CollectiveOptions::default().timeout(T).bucket_bytes(64));
    let w = Variable::new(Tensor::from_vec(vec![r + 5.0; 40], [8, 5])?)?;
    strategy
        .group()
        .broadcast_variables(std::slice::from_ref(&w), 0)?;
    anyhow::ensure!(
        w.value().to_vec::<f32>()? == vec![5.0; 40],
        "variable broadcast"
    );
    let grads = vec![
        Some(Tensor::from_vec(vec![r; 40], [8, 5])?),
        None,
        Some(Tensor::from_vec(vec![2.0 * r; 3], [3])?),
    ];
    let red = strategy.group().all_reduce_gradients(&grads, 0.5)?;
    anyhow::ensure!(red[1].is_none());
    let a = red[0].as_ref().map(|t| t.to_vec::<f32>()).transpose()?;
    let b = red[2].as_ref().map(|t| t.to_vec::<f32>()).transpose()?;
    anyhow::ensure!(
        a == Some(vec![0.5; 40]) && b == Some(vec![1.0; 3]),
        "gradients"
    );
    anyhow::ensure!(strategy.shared_seed(Some(11 + rank as u64))? == 11, "seed");

    // A stalled peer: rank 1 arrives 3 s late; rank 0's 0.5 s deadline fires with a
    // clear error (and its communicator refuses further collectives).
    if rank == 0 {
        let t0 = Instant::now();
        let e = strategy
            .group()
            .communicator()
            .barrier(Duration::from_millis(500))
            .err()
            .ok_or_else(|| anyhow::anyhow!("the stalled barrier did not time out"))?
            .to_string();
        anyhow::ensure!(
            e.contains("deadline exceeded") && e.contains("rank 0 of 2"),
            "timeout message: {e}"
        );
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(3),
            "took {:?}",
            t0.elapsed()
        );
        let again = strategy.group().communicator().barrier(T);
        anyhow::ensure!(
            again.is_err_and(|e| e.to_string().contains("unusable")),
            "a broken communicator must refuse collectives"
        );
        println!("mpi_collectives: rank 0 timeout message: {e}");
    } else {
        std::thread::sleep(Duration::from_secs(3));
        // Joins late: completes once rank 0's pending request meets it.
        strategy.group().communicator().barrier(T)?;
    }
    println!("mpi_collectives: rank {rank} of 2: ok");
    Ok(())
}
