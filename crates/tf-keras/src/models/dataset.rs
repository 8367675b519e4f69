//! `fit` / `evaluate` / `predict` on a tf-data [`Dataset`] of batches, as Keras accepts
//! a `tf.data.Dataset`.
//!
//! Each element is one batch: `(x, y)` or `(x, y, sample_weight)` tuples for training
//! and evaluation, `x` (or a tuple whose first component is `x`) for prediction. For a
//! model with several inputs (outputs), `x` (`y`) is a tuple with one tensor per input
//! (output), in the model's order. Each epoch iterates the dataset afresh, so
//! `shuffle` in the pipeline reshuffles every epoch; `FitOptions::shuffle`,
//! `batch_size` and `validation_split` do not apply to datasets.

use super::Model;
use super::data::{Data, class_sample_weights};
use super::options::FitOptions;
use super::training::{BatchIter, Validation, not_compiled};
use crate::callbacks::{History, Logs};
use tf_core::{DType, Error, Result, Tensor, ops};
use tf_data::{Cardinality, Dataset, Element};

/// The tensors of `x` or `y`: a tensor, or a tuple of tensors.
fn tensors(e: &Element, what: &str) -> Result<Vec<Tensor>> {
    match e {
        Element::Tensor(t) => Ok(vec![t.clone()]),
        Element::Tuple(parts) => parts
            .iter()
            .map(|p| {
                p.tensor().cloned().map_err(|_| {
                    Error::invalid(
                        "Model (Dataset input)",
                        format!("{what} must be a tensor or a tuple of tensors, found a {} inside the tuple", p.kind()),
                    )
                })
            })
            .collect(),
        other => Err(Error::invalid(
            "Model (Dataset input)",
            format!(
                "{what} must be a tensor or a tuple of tensors, found {}",
                other.kind()
            ),
        )),
    }
}

/// Keras's `unpack_x_y_sample_weight` for one batch element.
fn unpack(e: &Element) -> Result<Data> {
    let (x, y, sw) = match e {
        Element::Tuple(parts) => match parts.as_slice() {
            [x] => (x, None, None),
            [x, y] => (x, Some(y), None),
            [x, y, w] => (x, Some(y), Some(w)),
            _ => {
                return Err(Error::invalid(
                    "Model (Dataset input)",
                    format!(
                        "a dataset element must be x, (x,), (x, y) or (x, y, sample_weight); found a tuple of {}",
                        parts.len()
                    ),
                ));
            }
        },
        other => (other, None, None),
    };
    let sw = match sw {
        Some(w) => Some(w.tensor().cloned().map_err(|_| {
            Error::invalid(
                "Model (Dataset input)",
                format!("sample_weight must be a tensor, found {}", w.kind()),
            )
        })?),
        None => None,
    };
    Data::new(
        &tensors(x, "x")?,
        &match y {
            Some(y) => tensors(y, "y")?,
            None => Vec::new(),
        },
        sw.as_ref(),
    )
}

/// The number of batches per epoch (`None` when unknown); errors for infinite datasets.
fn steps_of(ds: &Dataset, what: &str) -> Result<Option<usize>> {
    match ds.cardinality() {
        Cardinality::Finite(n) => Ok(usize::try_from(n).ok()),
        Cardinality::Unknown => Ok(None),
        Cardinality::Infinite => Err(Error::invalid(
            format!("Model::{what}"),
            "the dataset is infinite (repeat() without a count): limit it with take(n)",
        )),
    }
}

impl Model {
    /// Keras's `fit(dataset)`: trains on a dataset whose elements are batches `(x, y)`
    /// or `(x, y, sample_weight)`, iterated once per epoch. Uses `epochs`, `verbose`,
    /// `callbacks`, `class_weight`, `initial_epoch`, `validation_data` /
    /// `validation_dataset` of `options`; errors for `validation_split` (as Keras does),
    /// infinite datasets, and elements without targets.
    pub fn fit_dataset(&mut self, ds: &Dataset, mut options: FitOptions) -> Result<History> {
        if self.compiled.is_none() {
            return Err(not_compiled("fit"));
        }
        if options.validation_split > 0.0 {
            return Err(Error::invalid(
                "Model::fit_dataset",
                "validation_split is not supported with a Dataset: pass validation_dataset",
            ));
        }
        let steps = steps_of(ds, "fit_dataset")?;
        let validation = match (
            options.validation_dataset.take(),
            options.validation_data.take(),
        ) {
            (Some(v), _) => Some(Validation::Dataset(v)),
            (None, Some((vx, vy))) => Some(Validation::Data(
                Data::new(&vx, &vy, None)?,
                options.batch_size.max(1),
            )),
            (None, None) => None,
        };
        let class_weight = options.class_weight.clone();
        let ds = ds.clone();
        let mut epoch_batches = move |_seed: u64| -> Result<BatchIter> {
            let cw = class_weight.clone();
            Ok(Box::new(ds.iter()?.map(move |e| {
                let mut b = unpack(&e?)?;
                let Some(y0) = b.ys.first() else {
                    return Err(Error::invalid(
                        "Model::fit_dataset",
                        "dataset elements have no targets: use (x, y) tuples",
                    ));
                };
                if !cw.is_empty() {
                    let w = class_sample_weights(y0, &cw)?;
                    b.sw = Some(match b.sw.take() {
                        Some(s) => ops::mul(&ops::cast(&s, DType::F32)?, &w)?,
                        None => w,
                    });
                }
                Ok(b)
            })))
        };
        // An unbuilt Sequential model is built by the first train step.
        self.fit_loop(&mut epoch_batches, steps, validation, options)
    }

    /// Keras's `evaluate(dataset)`: the loss and metrics over a dataset of `(x, y)` or
    /// `(x, y, sample_weight)` batches, inference mode.
    pub fn evaluate_dataset(&mut self, ds: &Dataset) -> Result<Logs> {
        if self.compiled.is_none() {
            return Err(not_compiled("evaluate"));
        }
        steps_of(ds, "evaluate_dataset")?;
        self.reset_metrics()?;
        let mut logs = None;
        for e in ds.iter()? {
            let b = unpack(&e?)?;
            if b.ys.is_empty() {
                return Err(Error::invalid(
                    "Model::evaluate_dataset",
                    "dataset elements have no targets: use (x, y) tuples",
                ));
            }
            self.ensure_built_for(&b.xs)?;
            logs = Some(self.test_step(&b.xs, &b.ys, b.sw.as_ref())?);
        }
        match logs {
            Some(l) => Ok(l),
            None => Err(Error::invalid(
                "Model::evaluate_dataset",
                "the dataset is empty",
            )),
        }
    }

    /// Keras's `predict(dataset)`: the outputs for every batch's `x` (elements are `x`
    /// or tuples starting with `x`), concatenated along the batch axis; one tensor per
    /// model output. Errors for an empty or infinite dataset.
    pub fn predict_dataset(&mut self, ds: &Dataset) -> Result<Vec<Tensor>> {
        steps_of(ds, "predict_dataset")?;
        let mut parts: Vec<Vec<Tensor>> = Vec::new();
        for e in ds.iter()? {
            let b = unpack(&e?)?;
            self.ensure_built_for(&b.xs)?;
            let outs = self.predict_step(&b.xs)?;
            if parts.is_empty() {
                parts = vec![Vec::new(); outs.len()];
            }
            for (p, o) in parts.iter_mut().zip(outs) {
                p.push(o);
            }
        }
        if parts.is_empty() {
            return Err(Error::invalid(
                "Model::predict_dataset",
                "the dataset is empty",
            ));
        }
        parts
            .into_iter()
            .map(|mut p| {
                if p.len() == 1 {
                    Ok(p.remove(0))
                } else {
                    ops::concat(&p, 0)
                }
            })
            .collect()
    }
}
