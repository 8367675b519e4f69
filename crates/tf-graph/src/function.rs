//! `tf.function`: a callable that traces its Rust closure into a graph once per input
//! signature, optimizes the graph, and runs it on later calls.
//!
//! * Without an input signature, each new combination of argument dtypes and shapes
//!   traces a new [`ConcreteFunction`]; with one (dims may be `None`), a single trace
//!   serves every matching call and a call that does not match is an error naming the
//!   argument.
//! * The closure runs only while tracing: its Rust side effects happen once per trace,
//!   exactly like Python side effects in a `tf.function`.
//! * Variables are captured by reference (assignments inside are real); they may be
//!   created only during the first trace (wrap their creation in [`init_scope`] when the
//!   initial value is computed with ops).
//! * Called while another function is being traced, a function is inlined into that
//!   trace.
//! * Called under an active GradientTape, the unoptimized graph runs op by op through
//!   dispatch, so the tape records it and gradients flow through the call.

use crate::exec::{self, Plan};
use crate::graph::Graph;
use crate::passes::Pipeline;
use crate::trace::{Tracer, current_tracer};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use tf_core::op::TensorSpec;
use tf_core::{Error, PartialShape, Result, Tensor};

/// The Rust function being traced.
type Body = dyn FnMut(&[Tensor]) -> Result<Vec<Tensor>>;

/// Runs `f` outside any function being traced and outside any tape (TensorFlow's
/// `init_scope`): ops run eagerly, so variables can be created from computed values
/// during a trace.
pub fn init_scope<R>(f: impl FnOnce() -> R) -> R {
    tf_core::context::with_empty_context(f)
}

/// One traced graph for one input signature, optimized and ready to run.
pub struct ConcreteFunction {
    name: String,
    raw: Graph,
    optimized: Graph,
    raw_plan: Plan,
    plan: Plan,
}

impl ConcreteFunction {
    /// Traces `f` on arguments with `specs` (variables may be created when
    /// `allow_variable_creation`), then optimizes the graph with `pipeline`.
    pub fn trace(
        name: &str,
        specs: &[TensorSpec],
        allow_variable_creation: bool,
        pipeline: &Pipeline,
        f: &mut dyn FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    ) -> Result<ConcreteFunction> {
        let raw = trace_graph(name, specs, allow_variable_creation, f)?;
        ConcreteFunction::from_graph(name, raw, pipeline)
    }

    /// A concrete function from an already built graph.
    pub fn from_graph(name: &str, raw: Graph, pipeline: &Pipeline) -> Result<ConcreteFunction> {
        let mut optimized = raw.clone();
        pipeline.run(&mut optimized)?;
        tracing::debug!(target: "tf_graph::function", name, raw = raw.len(), optimized = optimized.len(), "traced");
        Ok(ConcreteFunction {
            name: name.to_string(),
            raw_plan: Plan::new(&raw),
            plan: Plan::new(&optimized),
            raw,
            optimized,
        })
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The graph as traced.
    pub fn raw_graph(&self) -> &Graph {
        &self.raw
    }

    /// The optimized graph that plain calls run.
    pub fn graph(&self) -> &Graph {
        &self.optimized
    }

    /// The argument specs.
    pub fn input_specs(&self) -> Vec<TensorSpec> {
        self.raw.arg_specs()
    }

    /// The result specs.
    pub fn output_specs(&self) -> Vec<TensorSpec> {
        self.raw.output_specs()
    }

    /// Runs the function: the optimized graph, or, when a tape or tracer is active on this
    /// thread, the traced graph op by op through dispatch (recorded or inlined).
    pub fn call(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::exec::check_args(&self.raw, args, &self.name)?;
        if tf_core::context::is_active() {
            exec::run(&self.raw, &self.raw_plan, args, None)
        } else {
            exec::run(&self.optimized, &self.plan, args, None)
        }
    }

    /// Runs the optimized graph and times every node.
    pub fn call_profiled(&self, args: &[Tensor]) -> Result<(Vec<Tensor>, crate::Profile)> {
        crate::exec::check_args(&self.raw, args, &self.name)?;
        let mut p = crate::Profile::default();
        let out = exec::run(&self.optimized, &self.plan, args, Some(&mut p))?;
        Ok((out, p))
    }
}

/// Traces `f` on placeholders with `specs` into a graph (no optimization).
pub fn trace_graph(
    name: &str,
    specs: &[TensorSpec],
    allow_variable_creation: bool,
    f: &mut dyn FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
) -> Result<Graph> {
    let tracer = Tracer::new(name, allow_variable_creation);
    let args: Vec<Tensor> = specs
        .iter()
        .map(|s| tracer.placeholder(s.clone()))
        .collect();
    let outputs = {
        let _scope = tracer.enter();
        f(&args)?
    };
    tracer.finish(&outputs)
}

/// A traced function (`tf.function`): traced once per input signature, then run as an
/// optimized graph (see the crate docs for the rules).
///
/// ```
/// use tf_core::{Tensor, ops};
/// let f = tf_graph::function(|args| Ok(vec![ops::relu(&(&args[0] * &args[0])?)?]));
/// let x = Tensor::from_vec(vec![-2.0f32, 3.0], [2])?;
/// assert_eq!(f.call(&[x.clone()])?[0].to_vec::<f32>()?, vec![4.0, 9.0]);
/// f.call(&[x])?; // same signature: no retrace
/// assert_eq!(f.trace_count(), 1);
/// # Ok::<(), tf_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Function {
    inner: Rc<Inner>,
}

struct Inner {
    name: RefCell<String>,
    body: RefCell<Box<Body>>,
    signature: RefCell<Option<Vec<TensorSpec>>>,
    pipeline: RefCell<Pipeline>,
    cache: RefCell<HashMap<Vec<TensorSpec>, Rc<ConcreteFunction>>>,
    /// The concrete function of the previous call: calls with the same fully known
    /// argument shapes skip building and hashing a signature key.
    last: RefCell<Option<Rc<ConcreteFunction>>>,
    traces: Cell<usize>,
}

/// Wraps `f` as a traced [`Function`].
pub fn function(f: impl FnMut(&[Tensor]) -> Result<Vec<Tensor>> + 'static) -> Function {
    Function {
        inner: Rc::new(Inner {
            name: RefCell::new("function".to_string()),
            body: RefCell::new(Box::new(f)),
            signature: RefCell::new(None),
            pipeline: RefCell::new(Pipeline::default()),
            cache: RefCell::new(HashMap::new()),
            last: RefCell::new(None),
            traces: Cell::new(0),
        }),
    }
}

impl Function {
    /// Names the function (for errors, printouts and saved signatures).
    pub fn named(self, name: impl Into<String>) -> Function {
        *self.inner.name.borrow_mut() = name.into();
        self
    }

    /// Fixes the input signature: one trace for all matching calls (`None` dims match any
    /// size); other calls are errors.
    pub fn input_signature(self, signature: Vec<TensorSpec>) -> Function {
        *self.inner.signature.borrow_mut() = Some(signature);
        self.inner.cache.borrow_mut().clear();
        *self.inner.last.borrow_mut() = None;
        self
    }

    /// Sets the optimization pipeline used for new traces ([`Pipeline::none`] turns
    /// optimization off).
    pub fn with_pipeline(self, pipeline: Pipeline) -> Function {
        *self.inner.pipeline.borrow_mut() = pipeline;
        self.inner.cache.borrow_mut().clear();
        *self.inner.last.borrow_mut() = None;
        self
    }

    /// The function's name.
    pub fn name(&self) -> String {
        self.inner.name.borrow().clone()
    }

    /// How many times the function has been traced.
    pub fn trace_count(&self) -> usize {
        self.inner.traces.get()
    }

    /// The signature key for `args`, checking them against the input signature.
    fn key_for(&self, args: &[Tensor]) -> Result<Vec<TensorSpec>> {
        let name = self.name();
        if let Some(sig) = self.inner.signature.borrow().as_ref() {
            if sig.len() != args.len() {
                return Err(Error::invalid(
                    name,
                    format!(
                        "the input signature has {} arguments, the call passed {}",
                        sig.len(),
                        args.len()
                    ),
                ));
            }
            for (k, (s, a)) in sig.iter().zip(args).enumerate() {
                if !s.is_compatible_with(a) {
                    return Err(Error::invalid(
                        name,
                        format!(
                            "argument {k} does not match the input signature: expected {s}, got {}{}",
                            a.dtype(),
                            a.shape()
                        ),
                    ));
                }
            }
            return Ok(sig.clone());
        }
        Ok(args
            .iter()
            .map(|a| {
                let shape = if a.is_symbolic() {
                    a.partial_shape()
                } else {
                    PartialShape::known(a.dims())
                };
                TensorSpec::new(a.dtype(), shape)
            })
            .collect())
    }

    /// The concrete function for arguments with `specs`, tracing it if needed.
    pub fn get_concrete_function(&self, specs: &[TensorSpec]) -> Result<Rc<ConcreteFunction>> {
        if let Some(cf) = self.inner.cache.borrow().get(specs) {
            return Ok(cf.clone());
        }
        let name = self.name();
        let mut body = self.inner.body.try_borrow_mut().map_err(|_| {
            Error::precondition(
                name.clone(),
                "the function called itself while being traced (recursion is not supported)",
            )
        })?;
        let first = self.inner.traces.get() == 0;
        let cf = Rc::new(ConcreteFunction::trace(
            &name,
            specs,
            first,
            &self.inner.pipeline.borrow(),
            &mut **body,
        )?);
        self.inner.traces.set(self.inner.traces.get() + 1);
        self.inner
            .cache
            .borrow_mut()
            .insert(specs.to_vec(), cf.clone());
        Ok(cf)
    }

    /// Calls the function: traces on a new signature, then runs the graph. Inside another
    /// function's trace the body is inlined.
    pub fn call(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        if current_tracer().is_some() {
            let mut body = self.inner.body.try_borrow_mut().map_err(|_| {
                Error::precondition(
                    self.name(),
                    "the function called itself while being traced (recursion is not supported)",
                )
            })?;
            return body(args);
        }
        let last = self.inner.last.borrow().clone();
        if let Some(cf) = last
            && self.inner.signature.borrow().is_none()
            && exact_match(&cf.raw, args)
        {
            return cf.call(args);
        }
        let key = self.key_for(args)?;
        let cf = self.get_concrete_function(&key)?;
        *self.inner.last.borrow_mut() = Some(cf.clone());
        cf.call(args)
    }
}

/// Whether `args` have exactly the (fully known) argument specs of `g`.
fn exact_match(g: &Graph, args: &[Tensor]) -> bool {
    let args_ok = |(a, &id): (&Tensor, &usize)| {
        let s = &g.nodes[id].outputs[0];
        !a.is_symbolic()
            && s.dtype == a.dtype()
            && s.shape.rank() == a.rank()
            && s.shape
                .dims()
                .iter()
                .zip(a.dims())
                .all(|(d, x)| *d == Some(*x))
    };
    args.len() == g.args.len() && args.iter().zip(&g.args).all(args_ok)
}
