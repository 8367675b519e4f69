//! Convolutions and pooling, NHWC with HWIO kernels like TensorFlow: conv2d,
//! depthwise_conv2d, conv2d_transpose, max_pool2d, avg_pool2d.

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[];
