//! Random ops with TensorFlow's seeding model (a global seed plus an op seed): uniform,
//! normal, truncated_normal.

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[];
