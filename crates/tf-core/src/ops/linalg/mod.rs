//! Linear algebra: matmul and batch matmul (transpose flags, batch broadcasting) on a
//! packed SIMD GEMM, and bias_add.

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[];
