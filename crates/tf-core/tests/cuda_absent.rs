//! Without a CUDA driver (or without the `cuda` feature), `Device::Cuda(0)` is not
//! listed, moving a tensor there is a clear error, and ops scoped to it fall back to the
//! CPU with a placement-log line. On a machine with a GPU the test says it skipped.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use tf_core::{Device, Tensor, list_physical_devices, ops, with_device};

fn gpu_present() -> bool {
    #[cfg(feature = "cuda")]
    {
        tf_core::cuda::is_available()
    }
    #[cfg(not(feature = "cuda"))]
    {
        false
    }
}

#[test]
fn cuda_device_absent_falls_back_to_cpu() {
    if gpu_present() {
        println!("SKIPPED: a CUDA GPU is present; this test covers machines without one");
        return;
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    #[derive(Clone)]
    struct W(Arc<Mutex<Vec<u8>>>);
    impl Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let w = W(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || w.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    assert!(list_physical_devices(Some("GPU")).is_empty());
    assert_eq!(list_physical_devices(None).len(), 1);

    let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, -4.0], [2, 2]).unwrap();
    let e = x.to(Device::Cuda(0)).unwrap_err().to_string();
    assert!(e.contains("GPU:0") || e.contains("GPU present"), "{e}");

    let y = with_device(Device::Cuda(0), || ops::relu(&ops::add(&x, &x)?)).unwrap();
    assert_eq!(y.device(), Device::Cpu);
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 0.0, 6.0, 0.0]);
    let m = with_device(Device::Cuda(0), || ops::matmul(&x, &x)).unwrap();
    assert_eq!(m.to_vec::<f32>().unwrap(), vec![-5.0, 6.0, -9.0, 10.0]);

    // A variable made in the GPU scope stays on the CPU (soft placement).
    let v = with_device(Device::Cuda(0), || tf_core::Variable::new(x.clone())).unwrap();
    assert_eq!(v.read().unwrap().device(), Device::Cpu);

    let log = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    assert!(log.contains("falling back to CPU"), "{log}");
    assert!(log.contains("AddV2"), "{log}");
}
