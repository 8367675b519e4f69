//! Elementwise activations: RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH, GELU, HARD_SWISH,
//! LEAKY_RELU, EXP. Float32 computes directly; int8 uses a 256-entry table built at
//! prepare time from the same formula TensorFlow Lite uses (fixed-point requantization
//! for the RELU family, float transform then round for the others).

use super::{Io, Kernel, PrepareCtx, Prepared};
use crate::error::Result;
use crate::format::{self, BuiltinOperator, BuiltinOptions, TensorType};
use crate::interpreter::quant::Multiplier;

#[derive(Clone, Copy, Debug)]
enum Act {
    Relu,
    Relu6,
    ReluN1To1,
    Logistic,
    Tanh,
    Gelu { approximate: bool },
    HardSwish,
    LeakyRelu { alpha: f32 },
    Exp,
}

fn gelu(x: f32, approximate: bool) -> f32 {
    if approximate {
        const C: f32 = 0.797_884_6; // sqrt(2/pi)
        0.5 * x * (1.0 + libm::tanhf(C * (x + 0.044_715 * x * x * x)))
    } else {
        0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
    }
}

impl Act {
    #[inline(always)]
    fn f(self, x: f32) -> f32 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Relu6 => x.clamp(0.0, 6.0),
            Act::ReluN1To1 => x.clamp(-1.0, 1.0),
            Act::Logistic => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::Gelu { approximate } => gelu(x, approximate),
            Act::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Act::LeakyRelu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Act::Exp => x.exp(),
        }
    }
}

struct UnaryF32(Act);

impl Kernel for UnaryF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<f32>(0)?;
        let out = io.output::<f32>(0)?;
        let act = self.0;
        match act {
            Act::Relu => out.iter_mut().zip(x).for_each(|(o, &v)| *o = v.max(0.0)),
            Act::Relu6 => out
                .iter_mut()
                .zip(x)
                .for_each(|(o, &v)| *o = v.clamp(0.0, 6.0)),
            _ => out.iter_mut().zip(x).for_each(|(o, &v)| *o = act.f(v)),
        }
        Ok(())
    }
}

/// An int8 → int8 function as a table indexed by `q + 128`.
pub(crate) struct Lut(pub Box<[i8; 256]>);

impl Kernel for Lut {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<i8>(0)?;
        let out = io.output::<i8>(0)?;
        for (o, &v) in out.iter_mut().zip(x) {
            *o = self.0[(i32::from(v) + 128) as usize];
        }
        Ok(())
    }
}

impl Lut {
    /// `table[q] = f(q)` for every int8 `q`.
    pub(crate) fn from_fn(f: impl Fn(i32) -> i32) -> Lut {
        let mut t = Box::new([0i8; 256]);
        for (i, e) in t.iter_mut().enumerate() {
            *e = f(i as i32 - 128).clamp(-128, 127) as i8;
        }
        Lut(t)
    }

    /// TensorFlow Lite's `LUTPopulate` for int8: dequantize, transform in float, round
    /// half away from zero, add the output zero point.
    pub(crate) fn from_float(si: f32, zi: i32, so: f32, zo: i32, f: impl Fn(f32) -> f32) -> Lut {
        let inv = 1.0 / so;
        Lut::from_fn(|q| {
            let real = si * (q - zi) as f32;
            let r = (f(real) * inv).round();
            (r as i32).saturating_add(zo)
        })
    }
}

pub(crate) fn prepare(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    use BuiltinOperator as B;
    let act = match ctx.op {
        B::RELU => Act::Relu,
        B::RELU6 => Act::Relu6,
        B::RELU_N1_TO_1 => Act::ReluN1To1,
        B::LOGISTIC => Act::Logistic,
        B::TANH => Act::Tanh,
        B::GELU => Act::Gelu {
            approximate: matches!(ctx.options, BuiltinOptions::GeluOptions(o) if o.approximate),
        },
        B::HARD_SWISH => Act::HardSwish,
        B::LEAKY_RELU => Act::LeakyRelu {
            alpha: match ctx.options {
                BuiltinOptions::LeakyReluOptions(o) => o.alpha,
                _ => 0.0,
            },
        },
        _ => Act::Exp,
    };
    let input = ctx.input(0)?.clone();
    ctx.set_output_shape(0, input.shape.clone())?;
    match input.ty {
        TensorType::FLOAT32 => {
            ctx.expect_output_type(0, TensorType::FLOAT32)?;
            Prepared::new(UnaryF32(act))
        }
        TensorType::INT8 => {
            ctx.expect_output_type(0, TensorType::INT8)?;
            let who = ctx.who();
            let (si, zi) = input.qparams(&who)?;
            let (so, zo) = ctx.output(0)?.qparams(&who)?;
            let lut = match act {
                Act::Relu | Act::Relu6 | Act::ReluN1To1 => {
                    // TensorFlow Lite's ReluX: requantize, then clamp to the activation's
                    // range expressed in output units.
                    let m = Multiplier::new(f64::from(si) / f64::from(so));
                    let q = |f: f32| zo.saturating_add((f / so).round() as i32);
                    let (lo, hi) = match act {
                        Act::Relu => (q(0.0).max(-128), 127),
                        Act::Relu6 => (q(0.0).max(-128), q(6.0).min(127)),
                        _ => (q(-1.0).max(-128), q(1.0).min(127)),
                    };
                    Lut::from_fn(|x| (zo.saturating_add(m.apply(x - zi))).clamp(lo, hi))
                }
                _ => Lut::from_float(si, zi, so, zo, |v| act.f(v)),
            };
            Prepared::new(lut)
        }
        ty => Err(ctx.unsupported(format!("input type {}", format::type_name(ty)))),
    }
}
