//! Tensor storage: typed host buffers and opaque device buffers.
//!
//! A tensor holds an `Arc` to its storage plus its own shape, strides and offset, so
//! views (reshape, transpose, slice, broadcast) share one buffer.
//!
//! Large host buffers are recycled through [`pool`]: when the last tensor using one is
//! dropped, it goes back to a bounded pool and the next allocation of the same size
//! reuses it, sparing the page faults of fresh memory (what TensorFlow's own allocator
//! does for its training loops).

pub mod pool;

use crate::device::Device;
use crate::dtype::{DType, Element};
use half::{bf16, f16};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A contiguous, typed buffer in host memory.
#[derive(Clone, PartialEq)]
#[allow(missing_docs)]
pub enum HostBuffer {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

/// Runs `$body` with `$v` bound to the typed vector inside a `HostBuffer` (by reference).
#[macro_export]
#[doc(hidden)]
macro_rules! match_host_buffer {
    ($buf:expr, $v:ident => $body:expr) => {
        match $buf {
            $crate::storage::HostBuffer::F32($v) => $body,
            $crate::storage::HostBuffer::F64($v) => $body,
            $crate::storage::HostBuffer::F16($v) => $body,
            $crate::storage::HostBuffer::BF16($v) => $body,
            $crate::storage::HostBuffer::I8($v) => $body,
            $crate::storage::HostBuffer::U8($v) => $body,
            $crate::storage::HostBuffer::I32($v) => $body,
            $crate::storage::HostBuffer::I64($v) => $body,
            $crate::storage::HostBuffer::Bool($v) => $body,
        }
    };
}

impl HostBuffer {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            HostBuffer::F32(_) => DType::F32,
            HostBuffer::F64(_) => DType::F64,
            HostBuffer::F16(_) => DType::F16,
            HostBuffer::BF16(_) => DType::BF16,
            HostBuffer::I8(_) => DType::I8,
            HostBuffer::U8(_) => DType::U8,
            HostBuffer::I32(_) => DType::I32,
            HostBuffer::I64(_) => DType::I64,
            HostBuffer::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match_host_buffer!(self, v => v.len())
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zero-filled buffer (`false` for bool).
    pub fn zeros(dtype: DType, len: usize) -> HostBuffer {
        crate::with_dtype!(dtype, T => T::into_buffer(vec![<T as Element>::ZERO; len]))
    }

    /// The raw little-endian bytes of the buffer (bool as one byte, 0 or 1).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HostBuffer::Bool(v) => bytemuck::cast_slice(v.as_slice()),
            HostBuffer::F32(v) => bytemuck::cast_slice(v),
            HostBuffer::F64(v) => bytemuck::cast_slice(v),
            HostBuffer::F16(v) => bytemuck::cast_slice(v),
            HostBuffer::BF16(v) => bytemuck::cast_slice(v),
            HostBuffer::I8(v) => bytemuck::cast_slice(v),
            HostBuffer::U8(v) => v,
            HostBuffer::I32(v) => bytemuck::cast_slice(v),
            HostBuffer::I64(v) => bytemuck::cast_slice(v),
        }
    }

    /// A buffer of `dtype` from raw little-endian bytes (bool bytes must be 0 or 1).
    ///
    /// Returns `None` when the byte count is not a multiple of the element size or a
    /// bool byte is not 0/1.
    pub fn from_bytes(dtype: DType, bytes: &[u8]) -> Option<HostBuffer> {
        if !bytes.len().is_multiple_of(dtype.size_of()) {
            return None;
        }
        fn typed<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
            bytes
                .chunks_exact(std::mem::size_of::<T>())
                .map(bytemuck::pod_read_unaligned)
                .collect()
        }
        Some(match dtype {
            DType::F32 => HostBuffer::F32(typed(bytes)),
            DType::F64 => HostBuffer::F64(typed(bytes)),
            DType::F16 => HostBuffer::F16(typed(bytes)),
            DType::BF16 => HostBuffer::BF16(typed(bytes)),
            DType::I8 => HostBuffer::I8(typed(bytes)),
            DType::U8 => HostBuffer::U8(bytes.to_vec()),
            DType::I32 => HostBuffer::I32(typed(bytes)),
            DType::I64 => HostBuffer::I64(typed(bytes)),
            DType::Bool => {
                if bytes.iter().any(|&b| b > 1) {
                    return None;
                }
                HostBuffer::Bool(bytes.iter().map(|&b| b == 1).collect())
            }
        })
    }
}

impl Drop for HostBuffer {
    fn drop(&mut self) {
        if self.byte_capacity() >= pool::MIN_POOLED_BYTES {
            let taken = std::mem::replace(self, HostBuffer::U8(Vec::new()));
            pool::recycle(taken);
        }
    }
}

impl HostBuffer {
    /// Capacity of the underlying vector in bytes.
    pub(crate) fn byte_capacity(&self) -> usize {
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        match_host_buffer!(self, v => bytes(v))
    }

    /// Drops the vector inside without recycling it.
    pub(crate) fn free(self) {
        let mut me = std::mem::ManuallyDrop::new(self);
        match_host_buffer!(&mut *me, v => drop(std::mem::take(v)));
    }
}

impl fmt::Debug for HostBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostBuffer({}, {} elements)", self.dtype(), self.len())
    }
}

/// Memory owned by a non-CPU device backend (see [`crate::device::DeviceBackend`]).
///
/// tf-core never looks inside: backends downcast through [`DeviceBuffer::as_any`].
pub trait DeviceBuffer: Send + Sync + fmt::Debug + 'static {
    /// The device holding the memory.
    fn device(&self) -> Device;
    /// The element type.
    fn dtype(&self) -> DType;
    /// Number of elements.
    fn len(&self) -> usize;
    /// Whether it holds no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// For the owning backend to downcast to its concrete type.
    fn as_any(&self) -> &dyn Any;
}

/// Where a concrete tensor's elements live.
#[derive(Clone, Debug)]
pub enum Storage {
    /// Host (CPU) memory.
    Host(Arc<HostBuffer>),
    /// Memory of another device.
    Device(Arc<dyn DeviceBuffer>),
}

impl Storage {
    /// The device the storage is on.
    pub fn device(&self) -> Device {
        match self {
            Storage::Host(_) => Device::Cpu,
            Storage::Device(d) => d.device(),
        }
    }

    /// Number of elements in the whole buffer.
    pub fn len(&self) -> usize {
        match self {
            Storage::Host(h) => h.len(),
            Storage::Device(d) => d.len(),
        }
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let b = HostBuffer::F32(vec![1.0, -2.5]);
        assert_eq!(b.as_bytes().len(), 8);
        assert_eq!(HostBuffer::from_bytes(DType::F32, b.as_bytes()), Some(b));
        assert_eq!(HostBuffer::from_bytes(DType::F32, &[0, 0, 0]), None);
        assert_eq!(
            HostBuffer::from_bytes(DType::Bool, &[0, 1]),
            Some(HostBuffer::Bool(vec![false, true]))
        );
        assert_eq!(HostBuffer::from_bytes(DType::Bool, &[2]), None);
        assert_eq!(
            HostBuffer::zeros(DType::I64, 3),
            HostBuffer::I64(vec![0; 3])
        );
    }
}
