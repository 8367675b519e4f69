//! IDX files, the format of MNIST (`train-images-idx3-ubyte`, ...): a big-endian header
//! `0x00 0x00 <type> <rank>`, `rank` big-endian u32 dimensions, then the data in
//! big-endian row-major order. Gzip-compressed files (`.gz`, as MNIST is distributed)
//! are detected by their magic bytes.
//!
//! Types: `0x08` uint8, `0x09` int8, `0x0B` int16 (read as int32: there is no int16
//! dtype), `0x0C` int32, `0x0D` float32, `0x0E` float64.

use crate::dataset::Dataset;
use crate::element::Element;
use crate::formats::compression::{read_bounded, read_full};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use tf_core::{DType, Error, Result, Shape, Tensor};

const OP: &str = "read_idx";

fn fmt_err(name: &str, msg: impl Into<String>) -> Error {
    Error::format(format!("{OP} {name}"), msg)
}

/// (dtype on disk, bytes per value) of an IDX type code.
fn type_code(name: &str, code: u8) -> Result<(DType, usize)> {
    Ok(match code {
        0x08 => (DType::U8, 1),
        0x09 => (DType::I8, 1),
        0x0B => (DType::I32, 2),
        0x0C => (DType::I32, 4),
        0x0D => (DType::F32, 4),
        0x0E => (DType::F64, 8),
        other => {
            return Err(fmt_err(
                name,
                format!(
                    "unknown IDX type code {other:#04x} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)"
                ),
            ));
        }
    })
}

/// Reads an IDX stream (already decompressed); `name` appears in errors.
///
/// Errors on a bad magic, unknown type, a size that overflows, data shorter than the
/// header says, or bytes after the data. Allocates no more than the data present.
pub fn read_idx_from(mut r: impl Read, name: &str) -> Result<Tensor> {
    let io = |e: std::io::Error| fmt_err(name, e.to_string());
    let mut magic = [0u8; 4];
    if read_full(&mut r, &mut magic).map_err(io)? < 4 {
        return Err(fmt_err(
            name,
            "truncated: shorter than the 4-byte magic number",
        ));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(fmt_err(
            name,
            format!(
                "not an IDX file: magic number starts with {:#04x} {:#04x}, expected 0x00 0x00",
                magic[0], magic[1]
            ),
        ));
    }
    let (dtype, width) = type_code(name, magic[2])?;
    let rank = magic[3] as usize;
    let mut dims_raw = vec![0u8; 4 * rank];
    if read_full(&mut r, &mut dims_raw).map_err(io)? < dims_raw.len() {
        return Err(fmt_err(
            name,
            format!("truncated header: {rank} dimensions announced"),
        ));
    }
    let dims: Vec<usize> = dims_raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n.checked_mul(8).is_some_and(|b| b <= isize::MAX as usize))
        .ok_or_else(|| fmt_err(name, format!("shape {dims:?} is too large")))?;
    let need = (count * width) as u64;
    let mut data = Vec::new();
    let got = read_bounded(&mut r, need, &mut data).map_err(io)?;
    if got < need {
        return Err(fmt_err(
            name,
            format!("truncated data: shape {dims:?} needs {need} bytes, found {got}"),
        ));
    }
    let mut extra = [0u8; 1];
    if read_full(&mut r, &mut extra).map_err(io)? != 0 {
        return Err(fmt_err(
            name,
            format!("unexpected bytes after the {need} data bytes of shape {dims:?}"),
        ));
    }
    let shape = Shape::from(dims);
    match magic[2] {
        0x08 => Tensor::from_host_vec(data, shape),
        0x09 => Tensor::from_host_vec(data.into_iter().map(|b| b as i8).collect::<Vec<_>>(), shape),
        0x0B => Tensor::from_host_vec(
            data.chunks_exact(2)
                .map(|c| i32::from(i16::from_be_bytes([c[0], c[1]])))
                .collect::<Vec<_>>(),
            shape,
        ),
        0x0C => Tensor::from_host_vec(
            data.chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<_>>(),
            shape,
        ),
        0x0D => Tensor::from_host_vec(
            data.chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<_>>(),
            shape,
        ),
        _ => {
            debug_assert_eq!(dtype, DType::F64);
            Tensor::from_host_vec(
                data.chunks_exact(8)
                    .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect::<Vec<_>>(),
                shape,
            )
        }
    }
}

/// Reads an IDX file (gzip-compressed or not) into a tensor: uint8, int8, int32
/// (from int16 or int32), float32 or float64.
///
/// Errors name the file; see [`read_idx_from`].
pub fn read_idx(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(format!("{OP} {name}"), e))?;
    let mut r = BufReader::new(file);
    let gz = r
        .fill_buf()
        .map_err(|e| Error::io(format!("{OP} {name}"), e))?
        .starts_with(&[0x1f, 0x8b]);
    if gz {
        read_idx_from(MultiGzDecoder::new(r), &name)
    } else {
        read_idx_from(r, &name)
    }
}

/// The IDX encoding of a tensor of dtype uint8, int8, int32, float32 or float64
/// (rank at most 255, dimensions below 2^32).
///
/// Errors for other dtypes and shapes IDX cannot hold.
pub fn to_idx_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let code = match t.dtype() {
        DType::U8 => 0x08,
        DType::I8 => 0x09,
        DType::I32 => 0x0C,
        DType::F32 => 0x0D,
        DType::F64 => 0x0E,
        other => {
            return Err(Error::invalid(
                "write_idx",
                format!(
                    "IDX has no {} type (uint8, int8, int32, float32, float64)",
                    other.name()
                ),
            ));
        }
    };
    let rank = u8::try_from(t.rank())
        .map_err(|_| Error::invalid("write_idx", format!("rank {} exceeds 255", t.rank())))?;
    let mut out = vec![0, 0, code, rank];
    for &d in t.dims() {
        let d = u32::try_from(d).map_err(|_| {
            Error::invalid(
                "write_idx",
                format!("dimension {d} does not fit in 32 bits"),
            )
        })?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    match t.dtype() {
        DType::U8 => out.extend(t.to_vec::<u8>()?),
        DType::I8 => out.extend(t.to_vec::<i8>()?.into_iter().map(|x| x as u8)),
        DType::I32 => out.extend(t.to_vec::<i32>()?.into_iter().flat_map(i32::to_be_bytes)),
        DType::F32 => out.extend(t.to_vec::<f32>()?.into_iter().flat_map(f32::to_be_bytes)),
        _ => out.extend(t.to_vec::<f64>()?.into_iter().flat_map(f64::to_be_bytes)),
    }
    Ok(out)
}

/// Writes a tensor as an uncompressed IDX file; see [`to_idx_bytes`].
pub fn write_idx(path: impl AsRef<Path>, t: &Tensor) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_idx_bytes(t)?;
    let io = |e| Error::io(format!("write_idx {}", path.display()), e);
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    w.write_all(&bytes).map_err(io)?;
    w.flush().map_err(io)
}

/// A dataset of the rows of an IDX file (e.g. 28×28 uint8 images), or, with `labels`,
/// of `(row, label)` tuples — the MNIST images/labels pair.
///
/// Errors when a file cannot be read, holds a rank-0 array, or the two files' first
/// dimensions differ.
pub fn idx_dataset(data: impl AsRef<Path>, labels: Option<&Path>) -> Result<Dataset> {
    let x = Element::Tensor(read_idx(data)?);
    let full = match labels {
        Some(l) => Element::Tuple(vec![x, Element::Tensor(read_idx(l)?)]),
        None => x,
    };
    Dataset::from_tensor_slices(full)
}
