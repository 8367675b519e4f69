//! Random ops with TensorFlow's seeding model (a global seed plus an op seed): uniform,
//! normal, truncated_normal.
//!
//! The numbers are TensorFlow's own: the kernels use Philox4x32-10 and the same
//! distributions, group layout and per-call stream reservation as TensorFlow's CPU
//! kernels, and op seeds derive from the global seed as TF's eager context derives
//! them, so `set_random_seed(s)` followed by the same calls gives the values TensorFlow
//! 2.x gives (up to the last bit of `log`/`sin`/`cos` in the normal distributions).
//! Generation is split into fixed groups whose stream position depends only on the
//! element index, so results do not depend on the number of threads.
//!
//! See [`seed`] for the seeding model and how random state behaves under tracing.

mod dist;
mod ops;
mod philox;
pub mod seed;

pub(crate) use dist::{Dist, Sampler, write_group};
pub(crate) use ops::run_dist;
pub use ops::{
    RANDOM_STANDARD_NORMAL, RANDOM_UNIFORM, RANDOM_UNIFORM_INT, TRUNCATED_NORMAL, random_normal,
    random_uniform, random_uniform_int, truncated_normal,
};
pub use seed::{clear_random_seed, get_seed, global_random_seed, set_random_seed};

use crate::op::OpDef;

pub(crate) static OPS: &[&OpDef] = &[
    &RANDOM_UNIFORM,
    &RANDOM_UNIFORM_INT,
    &RANDOM_STANDARD_NORMAL,
    &TRUNCATED_NORMAL,
];
