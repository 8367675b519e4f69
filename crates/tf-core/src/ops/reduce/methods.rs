//! Reduction, scan and sort methods on [`Tensor`], for code that reads like TensorFlow's
//! tensor methods. Each is the function of the same name in [`crate::ops`].

use super::{SortDirection, arg, reductions, scan, sort};
use crate::error::Result;
use crate::tensor::Tensor;

impl Tensor {
    /// [`ops::reduce_sum`](crate::ops::reduce_sum).
    pub fn reduce_sum(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_sum(self, axis, keepdims)
    }
    /// [`ops::reduce_mean`](crate::ops::reduce_mean).
    pub fn reduce_mean(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_mean(self, axis, keepdims)
    }
    /// [`ops::reduce_prod`](crate::ops::reduce_prod).
    pub fn reduce_prod(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_prod(self, axis, keepdims)
    }
    /// [`ops::reduce_max`](crate::ops::reduce_max).
    pub fn reduce_max(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_max(self, axis, keepdims)
    }
    /// [`ops::reduce_min`](crate::ops::reduce_min).
    pub fn reduce_min(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_min(self, axis, keepdims)
    }
    /// [`ops::reduce_all`](crate::ops::reduce_all).
    pub fn reduce_all(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_all(self, axis, keepdims)
    }
    /// [`ops::reduce_any`](crate::ops::reduce_any).
    pub fn reduce_any(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_any(self, axis, keepdims)
    }
    /// [`ops::reduce_logsumexp`](crate::ops::reduce_logsumexp).
    pub fn reduce_logsumexp(&self, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        reductions::reduce_logsumexp(self, axis, keepdims)
    }
    /// [`ops::argmax`](crate::ops::argmax) (int64 indices).
    pub fn argmax(&self, axis: i64) -> Result<Tensor> {
        arg::argmax(self, axis)
    }
    /// [`ops::argmin`](crate::ops::argmin) (int64 indices).
    pub fn argmin(&self, axis: i64) -> Result<Tensor> {
        arg::argmin(self, axis)
    }
    /// [`ops::cumsum`](crate::ops::cumsum).
    pub fn cumsum(&self, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
        scan::cumsum(self, axis, exclusive, reverse)
    }
    /// [`ops::cumprod`](crate::ops::cumprod).
    pub fn cumprod(&self, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
        scan::cumprod(self, axis, exclusive, reverse)
    }
    /// [`ops::sort`](crate::ops::sort).
    pub fn sort(&self, axis: i64, direction: SortDirection) -> Result<Tensor> {
        sort::sort(self, axis, direction)
    }
    /// [`ops::argsort`](crate::ops::argsort).
    pub fn argsort(&self, axis: i64, direction: SortDirection) -> Result<Tensor> {
        sort::argsort(self, axis, direction)
    }
    /// [`ops::top_k`](crate::ops::top_k).
    pub fn top_k(&self, k: usize, sorted: bool) -> Result<(Tensor, Tensor)> {
        sort::top_k(self, k, sorted)
    }
}
