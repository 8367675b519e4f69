//! FULLY_CONNECTED (float32, int8 with per-tensor or per-channel weights) and
//! BATCH_MATMUL (float32, int8).

use super::conv::{Requant, requant, row_sums, scratch_len, split_scratch};
use super::gemm::{sgemm_nt, sgemm_strided};
use super::packed_i8::PackedI8;
use super::{Io, Kernel, PrepareCtx, Prepared, activation_range_f32, numel};
use crate::error::Result;
use crate::format::{
    self, ActivationFunctionType, BuiltinOptions, FullyConnectedOptionsWeightsFormat, TensorType,
};
use crate::interpreter::quant::{Multiplier, activation_range_i8};
use crate::interpreter::tensor::cast;

struct FcF32 {
    batch: usize,
    units: usize,
    depth: usize,
    has_bias: bool,
    lo: f32,
    hi: f32,
}

impl Kernel for FcF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<f32>(0)?;
        let w = io.input::<f32>(1)?;
        let bias = io.input::<f32>(2)?;
        let out = io.output::<f32>(0)?;
        sgemm_nt(
            self.batch, self.units, self.depth, x, self.depth, w, out, io.threads,
        )?;
        for row in out.chunks_exact_mut(self.units.max(1)) {
            if self.has_bias {
                for (o, &b) in row.iter_mut().zip(bias) {
                    *o = (*o + b).clamp(self.lo, self.hi);
                }
            } else {
                for o in row.iter_mut() {
                    *o = o.clamp(self.lo, self.hi);
                }
            }
        }
        Ok(())
    }
}

struct FcI8 {
    batch: usize,
    units: usize,
    depth: usize,
    weights: PackedI8,
    vnni: bool,
    rq: Requant,
}

impl Kernel for FcI8 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<i8>(0)?;
        let out = io.output::<i8>(0)?;
        let n = self.units;
        let row = self.weights.row_len();
        let (a, tmp) = split_scratch(io.scratch::<u8>()?, self.batch * row)?;
        let a: &mut [i8] = bytemuck::cast_slice_mut(a);
        let vnni = self.vnni;
        for (dst, src) in a.chunks_exact_mut(row).zip(x.chunks_exact(self.depth)) {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = PackedI8::encode(vnni, v);
            }
        }
        self.weights.run(vnni, a, self.batch, tmp, |i, acc| {
            self.rq.row.apply_row(acc, &mut out[i * n..(i + 1) * n]);
        })
    }
}

pub(crate) fn prepare(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let (act, keep_dims, asymmetric) = match ctx.options {
        BuiltinOptions::FullyConnectedOptions(o) => {
            if o.weights_format != FullyConnectedOptionsWeightsFormat::DEFAULT {
                return Err(ctx.unsupported("shuffled weights format"));
            }
            (
                o.fused_activation_function,
                o.keep_num_dims,
                o.asymmetric_quantize_inputs,
            )
        }
        _ => (ActivationFunctionType::NONE, false, false),
    };
    let input = ctx.input(0)?.clone();
    let filter = ctx.input(1)?.clone();
    let &[units, depth] = filter.shape.as_slice() else {
        return Err(ctx.err(format!("weights must be 2-D, got {:?}", filter.shape)));
    };
    let total = input.num_elements();
    if depth == 0 || total % depth != 0 {
        return Err(ctx.err(format!(
            "input of shape {:?} does not split into rows of {depth}",
            input.shape
        )));
    }
    let batch = total / depth;
    let out_shape = if keep_dims {
        if input.shape.last() != Some(&depth) {
            return Err(ctx.err(format!(
                "keep_num_dims needs the input's last dimension ({:?}) to be {depth}",
                input.shape
            )));
        }
        let mut s = input.shape.clone();
        if let Some(l) = s.last_mut() {
            *l = units;
        }
        s
    } else {
        vec![batch, units]
    };
    ctx.set_output_shape(0, out_shape)?;
    let bias = ctx.opt_input(2)?.cloned();
    if let Some(b) = &bias
        && numel(&b.shape) != units
    {
        return Err(ctx.err(format!(
            "bias '{}' of shape {:?} for {units} units",
            b.name, b.shape
        )));
    }
    match (input.ty, filter.ty) {
        (TensorType::FLOAT32, TensorType::FLOAT32) => {
            ctx.expect_output_type(0, TensorType::FLOAT32)?;
            if let Some(b) = &bias {
                ctx.expect_type(b, TensorType::FLOAT32)?;
            }
            let (lo, hi) = activation_range_f32(ctx, act)?;
            Prepared::new(FcF32 {
                batch,
                units,
                depth,
                has_bias: bias.is_some(),
                lo,
                hi,
            })
        }
        (TensorType::INT8, TensorType::INT8) => {
            ctx.expect_output_type(0, TensorType::INT8)?;
            let w = cast::<i8>(ctx.const_bytes(1)?)?;
            let wsum = row_sums(w, units, depth);
            let output = ctx.output(0)?.clone();
            let bias = match ctx.opt_input(2)? {
                Some(b) => Some((b, ctx.const_bytes(2)?)),
                None => None,
            };
            let rq = requant(ctx, &input, &filter, bias, &output, units, &wsum, act)?;
            let weights = PackedI8::new(w, units, depth)?;
            let scratch = scratch_len(batch * weights.row_len(), weights.tmp_len());
            Prepared::with_scratch(
                FcI8 {
                    batch,
                    units,
                    depth,
                    weights,
                    vnni: PackedI8::vnni(),
                    rq,
                },
                scratch,
            )
        }
        (TensorType::FLOAT32, TensorType::INT8) => {
            super::hybrid::prepare_fc(ctx, batch, units, depth, act, asymmetric)
        }
        (a, b) => Err(ctx.unsupported(format!(
            "input {} with weights {}",
            format::type_name(a),
            format::type_name(b)
        ))),
    }
}

/// Broadcast batch geometry of a BATCH_MATMUL.
#[derive(Clone, Debug)]
struct BatchMm {
    m: usize,
    n: usize,
    k: usize,
    /// For each output batch, the lhs and rhs batch indices.
    pairs: Vec<(usize, usize)>,
    adj_x: bool,
    adj_y: bool,
}

impl BatchMm {
    fn lhs_strides(&self) -> (usize, usize) {
        if self.adj_x { (1, self.m) } else { (self.k, 1) }
    }

    fn rhs_strides(&self) -> (usize, usize) {
        if self.adj_y { (1, self.k) } else { (self.n, 1) }
    }
}

struct BatchMatMulF32(BatchMm);

impl Kernel for BatchMatMulF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let g = &self.0;
        let a = io.input::<f32>(0)?;
        let b = io.input::<f32>(1)?;
        let out = io.output::<f32>(0)?;
        let (mk, kn, mn) = (g.m * g.k, g.k * g.n, g.m * g.n);
        for (o, &(la, lb)) in g.pairs.iter().enumerate() {
            sgemm_strided(
                g.m,
                g.n,
                g.k,
                &a[la * mk..(la + 1) * mk],
                g.lhs_strides(),
                &b[lb * kn..(lb + 1) * kn],
                g.rhs_strides(),
                &mut out[o * mn..(o + 1) * mn],
            )?;
        }
        Ok(())
    }
}

struct BatchMatMulI8 {
    g: BatchMm,
    zp_a: i32,
    zp_b: i32,
    mult: Multiplier,
    out_zp: i32,
    lo: i32,
    hi: i32,
}

impl Kernel for BatchMatMulI8 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let g = &self.g;
        let a = io.input::<i8>(0)?;
        let b = io.input::<i8>(1)?;
        let out = io.output::<i8>(0)?;
        let (mk, kn, mn) = (g.m * g.k, g.k * g.n, g.m * g.n);
        let (ars, acs) = g.lhs_strides();
        let (brs, bcs) = g.rhs_strides();
        for (o, &(la, lb)) in g.pairs.iter().enumerate() {
            let (a, b) = (&a[la * mk..(la + 1) * mk], &b[lb * kn..(lb + 1) * kn]);
            for i in 0..g.m {
                for j in 0..g.n {
                    let mut acc = 0i32;
                    for p in 0..g.k {
                        let x = i32::from(a[i * ars + p * acs]) - self.zp_a;
                        let y = i32::from(b[p * brs + j * bcs]) - self.zp_b;
                        acc = acc.wrapping_add(x * y);
                    }
                    let v = self.mult.apply(acc).saturating_add(self.out_zp);
                    out[o * mn + i * g.n + j] = v.clamp(self.lo, self.hi) as i8;
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn prepare_batch_matmul(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let (adj_x, adj_y) = match ctx.options {
        BuiltinOptions::BatchMatMulOptions(o) => (o.adj_x, o.adj_y),
        _ => (false, false),
    };
    let a = ctx.input(0)?.clone();
    let b = ctx.input(1)?.clone();
    if a.shape.len() < 2 || b.shape.len() < 2 {
        return Err(ctx.err(format!(
            "operands must be at least 2-D: {:?} x {:?}",
            a.shape, b.shape
        )));
    }
    let (ab, am) = a.shape.split_at(a.shape.len() - 2);
    let (bb, bm) = b.shape.split_at(b.shape.len() - 2);
    let (m, k) = if adj_x {
        (am[1], am[0])
    } else {
        (am[0], am[1])
    };
    let (k2, n) = if adj_y {
        (bm[1], bm[0])
    } else {
        (bm[0], bm[1])
    };
    if k != k2 {
        return Err(ctx.err(format!(
            "inner dimensions differ: {:?} x {:?} (adj_x {adj_x}, adj_y {adj_y})",
            a.shape, b.shape
        )));
    }
    let rank = ab.len().max(bb.len());
    let pad = |s: &[usize]| {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(ab), pad(bb));
    let mut batch = Vec::with_capacity(rank);
    for (&x, &y) in pa.iter().zip(&pb) {
        if x != y && x != 1 && y != 1 {
            return Err(ctx.err(format!(
                "batch dimensions do not broadcast: {:?} x {:?}",
                a.shape, b.shape
            )));
        }
        batch.push(if x == 1 { y } else { x });
    }
    let nb = numel(&batch);
    let mut pairs = Vec::with_capacity(nb);
    for o in 0..nb {
        let (mut rem, mut ia, mut ib, mut sa, mut sb) = (o, 0, 0, 1, 1);
        for d in (0..rank).rev() {
            let i = rem % batch[d];
            rem /= batch[d];
            ia += if pa[d] == 1 { 0 } else { i * sa };
            ib += if pb[d] == 1 { 0 } else { i * sb };
            sa *= pa[d];
            sb *= pb[d];
        }
        pairs.push((ia, ib));
    }
    let mut out_shape = batch;
    out_shape.extend([m, n]);
    ctx.set_output_shape(0, out_shape)?;
    let g = BatchMm {
        m,
        n,
        k,
        pairs,
        adj_x,
        adj_y,
    };
    match (a.ty, b.ty) {
        (TensorType::FLOAT32, TensorType::FLOAT32) => {
            ctx.expect_output_type(0, TensorType::FLOAT32)?;
            Prepared::new(BatchMatMulF32(g))
        }
        (TensorType::INT8, TensorType::INT8) => {
            ctx.expect_output_type(0, TensorType::INT8)?;
            let who = ctx.who();
            let (sa, zp_a) = a.qparams(&who)?;
            let (sb, zp_b) = b.qparams(&who)?;
            let (so, out_zp) = ctx.output(0)?.qparams(&who)?;
            let mult = Multiplier::new(f64::from(sa) * f64::from(sb) / f64::from(so));
            let (lo, hi) = activation_range_i8(ActivationFunctionType::NONE, so, out_zp);
            Prepared::new(BatchMatMulI8 {
                g,
                zp_a,
                zp_b,
                mult,
                out_zp,
                lo,
                hi,
            })
        }
        (x, y) => Err(ctx.unsupported(format!(
            "operands {} x {}",
            format::type_name(x),
            format::type_name(y)
        ))),
    }
}
