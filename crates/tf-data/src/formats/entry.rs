//! `Dataset`-level entry points for the file sources, named as in `tf.data`:
//! `Dataset::list_files`, `Dataset::tfrecord`, `Dataset::text_lines`, `Dataset::csv`.
//! The file sources return their builders (configure, then [`build`] or `into()`).
//!
//! [`build`]: crate::formats::TFRecordDataset::build

use super::csv::{CsvColumn, CsvDataset};
use super::list_files::list_files;
use super::text::TextLineDataset;
use super::tfrecord::TFRecordDataset;
use crate::dataset::Dataset;
use std::path::Path;
use tf_core::Result;

impl Dataset {
    /// `tf.data.Dataset.list_files(patterns, shuffle, seed)`: see
    /// [`list_files`](crate::formats::list_files()).
    ///
    /// Errors when no file matches any pattern, or a directory cannot be listed.
    pub fn list_files<S: AsRef<str>>(
        patterns: &[S],
        shuffle: bool,
        seed: Option<u64>,
    ) -> Result<Dataset> {
        list_files(patterns, shuffle, seed)
    }

    /// `tf.data.TFRecordDataset(filenames)`: a [`TFRecordDataset`] builder over `files`.
    ///
    /// ```no_run
    /// use tf_data::Dataset;
    /// use tf_data::formats::Compression;
    /// let records: Dataset = Dataset::tfrecord(["a.tfrecord.gz", "b.tfrecord.gz"])
    ///     .compression(Compression::Gzip)
    ///     .num_parallel_reads(2)
    ///     .into();
    /// # let _ = records;
    /// ```
    pub fn tfrecord<I, P>(files: I) -> TFRecordDataset
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        TFRecordDataset::new(files)
    }

    /// `tf.data.TextLineDataset(filenames)`: a [`TextLineDataset`] builder over `files`.
    pub fn text_lines<I, P>(files: I) -> TextLineDataset
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        TextLineDataset::new(files)
    }

    /// `tf.data.experimental.CsvDataset(filenames, record_defaults)`: a [`CsvDataset`]
    /// builder over `files` with one [`CsvColumn`] per parsed column.
    pub fn csv<I, P>(files: I, columns: Vec<CsvColumn>) -> CsvDataset
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        CsvDataset::new(files, columns)
    }
}
