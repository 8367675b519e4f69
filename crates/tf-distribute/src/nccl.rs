//! [`NcclCommunicator`]: NCCL collectives on a CUDA device (cargo feature `nccl`;
//! cudarc loads `libcuda` and `libnccl` at run time, so building needs neither).
//!
//! Rank 0 creates NCCL's unique id and broadcasts it over a bootstrap [`Communicator`]
//! (the MPI world for one process per GPU, as TensorFlow's MultiWorkerMirroredStrategy
//! does; a [`LocalGroup`](crate::LocalGroup) for one thread per GPU in one process);
//! every rank then joins the NCCL communicator on its device (`Comm::from_rank`).
//! All-reduce runs on the GPU (host buffers are copied to the device and back), also
//! for a one-rank world; broadcast, all-gather and barrier of host bytes go over the
//! bootstrap communicator. Completion is polled on a CUDA event against the deadline,
//! so a stalled peer gives [`Error::DeadlineExceeded`] as with MPI.
//!
//! [`nccl_available`] probes for the libraries first (cudarc panics when one is
//! missing; it looks for `libnccl.so`, which the `-dev` package provides, not only
//! `libnccl.so.2`).
//!
//! NCCL refuses two ranks on one GPU ("Duplicate GPU detected"): give each rank its
//! own device.

use crate::communicator::{
    Communicator, Deadline, PendingAllReduce, PendingWork, ReduceOp, finish_mean_f32,
    finish_mean_f64,
};
use crate::error::{Error, Result};
use cudarc::driver::{CudaContext, CudaStream};
use cudarc::nccl::safe::{Comm, Id, NcclType, ReduceOp as NcclOp};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

fn nccl_err(message: impl Into<String>) -> Error {
    Error::Backend {
        backend: "nccl",
        message: message.into(),
    }
}

/// NCCL's code, its text and NCCL's last error message (cudarc's `Debug` prints only
/// "NcclError").
fn describe(e: &cudarc::nccl::result::NcclError) -> String {
    let code = e.0;
    let text = |p: *const std::ffi::c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: NCCL returns a NUL-terminated static or thread-local string.
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .trim()
                .to_string()
        }
    };
    // SAFETY: plain queries of NCCL's error strings (null = this thread's last error).
    let (what, last) = std::panic::catch_unwind(|| unsafe {
        (
            text(cudarc::nccl::sys::ncclGetErrorString(code)),
            text(cudarc::nccl::sys::ncclGetLastError(std::ptr::null_mut())),
        )
    })
    .unwrap_or_default();
    match (what.is_empty(), last.is_empty()) {
        (_, false) => format!("{code:?} ({what}): {last}"),
        (false, true) => format!("{code:?} ({what})"),
        _ => format!("{code:?}"),
    }
}

/// Whether the CUDA driver library and NCCL (`libnccl.so`) can be loaded.
pub fn nccl_available() -> bool {
    // SAFETY: the probes only try to dlopen the libraries.
    unsafe { cudarc::driver::sys::is_culib_present() && cudarc::nccl::sys::is_culib_present() }
}

/// NCCL on one CUDA device per rank, bootstrapped over another communicator (see the
/// [module docs](self)).
pub struct NcclCommunicator {
    bootstrap: Box<dyn Communicator>,
    stream: Arc<CudaStream>,
    /// `None` after a timeout (the communicator is then leaked, not destroyed).
    comm: Option<Comm>,
    broken: Rc<RefCell<Option<String>>>,
}

impl NcclCommunicator {
    /// Joins the NCCL communicator of `bootstrap`'s world (same ranks and size; usually
    /// the `MpiCommunicator`) on CUDA device `ordinal` (usually the rank's local index on
    /// its host). Every rank must call this at the same time (NCCL's initialisation waits
    /// for all of them). Errors when CUDA or NCCL cannot be loaded, the device does not
    /// open, the unique id does not arrive within `timeout`, or NCCL fails to initialise.
    pub fn new(
        bootstrap: impl Communicator + 'static,
        ordinal: usize,
        timeout: Duration,
    ) -> Result<Self> {
        let bootstrap: Box<dyn Communicator> = Box::new(bootstrap);
        if !nccl_available() {
            return Err(nccl_err(
                "libcuda or libnccl.so is not loadable (install the driver and libnccl-dev, or put libnccl.so on LD_LIBRARY_PATH)",
            ));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| nccl_err(format!("CUDA device {ordinal}: {e:?}")))?;
        let stream = ctx.default_stream();
        let mut id_bytes = if bootstrap.rank() == 0 {
            let id =
                Id::new().map_err(|e| nccl_err(format!("ncclGetUniqueId: {}", describe(&e))))?;
            id.internal().iter().map(|&c| c as u8).collect()
        } else {
            Vec::new()
        };
        bootstrap.broadcast_bytes(&mut id_bytes, 0, timeout)?;
        let mut internal = [0 as std::ffi::c_char; 128];
        if id_bytes.len() != internal.len() {
            return Err(nccl_err(format!(
                "the unique id from rank 0 has {} bytes, 128 expected",
                id_bytes.len()
            )));
        }
        for (d, s) in internal.iter_mut().zip(&id_bytes) {
            *d = *s as std::ffi::c_char;
        }
        let comm = Comm::from_rank(
            stream.clone(),
            bootstrap.rank(),
            bootstrap.size(),
            Id::uninit(internal),
        )
        .map_err(|e| nccl_err(format!("ncclCommInitRank: {}", describe(&e))))?;
        Ok(NcclCommunicator {
            bootstrap,
            stream,
            comm: Some(comm),
            broken: Rc::new(RefCell::new(None)),
        })
    }

    fn all_reduce<T: NcclType + cudarc::driver::DeviceRepr + Copy + 'static>(
        &self,
        buf: &mut Vec<T>,
        op: ReduceOp,
        timeout: Duration,
    ) -> Result<()> {
        if let Some(pending) = self.start::<T>(buf.as_slice(), op, timeout)? {
            *buf = pending.finish_raw()?;
        }
        Ok(())
    }

    /// Copies `buf` to the device and enqueues the all-reduce on the stream; `None`
    /// for an empty buffer (nothing to do).
    fn start<T: NcclType + cudarc::driver::DeviceRepr + Copy + 'static>(
        &self,
        buf: &[T],
        op: ReduceOp,
        timeout: Duration,
    ) -> Result<Option<NcclPending<T>>> {
        if let Some(reason) = &*self.broken.borrow() {
            return Err(Error::Aborted {
                op: "all_reduce",
                backend: "nccl",
                reason: reason.clone(),
            });
        }
        let comm = self
            .comm
            .as_ref()
            .ok_or_else(|| nccl_err("the communicator is gone"))?;
        if buf.is_empty() {
            return Ok(None);
        }
        let deadline = Deadline::new(timeout);
        let mut dev = self
            .stream
            .clone_htod(buf)
            .map_err(|e| nccl_err(format!("copy to device: {e:?}")))?;
        let nop = match op {
            ReduceOp::Sum | ReduceOp::Mean => NcclOp::Sum,
            ReduceOp::Max => NcclOp::Max,
            ReduceOp::Min => NcclOp::Min,
        };
        comm.all_reduce_in_place(&mut dev, &nop)
            .map_err(|e| nccl_err(format!("ncclAllReduce: {}", describe(&e))))?;
        let event = self
            .stream
            .record_event(None)
            .map_err(|e| nccl_err(format!("record event: {e:?}")))?;
        Ok(Some(NcclPending {
            stream: self.stream.clone(),
            dev: Some(dev),
            event,
            deadline,
            op,
            rank: self.bootstrap.rank(),
            size: self.bootstrap.size(),
            broken: self.broken.clone(),
        }))
    }
}

/// An all-reduce enqueued on the communicator's stream: the device runs it while the
/// host goes on; its event says when it is done.
struct NcclPending<T: cudarc::driver::DeviceRepr> {
    stream: Arc<CudaStream>,
    /// `None` once copied back (or leaked after a timeout).
    dev: Option<cudarc::driver::CudaSlice<T>>,
    event: cudarc::driver::CudaEvent,
    deadline: Deadline,
    op: ReduceOp,
    rank: usize,
    size: usize,
    broken: Rc<RefCell<Option<String>>>,
}

impl<T: cudarc::driver::DeviceRepr + Copy> NcclPending<T> {
    /// Waits for the event against the deadline and copies the sums back (the mean's
    /// division is the caller's).
    fn finish_raw(mut self) -> Result<Vec<T>> {
        while !self.event.is_complete() {
            if self.deadline.expired() {
                let detail = format!(
                    "the all-reduce did not complete: not every rank of {} joined",
                    self.size
                );
                *self.broken.borrow_mut() = Some(detail.clone());
                // The device buffer is in use by a kernel that may never finish.
                std::mem::forget(self.dev.take());
                return Err(Error::DeadlineExceeded {
                    op: "all_reduce",
                    backend: "nccl",
                    rank: self.rank,
                    size: self.size,
                    after: self.deadline.timeout(),
                    detail,
                });
            }
            std::thread::yield_now();
        }
        let dev = self
            .dev
            .take()
            .ok_or_else(|| nccl_err("a started all-reduce lost its buffer"))?;
        self.stream
            .clone_dtoh(&dev)
            .map_err(|e| nccl_err(format!("copy to host: {e:?}")))
    }
}

impl<T: cudarc::driver::DeviceRepr> Drop for NcclPending<T> {
    fn drop(&mut self) {
        // Not waited for and maybe still running: never free a buffer a kernel uses.
        if let Some(dev) = self.dev.take()
            && !self.event.is_complete()
        {
            std::mem::forget(dev);
        }
    }
}

impl PendingWork for NcclPending<f32> {
    fn progress(&mut self) -> bool {
        self.event.is_complete()
    }
    fn finish(self: Box<Self>) -> Result<Vec<f32>> {
        let (op, size) = (self.op, self.size);
        let mut out = (*self).finish_raw()?;
        finish_mean_f32(&mut out, op, size);
        Ok(out)
    }
}

impl Drop for NcclCommunicator {
    fn drop(&mut self) {
        if self.broken.borrow().is_some()
            && let Some(c) = self.comm.take()
        {
            // Destroying a communicator with a pending collective blocks.
            std::mem::forget(c);
        }
    }
}

impl Communicator for NcclCommunicator {
    fn rank(&self) -> usize {
        self.bootstrap.rank()
    }
    fn size(&self) -> usize {
        self.bootstrap.size()
    }
    fn backend(&self) -> &'static str {
        "nccl"
    }
    fn all_reduce_f32(&self, buf: &mut Vec<f32>, op: ReduceOp, timeout: Duration) -> Result<()> {
        self.all_reduce(buf, op, timeout)?;
        finish_mean_f32(buf, op, self.size());
        Ok(())
    }
    fn all_reduce_f64(&self, buf: &mut Vec<f64>, op: ReduceOp, timeout: Duration) -> Result<()> {
        self.all_reduce(buf, op, timeout)?;
        finish_mean_f64(buf, op, self.size());
        Ok(())
    }
    /// Enqueued on the device's stream (`ncclAllReduce` is asynchronous): the host goes
    /// on while the GPU and the network reduce; the wait polls the stream's event.
    fn start_all_reduce_f32(
        &self,
        buf: Vec<f32>,
        op: ReduceOp,
        timeout: Duration,
    ) -> Result<PendingAllReduce> {
        Ok(match self.start::<f32>(&buf, op, timeout)? {
            Some(p) => PendingAllReduce::running(Box::new(p)),
            None => PendingAllReduce::ready(buf),
        })
    }
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize, timeout: Duration) -> Result<()> {
        self.bootstrap.broadcast_bytes(buf, root, timeout)
    }
    fn all_gather_bytes(&self, local: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>> {
        self.bootstrap.all_gather_bytes(local, timeout)
    }
    fn barrier(&self, timeout: Duration) -> Result<()> {
        self.bootstrap.barrier(timeout)
    }
}
