//! The data-parallel step of `fit` with a [`Strategy`]: each worker runs forward, loss
//! and gradients on its rows of the global batch, the gradients are all-reduced
//! (`sum over workers of share * g`), and every worker applies the same update.
//!
//! By default the step runs as two traced tf-graph functions per argument signature,
//! like the single-process traced step (see `traced`): the *gradient* function
//! (forward, loss, `tape.gradient`, the gradient all-reduce, and the loss-tracker and
//! metric updates) returns the loss and the reduced gradients; the *apply* function
//! takes them and runs the optimizer update. The all-reduce is in the graph as
//! bucketed start/wait ops ([`ReplicaContext::all_reduce_gradients_but_last`]): each
//! bucket starts as soon as the backward pass produced its gradients (the last layers'
//! first), so the reduction overlaps with the rest of the backward pass where the
//! engine has non-blocking collectives (MPI, NCCL). The last bucket (the first layers'
//! gradients, produced last: nothing left to overlap with) comes out unreduced and is
//! all-reduced on the host after the call with the step's logs in the same buffer
//! (one blocking collective, MPI's fastest); a model whose gradients fit one bucket
//! reduces them exactly so. With `run_eagerly`, inside someone else's trace or tape, or when
//! tracing fails (reason logged once and kept in
//! [`Compiled::trace_fallback`](super::Compiled::trace_fallback)), the step runs op by op.
//!
//! A worker with several local replicas (`MirroredStrategy` over several devices) runs
//! the gradient half once per replica, each under its device scope and replica
//! context, adds the replicas' gradients and applies them once (see `replicas`).

use super::Model;
use super::data::Data;
use super::traced::StepKey;
use super::training::{BatchIter, not_compiled};
use crate::callbacks::Logs;
use std::rc::Rc;
use tf_autodiff::GradientTape;
use tf_core::{Error, Result, Tensor, Variable};
use tf_distribute::{ReduceOp, ReplicaContext, Strategy, get_replica_context};
use tf_graph::{ConcreteFunction, Pipeline};

mod replicas;

/// The traced halves of one data-parallel step for one argument signature.
pub(crate) struct DistStep {
    /// Forward, loss, gradients all-reduced over the replicas (and metric updates when
    /// `with_metrics`). Outputs: the loss, the predictions when `!with_metrics`, then
    /// one reduced gradient per `true` in `present`.
    gradients: ConcreteFunction,
    /// Whether `gradients` updates the metric states itself.
    with_metrics: bool,
    /// Which trainable weights (in `trainable_weights` order) get a gradient.
    present: Vec<bool>,
    /// Which weights' gradients come out of `gradients` unreduced (the last bucket,
    /// reduced on the host with the logs: see `finish_on_host`).
    pub(super) on_host: Vec<bool>,
    /// Which model outputs have a mask returned after the predictions (when
    /// `gradients` does not update the metrics itself).
    mask_of: Vec<bool>,
    /// The optimizer update; arguments: the reduced gradients of the `present` weights.
    apply: ConcreteFunction,
    /// The number of replicas it was traced for: cross-replica ops (synchronized batch
    /// normalization) are traced for that group size, so another strategy retraces.
    replicas: usize,
}

/// What tracing the gradient half produced.
struct TracedGradients {
    function: ConcreteFunction,
    present: Vec<bool>,
    on_host: Vec<bool>,
    mask_of: Vec<bool>,
    /// Spec of each returned gradient (the apply function's arguments).
    grad_specs: Vec<tf_core::op::TensorSpec>,
}

impl Model {
    /// Traces the gradient half for arguments `key`.
    fn trace_gradients(&mut self, key: &StepKey, with_metrics: bool) -> Result<TracedGradients> {
        let (nx, ny, specs) = key;
        let (nx, ny) = (*nx, *ny);
        let batch = specs
            .first()
            .and_then(|s| s.shape.dims().first().copied().flatten())
            .unwrap_or(0);
        let vars = self.trainable_weights()?;
        let mut present = Vec::new();
        let mut on_host = Vec::new();
        let mut mask_of = Vec::new();
        let model: &mut Model = self;
        let mut body = |a: &[Tensor]| -> Result<Vec<Tensor>> {
            let (x, rest) = a.split_at(nx.min(a.len()));
            let (y, w) = rest.split_at(ny.min(rest.len()));
            let tape = GradientTape::new();
            let (preds, masks) = model.forward_masked(x, true)?;
            let loss = model.compute_loss(y, &preds, &masks, w.first())?;
            let grads = tape.gradient(&loss, &vars)?;
            drop(tape);
            // `sum_r share_r * grads_r`, started bucket by bucket as the backward pass
            // produces the gradients; the last bucket is left to the host, which
            // reduces it with the logs after the call.
            let grads = match get_replica_context() {
                Some(replica) => {
                    let (g, h) = replica.all_reduce_gradients_but_last(&grads)?;
                    on_host = h;
                    g
                }
                None => {
                    on_host = vec![false; grads.len()];
                    grads
                }
            };
            let mut out = vec![loss.clone()];
            if with_metrics {
                model.update_metric_states(&loss, batch, y, &preds, &masks, w.first())?;
            } else {
                // The predictions, then the masks of the outputs that have one.
                out.extend(preds);
                mask_of = masks.iter().map(Option::is_some).collect();
                for m in masks.iter().flatten() {
                    out.push(tf_core::ops::cast(m, tf_core::DType::F32)?);
                }
            }
            present = grads.iter().map(Option::is_some).collect();
            out.extend(grads.into_iter().flatten());
            Ok(out)
        };
        let function = ConcreteFunction::trace(
            "distributed_gradients",
            specs,
            false,
            &Pipeline::default(),
            &mut body,
        )?;
        let n_grads = present.iter().filter(|p| **p).count();
        let outs = function.output_specs();
        let grad_specs = outs
            .get(outs.len().saturating_sub(n_grads)..)
            .unwrap_or_default()
            .to_vec();
        Ok(TracedGradients {
            function,
            present,
            on_host,
            mask_of,
            grad_specs,
        })
    }

    /// Traces the optimizer update taking the gradients of the `present` weights.
    fn trace_apply(
        &mut self,
        present: &[bool],
        grad_specs: &[tf_core::op::TensorSpec],
    ) -> Result<ConcreteFunction> {
        let vars = self.trainable_weights()?;
        let compiled = self
            .compiled
            .as_mut()
            .ok_or_else(|| not_compiled("train_step"))?;
        let mut body = |g: &[Tensor]| -> Result<Vec<Tensor>> {
            let mut grads = g.iter();
            let pairs: Vec<(Option<Tensor>, Variable)> = vars
                .iter()
                .zip(present)
                .map(|(v, &p)| (if p { grads.next().cloned() } else { None }, v.clone()))
                .collect();
            compiled.optimizer.apply_gradients(&pairs)?;
            Ok(Vec::new())
        };
        ConcreteFunction::trace(
            "distributed_apply",
            grad_specs,
            false,
            &Pipeline::default(),
            &mut body,
        )
    }

    /// Traces both halves for `key` (metrics inside the graph when they trace).
    fn trace_distributed(&mut self, key: &StepKey, replicas: usize) -> Result<DistStep> {
        let vars = self.trainable_weights()?;
        if let Some(c) = self.compiled.as_mut() {
            c.optimizer.build(&vars)?;
        }
        let (g, with_metrics) = match self.trace_gradients(key, true) {
            Ok(g) => (g, true),
            Err(e) => {
                tracing::debug!(target: "tf_keras", "metrics updated eagerly: {e}");
                (self.trace_gradients(key, false)?, false)
            }
        };
        if !g.present.is_empty() && g.present.iter().all(|p| !p) {
            return Err(no_gradients());
        }
        let apply = self.trace_apply(&g.present, &g.grad_specs)?;
        Ok(DistStep {
            gradients: g.function,
            with_metrics,
            present: g.present,
            on_host: g.on_host,
            mask_of: g.mask_of,
            apply,
            replicas,
        })
    }

    /// One data-parallel step on this worker's rows `b` (`scale` = its share of the
    /// global batch): local gradients, all-reduce, optimizer update, logs averaged over
    /// workers. The step (its tracing too) runs in a [`ReplicaContext`] of `strategy`
    /// whose share is `scale`, so layers with cross-replica collectives (synchronized
    /// batch normalization) reach the other workers.
    pub(crate) fn train_step_distributed(
        &mut self,
        strategy: &Rc<dyn Strategy>,
        b: &Data,
        scale: f32,
    ) -> Result<Logs> {
        let replica = ReplicaContext::enter(strategy.clone());
        replica.context().set_share(f64::from(scale))?;
        let strategy = strategy.as_ref();
        let c = self
            .compiled
            .as_ref()
            .ok_or_else(|| not_compiled("train_step"))?;
        let eager = c.run_eagerly || c.trace_fallback.is_some() || tf_core::context::is_active();
        if !eager && let Some(logs) = self.distributed_step_traced(strategy, b, scale)? {
            return Ok(logs);
        }
        let local = self.distributed_step_eagerly(strategy, b, scale)?;
        let mut values: Vec<f64> = local.iter().map(|(_, v)| v).collect();
        strategy
            .group()
            .all_reduce_f64(&mut values, ReduceOp::Mean)?;
        let mut logs = Logs::new();
        for ((name, _), v) in local.iter().zip(values) {
            logs.insert(name, v);
        }
        Ok(logs)
    }

    /// The step op by op; returns this worker's logs.
    fn distributed_step_eagerly(
        &mut self,
        strategy: &dyn Strategy,
        b: &Data,
        scale: f32,
    ) -> Result<Logs> {
        let group = strategy.group();
        let (loss, preds, masks) =
            self.step_with_gradients(&b.xs, &b.ys, b.sw.as_ref(), &mut |g| {
                Ok(group.all_reduce_gradients(&g, scale)?)
            })?;
        self.update_metric_states(&loss, b.len(), &b.ys, &preds, &masks, b.sw.as_ref())?;
        self.metric_logs()
    }

    /// The step through the two traced halves (traced on first use of a signature; the
    /// gradients are weighted by the replica context's share), then the logs averaged
    /// over workers. `None` when tracing fails: the step then runs eagerly from now on
    /// (nothing of this step has run).
    fn distributed_step_traced(
        &mut self,
        strategy: &dyn Strategy,
        b: &Data,
        scale: f32,
    ) -> Result<Option<Logs>> {
        let (args, key) = Model::replica_args(b);
        let replicas = strategy.num_replicas_in_sync();
        if !self.ensure_distributed_traced(&key, replicas, |m| m.trace_distributed(&key, replicas))
        {
            return Ok(None);
        }
        let (mut grads, on_host) = self.run_gradient_half(&key, &args, b)?;
        let n_grads = grads.iter().flatten().count();
        // This worker's logs, averaged over workers with the last gradient bucket.
        let local = self.metric_logs()?;
        let workers = strategy.num_replicas_in_sync().max(1);
        let mut values: Vec<f32> = local
            .iter()
            .map(|(_, v)| (v / workers as f64) as f32)
            .collect();
        if workers > 1 {
            finish_on_host(strategy.group(), &mut grads, &on_host, scale, &mut values)?;
        }
        let reduced: Vec<Tensor> = grads.into_iter().flatten().collect();
        if reduced.len() != n_grads {
            return Err(Error::precondition(
                "Model::train_step",
                format!("{} reduced gradients for {n_grads} weights", reduced.len()),
            ));
        }
        let step = self
            .compiled
            .as_ref()
            .and_then(|c| c.train_functions.distributed(&key))
            .ok_or_else(|| not_compiled("train_step"))?;
        step.apply.call(&reduced)?;
        let mut logs = Logs::new();
        for ((name, _), v) in local.iter().zip(values) {
            logs.insert(name, f64::from(v));
        }
        Ok(Some(logs))
    }

    /// Runs the traced gradient half for `key` on `args` (the rows `b`): one entry per
    /// trainable weight (`None` without a gradient), reduced over the replicas in the
    /// graph except where the returned mask says the host must finish it (see
    /// [`finish_on_host`]); the metric states are updated here when the graph does not.
    pub(super) fn run_gradient_half(
        &mut self,
        key: &StepKey,
        args: &[Tensor],
        b: &Data,
    ) -> Result<(Vec<Option<Tensor>>, Vec<bool>)> {
        let step = self
            .compiled
            .as_ref()
            .and_then(|c| c.train_functions.distributed(key))
            .ok_or_else(|| not_compiled("train_step"))?;
        let mut out = step.gradients.call(args)?;
        let n_grads = step.present.iter().filter(|p| **p).count();
        if out.len() < n_grads {
            return Err(Error::precondition(
                "Model::train_step",
                format!(
                    "the traced step returned {} values for {n_grads} gradients",
                    out.len()
                ),
            ));
        }
        let mut outs = out.split_off(out.len() - n_grads).into_iter();
        let grads: Vec<Option<Tensor>> = step
            .present
            .iter()
            .map(|&p| if p { outs.next() } else { None })
            .collect();
        let on_host = step.on_host.clone();
        if !step.with_metrics {
            if out.is_empty() {
                return Err(Error::precondition(
                    "Model::train_step",
                    "the traced step returned no loss",
                ));
            }
            let loss = out.remove(0);
            let masks = super::traced::split_output_masks(&mut out, b.ys.len(), &step.mask_of)?;
            self.update_metric_states(&loss, b.len(), &b.ys, &out, &masks, b.sw.as_ref())?;
        }
        Ok((grads, on_host))
    }

    /// Whether the traced halves for `key` (traced for `replicas`) are cached, tracing
    /// them with `trace` when not. A failed trace is logged once and kept in
    /// `trace_fallback` (the step and later ones then run eagerly; its error, if any, is
    /// the one the user needs) and gives `false`.
    pub(super) fn ensure_distributed_traced(
        &mut self,
        key: &StepKey,
        replicas: usize,
        trace: impl FnOnce(&mut Model) -> Result<DistStep>,
    ) -> bool {
        let cached = self.compiled.as_ref().is_some_and(|c| {
            c.train_functions
                .distributed(key)
                .is_some_and(|s| s.replicas == replicas)
        });
        if cached {
            return true;
        }
        match trace(self) {
            Ok(step) => {
                if let Some(c) = self.compiled.as_mut() {
                    c.train_functions.insert_distributed(key.clone(), step);
                }
                true
            }
            Err(e) => {
                let reason = format!(
                    "the distributed train step could not be traced ({e}); running eagerly"
                );
                tracing::warn!(target: "tf_keras", model = %self.name, "{reason}");
                if let Some(c) = self.compiled.as_mut() {
                    c.trace_fallback = Some(reason);
                }
                false
            }
        }
    }

    /// Stops training on every worker when one wants to stop.
    pub(crate) fn sync_stop_training(&mut self, strategy: &dyn Strategy) -> Result<()> {
        let mut v = vec![f64::from(u8::from(self.stop_training))];
        strategy.group().all_reduce_f64(&mut v, ReduceOp::Max)?;
        self.stop_training = v.first().is_some_and(|&x| x > 0.0);
        Ok(())
    }
}

/// Reduces the gradients the traced step left to the host (`on_host`: the last bucket,
/// this replica's own) over the workers at this replica's share `scale`, with `extra`
/// (the step's logs) summed in the same collective.
pub(super) fn finish_on_host(
    group: &tf_distribute::CollectiveGroup,
    grads: &mut [Option<Tensor>],
    on_host: &[bool],
    scale: f32,
    extra: &mut [f32],
) -> Result<()> {
    let host: Vec<Option<Tensor>> = grads
        .iter()
        .zip(on_host)
        .map(|(g, &h)| if h { g.clone() } else { None })
        .collect();
    if extra.is_empty() && host.iter().all(Option::is_none) {
        return Ok(());
    }
    let reduced = group.all_reduce_gradients_with(&host, scale, extra)?;
    for ((slot, r), &h) in grads.iter_mut().zip(reduced).zip(on_host) {
        if h {
            *slot = r;
        }
    }
    Ok(())
}

/// The error of a step whose loss depends on no trainable weight.
pub(crate) fn no_gradients() -> Error {
    Error::invalid(
        "Model::train_step",
        "no gradients: the loss does not depend on any trainable weight",
    )
}

/// This worker's rows of the next global batch and its share of the batch, or `None`
/// when the epoch ends for every worker: some worker has no batch left (or wants to
/// stop), or the global batch has fewer rows than there are workers (with several
/// workers: than replicas of all workers). A worker's local replicas split its rows
/// again (with one worker, a replica without rows sits the step out). One small
/// all-reduce agrees on that, so no worker waits in a collective the others skip.
/// With `per_worker` the batches are already this worker's rows (FILE sharding).
pub(crate) fn replica_batch(
    strategy: &dyn Strategy,
    batches: &mut BatchIter,
    stop: bool,
    per_worker: bool,
) -> Result<Option<(Data, f32)>> {
    let next = if stop {
        None
    } else {
        batches.next().transpose()?
    };
    let size = strategy.num_workers();
    let rank = strategy.worker_index();
    // With several workers, every local replica needs a row (its in-graph all-reduces
    // meet the other workers'); a single worker's replicas without rows sit out.
    let per_replica = if size > 1 {
        strategy.num_local_replicas()
    } else {
        1
    };
    let local = match next {
        Some(d) if per_worker => (d.len() >= per_replica).then_some(d),
        Some(d) if d.len() >= size * per_replica => {
            let m = d.len();
            Some(d.slice(m * rank / size, m * (rank + 1) / size)?)
        }
        _ => None,
    };
    let n = local.as_ref().map_or(0, Data::len);
    let mut v = vec![f64::from(u8::from(local.is_some())), n as f64];
    strategy.group().all_reduce_f64(&mut v, ReduceOp::Sum)?;
    let (ready, total) = (
        v.first().copied().unwrap_or(0.0),
        v.get(1).copied().unwrap_or(0.0),
    );
    if ready < size as f64 || total <= 0.0 {
        if local.is_some() {
            tracing::debug!(target: "tf_keras", "epoch ends: another worker has no batch left");
        }
        return Ok(None);
    }
    Ok(local.map(|d| (d, (n as f64 / total) as f32)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::traced::specs_of;
    use crate::layers::{Dense, Input};
    use crate::losses::SparseCategoricalCrossentropy;
    use crate::optimizers::Adam;
    use crate::{Activation, FitOptions, Sequential, Verbose};
    use std::rc::Rc;
    use tf_core::{DType, Tensor, ops};
    use tf_distribute::{
        CollectiveOptions, LocalGroup, MultiWorkerMirroredStrategy, ReplicaContext, Strategy,
    };

    /// Node types in the order one call of a worker's traced gradient function ran them.
    fn traced_step_order(comm: tf_distribute::LocalCommunicator) -> Vec<&'static str> {
        let s: Rc<dyn Strategy> = Rc::new(
            MultiWorkerMirroredStrategy::with_communicator(Box::new(comm)).with_options(
                CollectiveOptions::default()
                    .first_bucket_bytes(1)
                    .bucket_bytes(1),
            ),
        );
        ops::set_random_seed(3);
        let mut m = Sequential::new();
        m.add(Input::new(&[12])).unwrap();
        m.add(Dense::new(16).activation(Activation::Relu)).unwrap();
        m.add(Dense::new(8).activation(Activation::Relu)).unwrap();
        m.add(Dense::new(4)).unwrap();
        m.compile(
            Adam::new(1e-3).unwrap(),
            SparseCategoricalCrossentropy::new(true),
            &[],
        )
        .unwrap();
        let x = ops::random_uniform(&[16, 12], 0.0, 1.0, DType::F32, Some(1)).unwrap();
        let y = ops::random_uniform_int(&[16], 0, 4, DType::I64, Some(2)).unwrap();
        let opts = FitOptions::new()
            .batch_size(16)
            .epochs(1)
            .verbose(Verbose::Silent)
            .strategy(s.clone());
        m.fit(&x, &y, opts).unwrap();
        assert!(m.is_traced());
        // This worker's rows of one global batch: the signature the step was traced for.
        let args: Vec<Tensor> = vec![
            x.slice(&[0, 0], &[8, -1]).unwrap(),
            y.slice(&[0], &[8]).unwrap(),
        ];
        let key = (1, 1, specs_of(&args));
        let c = m.compiled.as_ref().unwrap();
        let step = c.train_functions.distributed(&key).unwrap();
        // The last bucket (the first layer's kernel) is left to the host.
        assert_eq!(step.on_host.iter().filter(|h| **h).count(), 1);
        let guard = ReplicaContext::enter(s);
        guard.context().set_share(0.5).unwrap();
        let (_, profile) = step.gradients.call_profiled(&args).unwrap();
        profile.nodes.iter().map(|(_, t, _)| *t).collect()
    }

    #[test]
    fn the_traced_step_starts_the_last_layers_all_reduce_during_the_backward_pass() {
        let handles: Vec<_> = LocalGroup::new(2)
            .unwrap()
            .into_iter()
            .map(|c| std::thread::spawn(move || traced_step_order(c)))
            .collect();
        for h in handles {
            let order = h.join().unwrap();
            let at = |name: &str| -> Vec<usize> {
                order
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.contains(name))
                    .map(|(i, _)| i)
                    .collect()
            };
            let (starts, products) = (at("CollectiveReduceStart"), at("MatMul"));
            // 5 buckets in the graph (the last layer's bias and kernel, ..., the first
            // layer's bias), the first layer's kernel on the host.
            assert_eq!(starts.len(), 5, "{order:?}");
            // Each bucket starts right after its gradient: the first before the
            // backward pass's last product, one between each layer's products.
            let last_product = *products.last().unwrap();
            assert!(starts[0] < last_product, "{order:?}");
            assert!(starts[3] < last_product, "{order:?}");
            assert_eq!(order.get(starts[0] - 1), Some(&"BiasAddGrad"), "{order:?}");
            assert!(
                at("CollectiveReduceWait").iter().all(|&w| w > starts[4]),
                "{order:?}"
            );
        }
    }
}
