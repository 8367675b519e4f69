//! Inter-op parallelism: the nodes of a graph run as tasks of the rayon pool as soon as
//! their inputs are ready, so independent branches (the weight and input gradients of
//! a layer, the updates of different variables) overlap.
//!
//! Kernels already split large tensors over the pool (intra-op); nodes running side by
//! side are tasks of that same pool, so the two levels share its threads instead of
//! oversubscribing the cores. A finished node runs one newly ready consumer itself and
//! spawns the others, so a chain costs no spawns at all.
//!
//! A graph holding an op pinned to the calling thread (`OpDef::calling_thread`) always
//! runs in order.
//!
//! Stateful nodes (stateful ops such as the random ones, variable reads and
//! assignments, control flow, which may contain either) are chained in program order,
//! so random streams and variable updates see exactly what the in-order run sees.

use super::{Plan, exec_node, missing_input};
use crate::graph::{Graph, Node, NodeKind, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use tf_core::{Device, Error, Result, Tensor};

/// Nodes of at least this many elements (largest input or output) are worth running
/// side by side; smaller ones cost less than handing them to another thread.
const HEAVY_ELEMENTS: usize = 4096;

/// 0: automatic (parallel where the graph allows it); 1: always in order.
static INTER_OP_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many graph nodes may run at the same time, like TensorFlow's
/// `tf.config.threading.set_inter_op_parallelism_threads`: `1` runs every graph's nodes
/// one after another on the calling thread; `0` (the default) lets independent heavy
/// nodes run concurrently on the rayon pool (whose size bounds the concurrency).
pub fn set_inter_op_parallelism_threads(n: usize) {
    INTER_OP_THREADS.store(n, Ordering::Relaxed);
}

/// The value set by [`set_inter_op_parallelism_threads`] (0: automatic).
pub fn inter_op_parallelism_threads() -> usize {
    INTER_OP_THREADS.load(Ordering::Relaxed)
}

pub(super) fn enabled() -> bool {
    inter_op_parallelism_threads() != 1 && rayon::current_num_threads() > 1
}

/// The dependency structure of a graph for the parallel run.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    /// For each node, the nodes that wait for it (its consumers and, for a stateful
    /// node, the next stateful node), without duplicates.
    consumers: Vec<Vec<u32>>,
    /// For each node, how many distinct nodes it waits for.
    preds: Vec<u32>,
}

fn is_stateful(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Op(def) => def.stateful,
        NodeKind::ReadVariable { .. }
        | NodeKind::AssignVariable { .. }
        | NodeKind::Cond(_)
        | NodeKind::While(_) => true,
        NodeKind::Placeholder { .. } | NodeKind::Const(_) | NodeKind::FusedElementwise(_) => false,
    }
}

/// Whether a node does enough work to be worth overlapping: unknown sizes count as
/// heavy (they are usually batch dimensions).
fn is_heavy(graph: &Graph, node: &Node) -> bool {
    if matches!(
        node.kind,
        NodeKind::Placeholder { .. } | NodeKind::Const(_) | NodeKind::ReadVariable { .. }
    ) {
        return false;
    }
    let elements = |spec: &tf_core::op::TensorSpec| -> usize {
        spec.shape
            .iter()
            .try_fold(1usize, |acc, d| d.map(|d| acc.saturating_mul(d)))
            .unwrap_or(usize::MAX)
    };
    let inputs = node.inputs.iter().filter_map(|o| {
        graph
            .nodes
            .get(o.node)
            .and_then(|n| n.outputs.get(o.index))
            .map(elements)
    });
    node.outputs
        .iter()
        .map(elements)
        .chain(inputs)
        .any(|n| n >= HEAVY_ELEMENTS)
}

impl Schedule {
    /// The schedule of `graph`, or `None` when no two heavy nodes can run at the same
    /// time (judged by depth: two heavy nodes at the same distance from the graph's
    /// inputs depend on neither one another), or when a node's op must run on the
    /// calling thread ([`OpDef::calling_thread`](tf_core::op::OpDef::calling_thread):
    /// collectives reaching the replica's communicator).
    pub(crate) fn new(graph: &Graph) -> Option<Schedule> {
        if graph
            .nodes
            .iter()
            .any(|n| matches!(&n.kind, NodeKind::Op(def) if def.calling_thread))
        {
            return None;
        }
        let n = graph.nodes.len();
        let mut consumers: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut preds = vec![0u32; n];
        let mut depth = vec![0usize; n];
        let mut last_stateful: Option<usize> = None;
        for (id, node) in graph.nodes.iter().enumerate() {
            let mut from: Vec<usize> = node.inputs.iter().map(|o| o.node).collect();
            if is_stateful(node) {
                from.extend(last_stateful);
                last_stateful = Some(id);
            }
            from.sort_unstable();
            from.dedup();
            for &p in &from {
                // A graph out of topological order cannot be scheduled (validation
                // reports it); run it in order.
                if p >= id {
                    return None;
                }
                consumers[p].push(u32::try_from(id).ok()?);
                depth[id] = depth[id].max(depth[p] + 1);
            }
            preds[id] = u32::try_from(from.len()).ok()?;
        }
        let mut heavy_at_depth: Vec<u32> = Vec::new();
        let mut overlap = false;
        for (id, node) in graph.nodes.iter().enumerate() {
            if is_heavy(graph, node) {
                if heavy_at_depth.len() <= depth[id] {
                    heavy_at_depth.resize(depth[id] + 1, 0);
                }
                heavy_at_depth[depth[id]] += 1;
                overlap |= heavy_at_depth[depth[id]] >= 2;
            }
        }
        overlap.then_some(Schedule { consumers, preds })
    }
}

/// Shared state of one parallel run.
struct Run<'a> {
    graph: &'a Graph,
    plan: &'a Plan,
    schedule: &'a Schedule,
    args: &'a [Tensor],
    device: Option<Device>,
    values: Vec<Mutex<Option<Tensor>>>,
    remaining: Vec<AtomicU32>,
    pending: Vec<AtomicU32>,
    failed: AtomicBool,
    error: Mutex<Option<Error>>,
}

impl Run<'_> {
    /// Takes slot `slot` on its last use, clones it otherwise.
    fn take(&self, slot: usize) -> Option<Tensor> {
        // Count the use while holding the slot's lock: a consumer that decides to
        // clone must clone before the last consumer takes the value.
        let mut value = self
            .values
            .get(slot)?
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let left = self.remaining.get(slot)?.fetch_sub(1, Ordering::AcqRel);
        if left <= 1 {
            value.take()
        } else {
            value.clone()
        }
    }

    fn fail(&self, e: Error) {
        self.failed.store(true, Ordering::Release);
        self.error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e);
    }

    /// Runs node `id`, then each consumer it makes ready: one on this task, the others
    /// as new tasks.
    fn node<'s>(&'s self, scope: &rayon::Scope<'s>, mut id: usize) {
        loop {
            if self.failed.load(Ordering::Acquire) {
                return;
            }
            if let Err(e) = self.execute(id) {
                self.fail(e);
                return;
            }
            let mut next = None;
            for &c in &self.schedule.consumers[id] {
                let c = c as usize;
                if self.pending[c].fetch_sub(1, Ordering::AcqRel) == 1
                    && let Some(other) = next.replace(c)
                {
                    scope.spawn(move |s| self.task(s, other));
                }
            }
            match next {
                Some(c) => id = c,
                None => return,
            }
        }
    }

    /// A spawned task: a worker thread gets the caller's device scope first.
    fn task<'s>(&'s self, scope: &rayon::Scope<'s>, id: usize) {
        match self.device {
            Some(d) => tf_core::with_device(d, || self.node(scope, id)),
            None => self.node(scope, id),
        }
    }

    fn execute(&self, id: usize) -> Result<()> {
        let node = &self.graph.nodes[id];
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for &Output { node: src, index } in &node.inputs {
            let v = self.take(self.plan.offsets[src] + index);
            inputs.push(v.ok_or_else(|| missing_input(node))?);
        }
        let outs = exec_node(self.graph, node, self.args, &mut inputs)?;
        drop(inputs);
        let base = self.plan.offsets[id];
        for (k, o) in outs.into_iter().enumerate() {
            if self.plan.uses[base + k] > 0 {
                *self.values[base + k]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(o);
            }
        }
        Ok(())
    }
}

/// Runs `graph` with ready nodes in parallel (see the module docs).
pub(super) fn run(
    graph: &Graph,
    plan: &Plan,
    schedule: &Schedule,
    args: &[Tensor],
) -> Result<Vec<Tensor>> {
    let run = Run {
        graph,
        plan,
        schedule,
        args,
        device: tf_core::device::current_device(),
        values: plan.uses.iter().map(|_| Mutex::new(None)).collect(),
        remaining: plan.uses.iter().map(|&u| AtomicU32::new(u)).collect(),
        pending: schedule.preds.iter().map(|&p| AtomicU32::new(p)).collect(),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    // Arguments and constants are free: take them here, and start with the nodes they
    // make ready.
    let mut ready = Vec::new();
    for id in (0..graph.nodes.len()).filter(|&id| schedule.preds[id] == 0) {
        if !matches!(
            graph.nodes[id].kind,
            NodeKind::Placeholder { .. } | NodeKind::Const(_)
        ) {
            ready.push(id);
            continue;
        }
        run.execute(id)?;
        for &c in &schedule.consumers[id] {
            if run.pending[c as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                ready.push(c as usize);
            }
        }
    }
    let run_ref = &run;
    rayon::in_place_scope(|scope| {
        // The calling thread runs one ready node itself (and joins the pool's work
        // while the scope waits for the others).
        if let Some((last, rest)) = ready.split_last() {
            for &id in rest {
                scope.spawn(move |s| run_ref.task(s, id));
            }
            run_ref.node(scope, *last);
        }
    });
    if let Some(e) = run.error.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(e);
    }
    let mut results = Vec::with_capacity(graph.results.len());
    for r in &graph.results {
        let v = run.take(plan.offsets[r.node] + r.index);
        results.push(v.ok_or_else(|| Error::precondition("Graph::run", "a result has no value"))?);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::Schedule;
    use crate::function::trace_graph;
    use tf_core::op::TensorSpec;
    use tf_core::{DType, ops};

    fn spec(rows: Option<usize>, cols: usize) -> TensorSpec {
        TensorSpec::new(DType::F32, vec![rows, Some(cols)])
    }

    #[test]
    fn overlapping_heavy_nodes_get_a_schedule() {
        let g = trace_graph("two", &[spec(Some(64), 64)], false, &mut |a| {
            let l = ops::matmul(&a[0], &a[0])?;
            let r = ops::tanh(&a[0])?;
            Ok(vec![ops::add(&l, &r)?])
        })
        .unwrap();
        let s = Schedule::new(&g).unwrap();
        // The argument feeds both branches; the Add waits for both.
        assert_eq!(s.consumers[0].len(), 2);
        assert_eq!(s.preds[g.nodes.len() - 1], 2);
        // Unknown batch sizes count as heavy.
        let g = trace_graph("unknown", &[spec(None, 4)], false, &mut |a| {
            Ok(vec![ops::exp(&a[0])?, ops::tanh(&a[0])?])
        })
        .unwrap();
        assert!(Schedule::new(&g).is_some());
    }

    fn same_spec(ctx: &tf_core::op::InferContext<'_>) -> tf_core::Result<tf_core::op::Specs> {
        tf_core::op::spec1(ctx.dtype(0), ctx.shape(0))
    }

    fn identity(ctx: &tf_core::op::KernelContext<'_>) -> tf_core::Result<Vec<tf_core::Tensor>> {
        Ok(vec![ctx.input(0).clone()])
    }

    /// An op pinned to the calling thread (like a collective reading thread state).
    static PINNED: tf_core::op::OpDef = tf_core::op::OpDef::new(
        "TestPinnedIdentity",
        tf_core::op::Arity::Fixed(1),
        same_spec,
    )
    .cpu(tf_core::DTypeSet::ALL, identity)
    .on_calling_thread();

    #[test]
    fn a_calling_thread_op_makes_the_graph_run_in_order() {
        let body = |pinned: bool| {
            move |a: &[tf_core::Tensor]| {
                let l = ops::matmul(&a[0], &a[0])?;
                let r = ops::tanh(&a[0])?;
                let r = if pinned {
                    tf_core::op::call1(&PINNED, std::slice::from_ref(&r), &Default::default())?
                } else {
                    r
                };
                Ok(vec![ops::add(&l, &r)?])
            }
        };
        let g = trace_graph("free", &[spec(Some(64), 64)], false, &mut body(false)).unwrap();
        assert!(Schedule::new(&g).is_some());
        let g = trace_graph("pinned", &[spec(Some(64), 64)], false, &mut body(true)).unwrap();
        assert!(Schedule::new(&g).is_none());
    }

    #[test]
    fn chains_and_small_graphs_run_in_order() {
        let g = trace_graph("chain", &[spec(Some(64), 64)], false, &mut |a| {
            let x = ops::matmul(&a[0], &a[0])?;
            Ok(vec![ops::tanh(&ops::exp(&x)?)?])
        })
        .unwrap();
        assert!(Schedule::new(&g).is_none());
        let g = trace_graph("small", &[spec(Some(4), 4)], false, &mut |a| {
            Ok(vec![ops::exp(&a[0])?, ops::tanh(&a[0])?])
        })
        .unwrap();
        assert!(Schedule::new(&g).is_none());
    }
}
