//! Shared CPU kernel infrastructure: parallel loops, output allocation and strided
//! iteration that every op family's kernels reuse.

pub mod parallel;
pub mod strided;
