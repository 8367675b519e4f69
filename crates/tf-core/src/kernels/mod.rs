//! Shared CPU kernel infrastructure: parallel loops, output allocation, strided
//! iteration, runtime SIMD dispatch and vectorized f32 math that every op family's
//! kernels reuse.

pub mod alloc;
pub mod math;
pub mod parallel;
pub mod simd;
pub mod strided;
