//! [`HostTensor`]: the server's tensor value on the wire side (REST JSON and gRPC
//! `TensorProto`), with the dtypes TensorFlow Serving clients send, strings included, and
//! conversion to and from tf-core tensors for the model backends.

use crate::error::{Result, ServingError};
use half::{bf16, f16};
use tf_core::{DType, Tensor};

/// The dtypes the server handles (TensorFlow's `DataType` names and numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireType {
    /// `DT_FLOAT` (1).
    Float,
    /// `DT_DOUBLE` (2).
    Double,
    /// `DT_INT32` (3).
    Int32,
    /// `DT_UINT8` (4).
    Uint8,
    /// `DT_INT8` (6).
    Int8,
    /// `DT_STRING` (7).
    String,
    /// `DT_INT64` (9).
    Int64,
    /// `DT_BOOL` (10).
    Bool,
    /// `DT_BFLOAT16` (14).
    Bfloat16,
    /// `DT_HALF` (19).
    Half,
}

impl WireType {
    /// TensorFlow's `DataType` enum number.
    pub fn number(self) -> i32 {
        match self {
            WireType::Float => 1,
            WireType::Double => 2,
            WireType::Int32 => 3,
            WireType::Uint8 => 4,
            WireType::Int8 => 6,
            WireType::String => 7,
            WireType::Int64 => 9,
            WireType::Bool => 10,
            WireType::Bfloat16 => 14,
            WireType::Half => 19,
        }
    }

    /// The dtype for a `DataType` number; errors name unsupported ones.
    pub fn from_number(n: i32) -> Result<WireType> {
        Ok(match n {
            1 => WireType::Float,
            2 => WireType::Double,
            3 => WireType::Int32,
            4 => WireType::Uint8,
            6 => WireType::Int8,
            7 => WireType::String,
            9 => WireType::Int64,
            10 => WireType::Bool,
            14 => WireType::Bfloat16,
            19 => WireType::Half,
            _ => {
                return Err(ServingError::invalid(format!(
                    "Unsupported tensor dtype: DataType {n}"
                )));
            }
        })
    }

    /// TensorFlow's name (`"DT_FLOAT"`).
    pub fn name(self) -> &'static str {
        match self {
            WireType::Float => "DT_FLOAT",
            WireType::Double => "DT_DOUBLE",
            WireType::Int32 => "DT_INT32",
            WireType::Uint8 => "DT_UINT8",
            WireType::Int8 => "DT_INT8",
            WireType::String => "DT_STRING",
            WireType::Int64 => "DT_INT64",
            WireType::Bool => "DT_BOOL",
            WireType::Bfloat16 => "DT_BFLOAT16",
            WireType::Half => "DT_HALF",
        }
    }

    /// The wire dtype of a tf-core dtype.
    pub fn from_dtype(d: DType) -> WireType {
        match d {
            DType::F32 => WireType::Float,
            DType::F64 => WireType::Double,
            DType::F16 => WireType::Half,
            DType::BF16 => WireType::Bfloat16,
            DType::I8 => WireType::Int8,
            DType::U8 => WireType::Uint8,
            DType::I32 => WireType::Int32,
            DType::I64 => WireType::Int64,
            DType::Bool => WireType::Bool,
        }
    }

    /// The tf-core dtype (`None` for strings, which tf-core has no dtype for).
    pub fn to_dtype(self) -> Option<DType> {
        Some(match self {
            WireType::Float => DType::F32,
            WireType::Double => DType::F64,
            WireType::Half => DType::F16,
            WireType::Bfloat16 => DType::BF16,
            WireType::Int8 => DType::I8,
            WireType::Uint8 => DType::U8,
            WireType::Int32 => DType::I32,
            WireType::Int64 => DType::I64,
            WireType::Bool => DType::Bool,
            WireType::String => return None,
        })
    }

    /// Bytes per element in `tensor_content` (`None` for strings).
    pub fn size(self) -> Option<usize> {
        Some(match self {
            WireType::Float | WireType::Int32 => 4,
            WireType::Double | WireType::Int64 => 8,
            WireType::Half | WireType::Bfloat16 => 2,
            WireType::Int8 | WireType::Uint8 | WireType::Bool => 1,
            WireType::String => return None,
        })
    }
}

/// The elements of a [`HostTensor`], row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `DT_FLOAT`.
    Float(Vec<f32>),
    /// `DT_DOUBLE`.
    Double(Vec<f64>),
    /// `DT_INT32`.
    Int32(Vec<i32>),
    /// `DT_UINT8`.
    Uint8(Vec<u8>),
    /// `DT_INT8`.
    Int8(Vec<i8>),
    /// `DT_STRING` (bytes).
    String(Vec<Vec<u8>>),
    /// `DT_INT64`.
    Int64(Vec<i64>),
    /// `DT_BOOL`.
    Bool(Vec<bool>),
    /// `DT_BFLOAT16`.
    Bfloat16(Vec<bf16>),
    /// `DT_HALF`.
    Half(Vec<f16>),
}

/// Applies `$body` to the vector inside any [`TensorData`] variant.
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::Float($v) => $body,
            TensorData::Double($v) => $body,
            TensorData::Int32($v) => $body,
            TensorData::Uint8($v) => $body,
            TensorData::Int8($v) => $body,
            TensorData::String($v) => $body,
            TensorData::Int64($v) => $body,
            TensorData::Bool($v) => $body,
            TensorData::Bfloat16($v) => $body,
            TensorData::Half($v) => $body,
        }
    };
}

impl TensorData {
    /// The dtype of these elements.
    pub fn wire_type(&self) -> WireType {
        match self {
            TensorData::Float(_) => WireType::Float,
            TensorData::Double(_) => WireType::Double,
            TensorData::Int32(_) => WireType::Int32,
            TensorData::Uint8(_) => WireType::Uint8,
            TensorData::Int8(_) => WireType::Int8,
            TensorData::String(_) => WireType::String,
            TensorData::Int64(_) => WireType::Int64,
            TensorData::Bool(_) => WireType::Bool,
            TensorData::Bfloat16(_) => WireType::Bfloat16,
            TensorData::Half(_) => WireType::Half,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty vector of a dtype with room for `n` elements.
    pub fn with_capacity(t: WireType, n: usize) -> TensorData {
        match t {
            WireType::Float => TensorData::Float(Vec::with_capacity(n)),
            WireType::Double => TensorData::Double(Vec::with_capacity(n)),
            WireType::Int32 => TensorData::Int32(Vec::with_capacity(n)),
            WireType::Uint8 => TensorData::Uint8(Vec::with_capacity(n)),
            WireType::Int8 => TensorData::Int8(Vec::with_capacity(n)),
            WireType::String => TensorData::String(Vec::with_capacity(n)),
            WireType::Int64 => TensorData::Int64(Vec::with_capacity(n)),
            WireType::Bool => TensorData::Bool(Vec::with_capacity(n)),
            WireType::Bfloat16 => TensorData::Bfloat16(Vec::with_capacity(n)),
            WireType::Half => TensorData::Half(Vec::with_capacity(n)),
        }
    }

    /// Appends elements `range` of `other` (same dtype; errors otherwise).
    pub fn extend_from(&mut self, other: &TensorData, range: std::ops::Range<usize>) -> Result<()> {
        macro_rules! ext {
            ($($var:ident),*) => {
                match (self, other) {
                    $((TensorData::$var(a), TensorData::$var(b)) => {
                        let part = b.get(range).ok_or_else(|| ServingError::internal("element range out of bounds"))?;
                        a.extend_from_slice(part);
                        Ok(())
                    })*
                    (a, b) => Err(ServingError::invalid(format!(
                        "dtype mismatch: {} vs {}",
                        a.wire_type().name(),
                        b.wire_type().name()
                    ))),
                }
            };
        }
        ext!(
            Float, Double, Int32, Uint8, Int8, String, Int64, Bool, Bfloat16, Half
        )
    }
}

/// A dense tensor held on the host: a shape and row-major elements.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Elements (their count is the product of `shape`).
    pub data: TensorData,
}

impl HostTensor {
    /// A tensor from a shape and elements; errors when the counts differ.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<HostTensor> {
        let n = checked_count(&shape)?;
        if n != data.len() {
            return Err(ServingError::invalid(format!(
                "tensor shape {:?} needs {n} values, got {}",
                shape,
                data.len()
            )));
        }
        Ok(HostTensor { shape, data })
    }

    /// The dtype.
    pub fn wire_type(&self) -> WireType {
        self.data.wire_type()
    }

    /// A tf-core tensor with the same values (errors for strings).
    pub fn to_tensor(&self) -> Result<Tensor> {
        let shape = self.shape.as_slice();
        let t = match &self.data {
            TensorData::Float(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Double(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Int32(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Uint8(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Int8(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Int64(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Bool(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Bfloat16(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::Half(v) => Tensor::from_vec(v.clone(), shape),
            TensorData::String(_) => {
                return Err(ServingError::invalid(
                    "DT_STRING tensors are not supported by this model's backend",
                ));
            }
        };
        Ok(t?)
    }

    /// The values of a tf-core tensor.
    pub fn from_tensor(t: &Tensor) -> Result<HostTensor> {
        let shape = t.dims().to_vec();
        let data = match t.dtype() {
            DType::F32 => TensorData::Float(t.to_vec()?),
            DType::F64 => TensorData::Double(t.to_vec()?),
            DType::F16 => TensorData::Half(t.to_vec()?),
            DType::BF16 => TensorData::Bfloat16(t.to_vec()?),
            DType::I8 => TensorData::Int8(t.to_vec()?),
            DType::U8 => TensorData::Uint8(t.to_vec()?),
            DType::I32 => TensorData::Int32(t.to_vec()?),
            DType::I64 => TensorData::Int64(t.to_vec()?),
            DType::Bool => TensorData::Bool(t.to_vec()?),
        };
        HostTensor::new(shape, data)
    }

    /// Elements per row (product of all dims after the first; 1 for scalars).
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }
}

/// The element count of a shape, or an error when it overflows.
pub fn checked_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| ServingError::invalid(format!("tensor shape {shape:?} is too large")))
}
