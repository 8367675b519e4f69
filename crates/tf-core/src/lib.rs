//! # tf-core
//!
//! The foundation of the TensorFlow-in-Rust stack: [`Tensor`]s of every TensorFlow
//! [`DType`] on a [`Device`], the ops over them (each defined once, see [`op`]), the
//! single [`dispatch`](op::dispatch) point that every op goes through, device placement
//! and [`Variable`]s.
//!
//! ```
//! use tf_core::{ops, Tensor};
//!
//! let a = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, -4.0], [2, 2])?;
//! let b = Tensor::from_vec(vec![10.0f32, 20.0], [2])?; // broadcasts over rows
//! let c = ops::relu(&ops::add(&a, &b)?)?;
//! assert_eq!(c.to_vec::<f32>()?, vec![11.0, 18.0, 13.0, 16.0]);
//! # Ok::<(), tf_core::Error>(())
//! ```
//!
//! ## Map
//! - [`dtype`]: [`DType`], the [`Element`] trait, casting rules.
//! - [`shape`]: [`Shape`], [`PartialShape`], broadcasting.
//! - [`tensor`]: [`Tensor`] construction, inspection, views, conversion, printing.
//! - [`ops`]: every built-in op, by family (elementwise, array, ...).
//! - [`op`]: op definitions, attributes, the registry, [`op::dispatch`].
//! - [`context`]: the observer/executor stack upper layers hook into.
//! - [`device`]: devices, scopes, backends, placement logging.
//! - [`variable`]: the [`Variable`] resource.
//! - [`kernels`]: shared CPU kernel infrastructure for custom ops.
//! - `cuda` (cargo feature `cuda`): the CUDA device: discovery, device memory, cuBLAS and
//!   NVRTC kernels.

#![warn(missing_docs)]

pub mod context;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod dtype;
pub mod error;
pub mod kernels;
pub mod op;
pub mod ops;
pub mod shape;
pub mod storage;
pub mod tensor;
pub mod variable;

pub use device::{Device, list_physical_devices, with_device};
pub use dtype::{DType, DTypeSet, Element};
pub use error::{Error, Result};
pub use half::{bf16, f16};
pub use shape::{PartialShape, Shape};
pub use tensor::Tensor;
pub use variable::Variable;
