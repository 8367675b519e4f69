//! The built-in ops, one folder per family. Each family defines its ops once (a
//! `static OpDef` with shape inference and CPU kernel) and the public functions that
//! dispatch them; `builtin_ops()` lists every one for the registry.

pub mod array;
pub mod elementwise;

pub use array::*;
pub use elementwise::*;

use crate::op::OpDef;

/// Every built-in op (registered by name on first registry use).
pub(crate) fn builtin_ops() -> impl Iterator<Item = &'static OpDef> {
    [array::OPS, elementwise::OPS]
        .into_iter()
        .flatten()
        .copied()
}
