//! Data-movement operators, for any fixed-size element type: RESHAPE, SQUEEZE,
//! EXPAND_DIMS, SHAPE, STRIDED_SLICE, PACK, CONCATENATION, PAD/PADV2, TRANSPOSE.

use super::{Io, Kernel, PrepareCtx, Prepared, activation_range_f32, numel};
use crate::error::{Error, Result};
use crate::format::{self, ActivationFunctionType, BuiltinOperator, BuiltinOptions, TensorType};
use crate::interpreter::tensor::TensorInfo;

const MAX_RANK: usize = 8;

fn elem_size(ctx: &PrepareCtx<'_>, t: &TensorInfo) -> Result<usize> {
    format::type_size(t.ty).ok_or_else(|| {
        ctx.unsupported(format!(
            "tensor '{}' of type {}",
            t.name,
            format::type_name(t.ty)
        ))
    })
}

fn check_rank(ctx: &PrepareCtx<'_>, shape: &[usize]) -> Result<()> {
    if shape.len() > MAX_RANK {
        return Err(ctx.unsupported(format!("rank {} tensors", shape.len())));
    }
    Ok(())
}

/// Copies input 0 to output 0 byte for byte (reshapes).
struct Copy;

impl Kernel for Copy {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<u8>(0)?;
        let out = io.output::<u8>(0)?;
        if x.len() != out.len() {
            return Err(Error::format("reshape: size mismatch"));
        }
        out.copy_from_slice(x);
        Ok(())
    }
}

fn norm_axis(ctx: &PrepareCtx<'_>, axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank)
        .ok_or_else(|| ctx.err(format!("axis {axis} out of range for rank {rank}")))
}

/// RESHAPE (shape from the second input or the options), SQUEEZE, EXPAND_DIMS.
pub(crate) fn prepare_reshape(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let input = ctx.input(0)?.clone();
    let n = input.num_elements();
    let shape: Vec<usize> = match ctx.op {
        BuiltinOperator::SQUEEZE => {
            let dims = match ctx.options {
                BuiltinOptions::SqueezeOptions(o) => o.squeeze_dims.clone().unwrap_or_default(),
                _ => vec![],
            };
            let r = input.shape.len();
            let mut drop = vec![false; r];
            if dims.is_empty() {
                for (d, &s) in input.shape.iter().enumerate() {
                    drop[d] = s == 1;
                }
            } else {
                for a in dims {
                    let a = norm_axis(ctx, a.into(), r)?;
                    if input.shape[a] != 1 {
                        return Err(ctx.err(format!(
                            "cannot squeeze axis {a} of shape {:?}",
                            input.shape
                        )));
                    }
                    drop[a] = true;
                }
            }
            input
                .shape
                .iter()
                .zip(&drop)
                .filter(|(_, d)| !**d)
                .map(|(s, _)| *s)
                .collect()
        }
        BuiltinOperator::EXPAND_DIMS => {
            let axis = ctx.value_i64(1)?;
            let &[axis] = axis.as_slice() else {
                return Err(ctx.err("axis must hold one value"));
            };
            let a = norm_axis(ctx, axis, input.shape.len() + 1)?;
            let mut s = input.shape.clone();
            s.insert(a, 1);
            s
        }
        _ => {
            let spec: Vec<i64> = match ctx.opt_input(1)? {
                Some(t) if !(t.shape.len() == 1 && t.shape[0] == 0 && ctx.known(1)?.is_none()) => {
                    ctx.value_i64(1)?
                }
                _ => match ctx.options {
                    BuiltinOptions::ReshapeOptions(o) => o
                        .new_shape
                        .iter()
                        .flatten()
                        .map(|&v| i64::from(v))
                        .collect(),
                    _ => vec![],
                },
            };
            let mut unknown = None;
            let mut known = 1usize;
            let mut s = Vec::with_capacity(spec.len());
            for (i, &d) in spec.iter().enumerate() {
                if d == -1 {
                    if unknown.replace(i).is_some() {
                        return Err(ctx.err(format!("shape {spec:?} has more than one -1")));
                    }
                    s.push(1);
                } else {
                    let d = usize::try_from(d)
                        .map_err(|_| ctx.err(format!("bad dimension {d} in shape {spec:?}")))?;
                    known = known.saturating_mul(d);
                    s.push(d);
                }
            }
            if let Some(i) = unknown {
                if known == 0 || n % known != 0 {
                    return Err(ctx.err(format!(
                        "cannot reshape {:?} ({n} elements) to {spec:?}",
                        input.shape
                    )));
                }
                s[i] = n / known;
            }
            s
        }
    };
    if numel(&shape) != n {
        return Err(ctx.err(format!(
            "cannot reshape {:?} ({n} elements) to {shape:?}",
            input.shape
        )));
    }
    ctx.expect_output_type(0, input.ty)?;
    ctx.set_output_shape(0, shape)?;
    Prepared::new(Copy)
}

/// Writes a fixed value (SHAPE's result).
struct WriteConst(Vec<u8>);

impl Kernel for WriteConst {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let out = io.output::<u8>(0)?;
        if out.len() != self.0.len() {
            return Err(Error::format("shape: size mismatch"));
        }
        out.copy_from_slice(&self.0);
        Ok(())
    }
}

pub(crate) fn prepare_shape(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let input = ctx.input(0)?.clone();
    let out_ty = ctx.output(0)?.ty;
    let bytes: Vec<u8> = match out_ty {
        TensorType::INT32 => input
            .shape
            .iter()
            .flat_map(|&d| i32::try_from(d).unwrap_or(i32::MAX).to_le_bytes())
            .collect(),
        TensorType::INT64 => input
            .shape
            .iter()
            .flat_map(|&d| i64::try_from(d).unwrap_or(i64::MAX).to_le_bytes())
            .collect(),
        ty => return Err(ctx.err(format!("output type {}", format::type_name(ty)))),
    };
    ctx.set_output_shape(0, vec![input.shape.len()])?;
    let mut p = Prepared::new(WriteConst(bytes))?;
    p.shape_only = true;
    Ok(p)
}

/// `out[i] = in[offset + Σ idx_d · strides_d]` over the output's shape (in elements of
/// `es` bytes); the general engine of STRIDED_SLICE and TRANSPOSE.
struct StridedCopy {
    shape: Vec<usize>,
    strides: Vec<isize>,
    offset: isize,
    es: usize,
}

impl Kernel for StridedCopy {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<u8>(0)?;
        let out = io.output::<u8>(0)?;
        let total = numel(&self.shape);
        let es = self.es;
        if total == 0 {
            return Ok(());
        }
        let r = self.shape.len();
        if r == 0 {
            let s = self.offset as usize * es;
            out[..es].copy_from_slice(&x[s..s + es]);
            return Ok(());
        }
        let inner = self.shape[r - 1];
        let inner_stride = self.strides[r - 1];
        let mut idx = [0usize; MAX_RANK];
        let mut base = self.offset;
        let mut o = 0;
        for _ in 0..total / inner {
            if inner_stride == 1 {
                let s = base as usize * es;
                out[o..o + inner * es].copy_from_slice(&x[s..s + inner * es]);
                o += inner * es;
            } else {
                let mut p = base;
                for _ in 0..inner {
                    let s = p as usize * es;
                    out[o..o + es].copy_from_slice(&x[s..s + es]);
                    o += es;
                    p += inner_stride;
                }
            }
            for d in (0..r - 1).rev() {
                idx[d] += 1;
                base += self.strides[d];
                if idx[d] < self.shape[d] {
                    break;
                }
                base -= self.strides[d] * self.shape[d] as isize;
                idx[d] = 0;
            }
        }
        Ok(())
    }
}

impl StridedCopy {
    /// Checks that every element read lies inside an input of `len` elements.
    fn check(&self, ctx: &PrepareCtx<'_>, len: usize) -> Result<()> {
        if numel(&self.shape) == 0 {
            return Ok(());
        }
        let (mut lo, mut hi) = (self.offset, self.offset);
        for (&n, &s) in self.shape.iter().zip(&self.strides) {
            let span = s * (n as isize - 1);
            if span < 0 {
                lo += span;
            } else {
                hi += span;
            }
        }
        if lo < 0 || hi >= len as isize {
            return Err(ctx.err("slice reaches outside its input"));
        }
        Ok(())
    }
}

fn row_strides(shape: &[usize]) -> Vec<isize> {
    let mut s = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for d in (0..shape.len()).rev() {
        s[d] = acc;
        acc *= shape[d] as isize;
    }
    s
}

pub(crate) fn prepare_strided_slice(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let Some(o) = (match ctx.options {
        BuiltinOptions::StridedSliceOptions(o) => Some((**o).clone()),
        BuiltinOptions::NONE => Some(Default::default()),
        _ => None,
    }) else {
        return Err(ctx.err("unexpected options"));
    };
    let input = ctx.input(0)?.clone();
    check_rank(ctx, &input.shape)?;
    let r = input.shape.len();
    let begin = ctx.value_i64(1)?;
    let end = ctx.value_i64(2)?;
    let strides = match ctx.opt_input(3)? {
        Some(_) => ctx.value_i64(3)?,
        None => vec![1; begin.len()],
    };
    if end.len() != begin.len() || strides.len() != begin.len() {
        return Err(ctx.err(format!(
            "begin/end/strides of lengths {}/{}/{}",
            begin.len(),
            end.len(),
            strides.len()
        )));
    }
    // TensorFlow's sparse → dense spec: an ellipsis expands to the input dimensions no
    // other entry names; a new axis adds an output dimension of 1 and reads none.
    let bit = |m: i32, i: usize| i < 31 && m & (1 << i) != 0;
    let spec_len = begin.len();
    let named = (0..spec_len)
        .filter(|&i| !bit(o.new_axis_mask, i) && !bit(o.ellipsis_mask, i))
        .count();
    if (0..spec_len).filter(|&i| bit(o.ellipsis_mask, i)).count() > 1 {
        return Err(ctx.err("more than one ellipsis"));
    }
    // Each dense entry: Some((begin, end, stride, begin_mask, end_mask, shrink)) for an
    // input dimension, None for a new axis.
    type Dense = Option<(i64, i64, i64, bool, bool, bool)>;
    let mut dense: Vec<Dense> = Vec::new();
    let mut inputs_named = 0usize;
    for i in 0..spec_len {
        if bit(o.ellipsis_mask, i) {
            let fill = r.saturating_sub(named);
            for _ in 0..fill {
                dense.push(Some((0, 0, 1, true, true, false)));
            }
            inputs_named += fill;
        } else if bit(o.new_axis_mask, i) {
            dense.push(None);
        } else {
            dense.push(Some((
                begin[i],
                end[i],
                strides[i],
                bit(o.begin_mask, i),
                bit(o.end_mask, i),
                bit(o.shrink_axis_mask, i),
            )));
            inputs_named += 1;
        }
    }
    if inputs_named > r {
        return Err(ctx.err(format!("a slice spec of {spec_len} entries for rank {r}")));
    }
    for _ in inputs_named..r {
        dense.push(Some((0, 0, 1, true, true, false)));
    }
    let in_strides = row_strides(&input.shape);
    let mut shape = Vec::new();
    let mut out_shape = Vec::new();
    let mut steps = Vec::new();
    let mut offset = 0isize;
    let mut d = 0usize;
    for entry in dense {
        let Some((b, e, s, begin_m, end_m, shrink)) = entry else {
            out_shape.push(1);
            continue;
        };
        let n = input.shape[d] as i64;
        if s == 0 {
            return Err(ctx.err(format!("stride 0 on axis {d}")));
        }
        let e = if o.offset { e.saturating_add(b) } else { e };
        let mut start = if begin_m {
            if s > 0 { 0 } else { n - 1 }
        } else if b < 0 {
            b + n
        } else {
            b
        };
        start = if s > 0 {
            start.clamp(0, n)
        } else {
            start.clamp(-1, n - 1)
        };
        let stop = if shrink {
            start + 1
        } else {
            let mut stop = if end_m {
                if s > 0 { n } else { -1 }
            } else if e < 0 {
                e + n
            } else {
                e
            };
            stop = if s > 0 {
                stop.clamp(0, n)
            } else {
                stop.clamp(-1, n - 1)
            };
            stop
        };
        let len = if s > 0 {
            if stop > start {
                (stop - start + s - 1) / s
            } else {
                0
            }
        } else if start > stop {
            (start - stop + (-s) - 1) / (-s)
        } else {
            0
        };
        if shrink && (len != 1 || start < 0 || start >= n) {
            return Err(ctx.err(format!(
                "shrink axis {d}: index {b} out of range for size {n}"
            )));
        }
        let len = len as usize;
        if len > 0 {
            offset += start as isize * in_strides[d];
        }
        shape.push(len);
        steps.push(s as isize * in_strides[d]);
        if !shrink {
            out_shape.push(len);
        }
        d += 1;
    }
    let es = elem_size(ctx, &input)?;
    let k = StridedCopy {
        shape,
        strides: steps,
        offset,
        es,
    };
    k.check(ctx, input.num_elements())?;
    ctx.expect_output_type(0, input.ty)?;
    ctx.set_output_shape(0, out_shape)?;
    Prepared::new(k)
}

pub(crate) fn prepare_transpose(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let input = ctx.input(0)?.clone();
    check_rank(ctx, &input.shape)?;
    let r = input.shape.len();
    let perm = ctx.value_i64(1)?;
    if perm.len() != r {
        return Err(ctx.err(format!("perm {perm:?} for rank {r}")));
    }
    let mut seen = vec![false; r];
    let mut axes = Vec::with_capacity(r);
    for &p in &perm {
        let a = norm_axis(ctx, p, r)?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(ctx.err(format!("perm {perm:?} repeats axis {a}")));
        }
        axes.push(a);
    }
    let in_strides = row_strides(&input.shape);
    let k = StridedCopy {
        shape: axes.iter().map(|&a| input.shape[a]).collect(),
        strides: axes.iter().map(|&a| in_strides[a]).collect(),
        offset: 0,
        es: elem_size(ctx, &input)?,
    };
    k.check(ctx, input.num_elements())?;
    ctx.expect_output_type(0, input.ty)?;
    ctx.set_output_shape(0, k.shape.clone())?;
    Prepared::new(k)
}

/// Interleaves inputs along an axis: for each of `outer` blocks, input `i` contributes
/// `inner[i]` bytes (PACK, CONCATENATION).
struct Interleave {
    outer: usize,
    inner: Vec<usize>,
    /// int8 requantization per input (`None`: plain copy).
    requant: Vec<Option<(f32, i32, i32)>>,
    /// Float clamp of a fused activation.
    clamp: Option<(f32, f32)>,
}

impl Kernel for Interleave {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let out = io.output::<u8>(0)?;
        let mut o = 0;
        for b in 0..self.outer {
            for (i, &n) in self.inner.iter().enumerate() {
                let x = io.input::<u8>(i)?;
                let src = &x[b * n..(b + 1) * n];
                let dst = &mut out[o..o + n];
                match self.requant.get(i).copied().flatten() {
                    None => dst.copy_from_slice(src),
                    Some((scale, zi, zo)) => {
                        for (d, &s) in dst.iter_mut().zip(src) {
                            let v = (((s as i8) as i32 - zi) as f32 * scale).round() as i32;
                            *d = (v.saturating_add(zo).clamp(-128, 127) as i8) as u8;
                        }
                    }
                }
                o += n;
            }
        }
        if let Some((lo, hi)) = self.clamp {
            let out = super::super::tensor::cast_mut::<f32>(out)?;
            out.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
        }
        Ok(())
    }
}

pub(crate) fn prepare_pack(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let axis = match ctx.options {
        BuiltinOptions::PackOptions(o) => o.axis,
        _ => 0,
    };
    let n = ctx.n_inputs();
    if n == 0 {
        return Err(ctx.err("no inputs"));
    }
    let first = ctx.input(0)?.clone();
    for i in 1..n {
        let t = ctx.input(i)?;
        if t.shape != first.shape || t.ty != first.ty {
            return Err(ctx.err(format!(
                "inputs differ: {:?} {} vs {:?} {}",
                first.shape,
                format::type_name(first.ty),
                t.shape,
                format::type_name(t.ty)
            )));
        }
    }
    let a = norm_axis(ctx, axis.into(), first.shape.len() + 1)?;
    let es = elem_size(ctx, &first)?;
    let outer = numel(&first.shape[..a]);
    let inner = numel(&first.shape[a..]) * es;
    let mut shape = first.shape.clone();
    shape.insert(a, n);
    ctx.expect_output_type(0, first.ty)?;
    ctx.set_output_shape(0, shape)?;
    Prepared::new(Interleave {
        outer,
        inner: vec![inner; n],
        requant: vec![],
        clamp: None,
    })
}

pub(crate) fn prepare_concat(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let (axis, act) = match ctx.options {
        BuiltinOptions::ConcatenationOptions(o) => (o.axis, o.fused_activation_function),
        _ => (0, ActivationFunctionType::NONE),
    };
    let n = ctx.n_inputs();
    if n == 0 {
        return Err(ctx.err("no inputs"));
    }
    let first = ctx.input(0)?.clone();
    let r = first.shape.len();
    let a = norm_axis(ctx, axis.into(), r)?;
    let es = elem_size(ctx, &first)?;
    let out_ty = ctx.output(0)?.ty;
    let mut shape = first.shape.clone();
    shape[a] = 0;
    let mut inner = Vec::with_capacity(n);
    let mut requant = Vec::with_capacity(n);
    let out_q = if out_ty == TensorType::INT8 {
        Some(ctx.output(0)?.qparams(&ctx.who())?)
    } else {
        None
    };
    for i in 0..n {
        let t = ctx.input(i)?;
        let same_rest = t.shape.len() == r
            && t.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(d, (x, y))| d == a || x == y);
        if !same_rest || t.ty != first.ty {
            return Err(ctx.err(format!(
                "input {i} of shape {:?} does not concatenate with {:?} on axis {a}",
                t.shape, first.shape
            )));
        }
        shape[a] += t.shape[a];
        inner.push(numel(&t.shape[a..]) * es);
        requant.push(match out_q {
            Some((so, zo)) => {
                let (si, zi) = t.qparams(&ctx.who())?;
                if (si, zi) == (so, zo) {
                    None
                } else {
                    Some((si / so, zi, zo))
                }
            }
            None => None,
        });
    }
    ctx.expect_output_type(0, first.ty)?;
    let clamp = match (first.ty, act) {
        (_, ActivationFunctionType::NONE) => None,
        (TensorType::FLOAT32, act) => Some(activation_range_f32(ctx, act)?),
        _ => return Err(ctx.unsupported("fused activation on a non-float concatenation")),
    };
    let outer = numel(&first.shape[..a]);
    ctx.set_output_shape(0, shape)?;
    Prepared::new(Interleave {
        outer,
        inner,
        requant,
        clamp,
    })
}

/// Fills the output with a value, then copies the input's rows into place.
struct Pad {
    in_shape: Vec<usize>,
    out_strides: Vec<usize>,
    before: Vec<usize>,
    es: usize,
    value: Vec<u8>,
}

impl Kernel for Pad {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<u8>(0)?;
        let out = io.output::<u8>(0)?;
        let es = self.es;
        for chunk in out.chunks_exact_mut(es) {
            chunk.copy_from_slice(&self.value);
        }
        let total = numel(&self.in_shape);
        let r = self.in_shape.len();
        if total == 0 || r == 0 {
            if r == 0 && total == 1 {
                out[..es].copy_from_slice(&x[..es]);
            }
            return Ok(());
        }
        let inner = self.in_shape[r - 1];
        let mut idx = [0usize; MAX_RANK];
        for row in 0..total / inner {
            let mut o = self.before[r - 1];
            for d in 0..r - 1 {
                o += (idx[d] + self.before[d]) * self.out_strides[d];
            }
            let s = row * inner * es;
            out[o * es..(o + inner) * es].copy_from_slice(&x[s..s + inner * es]);
            for d in (0..r - 1).rev() {
                idx[d] += 1;
                if idx[d] < self.in_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(())
    }
}

pub(crate) fn prepare_pad(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    let input = ctx.input(0)?.clone();
    check_rank(ctx, &input.shape)?;
    let r = input.shape.len();
    let pads = ctx.value_i64(1)?;
    if pads.len() != 2 * r {
        return Err(ctx.err(format!("paddings of {} values for rank {r}", pads.len())));
    }
    let es = elem_size(ctx, &input)?;
    let value: Vec<u8> = match ctx.opt_input(2)? {
        Some(v) => {
            if v.ty != input.ty {
                return Err(ctx.err("constant value type differs from the input's"));
            }
            let k = ctx.const_bytes(2)?;
            k.get(..es)
                .ok_or_else(|| ctx.err("empty constant value"))?
                .to_vec()
        }
        None if input.ty == TensorType::INT8 => {
            let (_, zp) = ctx.output(0)?.qparams(&ctx.who())?;
            vec![(zp.clamp(-128, 127) as i8) as u8]
        }
        None => vec![0; es],
    };
    let mut before = Vec::with_capacity(r);
    let mut shape = Vec::with_capacity(r);
    for d in 0..r {
        let (b, a) = (pads[2 * d], pads[2 * d + 1]);
        let (Ok(b), Ok(a)) = (usize::try_from(b), usize::try_from(a)) else {
            return Err(ctx.unsupported(format!("negative padding {pads:?}")));
        };
        before.push(b);
        shape.push(input.shape[d] + b + a);
    }
    let out_strides = row_strides(&shape)
        .into_iter()
        .map(|s| s as usize)
        .collect();
    ctx.expect_output_type(0, input.ty)?;
    ctx.set_output_shape(0, shape)?;
    Prepared::new(Pad {
        in_shape: input.shape.clone(),
        out_strides,
        before,
        es,
        value,
    })
}
