//! `NcclCommunicator` on real GPUs (feature `nccl`): one thread per rank in one process,
//! the unique id sent over a `LocalGroup`. Says it skipped when libcuda / libnccl do not
//! load or no GPU answers (CI has none; run on a GPU machine, e.g. by
//! `crates/tf-core/scripts/gpu_check.sh`).
//!
//! Every rank gets its own GPU where there are enough; with one GPU the test runs the
//! one-rank world (all collectives still go through NCCL on the device) and then tries
//! two ranks on that GPU, which NCCL refuses ("Duplicate GPU detected"): the error must
//! be a clear `Error`, not a hang or a panic.

#![cfg(feature = "nccl")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use tf_distribute::nccl::{NcclCommunicator, nccl_available};
use tf_distribute::{Communicator, LocalGroup, ReduceOp};

const TIMEOUT: Duration = Duration::from_secs(60);

fn gpu_count() -> usize {
    if !nccl_available() {
        return 0;
    }
    std::panic::catch_unwind(|| {
        cudarc::driver::result::init().ok()?;
        cudarc::driver::CudaContext::device_count().ok()
    })
    .ok()
    .flatten()
    .unwrap_or(0)
    .max(0) as usize
}

/// Runs `body` on `size` ranks, rank r on GPU `r % gpus`, and returns each rank's result.
fn on_ranks<T: Send + 'static>(
    size: usize,
    gpus: usize,
    body: impl Fn(&NcclCommunicator) -> T + Send + Sync + Clone + 'static,
) -> Vec<tf_distribute::Result<T>> {
    let handles: Vec<_> = LocalGroup::new(size)
        .unwrap()
        .into_iter()
        .map(|local| {
            let body = body.clone();
            std::thread::spawn(move || {
                let rank = local.rank();
                let comm = NcclCommunicator::new(local, rank % gpus, TIMEOUT)?;
                assert_eq!(
                    (comm.rank(), comm.size(), comm.backend()),
                    (rank, size, "nccl")
                );
                Ok(body(&comm))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The collectives of one rank, checked against the values every rank contributes.
fn exercise(comm: &NcclCommunicator) {
    let (rank, size) = (comm.rank(), comm.size());
    let n = 1 << 20; // 4 MB of float32: several NCCL chunks
    let contrib = |r: usize, i: usize| ((i % 97) as f32) * 0.5 + r as f32 * 3.0 - 7.0;
    for (op, expect) in [
        (ReduceOp::Sum, (0..size).map(|r| contrib(r, 5)).sum::<f32>()),
        (
            ReduceOp::Mean,
            (0..size).map(|r| contrib(r, 5)).sum::<f32>() / size as f32,
        ),
        (
            ReduceOp::Max,
            (0..size).map(|r| contrib(r, 5)).fold(f32::MIN, f32::max),
        ),
        (
            ReduceOp::Min,
            (0..size).map(|r| contrib(r, 5)).fold(f32::MAX, f32::min),
        ),
    ] {
        let mut buf: Vec<f32> = (0..n).map(|i| contrib(rank, i)).collect();
        comm.all_reduce_f32(&mut buf, op, TIMEOUT).unwrap();
        assert_eq!(buf.len(), n);
        assert!(
            (buf[5] - expect).abs() <= 1e-5 * expect.abs().max(1.0),
            "{op:?}: {} vs {expect}",
            buf[5]
        );
        // Every element, against the host reduction.
        for (i, v) in buf.iter().enumerate() {
            let vals: Vec<f32> = (0..size).map(|r| contrib(r, i)).collect();
            let want = match op {
                ReduceOp::Sum => vals.iter().sum::<f32>(),
                ReduceOp::Mean => vals.iter().sum::<f32>() / size as f32,
                ReduceOp::Max => vals.iter().copied().fold(f32::MIN, f32::max),
                ReduceOp::Min => vals.iter().copied().fold(f32::MAX, f32::min),
            };
            assert!(
                (v - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{op:?} [{i}]: {v} vs {want}"
            );
        }
    }
    let mut d: Vec<f64> = vec![rank as f64 + 0.25; 1000];
    comm.all_reduce_f64(&mut d, ReduceOp::Sum, TIMEOUT).unwrap();
    let want: f64 = (0..size).map(|r| r as f64 + 0.25).sum();
    assert!(d.iter().all(|v| (v - want).abs() < 1e-12));
    // Empty buffers are no-ops.
    let mut e: Vec<f32> = Vec::new();
    comm.all_reduce_f32(&mut e, ReduceOp::Sum, TIMEOUT).unwrap();
    // Started all-reduces (enqueued on the stream): two in flight, waited in reverse
    // order; an empty one is ready at once.
    let mut first = comm
        .start_all_reduce_f32(vec![rank as f32 + 1.0; 1000], ReduceOp::Sum, TIMEOUT)
        .unwrap();
    let second = comm
        .start_all_reduce_f32(vec![2.0 * rank as f32; 10], ReduceOp::Mean, TIMEOUT)
        .unwrap();
    let t0 = std::time::Instant::now();
    while !first.progress() {
        assert!(
            t0.elapsed() < TIMEOUT,
            "a started all-reduce never completed"
        );
    }
    let want_mean = (0..size).map(|r| 2.0 * r as f32).sum::<f32>() / size as f32;
    assert!(
        second
            .wait()
            .unwrap()
            .iter()
            .all(|v| (v - want_mean).abs() < 1e-5)
    );
    let want_sum: f32 = (0..size).map(|r| r as f32 + 1.0).sum();
    assert!(
        first
            .wait()
            .unwrap()
            .iter()
            .all(|v| (v - want_sum).abs() < 1e-5)
    );
    let mut empty = comm
        .start_all_reduce_f32(Vec::new(), ReduceOp::Sum, TIMEOUT)
        .unwrap();
    assert!(empty.progress());
    assert!(empty.wait().unwrap().is_empty());
    // Host-byte collectives go over the bootstrap communicator.
    let mut b = if rank == 0 {
        b"from rank 0".to_vec()
    } else {
        Vec::new()
    };
    comm.broadcast_bytes(&mut b, 0, TIMEOUT).unwrap();
    assert_eq!(b, b"from rank 0");
    let all = comm.all_gather_bytes(&[rank as u8; 3], TIMEOUT).unwrap();
    assert_eq!(all, (0..size).map(|r| vec![r as u8; 3]).collect::<Vec<_>>());
    comm.barrier(TIMEOUT).unwrap();
}

#[test]
fn nccl_collectives_on_gpus() {
    let gpus = gpu_count();
    if gpus == 0 {
        println!("SKIPPED: libcuda / libnccl not loadable or no CUDA device answers");
        return;
    }
    println!("{gpus} GPU(s)");
    // One rank per GPU (the one-rank world too: it still runs NCCL on the device).
    for size in 1..=gpus.min(4) {
        for r in on_ranks(size, gpus, exercise) {
            r.unwrap();
        }
        println!(
            "{size} rank(s): all-reduce sum/mean/max/min f32, f64, broadcast, all-gather, barrier ok"
        );
    }
    if gpus == 1 {
        // Two ranks on one GPU: NCCL's answer must come back as an error (or, should a
        // future NCCL allow it, correct results), not a hang or a panic.
        let results = on_ranks(2, 1, exercise);
        for (rank, r) in results.into_iter().enumerate() {
            match r {
                Ok(()) => println!("rank {rank}: two ranks on one GPU worked"),
                Err(e) => {
                    let msg = e.to_string();
                    println!("rank {rank}: two ranks on one GPU refused: {msg}");
                    assert!(msg.contains("ncclCommInitRank"), "{msg}");
                }
            }
        }
    }
}
