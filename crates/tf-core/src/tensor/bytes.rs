//! Raw little-endian bytes of a tensor's elements, for serialization formats that store
//! dtype and shape separately (safetensors, TFRecord features, flatbuffers).

use super::{Tensor, check_shape};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::storage::HostBuffer;

impl Tensor {
    /// The elements in row-major order as little-endian bytes (bool as one byte 0/1),
    /// copied from any layout or device.
    ///
    /// Errors for symbolic tensors.
    pub fn to_le_bytes(&self) -> Result<Vec<u8>> {
        let host = self.to_host()?;
        Ok(host.host_buffer_copy()?.as_bytes().to_vec())
    }

    /// A host tensor of `dtype` and `shape` from little-endian element bytes.
    ///
    /// Errors (naming `what`) when the byte count does not match the shape, or a bool
    /// byte is not 0 or 1.
    pub fn from_le_bytes(
        what: &'static str,
        dtype: DType,
        shape: impl Into<Shape>,
        bytes: &[u8],
    ) -> Result<Tensor> {
        let shape = shape.into();
        check_shape(what, &shape)?;
        let expected = shape
            .checked_num_elements()
            .and_then(|n| n.checked_mul(dtype.size_of()));
        if expected != Some(bytes.len()) {
            return Err(Error::invalid(
                what,
                format!(
                    "{} bytes do not hold a {dtype}{shape} tensor ({} bytes expected)",
                    bytes.len(),
                    expected.map_or("too many".to_string(), |e| e.to_string())
                ),
            ));
        }
        let buf = HostBuffer::from_bytes(dtype, bytes)
            .ok_or_else(|| Error::invalid(what, format!("invalid {dtype} element bytes")))?;
        Ok(Tensor::from_host_buffer(buf, shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype_and_layout() -> Result<()> {
        let x = Tensor::from_vec((0..6).map(|v| v as f32 * 0.5).collect(), [2, 3])?;
        let t = x.transpose(None)?;
        for d in DType::ALL {
            let c = crate::ops::cast(&t, d)?;
            let bytes = c.to_le_bytes()?;
            assert_eq!(bytes.len(), 6 * d.size_of());
            let back = Tensor::from_le_bytes("test", d, [3, 2], &bytes)?;
            assert_eq!(back.to_le_bytes()?, bytes);
            assert_eq!(
                crate::ops::cast(&back, DType::F64)?.to_vec::<f64>()?,
                crate::ops::cast(&c, DType::F64)?.to_vec::<f64>()?
            );
        }
        Ok(())
    }

    #[test]
    fn wrong_length_and_bad_bool_are_errors() {
        let e = Tensor::from_le_bytes("load", DType::F32, [2], &[0u8; 7]).unwrap_err();
        assert!(e.to_string().contains("load"), "{e}");
        assert!(Tensor::from_le_bytes("load", DType::Bool, [1], &[2]).is_err());
        assert!(Tensor::from_le_bytes("load", DType::F32, [usize::MAX, 2], &[]).is_err());
    }
}
