//! The definition of an op: name, arity, shape/dtype inference and kernels.
//!
//! Every op is one [`OpDef`]. Built-in ops are `static`s in their family module under
//! `ops/`; user crates make their own with [`OpDef::new`] and
//! [`register_op`](crate::op::register_op). The same inference function serves the eager
//! path (to validate and size outputs) and tracing (partial shapes), so a new op touches
//! one place.

use super::attrs::{AttrValue, Attrs};
use crate::device::{Device, DeviceKind};
use crate::dtype::{DType, DTypeSet};
use crate::error::{Error, Result};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;
use smallvec::SmallVec;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// The dtype and (possibly partial) shape of a tensor, as inferred or as declared in an
/// input signature (TensorFlow's `tf.TensorSpec`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    /// Element type.
    pub dtype: DType,
    /// Shape; `None` dimensions are unknown.
    pub shape: PartialShape,
}

impl TensorSpec {
    /// A spec from a dtype and anything convertible to a partial shape.
    pub fn new(dtype: DType, shape: impl Into<PartialShape>) -> TensorSpec {
        TensorSpec {
            dtype,
            shape: shape.into(),
        }
    }

    /// Whether a concrete tensor matches (same dtype, compatible shape).
    pub fn is_compatible_with(&self, t: &Tensor) -> bool {
        self.dtype == t.dtype() && self.shape.is_compatible_with(t.dims())
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

/// Output specs of one op call (inline up to two).
pub type Specs = SmallVec<[TensorSpec; 2]>;

/// How many inputs an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Fixed(usize),
    /// At least this many (concat, stack, add_n).
    AtLeast(usize),
    /// Between the two bounds, inclusive.
    Range(usize, usize),
}

impl Arity {
    fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Fixed(k) => n == k,
            Arity::AtLeast(k) => n >= k,
            Arity::Range(lo, hi) => n >= lo && n <= hi,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Fixed(k) => write!(f, "{k}"),
            Arity::AtLeast(k) => write!(f, "at least {k}"),
            Arity::Range(lo, hi) => write!(f, "{lo} to {hi}"),
        }
    }
}

/// Shape and dtype inference: from input dtypes/shapes and attributes, the output specs.
/// Works on partial shapes so the tracing path can use it unchanged.
pub type InferFn = fn(&InferContext<'_>) -> Result<Specs>;

/// A kernel: computes the outputs of one call on one device.
pub type KernelFn = fn(&KernelContext<'_>) -> Result<Vec<Tensor>>;

/// What shape inference sees of a call.
pub struct InferContext<'a> {
    /// The op being called.
    pub op: &'static OpDef,
    /// The inputs (concrete or symbolic).
    pub inputs: &'a [Tensor],
    /// The call's attributes.
    pub attrs: &'a Attrs,
}

impl<'a> InferContext<'a> {
    /// The op's name, for error messages.
    pub fn name(&self) -> &'static str {
        self.op.name
    }

    /// Input `i`.
    pub fn input(&self, i: usize) -> &'a Tensor {
        &self.inputs[i]
    }

    /// Number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The dtype of input `i`.
    pub fn dtype(&self, i: usize) -> DType {
        self.inputs[i].dtype()
    }

    /// The (partial) shape of input `i`.
    pub fn shape(&self, i: usize) -> PartialShape {
        self.inputs[i].partial_shape()
    }

    /// The value of input `i` if it is concrete and on the host (for shape functions that
    /// need values, like TensorFlow's constant-value shape inference).
    pub fn value(&self, i: usize) -> Option<&'a Tensor> {
        let t = &self.inputs[i];
        (!t.is_symbolic()).then_some(t)
    }

    /// Checks that input `i` has a dtype in `allowed`, naming the op otherwise.
    pub fn check_dtype(&self, i: usize, allowed: DTypeSet) -> Result<DType> {
        let dt = self.dtype(i);
        if allowed.contains(dt) {
            Ok(dt)
        } else {
            Err(Error::invalid(
                self.name(),
                format!("input {i} has dtype {dt}, expected one of {allowed}"),
            ))
        }
    }

    /// Checks that all inputs share one dtype (TensorFlow never promotes implicitly).
    pub fn same_dtype(&self) -> Result<DType> {
        let first = self.dtype(0);
        for (i, t) in self.inputs.iter().enumerate().skip(1) {
            if t.dtype() != first {
                return Err(Error::invalid(
                    self.name(),
                    format!(
                        "input {i} has dtype {} but input 0 has {first}; cast one of them",
                        t.dtype()
                    ),
                ));
            }
        }
        Ok(first)
    }

    /// A required attribute.
    pub fn attr(&self, name: &str) -> Result<&'a AttrValue> {
        self.attrs
            .get(name)
            .ok_or_else(|| missing_attr(self.name(), name, "a value"))
    }

    /// A required int attribute.
    pub fn attr_int(&self, name: &str) -> Result<i64> {
        self.attrs
            .int(name)
            .ok_or_else(|| missing_attr(self.name(), name, "int"))
    }

    /// A required float attribute.
    pub fn attr_float(&self, name: &str) -> Result<f64> {
        self.attrs
            .float(name)
            .ok_or_else(|| missing_attr(self.name(), name, "float"))
    }

    /// A required bool attribute.
    pub fn attr_bool(&self, name: &str) -> Result<bool> {
        self.attrs
            .bool(name)
            .ok_or_else(|| missing_attr(self.name(), name, "bool"))
    }

    /// A required dtype attribute.
    pub fn attr_dtype(&self, name: &str) -> Result<DType> {
        self.attrs
            .dtype(name)
            .ok_or_else(|| missing_attr(self.name(), name, "dtype"))
    }

    /// A required string attribute.
    pub fn attr_str(&self, name: &str) -> Result<&'a str> {
        self.attrs
            .str(name)
            .ok_or_else(|| missing_attr(self.name(), name, "string"))
    }

    /// A required list-of-ints attribute.
    pub fn attr_ints(&self, name: &str) -> Result<&'a [i64]> {
        self.attrs
            .ints(name)
            .ok_or_else(|| missing_attr(self.name(), name, "list(int)"))
    }
}

fn missing_attr(op: &'static str, name: &str, kind: &str) -> Error {
    Error::invalid(
        op,
        format!("missing or mistyped attribute '{name}' (expected {kind})"),
    )
}

/// What a kernel sees of a call: inputs already on `device`, attributes and the output
/// specs from inference.
pub struct KernelContext<'a> {
    /// The op being run.
    pub op: &'static OpDef,
    /// The inputs, on `device`.
    pub inputs: &'a [Tensor],
    /// The attributes.
    pub attrs: &'a Attrs,
    /// Output specs from shape inference (fully known for eager inputs, except for ops
    /// whose output shape depends on input values).
    pub outputs: &'a [TensorSpec],
    /// The device the kernel runs on.
    pub device: Device,
}

impl<'a> KernelContext<'a> {
    /// The op's name, for error messages.
    pub fn name(&self) -> &'static str {
        self.op.name
    }

    /// Input `i`.
    pub fn input(&self, i: usize) -> &'a Tensor {
        &self.inputs[i]
    }

    /// The inferred dtype of output `i`.
    pub fn out_dtype(&self, i: usize) -> DType {
        self.outputs[i].dtype
    }

    /// The inferred shape of output `i`, which must be fully known.
    pub fn out_shape(&self, i: usize) -> Result<Shape> {
        self.outputs[i].shape.to_shape().ok_or_else(|| {
            Error::precondition(
                self.name(),
                format!(
                    "output {i} shape {} is not fully known",
                    self.outputs[i].shape
                ),
            )
        })
    }

    /// Same accessors as [`InferContext`] for attributes.
    pub fn infer(&self) -> InferContext<'a> {
        InferContext {
            op: self.op,
            inputs: self.inputs,
            attrs: self.attrs,
        }
    }

    /// A required int attribute.
    pub fn attr_int(&self, name: &str) -> Result<i64> {
        self.infer().attr_int(name)
    }

    /// A required float attribute.
    pub fn attr_float(&self, name: &str) -> Result<f64> {
        self.infer().attr_float(name)
    }

    /// A required bool attribute.
    pub fn attr_bool(&self, name: &str) -> Result<bool> {
        self.infer().attr_bool(name)
    }

    /// A required string attribute.
    pub fn attr_str(&self, name: &str) -> Result<&'a str> {
        self.infer().attr_str(name)
    }

    /// A required list-of-ints attribute.
    pub fn attr_ints(&self, name: &str) -> Result<&'a [i64]> {
        self.infer().attr_ints(name)
    }

    /// The error for a dtype this kernel does not handle.
    pub fn unsupported_dtype(&self, dtype: DType) -> Error {
        Error::unimplemented(
            self.name(),
            format!("no {:?} kernel for dtype {dtype}", self.device.kind()),
        )
    }
}

/// One registered kernel: device kind, the dtypes it handles (keyed on the dispatch
/// dtype, see [`OpDef::dispatch_dtype`]) and the function.
#[derive(Clone, Copy)]
pub struct KernelEntry {
    /// Device kind.
    pub kind: DeviceKind,
    /// Dtypes handled.
    pub dtypes: DTypeSet,
    /// The kernel.
    pub kernel: KernelFn,
}

/// An op: one registration holding everything the layers need.
pub struct OpDef {
    /// TensorFlow's op type name (`"AddV2"`, `"MatMul"`, `"Conv2D"`).
    pub name: &'static str,
    /// Number of inputs.
    pub arity: Arity,
    /// Dtypes accepted by the built-in CPU kernel (keyed on the dispatch dtype).
    pub cpu_dtypes: DTypeSet,
    /// Shape and dtype inference.
    pub infer: InferFn,
    /// The built-in CPU kernel.
    pub cpu_kernel: Option<KernelFn>,
    /// Stateful ops (random) are never merged or constant-folded by graph passes.
    pub stateful: bool,
    /// The kernel must run on the thread that dispatched the op (it reads that
    /// thread's state, e.g. a collective op reaching its replica's communicator): graph
    /// executors run a graph holding such an op in order on the calling thread.
    pub calling_thread: bool,
    /// Executors that run a graph in order start this node as soon as its inputs are
    /// ready, together with the pure nodes that only feed it, instead of at its place
    /// in program order (a non-blocking collective started while the rest of the graph
    /// computes). Program order stays the tie-break, so every process running the same
    /// graph runs such nodes in the same order.
    pub schedule_early: bool,
    /// Kernels registered at run time (extra devices, overrides); copy-on-write so that
    /// lookups on the hot path are one atomic load, no lock.
    extra: AtomicPtr<Vec<KernelEntry>>,
    id: AtomicU32,
}

impl OpDef {
    /// A new op definition with `infer` and no kernels; add them with the builder methods.
    pub const fn new(name: &'static str, arity: Arity, infer: InferFn) -> OpDef {
        OpDef {
            name,
            arity,
            cpu_dtypes: DTypeSet::NONE,
            infer,
            cpu_kernel: None,
            stateful: false,
            calling_thread: false,
            schedule_early: false,
            extra: AtomicPtr::new(std::ptr::null_mut()),
            id: AtomicU32::new(u32::MAX),
        }
    }

    /// Sets the CPU kernel and the dtypes it handles.
    pub const fn cpu(mut self, dtypes: DTypeSet, kernel: KernelFn) -> OpDef {
        self.cpu_dtypes = dtypes;
        self.cpu_kernel = Some(kernel);
        self
    }

    /// Marks the op stateful.
    pub const fn stateful(mut self) -> OpDef {
        self.stateful = true;
        self
    }

    /// Pins the op's kernel to the thread that dispatches it (see
    /// [`calling_thread`](OpDef::calling_thread)).
    pub const fn on_calling_thread(mut self) -> OpDef {
        self.calling_thread = true;
        self
    }

    /// Asks in-order graph executors to run the op as early as its inputs allow (see
    /// [`schedule_early`](OpDef::schedule_early)).
    pub const fn scheduled_early(mut self) -> OpDef {
        self.schedule_early = true;
        self
    }

    /// A dense id in `0..registered_ops().len()`, stable for the process (upper layers
    /// use it to index side tables, e.g. gradient functions).
    pub fn id(&'static self) -> u32 {
        let id = self.id.load(Ordering::Acquire);
        if id != u32::MAX {
            return id;
        }
        super::registry::ensure_registered(self)
    }

    pub(crate) fn set_id(&self, id: u32) {
        self.id.store(id, Ordering::Release);
    }

    /// Registers a kernel for a device kind and dtypes. Later registrations take
    /// precedence over earlier ones and over the built-in CPU kernel.
    pub fn register_kernel(&self, kind: DeviceKind, dtypes: DTypeSet, kernel: KernelFn) {
        static WRITE: Mutex<()> = Mutex::new(());
        let _guard = WRITE.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.extra.load(Ordering::Acquire);
        // SAFETY: non-null pointers stored in `extra` come from `Box::into_raw` below and
        // are never freed (readers may hold them), so `old` is valid for reads.
        let mut list = if old.is_null() {
            Vec::new()
        } else {
            unsafe { (*old).clone() }
        };
        list.insert(
            0,
            KernelEntry {
                kind,
                dtypes,
                kernel,
            },
        );
        // The previous table is leaked on purpose: registrations are rare and bounded,
        // and a concurrent lookup may still be reading it.
        self.extra
            .store(Box::into_raw(Box::new(list)), Ordering::Release);
    }

    /// The kernel for (device kind, dtype), if any.
    pub fn kernel_for(&self, kind: DeviceKind, dtype: DType) -> Option<KernelFn> {
        let extra = self.extra.load(Ordering::Acquire);
        if !extra.is_null() {
            // SAFETY: see `register_kernel`: tables are leaked, never freed.
            let list = unsafe { &*extra };
            if let Some(e) = list
                .iter()
                .find(|e| e.kind == kind && e.dtypes.contains(dtype))
            {
                return Some(e.kernel);
            }
        }
        match (kind, self.cpu_kernel) {
            (DeviceKind::Cpu, Some(k)) if self.cpu_dtypes.contains(dtype) => Some(k),
            _ => None,
        }
    }

    /// The dtype that selects a kernel: the first input's, or for ops without inputs
    /// the first output's.
    pub fn dispatch_dtype(inputs: &[Tensor], outputs: &[TensorSpec]) -> DType {
        inputs
            .first()
            .map(Tensor::dtype)
            .or_else(|| outputs.first().map(|s| s.dtype))
            .unwrap_or(DType::F32)
    }

    /// Errors (naming the op) when `n` inputs do not fit its arity.
    pub fn check_arity(&self, n: usize) -> Result<()> {
        if self.arity.accepts(n) {
            Ok(())
        } else {
            Err(Error::invalid(
                self.name,
                format!("expected {} inputs, got {n}", self.arity),
            ))
        }
    }
}

impl fmt::Debug for OpDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpDef({})", self.name)
    }
}

/// One spec (the usual case) as [`Specs`].
pub fn spec1(dtype: DType, shape: PartialShape) -> Result<Specs> {
    let mut s = Specs::new();
    s.push(TensorSpec { dtype, shape });
    Ok(s)
}
