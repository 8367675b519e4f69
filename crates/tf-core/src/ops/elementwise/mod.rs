//! Elementwise ops: unary math, activations, binary arithmetic and comparisons with
//! NumPy/TensorFlow broadcasting, selection, clipping and casts, plus the operator
//! overloads (`&a + &b`, `&x * 2.0`, `-&x`) and math methods of [`Tensor`](crate::Tensor).
//!
//! Every op keeps TensorFlow's op type name (`AddV2`, `RealDiv`, `SelectV2`, ...),
//! dtype rules (no implicit promotion: mismatched dtypes are an error naming both)
//! and numerics (integers wrap, half floats compute in f32 and round once, `Round` is
//! half to even, `Maximum`/`Minimum` propagate NaN). f32 kernels are vectorized with
//! AVX-512 where the CPU has it (see [`kernels::simd`](crate::kernels::simd) and
//! [`kernels::math`](crate::kernels::math)) and run in parallel on large tensors.
//!
//! | module | ops |
//! |---|---|
//! | `unary` | Neg Abs Sign Square Reciprocal Round Floor Ceil Exp Expm1 Log Log1p Sqrt Rsqrt Sin Cos Tanh Sigmoid Erf Erfc IsNan IsFinite |
//! | `activation` | Relu Relu6 LeakyRelu Elu Selu Softplus Softsign Gelu Silu |
//! | `binary` | AddV2 Sub Mul RealDiv FloorDiv FloorMod Pow Maximum Minimum SquaredDifference |
//! | `compare` | Equal NotEqual Less LessEqual Greater GreaterEqual LogicalAnd LogicalOr LogicalNot |
//! | `select` | SelectV2 ClipByValue |
//! | `cast` | Cast |
//! | `backprop` | ReluGrad TanhGrad SigmoidGrad (fused activation gradients) |

mod activation;
mod arith;
mod backprop;
mod binary;
mod cast;
mod compare;
mod float;
pub(crate) mod infer;
mod kernel;
mod overload;
mod select;
mod unary;

pub use activation::*;
pub use arith::Arith;
pub use backprop::*;
pub use binary::*;
pub use cast::*;
pub use compare::*;
pub use kernel::{
    TernaryFn, binary_map, binary_map_fn, block_map, ternary_map, unary_map, unary_map_fn,
};
pub use overload::ScalarOperand;
pub use select::*;
pub use unary::*;

use crate::op::OpDef;

/// Every elementwise op, for the registry.
pub(crate) static OPS: &[&OpDef] = &{
    const N: usize = unary::OPS.len()
        + activation::OPS.len()
        + binary::OPS.len()
        + compare::OPS.len()
        + select::OPS.len()
        + cast::OPS.len()
        + backprop::OPS.len();
    let mut all: [&OpDef; N] = [&cast::CAST; N];
    let mut i = 0;
    let lists: [&[&OpDef]; 7] = [
        unary::OPS,
        activation::OPS,
        binary::OPS,
        compare::OPS,
        select::OPS,
        cast::OPS,
        backprop::OPS,
    ];
    let mut l = 0;
    while l < lists.len() {
        let mut j = 0;
        while j < lists[l].len() {
            all[i] = lists[l][j];
            i += 1;
            j += 1;
        }
        l += 1;
    }
    all
};
