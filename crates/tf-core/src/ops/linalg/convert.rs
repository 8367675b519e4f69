//! Half-precision support for the GEMM-based kernels: float16/bfloat16 inputs are
//! widened to f32, computed with f32 accumulation and rounded once to the half type.

use crate::dtype::Element;
use crate::error::Result;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Converts a tensor's elements to a contiguous f32 vector.
pub(crate) fn to_f32_vec<H: Element>(t: &Tensor) -> Result<Vec<f32>> {
    let v = t.strided::<H>()?;
    let mut out = Vec::with_capacity(v.len());
    v.for_each_row(|row| out.extend(row.map(|x| x.cast::<f32>())));
    Ok(out)
}

/// Rounds f32 results to a half type once.
pub(crate) fn from_f32_tensor<H: Element>(v: &[f32], shape: &Shape) -> Result<Tensor> {
    Tensor::from_host_vec(
        v.iter().map(|&x| x.cast::<H>()).collect::<Vec<H>>(),
        shape.clone(),
    )
}
