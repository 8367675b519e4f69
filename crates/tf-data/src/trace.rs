//! Inferring the element spec of a user function the way TensorFlow does: by tracing
//! it once with placeholder inputs. Tensors become symbolic tensors, every op only runs
//! its shape inference (through a tf-core executor), and the spec of what the function
//! returns is read off. Nested datasets become spec-only placeholders; string tensors
//! of known shape become empty strings. When tracing fails (the function reads values,
//! errors or panics) the caller falls back to [`ElementSpec::Unknown`].

use crate::cardinality::Cardinality;
use crate::dataset::Dataset;
use crate::element::{ByteString, Element, ElementSpec, StringTensor};
use crate::sources::SpecOnly;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
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

/// Traces `f` on a placeholder for `input` and returns what `inspect` reads off its
/// result, or `None` when tracing is not possible.
pub(crate) fn trace<R>(input: &ElementSpec, f: impl FnOnce(Element) -> Result<R>) -> Option<R> {
    let ph = placeholder(input)?;
    let _guard = push_executor(Rc::new(SpecTracer));
    match catch_unwind(AssertUnwindSafe(|| f(ph))) {
        Ok(Ok(r)) => Some(r),
        _ => None,
    }
}
