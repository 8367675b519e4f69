//! Shape and layout ops (TensorFlow's `array_ops`), by concept:
//!
//! - views: identity, reshape, transpose, slice, expand_dims, squeeze,
//!   broadcast_to — results share the input's storage.
//! - strided_slice: NumPy basic indexing with TensorFlow's masks.
//! - join: concat, stack, unstack, split, split_v.
//! - pad_tile: tile, pad, pad_v2, mirror_pad, reverse.
//! - gather: gather, gather_nd, scatter_nd, one_hot.
//! - shape_ops: shape, size, zeros_like, ones_like (work on symbolic tensors).
//! - methods: the `Tensor` methods a TensorFlow user expects (`t.transpose(..)`, ...).
//!
//! # Views
//! Transpose, slice, expand_dims, squeeze, broadcast_to, unstack, split and
//! strided_slice with positive strides return views ([`Tensor::view`](crate::Tensor::view)) of their input;
//! reshape does when the input is contiguous. The other ops copy.

mod copy;
mod gather;
mod join;
mod methods;
mod pad_tile;
mod shape_ops;
mod strided_slice;
mod views;

pub use gather::{
    GATHER, GATHER_ND, ONE_HOT, SCATTER_ND, gather, gather_nd, one_hot, one_hot_with, scatter_nd,
};
pub use join::{CONCAT, SPLIT, SPLIT_V, STACK, UNSTACK, concat, split, split_v, stack, unstack};
pub use pad_tile::{
    MIRROR_PAD, PAD, PAD_V2, REVERSE, TILE, mirror_pad, pad, pad_v2, reverse, tile,
};
pub use shape_ops::{ONES_LIKE, SHAPE, SIZE, ZEROS_LIKE, ones_like, shape, size, zeros_like};
pub use strided_slice::{STRIDED_SLICE, SliceMasks, strided_slice};
pub use views::{
    BROADCAST_TO, EXPAND_DIMS, IDENTITY, RESHAPE, SLICE, SQUEEZE, TRANSPOSE, broadcast_to,
    expand_dims, identity, reshape, slice, squeeze, transpose,
};

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[
    &IDENTITY,
    &RESHAPE,
    &TRANSPOSE,
    &SLICE,
    &STRIDED_SLICE,
    &EXPAND_DIMS,
    &SQUEEZE,
    &BROADCAST_TO,
    &CONCAT,
    &STACK,
    &UNSTACK,
    &SPLIT,
    &SPLIT_V,
    &TILE,
    &PAD,
    &PAD_V2,
    &MIRROR_PAD,
    &REVERSE,
    &GATHER,
    &GATHER_ND,
    &SCATTER_ND,
    &ONE_HOT,
    &SHAPE,
    &SIZE,
    &ZEROS_LIKE,
    &ONES_LIKE,
];
