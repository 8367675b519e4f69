//! Stream compression of record and text files (`compression_type` in TensorFlow):
//! none, GZIP and ZLIB, and buffered opening of files for reading and writing.

use flate2::Compression as Level;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::str::FromStr;
use tf_core::{Error, Result};

/// Default read buffer (TensorFlow's TFRecordDataset uses 256 KiB).
pub const DEFAULT_BUFFER_SIZE: usize = 256 * 1024;

/// How a file's bytes are compressed (TensorFlow's `compression_type`: `""`, `"GZIP"`,
/// `"ZLIB"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain bytes (`""` or `"NONE"`).
    #[default]
    None,
    /// A gzip stream (RFC 1952); several concatenated members are read as one stream.
    Gzip,
    /// A zlib stream (RFC 1950).
    Zlib,
}

impl Compression {
    /// TensorFlow's name: `""`, `"GZIP"` or `"ZLIB"`.
    pub fn tf_name(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => "GZIP",
            Compression::Zlib => "ZLIB",
        }
    }

    /// Guesses the compression from a file name: `.gz` → GZIP, `.zz`/`.zlib` → ZLIB,
    /// anything else → none.
    pub fn from_extension(path: impl AsRef<Path>) -> Compression {
        match path.as_ref().extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zz" | "zlib") => Compression::Zlib,
            _ => Compression::None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "NONE",
            other => other.tf_name(),
        })
    }
}

impl FromStr for Compression {
    type Err = Error;

    /// Parses TensorFlow's names (case-insensitive): `""`/`"NONE"`, `"GZIP"`, `"ZLIB"`.
    fn from_str(s: &str) -> Result<Compression> {
        match s.to_ascii_uppercase().as_str() {
            "" | "NONE" => Ok(Compression::None),
            "GZIP" => Ok(Compression::Gzip),
            "ZLIB" => Ok(Compression::Zlib),
            _ => Err(Error::invalid(
                "compression_type",
                format!("unknown compression type {s:?} (expected \"\", \"GZIP\" or \"ZLIB\")"),
            )),
        }
    }
}

/// A boxed buffered reader of decompressed bytes.
pub type BoxedRead = Box<dyn BufRead + Send>;

/// Wraps `inner` (already buffered or not) in the decompressor for `compression` and a
/// read buffer of `buffer_size` bytes.
pub fn decompress_reader<R: Read + Send + 'static>(
    inner: R,
    compression: Compression,
    buffer_size: usize,
) -> BoxedRead {
    let cap = buffer_size.max(1);
    match compression {
        Compression::None => Box::new(BufReader::with_capacity(cap, inner)),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            cap,
            MultiGzDecoder::new(BufReader::with_capacity(cap, inner)),
        )),
        Compression::Zlib => Box::new(BufReader::with_capacity(
            cap,
            ZlibDecoder::new(BufReader::with_capacity(cap, inner)),
        )),
    }
}

/// Opens `path` for buffered reading through the decompressor for `compression`.
///
/// Errors (naming `op` and the file) when the file cannot be opened.
pub fn open_read(
    op: &str,
    path: &Path,
    compression: Compression,
    buffer_size: usize,
) -> Result<BoxedRead> {
    let file = File::open(path).map_err(|e| Error::io(format!("{op} {}", path.display()), e))?;
    Ok(decompress_reader(file, compression, buffer_size))
}

/// A writer that compresses what it is given; [`CompressedWriter::finish`] writes the
/// stream trailer and returns the inner writer.
pub enum CompressedWriter<W: Write> {
    /// No compression.
    Plain(W),
    /// gzip.
    Gzip(GzEncoder<W>),
    /// zlib.
    Zlib(ZlibEncoder<W>),
}

impl<W: Write> CompressedWriter<W> {
    /// A writer compressing into `inner` at the default level (6, like zlib's default).
    pub fn new(inner: W, compression: Compression) -> CompressedWriter<W> {
        match compression {
            Compression::None => CompressedWriter::Plain(inner),
            Compression::Gzip => CompressedWriter::Gzip(GzEncoder::new(inner, Level::default())),
            Compression::Zlib => CompressedWriter::Zlib(ZlibEncoder::new(inner, Level::default())),
        }
    }

    /// Ends the compressed stream (writing its trailer) and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            CompressedWriter::Plain(w) => Ok(w),
            CompressedWriter::Gzip(w) => w.finish(),
            CompressedWriter::Zlib(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for CompressedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            CompressedWriter::Plain(w) => w.write(buf),
            CompressedWriter::Gzip(w) => w.write(buf),
            CompressedWriter::Zlib(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            CompressedWriter::Plain(w) => w.write_all(buf),
            CompressedWriter::Gzip(w) => w.write_all(buf),
            CompressedWriter::Zlib(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            CompressedWriter::Plain(w) => w.flush(),
            CompressedWriter::Gzip(w) => w.flush(),
            CompressedWriter::Zlib(w) => w.flush(),
        }
    }
}

/// Creates (truncating) `path` for buffered, compressed writing.
///
/// Errors (naming `op` and the file) when the file cannot be created.
pub fn create_write(
    op: &str,
    path: &Path,
    compression: Compression,
) -> Result<CompressedWriter<BufWriter<File>>> {
    let file = File::create(path).map_err(|e| Error::io(format!("{op} {}", path.display()), e))?;
    Ok(CompressedWriter::new(
        BufWriter::with_capacity(DEFAULT_BUFFER_SIZE, file),
        compression,
    ))
}

/// Reads exactly `len` bytes into `out` (cleared first), growing it as bytes arrive so
/// that a length read from a hostile file never allocates more than the data present
/// (at most twice). Returns how many bytes were read: fewer than `len` at end of stream.
pub(crate) fn read_bounded<R: Read + ?Sized>(
    r: &mut R,
    len: u64,
    out: &mut Vec<u8>,
) -> io::Result<u64> {
    const FIRST: u64 = 1 << 20;
    out.clear();
    let mut filled = 0usize;
    let target = |have: usize| -> usize {
        let want = if have == 0 {
            len.min(FIRST)
        } else {
            len.min((have as u64).saturating_mul(2))
        };
        usize::try_from(want).unwrap_or(usize::MAX)
    };
    while (filled as u64) < len {
        if filled == out.len() {
            let new = target(filled);
            if new <= filled {
                break;
            }
            out.resize(new, 0);
        }
        match r.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.truncate(filled);
                return Err(e);
            }
        }
    }
    out.truncate(filled);
    Ok(filled as u64)
}

/// Reads up to `buf.len()` bytes, stopping early only at end of stream. Returns the
/// count read.
pub(crate) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!("".parse::<Compression>().unwrap(), Compression::None);
        assert_eq!("gzip".parse::<Compression>().unwrap(), Compression::Gzip);
        assert_eq!("ZLIB".parse::<Compression>().unwrap(), Compression::Zlib);
        assert!("lz4".parse::<Compression>().is_err());
        assert_eq!(
            Compression::from_extension("a/b.tfrecord.gz"),
            Compression::Gzip
        );
        assert_eq!(
            Compression::from_extension("a/b.tfrecord"),
            Compression::None
        );
    }

    #[test]
    fn round_trip_each_compression() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for c in [Compression::None, Compression::Gzip, Compression::Zlib] {
            let mut w = CompressedWriter::new(Vec::new(), c);
            w.write_all(&data).unwrap();
            let bytes = w.finish().unwrap();
            let mut r = decompress_reader(io::Cursor::new(bytes), c, 4096);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "{c}");
        }
    }

    #[test]
    fn read_bounded_does_not_trust_length() {
        let mut out = Vec::new();
        let mut r = io::Cursor::new(vec![1u8; 10]);
        let n = read_bounded(&mut r, 1 << 60, &mut out).unwrap();
        assert_eq!(n, 10);
        assert!(out.capacity() < 1 << 21);
        let mut r = io::Cursor::new(vec![2u8; 3 << 20]);
        assert_eq!(read_bounded(&mut r, 3 << 20, &mut out).unwrap(), 3 << 20);
        assert!(out.iter().all(|&b| b == 2));
    }
}
