//! [`MpiCommunicator`]: the MPI world as a [`Communicator`] (cargo feature `mpi`; rsmpi
//! over the system's OpenMPI).
//!
//! Start the workers with `mpirun -np N program` (as root add `--allow-run-as-root`;
//! on one host `--mca btl tcp,self` or shared memory). A program started without
//! `mpirun` is a 1-rank world. MPI is initialised once per process
//! ([`MpiCommunicator::init`]), on the thread that then makes every MPI call (the
//! communicator is neither `Send` nor `Sync`).
//!
//! MPI's collectives block until every rank arrives. The all-reduce (the hot path of
//! training) follows the communicator's [`TimeoutMode`]: by default
//! ([`TimeoutMode::Fatal`]) it is OpenMPI's blocking `MPI_Allreduce` (its tuned
//! algorithms, the speed of raw MPI) watched by a thread that, past the deadline,
//! prints an [`Error::DeadlineExceeded`] message naming the op, rank and group size
//! and calls `MPI_Abort`: the whole job ends with that error instead of hanging, and
//! the caller never gets an `Err` back (fatal, not recoverable); buffers from
//! [`DEFAULT_BLOCKING_BELOW`] (24 MiB) up go non-blocking, faster there. With
//! [`TimeoutMode::Recoverable`] the all-reduce is non-blocking like the other
//! collectives below (slower with OpenMPI: its non-blocking collectives, libnbc, are
//! not the tuned ones).
//!
//! Every other collective, and the all-reduce in [`TimeoutMode::Recoverable`], is
//! started non-blocking (`MPI_Iallreduce`, `MPI_Ibcast`, `MPI_Iallgather(v)`,
//! `MPI_Ibarrier`) and polled with `MPI_Test` against the deadline. When a peer does not
//! arrive in time the call returns [`Error::DeadlineExceeded`]; the pending request and
//! its buffers are leaked (MPI may still write to them), the communicator refuses
//! further collectives, and dropping it skips `MPI_Finalize` so the process can exit and
//! `mpirun` tears the job down instead of hanging.

/// The rsmpi crate, for raw MPI calls next to the communicator (benchmarks, custom
/// collectives): after [`MpiCommunicator::init`],
/// `rsmpi::topology::SimpleCommunicator::world()` is the same world.
pub use ::mpi as rsmpi;

use crate::communicator::{
    Communicator, Deadline, ReduceOp, check_root, finish_mean_f32, finish_mean_f64,
};
use crate::communicator::{PendingAllReduce, PendingWork};
use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::{Equivalence, PartitionMut};
use mpi::environment::{Threading, Universe};
use mpi::request::{Request, StaticScope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives, Root};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

mod watchdog;
use watchdog::Watchdog;

/// The default all-reduce size (bytes) from which [`TimeoutMode::Fatal`] uses the
/// non-blocking `MPI_Iallreduce`: 24 MiB, where the two cross over with OpenMPI 4.1 over
/// shared memory here (blocking 0.9-2.4x faster below, non-blocking 1.7x faster at
/// 32-64 MB).
pub const DEFAULT_BLOCKING_BELOW: usize = 24 << 20;

/// How [`MpiCommunicator`]'s all-reduce enforces its timeout (see the
/// [module docs](self)). Broadcast, all-gather and barrier are always recoverable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeoutMode {
    /// Blocking `MPI_Allreduce` (raw MPI speed) under a watchdog thread: when the
    /// deadline passes (checked every 20 ms) the process prints an
    /// [`Error::DeadlineExceeded`] message (op, rank, size, timeout) to stderr and calls
    /// `MPI_Abort`, which ends every rank of the job. The error is fatal: the call
    /// never returns it. Buffers of [`DEFAULT_BLOCKING_BELOW`] bytes and more (see
    /// [`MpiCommunicator::set_blocking_below`]) take the non-blocking path of
    /// [`Recoverable`](TimeoutMode::Recoverable) instead, which OpenMPI runs faster at
    /// those sizes (1.7x at 64 MB over shared memory here); their timeout returns the
    /// error.
    #[default]
    Fatal,
    /// Non-blocking `MPI_Iallreduce` polled with `MPI_Test`: a timeout returns
    /// [`Error::DeadlineExceeded`] to the caller (the communicator then refuses further
    /// collectives). With OpenMPI this is slower than the blocking call below about
    /// 24 MiB (0.6-0.75x at 1 MB, 0.2-1x at 16 MB over shared memory here, noisy) and
    /// faster above.
    Recoverable,
}

/// An owned buffer lent to MPI for a non-blocking call: a leaked box that is taken
/// back once the request completed, or left leaked when it never does.
struct Lent<T: 'static> {
    ptr: *mut [T],
}

impl<T: 'static> Lent<T> {
    fn new(v: Vec<T>) -> Lent<T> {
        Lent {
            ptr: Box::into_raw(v.into_boxed_slice()),
        }
    }
    /// # Safety
    /// The buffer must not be taken back while the reference is in use.
    unsafe fn get(&self) -> &'static [T] {
        // SAFETY: the pointer comes from Box::into_raw and stays valid until `take`.
        unsafe { &*self.ptr }
    }
    /// # Safety
    /// As [`get`](Self::get); only one mutable reference may be handed out.
    unsafe fn get_mut(&self) -> &'static mut [T] {
        // SAFETY: as above; callers hand out one reference per request.
        unsafe { &mut *self.ptr }
    }
    /// # Safety
    /// The request that used the buffer has completed.
    unsafe fn take(self) -> Vec<T> {
        // SAFETY: the pointer came from Box::into_raw and MPI no longer uses it.
        unsafe { Box::from_raw(self.ptr) }.into_vec()
    }
}

/// The MPI world of this process (see the [module docs](self)).
pub struct MpiCommunicator {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    broken: Rc<RefCell<Option<String>>>,
    /// The receive buffer of the last all-reduce, reused by the next one.
    scratch_f32: RefCell<Vec<f32>>,
    scratch_f64: RefCell<Vec<f64>>,
    /// Requests that timed out, polled again on drop (each returns true once done).
    pending: Rc<RefCell<Vec<Poller>>>,
    /// How long drop waits for timed-out requests before skipping `MPI_Finalize`.
    finalize_grace: Duration,
    /// Taken (forgotten) when `MPI_Finalize` must be skipped.
    universe: Option<Universe>,
    mode: TimeoutMode,
    /// In [`TimeoutMode::Fatal`], all-reduces of at least this many bytes are non-blocking.
    blocking_below: usize,
    /// Started by the first [`TimeoutMode::Fatal`] all-reduce.
    watchdog: RefCell<Option<Watchdog>>,
    _not_send: PhantomData<*const ()>,
}

/// Tests a request once: true when it completed (also when asked again afterwards).
type Poller = Box<dyn FnMut() -> bool>;

/// Wraps a non-blocking request in a [`Poller`].
fn poller<D: ?Sized + 'static>(req: Request<'static, D, StaticScope>) -> Poller {
    let mut slot = Some(req);
    Box::new(move || match slot.take() {
        None => true,
        Some(r) => match r.test() {
            Ok(_) => true,
            Err(r) => {
                slot = Some(r);
                false
            }
        },
    })
}

/// The communicator state a request reports into: a timed-out request marks the
/// communicator broken and is handed to it (polled again on drop, before deciding
/// whether `MPI_Finalize` can run).
#[derive(Clone)]
struct Shared {
    rank: usize,
    size: usize,
    broken: Rc<RefCell<Option<String>>>,
    pending: Rc<RefCell<Vec<Poller>>>,
}

impl Shared {
    /// Polls until done or past the deadline (then the request, with its leaked
    /// buffers, goes to the communicator and the communicator is marked broken).
    fn poll_until(&self, op: &'static str, mut poll: Poller, deadline: &Deadline) -> Result<()> {
        let mut polls = 0u32;
        loop {
            if poll() {
                return Ok(());
            }
            if deadline.expired() {
                self.abandon(poll);
                let detail = format!(
                    "not every rank of {} joined the collective (a peer died, stalled, or called a different collective)",
                    self.size
                );
                *self.broken.borrow_mut() =
                    Some(format!("rank {} timed out in {op}: {detail}", self.rank));
                return Err(Error::DeadlineExceeded {
                    op,
                    backend: "mpi",
                    rank: self.rank,
                    size: self.size,
                    after: deadline.timeout(),
                    detail,
                });
            }
            polls = polls.wrapping_add(1);
            if polls < 2000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Hands an unfinished request to the communicator (MPI still owns it and its
    /// leaked buffers).
    fn abandon(&self, poll: Poller) {
        self.pending.borrow_mut().push(poll);
    }
}

/// A started `MPI_Iallreduce` of float32 (see [`Communicator::start_all_reduce_f32`]).
struct MpiPendingReduce {
    poll: Option<Poller>,
    done: bool,
    send: Option<Lent<f32>>,
    recv: Option<Lent<f32>>,
    op: ReduceOp,
    deadline: Deadline,
    shared: Shared,
}

impl PendingWork for MpiPendingReduce {
    fn progress(&mut self) -> bool {
        if !self.done
            && let Some(poll) = &mut self.poll
        {
            self.done = poll();
        }
        self.done
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<f32>> {
        if !self.done {
            let poll = self
                .poll
                .take()
                .ok_or_else(|| backend_err("a started all-reduce lost its request"))?;
            self.shared
                .poll_until("all_reduce", poll, &self.deadline)
                .inspect_err(|_| {
                    // MPI may still write to the buffers: leak them.
                    self.send.take();
                    self.recv.take();
                })?;
            self.done = true;
        }
        self.poll = None;
        let (Some(send), Some(recv)) = (self.send.take(), self.recv.take()) else {
            return Err(backend_err("a started all-reduce lost its buffers"));
        };
        // SAFETY: the request completed; MPI no longer uses either buffer.
        let mut out = unsafe {
            drop(send.take());
            recv.take()
        };
        finish_mean_f32(&mut out, self.op, self.shared.size);
        Ok(out)
    }
}

impl Drop for MpiPendingReduce {
    fn drop(&mut self) {
        // Not waited for: the communicator keeps the request (and the buffers stay
        // leaked, since MPI may still use them).
        if let Some(poll) = self.poll.take()
            && !self.done
        {
            self.shared.abandon(poll);
            self.send.take();
            self.recv.take();
        }
    }
}

fn backend_err(message: impl Into<String>) -> Error {
    Error::Backend {
        backend: "mpi",
        message: message.into(),
    }
}

impl MpiCommunicator {
    /// Initialises MPI (threading level "funneled": MPI calls from this thread only)
    /// and takes its world. Errors when MPI was already initialised in this process or
    /// does not provide the threading level.
    pub fn init() -> Result<MpiCommunicator> {
        let (universe, level) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| {
                backend_err(
                    "MPI is already initialised in this process: create one MpiCommunicator (one MultiWorkerMirroredStrategy) per process",
                )
            })?;
        if level < Threading::Funneled {
            return Err(backend_err(format!(
                "the MPI library provides threading level {level:?}, funneled is needed"
            )));
        }
        let world = universe.world();
        let rank = usize::try_from(world.rank()).map_err(|_| backend_err("negative rank"))?;
        let size = usize::try_from(world.size()).map_err(|_| backend_err("negative size"))?;
        Ok(MpiCommunicator {
            world,
            rank,
            size,
            broken: Rc::new(RefCell::new(None)),
            scratch_f32: RefCell::new(Vec::new()),
            scratch_f64: RefCell::new(Vec::new()),
            pending: Rc::new(RefCell::new(Vec::new())),
            finalize_grace: Duration::from_secs(10),
            universe: Some(universe),
            mode: TimeoutMode::default(),
            blocking_below: DEFAULT_BLOCKING_BELOW,
            watchdog: RefCell::new(None),
            _not_send: PhantomData,
        })
    }

    /// How long dropping the communicator waits for collectives that timed out to
    /// complete after all (a peer that was late, not dead) before it skips
    /// `MPI_Finalize` (default 10 s).
    pub fn set_finalize_grace(&mut self, grace: Duration) {
        self.finalize_grace = grace;
    }

    /// Chooses how the all-reduce enforces its timeout (default
    /// [`TimeoutMode::Fatal`]). Every rank should use the same mode.
    pub fn set_timeout_mode(&mut self, mode: TimeoutMode) {
        self.mode = mode;
    }

    /// In [`TimeoutMode::Fatal`], the buffer size in bytes from which the all-reduce
    /// is non-blocking (and its timeout recoverable) instead of blocking (default
    /// [`DEFAULT_BLOCKING_BELOW`]; `usize::MAX`: always blocking, 0: never).
    pub fn set_blocking_below(&mut self, bytes: usize) {
        self.blocking_below = bytes;
    }

    /// The all-reduce's [`TimeoutMode`].
    pub fn timeout_mode(&self) -> TimeoutMode {
        self.mode
    }

    /// MPI's processor name of this rank (the host).
    pub fn processor_name(&self) -> Result<String> {
        mpi::environment::processor_name().map_err(|e| backend_err(format!("processor name: {e}")))
    }

    fn check(&self, op: &'static str) -> Result<()> {
        match &*self.broken.borrow() {
            Some(reason) => Err(Error::Aborted {
                op,
                backend: "mpi",
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Polls `req` until it completes or the deadline passes (then the request is
    /// leaked and the communicator marked broken).
    fn wait<D: ?Sized + 'static>(
        &self,
        op: &'static str,
        req: Request<'static, D, StaticScope>,
        deadline: &Deadline,
    ) -> Result<()> {
        self.shared().poll_until(op, poller(req), deadline)
    }

    /// What a started request needs to report a timeout.
    fn shared(&self) -> Shared {
        Shared {
            rank: self.rank,
            size: self.size,
            broken: self.broken.clone(),
            pending: self.pending.clone(),
        }
    }

    fn all_reduce<T>(
        &self,
        buf: &mut Vec<T>,
        op: ReduceOp,
        timeout: Duration,
        scratch: &RefCell<Vec<T>>,
    ) -> Result<()>
    where
        T: Equivalence + Copy + Default + 'static,
    {
        self.check("all_reduce")?;
        if self.size == 1 {
            return Ok(());
        }
        let n = buf.len();
        let mut recv = std::mem::take(&mut *scratch.borrow_mut());
        if recv.len() != n {
            recv.clear();
            recv.resize(n, T::default());
        }
        let sys = mpi_op(op);
        if self.mode == TimeoutMode::Fatal
            && n.saturating_mul(std::mem::size_of::<T>()) < self.blocking_below
        {
            let mut dog = self.watchdog.borrow_mut();
            let dog = match &mut *dog {
                Some(d) => d,
                None => dog.insert(Watchdog::start(self.rank, self.size)?),
            };
            dog.arm(timeout);
            self.world.all_reduce_into(&buf[..], &mut recv[..], sys);
            dog.disarm();
            *scratch.borrow_mut() = std::mem::replace(buf, recv);
            return Ok(());
        }
        let deadline = Deadline::new(timeout);
        let send = Lent::new(std::mem::take(buf));
        let recv = Lent::new(recv);
        // SAFETY: both buffers stay lent until the request completes; on timeout they
        // are leaked.
        let req = self.world.immediate_all_reduce_into(
            StaticScope,
            unsafe { send.get() },
            unsafe { recv.get_mut() },
            sys,
        );
        self.wait("all_reduce", req, &deadline)?;
        // SAFETY: the request completed.
        unsafe {
            *buf = recv.take();
            *scratch.borrow_mut() = send.take();
        }
        Ok(())
    }

    /// Broadcasts a `u64` from `root`.
    fn broadcast_len(&self, len: u64, root: usize, deadline: &Deadline) -> Result<u64> {
        let b = Lent::new(vec![len]);
        let root = self.world.process_at_rank(root as i32);
        // SAFETY: lent until completion.
        let req = root.immediate_broadcast_into(StaticScope, unsafe { b.get_mut() });
        self.wait("broadcast", req, deadline)?;
        // SAFETY: completed.
        let v = unsafe { b.take() };
        v.first()
            .copied()
            .ok_or_else(|| backend_err("broadcast of a length returned nothing"))
    }
}

impl Drop for MpiCommunicator {
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return;
        }
        let deadline = Deadline::new(self.finalize_grace);
        while !deadline.expired() {
            pending.retain_mut(|poll| !poll());
            if pending.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Requests still pending: completing or freeing them (or MPI_Finalize, which
        // waits for every rank) could block forever. Leak them and skip MPI_Finalize;
        // mpirun then ends the job.
        tracing::error!(
            target: "tf_distribute",
            "{} MPI collective(s) never completed; exiting without MPI_Finalize",
            pending.len()
        );
        std::mem::forget(pending);
        if let Some(u) = self.universe.take() {
            std::mem::forget(u);
        }
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn backend(&self) -> &'static str {
        "mpi"
    }
    fn all_reduce_f32(&self, buf: &mut Vec<f32>, op: ReduceOp, timeout: Duration) -> Result<()> {
        self.all_reduce(buf, op, timeout, &self.scratch_f32)?;
        finish_mean_f32(buf, op, self.size);
        Ok(())
    }
    fn all_reduce_f64(&self, buf: &mut Vec<f64>, op: ReduceOp, timeout: Duration) -> Result<()> {
        self.all_reduce(buf, op, timeout, &self.scratch_f64)?;
        finish_mean_f64(buf, op, self.size);
        Ok(())
    }
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize, timeout: Duration) -> Result<()> {
        self.check("broadcast")?;
        check_root("broadcast", root, self.size)?;
        if self.size == 1 {
            return Ok(());
        }
        let deadline = Deadline::new(timeout);
        let len = self.broadcast_len(buf.len() as u64, root, &deadline)?;
        let len = usize::try_from(len).map_err(|_| backend_err("broadcast length"))?;
        if i32::try_from(len).is_err() {
            return Err(Error::invalid(
                "broadcast",
                format!("{len} bytes exceed MPI's count limit (2^31 - 1)"),
            ));
        }
        let mut data = std::mem::take(buf);
        if self.rank != root {
            data.clear();
            data.resize(len, 0);
        }
        let data = Lent::new(data);
        let p = self.world.process_at_rank(root as i32);
        // SAFETY: lent until completion.
        let req = p.immediate_broadcast_into(StaticScope, unsafe { data.get_mut() });
        self.wait("broadcast", req, &deadline)?;
        // SAFETY: completed.
        *buf = unsafe { data.take() };
        Ok(())
    }
    fn all_gather_bytes(&self, local: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>> {
        self.check("all_gather")?;
        if self.size == 1 {
            return Ok(vec![local.to_vec()]);
        }
        let deadline = Deadline::new(timeout);
        let send_len = Lent::new(vec![local.len() as u64]);
        let lens = Lent::new(vec![0u64; self.size]);
        // SAFETY: lent until completion.
        let req =
            self.world
                .immediate_all_gather_into(StaticScope, unsafe { send_len.get() }, unsafe {
                    lens.get_mut()
                });
        self.wait("all_gather", req, &deadline)?;
        // SAFETY: completed.
        let lens = unsafe {
            drop(send_len.take());
            lens.take()
        };
        let mut counts = Vec::with_capacity(self.size);
        let mut displs = Vec::with_capacity(self.size);
        let mut total = 0i32;
        for &l in &lens {
            let l = i32::try_from(l).ok();
            let (Some(l), Some(t)) = (l, l.and_then(|l| total.checked_add(l))) else {
                return Err(Error::invalid(
                    "all_gather",
                    format!("gathered sizes {lens:?} exceed MPI's count limit (2^31 - 1)"),
                ));
            };
            counts.push(l);
            displs.push(total);
            total = t;
        }
        let send = Lent::new(local.to_vec());
        let recv = Lent::new(vec![0u8; total as usize]);
        // SAFETY: the receive buffer is lent to the partition until completion.
        let part = Box::into_raw(Box::new(PartitionMut::new(
            unsafe { recv.get_mut() },
            counts.clone(),
            displs.clone(),
        )));
        // SAFETY: `part` is a leaked box, taken back below after completion.
        let req = self.world.immediate_all_gather_varcount_into(
            StaticScope,
            unsafe { send.get() },
            unsafe { &mut *part },
        );
        self.wait("all_gather", req, &deadline)?;
        // SAFETY: completed; the partition goes before the buffer it borrows.
        let all = unsafe {
            drop(Box::from_raw(part));
            drop(send.take());
            recv.take()
        };
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| {
                all.get(d as usize..(d + c) as usize)
                    .unwrap_or_default()
                    .to_vec()
            })
            .collect())
    }
    fn barrier(&self, timeout: Duration) -> Result<()> {
        self.check("barrier")?;
        let deadline = Deadline::new(timeout);
        let req = self.world.immediate_barrier();
        self.wait("barrier", req, &deadline)
    }
    /// `MPI_Iallreduce`, advanced by [`PendingAllReduce::progress`] (OpenMPI moves
    /// non-blocking collectives forward only inside MPI calls; graph executors call the
    /// replica's progress hook between nodes) and by the wait.
    fn start_all_reduce_f32(
        &self,
        buf: Vec<f32>,
        op: ReduceOp,
        timeout: Duration,
    ) -> Result<PendingAllReduce> {
        self.check("all_reduce")?;
        if self.size == 1 {
            return Ok(PendingAllReduce::ready(buf));
        }
        let deadline = Deadline::new(timeout);
        let n = buf.len();
        let send = Lent::new(buf);
        let recv = Lent::new(vec![0f32; n]);
        // SAFETY: both buffers stay lent until the request completed (or are leaked
        // with it when it never does).
        let req = self.world.immediate_all_reduce_into(
            StaticScope,
            unsafe { send.get() },
            unsafe { recv.get_mut() },
            mpi_op(op),
        );
        Ok(PendingAllReduce::running(Box::new(MpiPendingReduce {
            poll: Some(poller(req)),
            done: false,
            send: Some(send),
            recv: Some(recv),
            op,
            deadline,
            shared: self.shared(),
        })))
    }
}

/// MPI's operation for `op` (a mean is a sum divided afterwards).
fn mpi_op(op: ReduceOp) -> SystemOperation {
    match op {
        ReduceOp::Sum | ReduceOp::Mean => SystemOperation::sum(),
        ReduceOp::Max => SystemOperation::max(),
        ReduceOp::Min => SystemOperation::min(),
    }
}
