//! # tf-lite
//!
//! TensorFlow Lite for the TensorFlow-in-Rust stack: the `.tflite` flatbuffer format
//! ([`format`](mod@format): verified reader, writer), an [`Interpreter`] that runs float32 and int8
//! models written by TensorFlow's converter (or by this crate), and the `tflite`
//! command-line tool.
//!
//! ```no_run
//! use tf_lite::Interpreter;
//! let mut it = Interpreter::from_file("cnn_int8.tflite")?;
//! let x = tf_core::Tensor::read_npy("input.npy")?;
//! it.set_input(0, &x)?;
//! it.invoke()?;
//! it.output_tensor(0)?.write_npy("output.npy")?;
//! # Ok::<(), tf_lite::Error>(())
//! ```
//!
//! ## Map
//! - [`format`](mod@format): the schema's tables, [`format::read_model`], [`format::write_model`].
//! - [`interpreter`]: [`Interpreter`], [`SignatureRunner`], memory planning, kernels.
//! - [`convert`]: `.keras` model ([`convert::load_keras`]) or layer graph → `.tflite`
//!   ([`convert::convert`]): float32, float16 weights, dynamic-range int8 (hybrid kernels),
//!   full-integer int8 calibrated on representative data.
//! - [`error`]: [`Error`], [`Result`].

// flatc's generated code names `alloc::`; make the crate visible everywhere.
extern crate alloc;

pub mod convert;
pub mod error;
pub mod format;
pub mod interpreter;

pub use error::{Error, Result};
pub use interpreter::{Interpreter, SignatureRunner, TensorInfo};
