//! # tf-graph
//!
//! Graph mode as TensorFlow 2 does it: write ordinary eager code, wrap it in
//! [`function`], and it is traced once per input signature into a [`Graph`] that is
//! optimized ([`passes`]) and executed faster than eager; [`saved_model`] writes and
//! loads it with its variables and named signatures.
//!
//! ```
//! use tf_core::op::TensorSpec;
//! use tf_core::{DType, Tensor, Variable, ops};
//! let v = Variable::new(Tensor::from_vec(vec![0.0f32; 2], [2])?)?;
//! let vc = v.clone();
//! let step = tf_graph::function(move |a| {
//!     // Traced once: the assignment becomes a graph node and really runs on each call.
//!     vc.assign_add(&ops::tanh(&a[0])?)?;
//!     Ok(vec![vc.read()?])
//! })
//! .input_signature(vec![TensorSpec::new(DType::F32, vec![None])]);
//! let x = Tensor::from_vec(vec![0.5f32, -0.5], [2])?;
//! step.call(&[x.clone()])?;
//! let out = step.call(&[x])?;
//! assert_eq!(step.trace_count(), 1);
//! assert!((out[0].to_vec::<f32>()?[0] - 2.0 * 0.5f32.tanh()).abs() < 1e-6);
//! # Ok::<(), tf_core::Error>(())
//! ```
//!
//! ## Map
//! - `graph`: the IR — [`Graph`], [`Node`], [`NodeKind`], [`Output`]; building by hand,
//!   printing, validation.
//! - `trace` (internal): the tracing executor pushed on tf-core's context stack.
//! - `function`: [`function`], [`Function`], [`ConcreteFunction`], [`init_scope`].
//! - `control_flow`: [`cond`] and [`while_loop`].
//! - `exec`: running graphs ([`Graph::run`]) in order or with independent nodes in
//!   parallel ([`set_inter_op_parallelism_threads`]), per-node [`Profile`]s.
//! - [`passes`]: [`Pipeline`] and the optimization passes, one module each.
//! - `fused`: the block-wise evaluator of fused elementwise chains.
//! - [`saved_model`]: [`saved_model::save`], [`saved_model::load`], [`Signature`].

#![warn(missing_docs)]

mod control_flow;
mod exec;
mod function;
pub mod fused;
mod graph;
pub mod passes;
pub mod saved_model;
mod trace;

pub use control_flow::{cond, while_loop};
pub use exec::{Profile, inter_op_parallelism_threads, set_inter_op_parallelism_threads};
pub use function::{ConcreteFunction, Function, function, init_scope, trace_graph};
pub use graph::{CondNode, Graph, Node, NodeId, NodeKind, Output, WhileNode};
pub use passes::Pipeline;
pub use saved_model::{SavedModel, Signature};
