//! NumPy `.npy` files: reading and writing tensors of every dtype NumPy has among
//! ours (float32, float64, float16, int8, uint8, int32, int64, bool).
//!
//! Every byte of a file is treated as hostile. The header is parsed here by a small,
//! strict, non-recursive parser (format versions 1.0, 2.0 and 3.0; a dict with exactly
//! the keys `descr`, `fortran_order` and `shape`), and the data length the header
//! implies is checked against the bytes actually present before anything is allocated,
//! so a header that lies cannot trigger a huge allocation. Data of the types
//! `ndarray-npy` supports is then decoded by it; float16 is decoded here. Big-endian
//! descriptors (`'>f4'`) are byte-swapped and `fortran_order: True` arrays are
//! transposed into row-major order. bfloat16 has no NumPy dtype: writing it is an error
//! (cast to float32 first).

use super::Tensor;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::Shape;
use half::f16;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// Longest header accepted (NumPy writes a few hundred bytes; it refuses more than
/// 10000 by default).
const MAX_HEADER_LEN: usize = 1 << 16;
/// Most dimensions accepted in a header.
const MAX_RANK: usize = 64;

/// What an `.npy` header says.
#[derive(Debug, PartialEq)]
struct Header {
    dtype: DType,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
    /// Where the data starts.
    data_offset: usize,
}

fn fmt_err(ctx: &str, msg: impl Into<String>) -> Error {
    Error::format(ctx.to_string(), msg)
}

/// Maps a descriptor string to (dtype, big-endian). Accepts exactly what NumPy writes
/// for our dtypes (and the aliases ndarray-npy reads).
fn parse_descr(ctx: &str, descr: &str) -> Result<(DType, bool)> {
    Ok(match descr {
        "<f4" => (DType::F32, false),
        ">f4" => (DType::F32, true),
        "<f8" => (DType::F64, false),
        ">f8" => (DType::F64, true),
        "<f2" => (DType::F16, false),
        ">f2" => (DType::F16, true),
        "<i4" => (DType::I32, false),
        ">i4" => (DType::I32, true),
        "<i8" => (DType::I64, false),
        ">i8" => (DType::I64, true),
        "|i1" | "i1" | "b" => (DType::I8, false),
        "|u1" | "u1" | "B" => (DType::U8, false),
        "|b1" => (DType::Bool, false),
        other => {
            return Err(fmt_err(
                ctx,
                format!(
                    "unsupported dtype descriptor {other:?} (supported: <f4 <f8 <f2 |i1 |u1 <i4 <i8 |b1, and big-endian >f4 >f8 >f2 >i4 >i8)"
                ),
            ));
        }
    })
}

/// A value in the header dict.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// A cursor over the header text (ASCII only).
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
    ctx: &'a str,
}

impl Cursor<'_> {
    fn err(&self, what: &str) -> Error {
        fmt_err(
            self.ctx,
            format!("bad header dict at byte {} of the header: {what}", self.pos),
        )
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn string(&mut self) -> Result<String> {
        self.ws();
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a quoted string")),
        };
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == q {
                let s = &self.s[start..self.pos];
                self.pos += 1;
                return Ok(String::from_utf8_lossy(s).into_owned());
            }
            if c == b'\\' || !(0x20..0x7f).contains(&c) {
                return Err(self.err("unsupported character in string"));
            }
            self.pos += 1;
        }
        Err(self.err("unterminated string"))
    }

    fn integer(&mut self) -> Result<usize> {
        self.ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected a non-negative integer"));
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
            .filter(|&d| d <= isize::MAX as usize)
            .ok_or_else(|| self.err("dimension too large"))
    }

    fn value(&mut self) -> Result<Value> {
        self.ws();
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => {
                self.pos += 1;
                let mut dims = Vec::new();
                if self.eat(b')') {
                    return Ok(Value::Tuple(dims));
                }
                loop {
                    if dims.len() >= MAX_RANK {
                        return Err(self.err(&format!("more than {MAX_RANK} dimensions")));
                    }
                    dims.push(self.integer()?);
                    if self.eat(b')') {
                        // `(5)` is an int in Python, not a tuple.
                        if dims.len() == 1 {
                            return Err(self.err("a 1-element shape needs a trailing comma"));
                        }
                        return Ok(Value::Tuple(dims));
                    }
                    self.expect(b',')?;
                    if self.eat(b')') {
                        return Ok(Value::Tuple(dims));
                    }
                }
            }
            _ => {
                let rest = &self.s[self.pos..];
                if rest.starts_with(b"True") {
                    self.pos += 4;
                    Ok(Value::Bool(true))
                } else if rest.starts_with(b"False") {
                    self.pos += 5;
                    Ok(Value::Bool(false))
                } else {
                    Err(self.err("expected a string, True, False or a tuple of integers"))
                }
            }
        }
    }
}

/// Parses the header dict text into (descr, fortran_order, shape).
fn parse_dict(ctx: &str, text: &[u8]) -> Result<(String, bool, Vec<usize>)> {
    let mut c = Cursor {
        s: text,
        pos: 0,
        ctx,
    };
    c.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if c.eat(b'}') {
            break;
        }
        let key = c.string()?;
        if !matches!(key.as_str(), "descr" | "fortran_order" | "shape") {
            return Err(fmt_err(ctx, format!("unexpected header key '{key}'")));
        }
        c.expect(b':')?;
        let value = c.value()?;
        let dup = match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr.replace(s).is_some(),
            ("fortran_order", Value::Bool(b)) => fortran.replace(b).is_some(),
            ("shape", Value::Tuple(t)) => shape.replace(t).is_some(),
            (_, v) => {
                return Err(fmt_err(
                    ctx,
                    format!("header key '{key}' has a value of the wrong type: {v:?}"),
                ));
            }
        };
        if dup {
            return Err(fmt_err(ctx, format!("header key '{key}' appears twice")));
        }
        if c.eat(b'}') {
            break;
        }
        c.expect(b',')?;
    }
    c.ws();
    if c.pos != text.len() {
        return Err(c.err("unexpected text after the dict"));
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        (d, f, _) => {
            let missing = if d.is_none() {
                "descr"
            } else if f.is_none() {
                "fortran_order"
            } else {
                "shape"
            };
            Err(fmt_err(
                ctx,
                format!("header is missing the key '{missing}'"),
            ))
        }
    }
}

/// Parses and validates the header of `bytes`, including that the data that follows
/// has exactly the length the header implies.
fn parse_header(ctx: &str, bytes: &[u8]) -> Result<Header> {
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(fmt_err(
            ctx,
            "not an .npy file (missing the \\x93NUMPY magic string)",
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_bytes, prefix) = match (major, minor) {
        (1, 0) => (2, 10),
        (2, 0) | (3, 0) => (4, 12),
        _ => {
            return Err(fmt_err(
                ctx,
                format!(
                    "unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)"
                ),
            ));
        }
    };
    if bytes.len() < prefix {
        return Err(fmt_err(ctx, "truncated: the header length is missing"));
    }
    let mut len = 0usize;
    for (k, &b) in bytes[8..8 + len_bytes].iter().enumerate() {
        len |= (b as usize) << (8 * k);
    }
    if len > MAX_HEADER_LEN {
        return Err(fmt_err(
            ctx,
            format!("header length {len} exceeds the limit of {MAX_HEADER_LEN} bytes"),
        ));
    }
    let data_offset = prefix + len;
    let Some(text) = bytes.get(prefix..data_offset) else {
        return Err(fmt_err(
            ctx,
            format!(
                "truncated: the header claims {len} bytes but only {} follow",
                bytes.len() - prefix
            ),
        ));
    };
    let Some(text) = text.strip_suffix(b"\n") else {
        return Err(fmt_err(ctx, "the header does not end with a newline"));
    };
    if !text.is_ascii() {
        return Err(fmt_err(ctx, "the header is not ASCII"));
    }
    let (descr, fortran, shape) = parse_dict(ctx, text)?;
    let (dtype, big_endian) = parse_descr(ctx, &descr)?;
    // Element count and byte length, refusing shapes no tensor (nor ndarray) can have,
    // even when a zero dimension makes the count 0.
    let limit = isize::MAX as usize / 8;
    let mut nonzero = 1usize;
    for &d in &shape {
        nonzero = nonzero
            .checked_mul(d.max(1))
            .filter(|&n| n <= limit)
            .ok_or_else(|| fmt_err(ctx, format!("shape {shape:?} is too large")))?;
    }
    let n = if shape.contains(&0) { 0 } else { nonzero };
    let need = n * dtype.size_of();
    let have = bytes.len() - data_offset;
    if have < need {
        return Err(fmt_err(
            ctx,
            format!(
                "truncated data: shape {shape:?} of {} needs {need} bytes, found {have}",
                dtype.name()
            ),
        ));
    }
    if have > need {
        return Err(fmt_err(
            ctx,
            format!(
                "{} extra bytes after the data of shape {shape:?} ({need} bytes of {})",
                have - need,
                dtype.name()
            ),
        ));
    }
    Ok(Header {
        dtype,
        big_endian,
        fortran,
        shape,
        data_offset,
    })
}

/// Decodes a file whose header has been validated, with ndarray-npy.
fn read_with_ndarray_npy<T: Element + ndarray_npy::ReadableElement>(
    ctx: &str,
    bytes: &[u8],
) -> Result<Tensor> {
    let a = ArrayD::<T>::read_npy(bytes).map_err(|e| fmt_err(ctx, e.to_string()))?;
    Tensor::from_ndarray(a).map_err(|e| fmt_err(ctx, e.to_string()))
}

/// Decodes float16 data (ndarray-npy has no float16).
fn read_f16(h: &Header, data: &[u8]) -> Result<Tensor> {
    let v: Vec<f16> = data
        .chunks_exact(2)
        .map(|c| {
            let b = [c[0], c[1]];
            f16::from_bits(if h.big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        })
        .collect();
    if !h.fortran {
        return Tensor::from_host_vec(v, Shape::new(&h.shape));
    }
    // Column-major data: the row-major tensor of the reversed shape, transposed.
    let rev: Vec<usize> = h.shape.iter().rev().copied().collect();
    let t = Tensor::from_host_vec(v, Shape::from(rev))?;
    let strides = t.strides().iter().rev().copied().collect();
    t.view("read_npy", Shape::new(&h.shape), strides, 0)?
        .contiguous_host()
}

fn from_npy(ctx: &str, bytes: &[u8]) -> Result<Tensor> {
    let h = parse_header(ctx, bytes)?;
    match h.dtype {
        DType::F16 => read_f16(&h, &bytes[h.data_offset..]),
        DType::F32 => read_with_ndarray_npy::<f32>(ctx, bytes),
        DType::F64 => read_with_ndarray_npy::<f64>(ctx, bytes),
        DType::I8 => read_with_ndarray_npy::<i8>(ctx, bytes),
        DType::U8 => read_with_ndarray_npy::<u8>(ctx, bytes),
        DType::I32 => read_with_ndarray_npy::<i32>(ctx, bytes),
        DType::I64 => read_with_ndarray_npy::<i64>(ctx, bytes),
        DType::Bool => read_with_ndarray_npy::<bool>(ctx, bytes),
        DType::BF16 => Err(fmt_err(ctx, "bfloat16 has no NumPy dtype")),
    }
}

/// A version 1.0 (or 2.0 when long) header for `descr` and `shape`, padded with
/// spaces to a multiple of 64 bytes and ending in a newline, as NumPy writes it.
fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    let total = |prefix: usize| (prefix + dict.len() + 1).div_ceil(64) * 64;
    let (version, prefix) = if total(10) - 10 <= u16::MAX as usize {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let len = total(prefix) - prefix;
    let mut out = Vec::with_capacity(prefix + len);
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.push(0);
    if version == 1 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix + len - 1, b' ');
    out.push(b'\n');
    out
}

fn write_with_ndarray_npy<T: Element + ndarray_npy::WritableElement>(
    op: &'static str,
    t: &Tensor,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    t.to_ndarray::<T>()?
        .write_npy(&mut out)
        .map_err(|e| Error::invalid(op, e.to_string()))?;
    Ok(out)
}

fn to_npy(op: &'static str, t: &Tensor) -> Result<Vec<u8>> {
    match t.dtype() {
        DType::F16 => {
            let v = t.to_vec::<f16>()?;
            let mut out = header_bytes("<f2", t.dims());
            out.reserve(v.len() * 2);
            for x in v {
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Ok(out)
        }
        DType::F32 => write_with_ndarray_npy::<f32>(op, t),
        DType::F64 => write_with_ndarray_npy::<f64>(op, t),
        DType::I8 => write_with_ndarray_npy::<i8>(op, t),
        DType::U8 => write_with_ndarray_npy::<u8>(op, t),
        DType::I32 => write_with_ndarray_npy::<i32>(op, t),
        DType::I64 => write_with_ndarray_npy::<i64>(op, t),
        DType::Bool => write_with_ndarray_npy::<bool>(op, t),
        DType::BF16 => Err(Error::invalid(
            op,
            "bfloat16 has no NumPy dtype; cast to float32 first",
        )),
    }
}

impl Tensor {
    /// Reads a NumPy `.npy` file (float32, float64, float16, int8, uint8, int32, int64
    /// or bool; little- or big-endian; C or Fortran order) into a row-major host tensor.
    ///
    /// Errors name the file: I/O failures, and any malformed content (bad magic,
    /// version, header dict, unsupported descriptor, data shorter or longer than the
    /// shape says, invalid bool bytes). Never panics on file contents.
    pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
        let path = path.as_ref();
        let ctx = format!("read_npy {}", path.display());
        let bytes = std::fs::read(path).map_err(|e| Error::io(ctx.clone(), e))?;
        from_npy(&ctx, &bytes)
    }

    /// Parses `.npy` content held in memory; see [`Tensor::read_npy`]. Errors name
    /// "npy bytes".
    ///
    /// ```
    /// use tf_core::Tensor;
    /// let t = Tensor::from_vec(vec![1.5f32, -2.0, 3.0, 4.0], [2, 2])?;
    /// let back = Tensor::from_npy_bytes(&t.to_npy_bytes()?)?;
    /// assert_eq!(back.to_vec::<f32>()?, t.to_vec::<f32>()?);
    /// assert!(Tensor::from_npy_bytes(b"not numpy").is_err());
    /// # Ok::<(), tf_core::Error>(())
    /// ```
    pub fn from_npy_bytes(bytes: &[u8]) -> Result<Tensor> {
        from_npy("npy bytes", bytes)
    }

    /// Writes the tensor as a NumPy `.npy` file (format 1.0, little-endian, C order).
    ///
    /// Errors for bfloat16 (no NumPy dtype: cast to float32 first), symbolic tensors,
    /// and I/O failures (naming the file).
    pub fn write_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = to_npy("write_npy", self)?;
        std::fs::write(path, bytes)
            .map_err(|e| Error::io(format!("write_npy {}", path.display()), e))
    }

    /// The tensor encoded as `.npy` content; see [`Tensor::write_npy`].
    pub fn to_npy_bytes(&self) -> Result<Vec<u8>> {
        to_npy("to_npy_bytes", self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_header_is_aligned_and_parses_back() {
        for shape in [vec![], vec![5], vec![2, 3], vec![1, 0, 7]] {
            let mut bytes = header_bytes("<f2", &shape);
            assert_eq!(bytes.len() % 64, 0);
            let n: usize = shape.iter().product();
            bytes.extend(std::iter::repeat_n(0u8, 2 * n));
            let h = parse_header("t", &bytes).unwrap();
            assert_eq!((h.dtype, h.fortran, h.shape), (DType::F16, false, shape));
        }
        // The largest rank accepted still fits a format 1.0 header.
        let long = header_bytes("<f2", &[1; 64]);
        assert_eq!(long[6], 1);
    }

    #[test]
    fn header_parser_accepts_numpy_variants() {
        let h = br#"{"descr": "<i8", "shape": (3,), "fortran_order": True}"#;
        assert_eq!(parse_dict("t", h).unwrap(), ("<i8".into(), true, vec![3]));
        assert_eq!(
            parse_dict("t", b"{'descr':'|b1','fortran_order':False,'shape':(),}").unwrap(),
            ("|b1".into(), false, vec![])
        );
        for bad in [
            &b"{'descr': '<f4', 'fortran_order': False, 'shape': (3)}"[..],
            b"{'descr': '<f4', 'fortran_order': False}",
            b"{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}",
            b"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': ()} x",
            b"{'descr': '<f4' 'fortran_order': False, 'shape': ()}",
            b"{'descr: '<f4', 'fortran_order': False, 'shape': ()}",
            b"((((((((((",
            b"",
        ] {
            assert!(
                parse_dict("t", bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
