//! Signature runners: named inputs and outputs of a subgraph (`serving_default`).

use super::Interpreter;
use crate::error::{Error, Result};
use crate::format::Model;
use std::sync::Arc;

pub(super) fn keys(model: &Model) -> Vec<String> {
    model
        .signature_defs
        .iter()
        .flatten()
        .map(|s| s.signature_key.clone().unwrap_or_default())
        .collect()
}

/// Runs a model through one of its signatures, addressing inputs and outputs by name
/// (LiteRT's `get_signature_runner`).
pub struct SignatureRunner {
    key: String,
    interpreter: Interpreter,
    /// (name, position among the subgraph's inputs).
    inputs: Vec<(String, usize)>,
    /// (name, position among the subgraph's outputs).
    outputs: Vec<(String, usize)>,
}

impl SignatureRunner {
    /// A runner for signature `key` of `model`.
    ///
    /// Errors: no such signature, or a signature tensor that is not an input/output of its
    /// subgraph.
    pub fn new(model: Arc<Model>, key: &str, threads: usize) -> Result<Self> {
        let sig = model
            .signature_defs
            .iter()
            .flatten()
            .find(|s| s.signature_key.as_deref() == Some(key))
            .cloned()
            .ok_or_else(|| {
                Error::invalid(
                    "signature_runner",
                    format!("no signature '{key}' (the model has {:?})", keys(&model)),
                )
            })?;
        let mut interpreter = Interpreter::with_subgraph(model, sig.subgraph_index as usize)?;
        interpreter.set_num_threads(threads);
        let map = |list: &Option<Vec<crate::format::TensorMap>>, io: &[usize], what: &str| {
            list.iter()
                .flatten()
                .map(|m| {
                    let pos = io
                        .iter()
                        .position(|&t| t == m.tensor_index as usize)
                        .ok_or_else(|| {
                            Error::format(format!(
                                "signature '{key}': {what} '{}' (tensor {}) is not a subgraph {what}",
                                m.name.as_deref().unwrap_or(""),
                                m.tensor_index
                            ))
                        })?;
                    Ok((m.name.clone().unwrap_or_default(), pos))
                })
                .collect::<Result<Vec<_>>>()
        };
        let inputs = map(&sig.inputs, interpreter.inputs(), "input")?;
        let outputs = map(&sig.outputs, interpreter.outputs(), "output")?;
        Ok(SignatureRunner {
            key: key.to_string(),
            interpreter,
            inputs,
            outputs,
        })
    }

    /// The signature's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Input names, in signature order.
    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Output names, in signature order.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The underlying interpreter.
    pub fn interpreter(&mut self) -> &mut Interpreter {
        &mut self.interpreter
    }

    /// Runs with the named inputs and returns every output by name.
    ///
    /// Errors: a missing or unknown input name, a dtype mismatch, or a failing operator.
    pub fn run(
        &mut self,
        inputs: &[(&str, &tf_core::Tensor)],
    ) -> Result<Vec<(String, tf_core::Tensor)>> {
        for (name, _) in inputs {
            if !self.inputs.iter().any(|(n, _)| n == name) {
                return Err(Error::invalid(
                    "SignatureRunner::run",
                    format!(
                        "signature '{}' has no input '{name}' (inputs: {:?})",
                        self.key,
                        self.input_names()
                    ),
                ));
            }
        }
        for (name, pos) in &self.inputs {
            let value = inputs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    Error::invalid("SignatureRunner::run", format!("input '{name}' is missing"))
                })?;
            self.interpreter.set_input(*pos, value)?;
        }
        self.interpreter.invoke()?;
        self.outputs
            .iter()
            .map(|(name, pos)| Ok((name.clone(), self.interpreter.output_tensor(*pos)?)))
            .collect()
    }
}
