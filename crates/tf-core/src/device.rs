//! Devices: [`Device`], device scopes ([`with_device`]), pluggable [`DeviceBackend`]s for
//! non-CPU devices, [`list_physical_devices`] and placement logging.
//!
//! The CPU is built in. A backend for CUDA devices is registered by the `cuda` feature
//! (or by a test's fake device); until one is, only the CPU is listed and tensors cannot
//! be moved elsewhere.

use crate::error::{Error, Result};
use crate::storage::{DeviceBuffer, HostBuffer};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A device where tensors live and ops run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Device {
    /// The host CPU (all cores, one logical device, like TensorFlow's `/device:CPU:0`).
    #[default]
    Cpu,
    /// The CUDA GPU with this ordinal (TensorFlow's `/device:GPU:n`).
    Cuda(usize),
}

/// The kind of a device, the key of per-device kernel tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Host CPU.
    Cpu,
    /// CUDA GPU.
    Cuda,
}

impl Device {
    /// The device's kind.
    pub fn kind(self) -> DeviceKind {
        match self {
            Device::Cpu => DeviceKind::Cpu,
            Device::Cuda(_) => DeviceKind::Cuda,
        }
    }

    /// TensorFlow's name for it: `/device:CPU:0`, `/device:GPU:1`.
    pub fn name(self) -> String {
        match self {
            Device::Cpu => "/device:CPU:0".to_string(),
            Device::Cuda(n) => format!("/device:GPU:{n}"),
        }
    }

    /// Parses `"/device:CPU:0"`, `"/job:localhost/replica:0/task:0/device:GPU:1"`,
    /// `"CPU:0"`, `"GPU:1"`, `"cpu"`, `"gpu"`, `"cuda:1"` (case-insensitive).
    pub fn parse(spec: &str) -> Result<Device> {
        let bad = || {
            Error::invalid(
                "Device::parse",
                format!(
                    "cannot parse device specification '{spec}' (expected e.g. '/device:GPU:0' or 'cpu')"
                ),
            )
        };
        let last = spec.rsplit('/').next().unwrap_or(spec);
        let last = last
            .strip_prefix("device:")
            .unwrap_or(last)
            .to_ascii_lowercase();
        let (kind, index) = match last.split_once(':') {
            Some((k, i)) => (k.to_string(), Some(i.parse::<usize>().map_err(|_| bad())?)),
            None => (last.clone(), None),
        };
        match kind.as_str() {
            "cpu" if index.unwrap_or(0) == 0 => Ok(Device::Cpu),
            "gpu" | "cuda" => Ok(Device::Cuda(index.unwrap_or(0))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A device the runtime can use, as `tf.config.list_physical_devices` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhysicalDevice {
    /// `/physical_device:CPU:0`, `/physical_device:GPU:0`, ...
    pub name: String,
    /// `"CPU"` or `"GPU"`.
    pub device_type: String,
    /// The device to place tensors on.
    pub device: Device,
    /// Free-form description (model name, memory).
    pub description: String,
}

/// The runtime side of a non-CPU device kind: memory and copies. Kernels are registered
/// separately per op (see `OpDef::register_kernel`).
pub trait DeviceBackend: Send + Sync {
    /// Which kind of device this backend drives.
    fn kind(&self) -> DeviceKind;
    /// The devices present (empty when none answers).
    fn physical_devices(&self) -> Vec<PhysicalDevice>;
    /// Copies a host buffer to device `ordinal`.
    fn upload(&self, ordinal: usize, data: &HostBuffer) -> Result<Arc<dyn DeviceBuffer>>;
    /// Copies a device buffer back to the host.
    fn download(&self, buffer: &dyn DeviceBuffer) -> Result<HostBuffer>;
}

static BACKENDS: RwLock<Vec<Arc<dyn DeviceBackend>>> = RwLock::new(Vec::new());
static LOG_PLACEMENT: AtomicBool = AtomicBool::new(false);

/// Installs the backend for a device kind, replacing any earlier one of the same kind.
pub fn register_device_backend(backend: Arc<dyn DeviceBackend>) {
    let mut list = BACKENDS.write().unwrap_or_else(|e| e.into_inner());
    list.retain(|b| b.kind() != backend.kind());
    list.push(backend);
}

/// The backend for `kind`, if one is registered.
pub fn device_backend(kind: DeviceKind) -> Option<Arc<dyn DeviceBackend>> {
    let list = BACKENDS.read().unwrap_or_else(|e| e.into_inner());
    list.iter().find(|b| b.kind() == kind).cloned()
}

/// The backend for `device`, or an error naming the device when none is registered or
/// the ordinal does not exist.
pub(crate) fn backend_for(op: &'static str, device: Device) -> Result<Arc<dyn DeviceBackend>> {
    ensure_backend(device.kind());
    let backend = device_backend(device.kind()).ok_or_else(|| {
        Error::precondition(
            op,
            format!("no backend for device {device} (is the `cuda` feature on and a GPU present?)"),
        )
    })?;
    if !backend
        .physical_devices()
        .iter()
        .any(|p| p.device == device)
    {
        return Err(Error::NotFound {
            what: "device",
            name: device.name(),
        });
    }
    Ok(backend)
}

/// Registers the built-in backend of `kind` on first use (the CUDA one with the `cuda`
/// feature, when a GPU answers). A no-op for the CPU and without the feature.
#[inline]
pub(crate) fn ensure_backend(kind: DeviceKind) {
    #[cfg(feature = "cuda")]
    if kind == DeviceKind::Cuda {
        crate::cuda::ensure_initialized();
    }
    #[cfg(not(feature = "cuda"))]
    let _ = kind;
}

/// The devices present, like `tf.config.list_physical_devices(device_type)`.
/// `device_type` is `"CPU"` or `"GPU"` (case-insensitive); `None` lists all.
pub fn list_physical_devices(device_type: Option<&str>) -> Vec<PhysicalDevice> {
    ensure_backend(DeviceKind::Cuda);
    let mut out = vec![PhysicalDevice {
        name: "/physical_device:CPU:0".to_string(),
        device_type: "CPU".to_string(),
        device: Device::Cpu,
        description: format!("host CPU, {} threads", rayon::current_num_threads()),
    }];
    let backends: Vec<_> = BACKENDS.read().unwrap_or_else(|e| e.into_inner()).clone();
    for b in backends {
        out.extend(b.physical_devices());
    }
    match device_type {
        Some(t) => out
            .into_iter()
            .filter(|d| d.device_type.eq_ignore_ascii_case(t))
            .collect(),
        None => out,
    }
}

/// Turns logging of every op's placement on or off (`tf.debugging.set_log_device_placement`).
/// Entries go to `tracing` at INFO under the target `tf_core::placement`; soft-placement
/// events (input copies, CPU fallbacks) are always logged there at DEBUG.
pub fn set_log_device_placement(on: bool) {
    LOG_PLACEMENT.store(on, Ordering::Relaxed);
}

/// Whether placement logging is on.
pub fn log_device_placement() -> bool {
    LOG_PLACEMENT.load(Ordering::Relaxed)
}

/// Runs `f` with `device` as the default device for new tensors and ops on this thread
/// (`with tf.device(...)`). Scopes nest; the previous device is restored afterwards,
/// also when `f` panics.
pub fn with_device<R>(device: Device, f: impl FnOnce() -> R) -> R {
    let _guard = crate::context::DeviceScope::enter(device);
    f()
}

/// The device set by the innermost [`with_device`] scope on this thread, if any.
pub fn current_device() -> Option<Device> {
    crate::context::scoped_device()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(Device::Cpu.name(), "/device:CPU:0");
        assert_eq!(Device::Cuda(1).to_string(), "/device:GPU:1");
        for (s, d) in [
            ("/device:CPU:0", Device::Cpu),
            (
                "/job:localhost/replica:0/task:0/device:GPU:1",
                Device::Cuda(1),
            ),
            ("GPU:2", Device::Cuda(2)),
            ("cpu", Device::Cpu),
            ("cuda:0", Device::Cuda(0)),
        ] {
            assert_eq!(Device::parse(s).unwrap(), d, "{s}");
        }
        let e = Device::parse("tpu:0").unwrap_err().to_string();
        assert!(e.contains("tpu:0"), "{e}");
        assert!(Device::parse("gpu:x").is_err());
        assert!(Device::parse("cpu:1").is_err());
    }

    #[test]
    fn cpu_is_always_listed() {
        let cpus = list_physical_devices(Some("cpu"));
        assert_eq!(cpus.len(), 1);
        assert_eq!(cpus[0].name, "/physical_device:CPU:0");
        assert_eq!(cpus[0].device, Device::Cpu);
    }

    #[test]
    fn scopes_nest_and_restore() {
        assert_eq!(current_device(), None);
        with_device(Device::Cuda(3), || {
            assert_eq!(current_device(), Some(Device::Cuda(3)));
            with_device(Device::Cpu, || {
                assert_eq!(current_device(), Some(Device::Cpu))
            });
            assert_eq!(current_device(), Some(Device::Cuda(3)));
        });
        assert_eq!(current_device(), None);
        let r = std::panic::catch_unwind(|| with_device(Device::Cuda(0), || panic!("boom")));
        assert!(r.is_err());
        assert_eq!(current_device(), None);
    }
}
