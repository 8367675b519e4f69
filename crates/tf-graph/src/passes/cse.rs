//! Common-subexpression elimination: two nodes computing the same op on the same inputs
//! with equal attributes become one; small equal constants are merged too. Stateful
//! nodes are never merged.

use super::Pass;
use crate::graph::{Graph, NodeKind, Output};
use std::collections::HashMap;
use tf_core::Tensor;

/// Merges duplicate computations.
pub struct CommonSubexpressionElimination;

/// Constants up to this many elements are compared by value.
const SMALL_CONST: usize = 64;

fn same_small_const(a: &Tensor, b: &Tensor) -> bool {
    if a.dtype() != b.dtype() || a.dims() != b.dims() || a.num_elements() > SMALL_CONST {
        return false;
    }
    if a.is_symbolic() || b.is_symbolic() {
        return false;
    }
    // Bitwise equality: keeps -0.0 and 0.0 apart (they differ under division).
    match (a.to_le_bytes(), b.to_le_bytes()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

impl Pass for CommonSubexpressionElimination {
    fn name(&self) -> &'static str {
        "common_subexpression_elimination"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool, tf_core::Error> {
        let mut changed = false;
        // (op id, inputs) -> candidate nodes; attrs compared on collision.
        let mut seen: HashMap<(u32, Vec<Output>), Vec<usize>> = HashMap::new();
        let mut consts: Vec<usize> = Vec::new();
        for id in 0..graph.nodes.len() {
            let replacement = match &graph.nodes[id].kind {
                NodeKind::Op(def) if !def.stateful => {
                    let key = (def.id(), graph.nodes[id].inputs.clone());
                    let list = seen.entry(key).or_default();
                    let found = list
                        .iter()
                        .copied()
                        .find(|&j| graph.nodes[j].attrs == graph.nodes[id].attrs);
                    if found.is_none() {
                        list.push(id);
                    }
                    found
                }
                NodeKind::Const(t) if t.num_elements() <= SMALL_CONST => {
                    let found = consts
                        .iter()
                        .copied()
                        .find(|&j| match &graph.nodes[j].kind {
                            NodeKind::Const(u) => same_small_const(t, u),
                            _ => false,
                        });
                    if found.is_none() {
                        consts.push(id);
                    }
                    found
                }
                _ => None,
            };
            if let Some(orig) = replacement {
                for k in 0..graph.nodes[id].outputs.len() {
                    graph.replace_uses(Output::new(id, k), Output::new(orig, k));
                }
                changed = true;
            }
        }
        Ok(changed)
    }
}
