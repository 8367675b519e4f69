//! [`Variable`]: the mutable resource that holds model state.
//!
//! Reading and assigning go through the context stack: tapes (observers) learn about
//! reads so they can watch trainable variables automatically, and a tracer (executor)
//! captures variables by reference and records assignments instead of performing them.

use crate::context;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::{Attrs, OpCall, execute_eager};
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// What an assignment does with the new value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssignKind {
    /// `var = value`
    Assign,
    /// `var += value`
    Add,
    /// `var -= value`
    Sub,
}

impl AssignKind {
    /// TensorFlow's op name (`AssignVariableOp`, `AssignAddVariableOp`, `AssignSubVariableOp`).
    pub fn op_name(self) -> &'static str {
        match self {
            AssignKind::Assign => "AssignVariableOp",
            AssignKind::Add => "AssignAddVariableOp",
            AssignKind::Sub => "AssignSubVariableOp",
        }
    }
}

struct Inner {
    id: u64,
    name: String,
    trainable: bool,
    dtype: DType,
    shape: Shape,
    value: RwLock<Tensor>,
}

/// A mutable tensor-valued resource (`tf.Variable`): fixed dtype and shape, a unique
/// name, a trainable flag, and assign / assign_add / assign_sub.
///
/// Clones are handles to the same variable.
///
/// ```
/// use tf_core::{Tensor, Variable};
/// let v = Variable::new(Tensor::from_vec(vec![1.0f32, 2.0], [2])?)?;
/// v.assign_add(&Tensor::from_vec(vec![0.5f32, 0.5], [2])?)?;
/// assert_eq!(v.read()?.to_vec::<f32>()?, vec![1.5, 2.5]);
/// # Ok::<(), tf_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Variable(Arc<Inner>);

/// Options for [`Variable::builder`].
pub struct VariableBuilder {
    initial: Tensor,
    name: Option<String>,
    trainable: bool,
}

impl VariableBuilder {
    /// The variable's base name (made unique with a `_N` suffix if taken).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether optimizers and tapes treat it as trainable (default true).
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.trainable = trainable;
        self
    }

    /// Creates the variable.
    ///
    /// Errors when the initial value is symbolic, or when the active executor refuses
    /// variable creation (a tracer on a retrace).
    pub fn build(self) -> Result<Variable> {
        if self.initial.is_symbolic() {
            return Err(Error::invalid(
                "Variable",
                "the initial value must be a concrete tensor, not a symbolic one",
            ));
        }
        // Like TensorFlow, a variable made inside `with_device(Device::Cuda(n), ..)` lives
        // on that device; when the device is absent it stays where its initial value is
        // (soft placement). A CPU scope leaves the value where it is.
        let initial = match crate::device::current_device() {
            Some(d) if d != crate::Device::Cpu && d != self.initial.device() => {
                self.initial.to(d).unwrap_or(self.initial)
            }
            _ => self.initial,
        };
        let name = unique_name(self.name.as_deref().unwrap_or("Variable"));
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let var = Variable(Arc::new(Inner {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            name,
            trainable: self.trainable,
            dtype: initial.dtype(),
            shape: initial.shape().clone(),
            value: RwLock::new(initial),
        }));
        if context::is_active()
            && let Some(exec) = context::handlers().executor
        {
            exec.create_variable(&var)?;
        }
        Ok(var)
    }
}

fn unique_name(base: &str) -> String {
    static NAMES: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let count = names
        .get_or_insert_with(HashMap::new)
        .entry(base.to_string())
        .or_insert(0);
    let name = if *count == 0 {
        base.to_string()
    } else {
        format!("{base}_{count}")
    };
    *count += 1;
    name
}

impl Variable {
    /// A trainable variable named `Variable` (made unique) holding `initial`.
    pub fn new(initial: Tensor) -> Result<Variable> {
        Variable::builder(initial).build()
    }

    /// A builder for name and trainability.
    pub fn builder(initial: Tensor) -> VariableBuilder {
        VariableBuilder {
            initial,
            name: None,
            trainable: true,
        }
    }

    /// Unique id for the process.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The unique name (`Variable`, `Variable_1`, `dense/kernel`, ...).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether it is trainable.
    pub fn trainable(&self) -> bool {
        self.0.trainable
    }

    /// The fixed dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// The fixed shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// Whether two handles refer to the same variable.
    pub fn same_as(&self, other: &Variable) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Reads the current value (`ReadVariableOp`). Under a tracer this yields the
    /// tracer's capture; tapes are told about the read.
    pub fn read(&self) -> Result<Tensor> {
        if !context::is_active() {
            return Ok(self.value());
        }
        let h = context::handlers();
        let value = match &h.executor {
            Some(exec) => exec.read_variable(self)?,
            // Each observed read is a distinct tensor (TensorFlow's ReadVariableOp), so
            // tapes can tell reads apart from other uses of the stored value.
            None => self.value().alias(),
        };
        for obs in &h.observers {
            obs.record_variable_read(self, &value);
        }
        Ok(value)
    }

    /// The current value without going through the context (no tape sees it, no
    /// tracer captures it). For checkpoints, optimizers' internals and inspection.
    pub fn value(&self) -> Tensor {
        self.0
            .value
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `var = value`. Errors when dtype or shape differ from the variable's.
    pub fn assign(&self, value: &Tensor) -> Result<()> {
        self.assign_with(AssignKind::Assign, value)
    }

    /// `var += value` (in place when no one else holds the current value).
    pub fn assign_add(&self, value: &Tensor) -> Result<()> {
        self.assign_with(AssignKind::Add, value)
    }

    /// `var -= value` (in place when no one else holds the current value).
    pub fn assign_sub(&self, value: &Tensor) -> Result<()> {
        self.assign_with(AssignKind::Sub, value)
    }

    /// Performs an assignment of `kind`, through the active executor if any.
    pub fn assign_with(&self, kind: AssignKind, value: &Tensor) -> Result<()> {
        if value.dtype() != self.dtype() {
            return Err(Error::invalid(
                kind.op_name(),
                format!(
                    "variable '{}' has dtype {}, value has {}",
                    self.name(),
                    self.dtype(),
                    value.dtype()
                ),
            ));
        }
        if context::is_active()
            && let Some(exec) = context::handlers().executor
        {
            return exec.assign_variable(self, kind, value);
        }
        self.assign_eager(kind, value)
    }

    /// Performs an assignment now, ignoring the context stack (executors call this).
    pub fn assign_eager(&self, kind: AssignKind, value: &Tensor) -> Result<()> {
        let op = kind.op_name();
        if value.is_symbolic() {
            return Err(crate::tensor::symbolic_error(op));
        }
        if value.dtype() != self.dtype() || value.dims() != self.shape().dims() {
            return Err(Error::invalid(
                op,
                format!(
                    "variable '{}' is {}{}, value is {}{}",
                    self.name(),
                    self.dtype(),
                    self.shape(),
                    value.dtype(),
                    value.shape()
                ),
            ));
        }
        let mut slot = self.0.value.write().unwrap_or_else(|e| e.into_inner());
        let device = slot.device();
        match kind {
            AssignKind::Assign => *slot = value.to(device)?,
            AssignKind::Add | AssignKind::Sub => {
                if !in_place_update(&mut slot, kind, value) {
                    let def = if kind == AssignKind::Add {
                        &crate::ops::ADD
                    } else {
                        &crate::ops::SUB
                    };
                    let inputs = [slot.clone(), value.clone()];
                    let mut out = execute_eager(&OpCall::new(def, &inputs, &Attrs::new()))?;
                    *slot = out.swap_remove(0).to(device)?;
                }
            }
        }
        Ok(())
    }
}

/// Updates a uniquely owned host f32/f64 value in place; false when not possible.
fn in_place_update(slot: &mut Tensor, kind: AssignKind, value: &Tensor) -> bool {
    fn go<T: Element + std::ops::AddAssign + std::ops::SubAssign>(
        slot: &mut Tensor,
        kind: AssignKind,
        value: &Tensor,
    ) -> bool {
        let Ok(src) = value.host_data::<T>() else {
            return false;
        };
        let Some(dst) = slot.unique_host_vec_mut::<T>() else {
            return false;
        };
        if dst.len() != src.len() {
            return false;
        }
        match kind {
            AssignKind::Add => dst.iter_mut().zip(src.iter()).for_each(|(d, &s)| *d += s),
            AssignKind::Sub => dst.iter_mut().zip(src.iter()).for_each(|(d, &s)| *d -= s),
            AssignKind::Assign => return false,
        }
        true
    }
    match slot.dtype() {
        DType::F32 => go::<f32>(slot, kind, value),
        DType::F64 => go::<f64>(slot, kind, value),
        _ => false,
    }
}

impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<tf.Variable '{}' shape={} dtype={}>",
            self.name(),
            self.shape(),
            self.dtype()
        )
    }
}
