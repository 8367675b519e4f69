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
    /// contexts stack). Its share of the global batch starts at `1 / replicas`.
    pub fn enter(strategy: Rc<dyn Strategy>) -> ReplicaGuard {
        crate::ops::ensure_registered();
        crate::overlap::ensure_registered();
        let n = strategy.num_replicas_in_sync().max(1);
        let ctx = Rc::new(ReplicaContext {
            strategy,
            share: Cell::new(1.0 / n as f64),
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
    /// `replica_id_in_sync_group`).
    pub fn replica_id_in_sync_group(&self) -> usize {
        self.strategy.worker_index()
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
    /// than float32/float64, or when a replica fails or times out.
    pub fn all_reduce(&self, op: ReduceOp, x: &Tensor) -> Result<Tensor> {
        let n = self.num_replicas_in_sync();
        if n <= 1 {
            return Ok(x.clone());
        }
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
