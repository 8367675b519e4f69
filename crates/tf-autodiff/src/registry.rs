//! The gradient registry: one gradient function per differentiable op, and an explicit
//! mark for ops that have none (comparisons, argmax, shape, ...).
//!
//! Gradient functions are written with tf-core ops, so they run eagerly, under tracing
//! and under outer tapes (which record them: higher-order derivatives).

use std::sync::{Once, RwLock};
use tf_core::op::{Attrs, OpDef};
use tf_core::{Error, Result, Tensor};

/// Computes the gradients of an op's inputs from the gradients of its outputs.
///
/// Returns one entry per input: `None` where the input gets no gradient (integer
/// indices, shapes, ...). Each gradient must have its input's shape and dtype.
pub type GradFn = fn(&GradContext<'_>) -> Result<Vec<Option<Tensor>>>;

/// What a gradient function sees: the recorded call and the incoming gradients.
pub struct GradContext<'a> {
    /// The op.
    pub op: &'static OpDef,
    /// The inputs it was called with.
    pub inputs: &'a [Tensor],
    /// The outputs it produced.
    pub outputs: &'a [Tensor],
    /// Its attributes.
    pub attrs: &'a Attrs,
    /// Gradient of the target with respect to each output (`None`: output unconnected).
    pub grads: &'a [Option<Tensor>],
    /// Inputs whose gradient nobody needs (they depend on no source), as TensorFlow's
    /// `skip_input_indices`: a gradient function may return `None` for them instead of
    /// computing a gradient that would be thrown away (the first layer's input
    /// gradient of a MatMul or a convolution, say). Empty: compute every gradient.
    pub skip_input_indices: &'a [usize],
}

impl GradContext<'_> {
    /// Input `i`.
    pub fn input(&self, i: usize) -> &Tensor {
        &self.inputs[i]
    }

    /// Output `i`.
    pub fn output(&self, i: usize) -> &Tensor {
        &self.outputs[i]
    }

    /// Whether the gradient of input `i` is needed (see
    /// [`skip_input_indices`](Self::skip_input_indices)).
    pub fn needs_grad(&self, i: usize) -> bool {
        !self.skip_input_indices.contains(&i)
    }

    /// The gradient of output `i`, zeros when that output is unconnected.
    pub fn grad(&self, i: usize) -> Result<Tensor> {
        match self.grads.get(i) {
            Some(Some(g)) => Ok(g.clone()),
            Some(None) => tf_core::ops::zeros_like(&self.outputs[i]),
            None => Err(Error::invalid(
                self.op.name,
                format!(
                    "gradient of output {i} requested; the op has {}",
                    self.grads.len()
                ),
            )),
        }
    }
}

#[derive(Clone, Copy)]
enum Entry {
    Gradient(GradFn),
    NotDifferentiable,
}

static TABLE: RwLock<Vec<Option<Entry>>> = RwLock::new(Vec::new());

fn set(op: &'static OpDef, entry: Entry) {
    let id = op.id() as usize;
    let mut t = TABLE.write().unwrap_or_else(|e| e.into_inner());
    if t.len() <= id {
        t.resize(id + 1, None);
    }
    t[id] = Some(entry);
}

/// Registers (or replaces) the gradient of `op` — also for a user's custom op.
pub fn register_gradient(op: &'static OpDef, grad: GradFn) {
    set(op, Entry::Gradient(grad));
}

/// Declares that `op` has no gradient: its inputs get `None` (TensorFlow's
/// `ops.NotDifferentiable`).
pub fn register_not_differentiable(op: &'static OpDef) {
    set(op, Entry::NotDifferentiable);
}

/// How an op differentiates.
#[derive(Clone, Copy)]
pub enum Differentiability {
    /// It has this gradient function.
    Gradient(GradFn),
    /// It is declared non-differentiable.
    NotDifferentiable,
    /// Nothing is registered for it (a bug for built-in ops).
    Unregistered,
}

/// The registration of `op`.
pub fn gradient_of(op: &'static OpDef) -> Differentiability {
    ensure_builtin_gradients();
    let t = TABLE.read().unwrap_or_else(|e| e.into_inner());
    match t.get(op.id() as usize).copied().flatten() {
        Some(Entry::Gradient(f)) => Differentiability::Gradient(f),
        Some(Entry::NotDifferentiable) => Differentiability::NotDifferentiable,
        None => Differentiability::Unregistered,
    }
}

/// Registers the gradients of tf-core's built-in ops (once per process).
pub fn ensure_builtin_gradients() {
    static ONCE: Once = Once::new();
    ONCE.call_once(crate::grads::register_builtin);
}
