//! The built-in ops, one folder per family. Each family defines its ops once (a
//! `static OpDef` with shape inference and CPU kernel) and the public functions that
//! dispatch them; `builtin_ops()` lists every one for the registry.
//!
//! All public op functions are re-exported here, so `tf_core::ops::matmul` works like
//! `tf.matmul`.

pub mod array;
pub mod conv;
pub mod elementwise;
pub mod linalg;
pub mod nn;
pub mod random;
pub mod reduce;

// Families still being filled in re-export nothing yet; the allow goes once all have items.
#[allow(unused_imports)]
pub use array::*;
#[allow(unused_imports)]
pub use conv::*;
#[allow(unused_imports)]
pub use elementwise::*;
#[allow(unused_imports)]
pub use linalg::*;
#[allow(unused_imports)]
pub use nn::*;
#[allow(unused_imports)]
pub use random::*;
#[allow(unused_imports)]
pub use reduce::*;

use crate::op::OpDef;

/// Every built-in op (registered by name on first registry use).
pub(crate) fn builtin_ops() -> impl Iterator<Item = &'static OpDef> {
    [
        array::OPS,
        conv::OPS,
        elementwise::OPS,
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
