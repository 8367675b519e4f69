//! Gradient functions for tf-core's built-in ops, one file per op family, all written
//! with tf-core ops (so they run eagerly, traced, and under outer tapes).
//!
//! `register_builtin` is called once per process (lazily, by the first tape).

mod array;
mod conv;
mod elementwise;
mod linalg;
mod nn;
mod nondiff;
mod reduce;
pub(crate) mod util;

/// Registers every built-in gradient.
pub(crate) fn register_builtin() {
    elementwise::register();
    array::register();
    conv::register();
    reduce::register();
    linalg::register();
    nn::register();
    nondiff::register();
}
