//! Remapper fusion: `MatMul` or `Conv2D`, then a bias add (`BiasAdd` in NHWC, or `AddV2`
//! with a rank-1 bias over the last dimension), then optionally `Relu`/`Relu6`, become one
//! `_FusedMatMul` / `_FusedConv2D` node (float32/float64), when each intermediate has no
//! other use.

use super::Pass;
use crate::graph::{Graph, NodeKind, Output};
use tf_core::DType;
use tf_core::op::{Attrs, OpDef};
use tf_core::ops::{FUSED_CONV2D, FUSED_MATMUL};

/// Fuses MatMul/Conv2D + bias + activation.
pub struct FuseBiasActivation;

fn op_of(graph: &Graph, id: usize) -> Option<&'static OpDef> {
    match graph.nodes[id].kind {
        NodeKind::Op(def) => Some(def),
        _ => None,
    }
}

impl FuseBiasActivation {
    /// If node `add` adds a bias to a fusable producer, returns (producer, bias).
    fn bias_add_of(graph: &Graph, add: usize, uses: &[Vec<usize>]) -> Option<(usize, Output)> {
        let def = op_of(graph, add)?;
        let node = &graph.nodes[add];
        let (x, bias) = match (def.name, node.inputs.as_slice()) {
            ("BiasAdd", [x, b]) => {
                if node.attrs.str("data_format").is_some_and(|f| f != "NHWC") {
                    return None;
                }
                (*x, *b)
            }
            ("AddV2", [x, b]) => {
                let out = &graph.spec(*x).shape;
                let bs = &graph.spec(*b).shape;
                let last = out.dims().last().copied().flatten();
                if bs.rank() != 1 || last.is_none() || bs.dims()[0] != last {
                    return None;
                }
                (*x, *b)
            }
            _ => return None,
        };
        if x.index != 0 || uses[x.node][0] != 1 {
            return None;
        }
        let base = op_of(graph, x.node)?;
        if !matches!(base.name, "MatMul" | "Conv2D") {
            return None;
        }
        let dtype = graph.spec(x).dtype;
        if !matches!(dtype, DType::F32 | DType::F64) || graph.spec(bias).dtype != dtype {
            return None;
        }
        Some((x.node, bias))
    }
}

impl Pass for FuseBiasActivation {
    fn name(&self) -> &'static str {
        "fuse_bias_activation"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool, tf_core::Error> {
        let uses = graph.use_counts();
        let n = graph.nodes.len();
        let mut keep = vec![true; n];
        let mut changed = false;
        for id in 0..n {
            if !keep[id] {
                continue;
            }
            // `id` is the last node of the pattern: an activation over a bias add, or a
            // bias add not followed by a fusable activation.
            let act = op_of(graph, id)
                .map(|d| d.name)
                .filter(|n| matches!(*n, "Relu" | "Relu6"));
            let (add, activation) = match act {
                Some(a) => {
                    let x = graph.nodes[id].inputs[0];
                    if uses[x.node][0] != 1 {
                        continue;
                    }
                    (x.node, a)
                }
                None => (id, ""),
            };
            let Some((base, bias)) = FuseBiasActivation::bias_add_of(graph, add, &uses) else {
                continue;
            };
            if activation.is_empty() {
                // Leave a bias add whose only consumer is an activation for that node.
                let consumers = graph.consumers();
                if let [c] = consumers[add].as_slice()
                    && op_of(graph, *c).is_some_and(|d| matches!(d.name, "Relu" | "Relu6"))
                    && uses[add][0] == 1
                {
                    continue;
                }
            }
            let base_def = op_of(graph, base).map(|d| d.name);
            let fused: &'static OpDef = if base_def == Some("MatMul") {
                &FUSED_MATMUL
            } else {
                &FUSED_CONV2D
            };
            let mut attrs: Attrs = graph.nodes[base].attrs.clone();
            attrs.set("activation", activation);
            let inputs = vec![
                graph.nodes[base].inputs[0],
                graph.nodes[base].inputs[1],
                bias,
            ];
            // Check with the op's own inference before committing the rewrite.
            let Ok(specs) = graph.infer(fused, &inputs, &attrs) else {
                continue;
            };
            if specs.first() != graph.nodes[id].outputs.first() {
                continue;
            }
            let node = &mut graph.nodes[id];
            node.kind = NodeKind::Op(fused);
            node.inputs = inputs;
            node.attrs = attrs;
            keep[base] = false;
            if add != id {
                keep[add] = false;
            }
            changed = true;
        }
        if changed {
            graph.retain(&keep);
        }
        Ok(changed)
    }
}
