//! [`GradientTape`]: records the ops connected to watched tensors while it is active,
//! then computes gradients by walking the record backwards.
//!
//! The tape is an observer on tf-core's context stack: every op dispatched on this
//! thread while it records (eagerly or while tracing) is offered to it, and it keeps
//! those whose inputs depend on something it watches.

use crate::backward::{Sources, backward};
use crate::registry::ensure_builtin_gradients;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use tf_core::context::{ContextGuard, Observer, push_observer};
use tf_core::op::{Attrs, OpCall, OpDef};
use tf_core::{Error, Result, Tensor, Variable};

/// What to return for a source the target does not depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnconnectedGradients {
    /// `None` (TensorFlow's default).
    #[default]
    None,
    /// A zero tensor shaped like the source.
    Zero,
}

/// The gradient function of a [`custom_gradient`](crate::custom_gradient) call: from the
/// output gradients, the input gradients (and variable gradients, in the order of the
/// variables the function read).
pub type CustomGradFn =
    Rc<dyn Fn(&[Tensor], &[Variable]) -> Result<(Vec<Option<Tensor>>, Vec<Option<Tensor>>)>>;

/// How a recorded node differentiates.
#[derive(Clone)]
pub(crate) enum NodeKind {
    /// A registered op: its gradient comes from the registry.
    Op(&'static OpDef),
    /// A custom gradient: the closure, and the variables the forward function read.
    Custom {
        name: &'static str,
        grad: CustomGradFn,
        variables: Vec<Variable>,
    },
}

/// One recorded call.
pub(crate) struct Node {
    pub kind: NodeKind,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    pub attrs: Attrs,
}

#[derive(Default)]
pub(crate) struct TapeState {
    /// Recorded nodes in execution order.
    pub nodes: Vec<Rc<Node>>,
    /// Ids of tensors the tape tracks: watched, variable reads, and outputs of recorded nodes.
    pub live: HashSet<u64>,
    /// Watched variables, in the order they were first watched.
    pub variables: Vec<Variable>,
    /// For each watched variable id, the ids of the tensors its reads produced.
    pub reads: HashMap<u64, Vec<u64>>,
}

pub(crate) struct TapeInner {
    pub persistent: bool,
    pub watch_accessed_variables: bool,
    pub recording: Cell<bool>,
    pub state: RefCell<TapeState>,
}

impl TapeInner {
    fn watch_variable(&self, var: &Variable) {
        let mut st = self.state.borrow_mut();
        if !st.variables.iter().any(|v| v.same_as(var)) {
            st.variables.push(var.clone());
            st.reads.entry(var.id()).or_default();
        }
    }

    pub(crate) fn record(
        &self,
        kind: NodeKind,
        inputs: &[Tensor],
        outputs: &[Tensor],
        attrs: &Attrs,
    ) {
        if !self.recording.get() {
            return;
        }
        let mut st = self.state.borrow_mut();
        if !inputs.iter().any(|t| st.live.contains(&t.id())) {
            return;
        }
        for o in outputs {
            st.live.insert(o.id());
        }
        st.nodes.push(Rc::new(Node {
            kind,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            attrs: attrs.clone(),
        }));
    }
}

impl Observer for TapeInner {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn record_op(&self, call: &OpCall<'_>, outputs: &[Tensor]) {
        self.record(NodeKind::Op(call.op), call.inputs, outputs, call.attrs);
    }

    fn record_variable_read(&self, var: &Variable, value: &Tensor) {
        if !self.recording.get() {
            return;
        }
        let watched = self.state.borrow().reads.contains_key(&var.id());
        if !watched {
            if !(self.watch_accessed_variables && var.trainable()) {
                return;
            }
            self.watch_variable(var);
        }
        let mut st = self.state.borrow_mut();
        st.live.insert(value.id());
        st.reads.entry(var.id()).or_default().push(value.id());
    }
}

/// Records operations for automatic differentiation (`tf.GradientTape`).
///
/// Recording starts when the tape is created and stops when it is dropped, when
/// [`GradientTape::stop`] is called, or — for a non-persistent tape — at its first
/// `gradient()`. Tapes nest: a gradient computed while an outer tape records is itself
/// recorded, giving higher-order derivatives.
///
/// ```
/// use tf_autodiff::GradientTape;
/// use tf_core::{Tensor, ops};
///
/// let x = Tensor::from_scalar(3.0f64);
/// let tape = GradientTape::new();
/// tape.watch(&x);
/// let y = ops::sub(&ops::add(&x, &x)?, &ops::neg(&x)?)?; // 3x
/// let dy = tape.gradient(&y, &[&x])?;
/// assert_eq!(dy[0].as_ref().unwrap().scalar::<f64>()?, 3.0);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub struct GradientTape {
    pub(crate) inner: Rc<TapeInner>,
    guard: RefCell<Option<ContextGuard>>,
    used: Cell<bool>,
}

/// Options for a [`GradientTape`].
#[derive(Clone, Copy, Debug)]
pub struct GradientTapeBuilder {
    persistent: bool,
    watch_accessed_variables: bool,
}

impl GradientTapeBuilder {
    /// A persistent tape allows several `gradient()` calls and keeps recording after
    /// them (default false).
    pub fn persistent(mut self, on: bool) -> Self {
        self.persistent = on;
        self
    }

    /// Whether trainable variables read while recording are watched automatically
    /// (default true).
    pub fn watch_accessed_variables(mut self, on: bool) -> Self {
        self.watch_accessed_variables = on;
        self
    }

    /// Creates the tape and starts recording on this thread.
    pub fn build(self) -> GradientTape {
        ensure_builtin_gradients();
        let inner = Rc::new(TapeInner {
            persistent: self.persistent,
            watch_accessed_variables: self.watch_accessed_variables,
            recording: Cell::new(true),
            state: RefCell::new(TapeState::default()),
        });
        let guard = push_observer(inner.clone());
        GradientTape {
            inner,
            guard: RefCell::new(Some(guard)),
            used: Cell::new(false),
        }
    }
}

impl Default for GradientTape {
    fn default() -> Self {
        GradientTape::new()
    }
}

impl GradientTape {
    /// A non-persistent tape that watches accessed trainable variables.
    pub fn new() -> GradientTape {
        GradientTape::builder().build()
    }

    /// A persistent tape (several `gradient()` calls).
    pub fn persistent() -> GradientTape {
        GradientTape::builder().persistent(true).build()
    }

    /// Options: `persistent`, `watch_accessed_variables`.
    pub fn builder() -> GradientTapeBuilder {
        GradientTapeBuilder {
            persistent: false,
            watch_accessed_variables: true,
        }
    }

    /// Whether the tape is persistent.
    pub fn is_persistent(&self) -> bool {
        self.inner.persistent
    }

    /// Ensures `t` is traced: gradients with respect to it can be taken.
    pub fn watch(&self, t: &Tensor) {
        self.inner.state.borrow_mut().live.insert(t.id());
    }

    /// Watches a variable: its reads from now on are traced.
    pub fn watch_variable(&self, v: &Variable) {
        self.inner.watch_variable(v);
    }

    /// The variables watched so far (explicitly or by being read), in first-watch order.
    pub fn watched_variables(&self) -> Vec<Variable> {
        self.inner.state.borrow().variables.clone()
    }

    /// Runs `f` without recording on this tape (other tapes still record).
    pub fn stop_recording<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Cell<bool>, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Restore(&self.inner.recording, self.inner.recording.replace(false));
        f()
    }

    /// Clears everything recorded and watched; the tape keeps recording if it was.
    pub fn reset(&self) {
        *self.inner.state.borrow_mut() = TapeState::default();
        self.used.set(false);
    }

    /// Stops recording for good (the tape's gradients can still be computed).
    pub fn stop(&self) {
        self.guard.borrow_mut().take();
    }

    /// Whether the tape is currently recording.
    pub fn is_recording(&self) -> bool {
        self.guard.borrow().is_some() && self.inner.recording.get()
    }

    /// Number of recorded operations (for tests and diagnostics).
    pub fn num_recorded(&self) -> usize {
        self.inner.state.borrow().nodes.len()
    }

    /// Marks the tape used; errors like TensorFlow on a second use of a non-persistent
    /// tape, and stops recording on first use of one.
    pub(crate) fn begin_use(&self, what: &'static str) -> Result<()> {
        if !self.inner.persistent {
            if self.used.replace(true) {
                return Err(Error::precondition(
                    what,
                    "A non-persistent GradientTape can only be used to compute one set of gradients (or jacobians)",
                ));
            }
            self.stop();
        }
        Ok(())
    }

    /// Gradients of `target` (summed over its elements when not a scalar) with respect
    /// to each source: one `Option<Tensor>` per source, `None` for sources the target
    /// does not depend on and for integer sources.
    ///
    /// Sources are tensors (`&[&x, &y]`), variables (`&model_vars`), or a mix through
    /// [`Source`](crate::Source). Errors on a second call of a non-persistent tape.
    pub fn gradient<'s>(
        &self,
        target: &Tensor,
        sources: impl Into<Sources<'s>>,
    ) -> Result<Vec<Option<Tensor>>> {
        self.gradient_with(target, sources, None, UnconnectedGradients::None)
    }

    /// [`gradient`](Self::gradient) with `output_gradients` (the upstream gradient of
    /// `target`, same shape) and the treatment of unconnected sources.
    pub fn gradient_with<'s>(
        &self,
        target: &Tensor,
        sources: impl Into<Sources<'s>>,
        output_gradients: Option<&Tensor>,
        unconnected: UnconnectedGradients,
    ) -> Result<Vec<Option<Tensor>>> {
        self.begin_use("GradientTape::gradient")?;
        backward(
            &self.inner,
            target,
            output_gradients,
            &sources.into(),
            unconnected,
        )
    }
}

impl Drop for GradientTape {
    fn drop(&mut self) {
        self.guard.get_mut().take();
    }
}
