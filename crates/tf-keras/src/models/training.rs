//! Training: `compile`, `fit`, `evaluate`, `predict`, `train_on_batch`,
//! `test_on_batch`.
//!
//! One training step is [`Model::train_step`]: forward pass under a `GradientTape`,
//! loss (plus regularization), gradients, optimizer update, metric updates. By default
//! everything but the metric updates is traced into a tf-graph function (see
//! `traced`); [`Model::set_run_eagerly`] (Keras's `run_eagerly=True`) runs it op by op.

use super::Model;
use super::data::{Data, class_sample_weights};
use super::distributed::replica_batch;
use super::options::FitOptions;
use crate::callbacks::{History, Logs, ProgbarLogger, TrainParams};
use crate::losses::Loss;
use crate::metrics::{self, MeanState, Metric};
use crate::optimizers::Optimizer;
use tf_autodiff::GradientTape;
use tf_core::{Error, Result, Tensor, Variable, ops};

/// One epoch of training batches.
pub(crate) type BatchIter = Box<dyn Iterator<Item = Result<Data>>>;

/// Validation data of `fit`.
pub(crate) enum Validation {
    /// Tensors, evaluated in batches of the given size.
    Data(Data, usize),
    /// A batched dataset.
    Dataset(tf_data::Dataset),
}

/// What `compile` sets up.
pub struct Compiled {
    /// The optimizer.
    pub optimizer: Box<dyn Optimizer>,
    /// One loss per output (a single loss is used for every output).
    pub losses: Vec<Box<dyn Loss>>,
    /// Metrics, computed on the first output.
    pub metrics: Vec<Box<dyn Metric>>,
    /// The running mean of the loss (`loss` in logs).
    pub loss_tracker: MeanState,
    /// Run the train step op by op instead of as a traced graph (default false).
    pub run_eagerly: bool,
    /// Why the train step runs eagerly although `run_eagerly` is false (tracing failed).
    pub trace_fallback: Option<String>,
    /// The traced train steps, one per argument signature.
    pub(crate) train_functions: super::traced::TrainFunctions,
    /// Metric names as given to `compile` (for `compile_config`).
    pub metric_names: Vec<String>,
}

pub(crate) fn not_compiled(what: &str) -> Error {
    Error::precondition(
        format!("Model::{what}"),
        "the model must be compiled first (call compile)",
    )
}

impl Model {
    /// Keras's `compile`: the optimizer, the loss, and metrics by name (`"accuracy"`,
    /// `"mae"`, ...; see [`metrics::get`]).
    pub fn compile(
        &mut self,
        optimizer: impl Optimizer + 'static,
        loss: impl Loss + 'static,
        metrics: &[&str],
    ) -> Result<()> {
        let ms = metrics
            .iter()
            .map(|m| metrics::get(m))
            .collect::<Result<Vec<_>>>()?;
        self.compile_with(Box::new(optimizer), vec![Box::new(loss)], ms)?;
        if let Some(c) = &mut self.compiled {
            c.metric_names = metrics.iter().map(|s| s.to_string()).collect();
        }
        Ok(())
    }

    /// `compile` with boxed parts: one loss per output (or one for all) and metric
    /// objects.
    pub fn compile_with(
        &mut self,
        optimizer: Box<dyn Optimizer>,
        losses: Vec<Box<dyn Loss>>,
        metrics: Vec<Box<dyn Metric>>,
    ) -> Result<()> {
        if losses.is_empty() {
            return Err(Error::invalid("Model::compile", "needs a loss"));
        }
        let metric_names = metrics.iter().map(|m| m.name().to_string()).collect();
        self.predict_functions = Default::default();
        self.compiled = Some(Compiled {
            optimizer,
            losses,
            metrics,
            loss_tracker: MeanState::new("loss")?,
            run_eagerly: false,
            trace_fallback: None,
            train_functions: Default::default(),
            metric_names,
        });
        Ok(())
    }

    /// The compiled state, if any.
    pub fn compiled(&self) -> Option<&Compiled> {
        self.compiled.as_ref()
    }

    /// Keras's `run_eagerly`: `true` runs [`train_step`](Model::train_step) op by op,
    /// `false` (the default after `compile`) runs it as a traced graph. Errors when the
    /// model is not compiled.
    pub fn set_run_eagerly(&mut self, run_eagerly: bool) -> Result<()> {
        let c = self
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled("set_run_eagerly"))?;
        c.run_eagerly = run_eagerly;
        Ok(())
    }

    /// Whether train steps run as a traced graph (compiled, `run_eagerly` off, and
    /// tracing did not fail).
    pub fn is_traced(&self) -> bool {
        self.compiled
            .as_ref()
            .is_some_and(|c| !c.run_eagerly && c.trace_fallback.is_none())
    }

    /// The optimizer's current learning rate.
    pub fn optimizer_learning_rate(&self) -> Result<f64> {
        self.compiled
            .as_ref()
            .ok_or_else(|| not_compiled("optimizer_learning_rate"))?
            .optimizer
            .learning_rate()
    }

    /// Sets the optimizer's learning rate.
    pub fn set_optimizer_learning_rate(&mut self, lr: f64) -> Result<()> {
        let c = self
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled("set_optimizer_learning_rate"))?;
        if matches!(
            c.optimizer.base().learning_rate,
            crate::optimizers::LearningRate::Schedule(_)
        ) {
            // The traced steps evaluate the schedule; a constant replaces it.
            c.train_functions = Default::default();
        }
        c.optimizer.set_learning_rate(lr)
    }

    /// The total loss for a batch: each output's loss plus regularization losses.
    pub(crate) fn compute_loss(
        &self,
        ys: &[Tensor],
        preds: &[Tensor],
        masks: &[Option<Tensor>],
        sw: Option<&Tensor>,
    ) -> Result<Tensor> {
        let c = self
            .compiled
            .as_ref()
            .ok_or_else(|| not_compiled("compute_loss"))?;
        if ys.len() != preds.len() {
            return Err(Error::invalid(
                "Model::compute_loss",
                format!(
                    "the model has {} outputs but {} targets were given",
                    preds.len(),
                    ys.len()
                ),
            ));
        }
        let mut total: Option<Tensor> = None;
        for (i, (y, p)) in ys.iter().zip(preds).enumerate() {
            let loss = c
                .losses
                .get(i)
                .or_else(|| c.losses.first())
                .ok_or_else(|| not_compiled("compute_loss"))?;
            let mask = masks.get(i).and_then(Option::as_ref);
            let l = loss.compute_masked(y, p, sw, mask)?;
            total = Some(match total {
                None => l,
                Some(t) => ops::add(&t, &l)?,
            });
        }
        let mut total = total.ok_or_else(|| Error::invalid("Model::compute_loss", "no outputs"))?;
        for r in self.losses()? {
            total = ops::add(&total, &ops::cast(&r, total.dtype())?)?;
        }
        Ok(total)
    }

    /// Adds a batch to the loss tracker and the metrics (ops on their state variables,
    /// so this also traces).
    pub(crate) fn update_metric_states(
        &mut self,
        loss: &Tensor,
        batch: usize,
        ys: &[Tensor],
        preds: &[Tensor],
        masks: &[Option<Tensor>],
        sw: Option<&Tensor>,
    ) -> Result<()> {
        let c = self
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled("update_metrics"))?;
        let weight = Tensor::from_scalar(batch as f32);
        let l = ops::cast(loss, tf_core::DType::F32)?;
        c.loss_tracker.update(&l, Some(&weight))?;
        if let (Some(y), Some(p)) = (ys.first(), preds.first()) {
            let mask = masks.first().and_then(Option::as_ref);
            for m in &mut c.metrics {
                m.update_state_masked(y, p, sw, mask)?;
            }
        }
        Ok(())
    }

    fn update_metrics(
        &mut self,
        loss: &Tensor,
        batch: usize,
        ys: &[Tensor],
        preds: &[Tensor],
        masks: &[Option<Tensor>],
        sw: Option<&Tensor>,
    ) -> Result<Logs> {
        self.update_metric_states(loss, batch, ys, preds, masks, sw)?;
        self.metric_logs()
    }

    /// The current results of the loss tracker and metrics.
    pub fn metric_logs(&self) -> Result<Logs> {
        let c = self
            .compiled
            .as_ref()
            .ok_or_else(|| not_compiled("metric_logs"))?;
        let mut logs = Logs::new();
        logs.insert("loss", c.loss_tracker.result()?);
        for m in &c.metrics {
            logs.insert(m.name(), m.result()?);
        }
        Ok(logs)
    }

    /// Clears the loss tracker and metrics.
    pub fn reset_metrics(&mut self) -> Result<()> {
        let c = self
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled("reset_metrics"))?;
        c.loss_tracker.reset()?;
        for m in &mut c.metrics {
            m.reset_state()?;
        }
        Ok(())
    }

    /// One training step on a batch: forward (training mode) under a tape, loss,
    /// gradients of the trainable weights, optimizer update, metric updates. Returns
    /// the running logs. Runs as a traced graph unless `run_eagerly` is set (or tracing
    /// failed, see [`Compiled::trace_fallback`]).
    pub fn train_step(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        let Some(c) = self.compiled.as_ref() else {
            return Err(not_compiled("train_step"));
        };
        // Inside someone else's trace or tape the step is simply recorded op by op.
        let eager = c.run_eagerly || c.trace_fallback.is_some() || tf_core::context::is_active();
        let batch = xs
            .first()
            .and_then(|x| x.dims().first().copied())
            .unwrap_or(0);
        // Build (first call) outside the tape and the trace so weight creation is not
        // recorded.
        self.ensure_built_for(xs)?;
        if eager {
            let (loss, preds, masks) = self.step_eagerly(xs, ys, sample_weight)?;
            self.update_metrics(&loss, batch, ys, &preds, &masks, sample_weight)
        } else {
            self.step_traced(xs, ys, sample_weight)?;
            self.metric_logs()
        }
    }

    /// Forward, loss, gradients and optimizer update of one step, op by op (this is
    /// also what gets traced). Returns the loss and the predictions.
    pub(crate) fn step_eagerly(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<(Tensor, Vec<Tensor>, Vec<Option<Tensor>>)> {
        self.step_with_gradients(xs, ys, sample_weight, &mut |g| Ok(g))
    }

    /// [`step_eagerly`](Self::step_eagerly) with `reduce` applied to the gradients
    /// before the optimizer update (the all-reduce of distributed training).
    pub(crate) fn step_with_gradients(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        sample_weight: Option<&Tensor>,
        reduce: &mut dyn FnMut(Vec<Option<Tensor>>) -> Result<Vec<Option<Tensor>>>,
    ) -> Result<(Tensor, Vec<Tensor>, Vec<Option<Tensor>>)> {
        let vars: Vec<Variable> = self.trainable_weights()?;
        let tape = GradientTape::new();
        let (preds, masks) = self.forward_masked(xs, true)?;
        let loss = self.compute_loss(ys, &preds, &masks, sample_weight)?;
        let grads = reduce(tape.gradient(&loss, &vars)?)?;
        drop(tape);
        let pairs: Vec<(Option<Tensor>, Variable)> = grads.into_iter().zip(vars).collect();
        if pairs.iter().all(|(g, _)| g.is_none()) && !pairs.is_empty() {
            return Err(super::distributed::no_gradients());
        }
        self.compiled
            .as_mut()
            .ok_or_else(|| not_compiled("train_step"))?
            .optimizer
            .apply_gradients(&pairs)?;
        Ok((loss, preds, masks))
    }

    /// One evaluation step: forward (inference mode), loss, metric updates.
    pub fn test_step(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        let batch = xs
            .first()
            .and_then(|x| x.dims().first().copied())
            .unwrap_or(0);
        self.ensure_built_for(xs)?;
        let (preds, masks) = self.forward_masked(xs, false)?;
        let loss = self.compute_loss(ys, &preds, &masks, sample_weight)?;
        self.update_metrics(&loss, batch, ys, &preds, &masks, sample_weight)
    }

    pub(crate) fn ensure_built_for(&mut self, xs: &[Tensor]) -> Result<()> {
        if !self.is_built()? {
            let x = xs
                .first()
                .ok_or_else(|| Error::invalid("Model", "no inputs"))?;
            let mut dims: Vec<Option<usize>> = x.dims().iter().map(|&d| Some(d)).collect();
            if let Some(d) = dims.first_mut() {
                *d = None;
            }
            self.build(&tf_core::PartialShape::new(&dims))?;
        }
        Ok(())
    }

    /// Keras's `train_on_batch`: one step on one batch (metrics reset first); returns
    /// the logs.
    pub fn train_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.reset_metrics()?;
        self.train_step(std::slice::from_ref(x), std::slice::from_ref(y), None)
    }

    /// Keras's `test_on_batch`.
    pub fn test_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.reset_metrics()?;
        self.test_step(std::slice::from_ref(x), std::slice::from_ref(y), None)
    }

    /// Keras's `fit` for a single-input, single-output model.
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, options: FitOptions) -> Result<History> {
        self.fit_multi(std::slice::from_ref(x), std::slice::from_ref(y), options)
    }

    /// Keras's `fit` with one tensor per model input and per output.
    pub fn fit_multi(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        mut options: FitOptions,
    ) -> Result<History> {
        if self.compiled.is_none() {
            return Err(not_compiled("fit"));
        }
        let mut sw = options.sample_weight.clone();
        if !options.class_weight.is_empty() {
            let y0 = ys
                .first()
                .ok_or_else(|| Error::invalid("fit", "no targets"))?;
            let cw = class_sample_weights(y0, &options.class_weight)?;
            sw = Some(match sw {
                Some(s) => ops::mul(&ops::cast(&s, tf_core::DType::F32)?, &cw)?,
                None => cw,
            });
        }
        let all = Data::new(xs, ys, sw.as_ref())?;
        let (train, val) = match options.validation_data.take() {
            Some((vx, vy)) => (all, Some(Data::new(&vx, &vy, None)?)),
            None if options.validation_split > 0.0 => {
                let (t, v) = all.split(options.validation_split)?;
                (t, Some(v))
            }
            None => (all, None),
        };
        let batch_size = options.batch_size;
        if batch_size == 0 {
            return Err(Error::invalid("fit", "batch_size must be positive"));
        }
        let validation = match options.validation_dataset.take() {
            Some(ds) => Some(Validation::Dataset(ds)),
            None => match (val, options.validation_steps) {
                (Some(v), Some(n)) => {
                    let end = n.saturating_mul(batch_size).min(v.len());
                    Some(Validation::Data(v.slice(0, end)?, batch_size))
                }
                (v, _) => v.map(|v| Validation::Data(v, batch_size)),
            },
        };
        let steps = train.len().div_ceil(batch_size);
        let shuffle = options.shuffle;
        self.ensure_built_for(xs)?;
        let steps_per_epoch = options.steps_per_epoch;
        // With steps_per_epoch, batches continue across epochs (a new shuffled pass
        // starts when the previous one is used up), as Keras's epoch iterator does.
        let mut pending: std::collections::VecDeque<Data> = Default::default();
        let mut pass = 0u64;
        let mut epoch_batches = |seed: u64| -> Result<BatchIter> {
            let Some(n) = steps_per_epoch else {
                return Ok(Box::new(
                    train
                        .batches(batch_size, shuffle, seed)?
                        .into_iter()
                        .map(Ok),
                ));
            };
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                if pending.is_empty() {
                    pass += 1;
                    pending.extend(train.batches(
                        batch_size,
                        shuffle,
                        seed.wrapping_add(pass.wrapping_mul(0x9E37_79B9)),
                    )?);
                    if pending.is_empty() {
                        break;
                    }
                }
                out.extend(pending.pop_front());
            }
            Ok(Box::new(out.into_iter().map(Ok)))
        };
        let steps = steps_per_epoch.unwrap_or(steps);
        self.fit_loop(&mut epoch_batches, Some(steps), validation, false, options)
    }

    /// The epoch loop of `fit`: `epoch_batches(seed)` yields one epoch's batches;
    /// `steps` is their number when known (progress display). Under a strategy each
    /// batch is a global batch split by rows between workers, or, with `per_worker`,
    /// already this worker's rows.
    pub(crate) fn fit_loop(
        &mut self,
        epoch_batches: &mut dyn FnMut(u64) -> Result<BatchIter>,
        steps: Option<usize>,
        validation: Option<Validation>,
        per_worker: bool,
        mut options: FitOptions,
    ) -> Result<History> {
        let strategy = options.strategy.take();
        let chief = strategy.as_ref().is_none_or(|s| s.is_chief());
        let verbose = if chief { options.verbose.level() } else { 0 };
        let mut callbacks = std::mem::take(&mut options.callbacks);
        if !chief {
            callbacks.retain(|c| !c.chief_only());
        }
        if verbose > 0 {
            callbacks.insert(0, Box::new(ProgbarLogger::new()));
        }
        let mut params = TrainParams {
            epochs: options.epochs,
            steps: steps.unwrap_or(0),
            verbose,
        };
        for cb in &mut callbacks {
            cb.set_params(&params);
        }
        self.stop_training = false;
        for cb in &mut callbacks {
            cb.on_train_begin(self)?;
        }
        let mut history = History::default();
        let mut seed = options.seed.unwrap_or_else(|| {
            let (a, b) = ops::get_seed(None);
            ((a as u64) << 32) ^ (b as u64)
        });
        if let Some(s) = &strategy {
            // Every worker shuffles the same way (it then takes its rows of each batch).
            seed = s.shared_seed(Some(seed))?;
        }
        let mut synced = false;
        let mut last_logs = Logs::new();
        for epoch in options.initial_epoch..options.epochs {
            self.reset_metrics()?;
            for cb in &mut callbacks {
                cb.on_epoch_begin(self, epoch)?;
            }
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut logs = Logs::new();
            let mut done = 0usize;
            let mut batches = epoch_batches(seed)?;
            for i in 0.. {
                let (b, scale) = match &strategy {
                    None => match batches.next() {
                        Some(b) => (b?, 1.0),
                        None => break,
                    },
                    Some(s) => match replica_batch(
                        s.as_ref(),
                        &mut batches,
                        self.stop_training,
                        per_worker,
                    )? {
                        Some(b) => b,
                        None => break,
                    },
                };
                for cb in &mut callbacks {
                    cb.on_train_batch_begin(self, i)?;
                }
                logs = match &strategy {
                    None => self.train_step(&b.xs, &b.ys, b.sw.as_ref())?,
                    Some(s) => {
                        if !synced {
                            self.ensure_built_for(&b.xs)?;
                            s.group().broadcast_variables(&self.weights()?, 0)?;
                            synced = true;
                        }
                        self.train_step_replicated(s, &b, scale)?
                    }
                };
                done = i + 1;
                for cb in &mut callbacks {
                    cb.on_train_batch_end(self, i, &logs)?;
                }
                if self.stop_training && strategy.is_none() {
                    break;
                }
            }
            if let Some(s) = &strategy {
                self.sync_stop_training(s.as_ref())?;
            }
            if done == 0 {
                return Err(Error::invalid(
                    "fit",
                    format!("epoch {} had no training batches", epoch + 1),
                ));
            }
            if params.steps != done && !self.stop_training {
                // A dataset of unknown cardinality: the progress display learns the
                // number of steps from the first epoch.
                params.steps = done;
                for cb in &mut callbacks {
                    cb.set_params(&params);
                }
            }
            if let Some(v) = &validation {
                let vlogs = match v {
                    Validation::Data(d, bs) => self.evaluate_data(d, *bs)?,
                    Validation::Dataset(ds) => self.evaluate_dataset(ds)?,
                };
                logs.extend_prefixed(&vlogs, "val_");
            }
            for cb in &mut callbacks {
                cb.on_epoch_end(self, epoch, &mut logs)?;
            }
            if let Some(s) = &strategy {
                self.sync_stop_training(s.as_ref())?;
            }
            history.record(epoch, &logs);
            last_logs = logs;
            if self.stop_training {
                break;
            }
        }
        for cb in &mut callbacks {
            cb.on_train_end(self, &last_logs)?;
        }
        Ok(history)
    }

    pub(crate) fn evaluate_data(&mut self, data: &Data, batch_size: usize) -> Result<Logs> {
        self.reset_metrics()?;
        let mut logs = Logs::new();
        for b in data.batches(batch_size, false, 0)? {
            logs = self.test_step(&b.xs, &b.ys, b.sw.as_ref())?;
        }
        Ok(logs)
    }

    /// Keras's `evaluate`: the loss and metrics over `(x, y)` in batches, inference mode.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Logs> {
        self.evaluate_multi(std::slice::from_ref(x), std::slice::from_ref(y), batch_size)
    }

    /// `evaluate` with several inputs / outputs.
    pub fn evaluate_multi(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        batch_size: usize,
    ) -> Result<Logs> {
        if self.compiled.is_none() {
            return Err(not_compiled("evaluate"));
        }
        let data = Data::new(xs, ys, None)?;
        self.evaluate_data(&data, batch_size)
    }

    /// Keras's `predict` for a single-output model: the outputs for `x` computed in
    /// batches of `batch_size` (inference mode) and concatenated.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        let mut out = self.predict_multi(std::slice::from_ref(x), batch_size)?;
        if out.len() != 1 {
            return Err(Error::invalid(
                "Model::predict",
                format!("the model has {} outputs; use predict_multi", out.len()),
            ));
        }
        Ok(out.remove(0))
    }

    /// `predict` with one tensor per input; returns one tensor per output.
    pub fn predict_multi(&mut self, xs: &[Tensor], batch_size: usize) -> Result<Vec<Tensor>> {
        let data = Data::new(xs, &[], None)?;
        self.ensure_built_for(xs)?;
        let mut parts: Vec<Vec<Tensor>> = Vec::new();
        for b in data.batches(batch_size, false, 0)? {
            let outs = self.predict_step(&b.xs)?;
            if parts.is_empty() {
                parts = vec![Vec::new(); outs.len()];
            }
            for (p, o) in parts.iter_mut().zip(outs) {
                p.push(o);
            }
        }
        if parts.is_empty() {
            // No samples: run on the empty input to get correctly shaped outputs.
            return self.forward(xs, false);
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
