//! A minimal protocol-buffers wire-format reader and writer (varints, tags,
//! length-delimited fields, fixed 32/64-bit), enough for `tf.train.Example`.
//! Every read is bounds-checked; errors carry the byte offset.

/// Wire types.
pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

/// A decoding failure at a byte offset of the outermost message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    pub offset: usize,
    pub message: String,
}

pub(crate) type WireResult<T> = Result<T, WireError>;

/// A cursor over an encoded message (or a length-delimited part of one).
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the outermost message, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Offset of the cursor in the outermost message.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn err(&self, message: impl Into<String>) -> WireError {
        WireError {
            offset: self.offset(),
            message: message.into(),
        }
    }

    pub fn varint(&mut self) -> WireResult<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err("varint longer than 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    /// A field key: (field number, wire type).
    pub fn key(&mut self) -> WireResult<(u32, u8)> {
        let start = self.pos;
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            self.pos = start;
            return Err(self.err(format!("invalid field number {field}")));
        }
        Ok((field as u32, (k & 7) as u8))
    }

    /// A length-delimited payload, as a reader over its bytes.
    pub fn sub(&mut self) -> WireResult<Reader<'a>> {
        let bytes = self.bytes()?;
        Ok(Reader {
            buf: bytes,
            pos: 0,
            base: self.offset() - bytes.len(),
        })
    }

    /// A length-delimited payload.
    pub fn bytes(&mut self) -> WireResult<&'a [u8]> {
        let len = self.varint()?;
        let rest = self.buf.len() - self.pos;
        if len > rest as u64 {
            return Err(self.err(format!(
                "length-delimited field of {len} bytes but only {rest} remain"
            )));
        }
        let len = len as usize;
        let b = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(b)
    }

    pub fn fixed32(&mut self) -> WireResult<[u8; 4]> {
        let Some(b) = self.buf.get(self.pos..self.pos + 4) else {
            return Err(self.err("truncated fixed32"));
        };
        self.pos += 4;
        let mut out = [0u8; 4];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn fixed64(&mut self) -> WireResult<()> {
        if self.buf.len() - self.pos < 8 {
            return Err(self.err("truncated fixed64"));
        }
        self.pos += 8;
        Ok(())
    }

    /// Skips a field's value of wire type `wt` (unknown fields).
    pub fn skip(&mut self, wt: u8) -> WireResult<()> {
        match wt {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64(),
            LEN => self.bytes().map(drop),
            FIXED32 => self.fixed32().map(drop),
            other => Err(self.err(format!("unsupported wire type {other}"))),
        }
    }
}

/// Bytes of `v` as a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_key(out: &mut Vec<u8>, field: u32, wt: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wt));
}

/// Key and length prefix of a length-delimited field whose payload is `len` bytes.
pub(crate) fn put_len_prefix(out: &mut Vec<u8>, field: u32, len: usize) {
    put_key(out, field, LEN);
    put_varint(out, len as u64);
}

/// Encoded size of a length-delimited field (one-byte key) with a `len`-byte payload.
pub(crate) fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX, (-7i64) as u64] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            let mut r = Reader::new(&b);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn hostile_varints_and_lengths() {
        assert!(Reader::new(&[0x80; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
        assert!(Reader::new(&[0x80]).varint().is_err());
        // A length of 2^62 over three bytes of payload.
        let mut b = Vec::new();
        put_varint(&mut b, 1 << 62);
        b.extend_from_slice(b"abc");
        let e = Reader::new(&b).bytes().unwrap_err();
        assert!(e.message.contains("remain"), "{e:?}");
        assert!(Reader::new(&[0x00]).key().is_err());
        assert!(Reader::new(&[0x0b]).skip(3).is_err());
    }
}
