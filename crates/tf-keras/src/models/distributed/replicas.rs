//! Several replicas per worker: the data-parallel step of `fit` under a strategy whose
//! worker runs more than one replica (`MirroredStrategy` over several devices,
//! [`Strategy::local_devices`]).
//!
//! The worker's rows of the global batch are split again by rows between its local
//! replicas (replica `r` of `n` gets rows `m*r/n .. m*(r+1)/n`). Each replica runs the
//! gradient half of the step under `tf_core::with_device(device_r)` and a
//! [`ReplicaContext`] of its own (its share of the global batch `share_r`,
//! `replica_id_in_sync_group`), then the replicas' gradients are added on each
//! variable's device and the optimizer applies them once to the one set of variables:
//! - traced (the default): the gradient function of `distributed` (forward, loss,
//!   `tape.gradient`, the in-graph gradient all-reduce, metric updates) returns
//!   `sum over workers of share * g` for this replica's position; every worker runs
//!   its local replicas in the same order, so replica `r`'s all-reduces meet the other
//!   workers' replica `r`'s, and the sum over `r` is the global gradient. The logs are
//!   averaged over workers afterwards (one small all-reduce), and the traced apply
//!   function runs the update.
//! - eager (`run_eagerly`, or when tracing fails): forward, loss and `tape.gradient` op
//!   by op; the replicas' gradients are summed weighted by their share of the worker's
//!   rows (`sum_r m_r/m * g_r`), then all-reduced across workers when there are
//!   several (weighted by the worker's share, the logs in the same collective), and
//!   applied eagerly.
//!
//! Non-trainable variables the step writes (batch normalization's moving statistics)
//! follow TensorFlow's replica-local variables (`synchronization=ON_READ`,
//! `aggregation=MEAN`): every replica starts the step from the same values, and the
//! variable ends the step with the mean of the replicas' values (integer variables:
//! the last replica's). Updating one shared variable replica after replica would
//! compound the momentum instead.
//!
//! Replicas run one after the other on the calling thread: GPU kernel launches are
//! asynchronous, so the devices still overlap, and the model (one set of layers and
//! variables) needs no locking. Cross-replica collectives inside the step (synchronized
//! `BatchNormalization`) would wait for replicas that have not started: they are
//! refused with an error naming the limitation
//! ([`ReplicaContext::check_collectives`]). With several workers every local replica
//! must run (the traced gradient all-reduces are matched by call order), so a global
//! batch then needs a row per replica of every worker (see `replica_batch`); with one
//! worker a replica without rows sits the step out.
//!
//! With one local replica, the step is `train_step_distributed` run under the
//! replica's device scope (when the strategy names a device).

use super::super::Model;
use super::super::data::Data;
use super::super::traced::{StepKey, specs_of};
use super::super::training::not_compiled;
use super::no_gradients;
use crate::callbacks::Logs;
use std::rc::Rc;
use tf_autodiff::GradientTape;
use tf_core::{Device, Error, Result, Tensor, Variable, ops, with_device};
use tf_distribute::{ReduceOp, ReplicaContext, Strategy};

/// Runs `f` under `device`'s scope when there is one.
fn on_device<R>(device: Option<Device>, f: impl FnOnce() -> R) -> R {
    match device {
        Some(d) => with_device(d, f),
        None => f(),
    }
}

impl Model {
    /// One data-parallel step of `fit` on this worker's rows `b` (`scale`: their share
    /// of the global batch): `train_step_distributed` under the device scope of the
    /// worker's one replica, or the local-replica step (see the module docs).
    pub(crate) fn train_step_replicated(
        &mut self,
        strategy: &Rc<dyn Strategy>,
        b: &Data,
        scale: f32,
    ) -> Result<Logs> {
        let devices = strategy.local_devices().to_vec();
        if devices.len() <= 1 {
            return on_device(devices.first().copied(), || {
                self.train_step_distributed(strategy, b, scale)
            });
        }
        self.train_step_local_replicas(strategy, &devices, b, scale)
    }

    /// The step with one replica per entry of `devices` (at least two).
    fn train_step_local_replicas(
        &mut self,
        strategy: &Rc<dyn Strategy>,
        devices: &[Device],
        b: &Data,
        scale: f32,
    ) -> Result<Logs> {
        let m = b.len();
        let n = devices.len();
        // Each replica's device, rows and share of the worker's rows (replicas without
        // rows sit the step out).
        let mut parts: Vec<(usize, Device, Data, f32)> = Vec::with_capacity(n);
        for (r, &d) in devices.iter().enumerate() {
            let (lo, hi) = (m * r / n, m * (r + 1) / n);
            if hi > lo {
                parts.push((r, d, b.slice(lo, hi)?, (hi - lo) as f32 / m as f32));
            }
        }
        if parts.is_empty() {
            return Err(Error::invalid(
                "Model::train_step",
                "an empty batch cannot be split between replicas",
            ));
        }
        let c = self
            .compiled
            .as_ref()
            .ok_or_else(|| not_compiled("train_step"))?;
        let eager = c.run_eagerly || c.trace_fallback.is_some() || tf_core::context::is_active();
        let traced = !eager && self.trace_replica_steps(strategy, &parts)?;
        let vars = self.trainable_weights()?;
        let mut sum: Vec<Option<Tensor>> = vec![None; vars.len()];
        let mut state = ReplicaLocalState::new(self.non_trainable_weights()?);
        for (k, (r, device, rows, weight)) in parts.iter().enumerate() {
            if k > 0 {
                state.restore()?;
            }
            let replica = ReplicaContext::enter_local(strategy.clone(), *r)?;
            replica
                .context()
                .set_share(f64::from(scale) * f64::from(*weight))?;
            let grads = with_device(*device, || {
                if traced {
                    self.replica_gradients_traced(rows)
                } else {
                    self.replica_gradients_eagerly(rows)
                }
            })?;
            drop(replica);
            state.record();
            // The traced gradient function already weighted its gradients by the
            // replica's share of the global batch and summed them over the workers
            // (the in-graph all-reduce): the replicas' results only add up.
            accumulate(&mut sum, grads, if traced { 1.0 } else { *weight }, &vars)?;
        }
        state.finish()?;
        if !sum.is_empty() && sum.iter().all(Option::is_none) {
            return Err(no_gradients());
        }
        let local = self.metric_logs()?;
        let workers = strategy.num_workers();
        let mut values: Vec<f32> = local
            .iter()
            .map(|(_, v)| (v / workers as f64) as f32)
            .collect();
        let grads = if workers <= 1 {
            sum
        } else if traced {
            // The logs averaged over workers (the gradients are reduced already).
            strategy
                .group()
                .all_reduce_f32(&mut values, ReduceOp::Sum)?;
            sum
        } else {
            // The worker's gradients weighted by its share of the global batch, the
            // logs averaged in the same collective.
            strategy
                .group()
                .all_reduce_gradients_with(&sum, scale, &mut values)?
        };
        let values: Vec<f64> = if workers <= 1 {
            local.iter().map(|(_, v)| v).collect()
        } else {
            values.into_iter().map(f64::from).collect()
        };
        if traced {
            self.apply_replica_gradients_traced(&parts, &grads)?;
        } else {
            let pairs: Vec<(Option<Tensor>, Variable)> = grads.into_iter().zip(vars).collect();
            self.compiled
                .as_mut()
                .ok_or_else(|| not_compiled("train_step"))?
                .optimizer
                .apply_gradients(&pairs)?;
        }
        let mut logs = Logs::new();
        for ((name, _), v) in local.iter().zip(values) {
            logs.insert(name, v);
        }
        Ok(logs)
    }

    /// The arguments of the traced halves for `rows` and their cache key.
    pub(super) fn replica_args(rows: &Data) -> (Vec<Tensor>, StepKey) {
        let mut args: Vec<Tensor> = Vec::with_capacity(rows.xs.len() + rows.ys.len() + 1);
        args.extend(rows.xs.iter().cloned());
        args.extend(rows.ys.iter().cloned());
        args.extend(rows.sw.iter().cloned());
        let key: StepKey = (rows.xs.len(), rows.ys.len(), specs_of(&args));
        (args, key)
    }

    /// Traces the halves of every replica's argument signature not traced yet (each in
    /// its replica's context and device scope), before any replica runs, so a step never
    /// mixes traced and eager replicas. `false` when tracing fails: the step (and later
    /// ones) then run eagerly, the reason logged once and kept in `trace_fallback`.
    fn trace_replica_steps(
        &mut self,
        strategy: &Rc<dyn Strategy>,
        parts: &[(usize, Device, Data, f32)],
    ) -> Result<bool> {
        let replicas = strategy.num_replicas_in_sync();
        for (r, device, rows, _) in parts {
            let (_, key) = Model::replica_args(rows);
            let traced = self.ensure_distributed_traced(&key, replicas, |m| {
                let replica = ReplicaContext::enter_local(strategy.clone(), *r)?;
                let step = with_device(*device, || m.trace_distributed(&key, replicas));
                drop(replica);
                step
            });
            if !traced {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One replica's gradient half through its traced gradient function (one entry per
    /// trainable weight); updates the metric states on the replica's predictions when
    /// the graph does not.
    fn replica_gradients_traced(&mut self, rows: &Data) -> Result<Vec<Option<Tensor>>> {
        let (args, key) = Model::replica_args(rows);
        let (mut grads, on_host) = self.run_gradient_half(&key, &args, rows)?;
        // The last bucket, left to the host (several workers): reduced over the
        // workers' replica at this position, at this replica's share.
        if on_host.iter().any(|h| *h) {
            let replica = tf_distribute::get_replica_context().ok_or_else(|| {
                Error::precondition("Model::train_step", "no replica context for a replica step")
            })?;
            super::finish_on_host(
                replica.group(),
                &mut grads,
                &on_host,
                replica.share() as f32,
                &mut [],
            )?;
        }
        Ok(grads)
    }

    /// One replica's gradient half op by op (forward, loss, gradients, metric updates).
    fn replica_gradients_eagerly(&mut self, rows: &Data) -> Result<Vec<Option<Tensor>>> {
        let vars = self.trainable_weights()?;
        let tape = GradientTape::new();
        let (preds, masks) = self.forward_masked(&rows.xs, true)?;
        let loss = self.compute_loss(&rows.ys, &preds, &masks, rows.sw.as_ref())?;
        let grads = tape.gradient(&loss, &vars)?;
        drop(tape);
        self.update_metric_states(
            &loss,
            rows.len(),
            &rows.ys,
            &preds,
            &masks,
            rows.sw.as_ref(),
        )?;
        Ok(grads)
    }

    /// Applies the summed gradients through the apply function traced with the first
    /// replica's signature (every replica's has the same gradients present).
    fn apply_replica_gradients_traced(
        &mut self,
        parts: &[(usize, Device, Data, f32)],
        grads: &[Option<Tensor>],
    ) -> Result<()> {
        let first = parts.first().ok_or_else(|| not_compiled("train_step"))?;
        let (_, key) = Model::replica_args(&first.2);
        let step = self
            .compiled
            .as_ref()
            .and_then(|c| c.train_functions.distributed(&key))
            .ok_or_else(|| not_compiled("train_step"))?;
        if step.present.len() != grads.len()
            || step
                .present
                .iter()
                .zip(grads)
                .any(|(p, g)| *p != g.is_some())
        {
            return Err(Error::precondition(
                "Model::train_step",
                "the replicas' gradients do not cover the traced update's weights",
            ));
        }
        let present: Vec<Tensor> = grads.iter().flatten().cloned().collect();
        step.apply.call(&present)?;
        Ok(())
    }
}

/// `sum[i] += weight * grads[i]`, computed on variable `i`'s device. Every replica must
/// produce gradients for the same weights.
fn accumulate(
    sum: &mut [Option<Tensor>],
    grads: Vec<Option<Tensor>>,
    weight: f32,
    vars: &[Variable],
) -> Result<()> {
    if grads.len() != sum.len() {
        return Err(Error::precondition(
            "Model::train_step",
            format!(
                "a replica returned {} gradients for {} trainable weights",
                grads.len(),
                sum.len()
            ),
        ));
    }
    for ((acc, g), v) in sum.iter_mut().zip(grads).zip(vars) {
        let Some(g) = g else {
            continue;
        };
        let device = v.value().device();
        let next = with_device(device, || -> Result<Tensor> {
            let w = ops::cast(&Tensor::from_scalar(weight), g.dtype())?;
            let term = if weight == 1.0 { g } else { ops::mul(&g, &w)? };
            match acc.take() {
                Some(a) => ops::add(&a, &term),
                None => Ok(term),
            }
        })?;
        *acc = Some(next);
    }
    Ok(())
}

/// The non-trainable variables of a step with several local replicas: their values
/// before the step, and the values each replica left.
struct ReplicaLocalState {
    vars: Vec<Variable>,
    before: Vec<Tensor>,
    /// Per replica that ran, the variables' values after it.
    after: Vec<Vec<Tensor>>,
}

impl ReplicaLocalState {
    fn new(vars: Vec<Variable>) -> ReplicaLocalState {
        let before = vars.iter().map(Variable::value).collect();
        ReplicaLocalState {
            vars,
            before,
            after: Vec::new(),
        }
    }

    /// Keeps the values the replica that just ran left.
    fn record(&mut self) {
        if !self.vars.is_empty() {
            self.after
                .push(self.vars.iter().map(Variable::value).collect());
        }
    }

    /// Gives the next replica the values from before the step.
    fn restore(&self) -> Result<()> {
        for (v, b) in self.vars.iter().zip(&self.before) {
            if !v.value().shares_storage_with(b) {
                v.assign(b)?;
            }
        }
        Ok(())
    }

    /// Sets each variable some replica wrote to the mean of the replicas' values (the
    /// last replica's for non-float variables).
    fn finish(self) -> Result<()> {
        if self.after.len() < 2 {
            return Ok(());
        }
        let n = self.after.len();
        for (i, (v, b)) in self.vars.iter().zip(&self.before).enumerate() {
            let values: Vec<&Tensor> = self.after.iter().filter_map(|a| a.get(i)).collect();
            if values.iter().all(|t| t.shares_storage_with(b)) {
                continue;
            }
            let Some(&last) = values.last() else {
                continue;
            };
            let value = if v.dtype().is_float() {
                with_device(b.device(), || -> Result<Tensor> {
                    let mut acc: Option<Tensor> = None;
                    for t in &values {
                        acc = Some(match acc {
                            Some(a) => ops::add(&a, t)?,
                            None => (*t).clone(),
                        });
                    }
                    let total = acc.unwrap_or_else(|| last.clone());
                    let inv = ops::cast(&Tensor::from_scalar(1.0 / n as f64), v.dtype())?;
                    ops::mul(&total, &inv)
                })?
            } else {
                last.clone()
            };
            v.assign(&value)?;
        }
        Ok(())
    }
}
