//! `Tensor` methods for the array ops, where a TensorFlow user expects them
//! (`t.reshape(..)`, `t.transpose(..)`, ...). Each is the op function of the same name.

use super::{gather, join, pad_tile, shape_ops, strided_slice, views};
use crate::error::Result;
use crate::tensor::Tensor;

impl Tensor {
    /// [`ops::reshape`](crate::ops::reshape): a new shape (one `-1` inferred).
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        views::reshape(self, shape)
    }

    /// [`ops::transpose`](crate::ops::transpose): permuted axes (`None` reverses them);
    /// a view.
    pub fn transpose(&self, perm: Option<&[i64]>) -> Result<Tensor> {
        views::transpose(self, perm)
    }

    /// [`ops::slice`](crate::ops::slice): the block at `begin` of extent `size` (`-1` =
    /// to the end); a view.
    pub fn slice(&self, begin: &[i64], size: &[i64]) -> Result<Tensor> {
        views::slice(self, begin, size)
    }

    /// [`ops::strided_slice`](crate::ops::strided_slice): NumPy basic indexing.
    pub fn strided_slice(
        &self,
        begin: &[i64],
        end: &[i64],
        strides: &[i64],
        masks: strided_slice::SliceMasks,
    ) -> Result<Tensor> {
        strided_slice::strided_slice(self, begin, end, strides, masks)
    }

    /// [`ops::expand_dims`](crate::ops::expand_dims): a size-1 dimension at `axis`; a
    /// view.
    pub fn expand_dims(&self, axis: i64) -> Result<Tensor> {
        views::expand_dims(self, axis)
    }

    /// [`ops::squeeze`](crate::ops::squeeze): removes size-1 dimensions (all of them
    /// when `axes` is empty); a view.
    pub fn squeeze(&self, axes: &[i64]) -> Result<Tensor> {
        views::squeeze(self, axes)
    }

    /// [`ops::broadcast_to`](crate::ops::broadcast_to): a stride-0 view of `shape`.
    pub fn broadcast_to(&self, shape: &[i64]) -> Result<Tensor> {
        views::broadcast_to(self, shape)
    }

    /// [`ops::tile`](crate::ops::tile): repeats along each dimension.
    pub fn tile(&self, multiples: &[i64]) -> Result<Tensor> {
        pad_tile::tile(self, multiples)
    }

    /// [`ops::pad`](crate::ops::pad): zero padding, `[before, after]` per dimension.
    pub fn pad(&self, paddings: &[[i64; 2]]) -> Result<Tensor> {
        pad_tile::pad(self, paddings)
    }

    /// [`ops::reverse`](crate::ops::reverse): reverses along `axes`.
    pub fn reverse(&self, axes: &[i64]) -> Result<Tensor> {
        pad_tile::reverse(self, axes)
    }

    /// [`ops::gather`](crate::ops::gather) with `batch_dims = 0`: slices along `axis`
    /// picked by `indices`.
    pub fn gather(&self, indices: &Tensor, axis: i64) -> Result<Tensor> {
        gather::gather(self, indices, axis, 0)
    }

    /// [`ops::unstack`](crate::ops::unstack): the slices along `axis`; views.
    pub fn unstack(&self, axis: i64) -> Result<Vec<Tensor>> {
        join::unstack(self, axis)
    }

    /// [`ops::split`](crate::ops::split): `num_split` equal pieces along `axis`; views.
    pub fn split(&self, num_split: usize, axis: i64) -> Result<Vec<Tensor>> {
        join::split(self, num_split, axis)
    }

    /// [`ops::zeros_like`](crate::ops::zeros_like).
    pub fn zeros_like(&self) -> Result<Tensor> {
        shape_ops::zeros_like(self)
    }

    /// [`ops::ones_like`](crate::ops::ones_like).
    pub fn ones_like(&self) -> Result<Tensor> {
        shape_ops::ones_like(self)
    }
}
