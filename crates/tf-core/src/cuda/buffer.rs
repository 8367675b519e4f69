//! [`CudaBuffer`]: tensor elements in GPU memory, and the host↔device copies.

use super::runtime::{Gpu, cuda_err, gpu};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::{DeviceBuffer, HostBuffer, Storage};
use crate::tensor::Tensor;
use cudarc::driver::{CudaSlice, DevicePtr};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A contiguous run of elements of one dtype in the memory of one GPU (bool as one
/// byte, 0 or 1, as on the host).
pub struct CudaBuffer {
    gpu: Arc<Gpu>,
    dtype: DType,
    len: usize,
    data: CudaSlice<u8>,
}

impl fmt::Debug for CudaBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CudaBuffer({}, {} elements, GPU:{})",
            self.dtype, self.len, self.gpu.ordinal
        )
    }
}

impl CudaBuffer {
    /// Uninitialized memory for `len` elements of `dtype` (kernels overwrite all of it).
    pub(crate) fn alloc(gpu: &Arc<Gpu>, dtype: DType, len: usize) -> Result<CudaBuffer> {
        let bytes = len
            .checked_mul(dtype.size_of())
            .ok_or_else(|| Error::exhausted("CUDA alloc", format!("{len} x {dtype} overflows")))?;
        // SAFETY: the memory is written by a kernel or copy before it is read; zero-size
        // buffers get one byte that nobody reads.
        let data = unsafe { gpu.stream.alloc::<u8>(bytes.max(1)) }.map_err(|e| {
            Error::exhausted(
                "CUDA alloc",
                format!("{bytes} bytes on /device:GPU:{}: {e:?}", gpu.ordinal),
            )
        })?;
        Ok(CudaBuffer {
            gpu: gpu.clone(),
            dtype,
            len,
            data,
        })
    }

    /// Zero-filled memory (`false` for bool).
    pub(crate) fn zeros(gpu: &Arc<Gpu>, dtype: DType, len: usize) -> Result<CudaBuffer> {
        let mut b = Self::alloc(gpu, dtype, len)?;
        gpu.stream
            .memset_zeros(&mut b.data)
            .map_err(|e| cuda_err("CUDA memset", e))?;
        Ok(b)
    }

    /// Copies a host buffer to `gpu`.
    pub(crate) fn upload(gpu: &Arc<Gpu>, host: &HostBuffer) -> Result<CudaBuffer> {
        let bytes = host.as_bytes();
        let mut b = Self::alloc(gpu, host.dtype(), host.len())?;
        if !bytes.is_empty() {
            let mut view = b.data.slice_mut(0..bytes.len());
            gpu.stream
                .memcpy_htod(bytes, &mut view)
                .map_err(|e| cuda_err("Tensor::to", e))?;
        }
        Ok(b)
    }

    /// Copies the elements back to the host (waits for pending kernels).
    pub(crate) fn download(&self) -> Result<HostBuffer> {
        let n = self.len * self.dtype.size_of();
        let mut bytes = vec![0u8; n];
        if n > 0 {
            let view = self.data.slice(0..n);
            self.gpu
                .stream
                .memcpy_dtoh(&view, bytes.as_mut_slice())
                .map_err(|e| cuda_err("Tensor::to_host", e))?;
        }
        self.gpu
            .stream
            .synchronize()
            .map_err(|e| cuda_err("Tensor::to_host", e))?;
        HostBuffer::from_bytes(self.dtype, &bytes).ok_or_else(|| {
            Error::precondition(
                "Tensor::to_host",
                format!("device returned invalid {} bytes", self.dtype),
            )
        })
    }

    /// The raw device address of element 0 (for kernel arguments). Everything runs on
    /// the GPU's one stream, so no cross-stream synchronization is needed.
    pub(crate) fn ptr(&self) -> u64 {
        let (p, _sync) = self.data.device_ptr(&self.gpu.stream);
        p
    }

    /// Wraps the buffer as a contiguous tensor of `shape`.
    pub(crate) fn into_tensor(self, shape: impl Into<crate::Shape>) -> Result<Tensor> {
        Tensor::from_device_buffer(Arc::new(self), shape)
    }
}

impl DeviceBuffer for CudaBuffer {
    fn device(&self) -> Device {
        Device::Cuda(self.gpu.ordinal)
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn len(&self) -> usize {
        self.len
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The CUDA buffer under a device tensor, or an error naming `op`.
pub(crate) fn cuda_storage(op: &'static str, t: &Tensor) -> Result<Arc<dyn DeviceBuffer>> {
    match t.storage() {
        Some(Storage::Device(d)) if d.as_any().is::<CudaBuffer>() => Ok(d),
        _ => Err(Error::precondition(
            op,
            format!(
                "input {} on {} is not in CUDA memory",
                t.shape(),
                t.device()
            ),
        )),
    }
}

/// Downcasts a device buffer known to be a [`CudaBuffer`].
pub(crate) fn as_cuda<'a>(
    op: &'static str,
    d: &'a Arc<dyn DeviceBuffer>,
) -> Result<&'a CudaBuffer> {
    d.as_any()
        .downcast_ref::<CudaBuffer>()
        .ok_or_else(|| Error::precondition(op, "buffer does not belong to the CUDA backend"))
}

/// The GPU a kernel runs on.
pub(crate) fn gpu_of(op: &'static str, device: Device) -> Result<&'static Arc<Gpu>> {
    match device {
        Device::Cuda(n) => gpu(op, n),
        Device::Cpu => Err(Error::precondition(op, "CUDA kernel called for the CPU")),
    }
}
