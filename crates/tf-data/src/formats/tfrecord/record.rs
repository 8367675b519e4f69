//! TFRecord framing: `u64 length (LE) | u32 masked_crc32c(length) | data |
//! u32 masked_crc32c(data)`, with CRC32C (Castagnoli, hardware-accelerated by the
//! `crc32c` crate) masked as TensorFlow masks it.

use crate::formats::compression::{
    BoxedRead, CompressedWriter, Compression, DEFAULT_BUFFER_SIZE, create_write, decompress_reader,
    open_read, read_bounded, read_full,
};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use tf_core::{Error, Result};

const MASK_DELTA: u32 = 0xa282_ead8;
/// Bytes before the data of a record: length and its CRC.
pub const HEADER_LEN: usize = 12;
/// Bytes after the data of a record: its CRC.
pub const FOOTER_LEN: usize = 4;

/// TensorFlow's masked CRC32C: `((c >> 15) | (c << 17)) + 0xa282ead8` (mod 2^32) of
/// the CRC32C of `data`.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    mask(crc32c::crc32c(data))
}

/// Masks a CRC as TFRecord stores it.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Reverses [`mask`].
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// The 12-byte header of a record of `len` bytes.
pub fn record_header(len: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let l = len.to_le_bytes();
    h[..8].copy_from_slice(&l);
    h[8..].copy_from_slice(&masked_crc32c(&l).to_le_bytes());
    h
}

/// One framed record (header, data, footer) as TensorFlow writes it.
pub fn encode_record(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + data.len() + FOOTER_LEN);
    out.extend_from_slice(&record_header(data.len() as u64));
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// Reads TFRecord records from a (decompressed) byte stream.
///
/// Every record's length and data CRCs are checked. A stream that ends exactly at a
/// record boundary ends the iteration; one that ends inside a record, or a CRC that does
/// not match, is an error naming the file and the record's byte offset (in the
/// decompressed stream). Lengths are never trusted for allocation: a corrupt length of
/// 2^60 fails on the bytes actually present. After an error the reader yields nothing
/// more.
pub struct TFRecordReader<R: Read> {
    inner: R,
    name: String,
    offset: u64,
    done: bool,
    /// Whether to check data CRCs (length CRCs are always checked).
    verify_data: bool,
}

impl TFRecordReader<BoxedRead> {
    /// Opens `path` (with `compression`) for reading with TensorFlow's default 256 KiB
    /// buffer.
    ///
    /// Errors when the file cannot be opened.
    pub fn open(path: impl AsRef<Path>, compression: Compression) -> Result<Self> {
        Self::open_with_buffer(path, compression, DEFAULT_BUFFER_SIZE)
    }

    /// [`TFRecordReader::open`] with an explicit read buffer size in bytes.
    pub fn open_with_buffer(
        path: impl AsRef<Path>,
        compression: Compression,
        buffer_size: usize,
    ) -> Result<Self> {
        let path = path.as_ref();
        let r = open_read("TFRecordReader", path, compression, buffer_size)?;
        Ok(TFRecordReader::new(r, path.display().to_string()))
    }

    /// Reads records from bytes in memory (compressed with `compression`); `name`
    /// appears in error messages.
    pub fn from_bytes(bytes: Vec<u8>, compression: Compression, name: impl Into<String>) -> Self {
        let r = decompress_reader(io::Cursor::new(bytes), compression, DEFAULT_BUFFER_SIZE);
        TFRecordReader::new(r, name)
    }
}

impl<R: Read> TFRecordReader<R> {
    /// Reads records from `inner`, a stream of already decompressed bytes (buffer it:
    /// the reader makes small reads); `name` appears in error messages.
    pub fn new(inner: R, name: impl Into<String>) -> Self {
        TFRecordReader {
            inner,
            name: name.into(),
            offset: 0,
            done: false,
            verify_data: true,
        }
    }

    /// Skips the data CRC check (TensorFlow always checks; for trusted files only).
    pub fn skip_data_crc(mut self) -> Self {
        self.verify_data = false;
        self
    }

    /// The byte offset (in the decompressed stream) of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn corrupt(&mut self, at: u64, what: String) -> Error {
        self.done = true;
        Error::format(
            format!("TFRecord {}", self.name),
            format!("corrupted record at byte offset {at}: {what}"),
        )
    }

    fn io_err(&mut self, at: u64, e: io::Error) -> Error {
        self.done = true;
        Error::format(
            format!("TFRecord {}", self.name),
            format!("read error in the record at byte offset {at}: {e}"),
        )
    }

    /// Reads the next record into `buf` (replacing its contents). Returns `Ok(false)` at
    /// a clean end of stream.
    ///
    /// Errors on I/O or decompression failure, truncation and CRC mismatch, naming the
    /// file and the record's byte offset.
    pub fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let at = self.offset;
        let mut header = [0u8; HEADER_LEN];
        let got = match read_full(&mut self.inner, &mut header) {
            Ok(n) => n,
            Err(e) => return Err(self.io_err(at, e)),
        };
        if got == 0 {
            self.done = true;
            return Ok(false);
        }
        if got < HEADER_LEN {
            return Err(self.corrupt(
                at,
                format!("truncated header: {got} of {HEADER_LEN} bytes before the end of the file"),
            ));
        }
        let mut l = [0u8; 8];
        l.copy_from_slice(&header[..8]);
        let mut c = [0u8; 4];
        c.copy_from_slice(&header[8..]);
        let (stored, computed) = (u32::from_le_bytes(c), masked_crc32c(&l));
        if stored != computed {
            return Err(self.corrupt(
                at,
                format!("length CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"),
            ));
        }
        let len = u64::from_le_bytes(l);
        let n = match read_bounded(&mut self.inner, len, buf) {
            Ok(n) => n,
            Err(e) => return Err(self.io_err(at, e)),
        };
        if n < len {
            return Err(self.corrupt(
                at,
                format!(
                    "truncated data: the record claims {len} bytes but the file ends after {n}"
                ),
            ));
        }
        let got = match read_full(&mut self.inner, &mut c) {
            Ok(n) => n,
            Err(e) => return Err(self.io_err(at, e)),
        };
        if got < FOOTER_LEN {
            return Err(self.corrupt(
                at,
                format!(
                    "truncated data CRC: {got} of {FOOTER_LEN} bytes before the end of the file"
                ),
            ));
        }
        if self.verify_data {
            let (stored, computed) = (u32::from_le_bytes(c), masked_crc32c(buf));
            if stored != computed {
                return Err(self.corrupt(
                    at,
                    format!(
                        "data CRC mismatch over {len} bytes (stored {stored:#010x}, computed {computed:#010x})"
                    ),
                ));
            }
        }
        self.offset = at + (HEADER_LEN + FOOTER_LEN) as u64 + len;
        Ok(true)
    }

    /// Reads the next record, `Ok(None)` at the end; see [`TFRecordReader::read_into`].
    pub fn read_record(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        Ok(self.read_into(&mut buf)?.then_some(buf))
    }
}

impl<R: Read> Iterator for TFRecordReader<R> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Result<Vec<u8>>> {
        self.read_record().transpose()
    }
}

/// Writes TFRecord files byte-identical to TensorFlow's `tf.io.TFRecordWriter` (for
/// uncompressed files; compressed files decompress to the same bytes).
pub struct TFRecordWriter<W: Write> {
    inner: CompressedWriter<W>,
}

impl TFRecordWriter<BufWriter<File>> {
    /// Creates (truncating) `path`.
    ///
    /// Errors when the file cannot be created.
    pub fn create(path: impl AsRef<Path>, compression: Compression) -> Result<Self> {
        let path = path.as_ref();
        Ok(TFRecordWriter {
            inner: create_write("TFRecordWriter", path, compression)?,
        })
    }
}

impl<W: Write> TFRecordWriter<W> {
    /// Writes records into `inner`, compressed with `compression`.
    pub fn new(inner: W, compression: Compression) -> Self {
        TFRecordWriter {
            inner: CompressedWriter::new(inner, compression),
        }
    }

    /// Appends one record.
    ///
    /// Errors on I/O failure.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let io = |e| Error::io("TFRecordWriter::write", e);
        self.inner
            .write_all(&record_header(data.len() as u64))
            .map_err(io)?;
        self.inner.write_all(data).map_err(io)?;
        self.inner
            .write_all(&masked_crc32c(data).to_le_bytes())
            .map_err(io)
    }

    /// Flushes buffered bytes (a compressed stream stays open).
    pub fn flush(&mut self) -> Result<()> {
        self.inner
            .flush()
            .map_err(|e| Error::io("TFRecordWriter::flush", e))
    }

    /// Ends the stream (compression trailer), flushes and returns the inner writer.
    /// Dropping the writer without calling this may lose buffered bytes silently.
    pub fn finish(self) -> Result<W> {
        let mut w = self
            .inner
            .finish()
            .map_err(|e| Error::io("TFRecordWriter::finish", e))?;
        w.flush()
            .map_err(|e| Error::io("TFRecordWriter::finish", e))?;
        Ok(w)
    }
}

/// Writes `records` to a new TFRecord file at `path`.
///
/// Errors on I/O failure.
pub fn write_tfrecord_file<I, B>(
    path: impl AsRef<Path>,
    compression: Compression,
    records: I,
) -> Result<()>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut w = TFRecordWriter::create(path, compression)?;
    for r in records {
        w.write(r.as_ref())?;
    }
    w.finish().map(drop)
}

/// Reads every record of a TFRecord file.
///
/// Errors on the first corrupted record (naming the file and offset) or I/O failure.
pub fn read_tfrecord_file(
    path: impl AsRef<Path>,
    compression: Compression,
) -> Result<Vec<Vec<u8>>> {
    TFRecordReader::open(path, compression)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trips_and_known_crc() {
        // CRC32C("123456789") = 0xe3069283 (the standard check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        for c in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask(mask(c)), c);
        }
    }

    #[test]
    fn empty_record_frame() {
        let r = encode_record(b"");
        assert_eq!(r.len(), 16);
        let mut rd = TFRecordReader::new(io::Cursor::new(r), "mem");
        assert_eq!(rd.read_record().unwrap(), Some(vec![]));
        assert_eq!(rd.read_record().unwrap(), None);
    }
}
