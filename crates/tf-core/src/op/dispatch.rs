//! The single dispatch point every op goes through.
//!
//! [`dispatch`] checks the context stack (one thread-local read when empty), then either
//! hands the call to the topmost executor (tracing) or runs it eagerly:
//! shape inference, placement (scope device, else the inputs' device, else the CPU;
//! fallback to the CPU when the device has no kernel; inputs copied across devices),
//! then the kernel. Observers above the executor see the call and its outputs.

use super::attrs::Attrs;
use super::def::{InferContext, KernelContext, OpDef};
use crate::context;
use crate::device::{Device, DeviceKind, log_device_placement};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use smallvec::SmallVec;

/// One call of an op: which op, its inputs and its attributes.
#[derive(Clone, Copy)]
pub struct OpCall<'a> {
    /// The op.
    pub op: &'static OpDef,
    /// Input tensors.
    pub inputs: &'a [Tensor],
    /// Attributes.
    pub attrs: &'a Attrs,
}

impl<'a> OpCall<'a> {
    /// A call of `op` with `inputs` and `attrs`.
    pub fn new(op: &'static OpDef, inputs: &'a [Tensor], attrs: &'a Attrs) -> OpCall<'a> {
        OpCall { op, inputs, attrs }
    }
}

impl std::fmt::Debug for OpCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(", self.op.name)?;
        for (i, t) in self.inputs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}{}", t.dtype(), t.shape())?;
        }
        if !self.attrs.is_empty() {
            write!(f, "; {}", self.attrs)?;
        }
        f.write_str(")")
    }
}

/// Runs `call` through the context stack: the topmost executor if any, else eagerly;
/// then notifies the observers above that executor.
pub fn dispatch(call: &OpCall<'_>) -> Result<Vec<Tensor>> {
    if !context::is_active() {
        return execute_eager(call);
    }
    let handlers = context::handlers();
    let outputs = match &handlers.executor {
        Some(exec) => exec.execute(call)?,
        None => execute_eager(call)?,
    };
    for obs in &handlers.observers {
        obs.record_op(call, &outputs);
    }
    Ok(outputs)
}

/// [`dispatch`] for single-output ops: builds the call and returns output 0.
#[inline]
pub fn call1(op: &'static OpDef, inputs: &[Tensor], attrs: &Attrs) -> Result<Tensor> {
    let mut out = dispatch(&OpCall { op, inputs, attrs })?;
    if out.is_empty() {
        return Err(Error::precondition(op.name, "op produced no outputs"));
    }
    Ok(out.swap_remove(0))
}

/// [`dispatch`] returning all outputs.
#[inline]
pub fn call(op: &'static OpDef, inputs: &[Tensor], attrs: &Attrs) -> Result<Vec<Tensor>> {
    dispatch(&OpCall { op, inputs, attrs })
}

/// Runs a call eagerly, ignoring the context stack: inference, placement, kernel.
/// Executors use this to run real kernels.
pub fn execute_eager(call: &OpCall<'_>) -> Result<Vec<Tensor>> {
    let op = call.op;
    op.check_arity(call.inputs.len())?;
    for (i, t) in call.inputs.iter().enumerate() {
        if t.is_symbolic() {
            return Err(Error::precondition(
                op.name,
                format!(
                    "input {i} is a symbolic tensor from a traced function; it has no value outside that function"
                ),
            ));
        }
    }
    let specs = (op.infer)(&InferContext {
        op,
        inputs: call.inputs,
        attrs: call.attrs,
    })?;
    let dtype = OpDef::dispatch_dtype(call.inputs, &specs);
    let (device, kernel) = place(op, call.inputs, dtype)?;

    let moved: SmallVec<[Tensor; 4]>;
    let inputs = if call.inputs.iter().all(|t| t.device() == device) {
        call.inputs
    } else {
        moved = call
            .inputs
            .iter()
            .map(|t| {
                if t.device() == device {
                    Ok(t.clone())
                } else {
                    tracing::debug!(target: "tf_core::placement", op = op.name, from = %t.device(), to = %device, "copying input");
                    t.to(device)
                }
            })
            .collect::<Result<_>>()?;
        &moved
    };
    let mut outputs = kernel(&KernelContext {
        op,
        inputs,
        attrs: call.attrs,
        outputs: &specs,
        device,
    })?;
    // Every output is a tensor of its own: a kernel that hands an input back (identity,
    // no-op casts, ...) gets a fresh handle, so tapes never confuse an op's output with
    // its input.
    for o in outputs.iter_mut() {
        if call.inputs.iter().chain(inputs).any(|i| i.id() == o.id()) {
            *o = o.alias();
        }
    }
    if outputs.len() != specs.len() {
        return Err(Error::precondition(
            op.name,
            format!(
                "kernel produced {} outputs, shape inference expected {}",
                outputs.len(),
                specs.len()
            ),
        ));
    }
    Ok(outputs)
}

/// Chooses the device and kernel for an op.
fn place(
    op: &'static OpDef,
    inputs: &[Tensor],
    dtype: crate::DType,
) -> Result<(Device, super::KernelFn)> {
    let requested = context::scoped_device()
        .or_else(|| {
            inputs
                .iter()
                .map(Tensor::device)
                .find(|d| *d != Device::Cpu)
        })
        .unwrap_or(Device::Cpu);
    if requested.kind() != DeviceKind::Cpu {
        crate::device::ensure_backend(requested.kind());
    }
    if let Some(k) = op.kernel_for(requested.kind(), dtype) {
        if log_device_placement() {
            tracing::info!(target: "tf_core::placement", op = op.name, device = %requested, "executing op");
        }
        return Ok((requested, k));
    }
    if requested.kind() != DeviceKind::Cpu
        && let Some(k) = op.kernel_for(DeviceKind::Cpu, dtype)
    {
        tracing::debug!(target: "tf_core::placement", op = op.name, requested = %requested, dtype = %dtype, "no kernel on device, falling back to CPU");
        if log_device_placement() {
            tracing::info!(target: "tf_core::placement", op = op.name, device = %Device::Cpu, "executing op");
        }
        return Ok((Device::Cpu, k));
    }
    Err(Error::unimplemented(
        op.name,
        format!(
            "no kernel for dtype {dtype} on {requested} (CPU kernel handles {})",
            op.cpu_dtypes
        ),
    ))
}
