//! Kernels of float-only unary ops: one f32 function (vectorized, also used for f16
//! and bf16, which compute in f32 and round once) and one f64 function per op.

use super::kernel::{block_map, unary_map_fn};
use crate::dtype::DType;
use crate::error::Result;
use crate::kernels::simd::{self, UnaryFn, bf16_to_f32, f32_to_bf16};
use crate::op::KernelContext;
use crate::tensor::Tensor;
use half::{bf16, f16};

/// `f32 -> f32` through bf16 (widen, apply, round to nearest even), vectorizable.
#[derive(Clone, Copy)]
struct ViaBf16<F>(F);

impl<F: UnaryFn<f32, f32>> UnaryFn<bf16, bf16> for ViaBf16<F> {
    #[inline(always)]
    fn apply(&self, x: bf16) -> bf16 {
        f32_to_bf16(self.0.apply(bf16_to_f32(x)))
    }
}

/// Applies a float op to input 0: `f` for f32, f16 and bf16, `g` for f64.
pub(crate) fn float_unary(
    ctx: &KernelContext<'_>,
    f: impl UnaryFn<f32, f32>,
    g: impl UnaryFn<f64, f64>,
) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let y = match x.dtype() {
        DType::F32 => unary_map_fn::<f32, f32>(x, f)?,
        DType::F64 => unary_map_fn::<f64, f64>(x, g)?,
        DType::BF16 => unary_map_fn::<bf16, bf16>(x, ViaBf16(f))?,
        DType::F16 => block_map::<f16, f16>(x, |src, dst| {
            simd::map_half_via_f32(src, dst, |buf| simd::map_inplace(buf, f))
        })?,
        other => return Err(ctx.unsupported_dtype(other)),
    };
    Ok(vec![y])
}

/// Declares a parameterless f32 function type for SIMD loops from a closure body.
macro_rules! f32_fn {
    ($(#[$doc:meta])* $Type:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub(crate) struct $Type;
        impl UnaryFn<f32, f32> for $Type {
            #[inline(always)]
            fn apply(&self, $x: f32) -> f32 {
                $body
            }
        }
    };
}

f32_fn!(
    /// `1 / sqrt(x)`.
    Rsqrt,
    |x| 1.0 / x.sqrt()
);
f32_fn!(
    /// `x / (1 + |x|)` (TensorFlow's formula: ±inf gives NaN).
    Softsign,
    |x| x / (1.0 + x.abs())
);
f32_fn!(
    /// `x` if `x > 0`, else `e^x - 1`.
    Elu,
    |x| if x > 0.0 {
        x
    } else {
        crate::kernels::math::expm1(x)
    }
);
f32_fn!(
    /// `scale · x` if `x > 0`, else `scale · alpha · (e^x - 1)`.
    Selu,
    |x| if x > 0.0 {
        SELU_SCALE as f32 * x
    } else {
        (SELU_SCALE * SELU_ALPHA) as f32 * crate::kernels::math::expm1(x)
    }
);

/// SELU's `alpha` (Klambauer et al.), as in TensorFlow.
pub(crate) const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
/// SELU's `scale`, as in TensorFlow.
pub(crate) const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// `x` if `x > 0`, else `alpha · x`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeakyRelu(pub f32);

impl UnaryFn<f32, f32> for LeakyRelu {
    #[inline(always)]
    fn apply(&self, x: f32) -> f32 {
        if x > 0.0 { x } else { self.0 * x }
    }
}
