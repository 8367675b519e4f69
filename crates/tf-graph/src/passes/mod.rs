//! Graph optimization passes, each in its own module, run by a configurable [`Pipeline`].
//!
//! Every pass keeps the graph's invariants (nodes in a valid execution order, results and
//! side effects preserved) and never merges, folds or removes stateful nodes (variable
//! accesses, random ops). The default pipeline mirrors Grappler's: prune, constant
//! folding, common-subexpression elimination, arithmetic simplification, remapping
//! (MatMul/Conv2D + BiasAdd + activation fusion), elementwise-chain fusion, prune.

mod arith;
mod const_fold;
mod cse;
mod fuse_bias_act;
mod fuse_elementwise;
mod prune;

pub use arith::ArithmeticSimplification;
pub use const_fold::ConstantFolding;
pub use cse::CommonSubexpressionElimination;
pub use fuse_bias_act::FuseBiasActivation;
pub use fuse_elementwise::FuseElementwise;
pub use prune::Prune;

use crate::graph::Graph;
use std::fmt;
use tf_core::Result;

/// A graph rewrite.
pub trait Pass {
    /// Short name for logs and [`Pipeline`]'s display.
    fn name(&self) -> &'static str;
    /// Rewrites `graph`; returns whether anything changed.
    fn run(&self, graph: &mut Graph) -> Result<bool>;
}

/// An ordered list of passes.
pub struct Pipeline {
    passes: Vec<Box<dyn Pass>>,
}

impl Default for Pipeline {
    /// The default optimization pipeline.
    fn default() -> Pipeline {
        Pipeline::none()
            .with(Prune)
            .with(ConstantFolding::default())
            .with(CommonSubexpressionElimination)
            .with(ArithmeticSimplification)
            .with(Prune)
            .with(FuseBiasActivation)
            .with(FuseElementwise)
            .with(Prune)
    }
}

impl Pipeline {
    /// No passes: graphs run as traced.
    pub fn none() -> Pipeline {
        Pipeline { passes: Vec::new() }
    }

    /// Appends a pass.
    pub fn with(mut self, pass: impl Pass + 'static) -> Pipeline {
        self.passes.push(Box::new(pass));
        self
    }

    /// Removes every pass named `name`.
    pub fn without(mut self, name: &str) -> Pipeline {
        self.passes.retain(|p| p.name() != name);
        self
    }

    /// The passes' names in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    /// Runs every pass in order, validating the graph after each.
    pub fn run(&self, graph: &mut Graph) -> Result<()> {
        for p in &self.passes {
            let before = graph.len();
            let changed = p.run(graph)?;
            graph.validate()?;
            tracing::trace!(target: "tf_graph::passes", pass = p.name(), changed, before, after = graph.len());
        }
        Ok(())
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
