//! # tf-data
//!
//! `tf.data` for Rust: a [`Dataset`] is an immutable pipeline description built from a
//! source (tensor slices, ranges, generators, TFRecord/text/CSV/npy/IDX/image files) and
//! transformations (map, filter, batch, shuffle, prefetch, interleave, ...) with
//! TensorFlow's exact semantics. Each iteration is one epoch.
//!
//! Elements are [`Element`]s: tensors, string tensors (records, lines) and tuples or
//! maps of them, described by an [`ElementSpec`].
//!
//! ## Map
//! - `element`: [`Element`], [`StringTensor`], [`ElementSpec`].
//! - `dataset`: [`Dataset`] and the [`DatasetSource`] trait every stage implements.
//! - `cardinality`: [`Cardinality`].
//! - [`formats`]: file formats (TFRecord, `tf.train.Example`, text, CSV, npy/npz, IDX,
//!   images) as dataset sources, with standalone readers and writers.

#![warn(missing_docs)]

mod cardinality;
mod dataset;
mod element;
pub mod formats;

pub use cardinality::Cardinality;
pub use dataset::{Dataset, DatasetSource, ElementIter};
pub use element::{ByteString, Element, ElementSpec, StringTensor};
