//! Reductions over any set of axes (sum, mean, prod, max, min, argmax, argmin, all,
//! any, logsumexp, moments), scans (cumsum, cumprod) and sorting (top_k, sort, argsort).

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[];
