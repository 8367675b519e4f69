//! The traced train step: Keras's default `tf.function` around `train_step`.
//!
//! The first step for a given argument signature (dtypes and exact shapes of inputs,
//! targets and sample weights) traces forward pass, loss, gradients and optimizer update
//! into a tf-graph [`ConcreteFunction`]; later steps with the same signature run the
//! optimized graph. Weights and optimizer slots are created eagerly before the trace
//! (the model is built and the optimizer's slots exist), so the graph only reads and
//! assigns variables. Metrics are updated eagerly on the graph's outputs (loss and
//! predictions). A full epoch usually traces twice: the full batches and the last,
//! smaller one.
//!
//! When a step cannot be traced (a custom layer that reads values on the host, an op
//! without shape inference, ...), the step runs eagerly, the reason is logged once with
//! `tracing::warn!` and kept in [`Compiled::trace_fallback`](super::Compiled), and later
//! steps run eagerly too.

use super::Model;
use tf_core::op::TensorSpec;
use tf_core::{PartialShape, Result, Tensor};
use tf_graph::{ConcreteFunction, Pipeline};

/// Traced train steps, one per argument signature.
#[derive(Default)]
pub(crate) struct TrainFunctions {
    /// `(number of inputs, number of targets, argument specs)` and the traced step.
    entries: Vec<((usize, usize, Vec<TensorSpec>), ConcreteFunction)>,
}

impl TrainFunctions {
    fn get(&self, key: &(usize, usize, Vec<TensorSpec>)) -> Option<&ConcreteFunction> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, f)| f)
    }
}

/// The specs of concrete arguments (exact shapes).
fn specs_of(args: &[Tensor]) -> Vec<TensorSpec> {
    args.iter()
        .map(|a| TensorSpec::new(a.dtype(), PartialShape::known(a.dims())))
        .collect()
}

/// Splits a step's outputs `[loss, preds...]`.
fn split_outputs(mut out: Vec<Tensor>, step: &'static str) -> Result<(Tensor, Vec<Tensor>)> {
    if out.is_empty() {
        return Err(tf_core::Error::precondition(
            step,
            "the traced step returned no loss",
        ));
    }
    let loss = out.remove(0);
    Ok((loss, out))
}

impl Model {
    /// One training step through the traced graph for this signature (tracing it on
    /// first use). Returns the loss and the predictions. Falls back to
    /// [`step_eagerly`](Model::step_eagerly) when tracing fails.
    pub(crate) fn step_traced(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        const STEP: &str = "Model::train_step";
        let mut args: Vec<Tensor> = Vec::with_capacity(xs.len() + ys.len() + 1);
        args.extend(xs.iter().cloned());
        args.extend(ys.iter().cloned());
        args.extend(sample_weight.cloned());
        let key = (xs.len(), ys.len(), specs_of(&args));
        let compiled = self
            .compiled
            .as_mut()
            .ok_or_else(|| super::training::not_compiled("train_step"))?;
        if let Some(f) = compiled.train_functions.get(&key) {
            return split_outputs(f.call(&args)?, STEP);
        }
        // Everything stateful is created eagerly before tracing.
        let vars = self.trainable_weights()?;
        if let Some(c) = self.compiled.as_mut() {
            c.optimizer.build(&vars)?;
        }
        let (nx, ny) = (xs.len(), ys.len());
        let traced = {
            let model: &mut Model = self;
            let mut body = |a: &[Tensor]| -> Result<Vec<Tensor>> {
                let (x, rest) = a.split_at(nx.min(a.len()));
                let (y, w) = rest.split_at(ny.min(rest.len()));
                let (loss, preds) = model.step_eagerly(x, y, w.first())?;
                let mut out = Vec::with_capacity(preds.len() + 1);
                out.push(loss);
                out.extend(preds);
                Ok(out)
            };
            ConcreteFunction::trace("train_step", &key.2, false, &Pipeline::default(), &mut body)
        };
        match traced {
            Ok(f) => {
                let out = f.call(&args)?;
                if let Some(c) = self.compiled.as_mut() {
                    c.train_functions.entries.push((key, f));
                }
                split_outputs(out, STEP)
            }
            Err(e) => {
                // Run this step eagerly; only when that works is tracing given up for
                // good (otherwise the eager error is the one the user needs).
                let result = self.step_eagerly(xs, ys, sample_weight)?;
                let reason = format!("the train step could not be traced ({e}); running eagerly");
                tracing::warn!(target: "tf_keras", model = %self.name, "{reason}");
                if let Some(c) = self.compiled.as_mut() {
                    c.trace_fallback = Some(reason);
                }
                Ok(result)
            }
        }
    }
}
