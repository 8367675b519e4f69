//! Shape and layout ops (TensorFlow's `array_ops`), by concept:
//!
//! - views: identity, stop_gradient, reshape, transpose, slice, expand_dims, squeeze,
//!   broadcast_to — results share the input's storage (identity copies).
//! - strided_slice: NumPy basic indexing with TensorFlow's masks;
//!   strided_slice_grad: its adjoint, from the same resolution of the slice spec.
//! - join: concat, stack, unstack, split, split_v.
//! - pad_tile: tile, pad, pad_v2, mirror_pad, reverse; mirror_pad_grad: MirrorPad's
//!   adjoint.
//! - gather: gather, gather_nd, scatter_nd, one_hot.
//! - segment: unsorted_segment_sum/max/min/prod (sum is gather's adjoint on axis 0).
//! - accum: accumulator arithmetic of the ops that add values (the grads, segments).
//! - shape_ops: shape, size, zeros_like, ones_like (work on symbolic tensors).
//! - methods: the `Tensor` methods a TensorFlow user expects (`t.transpose(..)`, ...).
//!
//! # Views
//! Transpose, slice, expand_dims, squeeze, broadcast_to, unstack, split and
//! strided_slice with positive strides return views ([`Tensor::view`](crate::Tensor::view)) of their input;
//! reshape does when the input is contiguous. The other ops copy.

mod accum;
mod copy;
mod gather;
mod join;
mod methods;
mod mirror_pad_grad;
mod pad_tile;
mod segment;
mod shape_ops;
mod strided_slice;
mod strided_slice_grad;
mod views;

pub use gather::{
    GATHER, GATHER_ND, ONE_HOT, SCATTER_ND, gather, gather_nd, one_hot, one_hot_with, scatter_nd,
};
pub use join::{CONCAT, SPLIT, SPLIT_V, STACK, UNSTACK, concat, split, split_v, stack, unstack};
pub use mirror_pad_grad::{MIRROR_PAD_GRAD, mirror_pad_grad};
pub use pad_tile::{
    MIRROR_PAD, PAD, PAD_V2, REVERSE, TILE, mirror_pad, pad, pad_v2, reverse, tile,
};
pub use segment::{
    UNSORTED_SEGMENT_MAX, UNSORTED_SEGMENT_MIN, UNSORTED_SEGMENT_PROD, UNSORTED_SEGMENT_SUM,
    unsorted_segment_max, unsorted_segment_min, unsorted_segment_prod, unsorted_segment_sum,
};
pub use shape_ops::{ONES_LIKE, SHAPE, SIZE, ZEROS_LIKE, ones_like, shape, size, zeros_like};
pub use strided_slice::{STRIDED_SLICE, SliceMasks, strided_slice};
pub use strided_slice_grad::{STRIDED_SLICE_GRAD, strided_slice_grad};
pub use views::{
    BROADCAST_TO, EXPAND_DIMS, IDENTITY, RESHAPE, SLICE, SQUEEZE, STOP_GRADIENT, TRANSPOSE,
    broadcast_to, expand_dims, identity, reshape, slice, squeeze, stop_gradient, transpose,
};

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[
    &IDENTITY,
    &STOP_GRADIENT,
    &RESHAPE,
    &TRANSPOSE,
    &SLICE,
    &STRIDED_SLICE,
    &STRIDED_SLICE_GRAD,
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
    &MIRROR_PAD_GRAD,
    &REVERSE,
    &GATHER,
    &GATHER_ND,
    &SCATTER_ND,
    &ONE_HOT,
    &UNSORTED_SEGMENT_SUM,
    &UNSORTED_SEGMENT_MAX,
    &UNSORTED_SEGMENT_MIN,
    &UNSORTED_SEGMENT_PROD,
    &SHAPE,
    &SIZE,
    &ZEROS_LIKE,
    &ONES_LIKE,
];
