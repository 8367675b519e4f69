//! SOFTMAX over the last axis: float32, and int8 with TensorFlow Lite's optimized
//! lookup-table kernel (a table of `exp(−scale·β·d)` for the 256 possible distances `d`
//! to the row maximum, float sums, output rounded half away from zero).

use super::{Io, Kernel, PrepareCtx, Prepared};
use crate::error::Result;
use crate::format::{self, BuiltinOptions, TensorType};

struct SoftmaxF32 {
    depth: usize,
    beta: f32,
}

impl Kernel for SoftmaxF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<f32>(0)?;
        let out = io.output::<f32>(0)?;
        if self.depth == 0 {
            return Ok(());
        }
        for (row, o) in x
            .chunks_exact(self.depth)
            .zip(out.chunks_exact_mut(self.depth))
        {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for (d, &v) in o.iter_mut().zip(row) {
                *d = ((v - max) * self.beta).exp();
                sum += *d;
            }
            let inv = 1.0 / sum;
            for d in o.iter_mut() {
                *d *= inv;
            }
        }
        Ok(())
    }
}

struct SoftmaxI8 {
    depth: usize,
    /// `table[255 − d] = exp(−input_scale·β·d)`.
    table: Box<[f32; 256]>,
    out_scale: f32,
    out_zp: i32,
}

impl Kernel for SoftmaxI8 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<i8>(0)?;
        let out = io.output::<i8>(0)?;
        if self.depth == 0 {
            return Ok(());
        }
        for (row, o) in x
            .chunks_exact(self.depth)
            .zip(out.chunks_exact_mut(self.depth))
        {
            let max = row.iter().map(|&v| i32::from(v)).max().unwrap_or(0);
            // Index 255 − (max − v) ∈ [0, 255] since max − v ∈ [0, 255].
            let at = |v: i8| self.table[(255 - (max - i32::from(v))) as usize];
            let mut sum = 0.0f32;
            for &v in row {
                sum += at(v);
            }
            let inv = 1.0 / (sum * self.out_scale);
            for (d, &v) in o.iter_mut().zip(row) {
                let q = (at(v) * inv).round() as i32 + self.out_zp;
                *d = q.clamp(-128, 127) as i8;
            }
        }
        Ok(())
    }
}

pub(crate) fn prepare(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let beta = match ctx.options {
        BuiltinOptions::SoftmaxOptions(o) => o.beta,
        _ => 1.0,
    };
    let input = ctx.input(0)?.clone();
    if input.shape.is_empty() {
        return Err(ctx.err("input must have at least one dimension"));
    }
    let depth = input.shape.last().copied().unwrap_or(1);
    ctx.set_output_shape(0, input.shape.clone())?;
    match input.ty {
        TensorType::FLOAT32 => {
            ctx.expect_output_type(0, TensorType::FLOAT32)?;
            Prepared::new(SoftmaxF32 { depth, beta })
        }
        TensorType::INT8 => {
            ctx.expect_output_type(0, TensorType::INT8)?;
            let who = ctx.who();
            let (si, _) = input.qparams(&who)?;
            let (so, zo) = ctx.output(0)?.qparams(&who)?;
            let scale = -si * beta;
            let mut table = Box::new([0f32; 256]);
            for val in 0..=255usize {
                table[255 - val] = (scale * val as f32).exp();
            }
            Prepared::new(SoftmaxI8 {
                depth,
                table,
                out_scale: so,
                out_zp: zo,
            })
        }
        ty => Err(ctx.unsupported(format!("input type {}", format::type_name(ty)))),
    }
}
