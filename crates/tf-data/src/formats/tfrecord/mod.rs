//! TFRecord files: the framing ([`encode_record`], [`masked_crc32c`]), a streaming
//! [`TFRecordReader`] and [`TFRecordWriter`], and the [`TFRecordDataset`] source.

mod dataset;
mod record;

pub use dataset::TFRecordDataset;
pub use record::{
    FOOTER_LEN, HEADER_LEN, TFRecordReader, TFRecordWriter, encode_record, mask, masked_crc32c,
    read_tfrecord_file, record_header, unmask, write_tfrecord_file,
};
