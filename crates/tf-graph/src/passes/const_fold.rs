//! Constant folding: an op whose inputs are all constants is evaluated once, at
//! optimization time, and replaced by its value (stateful ops never are).

use super::Pass;
use crate::graph::{Graph, NodeKind};
use tf_core::op::{Attrs, OpCall, execute_eager};
use tf_core::{Result, Tensor};

/// Folds constant subexpressions.
pub struct ConstantFolding {
    /// Results larger than this many bytes are not folded (they would bloat the graph).
    pub max_bytes: usize,
}

impl Default for ConstantFolding {
    fn default() -> ConstantFolding {
        ConstantFolding {
            max_bytes: 16 << 20,
        }
    }
}

impl Pass for ConstantFolding {
    fn name(&self) -> &'static str {
        "constant_folding"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for id in 0..graph.nodes.len() {
            let node = &graph.nodes[id];
            let NodeKind::Op(def) = node.kind else {
                continue;
            };
            if def.stateful || node.outputs.len() != 1 || node.inputs.is_empty() {
                continue;
            }
            let mut inputs: Vec<Tensor> = Vec::with_capacity(node.inputs.len());
            for o in &node.inputs {
                match &graph.nodes[o.node].kind {
                    NodeKind::Const(t) => inputs.push(t.clone()),
                    _ => break,
                }
            }
            if inputs.len() != node.inputs.len() {
                continue;
            }
            // An op that fails on these constants keeps its node: the error then surfaces
            // when the graph runs, as it would eagerly.
            let Ok(mut out) = execute_eager(&OpCall::new(def, &inputs, &node.attrs)) else {
                continue;
            };
            let Some(value) = out.pop() else { continue };
            if value.num_elements() * value.dtype().size_of() > self.max_bytes {
                continue;
            }
            let node = &mut graph.nodes[id];
            node.kind = NodeKind::Const(value);
            node.inputs.clear();
            node.attrs = Attrs::new();
            changed = true;
        }
        Ok(changed)
    }
}
