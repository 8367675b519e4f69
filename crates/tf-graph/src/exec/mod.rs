//! Running a graph: each value freed right after its last use (so the buffer pool hands
//! it to the next node of the same size), optional per-node timing.
//!
//! Ops go through tf-core's [`dispatch`]: with nothing on the context stack that is the
//! eager kernel path; under an outer tape the ops are recorded (so gradients flow through
//! a function call), and under an outer tracer they are traced (the graph is inlined).
//!
//! Kernels parallelize internally with rayon (intra-op). Nodes run one after another on
//! the calling thread, unless the graph has independent heavy branches and nothing is on
//! the context stack: then [`parallel`] runs ready nodes concurrently as tasks of the
//! same rayon pool (inter-op), so both levels share the pool's threads and 2 cores are
//! never oversubscribed. Stateful nodes (random ops, variable reads and assignments,
//! control flow) keep their program order in both modes.
//!
//! In order, a node whose op asks to be scheduled early
//! ([`OpDef::schedule_early`](tf_core::op::OpDef::schedule_early): a non-blocking
//! collective) runs as soon as its inputs are ready; everything else keeps program
//! order (see [`early_order`]). Between nodes the
//! executor calls [`tf_core::context::progress`], so asynchronous work started by such
//! a node advances while the rest of the graph computes.

mod parallel;

pub use parallel::{inter_op_parallelism_threads, set_inter_op_parallelism_threads};

use crate::graph::{Graph, Node, NodeKind, Output};
use std::fmt;
use std::time::{Duration, Instant};
use tf_core::op::{OpCall, dispatch};
use tf_core::{Error, Result, Tensor};

/// Per-node timings of one run.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// `(node name, type name, time)` in execution order.
    pub nodes: Vec<(String, &'static str, Duration)>,
    /// Wall time of the whole run.
    pub total: Duration,
}

impl Profile {
    /// Total time per node type, largest first.
    pub fn by_type(&self) -> Vec<(&'static str, Duration, usize)> {
        let mut acc: Vec<(&'static str, Duration, usize)> = Vec::new();
        for (_, t, d) in &self.nodes {
            match acc.iter_mut().find(|(n, _, _)| n == t) {
                Some(e) => {
                    e.1 += *d;
                    e.2 += 1;
                }
                None => acc.push((t, *d, 1)),
            }
        }
        acc.sort_by_key(|e| std::cmp::Reverse(e.1));
        acc
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "total {:?} over {} nodes", self.total, self.nodes.len())?;
        for (t, d, n) in self.by_type() {
            writeln!(f, "  {t:<24} {n:>5} × {:>12?}", d)?;
        }
        Ok(())
    }
}

/// Checks `args` against the graph's argument specs.
pub(crate) fn check_args(graph: &Graph, args: &[Tensor], what: &str) -> Result<()> {
    if args.len() != graph.args.len() {
        return Err(Error::invalid(
            what.to_string(),
            format!(
                "expected {} arguments, got {}",
                graph.args.len(),
                args.len()
            ),
        ));
    }
    for (k, (a, &id)) in args.iter().zip(&graph.args).enumerate() {
        let spec = &graph.nodes[id].outputs[0];
        let ok = spec.dtype == a.dtype()
            && if a.is_symbolic() {
                a.rank() == spec.shape.rank()
            } else {
                spec.shape.is_compatible_with(a.dims())
            };
        if !ok {
            return Err(Error::invalid(
                what.to_string(),
                format!(
                    "argument {k} must be {spec}, got {}{}",
                    a.dtype(),
                    a.shape()
                ),
            ));
        }
    }
    Ok(())
}

/// What a run needs to know about a graph beyond its nodes, computed once per graph:
/// where each node's outputs live in the flat value table and how many uses each has.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    offsets: Vec<usize>,
    uses: Vec<u32>,
    /// The order the in-order executor runs the nodes in when it is not program order
    /// (the graph has nodes scheduled early).
    order: Option<Vec<usize>>,
    /// Dependencies for the inter-op parallel executor: `None` when the graph has no
    /// independent heavy nodes to overlap (it then always runs in order).
    schedule: Option<parallel::Schedule>,
}

impl Plan {
    pub(crate) fn new(graph: &Graph) -> Plan {
        let mut offsets = Vec::with_capacity(graph.nodes.len());
        let mut total = 0;
        for n in &graph.nodes {
            offsets.push(total);
            total += n.outputs.len();
        }
        let mut uses = vec![0u32; total];
        for n in &graph.nodes {
            for i in &n.inputs {
                if let Some(u) = offsets.get(i.node).and_then(|o| uses.get_mut(o + i.index)) {
                    *u += 1;
                }
            }
        }
        for r in &graph.results {
            if let Some(u) = offsets.get(r.node).and_then(|o| uses.get_mut(o + r.index)) {
                *u += 1;
            }
        }
        let schedule = parallel::Schedule::new(graph);
        Plan {
            offsets,
            uses,
            order: early_order(graph),
            schedule,
        }
    }
}

impl Graph {
    /// Runs the graph on `args` and returns its results.
    ///
    /// Errors when the arguments do not match the placeholders' specs (naming the
    /// argument), or when a node fails (the error of its op).
    pub fn run(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        self.validate()?;
        check_args(self, args, "Graph::run")?;
        run(self, &Plan::new(self), args, None)
    }

    /// [`Graph::run`], also timing every node.
    pub fn run_profiled(&self, args: &[Tensor]) -> Result<(Vec<Tensor>, Profile)> {
        self.validate()?;
        check_args(self, args, "Graph::run")?;
        let mut p = Profile::default();
        let out = run(self, &Plan::new(self), args, Some(&mut p))?;
        Ok((out, p))
    }
}

/// The error of a node whose input has no value (a malformed graph).
fn missing_input(node: &Node) -> Error {
    Error::precondition(
        node.kind.type_name(),
        format!("graph node '{}': an input has no value", node.name),
    )
}

/// Runs one node on its gathered inputs (which it may consume: a fused chain updates
/// an input nothing else holds in place) and checks its output count.
fn exec_node(
    graph: &Graph,
    node: &Node,
    args: &[Tensor],
    inputs: &mut Vec<Tensor>,
) -> Result<Vec<Tensor>> {
    let outs: Vec<Tensor> = match &node.kind {
        NodeKind::Placeholder { index } => vec![
            args.get(*index)
                .cloned()
                .ok_or_else(|| Error::invalid("Graph::run", "missing argument"))?,
        ],
        NodeKind::Const(t) => vec![t.clone()],
        NodeKind::Op(def) => match crate::fused::run_in_place(def.name, inputs) {
            // A float32 elementwise op writing into an input nothing else holds.
            Some(out) => vec![out?],
            None => dispatch(&OpCall::new(def, inputs, &node.attrs))?,
        },
        NodeKind::ReadVariable { var } => vec![graph.variables[*var].read()?],
        NodeKind::AssignVariable { var, kind } => {
            let value = inputs.first().ok_or_else(|| missing_input(node))?;
            graph.variables[*var].assign_with(*kind, value)?;
            Vec::new()
        }
        NodeKind::FusedElementwise(p) => vec![p.run_owned(std::mem::take(inputs))?],
        NodeKind::Cond(c) => crate::control_flow::run_cond(c, inputs)?,
        NodeKind::While(w) if w.gradient => crate::control_flow::run_while_grad(w, inputs)?,
        NodeKind::While(w) => crate::control_flow::run_while(w, inputs)?,
    };
    if outs.len() != node.outputs.len() {
        return Err(Error::precondition(
            node.kind.type_name(),
            format!(
                "graph node '{}' produced {} outputs, its spec says {}",
                node.name,
                outs.len(),
                node.outputs.len()
            ),
        ));
    }
    Ok(outs)
}

/// Runs `graph` (whose arguments were checked) with its precomputed `plan`: in
/// parallel when the plan has a schedule, nothing is on the context stack (eager kernels,
/// no tape or tracer to keep on this thread), no profile is asked for and inter-op
/// parallelism is not switched off; in order otherwise.
pub(crate) fn run(
    graph: &Graph,
    plan: &Plan,
    args: &[Tensor],
    profile: Option<&mut Profile>,
) -> Result<Vec<Tensor>> {
    if let Some(schedule) = &plan.schedule
        && profile.is_none()
        && !tf_core::context::is_active()
        && parallel::enabled()
    {
        return parallel::run(graph, plan, schedule, args);
    }
    run_in_order(graph, plan, args, profile)
}

/// Takes input slot `slot` when this is its last use, clones it otherwise.
fn take_or_clone(
    values: &mut [Option<Tensor>],
    remaining: &mut [u32],
    slot: usize,
) -> Option<Tensor> {
    let left = &mut remaining[slot];
    *left = left.saturating_sub(1);
    if *left == 0 {
        values[slot].take()
    } else {
        values[slot].clone()
    }
}

/// The order in which the in-order executor runs `graph`, or `None` for program order
/// (no node is scheduled early, or the graph is not in topological order).
///
/// The *early* nodes are those whose op has
/// [`schedule_early`](tf_core::op::OpDef::schedule_early) (such an op takes the values
/// it needs directly, e.g. all the gradients of a bucket, so no other node has to move
/// with it). The order is a topological sort that runs a ready early node before
/// anything else and otherwise the ready node first in program order; so the other
/// nodes keep their relative program order, and the order is the same in every process
/// that runs the same graph (collectives stay matched).
pub(crate) fn early_order(graph: &Graph) -> Option<Vec<usize>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = graph.nodes.len();
    let early: Vec<bool> = graph
        .nodes
        .iter()
        .map(|node| matches!(&node.kind, NodeKind::Op(def) if def.schedule_early))
        .collect();
    if !early.contains(&true) {
        return None;
    }
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut preds = vec![0u32; n];
    for (id, node) in graph.nodes.iter().enumerate() {
        let mut from: Vec<usize> = node.inputs.iter().map(|o| o.node).collect();
        from.sort_unstable();
        from.dedup();
        for p in from {
            if p >= id {
                return None;
            }
            consumers[p].push(id);
            preds[id] += 1;
        }
    }
    let mut ready_early: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    let mut ready: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    for id in (0..n).filter(|&id| preds[id] == 0) {
        if early[id] {
            ready_early.push(Reverse(id));
        } else {
            ready.push(Reverse(id));
        }
    }
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(id)) = ready_early.pop().or_else(|| ready.pop()) {
        order.push(id);
        for &c in &consumers[id] {
            preds[c] -= 1;
            if preds[c] == 0 {
                if early[c] {
                    ready_early.push(Reverse(c));
                } else {
                    ready.push(Reverse(c));
                }
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Runs the nodes one after another on the calling thread (in the plan's order).
fn run_in_order(
    graph: &Graph,
    plan: &Plan,
    args: &[Tensor],
    mut profile: Option<&mut Profile>,
) -> Result<Vec<Tensor>> {
    let start = Instant::now();
    let mut remaining = plan.uses.clone();
    let mut values: Vec<Option<Tensor>> = vec![None; remaining.len()];
    let mut inputs: Vec<Tensor> = Vec::with_capacity(8);
    let program_order = 0..graph.nodes.len();
    let order: &mut dyn Iterator<Item = usize> = match &plan.order {
        Some(o) => &mut o.iter().copied(),
        None => &mut program_order.into_iter(),
    };
    for id in order {
        let node = &graph.nodes[id];
        tf_core::context::progress();
        let t0 = profile.as_ref().map(|_| Instant::now());
        inputs.clear();
        for &Output { node: src, index } in &node.inputs {
            let v = take_or_clone(&mut values, &mut remaining, plan.offsets[src] + index);
            inputs.push(v.ok_or_else(|| missing_input(node))?);
        }
        let outs = exec_node(graph, node, args, &mut inputs)?;
        let base = plan.offsets[id];
        for (k, o) in outs.into_iter().enumerate() {
            if remaining[base + k] > 0 {
                values[base + k] = Some(o);
            }
        }
        if let (Some(p), Some(t0)) = (profile.as_deref_mut(), t0) {
            p.nodes
                .push((node.name.clone(), node.kind.type_name(), t0.elapsed()));
        }
    }
    inputs.clear();
    let mut results = Vec::with_capacity(graph.results.len());
    for r in &graph.results {
        let v = take_or_clone(&mut values, &mut remaining, plan.offsets[r.node] + r.index);
        results.push(v.ok_or_else(|| Error::precondition("Graph::run", "a result has no value"))?);
    }
    if let Some(p) = profile {
        p.total = start.elapsed();
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::function::trace_graph;
    use std::cell::Cell;
    use std::rc::Rc;
    use tf_core::op::{Arity, KernelContext, OpDef, TensorSpec};
    use tf_core::{DType, DTypeSet, Tensor, ops};

    fn same_spec(ctx: &tf_core::op::InferContext<'_>) -> tf_core::Result<tf_core::op::Specs> {
        tf_core::op::spec1(ctx.dtype(0), ctx.shape(0))
    }

    fn identity(ctx: &KernelContext<'_>) -> tf_core::Result<Vec<Tensor>> {
        Ok(vec![ctx.input(0).clone()])
    }

    /// Stands for a non-blocking collective's start.
    static EARLY: OpDef = OpDef::new("TestEarlyIdentity", Arity::Fixed(1), same_spec)
        .cpu(DTypeSet::ALL, identity)
        .stateful()
        .on_calling_thread()
        .scheduled_early();

    fn early(x: &Tensor) -> tf_core::Result<Tensor> {
        tf_core::op::call1(&EARLY, std::slice::from_ref(x), &Default::default())
    }

    /// Types of the nodes in the order a profiled run executed them.
    fn executed(g: &crate::graph::Graph, x: &Tensor) -> Vec<&'static str> {
        let (_, p) = g.run_profiled(std::slice::from_ref(x)).unwrap();
        p.nodes.iter().map(|(_, t, _)| *t).collect()
    }

    #[test]
    fn early_nodes_run_as_soon_as_their_inputs_are_ready() {
        let spec = TensorSpec::new(DType::F32, vec![Some(2), Some(3)]);
        // Program order: h, g (a "gradient"), a chain of four, then the early node
        // taking g and one taking the chain's end.
        let g = trace_graph("overlap", std::slice::from_ref(&spec), false, &mut |a| {
            let h = ops::tanh(&a[0])?;
            let grad = ops::exp(&h)?;
            let mut c = ops::sin(&h)?;
            c = ops::cos(&c)?;
            c = ops::sqrt(&ops::abs(&c)?)?;
            let started = early(&grad)?;
            let late = early(&c)?;
            Ok(vec![c, started, late])
        })
        .unwrap();
        let x = Tensor::from_vec(vec![0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6], [2, 3]).unwrap();
        let order = executed(&g, &x);
        let pos = |t: &str| order.iter().position(|o| *o == t).unwrap();
        let last = order
            .iter()
            .rposition(|o| *o == "TestEarlyIdentity")
            .unwrap();
        assert!(pos("Exp") < pos("TestEarlyIdentity"), "{order:?}");
        assert!(pos("TestEarlyIdentity") < pos("Sin"), "{order:?}");
        // The rest keeps program order; the second early node waits for its input.
        assert!(
            pos("Sin") < pos("Cos") && pos("Cos") < pos("Abs"),
            "{order:?}"
        );
        assert!(pos("Sqrt") < last, "{order:?}");
        // Same results as eager code.
        let out = g.run(std::slice::from_ref(&x)).unwrap();
        let want = ops::exp(&ops::tanh(&x).unwrap()).unwrap();
        assert_eq!(
            out[1].to_vec::<f32>().unwrap(),
            want.to_vec::<f32>().unwrap()
        );
        // Without an early node the order is program order.
        let plain = trace_graph("plain", std::slice::from_ref(&spec), false, &mut |a| {
            Ok(vec![ops::sin(&ops::tanh(&a[0])?)?, ops::exp(&a[0])?])
        })
        .unwrap();
        assert!(super::early_order(&plain).is_none());
    }

    #[test]
    fn the_in_order_executor_calls_progress_hooks_between_nodes() {
        let spec = TensorSpec::new(DType::F32, vec![Some(4)]);
        let g = trace_graph("hooks", std::slice::from_ref(&spec), false, &mut |a| {
            Ok(vec![ops::sin(&ops::cos(&early(&a[0])?)?)?])
        })
        .unwrap();
        let calls = Rc::new(Cell::new(0usize));
        let c = calls.clone();
        let guard = tf_core::context::register_progress_hook(Rc::new(move || c.set(c.get() + 1)));
        let x = Tensor::from_vec(vec![0.5f32; 4], [4]).unwrap();
        g.run(std::slice::from_ref(&x)).unwrap();
        assert!(calls.get() >= g.nodes.len(), "{} calls", calls.get());
        drop(guard);
        let before = calls.get();
        g.run(std::slice::from_ref(&x)).unwrap();
        assert_eq!(calls.get(), before);
    }
}
