//! Elementwise fusion: a chain of elementwise ops over tensors of one shape (scalars may
//! join) becomes one `_FusedElementwise` node that makes a single pass over memory
//! (see [`crate::fused`]).
//!
//! A node joins the chain of an input's producer when every use of that producer is by
//! the node (so the intermediate disappears). Chains of one op are left alone.

use super::Pass;
use crate::fused::{ElementwiseProgram, FUSABLE_OPS, FusedStep, Operand};
use crate::graph::{Graph, NodeKind, Output};
use std::sync::Arc;
use tf_core::PartialShape;
use tf_core::op::Attrs;

/// Fuses elementwise chains.
pub struct FuseElementwise;

fn is_single_element(s: &PartialShape) -> bool {
    s.num_elements() == Some(1)
}

impl FuseElementwise {
    /// Whether node `id` can be part of a chain whose shape is its output's.
    fn fusable(graph: &Graph, id: usize) -> bool {
        let node = &graph.nodes[id];
        let NodeKind::Op(def) = node.kind else {
            return false;
        };
        if !FUSABLE_OPS.contains(&def.name) || node.outputs.len() != 1 {
            return false;
        }
        let out = &node.outputs[0].shape;
        node.inputs.iter().all(|&i| {
            let s = &graph.spec(i).shape;
            s == out || (is_single_element(s) && s.rank() <= out.rank())
        })
    }
}

impl Pass for FuseElementwise {
    fn name(&self) -> &'static str {
        "fuse_elementwise"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool, tf_core::Error> {
        let n = graph.nodes.len();
        let consumers = graph.consumers();
        let mut is_result = vec![false; n];
        for r in &graph.results {
            is_result[r.node] = true;
        }
        // group[id] = index of the chain the node belongs to.
        let mut group: Vec<Option<usize>> = vec![None; n];
        let mut chains: Vec<Vec<usize>> = Vec::new();
        for id in 0..n {
            if !FuseElementwise::fusable(graph, id) {
                continue;
            }
            let out_shape = graph.nodes[id].outputs[0].shape.clone();
            let mut joined: Option<usize> = None;
            for &i in &graph.nodes[id].inputs {
                let p = i.node;
                let Some(g) = group[p] else { continue };
                let only_here = !is_result[p] && consumers[p].iter().all(|&c| c == id);
                if !only_here || graph.nodes[p].outputs[0].shape != out_shape {
                    continue;
                }
                match joined {
                    None => {
                        chains[g].push(id);
                        group[id] = Some(g);
                        joined = Some(g);
                    }
                    Some(j) if j != g => {
                        // Merge chain g into j (both end before id; order by node id).
                        let moved = std::mem::take(&mut chains[g]);
                        for &m in &moved {
                            group[m] = Some(j);
                        }
                        chains[j].extend(moved);
                        chains[j].sort_unstable();
                    }
                    _ => {}
                }
            }
            if joined.is_none() {
                group[id] = Some(chains.len());
                chains.push(vec![id]);
            }
        }
        let mut changed = false;
        let mut keep = vec![true; n];
        for chain in chains.iter().filter(|c| c.len() >= 2) {
            let root = *chain.last().unwrap_or(&0);
            let mut inputs: Vec<Output> = Vec::new();
            let mut steps: Vec<FusedStep> = Vec::with_capacity(chain.len());
            for &m in chain {
                let node = &graph.nodes[m];
                let NodeKind::Op(def) = node.kind else {
                    continue;
                };
                let args = node
                    .inputs
                    .iter()
                    .map(|i| match chain.iter().position(|&c| c == i.node) {
                        Some(k) => Operand::Step(k),
                        None => {
                            let k = inputs.iter().position(|x| x == i).unwrap_or_else(|| {
                                inputs.push(*i);
                                inputs.len() - 1
                            });
                            Operand::Input(k)
                        }
                    })
                    .collect();
                steps.push(FusedStep {
                    op: def,
                    attrs: node.attrs.clone(),
                    args,
                });
            }
            let program = ElementwiseProgram {
                steps,
                num_inputs: inputs.len(),
                output: graph.nodes[root].outputs[0].clone(),
            };
            let root_node = &mut graph.nodes[root];
            root_node.kind = NodeKind::FusedElementwise(Arc::new(program));
            root_node.inputs = inputs;
            root_node.attrs = Attrs::new();
            for &m in &chain[..chain.len() - 1] {
                keep[m] = false;
            }
            changed = true;
        }
        if changed {
            graph.retain(&keep);
        }
        Ok(changed)
    }
}
