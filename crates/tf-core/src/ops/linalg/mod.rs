//! Linear algebra: matmul and batch matmul (transpose flags, batch broadcasting) on a
//! packed SIMD GEMM, and bias_add with its gradient bias_add_grad.

mod bias_add;
pub(crate) mod convert;
pub(crate) mod gemm;
mod matmul;

pub use bias_add::{BIAS_ADD, BIAS_ADD_GRAD, bias_add, bias_add_grad, bias_add_nchw};
pub use matmul::{BATCH_MATMUL, MATMUL, MATMUL_DTYPES, batch_matmul, matmul, matmul_transposed};

use crate::error::{Error, Result};
use crate::op::OpDef;
use crate::shape::PartialShape;
use crate::tensor::Tensor;

pub(crate) static OPS: &[&OpDef] = &[&MATMUL, &BATCH_MATMUL, &BIAS_ADD, &BIAS_ADD_GRAD];

impl Tensor {
    /// `self × other` over the last two dimensions (see [`matmul`]).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        matmul(self, other)
    }
}

/// Rejects an inferred output shape whose known dimensions multiply past what a buffer
/// can hold (huge attributes or broadcast products), before any kernel allocates it.
pub(crate) fn check_output_size(op: &'static str, shape: &PartialShape) -> Result<()> {
    let n = shape
        .iter()
        .flatten()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        Some(n) if n <= isize::MAX as usize / 8 => Ok(()),
        _ => Err(Error::invalid(
            op,
            format!("output shape {shape} has too many elements"),
        )),
    }
}
