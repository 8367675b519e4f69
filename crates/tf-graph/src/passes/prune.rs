//! Pruning (dead-code elimination): keeps the nodes the results, the arguments and the
//! side effects (assignments) depend on, through tensor and control edges.

use super::Pass;
use crate::graph::{Graph, NodeKind};
use tf_core::Result;

/// Removes nodes nothing needs.
pub struct Prune;

impl Pass for Prune {
    fn name(&self) -> &'static str {
        "prune"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool> {
        let n = graph.nodes.len();
        let mut keep = vec![false; n];
        let mut stack: Vec<usize> = graph.results.iter().map(|o| o.node).collect();
        for (id, node) in graph.nodes.iter().enumerate() {
            if node.kind.has_side_effects() || matches!(node.kind, NodeKind::Placeholder { .. }) {
                stack.push(id);
            }
        }
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut keep[id], true) {
                continue;
            }
            let node = &graph.nodes[id];
            stack.extend(node.inputs.iter().map(|o| o.node));
            stack.extend(node.control.iter().copied());
        }
        if keep.iter().all(|&k| k) {
            return Ok(false);
        }
        graph.retain(&keep);
        Ok(true)
    }
}
