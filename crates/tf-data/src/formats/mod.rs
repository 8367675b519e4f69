//! File formats as dataset sources, with standalone readers and writers:
//!
//! - [`compression`]: none / GZIP / ZLIB streams ([`Compression`]).
//! - [`tfrecord`]: TFRecord framing, [`TFRecordReader`], [`TFRecordWriter`],
//!   [`TFRecordDataset`].
//! - [`example`]: `tf.train.Example` / `SequenceExample`, [`parse_example`] and
//!   [`parse_sequence_example`].
//! - [`text`]: [`TextLineDataset`]; [`csv`]: [`CsvDataset`].
//! - [`npy`]: `.npy` / `.npz` files and datasets of their rows.
//! - [`idx`]: IDX (MNIST) files.
//! - [`image`]: JPEG/PNG decoding, resizing, normalization, [`ImageFileDataset`].
//! - [`list_files`](mod@list_files): glob matching and `Dataset.list_files`.
//!
//! `Dataset::list_files`, `Dataset::tfrecord`, `Dataset::text_lines` and `Dataset::csv`
//! are the `tf.data`-named entry points; the file datasets also read the files named
//! by a dataset (`from_file_names`, e.g. over `list_files`).
//!
//! Readers treat every byte as hostile: malformed input is an error naming the file
//! (and the byte offset or line where it helps), never a panic, and lengths read from
//! a file never drive an allocation larger than the data present.

pub mod compression;
pub mod csv;
mod entry;
pub mod example;
mod files;
pub mod idx;
pub mod image;
pub mod list_files;
pub mod npy;
pub mod text;
pub mod tfrecord;

pub use compression::Compression;
pub use csv::{CsvColumn, CsvDataset};
pub use example::{
    Example, ExampleParser, Feature, FeatureList, FeatureLists, FeatureSpec, FeatureType, Features,
    OrderedMap, SequenceExample, SequenceExampleParser, parse_example, parse_sequence_example,
    parse_single_example, parse_single_sequence_example, sparse_to_dense,
};
pub use idx::{idx_dataset, read_idx, write_idx};
pub use image::{
    ImageFileDataset, ResizeMethod, decode_image, image_to_float, per_image_standardization,
    read_image, resize,
};
pub use list_files::{ListFiles, list_files, matching_files};
pub use npy::{npy_dataset, npz_dataset, read_npz, write_npz};
pub use text::TextLineDataset;
pub use tfrecord::{TFRecordDataset, TFRecordReader, TFRecordWriter};
