//! Building graphs by hand: placeholders, constants, ops (with shape inference),
//! variable reads and assignments.

use super::{Graph, Node, NodeId, NodeKind, Output};
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef, TensorSpec};
use tf_core::variable::AssignKind;
use tf_core::{Error, Result, Tensor, Variable};

/// The handle carried by the stand-in tensors used for shape inference of graph nodes.
struct InferOnly;

impl Graph {
    /// Appends a node as is (no inference, no checks beyond [`Graph::validate`]'s rules at
    /// run time) and returns its id. The name is made unique.
    pub fn add_node(
        &mut self,
        name: &str,
        kind: NodeKind,
        inputs: Vec<Output>,
        attrs: Attrs,
        outputs: Vec<TensorSpec>,
    ) -> NodeId {
        let name = self.unique_name(name);
        self.nodes.push(Node {
            name,
            kind,
            inputs,
            control: Vec::new(),
            attrs,
            outputs,
        });
        self.nodes.len() - 1
    }

    pub(crate) fn unique_name(&self, base: &str) -> String {
        // Names are unique per graph; a linear probe is fine for graph-building rates.
        if !self.nodes.iter().any(|n| n.name == base) {
            return base.to_string();
        }
        let mut k = 1;
        loop {
            let candidate = format!("{base}_{k}");
            if !self.nodes.iter().any(|n| n.name == candidate) {
                return candidate;
            }
            k += 1;
        }
    }

    /// A new argument of the graph with `spec`.
    pub fn placeholder(&mut self, spec: TensorSpec) -> Output {
        let index = self.args.len();
        let id = self.add_node(
            "Placeholder",
            NodeKind::Placeholder { index },
            Vec::new(),
            Attrs::new(),
            vec![spec],
        );
        self.args.push(id);
        Output::new(id, 0)
    }

    /// A constant node holding `value` (which must be concrete).
    pub fn constant(&mut self, value: Tensor) -> Output {
        let spec = TensorSpec::new(value.dtype(), value.shape());
        let id = self.add_node(
            "Const",
            NodeKind::Const(value),
            Vec::new(),
            Attrs::new(),
            vec![spec],
        );
        Output::new(id, 0)
    }

    /// The index of `var` among the graph's variables, adding it if new.
    pub fn capture_variable(&mut self, var: &Variable) -> usize {
        if let Some(i) = self.variables.iter().position(|v| v.same_as(var)) {
            return i;
        }
        self.variables.push(var.clone());
        self.variables.len() - 1
    }

    /// A `ReadVariableOp` of `var`.
    pub fn read_variable(&mut self, var: &Variable) -> Output {
        let index = self.capture_variable(var);
        let spec = TensorSpec::new(var.dtype(), var.shape());
        let id = self.add_node(
            "ReadVariableOp",
            NodeKind::ReadVariable { var: index },
            Vec::new(),
            Attrs::new(),
            vec![spec],
        );
        Output::new(id, 0)
    }

    /// An assignment of `value` to `var`; errors when the dtype or a known dimension
    /// differs from the variable's.
    pub fn assign_variable(
        &mut self,
        var: &Variable,
        kind: AssignKind,
        value: Output,
    ) -> Result<NodeId> {
        let spec = self.spec(value).clone();
        let fits = spec.dtype == var.dtype()
            && spec.shape.rank() == var.shape().rank()
            && spec
                .shape
                .dims()
                .iter()
                .zip(var.shape().dims())
                .all(|(d, v)| d.is_none_or(|d| d == *v));
        if !fits {
            return Err(Error::invalid(
                kind.op_name(),
                format!(
                    "variable '{}' is {}{}, value is {spec}",
                    var.name(),
                    var.dtype(),
                    var.shape()
                ),
            ));
        }
        let index = self.capture_variable(var);
        Ok(self.add_node(
            kind.op_name(),
            NodeKind::AssignVariable { var: index, kind },
            vec![value],
            Attrs::new(),
            Vec::new(),
        ))
    }

    /// Stand-in tensors for inference over `inputs`: a constant's real value (so ops that
    /// look at constant inputs infer as eagerly), otherwise a symbolic tensor.
    pub(crate) fn infer_inputs(&self, inputs: &[Output]) -> Vec<Tensor> {
        inputs
            .iter()
            .map(|&o| match &self.nodes[o.node].kind {
                NodeKind::Const(t) => t.clone(),
                _ => {
                    let s = self.spec(o);
                    Tensor::symbolic(s.dtype, s.shape.clone(), Arc::new(InferOnly))
                }
            })
            .collect()
    }

    /// Infers the output specs of `op` on `inputs` with `attrs`.
    pub fn infer(
        &self,
        op: &'static OpDef,
        inputs: &[Output],
        attrs: &Attrs,
    ) -> Result<Vec<TensorSpec>> {
        op.check_arity(inputs.len())?;
        let tensors = self.infer_inputs(inputs);
        let specs = (op.infer)(&InferContext {
            op,
            inputs: &tensors,
            attrs,
        })?;
        Ok(specs.into_vec())
    }

    /// Appends a call of `op` (shape-inferred; errors as the eager call would) and returns
    /// its outputs.
    pub fn op(
        &mut self,
        op: &'static OpDef,
        inputs: &[Output],
        attrs: Attrs,
    ) -> Result<Vec<Output>> {
        for i in inputs {
            if i.node >= self.nodes.len() || i.index >= self.nodes[i.node].outputs.len() {
                return Err(Error::invalid(
                    op.name,
                    format!(
                        "input {}:{} is not an output of this graph",
                        i.node, i.index
                    ),
                ));
            }
        }
        let specs = self.infer(op, inputs, &attrs)?;
        let n = specs.len();
        let id = self.add_node(op.name, NodeKind::Op(op), inputs.to_vec(), attrs, specs);
        Ok((0..n).map(|k| Output::new(id, k)).collect())
    }
}
