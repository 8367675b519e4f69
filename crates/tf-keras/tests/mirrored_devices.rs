//! `MirroredStrategy::with_devices(&[Device::Cuda(0), Device::Cuda(1)])` on two fake
//! GPUs (a test-only device backend: buffers are host copies; MatMul and _FusedMatMul
//! have "GPU" kernels that compute on the host and count calls per device; every other
//! op falls back to the CPU through soft placement). Checks that each replica's
//! matrix products ran on its own device, in the forward and the backward pass, and
//! that the result is one process's training on the combined batches.
//!
//! The backend registers itself for this test binary only (one test, so no other test
//! runs while it counts).

#![allow(clippy::unwrap_used)]

mod dist_common;

use dist_common::*;
use std::any::Any;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tf_core::device::{DeviceBackend, DeviceKind, PhysicalDevice, register_device_backend};
use tf_core::op::KernelContext;
use tf_core::storage::{DeviceBuffer, HostBuffer};
use tf_core::{DType, DTypeSet, Device, Error, Result, Tensor, with_device};
use tf_distribute::{MirroredStrategy, Strategy};

#[derive(Debug)]
struct FakeBuffer {
    ordinal: usize,
    data: HostBuffer,
}

impl DeviceBuffer for FakeBuffer {
    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }
    fn dtype(&self) -> DType {
        self.data.dtype()
    }
    fn len(&self) -> usize {
        self.data.len()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Two fake GPUs.
struct FakeGpus;

impl DeviceBackend for FakeGpus {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Cuda
    }
    fn physical_devices(&self) -> Vec<PhysicalDevice> {
        (0..2)
            .map(|i| PhysicalDevice {
                name: format!("/physical_device:GPU:{i}"),
                device_type: "GPU".into(),
                device: Device::Cuda(i),
                description: "fake".into(),
            })
            .collect()
    }
    fn upload(&self, ordinal: usize, data: &HostBuffer) -> Result<Arc<dyn DeviceBuffer>> {
        Ok(Arc::new(FakeBuffer {
            ordinal,
            data: data.clone(),
        }))
    }
    fn download(&self, buffer: &dyn DeviceBuffer) -> Result<HostBuffer> {
        let b = buffer
            .as_any()
            .downcast_ref::<FakeBuffer>()
            .ok_or_else(|| Error::precondition("FakeGpus", "foreign buffer"))?;
        Ok(b.data.clone())
    }
}

/// Matrix products run on fake GPU 0 and 1.
static PRODUCTS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// A "GPU" kernel: the CPU kernel on host copies, the results moved to the device.
fn fake_gpu_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    match ctx.device {
        Device::Cuda(i) if i < 2 => {
            PRODUCTS[i].fetch_add(1, Ordering::SeqCst);
        }
        other => panic!("fake kernel called for {other}"),
    }
    assert!(ctx.inputs.iter().all(|t| t.device() == ctx.device));
    let host: Vec<Tensor> = ctx
        .inputs
        .iter()
        .map(Tensor::to_host)
        .collect::<Result<_>>()?;
    let outs = with_device(Device::Cpu, || tf_core::op::call(ctx.op, &host, ctx.attrs))?;
    outs.iter().map(|t| t.to(ctx.device)).collect()
}

fn products() -> [usize; 2] {
    [
        PRODUCTS[0].load(Ordering::SeqCst),
        PRODUCTS[1].load(Ordering::SeqCst),
    ]
}

#[test]
fn each_replica_runs_on_its_device_and_training_matches_one_process() {
    register_device_backend(Arc::new(FakeGpus));
    let f32s = DTypeSet::of(&[DType::F32]);
    tf_core::ops::MATMUL.register_kernel(DeviceKind::Cuda, f32s, fake_gpu_kernel);
    tf_core::ops::FUSED_MATMUL.register_kernel(DeviceKind::Cuda, f32s, fake_gpu_kernel);
    assert_eq!(tf_core::list_physical_devices(Some("GPU")).len(), 2);
    // As TensorFlow's `MirroredStrategy()`: every visible GPU.
    assert_eq!(
        MirroredStrategy::new().unwrap().devices(),
        [Device::Cuda(0), Device::Cuda(1)]
    );

    for run_eagerly in [false, true] {
        let strategy: Rc<dyn Strategy> =
            Rc::new(MirroredStrategy::with_devices(&[Device::Cuda(0), Device::Cuda(1)]).unwrap());
        let mut m = mlp(100);
        m.set_run_eagerly(run_eagerly).unwrap();
        let init = m.get_weights().unwrap();
        let (x, y) = digits();
        let before = products();
        m.fit(&x, &y, options().strategy(strategy)).unwrap();
        assert_eq!(m.is_traced(), !run_eagerly);
        let after = products();
        let ran = [after[0] - before[0], after[1] - before[1]];
        // 2 epochs x 4 steps; per replica and step at least the 3 forward products and
        // the backward ones (5: no input gradient for the first layer).
        let steps = EPOCHS * N / GLOBAL_BATCH;
        eprintln!("eager {run_eagerly}: matrix products on GPU 0 / 1: {ran:?} in {steps} steps");
        assert!(ran[0] >= steps * 8 && ran[1] >= steps * 8, "{ran:?}");
        assert_eq!(ran[0], ran[1], "the replicas ran different programs");
        // The weights stayed on the host (one copy; the replicas read them through
        // copies, their gradients were summed there), and the result is one process's.
        for v in m.trainable_weights().unwrap() {
            assert_eq!(v.value().device(), Device::Cpu, "{}", v.name());
        }
        let (want, _) = reference(&init);
        let d = max_diff(&m.get_weights().unwrap(), &want);
        eprintln!("eager {run_eagerly}: max |diff| vs one process {d:.2e}");
        assert!(d < 1e-5, "max |diff| {d}");
    }
}
