//! Inferring the element spec of a user function the way TensorFlow does: by tracing
//! it once with placeholder inputs. Tensors become symbolic tensors, every op only runs
//! its shape inference (through a tf-core executor), and the spec of what the function
//! returns is read off. Nested datasets become spec-only placeholders; string tensors
//! of known shape become empty strings. When tracing fails (the function reads values,
//! errors or panics) the caller falls back to [`ElementSpec::Unknown`].
//!
//! A panic during the trace (a function that unwraps a value it cannot read from a
//! symbolic tensor) is caught and not printed: a panic hook, installed once, stays
//! silent while this thread traces and otherwise calls the hook that was there before.

use crate::cardinality::Cardinality;
use crate::dataset::Dataset;
use crate::element::{ByteString, Element, ElementSpec, StringTensor};
use crate::sources::SpecOnly;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::{Arc, Once};
use tf_core::context::{Executor, push_executor};
use tf_core::op::{InferContext, OpCall};
use tf_core::variable::AssignKind;
use tf_core::{Result, Tensor, Variable};

/// Runs only shape inference: outputs are symbolic tensors with the inferred specs.
struct SpecTracer;

impl Executor for SpecTracer {
    fn execute(&self, call: &OpCall<'_>) -> Result<Vec<Tensor>> {
        let specs = (call.op.infer)(&InferContext {
            op: call.op,
            inputs: call.inputs,
            attrs: call.attrs,
        })?;
        Ok(specs
            .into_iter()
            .map(|s| Tensor::symbolic(s.dtype, s.shape, Arc::new(())))
            .collect())
    }
    fn read_variable(&self, var: &Variable) -> Result<Tensor> {
        Ok(var.value())
    }
    fn assign_variable(&self, _var: &Variable, _kind: AssignKind, _value: &Tensor) -> Result<()> {
        // Tracing must not change state.
        Ok(())
    }
}

/// A placeholder element for `spec`, or `None` when one cannot be made.
fn placeholder(spec: &ElementSpec) -> Option<Element> {
    Some(match spec {
        ElementSpec::Tensor(t) => {
            Element::Tensor(Tensor::symbolic(t.dtype, t.shape.clone(), Arc::new(())))
        }
        ElementSpec::Strings(s) => {
            let shape = s.to_shape()?;
            let n = shape.checked_num_elements()?;
            let empty: ByteString = Arc::from(&b""[..]);
            Element::Strings(StringTensor::new(vec![empty; n], shape).ok()?)
        }
        ElementSpec::Tuple(v) => Element::Tuple(v.iter().map(placeholder).collect::<Option<_>>()?),
        ElementSpec::Map(m) => Element::Map(
            m.iter()
                .map(|(k, s)| Some((k.clone(), placeholder(s)?)))
                .collect::<Option<_>>()?,
        ),
        ElementSpec::Dataset(inner) => Element::Dataset(Dataset::new(SpecOnly {
            spec: (**inner).clone(),
            cardinality: Cardinality::Unknown,
        })),
        ElementSpec::Unknown => return None,
    })
}

thread_local! {
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) the panic hook that is silent while this thread traces.
fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !TRACING.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Restores the tracing flag when dropped (traces nest: a traced function may build
/// datasets whose functions are traced in turn).
struct TracingFlag(bool);

impl Drop for TracingFlag {
    fn drop(&mut self) {
        let previous = self.0;
        TRACING.with(|t| t.set(previous));
    }
}

/// Traces `f` on a placeholder for `input`, returning what `f` returns, or `None` when
/// tracing is not possible (no placeholder for the spec; `f` errs or panics).
pub(crate) fn trace<R>(input: &ElementSpec, f: impl FnOnce(Element) -> Result<R>) -> Option<R> {
    let ph = placeholder(input)?;
    install_quiet_hook();
    let _guard = push_executor(Rc::new(SpecTracer));
    let _flag = TracingFlag(TRACING.with(|t| t.replace(true)));
    match catch_unwind(AssertUnwindSafe(|| f(ph))) {
        Ok(Ok(r)) => Some(r),
        _ => None,
    }
}
