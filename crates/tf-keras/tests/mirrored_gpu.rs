//! `MirroredStrategy` with a real GPU (feature `cuda`): one replica on GPU 0 and one on
//! the CPU (`["/gpu:0", "/cpu:0"]`, as TensorFlow allows), and GPU 0 alone, train the
//! digits MLP to the weights of one process on the combined batches (CPU), traced and
//! eager. Says SKIPPED when no GPU answers (run on a GPU by
//! crates/tf-core/scripts/gpu_check.sh).

#![cfg(feature = "cuda")]
#![allow(clippy::unwrap_used)]

mod dist_common;

use dist_common::*;
use std::rc::Rc;
use tf_core::Device;
use tf_distribute::{MirroredStrategy, Strategy};

#[test]
fn gpu_and_cpu_replicas_match_one_process() {
    if tf_core::cuda::init() == 0 {
        println!("SKIPPED: no CUDA device answers (no driver or no GPU)");
        return;
    }
    for devices in [vec![Device::Cuda(0), Device::Cpu], vec![Device::Cuda(0)]] {
        for run_eagerly in [false, true] {
            let strategy: Rc<dyn Strategy> =
                Rc::new(MirroredStrategy::with_devices(&devices).unwrap());
            let mut m = mlp(100);
            m.set_run_eagerly(run_eagerly).unwrap();
            let init = m.get_weights().unwrap();
            let (x, y) = digits();
            m.fit(&x, &y, options().strategy(strategy)).unwrap();
            assert_eq!(m.is_traced(), !run_eagerly);
            let (want, _) = reference(&init);
            let d = max_diff(&m.get_weights().unwrap(), &want);
            println!(
                "{devices:?} eager {run_eagerly}: max |diff| vs one process on the CPU {d:.2e}"
            );
            // cuBLAS sums in another order than the CPU kernels.
            assert!(d < 1e-4, "{devices:?} eager {run_eagerly}: max |diff| {d}");
        }
    }
}
