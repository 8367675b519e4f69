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
use crate::layers::Layer;
use tf_core::{DType, Error, Result, Tensor, ops};
use tf_data::{Cardinality, Dataset, Element, ElementIter};
use tf_distribute::AutoShardPolicy;

/// The tensors of `x` or `y`: a tensor, a tuple of tensors, or a dict keyed by the
/// model's input (output) layer names, reordered into the model's order.
fn tensors(e: &Element, what: &str, names: &[String]) -> Result<Vec<Tensor>> {
    let bad = |found: &str| {
        Error::invalid(
            "Model (Dataset input)",
            format!(
                "{what} must be a tensor, a tuple of tensors or a dict of tensors, found {found}"
            ),
        )
    };
    match e {
        Element::Tensor(t) => Ok(vec![t.clone()]),
        Element::Tuple(parts) => parts
            .iter()
            .map(|p| {
                p.tensor()
                    .cloned()
                    .map_err(|_| bad(&format!("a {} inside the tuple", p.kind())))
            })
            .collect(),
        Element::Map(m) => {
            let keys: Vec<&String> = m.keys().collect();
            // A single unnamed input (a Sequential model without Input) takes the
            // dict's only entry.
            let picked: Vec<&Element> = if names.is_empty() && m.len() == 1 {
                m.values().collect()
            } else {
                names
                    .iter()
                    .map(|n| {
                        m.get(n).ok_or_else(|| {
                            Error::invalid(
                                "Model (Dataset input)",
                                format!(
                                    "{what} is a dict without key '{n}': the model's {} are named {names:?}, the dict has {keys:?}",
                                    if what == "x" { "inputs" } else { "outputs" }
                                ),
                            )
                        })
                    })
                    .collect::<Result<_>>()?
            };
            picked
                .into_iter()
                .map(|p| {
                    p.tensor()
                        .cloned()
                        .map_err(|_| bad(&format!("a {} inside the dict", p.kind())))
                })
                .collect()
        }
        other => Err(bad(other.kind())),
    }
}

/// The model's input and output layer names (dict elements are matched to them).
struct Names {
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl Model {
    fn io_names(&self) -> Result<Names> {
        let inputs = match &self.topology {
            super::Topology::Sequential { input, .. } => {
                input.iter().map(|i| i.base().name.clone()).collect()
            }
            super::Topology::Functional(f) => f
                .inputs
                .iter()
                .map(|t| t.layer().name())
                .collect::<Result<_>>()?,
        };
        let outputs = match &self.topology {
            super::Topology::Sequential { layers, .. } => layers
                .last()
                .map(|l| l.name())
                .transpose()?
                .into_iter()
                .collect(),
            super::Topology::Functional(f) => f
                .outputs
                .iter()
                .map(|t| t.layer().name())
                .collect::<Result<_>>()?,
        };
        Ok(Names { inputs, outputs })
    }
}

/// Keras's `unpack_x_y_sample_weight` for one batch element.
fn unpack(e: &Element, names: &Names) -> Result<Data> {
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
        &tensors(x, "x", &names.inputs)?,
        &match y {
            Some(y) => tensors(y, "y", &names.outputs)?,
            None => Vec::new(),
        },
        sw.as_ref(),
    )
}

/// The next element of the iterator shared across epochs, starting a new pass over
/// `ds` when it is exhausted (`None` when the dataset is empty).
fn next_continuing(
    ds: &Dataset,
    current: &std::cell::RefCell<Option<ElementIter>>,
) -> Option<Result<Element>> {
    let mut cur = current.borrow_mut();
    for _ in 0..2 {
        if cur.is_none() {
            match ds.iter() {
                Ok(it) => *cur = Some(it),
                Err(e) => return Some(Err(e)),
            }
        }
        if let Some(e) = cur.as_mut().and_then(Iterator::next) {
            return Some(e);
        }
        *cur = None;
    }
    None
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
        let steps_per_epoch = options.steps_per_epoch;
        let steps = match steps_per_epoch {
            Some(n) => Some(n),
            None => steps_of(ds, "fit_dataset")?,
        };
        let validation = match (
            options.validation_dataset.take(),
            options.validation_data.take(),
        ) {
            (Some(v), _) => Some(Validation::Dataset(match options.validation_steps {
                Some(n) => v.take(i64::try_from(n).unwrap_or(i64::MAX)),
                None => v,
            })),
            (None, Some((vx, vy))) => Some(Validation::Data(
                Data::new(&vx, &vy, None)?,
                options.batch_size.max(1),
            )),
            (None, None) => None,
        };
        let class_weight = options.class_weight.clone();
        // Under a strategy: FILE (or OFF) gives each worker its own dataset, whose
        // batches are split into `workers` steps; DATA splits each global batch by rows
        // in `fit_loop`.
        let (ds, split, steps) = match &options.strategy {
            Some(s) if s.num_workers() > 1 => {
                let n = s.num_workers();
                let (local, applied) = tf_distribute::shard_dataset_with_policy(
                    ds,
                    options.auto_shard_policy,
                    s.worker_index(),
                    n,
                )?;
                match applied {
                    AutoShardPolicy::File | AutoShardPolicy::Off => (local, n, steps_per_epoch),
                    // Rows of each global batch: every worker must shuffle alike.
                    AutoShardPolicy::Data | AutoShardPolicy::Auto => {
                        (ds.with_shuffle_seed(s.shared_seed(options.seed)?), 1, steps)
                    }
                }
            }
            _ => (ds.clone(), 1, steps),
        };
        let names = std::rc::Rc::new(self.io_names()?);
        // With steps_per_epoch, one iterator runs across epochs (restarted when it
        // runs out), as Keras's epoch iterator does.
        let current: std::rc::Rc<std::cell::RefCell<Option<ElementIter>>> = Default::default();
        let mut epoch_batches = move |_seed: u64| -> Result<BatchIter> {
            let cw = class_weight.clone();
            let names = names.clone();
            let elements: Box<dyn Iterator<Item = Result<Element>>> = match steps_per_epoch {
                None => Box::new(ds.iter()?),
                Some(n) => {
                    let (ds, current) = (ds.clone(), current.clone());
                    Box::new((0..n).map_while(move |_| next_continuing(&ds, &current)))
                }
            };
            let batches = elements.map(move |e| {
                let mut b = unpack(&e?, &names)?;
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
            });
            if split == 1 {
                return Ok(Box::new(batches));
            }
            // This worker's batches, each split into `split` steps.
            let steps = batches.flat_map(move |b| -> Vec<Result<Data>> {
                let b = match b {
                    Ok(b) => b,
                    Err(e) => return vec![Err(e)],
                };
                let m = b.len();
                (0..split)
                    .map(|k| (m * k / split, m * (k + 1) / split))
                    .filter(|(a, z)| z > a)
                    .map(|(a, z)| b.slice(a, z))
                    .collect()
            });
            Ok(match steps_per_epoch {
                Some(n) => Box::new(steps.take(n)),
                None => Box::new(steps),
            })
        };
        // An unbuilt Sequential model is built by the first train step.
        self.fit_loop(&mut epoch_batches, steps, validation, split > 1, options)
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
        let names = self.io_names()?;
        for e in ds.iter()? {
            let b = unpack(&e?, &names)?;
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
        let names = self.io_names()?;
        for e in ds.iter()? {
            let b = unpack(&e?, &names)?;
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
