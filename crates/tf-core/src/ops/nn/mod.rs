//! Neural-network ops: softmax, log_softmax, softmax cross-entropy (sparse and dense,
//! fused), l2_normalize, dropout, batch normalization (fused: inference and training).
//!
//! Float dtypes only (f32, f64; f16/bf16 computed in f32 and rounded once). The
//! row-wise kernels read rows in place from any layout, run the contiguous last-axis
//! case without copies, vectorize `exp` for f32 and go parallel over rows above a size
//! threshold.

mod dropout;
mod fastmath;
mod fused_batch_norm;
mod fused_batch_norm_grad;
mod normalize;
mod rows;
mod softmax;
mod xent;

pub use dropout::{DROPOUT, dropout, dropout_with_mask};
pub use fused_batch_norm::{
    FUSED_BATCH_NORM_V3, fused_batch_norm_inference, fused_batch_norm_training,
};
pub use fused_batch_norm_grad::{FUSED_BATCH_NORM_GRAD_V3, fused_batch_norm_grad};
pub use normalize::{BATCH_NORMALIZATION, L2_NORMALIZE, batch_normalization, l2_normalize};
pub use softmax::{LOG_SOFTMAX, SOFTMAX, log_softmax, softmax};
pub use xent::{
    SOFTMAX_CROSS_ENTROPY_WITH_LOGITS, SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
    softmax_cross_entropy_with_logits, softmax_cross_entropy_with_logits_raw,
    sparse_softmax_cross_entropy_with_logits, sparse_softmax_cross_entropy_with_logits_raw,
};

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[
    &SOFTMAX,
    &LOG_SOFTMAX,
    &SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
    &SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
    &L2_NORMALIZE,
    &BATCH_NORMALIZATION,
    &FUSED_BATCH_NORM_V3,
    &FUSED_BATCH_NORM_GRAD_V3,
    &DROPOUT,
];
