//! The [`Communicator`] trait: the collectives data-parallel training needs (all-reduce,
//! broadcast, all-gather, barrier), each bounded by a timeout, and the 1-rank
//! [`SingleProcess`] implementation.
//!
//! Collectives are matched by call order: every rank must call the same collectives in
//! the same order with matching buffer lengths. A rank that does not arrive within the
//! timeout makes the others fail with [`Error::DeadlineExceeded`] instead of hanging;
//! after such an error the communicator refuses further collectives
//! ([`Error::Aborted`]). An engine may instead make a timeout fatal: the MPI
//! communicator's default all-reduce (`TimeoutMode::Fatal`, for raw-MPI speed) prints
//! the `DeadlineExceeded` message and aborts the whole MPI job rather than returning.
//!
//! Buffers are passed as `&mut Vec<_>` so an engine that finishes asynchronously can
//! keep ownership of them when a peer never arrives: after a timeout the vector may be
//! left empty.
//!
//! [`Communicator::start_all_reduce_f32`] starts an all-reduce that may proceed while
//! the caller computes (a [`PendingAllReduce`], waited on later): gradients of the last
//! layers are reduced while the backward pass still computes the first layers'. Engines
//! without non-blocking collectives run it at once (the default). Started all-reduces
//! count as called at their start for the matching rules.

use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// The reduction of [`Communicator::all_reduce_f32`] / [`Communicator::all_reduce_f64`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Element-wise sum over ranks.
    Sum,
    /// Element-wise sum divided by the group size.
    Mean,
    /// Element-wise maximum.
    Max,
    /// Element-wise minimum.
    Min,
}

/// The timeout of a collective when none is configured: 5 minutes (a data-parallel
/// step that waits longer than this for a peer is treated as a dead peer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A group of `size` processes (or threads) that run collectives together; this one is
/// rank `rank`. See the [module docs](self) for the matching rules.
pub trait Communicator {
    /// This member's rank in `0..size()`.
    fn rank(&self) -> usize;
    /// The number of members.
    fn size(&self) -> usize;
    /// The engine's name (`single`, `local`, `mpi`, `nccl`), for messages.
    fn backend(&self) -> &'static str;
    /// Reduces `buf` element-wise over all ranks in place; every rank gets the result.
    /// Errors when lengths differ (where the engine can tell), on timeout, or when the
    /// group is broken.
    fn all_reduce_f32(&self, buf: &mut Vec<f32>, op: ReduceOp, timeout: Duration) -> Result<()>;
    /// [`all_reduce_f32`](Communicator::all_reduce_f32) for `f64`.
    fn all_reduce_f64(&self, buf: &mut Vec<f64>, op: ReduceOp, timeout: Duration) -> Result<()>;
    /// Replaces `buf` on every rank with `root`'s bytes (other ranks' lengths do not
    /// matter). Errors when `root` is not a rank, on timeout, or when the group is broken.
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize, timeout: Duration) -> Result<()>;
    /// Every rank's `local` bytes, indexed by rank (lengths may differ).
    fn all_gather_bytes(&self, local: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>>;
    /// Returns once every rank has called it.
    fn barrier(&self, timeout: Duration) -> Result<()>;
    /// Starts an all-reduce of `buf` (as [`all_reduce_f32`](Communicator::all_reduce_f32))
    /// that may complete while the caller goes on; [`PendingAllReduce::wait`] gives the
    /// result and [`PendingAllReduce::progress`] lets engines that advance only inside
    /// their own calls (MPI) move it forward. The timeout runs from the start. The
    /// default runs the blocking all-reduce now and returns it finished.
    fn start_all_reduce_f32(
        &self,
        buf: Vec<f32>,
        op: ReduceOp,
        timeout: Duration,
    ) -> Result<PendingAllReduce> {
        let mut buf = buf;
        self.all_reduce_f32(&mut buf, op, timeout)?;
        Ok(PendingAllReduce::ready(buf))
    }
}

/// The engine's side of a started all-reduce.
pub trait PendingWork {
    /// Advances the operation without blocking; true once it completed. Errors are kept
    /// for [`finish`](PendingWork::finish).
    fn progress(&mut self) -> bool;
    /// Blocks until the operation completes (or its deadline passes) and returns the
    /// reduced buffer.
    fn finish(self: Box<Self>) -> Result<Vec<f32>>;
}

/// An all-reduce started by [`Communicator::start_all_reduce_f32`]. Dropping it
/// without [`wait`](Self::wait) leaves the collective to the engine (MPI finishes or
/// abandons it when the communicator is dropped).
pub struct PendingAllReduce {
    state: PendingState,
}

enum PendingState {
    Ready(Vec<f32>),
    Running(Box<dyn PendingWork>),
}

impl PendingAllReduce {
    /// An all-reduce that already completed with `buf`.
    pub fn ready(buf: Vec<f32>) -> PendingAllReduce {
        PendingAllReduce {
            state: PendingState::Ready(buf),
        }
    }

    /// An all-reduce the engine is running.
    pub fn running(work: Box<dyn PendingWork>) -> PendingAllReduce {
        PendingAllReduce {
            state: PendingState::Running(work),
        }
    }

    /// Whether it completed (advancing it first, without blocking).
    pub fn progress(&mut self) -> bool {
        match &mut self.state {
            PendingState::Ready(_) => true,
            PendingState::Running(w) => w.progress(),
        }
    }

    /// Waits for the result (errors: the engine's, e.g. a timeout or a broken group).
    pub fn wait(self) -> Result<Vec<f32>> {
        match self.state {
            PendingState::Ready(buf) => Ok(buf),
            PendingState::Running(w) => w.finish(),
        }
    }
}

impl std::fmt::Debug for PendingAllReduce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            PendingState::Ready(b) => format!("ready ({} values)", b.len()),
            PendingState::Running(_) => "running".to_string(),
        };
        write!(f, "PendingAllReduce({state})")
    }
}

/// Applies `op` to `acc` and `x` element-wise (`Mean` sums; [`finish_mean`] divides).
pub(crate) fn combine<T>(acc: &mut [T], x: &[T], op: ReduceOp)
where
    T: Copy + PartialOrd + std::ops::AddAssign,
{
    match op {
        ReduceOp::Sum | ReduceOp::Mean => acc.iter_mut().zip(x).for_each(|(a, &b)| *a += b),
        ReduceOp::Max => acc.iter_mut().zip(x).for_each(|(a, &b)| {
            if b > *a {
                *a = b
            }
        }),
        ReduceOp::Min => acc.iter_mut().zip(x).for_each(|(a, &b)| {
            if b < *a {
                *a = b
            }
        }),
    }
}

/// Divides a summed buffer by `n` when `op` is [`ReduceOp::Mean`].
pub(crate) fn finish_mean_f32(buf: &mut [f32], op: ReduceOp, n: usize) {
    if op == ReduceOp::Mean && n > 1 {
        let inv = 1.0 / n as f32;
        buf.iter_mut().for_each(|v| *v *= inv);
    }
}

/// [`finish_mean_f32`] for `f64`.
pub(crate) fn finish_mean_f64(buf: &mut [f64], op: ReduceOp, n: usize) {
    if op == ReduceOp::Mean && n > 1 {
        let inv = 1.0 / n as f64;
        buf.iter_mut().for_each(|v| *v *= inv);
    }
}

/// A deadline for polling loops.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    start: Instant,
    timeout: Duration,
}

impl Deadline {
    pub(crate) fn new(timeout: Duration) -> Deadline {
        Deadline {
            start: Instant::now(),
            timeout,
        }
    }
    /// Time left (zero once expired).
    pub(crate) fn remaining(&self) -> Duration {
        self.timeout.saturating_sub(self.start.elapsed())
    }
    pub(crate) fn expired(&self) -> bool {
        self.start.elapsed() >= self.timeout
    }
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

pub(crate) fn check_root(op: &'static str, root: usize, size: usize) -> Result<()> {
    if root >= size {
        return Err(Error::invalid(
            op,
            format!("root rank {root} is not in a group of {size}"),
        ));
    }
    Ok(())
}

/// The 1-rank group: every collective returns at once with this rank's data (what a
/// program started without a launcher gets).
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl SingleProcess {
    /// The 1-rank communicator.
    pub fn new() -> SingleProcess {
        SingleProcess
    }
}

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn backend(&self) -> &'static str {
        "single"
    }
    fn all_reduce_f32(&self, _buf: &mut Vec<f32>, _op: ReduceOp, _t: Duration) -> Result<()> {
        Ok(())
    }
    fn all_reduce_f64(&self, _buf: &mut Vec<f64>, _op: ReduceOp, _t: Duration) -> Result<()> {
        Ok(())
    }
    fn broadcast_bytes(&self, _buf: &mut Vec<u8>, root: usize, _t: Duration) -> Result<()> {
        check_root("broadcast", root, 1)
    }
    fn all_gather_bytes(&self, local: &[u8], _t: Duration) -> Result<Vec<Vec<u8>>> {
        Ok(vec![local.to_vec()])
    }
    fn barrier(&self, _t: Duration) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_process_is_identity() {
        let c = SingleProcess::new();
        assert_eq!((c.rank(), c.size(), c.backend()), (0, 1, "single"));
        let mut v = vec![1.0f32, -2.0];
        c.all_reduce_f32(&mut v, ReduceOp::Mean, DEFAULT_TIMEOUT)
            .unwrap();
        assert_eq!(v, [1.0, -2.0]);
        let mut d = vec![3.0f64];
        c.all_reduce_f64(&mut d, ReduceOp::Sum, DEFAULT_TIMEOUT)
            .unwrap();
        assert_eq!(d, [3.0]);
        let mut b = vec![7u8, 8];
        c.broadcast_bytes(&mut b, 0, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(b, [7, 8]);
        assert_eq!(
            c.all_gather_bytes(&[1, 2], DEFAULT_TIMEOUT).unwrap(),
            vec![vec![1u8, 2]]
        );
        c.barrier(DEFAULT_TIMEOUT).unwrap();
        let mut p = c
            .start_all_reduce_f32(vec![4.0, 5.0], ReduceOp::Sum, DEFAULT_TIMEOUT)
            .unwrap();
        assert!(p.progress());
        assert_eq!(p.wait().unwrap(), [4.0, 5.0]);
    }

    #[test]
    fn single_process_rejects_bad_root() {
        let e = SingleProcess
            .broadcast_bytes(&mut vec![], 1, DEFAULT_TIMEOUT)
            .unwrap_err();
        assert!(e.to_string().contains("root rank 1"), "{e}");
    }

    #[test]
    fn combine_ops() {
        let mut a = vec![1.0f32, 5.0];
        combine(&mut a, &[3.0, 2.0], ReduceOp::Max);
        assert_eq!(a, [3.0, 5.0]);
        combine(&mut a, &[4.0, 1.0], ReduceOp::Min);
        assert_eq!(a, [3.0, 1.0]);
        combine(&mut a, &[1.0, 1.0], ReduceOp::Mean);
        finish_mean_f32(&mut a, ReduceOp::Mean, 2);
        assert_eq!(a, [2.0, 1.0]);
    }
}
