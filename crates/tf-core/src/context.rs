//! The thread-local execution context: the stack of observers and executors that upper
//! layers push to watch or replace op execution, and the device scope.
//!
//! * An [`Observer`] (tf-autodiff's tapes) sees every op after it ran, and every variable
//!   read.
//! * An [`Executor`] (tf-graph's tracer) replaces execution: it receives the call and
//!   returns the outputs (symbolic while tracing); it also decides what reading and
//!   assigning a variable mean.
//!
//! Dispatch runs the call on the topmost executor (or eagerly when there is none) and
//! then notifies the observers pushed *above* that executor, bottom-up. Observers below
//! an executor do not see the ops it handles: an outer tape does not see the symbolic
//! ops of a function being traced, just as in TensorFlow.
//!
//! A *barrier* hides the observers below it without changing execution: ops run inside
//! it (eagerly, or by the executor below) are seen only by observers pushed above it.
//! `custom_gradient` uses one to run its function unrecorded.
//!
//! With nothing pushed, the cost of all this on the hot path is one thread-local read.
//!
//! *Progress hooks* ([`register_progress_hook`]) let asynchronous work started on this
//! thread (a non-blocking collective whose engine only advances inside its own calls)
//! make progress while a graph computes: graph executors call [`progress`] between
//! nodes.

use crate::device::Device;
use crate::error::Result;
use crate::op::OpCall;
use crate::tensor::Tensor;
use crate::variable::{AssignKind, Variable};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Watches execution: called after every op and every variable read on this thread.
pub trait Observer {
    /// The observer as `Any`, so the layer that pushed it can find it again among the
    /// active observers (see [`active_observers`]).
    fn as_any(&self) -> &dyn std::any::Any;
    /// An op ran with these inputs/attributes and produced `outputs`.
    fn record_op(&self, call: &OpCall<'_>, outputs: &[Tensor]);
    /// A variable was read, producing `value`.
    fn record_variable_read(&self, _var: &Variable, _value: &Tensor) {}
}

/// Replaces execution of ops and variable accesses on this thread.
pub trait Executor {
    /// Produces the outputs of `call`.
    fn execute(&self, call: &OpCall<'_>) -> Result<Vec<Tensor>>;
    /// Produces the value of reading `var`.
    fn read_variable(&self, var: &Variable) -> Result<Tensor>;
    /// Performs (or records) an assignment to `var`.
    fn assign_variable(&self, var: &Variable, kind: AssignKind, value: &Tensor) -> Result<()>;
    /// A variable is being created while this executor is active; an error aborts the
    /// creation (tracers refuse new variables on a retrace).
    fn create_variable(&self, _var: &Variable) -> Result<()> {
        Ok(())
    }
}

#[derive(Clone)]
enum Entry {
    Observer(u64, Rc<dyn Observer>),
    Executor(u64, Rc<dyn Executor>),
    Barrier(u64),
}

impl Entry {
    fn id(&self) -> u64 {
        match self {
            Entry::Observer(id, _) | Entry::Executor(id, _) | Entry::Barrier(id) => *id,
        }
    }
}

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
    static DEVICE: Cell<Option<Device>> = const { Cell::new(None) };
    static PROGRESS: RefCell<Vec<(u64, Rc<dyn Fn()>)>> = const { RefCell::new(Vec::new()) };
    static HAS_PROGRESS: Cell<bool> = const { Cell::new(false) };
}

/// Pops its entry off the context stack when dropped (entries may be dropped out of
/// order; each guard removes exactly its own).
#[must_use = "the entry is popped when the guard is dropped"]
pub struct ContextGuard {
    id: u64,
    // Guards are tied to their thread's stack.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let id = self.id;
        let _ = STACK.try_with(|s| {
            let mut s = s.borrow_mut();
            if let Some(pos) = s.iter().rposition(|e| e.id() == id) {
                s.remove(pos);
            }
            DEPTH.with(|d| d.set(s.len()));
        });
    }
}

fn push(make: impl FnOnce(u64) -> Entry) -> ContextGuard {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        s.push(make(id));
        DEPTH.with(|d| d.set(s.len()));
    });
    ContextGuard {
        id,
        _not_send: std::marker::PhantomData,
    }
}

/// Pushes an observer; it sees ops until the guard drops.
pub fn push_observer(observer: Rc<dyn Observer>) -> ContextGuard {
    push(|id| Entry::Observer(id, observer))
}

/// Pushes an executor; it handles ops until the guard drops.
pub fn push_executor(executor: Rc<dyn Executor>) -> ContextGuard {
    push(|id| Entry::Executor(id, executor))
}

/// Pushes a barrier: until the guard drops, observers pushed before it see nothing;
/// execution is unchanged (eager, or the executor below the barrier).
pub fn push_barrier() -> ContextGuard {
    push(Entry::Barrier)
}

/// The observers that would see an op dispatched now (those above the topmost executor
/// and the topmost barrier), bottom-up.
pub fn active_observers() -> Vec<Rc<dyn Observer>> {
    if !is_active() {
        return Vec::new();
    }
    handlers().observers.into_vec()
}

/// The executor that would handle an op dispatched now (the topmost one), if any.
pub fn current_executor() -> Option<Rc<dyn Executor>> {
    if !is_active() {
        return None;
    }
    handlers().executor
}

/// Runs `f` with an empty context stack (no observers, no executors), restoring the
/// stack afterwards. Graph executors use it to run kernels eagerly.
pub fn with_empty_context<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Vec<Entry>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let saved = std::mem::take(&mut self.0);
            let _ = STACK.try_with(|s| {
                let mut s = s.borrow_mut();
                // Entries pushed inside `f` and not popped are discarded.
                *s = saved;
                DEPTH.with(|d| d.set(s.len()));
            });
        }
    }
    let saved = STACK.with(|s| std::mem::take(&mut *s.borrow_mut()));
    DEPTH.with(|d| d.set(0));
    let _restore = Restore(saved);
    f()
}

/// Whether anything (observer, executor, barrier) is pushed on this thread: when false,
/// ops run eagerly and nobody watches (the one check on the eager hot path).
#[inline(always)]
pub fn is_active() -> bool {
    DEPTH.with(|d| d.get() != 0)
}

/// A snapshot of what handles a call: the topmost executor, and the observers above it.
pub(crate) struct Handlers {
    pub executor: Option<Rc<dyn Executor>>,
    pub observers: SmallVec<[Rc<dyn Observer>; 4]>,
}

pub(crate) fn handlers() -> Handlers {
    STACK.with(|s| {
        let s = s.borrow();
        let top_exec = s.iter().rposition(|e| matches!(e, Entry::Executor(..)));
        let top_hiding = s
            .iter()
            .rposition(|e| matches!(e, Entry::Executor(..) | Entry::Barrier(_)));
        let start = top_hiding.map_or(0, |i| i + 1);
        let executor = top_exec.and_then(|i| match &s[i] {
            Entry::Executor(_, e) => Some(e.clone()),
            _ => None,
        });
        let observers = s[start..]
            .iter()
            .filter_map(|e| match e {
                Entry::Observer(_, o) => Some(o.clone()),
                _ => None,
            })
            .collect();
        Handlers {
            executor,
            observers,
        }
    })
}

/// Sets the scoped device until dropped.
pub(crate) struct DeviceScope {
    previous: Option<Device>,
}

impl DeviceScope {
    pub(crate) fn enter(device: Device) -> DeviceScope {
        let previous = DEVICE.with(|d| d.replace(Some(device)));
        DeviceScope { previous }
    }
}

impl Drop for DeviceScope {
    fn drop(&mut self) {
        let _ = DEVICE.try_with(|d| d.set(self.previous));
    }
}

#[inline(always)]
pub(crate) fn scoped_device() -> Option<Device> {
    DEVICE.with(|d| d.get())
}

/// Unregisters its progress hook when dropped (see [`register_progress_hook`]).
#[must_use = "the hook is unregistered when the guard is dropped"]
pub struct ProgressHookGuard {
    id: u64,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ProgressHookGuard {
    fn drop(&mut self) {
        let _ = PROGRESS.try_with(|p| {
            let mut p = p.borrow_mut();
            p.retain(|(id, _)| *id != self.id);
            HAS_PROGRESS.with(|h| h.set(!p.is_empty()));
        });
    }
}

/// Registers `hook` on this thread until the guard drops: [`progress`] calls it, and
/// graph executors call [`progress`] between the nodes they run in order, so work the
/// hook owns (non-blocking collectives whose engine advances only inside its own calls,
/// like MPI's) moves forward while the graph computes. Hooks must be cheap when there is
/// nothing to do, and must not fail (they record errors for whoever waits on the work).
pub fn register_progress_hook(hook: Rc<dyn Fn()>) -> ProgressHookGuard {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    PROGRESS.with(|p| p.borrow_mut().push((id, hook)));
    HAS_PROGRESS.with(|h| h.set(true));
    ProgressHookGuard {
        id,
        _not_send: std::marker::PhantomData,
    }
}

/// Calls this thread's progress hooks (one thread-local read when there are none).
#[inline]
pub fn progress() {
    if !HAS_PROGRESS.with(|h| h.get()) {
        return;
    }
    // A snapshot, so a hook may register or drop hooks without a borrow conflict.
    let hooks: Vec<Rc<dyn Fn()>> =
        PROGRESS.with(|p| p.borrow().iter().map(|(_, h)| h.clone()).collect());
    for h in hooks {
        h();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_hooks_run_until_their_guard_drops() {
        let calls = Rc::new(Cell::new(0u32));
        progress();
        let c = calls.clone();
        let first = register_progress_hook(Rc::new(move || c.set(c.get() + 1)));
        let c = calls.clone();
        let second = register_progress_hook(Rc::new(move || c.set(c.get() + 10)));
        progress();
        assert_eq!(calls.get(), 11);
        drop(first);
        progress();
        assert_eq!(calls.get(), 21);
        drop(second);
        progress();
        assert_eq!(calls.get(), 21);
        assert!(!HAS_PROGRESS.with(|h| h.get()));
    }
}
