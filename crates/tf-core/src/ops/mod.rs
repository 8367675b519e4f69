//! The built-in ops, one folder per family. Each family defines its ops once (a
//! `static OpDef` with shape inference and CPU kernel) and the public functions that
//! dispatch them; `builtin_ops()` lists every one for the registry.
//!
//! All public op functions are re-exported here, so `tf_core::ops::matmul` works like
//! `tf.matmul`.

pub mod array;
pub mod conv;
pub mod elementwise;
pub mod fused;
pub mod linalg;
pub mod nn;
pub mod random;
pub mod reduce;

pub use array::*;
pub use conv::*;
pub use elementwise::*;
pub use fused::*;
pub use linalg::*;
pub use nn::*;
pub use random::*;
pub use reduce::*;

use crate::op::OpDef;

/// Every built-in op (registered by name on first registry use).
pub(crate) fn builtin_ops() -> impl Iterator<Item = &'static OpDef> {
    [
        array::OPS,
        conv::OPS,
        elementwise::OPS,
        fused::OPS,
        linalg::OPS,
        nn::OPS,
        random::OPS,
        reduce::OPS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn builtin_names_are_unique_and_registered() {
        let mut seen = HashSet::new();
        for def in builtin_ops() {
            assert!(seen.insert(def.name), "duplicate op name {}", def.name);
            assert!(std::ptr::eq(crate::op::lookup_op(def.name).unwrap(), def));
            assert!(def.cpu_kernel.is_some(), "{} has no CPU kernel", def.name);
        }
    }
}
