//! Distribution strategies, named as TensorFlow names them.
//!
//! - [`MirroredStrategy`]: synchronous training on the devices of one process (one
//!   replica per device, e.g. `[Device::Cuda(0), Device::Cuda(1)]` or
//!   `[Device::Cuda(0), Device::Cpu]`): each global batch is split by rows between the
//!   replicas, every replica computes its gradients under its device scope, the
//!   gradients are summed (weighted by each replica's share of the batch) and the one
//!   update is applied to the model's variables.
//! - [`MultiWorkerMirroredStrategy`]: one process per worker, on MPI: rank and size
//!   come from the MPI world (`mpirun -np N ...`), checked against `TF_CONFIG` when it
//!   is set. A program started without a launcher is a 1-worker world.
//!
//! Both implement [`Strategy`], which Keras's `fit` takes (`FitOptions::strategy`):
//! weights broadcast from rank 0 at the start, gradients all-reduced every step, logs
//! reduced across workers, checkpoints and progress written by rank 0 only.
//!
//! Workers and replicas: a *worker* is a process (a rank of the strategy's
//! communicator, [`Strategy::num_workers`]); each worker runs
//! [`Strategy::num_local_replicas`] replicas, one per entry of
//! [`Strategy::local_devices`] (one replica with no device scope when that is empty, the
//! default of [`MultiWorkerMirroredStrategy`]). Input is split between workers first (dataset
//! sharding, rows of each global batch), then each worker's rows between its local
//! replicas. [`Strategy::num_replicas_in_sync`] counts all replicas of all workers.

use crate::cluster::ClusterSpec;
use crate::collective::{CollectiveGroup, CollectiveOptions};
use crate::communicator::{Communicator, SingleProcess};
use crate::error::{Error, Result};
use crate::shard::{AutoShardPolicy, shard_dataset, shard_files};
use std::path::PathBuf;
use tf_core::Device;

/// What a training loop needs from a distribution strategy.
pub trait Strategy {
    /// TensorFlow's class name (`"MultiWorkerMirroredStrategy"`).
    fn name(&self) -> &'static str;

    /// The collectives of this worker.
    fn group(&self) -> &CollectiveGroup;

    /// The number of replicas that train in lockstep over all workers (TensorFlow's
    /// `num_replicas_in_sync`): [`num_workers`](Self::num_workers) times
    /// [`num_local_replicas`](Self::num_local_replicas).
    fn num_replicas_in_sync(&self) -> usize {
        self.num_workers() * self.num_local_replicas()
    }

    /// The number of workers (processes, the communicator's size). Input is sharded
    /// per worker.
    fn num_workers(&self) -> usize {
        self.group().communicator().size()
    }

    /// The devices of this worker's replicas, one replica per entry, each run under
    /// `tf_core::with_device(device, ..)`. Empty (the default) means one replica per
    /// worker that runs on the thread's current placement (no device scope).
    fn local_devices(&self) -> &[Device] {
        &[]
    }

    /// The number of replicas this worker runs (`local_devices().len()`, at least 1).
    fn num_local_replicas(&self) -> usize {
        self.local_devices().len().max(1)
    }

    /// This worker's rank.
    fn worker_index(&self) -> usize {
        self.group().communicator().rank()
    }

    /// Whether this worker is rank 0, the one that writes checkpoints and logs.
    fn is_chief(&self) -> bool {
        self.worker_index() == 0
    }

    /// A seed identical on every worker: `seed` (or a fresh one when `None`) taken
    /// from rank 0 and broadcast. Use it for shuffles so shards stay disjoint.
    fn shared_seed(&self, seed: Option<u64>) -> Result<u64> {
        let local = seed.unwrap_or_else(fresh_seed);
        self.group().broadcast_u64(local, 0)
    }

    /// This worker's shard of `ds` (see [`shard_dataset`]; one shard per worker, its
    /// batches are then split between the worker's local replicas).
    fn distribute_dataset(
        &self,
        ds: &tf_data::Dataset,
        policy: AutoShardPolicy,
    ) -> Result<tf_data::Dataset> {
        shard_dataset(ds, policy, self.worker_index(), self.num_workers())
    }

    /// This worker's files under the FILE policy (see [`shard_files`]; per worker).
    fn shard_files(&self, files: &[PathBuf]) -> Result<Vec<PathBuf>> {
        shard_files(files, self.worker_index(), self.num_workers())
    }
}

/// A seed from the clock and the process id (for `shared_seed(None)` on rank 0).
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Synchronous training on the devices of one process (TensorFlow's
/// `tf.distribute.MirroredStrategy`): one replica per device, the global batch split
/// by rows between the replicas (the first replicas get one row less when the batch
/// does not divide), the replicas' gradients summed weighted by their shares of the
/// batch, and the same update applied once to the model's variables.
///
/// Differences from TensorFlow: the variables are not mirrored — the model keeps one
/// copy where it was built, and a replica on another device reads it through the
/// dispatcher's input copies; the gradients are summed on the variables' device (no
/// NCCL all-reduce between the replicas of one process). Non-trainable variables a
/// step writes (batch normalization's moving statistics) end the step with the mean of
/// the replicas' values, as TensorFlow's replica-local (`ON_READ`, `MEAN`) variables
/// read. Replicas run one after the
/// other on the calling thread (GPU kernel launches are asynchronous, so devices still
/// overlap); cross-replica collectives inside a step (synchronized
/// `BatchNormalization`) are therefore refused with several local replicas — use
/// [`MultiWorkerMirroredStrategy`] with one process per device for those.
pub struct MirroredStrategy {
    devices: Vec<Device>,
    group: CollectiveGroup,
}

impl MirroredStrategy {
    /// The strategy on every visible GPU (one replica each), or on the CPU when there
    /// is none — TensorFlow's `MirroredStrategy()` (GPUs are those
    /// [`tf_core::list_physical_devices`] reports: the `cuda` feature with a driver
    /// and a GPU, or another registered backend).
    pub fn new() -> Result<MirroredStrategy> {
        let gpus: Vec<Device> = tf_core::list_physical_devices(Some("GPU"))
            .into_iter()
            .map(|d| d.device)
            .collect();
        if gpus.is_empty() {
            MirroredStrategy::with_devices(&[Device::Cpu])
        } else {
            MirroredStrategy::with_devices(&gpus)
        }
    }

    /// One replica per device of `devices` (`[Device::Cuda(0), Device::Cuda(1)]`,
    /// `[Device::Cuda(0), Device::Cpu]`); empty means the CPU. Errors when a device is
    /// listed twice, as TensorFlow's `MirroredStrategy(["/cpu:0", "/cpu:0"])` does
    /// ("No duplicates allowed in `devices` argument"). Devices are not probed here: a
    /// missing GPU fails the first step.
    pub fn with_devices(devices: &[Device]) -> Result<MirroredStrategy> {
        for (i, d) in devices.iter().enumerate() {
            if devices.get(..i).unwrap_or_default().contains(d) {
                let names: Vec<String> = devices.iter().map(|d| d.name()).collect();
                return Err(Error::invalid(
                    "MirroredStrategy::with_devices",
                    format!(
                        "no duplicates allowed in `devices` argument: {} is listed twice in [{}]",
                        d.name(),
                        names.join(", ")
                    ),
                ));
            }
        }
        MirroredStrategy::with_replicas(devices)
    }

    /// One replica per entry of `devices`, duplicates allowed: several replicas on the
    /// same device (`[Device::Cpu, Device::Cpu]` is two replicas on the CPU). For tests
    /// and experiments on machines with fewer devices than replicas: the replicas take
    /// exactly the path they take on distinct devices. TensorFlow has no equivalent
    /// (it refuses duplicates). Empty means one replica on the CPU.
    pub fn with_replicas(devices: &[Device]) -> Result<MirroredStrategy> {
        let mut ds = devices.to_vec();
        if ds.is_empty() {
            ds.push(Device::Cpu);
        }
        Ok(MirroredStrategy {
            devices: ds,
            group: CollectiveGroup::new(Box::new(SingleProcess), CollectiveOptions::default()),
        })
    }

    /// The replicas' devices.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }
}

impl Strategy for MirroredStrategy {
    fn name(&self) -> &'static str {
        "MirroredStrategy"
    }
    fn group(&self) -> &CollectiveGroup {
        &self.group
    }
    fn local_devices(&self) -> &[Device] {
        &self.devices
    }
}

/// Synchronous data-parallel training with one process per worker (TensorFlow's
/// `tf.distribute.MultiWorkerMirroredStrategy`). By default each worker is one replica
/// with no device scope; [`with_local_devices`](Self::with_local_devices) gives a
/// worker one replica per local device (TensorFlow's workers with several GPUs), its
/// replicas' gradients summed locally before the all-reduce across workers.
pub struct MultiWorkerMirroredStrategy {
    group: CollectiveGroup,
    cluster: Option<ClusterSpec>,
    local_devices: Vec<Device>,
}

impl MultiWorkerMirroredStrategy {
    /// The strategy of this process: the MPI world when the crate is built with the
    /// `mpi` feature (a 1-rank world without `mpirun`), checked against `TF_CONFIG`
    /// when set; without the feature, a 1-worker strategy. Errors when `TF_CONFIG` is
    /// malformed or disagrees with the MPI world (worker count, this worker's index),
    /// when `TF_CONFIG` names several workers but MPI is not built in, or when MPI was
    /// already initialised in this process.
    pub fn new() -> Result<MultiWorkerMirroredStrategy> {
        let cluster = ClusterSpec::from_env()?;
        #[cfg(feature = "mpi")]
        let comm: Box<dyn Communicator> = Box::new(crate::mpi::MpiCommunicator::init()?);
        #[cfg(not(feature = "mpi"))]
        let comm: Box<dyn Communicator> = match &cluster {
            Some(c) if c.num_workers() > 1 => {
                return Err(Error::Config(format!(
                    "TF_CONFIG lists {} workers but tf-distribute was built without the `mpi` feature; build with `--features mpi` and start the workers with mpirun",
                    c.num_workers()
                )));
            }
            _ => Box::new(SingleProcess),
        };
        MultiWorkerMirroredStrategy::from_parts(comm, cluster, CollectiveOptions::default())
    }

    /// The strategy over an existing communicator (a [`LocalGroup`](crate::LocalGroup)
    /// member per thread, an MPI or NCCL communicator).
    pub fn with_communicator(comm: Box<dyn Communicator>) -> MultiWorkerMirroredStrategy {
        MultiWorkerMirroredStrategy {
            group: CollectiveGroup::new(comm, CollectiveOptions::default()),
            cluster: None,
            local_devices: Vec::new(),
        }
    }

    /// Checks `cluster` against `comm`'s rank and size.
    pub fn from_parts(
        comm: Box<dyn Communicator>,
        cluster: Option<ClusterSpec>,
        options: CollectiveOptions,
    ) -> Result<MultiWorkerMirroredStrategy> {
        if let Some(c) = &cluster
            && (c.num_workers() != comm.size() || c.rank() != comm.rank())
        {
            return Err(Error::Config(format!(
                "TF_CONFIG makes this task worker {} of {}, but the {} world says rank {} of {} (is the launcher's process count the TF_CONFIG worker count?)",
                c.rank(),
                c.num_workers(),
                comm.backend(),
                comm.rank(),
                comm.size()
            )));
        }
        Ok(MultiWorkerMirroredStrategy {
            group: CollectiveGroup::new(comm, options),
            cluster,
            local_devices: Vec::new(),
        })
    }

    /// Replaces the collective options (timeout, bucket size).
    pub fn with_options(mut self, options: CollectiveOptions) -> Self {
        self.group.set_options(options);
        self
    }

    /// One replica per entry of `devices` on this worker (each run under its device
    /// scope; duplicates allowed: several replicas on one device, as
    /// [`MirroredStrategy::with_replicas`]); empty restores one replica with no device
    /// scope. Every worker must have the same number of local replicas (the gradients
    /// are weighted by each worker's share of the global batch, so unequal counts stay
    /// exact, but TensorFlow requires equal ones). Synchronized batch normalization is
    /// refused with several local replicas (see [`MirroredStrategy`]).
    pub fn with_local_devices(mut self, devices: &[Device]) -> Self {
        self.local_devices = devices.to_vec();
        self
    }

    /// The parsed `TF_CONFIG`, when it was set.
    pub fn cluster_spec(&self) -> Option<&ClusterSpec> {
        self.cluster.as_ref()
    }
}

impl Strategy for MultiWorkerMirroredStrategy {
    fn name(&self) -> &'static str {
        "MultiWorkerMirroredStrategy"
    }
    fn group(&self) -> &CollectiveGroup {
        &self.group
    }
    fn local_devices(&self) -> &[Device] {
        &self.local_devices
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalGroup;

    #[test]
    fn mirrored_one_device() {
        if !tf_core::list_physical_devices(Some("GPU")).is_empty() {
            return; // new() takes the GPUs (see tf-keras tests/mirrored_devices.rs)
        }
        let s = MirroredStrategy::new().unwrap();
        assert_eq!(s.num_replicas_in_sync(), 1);
        assert!(s.is_chief());
        assert_eq!(s.devices(), [Device::Cpu]);
        assert_eq!(s.shared_seed(Some(5)).unwrap(), 5);
        assert_eq!(s.num_workers(), 1);
        assert_eq!(s.num_local_replicas(), 1);
        let empty = MirroredStrategy::with_devices(&[]).unwrap();
        assert_eq!(empty.devices(), [Device::Cpu]);
    }

    #[test]
    fn mirrored_several_devices() {
        let s = MirroredStrategy::with_devices(&[Device::Cuda(0), Device::Cpu]).unwrap();
        assert_eq!(s.devices(), [Device::Cuda(0), Device::Cpu]);
        assert_eq!(s.local_devices(), [Device::Cuda(0), Device::Cpu]);
        assert_eq!(
            (
                s.num_workers(),
                s.num_local_replicas(),
                s.num_replicas_in_sync()
            ),
            (1, 2, 2)
        );
        assert!(s.is_chief());
        // TensorFlow: "No duplicates allowed in `devices` argument".
        let e = MirroredStrategy::with_devices(&[Device::Cpu, Device::Cuda(1), Device::Cpu])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("no duplicates allowed") && e.contains("/device:CPU:0 is listed twice"),
            "{e}"
        );
        // The test constructor takes duplicates: three replicas on the CPU.
        let r = MirroredStrategy::with_replicas(&[Device::Cpu; 3]).unwrap();
        assert_eq!((r.num_workers(), r.num_replicas_in_sync()), (1, 3));
        // Input is sharded per worker, not per replica.
        assert_eq!(
            r.shard_files(&[PathBuf::from("a"), PathBuf::from("b")])
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn tf_config_must_match_world() {
        let c = ClusterSpec::parse(
            r#"{"cluster":{"worker":["a:1","b:2"]},"task":{"type":"worker","index":1}}"#,
        )
        .unwrap();
        let e = MultiWorkerMirroredStrategy::from_parts(
            Box::new(SingleProcess),
            Some(c.clone()),
            CollectiveOptions::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("worker 1 of 2") && e.contains("rank 0 of 1"),
            "{e}"
        );
        let mut g = LocalGroup::new(2).unwrap();
        let member = g.remove(1);
        let s = MultiWorkerMirroredStrategy::from_parts(
            Box::new(member),
            Some(c),
            CollectiveOptions::default(),
        )
        .unwrap();
        assert_eq!((s.worker_index(), s.num_replicas_in_sync()), (1, 2));
        assert!(!s.is_chief());
        assert_eq!(s.cluster_spec().unwrap().workers.len(), 2);
    }

    #[test]
    fn shared_seed_comes_from_rank_zero() {
        let seeds: Vec<u64> = LocalGroup::new(2)
            .unwrap()
            .into_iter()
            .map(|c| {
                std::thread::spawn(move || {
                    let s = MultiWorkerMirroredStrategy::with_communicator(Box::new(c));
                    let local = 100 + s.worker_index() as u64;
                    s.shared_seed(Some(local)).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(seeds, [100, 100]);
    }
}
