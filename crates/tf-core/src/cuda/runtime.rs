//! Discovery and per-device state: one context, one stream, one cuBLAS handle and one
//! cuRAND generator per GPU, made once per process.

use crate::device::{DeviceBackend, DeviceKind, PhysicalDevice, register_device_backend};
use crate::error::{Error, Result};
use crate::storage::{DeviceBuffer, HostBuffer};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One GPU's state.
pub(crate) struct Gpu {
    pub(crate) ordinal: usize,
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) name: String,
    pub(crate) total_mem: usize,
    pub(crate) compute_capability: (i32, i32),
    /// cuBLAS handle, made on first use (cuBLAS may be absent while the driver is not).
    pub(crate) blas: OnceLock<std::result::Result<Mutex<CudaBlas>, String>>,
    /// cuRAND generator, made on first use.
    pub(crate) rng: OnceLock<std::result::Result<Mutex<super::ops::random::Generator>, String>>,
    /// The NVRTC-compiled kernels, compiled and loaded on first use.
    pub(crate) kernels: OnceLock<std::result::Result<super::nvrtc::Kernels, String>>,
}

static GPUS: OnceLock<Vec<Arc<Gpu>>> = OnceLock::new();
static TF32: AtomicBool = AtomicBool::new(false);

/// Turns a cudarc (or any displayable) error into a tf-core error naming `op`.
pub(crate) fn cuda_err(op: &'static str, e: impl std::fmt::Debug) -> Error {
    Error::precondition(op, format!("CUDA error: {e:?}"))
}

/// Finds the GPUs once: probes libcuda before touching it (cudarc panics when the
/// library is missing), turns every failure into "no GPU".
fn discover() -> Vec<Arc<Gpu>> {
    // SAFETY: only tries to dlopen the driver library by its usual names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        tracing::debug!(target: "tf_core::placement", "CUDA driver library not found: no GPU listed");
        return Vec::new();
    }
    // cudarc panics when a symbol is missing from an old driver: contain it.
    let found = std::panic::catch_unwind(|| -> std::result::Result<Vec<Arc<Gpu>>, String> {
        cudarc::driver::result::init().map_err(|e| format!("cuInit: {e:?}"))?;
        let n = CudaContext::device_count().map_err(|e| format!("device count: {e:?}"))?;
        let mut gpus = Vec::new();
        for ordinal in 0..n.max(0) as usize {
            let ctx = CudaContext::new(ordinal).map_err(|e| format!("context {ordinal}: {e:?}"))?;
            let stream = ctx.default_stream();
            gpus.push(Arc::new(Gpu {
                ordinal,
                name: ctx.name().unwrap_or_else(|_| "CUDA GPU".to_string()),
                total_mem: ctx.total_mem().unwrap_or(0),
                compute_capability: ctx.compute_capability().unwrap_or((0, 0)),
                ctx,
                stream,
                blas: OnceLock::new(),
                rng: OnceLock::new(),
                kernels: OnceLock::new(),
            }));
        }
        Ok(gpus)
    });
    match found {
        Ok(Ok(gpus)) => gpus,
        Ok(Err(e)) => {
            tracing::debug!(target: "tf_core::placement", error = %e, "CUDA driver present but no usable GPU");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!(target: "tf_core::placement", "CUDA initialization panicked: no GPU listed");
            Vec::new()
        }
    }
}

fn gpus() -> &'static [Arc<Gpu>] {
    GPUS.get_or_init(discover)
}

/// The GPU with `ordinal`, or an error naming the device.
pub(crate) fn gpu(op: &'static str, ordinal: usize) -> Result<&'static Arc<Gpu>> {
    gpus().get(ordinal).ok_or_else(|| {
        Error::precondition(
            op,
            format!(
                "no CUDA device /device:GPU:{ordinal} ({} present)",
                gpus().len()
            ),
        )
    })
}

/// Registers the CUDA backend and kernels once, if a GPU answers and no other CUDA
/// backend (e.g. a test's fake device) was registered first. Cheap after the first call.
pub(crate) fn ensure_initialized() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if crate::device::device_backend(DeviceKind::Cuda).is_some() || gpus().is_empty() {
            return;
        }
        register_device_backend(Arc::new(CudaBackend));
        super::ops::register_kernels();
    });
}

/// Finds the GPUs and registers the CUDA backend and kernels now (otherwise done on
/// first use). Returns the number of GPUs found (0 without a driver or device).
pub fn init() -> usize {
    ensure_initialized();
    gpus().len()
}

/// Whether at least one CUDA device answers.
pub fn is_available() -> bool {
    !gpus().is_empty()
}

/// Number of CUDA devices found (0 without a driver).
pub fn device_count() -> usize {
    gpus().len()
}

/// Allows TF32 tensor-core math for float32 matmuls (TensorFlow's
/// `tf.config.experimental.enable_tensor_float_32_execution`). Off by default, so float32
/// matmuls are exact to float32 rounding like on the CPU.
pub fn set_tf32_allowed(on: bool) {
    TF32.store(on, Ordering::Relaxed);
}

/// Whether TF32 is allowed for float32 matmuls.
pub fn tf32_allowed() -> bool {
    TF32.load(Ordering::Relaxed)
}

/// Waits until all work queued on GPU `ordinal` has finished (for timing).
pub fn synchronize(ordinal: usize) -> Result<()> {
    let g = gpu("cuda::synchronize", ordinal)?;
    g.stream
        .synchronize()
        .map_err(|e| cuda_err("cuda::synchronize", e))
}

/// The `DeviceBackend` of CUDA GPUs.
struct CudaBackend;

impl DeviceBackend for CudaBackend {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Cuda
    }

    fn physical_devices(&self) -> Vec<PhysicalDevice> {
        gpus()
            .iter()
            .map(|g| PhysicalDevice {
                name: format!("/physical_device:GPU:{}", g.ordinal),
                device_type: "GPU".to_string(),
                device: crate::Device::Cuda(g.ordinal),
                description: format!(
                    "{}, compute capability {}.{}, {} MiB",
                    g.name,
                    g.compute_capability.0,
                    g.compute_capability.1,
                    g.total_mem >> 20
                ),
            })
            .collect()
    }

    fn upload(&self, ordinal: usize, data: &HostBuffer) -> Result<Arc<dyn DeviceBuffer>> {
        let g = gpu("Tensor::to", ordinal)?;
        Ok(Arc::new(super::buffer::CudaBuffer::upload(g, data)?))
    }

    fn download(&self, buffer: &dyn DeviceBuffer) -> Result<HostBuffer> {
        let b = buffer
            .as_any()
            .downcast_ref::<super::buffer::CudaBuffer>()
            .ok_or_else(|| {
                Error::precondition(
                    "Tensor::to_host",
                    "buffer does not belong to the CUDA backend",
                )
            })?;
        b.download()
    }
}
