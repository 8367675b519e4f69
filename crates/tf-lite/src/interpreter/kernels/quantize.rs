//! QUANTIZE (float32 → int8/uint8/int16; int8/uint8 → int8/uint8 requantization) and
//! DEQUANTIZE (int8/uint8/int16, per-tensor or per-channel, and float16 → float32).

use super::{Io, Kernel, PrepareCtx, Prepared};
use crate::error::Result;
use crate::format::{self, TensorType};
use crate::interpreter::quant::Multiplier;
use crate::interpreter::tensor::Quantization;

#[derive(Clone, Copy, Debug)]
enum Int {
    I8,
    U8,
    I16,
}

impl Int {
    fn of(t: TensorType) -> Option<Int> {
        match t {
            TensorType::INT8 => Some(Int::I8),
            TensorType::UINT8 => Some(Int::U8),
            TensorType::INT16 => Some(Int::I16),
            _ => None,
        }
    }

    fn range(self) -> (i32, i32) {
        match self {
            Int::I8 => (-128, 127),
            Int::U8 => (0, 255),
            Int::I16 => (-32768, 32767),
        }
    }

    fn read(self, b: &[u8], i: usize) -> i32 {
        match self {
            Int::I8 => i32::from(b[i] as i8),
            Int::U8 => i32::from(b[i]),
            Int::I16 => i32::from(i16::from_le_bytes([b[2 * i], b[2 * i + 1]])),
        }
    }

    fn write(self, b: &mut [u8], i: usize, v: i32) {
        let (lo, hi) = self.range();
        let v = v.clamp(lo, hi);
        match self {
            Int::I8 => b[i] = (v as i8) as u8,
            Int::U8 => b[i] = v as u8,
            Int::I16 => b[2 * i..2 * i + 2].copy_from_slice(&(v as i16).to_le_bytes()),
        }
    }
}

struct QuantizeF32 {
    to: Int,
    scale: f32,
    zp: i32,
}

impl Kernel for QuantizeF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<f32>(0)?;
        let out = io.output::<u8>(0)?;
        for (i, &v) in x.iter().enumerate() {
            let q = ((v / self.scale).round() as i32).saturating_add(self.zp);
            self.to.write(out, i, q);
        }
        Ok(())
    }
}

struct Requantize {
    from: Int,
    to: Int,
    zi: i32,
    zo: i32,
    mult: Multiplier,
}

impl Kernel for Requantize {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<u8>(0)?;
        let out = io.output::<u8>(0)?;
        let n = out.len() / self.bytes();
        for i in 0..n {
            let v = self.from.read(x, i) - self.zi;
            self.to
                .write(out, i, self.mult.apply(v).saturating_add(self.zo));
        }
        Ok(())
    }
}

impl Requantize {
    fn bytes(&self) -> usize {
        match self.to {
            Int::I16 => 2,
            _ => 1,
        }
    }
}

/// Per-element scale and zero point of a (possibly per-channel) dequantization.
struct Dequantize {
    from: Int,
    q: Quantization,
    /// Elements per step along the channel axis (product of the dims after it).
    inner: usize,
    channels: usize,
}

impl Kernel for Dequantize {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<u8>(0)?;
        let out = io.output::<f32>(0)?;
        for (i, o) in out.iter_mut().enumerate() {
            let c = if self.channels > 1 {
                (i / self.inner) % self.channels
            } else {
                0
            };
            let s = self.q.scale.get(c).copied().unwrap_or(1.0);
            let z = self.q.zero_point.get(c).copied().unwrap_or(0) as i32;
            *o = s * (self.from.read(x, i) - z) as f32;
        }
        Ok(())
    }
}

struct F16ToF32;

impl Kernel for F16ToF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<u16>(0)?;
        let out = io.output::<f32>(0)?;
        for (o, &h) in out.iter_mut().zip(x) {
            *o = half::f16::from_bits(h).to_f32();
        }
        Ok(())
    }
}

pub(crate) fn prepare_quantize(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let input = ctx.input(0)?.clone();
    let output = ctx.output(0)?.clone();
    ctx.set_output_shape(0, input.shape.clone())?;
    let to = Int::of(output.ty).ok_or_else(|| {
        ctx.unsupported(format!("quantizing to {}", format::type_name(output.ty)))
    })?;
    let who = ctx.who();
    let oq = output
        .quantization
        .as_ref()
        .ok_or_else(|| ctx.err("output has no quantization parameters"))?;
    if oq.is_per_channel() {
        return Err(ctx.unsupported("per-channel QUANTIZE"));
    }
    let (so, zo) = output.qparams(&who)?;
    match input.ty {
        TensorType::FLOAT32 => Prepared::new(QuantizeF32 {
            to,
            scale: so,
            zp: zo,
        }),
        ty => {
            let from = Int::of(ty).ok_or_else(|| {
                ctx.unsupported(format!("quantizing from {}", format::type_name(ty)))
            })?;
            let (si, zi) = input.qparams(&who)?;
            Prepared::new(Requantize {
                from,
                to,
                zi,
                zo,
                mult: Multiplier::new(f64::from(si) / f64::from(so)),
            })
        }
    }
}

pub(crate) fn prepare_dequantize(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let input = ctx.input(0)?.clone();
    ctx.expect_output_type(0, TensorType::FLOAT32)?;
    ctx.set_output_shape(0, input.shape.clone())?;
    if input.ty == TensorType::FLOAT16 {
        return Prepared::new(F16ToF32);
    }
    let from = Int::of(input.ty)
        .ok_or_else(|| ctx.unsupported(format!("dequantizing {}", format::type_name(input.ty))))?;
    let q = input
        .quantization
        .clone()
        .ok_or_else(|| ctx.err(format!("input '{}' has no quantization", input.name)))?;
    let (inner, channels) = if q.is_per_channel() {
        let ax = q.axis;
        let ch = *input.shape.get(ax).ok_or_else(|| {
            ctx.err(format!(
                "quantized_dimension {ax} for shape {:?}",
                input.shape
            ))
        })?;
        if q.scale.len() != ch {
            return Err(ctx.err(format!("{} scales for {ch} channels", q.scale.len())));
        }
        (input.shape[ax + 1..].iter().product(), ch)
    } else {
        (1, 1)
    };
    Prepared::new(Dequantize {
        from,
        q,
        inner,
        channels,
    })
}
