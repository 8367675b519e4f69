//! Neural-network ops: softmax, log_softmax, softmax cross-entropy (sparse and dense,
//! fused), l2_normalize, dropout, batch-norm inference.

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[];
