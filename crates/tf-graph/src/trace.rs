//! The tracing executor: pushed on tf-core's context stack while a function is traced,
//! it turns every dispatched op into a graph node and returns symbolic tensors.
//!
//! * Concrete tensors used by the function are captured by value (constants).
//! * Variables are captured by reference: reads become `ReadVariableOp` nodes, assignments
//!   `AssignVariableOp` nodes, so running the graph really updates the variable.
//! * Stateful nodes (variable reads and assignments, random ops, control flow containing
//!   them) are chained with control edges in program order.
//! * Creating a variable is allowed only on a function's first trace.
//! * A tracer for a `cond` branch or a `while_loop` body has a parent: symbolic tensors of
//!   enclosing graphs it uses become extra arguments (captures).

use crate::graph::{Graph, NodeId, NodeKind, Output};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tf_core::context::Executor;
use tf_core::op::{Attrs, InferContext, OpCall, TensorSpec};
use tf_core::variable::AssignKind;
use tf_core::{Error, Result, Tensor, Variable};

/// What a symbolic tensor made by a tracer carries.
pub(crate) struct SymHandle {
    pub tracer: u64,
    pub out: Output,
}

pub(crate) struct TraceState {
    pub graph: Graph,
    /// Constants captured so far, by tensor id.
    consts: HashMap<u64, Output>,
    /// Enclosing-graph tensors captured as arguments (sub-tracers only), in order.
    pub captures: Vec<(Tensor, Output)>,
    last_stateful: Option<NodeId>,
}

/// The tracing executor.
pub(crate) struct Tracer {
    pub id: u64,
    pub state: RefCell<TraceState>,
    allow_variable_creation: bool,
    /// The tracer of the enclosing graph, for branch and loop bodies.
    parent: Option<Rc<Tracer>>,
    /// Name used in error messages.
    pub what: String,
}

thread_local! {
    /// Tracers currently tracing on this thread (innermost last).
    static TRACERS: RefCell<Vec<Rc<Tracer>>> = const { RefCell::new(Vec::new()) };
}

/// The innermost tracer, if it is the executor that handles ops right now (a tracer
/// hidden by `init_scope` / an empty context does not count).
pub(crate) fn current_tracer() -> Option<Rc<Tracer>> {
    let top = TRACERS.with(|t| t.borrow().last().cloned())?;
    let exec = tf_core::context::current_executor()?;
    let same = std::ptr::addr_eq(Rc::as_ptr(&exec), Rc::as_ptr(&top));
    same.then_some(top)
}

/// Keeps a tracer pushed (executor and tracer stack) until dropped.
pub(crate) struct TraceScope {
    _guard: tf_core::context::ContextGuard,
}

impl Drop for TraceScope {
    fn drop(&mut self) {
        let _ = TRACERS.try_with(|t| t.borrow_mut().pop());
    }
}

impl Tracer {
    pub fn new(what: impl Into<String>, allow_variable_creation: bool) -> Rc<Tracer> {
        Tracer::build(what.into(), allow_variable_creation, None)
    }

    /// A tracer for a subgraph of `parent`'s graph.
    pub fn child(parent: &Rc<Tracer>, what: impl Into<String>) -> Rc<Tracer> {
        Tracer::build(
            what.into(),
            parent.allow_variable_creation,
            Some(parent.clone()),
        )
    }

    fn build(
        what: String,
        allow_variable_creation: bool,
        parent: Option<Rc<Tracer>>,
    ) -> Rc<Tracer> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Rc::new(Tracer {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            state: RefCell::new(TraceState {
                graph: Graph::new(),
                consts: HashMap::new(),
                captures: Vec::new(),
                last_stateful: None,
            }),
            allow_variable_creation,
            parent,
            what,
        })
    }

    /// Pushes this tracer as the executor of the current thread.
    pub fn enter(self: &Rc<Tracer>) -> TraceScope {
        let guard = tf_core::context::push_executor(self.clone());
        TRACERS.with(|t| t.borrow_mut().push(self.clone()));
        TraceScope { _guard: guard }
    }

    fn symbolic(&self, spec: &TensorSpec, out: Output) -> Tensor {
        Tensor::symbolic(
            spec.dtype,
            spec.shape.clone(),
            Arc::new(SymHandle {
                tracer: self.id,
                out,
            }),
        )
    }

    /// A new argument of the graph, returned as a symbolic tensor.
    pub fn placeholder(&self, spec: TensorSpec) -> Tensor {
        let out = self.state.borrow_mut().graph.placeholder(spec.clone());
        self.symbolic(&spec, out)
    }

    /// Whether `t` is a symbolic tensor of this tracer's graph.
    pub fn owns(&self, t: &Tensor) -> bool {
        t.symbolic_handle()
            .and_then(|h| h.downcast_ref::<SymHandle>())
            .is_some_and(|h| h.tracer == self.id)
    }

    fn is_ancestor_tensor(&self, t: &Tensor) -> bool {
        let mut p = self.parent.clone();
        while let Some(tr) = p {
            if tr.owns(t) {
                return true;
            }
            p = tr.parent.clone();
        }
        false
    }

    /// The graph edge for `t`: its own node, a captured constant, or (sub-tracers) a
    /// captured tensor of an enclosing graph.
    pub fn output_of(&self, t: &Tensor) -> Result<Output> {
        if let Some(h) = t.symbolic_handle() {
            if let Some(h) = h.downcast_ref::<SymHandle>()
                && h.tracer == self.id
            {
                return Ok(h.out);
            }
            if self.is_ancestor_tensor(t) {
                let mut st = self.state.borrow_mut();
                if let Some((_, o)) = st.captures.iter().find(|(c, _)| c.id() == t.id()) {
                    return Ok(*o);
                }
                let o = st
                    .graph
                    .placeholder(TensorSpec::new(t.dtype(), t.partial_shape()));
                st.captures.push((t.clone(), o));
                return Ok(o);
            }
            return Err(Error::precondition(
                self.what.clone(),
                "a symbolic tensor from another traced function was used here; return it from that function instead",
            ));
        }
        let mut st = self.state.borrow_mut();
        if let Some(o) = st.consts.get(&t.id()) {
            return Ok(*o);
        }
        let o = st.graph.constant(t.clone());
        st.consts.insert(t.id(), o);
        Ok(o)
    }

    /// Orders a stateful node after the previous one.
    fn chain_stateful(st: &mut TraceState, id: NodeId) {
        if let Some(prev) = st.last_stateful {
            st.graph.nodes[id].control.push(prev);
        }
        st.last_stateful = Some(id);
    }

    /// Appends a node of any kind with already-mapped inputs and returns symbolic outputs.
    pub fn add(
        &self,
        name: &str,
        kind: NodeKind,
        inputs: Vec<Output>,
        attrs: Attrs,
        specs: Vec<TensorSpec>,
    ) -> Vec<Tensor> {
        let stateful = kind.is_stateful();
        let mut st = self.state.borrow_mut();
        let id = st.graph.add_node(name, kind, inputs, attrs, specs.clone());
        if stateful {
            Tracer::chain_stateful(&mut st, id);
        }
        drop(st);
        specs
            .iter()
            .enumerate()
            .map(|(k, s)| self.symbolic(s, Output::new(id, k)))
            .collect()
    }

    /// Sets the results and hands the graph over.
    pub fn finish(&self, outputs: &[Tensor]) -> Result<Graph> {
        let results = outputs
            .iter()
            .map(|t| self.output_of(t))
            .collect::<Result<Vec<_>>>()?;
        let mut st = self.state.borrow_mut();
        st.graph.results = results;
        let g = std::mem::take(&mut st.graph);
        g.validate()?;
        Ok(g)
    }

    /// The enclosing-graph tensors captured so far.
    pub fn captured(&self) -> Vec<Tensor> {
        self.state
            .borrow()
            .captures
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }
}

impl Executor for Tracer {
    fn execute(&self, call: &OpCall<'_>) -> Result<Vec<Tensor>> {
        call.op.check_arity(call.inputs.len())?;
        let inputs = call
            .inputs
            .iter()
            .map(|t| self.output_of(t))
            .collect::<Result<Vec<_>>>()?;
        let specs = (call.op.infer)(&InferContext {
            op: call.op,
            inputs: call.inputs,
            attrs: call.attrs,
        })?;
        Ok(self.add(
            call.op.name,
            NodeKind::Op(call.op),
            inputs,
            call.attrs.clone(),
            specs.into_vec(),
        ))
    }

    fn read_variable(&self, var: &Variable) -> Result<Tensor> {
        let mut st = self.state.borrow_mut();
        let out = st.graph.read_variable(var);
        Tracer::chain_stateful(&mut st, out.node);
        let spec = st.graph.spec(out).clone();
        drop(st);
        Ok(self.symbolic(&spec, out))
    }

    fn assign_variable(&self, var: &Variable, kind: AssignKind, value: &Tensor) -> Result<()> {
        let value = self.output_of(value)?;
        let mut st = self.state.borrow_mut();
        let id = st.graph.assign_variable(var, kind, value)?;
        Tracer::chain_stateful(&mut st, id);
        Ok(())
    }

    fn create_variable(&self, var: &Variable) -> Result<()> {
        if self.allow_variable_creation {
            return Ok(());
        }
        Err(Error::precondition(
            self.what.clone(),
            format!(
                "the function tried to create variable '{}' on a retrace; variables may only be created on the first call (create them outside the function, or once)",
                var.name()
            ),
        ))
    }
}
