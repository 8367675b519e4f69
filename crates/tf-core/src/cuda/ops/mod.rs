//! CUDA kernels of built-in ops, registered into each op's kernel table (keyed by
//! device kind and dtype) when the backend initializes.

mod array;
mod elementwise;
mod matmul;
mod nn;
mod reduce;

use crate::device::DeviceKind;
use crate::dtype::{DType, DTypeSet};
use crate::op::{KernelFn, OpDef};

/// Float dtypes with GPU kernels.
pub(crate) const FLOAT: DTypeSet = DTypeSet::FLOAT;
/// Float and the 32/64-bit integer dtypes.
pub(crate) const NUM: DTypeSet = DTypeSet::FLOAT.union(DTypeSet::of(&[DType::I32, DType::I64]));
/// Every dtype.
pub(crate) const ALL: DTypeSet = DTypeSet::ALL;

/// One registration: op, dtypes, kernel.
pub(crate) type Reg = (&'static OpDef, DTypeSet, KernelFn);

/// Registers every CUDA kernel (called once, when a GPU was found).
pub(crate) fn register_kernels() {
    for table in [
        elementwise::KERNELS,
        array::KERNELS,
        reduce::KERNELS,
        nn::KERNELS,
        matmul::KERNELS,
    ] {
        for &(op, dtypes, kernel) in table {
            op.register_kernel(DeviceKind::Cuda, dtypes, kernel);
        }
    }
}

/// Every op with a CUDA kernel and the dtypes it covers (for tests and docs).
pub fn cuda_kernels() -> Vec<(&'static str, DTypeSet)> {
    [
        elementwise::KERNELS,
        array::KERNELS,
        reduce::KERNELS,
        nn::KERNELS,
        matmul::KERNELS,
    ]
    .iter()
    .flat_map(|t| t.iter().map(|(op, d, _)| (op.name, *d)))
    .collect()
}
