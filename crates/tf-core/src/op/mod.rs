//! Op machinery: definitions, attributes, the registry and the dispatch point.
//!
//! Public op functions (`ops::matmul`, `Tensor::relu`, `&a + &b`) are thin wrappers
//! that build an [`OpCall`] and [`dispatch`] it.

mod attrs;
mod def;
mod dispatch;
mod registry;

pub use attrs::{AttrValue, Attrs};
pub use def::{
    Arity, InferContext, InferFn, KernelContext, KernelEntry, KernelFn, OpDef, Specs, TensorSpec,
    spec1,
};
pub use dispatch::{OpCall, call, call1, dispatch, execute_eager};
pub use registry::{lookup_op, register_op, register_static_op, registered_ops};
