//! Control flow on tensor values: [`cond`] and [`while_loop`].
//!
//! Eagerly they simply run Rust code (so tapes record whatever runs and they are
//! differentiable like any eager code). While tracing they become `If` / `While` graph
//! nodes holding traced subgraphs. Under a tape that records inside a traced function, a
//! `cond` whose branches have no side effects is lowered to both branches plus
//! `SelectV2`, which the tape can differentiate; a traced `while_loop` under a recording
//! tape is refused with an error (run it eagerly, or compute its gradient outside).

use crate::graph::{CondNode, Graph, NodeKind, WhileNode};
use crate::trace::{Tracer, current_tracer};
use std::rc::Rc;
use std::sync::Arc;
use tf_core::op::{Attrs, TensorSpec};
use tf_core::{DType, Error, PartialShape, Result, Tensor, ops};

fn scalar_bool(op: &'static str, t: &Tensor) -> Result<bool> {
    if t.dtype() != DType::Bool || t.num_elements() != 1 {
        return Err(Error::invalid(
            op,
            format!(
                "the predicate must be a scalar bool tensor, got {}{}",
                t.dtype(),
                t.shape()
            ),
        ));
    }
    t.scalar::<bool>()
}

/// Traces `f` into a subgraph of `parent` whose arguments are `args`' specs followed by
/// whatever enclosing tensors `f` captures. Returns the graph and the captured tensors.
fn trace_sub(
    parent: &Rc<Tracer>,
    what: &str,
    arg_specs: &[TensorSpec],
    f: impl FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
) -> Result<(Graph, Vec<Tensor>)> {
    let tracer = Tracer::child(parent, what);
    let args: Vec<Tensor> = arg_specs
        .iter()
        .map(|s| tracer.placeholder(s.clone()))
        .collect();
    let outs = {
        let _scope = tracer.enter();
        f(&args)?
    };
    let graph = tracer.finish(&outs)?;
    Ok((graph, tracer.captured()))
}

/// Reorders a branch's capture arguments to the node's capture order.
fn align_captures(g: &mut Graph, own: &[Tensor], all: &[Tensor], leading: usize) {
    // Argument i (after `leading`) of `g` is own[i]; the node passes all[j] at position
    // leading + j. Rebuild the argument list in that order, adding unused placeholders.
    let specs: Vec<TensorSpec> = all
        .iter()
        .map(|t| TensorSpec::new(t.dtype(), t.partial_shape()))
        .collect();
    let mut order: Vec<usize> = g.args[..leading].to_vec();
    let own_ids: Vec<usize> = g.args[leading..].to_vec();
    for (j, t) in all.iter().enumerate() {
        match own.iter().position(|o| o.id() == t.id()) {
            Some(i) => order.push(own_ids[i]),
            None => {
                let o = g.placeholder(specs[j].clone());
                order.push(o.node);
            }
        }
    }
    g.args = order;
    for (k, &id) in g.args.clone().iter().enumerate() {
        g.nodes[id].kind = NodeKind::Placeholder { index: k };
    }
}

fn merged_specs(op: &'static str, a: &[TensorSpec], b: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
    if a.len() != b.len() {
        return Err(Error::invalid(
            op,
            format!(
                "the branches return different numbers of tensors: {} and {}",
                a.len(),
                b.len()
            ),
        ));
    }
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(k, (x, y))| {
            if x.dtype != y.dtype {
                return Err(Error::invalid(
                    op,
                    format!("output {k}: the branches return {x} and {y}"),
                ));
            }
            if x.shape.rank() != y.shape.rank() {
                return Err(Error::invalid(
                    op,
                    format!("output {k}: the branches return different ranks, {x} and {y}"),
                ));
            }
            let shape: PartialShape = x
                .shape
                .dims()
                .iter()
                .zip(y.shape.dims())
                .map(|(p, q)| if p == q { *p } else { None })
                .collect();
            Ok(TensorSpec::new(x.dtype, shape))
        })
        .collect()
}

/// `tf.cond`: `true_fn()` when `pred` (a scalar bool) is true, else `false_fn()`. Both
/// must return the same number of tensors with the same dtypes.
pub fn cond(
    pred: &Tensor,
    true_fn: impl FnOnce() -> Result<Vec<Tensor>>,
    false_fn: impl FnOnce() -> Result<Vec<Tensor>>,
) -> Result<Vec<Tensor>> {
    let Some(tracer) = current_tracer().filter(|_| pred.is_symbolic()) else {
        return if scalar_bool("cond", pred)? {
            true_fn()
        } else {
            false_fn()
        };
    };
    if pred.dtype() != DType::Bool || pred.rank() != 0 {
        return Err(Error::invalid(
            "cond",
            format!(
                "the predicate must be a scalar bool tensor, got {}{}",
                pred.dtype(),
                pred.partial_shape()
            ),
        ));
    }
    let (mut then_g, then_caps) = trace_sub(&tracer, "cond/then", &[], |_| true_fn())?;
    let (mut else_g, else_caps) = trace_sub(&tracer, "cond/else", &[], |_| false_fn())?;
    let specs = merged_specs("cond", &then_g.output_specs(), &else_g.output_specs())?;
    let pure = !then_g.has_side_effects() && !else_g.has_side_effects();
    if pure && !tf_core::context::active_observers().is_empty() {
        // A tape records inside this trace: inline both branches and select, so the
        // recorded ops carry the gradient.
        let t = then_g.run(&then_caps)?;
        let e = else_g.run(&else_caps)?;
        return t
            .iter()
            .zip(&e)
            .map(|(a, b)| ops::select(pred, a, b))
            .collect();
    }
    let mut all = then_caps.clone();
    for c in &else_caps {
        if !all.iter().any(|a| a.id() == c.id()) {
            all.push(c.clone());
        }
    }
    align_captures(&mut then_g, &then_caps, &all, 0);
    align_captures(&mut else_g, &else_caps, &all, 0);
    let mut inputs = vec![tracer.output_of(pred)?];
    for c in &all {
        inputs.push(tracer.output_of(c)?);
    }
    let node = CondNode {
        then_graph: then_g,
        else_graph: else_g,
    };
    Ok(tracer.add(
        "cond",
        NodeKind::Cond(Arc::new(node)),
        inputs,
        Attrs::new(),
        specs,
    ))
}

/// `tf.while_loop`: repeats `loop_vars = body(loop_vars)` while `cond(loop_vars)` is true
/// (at most `maximum_iterations` times when given). Loop variables keep their dtype and
/// shape; `cond` returns a scalar bool.
pub fn while_loop(
    cond_fn: impl Fn(&[Tensor]) -> Result<Tensor>,
    body: impl Fn(&[Tensor]) -> Result<Vec<Tensor>>,
    loop_vars: Vec<Tensor>,
    maximum_iterations: Option<usize>,
) -> Result<Vec<Tensor>> {
    let tracer = current_tracer().filter(|_| loop_vars.iter().any(Tensor::is_symbolic));
    let Some(tracer) = tracer else {
        let mut vars = loop_vars;
        let mut i = 0;
        while maximum_iterations.is_none_or(|m| i < m) {
            let c = cond_fn(&vars)?;
            if c.is_symbolic() {
                return Err(Error::invalid(
                    "while_loop",
                    "the condition depends on a traced value while the loop variables do not; pass that value as a loop variable",
                ));
            }
            if !scalar_bool("while_loop", &c)? {
                break;
            }
            let next = body(&vars)?;
            check_loop_vars(&vars, &next)?;
            vars = next;
            i += 1;
        }
        return Ok(vars);
    };
    if !tf_core::context::active_observers().is_empty() {
        return Err(Error::unimplemented(
            "while_loop",
            "gradients through a traced while_loop are not supported yet: run the loop eagerly, or take the gradient outside the traced function",
        ));
    }
    let specs: Vec<TensorSpec> = loop_vars
        .iter()
        .map(|t| TensorSpec::new(t.dtype(), t.partial_shape()))
        .collect();
    let n = specs.len();
    let (mut cond_g, cond_caps) =
        trace_sub(&tracer, "while/cond", &specs, |a| Ok(vec![cond_fn(a)?]))?;
    let out = cond_g.output_specs();
    if out.len() != 1 || out[0].dtype != DType::Bool || out[0].shape.rank() != 0 {
        return Err(Error::invalid(
            "while_loop",
            format!("the condition must return a scalar bool, got {out:?}"),
        ));
    }
    let (mut body_g, body_caps) = trace_sub(&tracer, "while/body", &specs, |a| body(a))?;
    let body_specs = body_g.output_specs();
    if body_specs.len() != n {
        return Err(Error::invalid(
            "while_loop",
            format!(
                "the body returns {} tensors for {n} loop variables",
                body_specs.len()
            ),
        ));
    }
    for (k, (s, b)) in specs.iter().zip(&body_specs).enumerate() {
        let same_shape = s.shape.rank() == b.shape.rank()
            && s.shape
                .dims()
                .iter()
                .zip(b.shape.dims())
                .all(|(x, y)| x.is_none() || x == y);
        if s.dtype != b.dtype || !same_shape {
            return Err(Error::invalid(
                "while_loop",
                format!("loop variable {k} enters as {s} but the body returns {b}"),
            ));
        }
    }
    let mut all = cond_caps.clone();
    for c in &body_caps {
        if !all.iter().any(|a| a.id() == c.id()) {
            all.push(c.clone());
        }
    }
    align_captures(&mut cond_g, &cond_caps, &all, n);
    align_captures(&mut body_g, &body_caps, &all, n);
    let mut inputs = Vec::with_capacity(n + all.len());
    for t in loop_vars.iter().chain(&all) {
        inputs.push(tracer.output_of(t)?);
    }
    let node = WhileNode {
        cond_graph: cond_g,
        body_graph: body_g,
        num_loop_vars: n,
        maximum_iterations,
    };
    Ok(tracer.add(
        "while",
        NodeKind::While(Arc::new(node)),
        inputs,
        Attrs::new(),
        specs,
    ))
}

fn check_loop_vars(before: &[Tensor], after: &[Tensor]) -> Result<()> {
    if before.len() != after.len() {
        return Err(Error::invalid(
            "while_loop",
            format!(
                "the body returns {} tensors for {} loop variables",
                after.len(),
                before.len()
            ),
        ));
    }
    for (k, (b, a)) in before.iter().zip(after).enumerate() {
        if b.dtype() != a.dtype() || b.dims() != a.dims() {
            return Err(Error::invalid(
                "while_loop",
                format!(
                    "loop variable {k} enters as {}{} but the body returns {}{}",
                    b.dtype(),
                    b.shape(),
                    a.dtype(),
                    a.shape()
                ),
            ));
        }
    }
    Ok(())
}

/// Runs an `If` node: `inputs` = predicate, then the branch arguments.
pub(crate) fn run_cond(c: &CondNode, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let (pred, rest) = inputs
        .split_first()
        .ok_or_else(|| Error::invalid("If", "missing predicate"))?;
    if scalar_bool("If", pred)? {
        c.then_graph.run(rest)
    } else {
        c.else_graph.run(rest)
    }
}

/// Runs a `While` node: `inputs` = loop variables, then captures.
pub(crate) fn run_while(w: &WhileNode, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    if inputs.len() < w.num_loop_vars {
        return Err(Error::invalid("While", "fewer inputs than loop variables"));
    }
    let (vars, caps) = inputs.split_at(w.num_loop_vars);
    let mut vars = vars.to_vec();
    let mut args: Vec<Tensor> = Vec::with_capacity(inputs.len());
    let mut i = 0;
    while w.maximum_iterations.is_none_or(|m| i < m) {
        args.clear();
        args.extend(vars.iter().cloned());
        args.extend(caps.iter().cloned());
        let c = w.cond_graph.run(&args)?;
        let go = match c.first() {
            Some(t) => scalar_bool("While", t)?,
            None => return Err(Error::invalid("While", "the condition returned nothing")),
        };
        if !go {
            break;
        }
        let next = w.body_graph.run(&args)?;
        check_loop_vars(&vars, &next)?;
        vars = next;
        i += 1;
    }
    Ok(vars)
}
