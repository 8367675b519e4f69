//! The backward pass: walks a tape's record in reverse, calling each node's gradient
//! function and accumulating gradients per tensor.
//!
//! All arithmetic goes through tf-core ops, so an outer tape records it (higher-order
//! derivatives) and a tracer traces it (gradients inside `tf.function`).

use crate::registry::{Differentiability, GradContext, gradient_of};
use crate::tape::{NodeKind, TapeInner, UnconnectedGradients};
use std::collections::{HashMap, HashSet};
use tf_core::{Error, Result, Tensor, Variable, ops};

/// Something gradients are taken with respect to.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A tensor (watched, or produced from watched tensors).
    Tensor(&'a Tensor),
    /// A variable (the sum over its reads while the tape recorded).
    Variable(&'a Variable),
}

impl<'a> From<&'a Tensor> for Source<'a> {
    fn from(t: &'a Tensor) -> Self {
        Source::Tensor(t)
    }
}

impl<'a> From<&'a Variable> for Source<'a> {
    fn from(v: &'a Variable) -> Self {
        Source::Variable(v)
    }
}

/// A list of sources, built from slices or arrays of tensors, variables, or [`Source`]s.
#[derive(Clone, Debug)]
pub struct Sources<'a>(pub Vec<Source<'a>>);

macro_rules! sources_from {
    ($($t:ty),*) => {$(
        impl<'a, 'b> From<&'b [&'a $t]> for Sources<'a> {
            fn from(s: &'b [&'a $t]) -> Self { Sources(s.iter().map(|x| Source::from(*x)).collect()) }
        }
        impl<'a, 'b, const N: usize> From<&'b [&'a $t; N]> for Sources<'a> {
            fn from(s: &'b [&'a $t; N]) -> Self { Sources(s.iter().map(|x| Source::from(*x)).collect()) }
        }
        impl<'a> From<&'a [$t]> for Sources<'a> {
            fn from(s: &'a [$t]) -> Self { Sources(s.iter().map(Source::from).collect()) }
        }
        impl<'a, const N: usize> From<&'a [$t; N]> for Sources<'a> {
            fn from(s: &'a [$t; N]) -> Self { Sources(s.iter().map(Source::from).collect()) }
        }
        impl<'a> From<&'a Vec<$t>> for Sources<'a> {
            fn from(s: &'a Vec<$t>) -> Self { Sources(s.iter().map(Source::from).collect()) }
        }
        impl<'a> From<&'a $t> for Sources<'a> {
            fn from(s: &'a $t) -> Self { Sources(vec![Source::from(s)]) }
        }
    )*};
}
sources_from!(Tensor, Variable);

impl<'a> From<Vec<Source<'a>>> for Sources<'a> {
    fn from(v: Vec<Source<'a>>) -> Self {
        Sources(v)
    }
}

impl<'a, 'b> From<&'b [Source<'a>]> for Sources<'a> {
    fn from(v: &'b [Source<'a>]) -> Self {
        Sources(v.to_vec())
    }
}

impl<'a, 'b, const N: usize> From<&'b [Source<'a>; N]> for Sources<'a> {
    fn from(v: &'b [Source<'a>; N]) -> Self {
        Sources(v.to_vec())
    }
}

impl Source<'_> {
    fn dtype(&self) -> tf_core::DType {
        match self {
            Source::Tensor(t) => t.dtype(),
            Source::Variable(v) => v.dtype(),
        }
    }

    fn zeros(&self) -> Result<Tensor> {
        match self {
            Source::Tensor(t) => ops::zeros_like(t),
            Source::Variable(v) => Tensor::zeros(v.shape().clone(), v.dtype()),
        }
    }
}

fn accumulate(grads: &mut HashMap<u64, Tensor>, id: u64, g: Tensor) -> Result<()> {
    match grads.remove(&id) {
        Some(prev) => {
            grads.insert(id, ops::add(&prev, &g)?);
        }
        None => {
            grads.insert(id, g);
        }
    }
    Ok(())
}

/// Checks a gradient function's result against its input (a wrong shape is a bug in the
/// gradient, reported with the op's name).
fn check_grad(op: &str, i: usize, input: &Tensor, g: &Tensor) -> Result<()> {
    if g.dtype() != input.dtype() {
        return Err(Error::invalid(
            op.to_string(),
            format!(
                "gradient for input {i} has dtype {}, the input has {}",
                g.dtype(),
                input.dtype()
            ),
        ));
    }
    if !g.is_symbolic() && !input.is_symbolic() && g.dims() != input.dims() {
        return Err(Error::invalid(
            op.to_string(),
            format!(
                "gradient for input {i} has shape {}, the input has {}",
                g.shape(),
                input.shape()
            ),
        ));
    }
    Ok(())
}

/// Computes d(target)/d(source) for each source from the tape's record.
pub(crate) fn backward(
    tape: &TapeInner,
    target: &Tensor,
    output_gradient: Option<&Tensor>,
    sources: &Sources<'_>,
    unconnected: UnconnectedGradients,
) -> Result<Vec<Option<Tensor>>> {
    // Snapshot the record: gradient ops may be recorded into this very tape (a persistent
    // tape that is still recording), which must not disturb the walk.
    let (nodes, reads) = {
        let st = tape.state.borrow();
        (st.nodes.clone(), st.reads.clone())
    };

    let ids_of = |s: &Source<'_>| -> Vec<u64> {
        match s {
            Source::Tensor(t) => vec![t.id()],
            Source::Variable(v) => reads.get(&v.id()).cloned().unwrap_or_default(),
        }
    };
    let source_ids: Vec<Vec<u64>> = sources.0.iter().map(ids_of).collect();
    let keep: HashSet<u64> = source_ids.iter().flatten().copied().collect();

    // Tensors that depend on a source: only nodes with such an input need a gradient.
    let mut dep = keep.clone();
    for n in &nodes {
        if n.inputs.iter().any(|t| dep.contains(&t.id())) {
            dep.extend(n.outputs.iter().map(Tensor::id));
        }
    }

    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    if target.dtype().is_float() {
        let seed = match output_gradient {
            Some(g) => {
                if g.dtype() != target.dtype()
                    || (!g.is_symbolic() && !target.is_symbolic() && g.dims() != target.dims())
                {
                    return Err(Error::invalid(
                        "GradientTape::gradient",
                        format!(
                            "output_gradients is {}{}, the target is {}{}",
                            g.dtype(),
                            g.shape(),
                            target.dtype(),
                            target.shape()
                        ),
                    ));
                }
                g.clone()
            }
            None => ops::ones_like(target)?,
        };
        grads.insert(target.id(), seed);

        for node in nodes.iter().rev() {
            // Only float inputs that depend on a source can receive a gradient.
            if !node
                .inputs
                .iter()
                .any(|t| t.dtype().is_float() && dep.contains(&t.id()))
            {
                continue;
            }
            let out_grads: Vec<Option<Tensor>> = node
                .outputs
                .iter()
                .map(|o| grads.get(&o.id()).cloned())
                .collect();
            if out_grads.iter().all(Option::is_none) {
                continue;
            }
            let skip: Vec<usize> = node
                .inputs
                .iter()
                .enumerate()
                .filter(|(_, t)| !(t.dtype().is_float() && dep.contains(&t.id())))
                .map(|(i, _)| i)
                .collect();
            let (name, in_grads) = match &node.kind {
                NodeKind::Op(def) => match gradient_of(def) {
                    Differentiability::Gradient(f) => (
                        def.name,
                        f(&GradContext {
                            op: def,
                            inputs: &node.inputs,
                            outputs: &node.outputs,
                            attrs: &node.attrs,
                            grads: &out_grads,
                            skip_input_indices: &skip,
                        })?,
                    ),
                    Differentiability::NotDifferentiable => continue,
                    Differentiability::Unregistered => {
                        return Err(Error::unimplemented(
                            def.name,
                            "no gradient is registered for this op (tf_autodiff::register_gradient, or register_not_differentiable)",
                        ));
                    }
                },
                NodeKind::Custom {
                    name,
                    grad,
                    variables,
                } => {
                    let dys = node
                        .outputs
                        .iter()
                        .zip(&out_grads)
                        .map(|(o, g)| g.clone().map_or_else(|| ops::zeros_like(o), Ok))
                        .collect::<Result<Vec<_>>>()?;
                    let (mut ig, vg) = grad(&dys, variables)?;
                    let n_inputs = node.inputs.len() - variables.len();
                    if ig.len() != n_inputs || vg.len() != variables.len() {
                        return Err(Error::invalid(
                            name.to_string(),
                            format!(
                                "custom gradient returned {} input and {} variable gradients, expected {n_inputs} and {}",
                                ig.len(),
                                vg.len(),
                                variables.len()
                            ),
                        ));
                    }
                    ig.extend(vg);
                    (*name, ig)
                }
            };
            if in_grads.len() != node.inputs.len() {
                return Err(Error::invalid(
                    name,
                    format!(
                        "gradient function returned {} gradients for {} inputs",
                        in_grads.len(),
                        node.inputs.len()
                    ),
                ));
            }
            for (i, (input, g)) in node.inputs.iter().zip(in_grads).enumerate() {
                let Some(g) = g else { continue };
                if !dep.contains(&input.id()) || !input.dtype().is_float() {
                    continue;
                }
                check_grad(name, i, input, &g)?;
                accumulate(&mut grads, input.id(), g)?;
            }
            // Intermediate gradients are no longer needed once consumed.
            for o in &node.outputs {
                if !keep.contains(&o.id()) {
                    grads.remove(&o.id());
                }
            }
        }
    }

    sources
        .0
        .iter()
        .zip(&source_ids)
        .map(|(s, ids)| {
            if !s.dtype().is_float() {
                return Ok(None);
            }
            let mut total: Option<Tensor> = None;
            for id in ids {
                if let Some(g) = grads.get(id) {
                    total = Some(match total {
                        Some(t) => ops::add(&t, g)?,
                        None => g.clone(),
                    });
                }
            }
            match (total, unconnected) {
                (Some(t), _) => Ok(Some(t)),
                (None, UnconnectedGradients::Zero) => s.zeros().map(Some),
                (None, UnconnectedGradients::None) => Ok(None),
            }
        })
        .collect()
}
