//! `model.export(dir)`: the inference function traced with tf-graph and written as a
//! SavedModel with a `serving_default` signature (what tf-serving loads), like Keras's
//! `Model.export(filepath, format="tf_saved_model")`.

use crate::layers::Layer;
use crate::models::Model;
use std::path::Path;
use std::rc::Rc;
use tf_core::op::TensorSpec;
use tf_core::{Error, Result};
use tf_graph::{ConcreteFunction, Pipeline, Signature, saved_model};

impl Model {
    /// The model inputs as `(name, spec)`: input layer names, batch dimension unknown.
    fn serving_inputs(&self) -> Result<Vec<(String, TensorSpec)>> {
        let layers = self.layers();
        let mut out = Vec::new();
        match self.input_layer() {
            Some(input) => out.push((
                input.base().name.clone(),
                TensorSpec::new(input.base().dtype, input.batch_shape().clone()),
            )),
            None => {
                for (t, name) in self.input_tensors_with_names()? {
                    out.push((name, TensorSpec::new(t.dtype(), t.shape().clone())));
                }
            }
        }
        if out.is_empty() || layers.is_empty() {
            return Err(Error::precondition(
                format!("Model::export ('{}')", self.name()),
                "the model has no known input shape: build it or call it on data first",
            ));
        }
        Ok(out)
    }

    /// Keras's `model.export(dir)`: traces the forward pass (inference mode) for inputs
    /// of the model's input shapes with a free batch dimension and writes a SavedModel
    /// directory with one `serving_default` signature. Inputs are named after the input
    /// layers, outputs `output_0`, `output_1`, ... (Keras's names). Errors when the model
    /// is not built, when its forward pass cannot be traced, or on I/O failure.
    pub fn export(&self, dir: impl AsRef<Path>) -> Result<()> {
        let inputs = self.serving_inputs()?;
        let specs: Vec<TensorSpec> = inputs.iter().map(|(_, s)| s.clone()).collect();
        let mut body = |a: &[tf_core::Tensor]| self.forward(a, false);
        let function = ConcreteFunction::trace(
            "serving_default",
            &specs,
            false,
            &Pipeline::default(),
            &mut body,
        )?;
        let n_out = function.output_specs().len();
        let out_names: Vec<String> = (0..n_out).map(|i| format!("output_{i}")).collect();
        let in_names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
        let out_refs: Vec<&str> = out_names.iter().map(String::as_str).collect();
        let sig = Signature::new("serving_default", Rc::new(function))
            .inputs(&in_names)
            .outputs(&out_refs);
        saved_model::save(dir, &[sig])
    }
}
