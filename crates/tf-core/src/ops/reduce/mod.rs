//! Reductions over any set of axes (sum, mean, prod, max, min, all, any, logsumexp,
//! moments), argmax/argmin, scans (cumsum, cumprod) and sorting (top_k, sort, argsort).
//!
//! Reductions share one layout engine (`engine`): any view, any axes, contiguous fast
//! paths for row and column reductions, rayon above a size threshold. Per-dtype
//! arithmetic (accumulator types, NaN rules, wrapping) lives in `num`.

mod arg;
mod axes;
mod engine;
mod methods;
mod num;
mod par;
mod reducer;
mod reductions;
mod scan;
mod sort;

pub use arg::{ARG_MAX, ARG_MIN, argmax, argmax_with_type, argmin, argmin_with_type};
pub use reductions::{
    ALL, ANY, MAX, MEAN, MIN, MOMENTS, PROD, REDUCE_LOGSUMEXP, SUM, moments, reduce_all,
    reduce_any, reduce_logsumexp, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum,
};
pub(crate) use reductions::{mean_var_masked, sum_masked};
pub use scan::{CUMPROD, CUMSUM, cumprod, cumsum};
pub use sort::{ARG_SORT, SORT, SortDirection, TOP_K, argsort, sort, top_k};

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[
    &SUM,
    &MEAN,
    &PROD,
    &MAX,
    &MIN,
    &ALL,
    &ANY,
    &REDUCE_LOGSUMEXP,
    &MOMENTS,
    &ARG_MAX,
    &ARG_MIN,
    &CUMSUM,
    &CUMPROD,
    &TOP_K,
    &SORT,
    &ARG_SORT,
];
