//! # tf-distribute
//!
//! Data-parallel training across processes and machines for the TensorFlow-in-Rust
//! stack, on proven collective engines: MPI on CPU (cargo feature `mpi`, rsmpi over the
//! system's OpenMPI) and NCCL on GPU (feature `nccl`, cudarc). tf-keras's `fit` takes a
//! [`Strategy`] (`FitOptions::strategy`) and then broadcasts the weights from rank 0,
//! all-reduces the gradients of every step in buckets, reduces the logs across
//! workers, and writes checkpoints and progress on rank 0 only.
//!
//! ```
//! use std::time::Duration;
//! use tf_distribute::{Communicator, LocalGroup, ReduceOp};
//!
//! // Two workers as threads of one process (MPI would make them processes).
//! let handles: Vec<_> = LocalGroup::new(2)?
//!     .into_iter()
//!     .map(|comm| {
//!         std::thread::spawn(move || {
//!             let mut grads = vec![comm.rank() as f32 + 1.0; 3];
//!             comm.all_reduce_f32(&mut grads, ReduceOp::Mean, Duration::from_secs(10))?;
//!             Ok::<_, tf_distribute::Error>(grads)
//!         })
//!     })
//!     .collect();
//! for h in handles {
//!     assert_eq!(h.join().expect("worker thread")?, vec![1.5f32; 3]);
//! }
//! # Ok::<(), tf_distribute::Error>(())
//! ```
//!
//! ## Map
//! - [`communicator`]: the [`Communicator`] trait (rank, size, all-reduce, broadcast,
//!   all-gather, barrier, each with a timeout) and the 1-rank [`SingleProcess`].
//! - [`local`]: [`LocalGroup`], a group of threads in one process.
//! - `mpi` (feature `mpi`): `MpiCommunicator`: blocking `MPI_Allreduce` under a
//!   watchdog that aborts the job past the deadline (default `TimeoutMode::Fatal`,
//!   below 24 MiB), or
//!   non-blocking collectives polled against a deadline (`TimeoutMode::Recoverable`;
//!   always for broadcast, all-gather, barrier).
//! - `nccl` (feature `nccl`): `NcclCommunicator` on a CUDA device, its unique id sent
//!   over another communicator (MPI, or a `LocalGroup` of threads).
//! - [`collective`]: tensor-level collectives ([`CollectiveGroup`]): broadcast of
//!   variables, bucketed gradient all-reduce, scalar reductions, counters.
//! - [`replica`]: the [`ReplicaContext`] a data-parallel step runs in
//!   ([`get_replica_context`]), with differentiable cross-replica `all_reduce`.
//! - [`ops`]: the `CollectiveReduceV2` op (eager, traced, differentiable) that
//!   `all_reduce` emits; Keras's synchronized `BatchNormalization` uses it.
//! - [`overlap`]: the gradient all-reduce as ops (`CollectiveReduceStart` /
//!   `CollectiveReduceWait`, [`ReplicaContext::all_reduce_gradients`]) that a traced
//!   step overlaps with its backward pass.
//! - [`bucket`]: the gradient bucket plan.
//! - [`strategy`]: [`Strategy`] (workers and their local replicas),
//!   [`MirroredStrategy`] (one replica per device of one process),
//!   [`MultiWorkerMirroredStrategy`] (one process per worker).
//! - [`cluster`]: `TF_CONFIG` parsing ([`ClusterSpec`]).
//! - [`shard`]: input sharding per worker ([`AutoShardPolicy`] FILE / DATA).
//! - [`error`]: the crate's [`Error`], which converts into [`tf_core::Error`].

pub mod bucket;
pub mod cluster;
pub mod collective;
pub mod communicator;
pub mod error;
pub mod local;
#[cfg(feature = "mpi")]
pub mod mpi;
#[cfg(feature = "nccl")]
pub mod nccl;
pub mod ops;
pub mod overlap;
pub mod replica;
pub mod shard;
pub mod strategy;

pub use cluster::ClusterSpec;
pub use collective::{CollectiveGroup, CollectiveOptions, CommStats};
pub use communicator::{
    Communicator, DEFAULT_TIMEOUT, PendingAllReduce, PendingWork, ReduceOp, SingleProcess,
};
pub use error::{Error, Result};
pub use local::{LocalCommunicator, LocalGroup};
pub use replica::{ReplicaContext, ReplicaGuard, get_replica_context};
pub use shard::{AutoShardPolicy, shard_dataset, shard_dataset_with_policy, shard_files};
pub use strategy::{MirroredStrategy, MultiWorkerMirroredStrategy, Strategy};
