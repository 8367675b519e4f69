//! Arithmetic simplification: `x * 1`, `1 * x`, `x + 0`, `0 + x`, `x - 0`, `x / 1` (when
//! the constant does not change x's shape or dtype), identity ops and same-dtype casts
//! become `x`; `transpose(transpose(x))` becomes one transpose (or `x`);
//! `reshape(reshape(x))` becomes one reshape.

use super::Pass;
use crate::graph::{Graph, NodeKind, Output};
use tf_core::op::{Attrs, OpCall, execute_eager};
use tf_core::{DType, Tensor};

/// Algebraic rewrites.
pub struct ArithmeticSimplification;

/// Whether `o` is a constant whose every element equals `value`.
fn is_const_all(graph: &Graph, o: Output, value: f64) -> bool {
    let NodeKind::Const(t) = &graph.nodes[o.node].kind else {
        return false;
    };
    if t.num_elements() > 4096 || t.is_symbolic() || t.dtype() == DType::Bool {
        return false;
    }
    let attrs = Attrs::new().with("DstT", DType::F64);
    let Ok(mut c) = execute_eager(&OpCall::new(
        &tf_core::ops::CAST,
        std::slice::from_ref(t),
        &attrs,
    )) else {
        return false;
    };
    c.pop()
        .and_then(|c: Tensor| c.to_vec::<f64>().ok())
        .is_some_and(|v| v.iter().all(|&x| x == value))
}

fn op_name(graph: &Graph, id: usize) -> Option<&'static str> {
    match graph.nodes[id].kind {
        NodeKind::Op(def) => Some(def.name),
        _ => None,
    }
}

impl ArithmeticSimplification {
    /// What node `id` simplifies to, if it is a no-op on one of its inputs.
    fn forward(graph: &Graph, id: usize) -> Option<Output> {
        let node = &graph.nodes[id];
        let name = op_name(graph, id)?;
        let out = &node.outputs[0];
        let same_as_out = |o: Output| graph.spec(o) == out;
        match (name, node.inputs.as_slice()) {
            ("Identity", [x]) => Some(*x),
            ("Cast", [x]) if graph.spec(*x).dtype == out.dtype && same_as_out(*x) => Some(*x),
            ("Mul", [a, b]) => {
                if same_as_out(*a) && is_const_all(graph, *b, 1.0) {
                    Some(*a)
                } else if same_as_out(*b) && is_const_all(graph, *a, 1.0) {
                    Some(*b)
                } else {
                    None
                }
            }
            ("AddV2", [a, b]) => {
                if same_as_out(*a) && is_const_all(graph, *b, 0.0) {
                    Some(*a)
                } else if same_as_out(*b) && is_const_all(graph, *a, 0.0) {
                    Some(*b)
                } else {
                    None
                }
            }
            ("Sub", [a, b]) if same_as_out(*a) && is_const_all(graph, *b, 0.0) => Some(*a),
            ("RealDiv", [a, b]) if same_as_out(*a) && is_const_all(graph, *b, 1.0) => Some(*a),
            _ => None,
        }
    }
}

impl Pass for ArithmeticSimplification {
    fn name(&self) -> &'static str {
        "arithmetic_simplification"
    }

    fn run(&self, graph: &mut Graph) -> Result<bool, tf_core::Error> {
        let mut changed = false;
        for id in 0..graph.nodes.len() {
            if graph.nodes[id].outputs.len() != 1 {
                continue;
            }
            if let Some(x) = ArithmeticSimplification::forward(graph, id) {
                graph.replace_uses(Output::new(id, 0), x);
                changed = true;
                continue;
            }
            let Some(name) = op_name(graph, id) else {
                continue;
            };
            let [inner] = graph.nodes[id].inputs[..] else {
                continue;
            };
            if op_name(graph, inner.node) != Some(name) {
                continue;
            }
            match name {
                "Reshape" => {
                    // reshape(reshape(x, s1), s2) == reshape(x, s2).
                    let x = graph.nodes[inner.node].inputs[0];
                    graph.nodes[id].inputs[0] = x;
                    changed = true;
                }
                "Transpose" => {
                    let (Some(p1), Some(p2)) = (
                        graph.nodes[inner.node]
                            .attrs
                            .ints("perm")
                            .map(<[i64]>::to_vec),
                        graph.nodes[id].attrs.ints("perm").map(<[i64]>::to_vec),
                    ) else {
                        continue;
                    };
                    if p1.len() != p2.len() {
                        continue;
                    }
                    // out[i] = mid[p2[i]] = x[p1[p2[i]]].
                    let Some(composed) = p2
                        .iter()
                        .map(|&j| usize::try_from(j).ok().and_then(|j| p1.get(j).copied()))
                        .collect::<Option<Vec<i64>>>()
                    else {
                        continue;
                    };
                    let x = graph.nodes[inner.node].inputs[0];
                    let identity = composed.iter().enumerate().all(|(i, &p)| p == i as i64);
                    if identity && graph.spec(x) == &graph.nodes[id].outputs[0] {
                        graph.replace_uses(Output::new(id, 0), x);
                    } else {
                        let node = &mut graph.nodes[id];
                        node.inputs[0] = x;
                        node.attrs.set("perm", composed);
                    }
                    changed = true;
                }
                _ => {}
            }
        }
        Ok(changed)
    }
}
