//! Ops without a gradient: comparisons, logical ops, index-valued and random ops,
//! shapes. Their inputs get `None`, like TensorFlow's `ops.NotDifferentiable`.

use crate::registry::register_not_differentiable;
use tf_core::ops;

pub(super) fn register() {
    for op in [
        &ops::EQUAL,
        &ops::NOT_EQUAL,
        &ops::LESS,
        &ops::LESS_EQUAL,
        &ops::GREATER,
        &ops::GREATER_EQUAL,
        &ops::LOGICAL_AND,
        &ops::LOGICAL_OR,
        &ops::LOGICAL_NOT,
        &ops::IS_NAN,
        &ops::IS_FINITE,
        &ops::ARG_MAX,
        &ops::ARG_MIN,
        &ops::SHAPE,
        &ops::SIZE,
        &ops::ZEROS_LIKE,
        &ops::ONES_LIKE,
        &ops::ONE_HOT,
        &ops::RANDOM_UNIFORM,
        &ops::RANDOM_UNIFORM_INT,
        &ops::RANDOM_STANDARD_NORMAL,
        &ops::TRUNCATED_NORMAL,
        &ops::ALL,
        &ops::ANY,
        // Graph-optimizer internals (like Grappler's, no gradient): optimized graphs
        // never run under a tape; tf-graph runs the unfused graph there.
        &ops::FUSED_MATMUL,
        &ops::FUSED_CONV2D,
    ] {
        register_not_differentiable(op);
    }
}
