//! The replica context (TensorFlow's `tf.distribute.get_replica_context()`): which
//! replica of a strategy the current thread is running a step for, and the collectives
//! that replica can put into its computation.
//!
//! A training loop enters the context ([`ReplicaContext::enter`]) around the forward
//! and backward passes of a data-parallel step; layers that need cross-replica values
//! (Keras's `BatchNormalization(synchronized=True)`) ask [`get_replica_context`] and
//! call [`ReplicaContext::all_reduce`], which emits the `CollectiveReduceV2` op (see
//! [`crate::ops`]): differentiable, traceable into tf-graph functions, and run by a
//! kernel that reaches this thread's context. Outside a context (plain training),
//! [`get_replica_context`] is `None`.

use crate::collective::CollectiveGroup;
use crate::communicator::{PendingAllReduce, ReduceOp};
use crate::error::{Error, Result};
use crate::strategy::Strategy;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use tf_core::Tensor;

thread_local! {
    static CURRENT: RefCell<Vec<Rc<ReplicaContext>>> = const { RefCell::new(Vec::new()) };
}

/// One replica of a strategy, as seen by the thread running its step.
pub struct ReplicaContext {
    strategy: Rc<dyn Strategy>,
    share: Cell<f64>,
    /// The replica's index among its worker's local replicas.
    local: usize,
    /// All-reduces started by `CollectiveReduceStart` and not yet waited for, by
    /// ticket (see [`crate::overlap`]).
    pending: RefCell<BTreeMap<i64, PendingAllReduce>>,
    next_ticket: Cell<i64>,
}

/// Leaves the context when dropped (tied to the thread that entered it).
#[must_use = "the replica context ends when the guard drops"]
pub struct ReplicaGuard {
    depth: usize,
    context: Rc<ReplicaContext>,
    _progress: tf_core::context::ProgressHookGuard,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ReplicaGuard {
    /// The context this guard entered.
    pub fn context(&self) -> &ReplicaContext {
        &self.context
    }
}

impl Drop for ReplicaGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().truncate(self.depth));
    }
}

/// The replica context of this thread, if a step entered one.
pub fn get_replica_context() -> Option<Rc<ReplicaContext>> {
    CURRENT.with(|c| c.borrow().last().cloned())
}

impl ReplicaContext {
    /// Makes this thread a replica of `strategy` until the guard drops (nested
    /// contexts stack). Its share of the global batch starts at `1 / replicas`. The
    /// worker's first local replica; see [`enter_local`](Self::enter_local).
    pub fn enter(strategy: Rc<dyn Strategy>) -> ReplicaGuard {
        ReplicaContext::enter_at(strategy, 0)
    }

    /// [`enter`](Self::enter) for the worker's local replica `local` (in
    /// `0..strategy.num_local_replicas()`, else an error): a worker with several local
    /// replicas (`MirroredStrategy` over several devices) enters one context per
    /// replica it runs.
    pub fn enter_local(strategy: Rc<dyn Strategy>, local: usize) -> Result<ReplicaGuard> {
        let n = strategy.num_local_replicas();
        if local >= n {
            return Err(Error::invalid(
                "ReplicaContext::enter_local",
                format!("local replica {local} of a worker with {n} local replicas"),
            ));
        }
        Ok(ReplicaContext::enter_at(strategy, local))
    }

    fn enter_at(strategy: Rc<dyn Strategy>, local: usize) -> ReplicaGuard {
        crate::ops::ensure_registered();
        crate::overlap::ensure_registered();
        let n = strategy.num_replicas_in_sync().max(1);
        let ctx = Rc::new(ReplicaContext {
            strategy,
            share: Cell::new(1.0 / n as f64),
            local,
            pending: RefCell::new(BTreeMap::new()),
            next_ticket: Cell::new(1),
        });
        // Graph executors call this between nodes: started all-reduces advance while
        // the backward pass computes.
        let weak: Weak<ReplicaContext> = Rc::downgrade(&ctx);
        let progress = tf_core::context::register_progress_hook(Rc::new(move || {
            if let Some(c) = weak.upgrade() {
                c.progress_pending();
            }
        }));
        let depth = CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            let d = c.len();
            c.push(ctx.clone());
            d
        });
        ReplicaGuard {
            depth,
            context: ctx,
            _progress: progress,
            _not_send: std::marker::PhantomData,
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> &dyn Strategy {
        self.strategy.as_ref()
    }

    /// The collectives of this replica.
    pub fn group(&self) -> &CollectiveGroup {
        self.strategy.group()
    }

    /// How many replicas run the step together.
    pub fn num_replicas_in_sync(&self) -> usize {
        self.strategy.num_replicas_in_sync()
    }

    /// This replica's index in `0..num_replicas_in_sync()` (TensorFlow's
    /// `replica_id_in_sync_group`): `worker_index * num_local_replicas + local`.
    pub fn replica_id_in_sync_group(&self) -> usize {
        self.strategy.worker_index() * self.strategy.num_local_replicas() + self.local
    }

    /// This replica's index among its worker's local replicas.
    pub fn local_replica_id(&self) -> usize {
        self.local
    }

    /// Errors when cross-replica collectives cannot run in this context: a worker with
    /// several local replicas runs them one after the other on one thread, so a
    /// collective that waits for the others would never complete.
    pub fn check_collectives(&self, op: &'static str) -> Result<()> {
        let local = self.strategy.num_local_replicas();
        if local > 1 {
            return Err(Error::Core(tf_core::Error::unimplemented(
                op,
                format!(
                    "cross-replica collectives (e.g. synchronized BatchNormalization) are not supported with {local} local replicas of {}: its replicas run one after the other on the calling thread. Use one replica per process (MultiWorkerMirroredStrategy, one process per device) or plain BatchNormalization",
                    self.strategy.name()
                ),
            )));
        }
        Ok(())
    }

    /// Keeps a started all-reduce until [`take_pending`](Self::take_pending); returns
    /// its ticket (unique within this context).
    pub(crate) fn add_pending(&self, p: PendingAllReduce) -> i64 {
        let t = self.next_ticket.get();
        self.next_ticket.set(t + 1);
        self.pending.borrow_mut().insert(t, p);
        t
    }

    /// Removes the started all-reduce of `ticket`.
    pub(crate) fn take_pending(&self, ticket: i64) -> Option<PendingAllReduce> {
        self.pending.borrow_mut().remove(&ticket)
    }

    /// How many started all-reduces were not waited for yet.
    pub fn pending_all_reduces(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Advances the started all-reduces without blocking (the progress hook).
    fn progress_pending(&self) {
        if let Ok(mut p) = self.pending.try_borrow_mut() {
            for w in p.values_mut() {
                w.progress();
            }
        }
    }

    /// This replica's share of the current global batch (its rows / all rows).
    pub fn share(&self) -> f64 {
        self.share.get()
    }

    /// Sets this replica's share of the global batch for the current step: the
    /// gradient of a cross-replica sum weights each replica's upstream gradient by its
    /// share (see [`crate::ops::collective_reduce`]). Errors unless `0 < share <= 1`.
    pub fn set_share(&self, share: f64) -> Result<()> {
        if !(share > 0.0 && share <= 1.0) {
            return Err(Error::invalid(
                "ReplicaContext::set_share",
                format!("a replica's share of the global batch must be in (0, 1], got {share}"),
            ));
        }
        self.share.set(share);
        Ok(())
    }

    /// `x` reduced element-wise over the replicas (TensorFlow's
    /// `ReplicaContext.all_reduce`): one `CollectiveReduceV2` op, so it traces into
    /// graphs and differentiates (the gradient of a sum is the sum of the replicas'
    /// gradients). With one replica, `x` itself. Every replica must make the same
    /// calls in the same order with tensors of the same shape. Errors for dtypes other
    /// than float32/float64, when a replica fails or times out, and with several local
    /// replicas per worker (see [`check_collectives`](Self::check_collectives)).
    pub fn all_reduce(&self, op: ReduceOp, x: &Tensor) -> Result<Tensor> {
        let n = self.num_replicas_in_sync();
        if n <= 1 {
            return Ok(x.clone());
        }
        self.check_collectives("ReplicaContext::all_reduce")?;
        let (merge, fin) = match op {
            ReduceOp::Sum => ("Add", "Id"),
            ReduceOp::Mean => ("Add", "Div"),
            ReduceOp::Max => ("Max", "Id"),
            ReduceOp::Min => ("Min", "Id"),
        };
        Ok(crate::ops::collective_reduce(
            x,
            n,
            crate::ops::DEFAULT_GROUP_KEY,
            merge,
            fin,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::MirroredStrategy;
    use tf_core::Device;

    #[test]
    fn local_replicas_have_their_ids_and_refuse_collectives() {
        let s: Rc<dyn Strategy> =
            Rc::new(MirroredStrategy::with_replicas(&[Device::Cpu, Device::Cpu]).unwrap());
        let g = ReplicaContext::enter_local(s.clone(), 1).unwrap();
        let r = get_replica_context().unwrap();
        assert_eq!(
            (
                r.num_replicas_in_sync(),
                r.replica_id_in_sync_group(),
                r.local_replica_id()
            ),
            (2, 1, 1)
        );
        assert_eq!(r.share(), 0.5);
        let x = Tensor::vector(&[1.0f32, 2.0]);
        // Emitting a collective is refused (the other replica never runs alongside) ...
        let e = r.all_reduce(ReduceOp::Sum, &x).unwrap_err().to_string();
        assert!(
            e.contains("2 local replicas of MirroredStrategy") && e.contains("one after the other"),
            "{e}"
        );
        // ... and so is running one emitted elsewhere (the kernel checks too).
        let e = crate::ops::collective_reduce(&x, 2, crate::ops::DEFAULT_GROUP_KEY, "Add", "Id")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CollectiveReduceV2") && e.contains("local replicas"),
            "{e}"
        );
        drop(g);
        assert!(get_replica_context().is_none());
        let e = ReplicaContext::enter_local(s, 2).err().unwrap().to_string();
        assert!(e.contains("local replica 2 of a worker with 2"), "{e}");
        // One local replica: the worker's index.
        let one: Rc<dyn Strategy> = Rc::new(MirroredStrategy::new().unwrap());
        let _g = ReplicaContext::enter(one);
        let r = get_replica_context().unwrap();
        assert_eq!(
            (r.num_replicas_in_sync(), r.replica_id_in_sync_group()),
            (1, 0)
        );
        assert!(r.check_collectives("test").is_ok());
        assert_eq!(
            r.all_reduce(ReduceOp::Sum, &x)
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            [1.0, 2.0]
        );
    }
}
