//! The binary format of `cache(filename)` files: a header naming the element spec,
//! checksummed records (one element each) and a trailer with the element count.
//! Every length read from a file is checked against what is left of the file, so a
//! damaged file is an error naming the file and offset, never a panic or a huge
//! allocation.
//!
//! ```text
//! magic "TFRS-DATA-CACHE\0" | u32 spec_len | spec (UTF-8, the spec's Display)
//! { u8 1 | u64 len | payload (len bytes) | u64 checksum(payload) }*
//! u8 2 | u64 element_count | u64 checksum(element_count)
//! payload = element:  0 tensor: u8 dtype | u32 rank | u64 dims[rank] | raw little-endian data
//!                     1 strings: u32 rank | u64 dims[rank] | { u64 len | bytes }*
//!                     2 tuple: u32 n | element*   3 map: u32 n | { u32 len | key | element }*
//! ```

use crate::element::{ByteString, Element, StringTensor};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use tf_core::storage::{HostBuffer, Storage};
use tf_core::{DType, Element as _, Error, Result, Shape, Tensor, with_dtype};

/// The first bytes of every cache file.
pub const CACHE_FILE_MAGIC: &[u8; 16] = b"TFRS-DATA-CACHE\0";

pub(crate) const RECORD: u8 = 1;
pub(crate) const TRAILER: u8 = 2;

/// A 64-bit checksum (multiply-xorshift over 8-byte words).
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (h >> 32)
}

fn dtype_code(d: DType) -> u8 {
    DType::ALL.iter().position(|&x| x == d).unwrap_or(0) as u8
}

/// Appends the encoding of `e` to `out`.
pub(crate) fn encode(e: &Element, out: &mut Vec<u8>) -> Result<()> {
    match e {
        Element::Tensor(t) => {
            out.push(0);
            out.push(dtype_code(t.dtype()));
            put_dims(out, t.dims());
            let host = t.contiguous_host()?;
            match host.storage() {
                Some(Storage::Host(buf)) => out.extend_from_slice(buf.as_bytes()),
                _ => {
                    return Err(Error::precondition(
                        "CacheDataset",
                        "tensor has no host storage",
                    ));
                }
            }
        }
        Element::Strings(s) => {
            out.push(1);
            put_dims(out, s.shape().dims());
            for v in s.values() {
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.extend_from_slice(v);
            }
        }
        Element::Tuple(v) => {
            out.push(2);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            for x in v {
                encode(x, out)?;
            }
        }
        Element::Map(m) => {
            out.push(3);
            out.extend_from_slice(&(m.len() as u32).to_le_bytes());
            for (k, x) in m {
                out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
                encode(x, out)?;
            }
        }
        Element::Dataset(_) => {
            return Err(Error::unimplemented(
                "CacheDataset",
                "elements that are datasets cannot be cached to a file",
            ));
        }
    }
    Ok(())
}

fn put_dims(out: &mut Vec<u8>, dims: &[usize]) {
    out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for &d in dims {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
}

/// A bounds-checked reader over one record's payload.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data, pos: 0 }
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("record truncated at byte {} (wanted {n} more)", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn dims(&mut self) -> std::result::Result<Shape, String> {
        let rank = self.u32()? as usize;
        if rank > 64 {
            return Err(format!("rank {rank} is not plausible"));
        }
        let mut dims = Vec::with_capacity(rank);
        for _ in 0..rank {
            dims.push(usize::try_from(self.u64()?).map_err(|_| "dimension too large".to_string())?);
        }
        Ok(Shape::from(dims))
    }

    /// Whether every byte was consumed.
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    /// Decodes one element (depth-limited).
    pub(crate) fn element(&mut self, depth: usize) -> std::result::Result<Element, String> {
        if depth > 64 {
            return Err("elements nest too deeply".to_string());
        }
        match self.u8()? {
            0 => {
                let code = self.u8()?;
                let dtype = *DType::ALL
                    .get(code as usize)
                    .ok_or_else(|| format!("unknown dtype code {code}"))?;
                let shape = self.dims()?;
                let n = shape
                    .checked_num_elements()
                    .ok_or_else(|| format!("shape {shape} is too large"))?;
                let bytes = n
                    .checked_mul(dtype.size_of())
                    .ok_or_else(|| format!("shape {shape} is too large"))?;
                let raw = self.take(bytes)?;
                let mut buf = HostBuffer::from_bytes(dtype, raw)
                    .ok_or_else(|| format!("invalid {dtype} data"))?;
                with_dtype!(dtype, T => {
                    let v = T::vec_mut(&mut buf)
                        .map(std::mem::take)
                        .ok_or_else(|| "buffer dtype mismatch".to_string())?;
                    Tensor::from_host_vec(v, shape).map(Element::Tensor).map_err(|e| e.to_string())
                })
            }
            1 => {
                let shape = self.dims()?;
                let n = shape
                    .checked_num_elements()
                    .ok_or_else(|| format!("shape {shape} is too large"))?;
                // Each string needs at least its 8-byte length.
                if n > (self.data.len() - self.pos) / 8 {
                    return Err(format!("{n} strings do not fit in the record"));
                }
                let mut values: Vec<ByteString> = Vec::with_capacity(n);
                for _ in 0..n {
                    let len =
                        usize::try_from(self.u64()?).map_err(|_| "string too long".to_string())?;
                    values.push(Arc::from(self.take(len)?));
                }
                StringTensor::new(values, shape)
                    .map(Element::Strings)
                    .map_err(|e| e.to_string())
            }
            2 => {
                let n = self.u32()? as usize;
                if n > self.data.len() - self.pos {
                    return Err(format!("tuple of {n} does not fit in the record"));
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.element(depth + 1)?);
                }
                Ok(Element::Tuple(v))
            }
            3 => {
                let n = self.u32()? as usize;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let len = self.u32()? as usize;
                    let key = std::str::from_utf8(self.take(len)?)
                        .map_err(|_| "map key is not UTF-8".to_string())?
                        .to_string();
                    let x = self.element(depth + 1)?;
                    m.insert(key, x);
                }
                Ok(Element::Map(m))
            }
            tag => Err(format!("unknown element tag {tag}")),
        }
    }
}

/// Writes the header.
pub(crate) fn write_header(w: &mut impl Write, spec: &str) -> std::io::Result<()> {
    w.write_all(CACHE_FILE_MAGIC)?;
    w.write_all(&(spec.len() as u32).to_le_bytes())?;
    w.write_all(spec.as_bytes())
}

/// Writes one record.
pub(crate) fn write_record(w: &mut impl Write, payload: &[u8]) -> std::io::Result<()> {
    w.write_all(&[RECORD])?;
    w.write_all(&(payload.len() as u64).to_le_bytes())?;
    w.write_all(payload)?;
    w.write_all(&checksum(payload).to_le_bytes())
}

/// Writes the trailer.
pub(crate) fn write_trailer(w: &mut impl Write, count: u64) -> std::io::Result<()> {
    w.write_all(&[TRAILER])?;
    w.write_all(&count.to_le_bytes())?;
    w.write_all(&checksum(&count.to_le_bytes()).to_le_bytes())
}
