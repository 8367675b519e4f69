//! `tf.data.TFRecordDataset`: the records of one or more TFRecord files as rank-0 string
//! elements.

use super::record::TFRecordReader;
use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec, StringTensor};
use crate::formats::compression::{Compression, DEFAULT_BUFFER_SIZE, open_read};
use crate::formats::files::{OpenFile, read_files};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tf_core::{PartialShape, Result};

/// The records of TFRecord files, in file order (or interleaved when read in parallel),
/// each a rank-0 string element (`tf.data.TFRecordDataset(filenames, compression_type,
/// buffer_size, num_parallel_reads)`).
///
/// A corrupted or truncated record is an error element naming the file and the byte
/// offset; that file then ends.
///
/// ```no_run
/// use tf_data::formats::{Compression, TFRecordDataset};
/// let ds = TFRecordDataset::new(["train-0.tfrecord.gz", "train-1.tfrecord.gz"])
///     .compression(Compression::Gzip)
///     .num_parallel_reads(2)
///     .build();
/// for record in ds.iter()? {
///     let bytes = record?.strings()?.as_bytes()?.len();
/// #   let _ = bytes;
/// }
/// # Ok::<(), tf_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TFRecordDataset {
    files: Arc<[PathBuf]>,
    compression: Compression,
    buffer_size: usize,
    num_parallel_reads: usize,
}

impl TFRecordDataset {
    /// A dataset reading `files` (uncompressed, sequentially, with a 256 KiB buffer).
    pub fn new<I, P>(files: I) -> TFRecordDataset
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        TFRecordDataset {
            files: files
                .into_iter()
                .map(|p| p.as_ref().to_path_buf())
                .collect(),
            compression: Compression::None,
            buffer_size: DEFAULT_BUFFER_SIZE,
            num_parallel_reads: 1,
        }
    }

    /// The compression of every file.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The read buffer size in bytes (TensorFlow's `buffer_size`; 0 means the default).
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = if bytes == 0 {
            DEFAULT_BUFFER_SIZE
        } else {
            bytes
        };
        self
    }

    /// Reads this many files at once on background threads, interleaving their records
    /// one at a time in a deterministic order (0 or 1: sequential).
    pub fn num_parallel_reads(mut self, n: usize) -> Self {
        self.num_parallel_reads = n;
        self
    }

    /// The files read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Wraps the source in a [`Dataset`].
    pub fn build(self) -> Dataset {
        Dataset::new(self)
    }
}

impl From<TFRecordDataset> for Dataset {
    fn from(s: TFRecordDataset) -> Dataset {
        Dataset::new(s)
    }
}

/// The records of one file as string elements.
fn record_elements(
    path: &Path,
    compression: Compression,
    buffer_size: usize,
) -> Result<ElementIter> {
    let r = open_read("TFRecordDataset", path, compression, buffer_size)?;
    let mut reader = TFRecordReader::new(r, path.display().to_string());
    let mut buf = Vec::new();
    Ok(Box::new(std::iter::from_fn(move || {
        match reader.read_into(&mut buf) {
            Ok(true) => Some(Ok(Element::Strings(StringTensor::scalar(&buf[..])))),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    })))
}

impl DatasetSource for TFRecordDataset {
    fn iter(&self) -> Result<ElementIter> {
        let (compression, buffer_size) = (self.compression, self.buffer_size);
        let open: OpenFile = Arc::new(move |p: &Path| record_elements(p, compression, buffer_size));
        Ok(read_files(
            Arc::clone(&self.files),
            open,
            self.num_parallel_reads,
        ))
    }

    fn cardinality(&self) -> Cardinality {
        if self.files.is_empty() {
            Cardinality::Finite(0)
        } else {
            Cardinality::Unknown
        }
    }

    fn element_spec(&self) -> ElementSpec {
        ElementSpec::Strings(PartialShape::scalar())
    }

    fn name(&self) -> &'static str {
        "TFRecord"
    }
}
