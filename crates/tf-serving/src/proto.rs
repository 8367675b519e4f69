//! The generated protobuf messages and services (packages `tensorflow` and
//! `tensorflow.serving`, compiled from `proto/` by protox in build.rs) and conversion
//! between `TensorProto` and [`HostTensor`].

#![allow(missing_docs, clippy::all)]

/// Package `tensorflow`: `TensorProto`, `SignatureDef`, `Example`, ....
pub mod tensorflow {
    include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));

    /// Package `tensorflow.serving`: requests, responses and services.
    pub mod serving {
        include!(concat!(env!("OUT_DIR"), "/tensorflow.serving.rs"));
    }
}

use crate::error::{Result, ServingError};
use crate::tensor::{HostTensor, TensorData, WireType, checked_count};
use tensorflow::{TensorProto, TensorShapeProto, tensor_shape_proto::Dim};

/// Bytes allowed in one tensor decoded from a request (as large as the largest message
/// accepted, so a tiny message with one typed value and a huge shape cannot make the
/// server allocate gigabytes).
const MAX_TENSOR_BYTES: usize = 64 << 20;

fn from_le<T, const N: usize>(bytes: &[u8], n: usize, f: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .take(n)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}

/// Fills `n` elements from typed values: `n` of them, one repeated, or none (zeros).
fn fill_typed<T: Clone + Default>(vals: Vec<T>, n: usize, what: &str) -> Result<Vec<T>> {
    match vals.len() {
        l if l == n => Ok(vals),
        0 => Ok(vec![T::default(); n]),
        1 => Ok(vec![vals[0].clone(); n]),
        l => Err(ServingError::invalid(format!(
            "Invalid TensorProto: {what} has {l} values for a tensor of {n} elements"
        ))),
    }
}

/// Decodes a `TensorProto` (from `tensor_content` or the typed `*_val` field).
pub fn tensor_from_proto(p: &TensorProto) -> Result<HostTensor> {
    let t = WireType::from_number(p.dtype)?;
    let shape_p = p.tensor_shape.clone().unwrap_or_default();
    if shape_p.unknown_rank {
        return Err(ServingError::invalid("Invalid TensorProto: unknown rank"));
    }
    let shape = shape_p
        .dim
        .iter()
        .map(|d| usize::try_from(d.size))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| ServingError::invalid("Invalid TensorProto: negative dimension"))?;
    let n = checked_count(&shape)?;
    if let Some(size) = t.size() {
        if n.checked_mul(size).is_none_or(|b| b > MAX_TENSOR_BYTES) {
            return Err(ServingError::invalid(format!(
                "Invalid TensorProto: shape {shape:?} is too large"
            )));
        }
    } else if n > MAX_TENSOR_BYTES {
        return Err(ServingError::invalid(format!(
            "Invalid TensorProto: shape {shape:?} is too large"
        )));
    }
    if !p.tensor_content.is_empty() {
        let size = t.size().ok_or_else(|| {
            ServingError::invalid(
                "Invalid TensorProto: DT_STRING tensors cannot use tensor_content",
            )
        })?;
        let c = &p.tensor_content;
        if c.len() != n * size {
            return Err(ServingError::invalid(format!(
                "Invalid TensorProto: tensor_content has {} bytes, shape {shape:?} of {} needs {}",
                c.len(),
                t.name(),
                n * size
            )));
        }
        let data = match t {
            WireType::Float => TensorData::Float(from_le(c, n, f32::from_le_bytes)),
            WireType::Double => TensorData::Double(from_le(c, n, f64::from_le_bytes)),
            WireType::Int32 => TensorData::Int32(from_le(c, n, i32::from_le_bytes)),
            WireType::Int64 => TensorData::Int64(from_le(c, n, i64::from_le_bytes)),
            WireType::Uint8 => TensorData::Uint8(c.to_vec()),
            WireType::Int8 => TensorData::Int8(c.iter().map(|&b| b as i8).collect()),
            WireType::Bool => TensorData::Bool(c.iter().map(|&b| b != 0).collect()),
            WireType::Half => TensorData::Half(from_le(c, n, half::f16::from_le_bytes)),
            WireType::Bfloat16 => TensorData::Bfloat16(from_le(c, n, half::bf16::from_le_bytes)),
            WireType::String => return Err(ServingError::internal("unreachable string content")),
        };
        return HostTensor::new(shape, data);
    }
    let data = match t {
        WireType::Float => TensorData::Float(fill_typed(p.float_val.clone(), n, "float_val")?),
        WireType::Double => TensorData::Double(fill_typed(p.double_val.clone(), n, "double_val")?),
        WireType::Int32 => TensorData::Int32(fill_typed(p.int_val.clone(), n, "int_val")?),
        WireType::Int64 => TensorData::Int64(fill_typed(p.int64_val.clone(), n, "int64_val")?),
        WireType::Uint8 => TensorData::Uint8(fill_typed(
            p.int_val.iter().map(|&x| x as u8).collect(),
            n,
            "int_val",
        )?),
        WireType::Int8 => TensorData::Int8(fill_typed(
            p.int_val.iter().map(|&x| x as i8).collect(),
            n,
            "int_val",
        )?),
        WireType::Bool => TensorData::Bool(fill_typed(p.bool_val.clone(), n, "bool_val")?),
        WireType::Half => TensorData::Half(fill_typed(
            p.half_val
                .iter()
                .map(|&x| half::f16::from_bits(x as u16))
                .collect(),
            n,
            "half_val",
        )?),
        WireType::Bfloat16 => TensorData::Bfloat16(fill_typed(
            p.half_val
                .iter()
                .map(|&x| half::bf16::from_bits(x as u16))
                .collect(),
            n,
            "half_val",
        )?),
        WireType::String => TensorData::String(fill_typed(p.string_val.clone(), n, "string_val")?),
    };
    HostTensor::new(shape, data)
}

/// A `TensorShapeProto` of known dims.
pub fn shape_proto(dims: &[usize]) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims
            .iter()
            .map(|&d| Dim {
                size: i64::try_from(d).unwrap_or(i64::MAX),
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    }
}

/// Encodes a tensor as TF Serving does: numbers in `tensor_content`, strings in
/// `string_val`.
pub fn tensor_to_proto(t: &HostTensor) -> TensorProto {
    let mut p = TensorProto {
        dtype: t.wire_type().number(),
        tensor_shape: Some(shape_proto(&t.shape)),
        ..Default::default()
    };
    fn bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        let mut out = Vec::with_capacity(v.len() * N);
        for &x in v {
            out.extend_from_slice(&f(x));
        }
        out
    }
    p.tensor_content = match &t.data {
        TensorData::Float(v) => bytes(v, f32::to_le_bytes),
        TensorData::Double(v) => bytes(v, f64::to_le_bytes),
        TensorData::Int32(v) => bytes(v, i32::to_le_bytes),
        TensorData::Int64(v) => bytes(v, i64::to_le_bytes),
        TensorData::Uint8(v) => v.clone(),
        TensorData::Int8(v) => v.iter().map(|&x| x as u8).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
        TensorData::Half(v) => bytes(v, half::f16::to_le_bytes),
        TensorData::Bfloat16(v) => bytes(v, half::bf16::to_le_bytes),
        TensorData::String(v) => {
            p.string_val = v.clone();
            Vec::new()
        }
    }
    .into();
    p
}
