//! The gradients of `DepthwiseConv2dNative`: `DepthwiseConv2dNativeBackpropInput` and
//! `DepthwiseConv2dNativeBackpropFilter`.
//!
//! * Input gradient: each input pixel gathers, over the filter taps whose window
//!   position lands on it, `Σ_m dy[c·M + m] · f[tap, c, m]` (a direct loop over the
//!   contiguous channels, parallel over input rows: every element is written by one
//!   task).
//! * Filter gradient: `df[tap, c·M + m] += x[c] · dy[c·M + m]` over the output pixels,
//!   in groups of output rows whose number depends only on the shapes; each group
//!   fills its own partial filter, and the partials are added in group order (the
//!   result is the same on any thread count).

use super::backprop_filter::{FILTER_SIZES, reduce_partials};
use super::backprop_shapes::{ConvKind, check_backprop_shapes, dims4, sizes_attr};
use super::conv2d::{check_filter_nonempty, rank4};
use super::geometry::{Geom, parse_window};
use super::transpose::INPUT_SIZES;
use super::typed::{BinaryKernel, ConvElem, run_binary};
use crate::dtype::DTypeSet;
use crate::error::Result;
use crate::kernels::alloc::alloc_zeroed;
use crate::kernels::parallel::PAR_THRESHOLD;
use crate::op::{Arity, InferContext, KernelContext, OpDef, Specs, spec1};
use crate::shape::PartialShape;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Channels accumulated in registers at a time by the multiplier-1 input gradient.
const BLOCK: usize = 64;

/// At most this many partial filters per call.
const MAX_GROUPS: usize = 16;

/// Multiply-adds a group of output rows should at least hold.
const GROUP_WORK: usize = 1 << 16;

/// Memory the partial filters may take together.
const PARTIAL_BYTES: usize = 16 << 20;

fn infer_backprop_input(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, DTypeSet::FLOAT)?;
    let f = rank4(ctx, 0, "depthwise filter")?;
    let dy = rank4(ctx, 1, "out_backprop")?;
    check_filter_nonempty(ctx, &f)?;
    let sizes = sizes_attr(ctx, "input_sizes", INPUT_SIZES)?;
    let x = PartialShape::known(&sizes);
    let win = parse_window(ctx, true)?;
    check_backprop_shapes(
        ctx,
        &win,
        ConvKind::Depthwise,
        [&x, &f, &dy],
        ["input_sizes", "filter"],
    )?;
    crate::ops::linalg::check_output_size(ctx.name(), &x)?;
    spec1(dt, x)
}

fn infer_backprop_filter(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, DTypeSet::FLOAT)?;
    let x = rank4(ctx, 0, "input")?;
    let dy = rank4(ctx, 1, "out_backprop")?;
    let sizes = sizes_attr(ctx, "filter_sizes", FILTER_SIZES)?;
    let f = PartialShape::known(&sizes);
    check_filter_nonempty(ctx, &f)?;
    let win = parse_window(ctx, true)?;
    check_backprop_shapes(
        ctx,
        &win,
        ConvKind::Depthwise,
        [&x, &f, &dy],
        ["input", "filter_sizes"],
    )?;
    crate::ops::linalg::check_output_size(ctx.name(), &f)?;
    spec1(dt, f)
}

fn backprop_input_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (f, dy) = (ctx.input(0), ctx.input(1));
    let infer = ctx.infer();
    let win = parse_window(&infer, true)?;
    let sizes = sizes_attr(&infer, "input_sizes", INPUT_SIZES)?;
    let fd = dims4(ctx.name(), f)?;
    let geom = Geom::new(ctx.name(), &win, sizes, [fd[0], fd[1]])?;
    let shape = ctx.out_shape(0)?;
    // Operand order of the generic kernel: (out_backprop, filter).
    let kernel = BackpropInput {
        geom,
        multiplier: fd[3],
    };
    Ok(vec![run_binary(ctx.name(), dy, f, &shape, &kernel)?])
}

fn backprop_filter_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (x, dy) = (ctx.input(0), ctx.input(1));
    let infer = ctx.infer();
    let win = parse_window(&infer, true)?;
    let sizes = sizes_attr(&infer, "filter_sizes", FILTER_SIZES)?;
    let geom = Geom::new(
        ctx.name(),
        &win,
        dims4(ctx.name(), x)?,
        [sizes[0], sizes[1]],
    )?;
    let shape = ctx.out_shape(0)?;
    let kernel = BackpropFilter {
        geom,
        multiplier: sizes[3],
    };
    Ok(vec![run_binary(ctx.name(), x, dy, &shape, &kernel)?])
}

struct BackpropInput {
    geom: Geom,
    multiplier: usize,
}

impl BinaryKernel for BackpropInput {
    fn run<T: ConvElem>(&self, dy: &[T], f: &[T]) -> Result<Vec<T>> {
        depthwise_backprop_input(dy, f, &self.geom, self.multiplier)
    }
}

struct BackpropFilter {
    geom: Geom,
    multiplier: usize,
}

impl BinaryKernel for BackpropFilter {
    fn run<T: ConvElem>(&self, x: &[T], dy: &[T]) -> Result<Vec<T>> {
        depthwise_backprop_filter(x, dy, &self.geom, self.multiplier)
    }
}

/// Output index reached from input index `i` by tap `k` on one axis: `o` with
/// `o·s + k·d - pad == i`, if any in `0..out`.
#[inline(always)]
fn source(i: usize, k: usize, s: usize, d: usize, pad: usize, out: usize) -> Option<usize> {
    let t = (i + pad).checked_sub(k * d)?;
    (t % s == 0 && t / s < out).then_some(t / s)
}

/// `dx[b, iy, ix, c] = Σ_{taps} Σ_m dy[b, oy, ox, c·M + m] · f[ky, kx, c, m]`.
pub(crate) fn depthwise_backprop_input<T: ConvElem>(
    dy: &[T],
    f: &[T],
    g: &Geom,
    m: usize,
) -> Result<Vec<T>> {
    let row_len = g.w * g.c;
    let mut dx = alloc_zeroed::<T>(g.n * g.h * row_len)?;
    if dx.is_empty() || m == 0 || g.ho == 0 || g.wo == 0 {
        return Ok(dx);
    }
    let row = |taps: &mut Vec<(usize, usize)>, (r, dst): (usize, &mut [T])| {
        pulp::Arch::new().dispatch(InputRow {
            dy,
            f,
            g,
            m,
            r,
            dst,
            taps,
        })
    };
    let work = dx.len().saturating_mul(m * g.kh * g.kw);
    if work >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        dx.par_chunks_mut(row_len)
            .enumerate()
            .for_each_init(Vec::new, row);
    } else {
        let mut taps = Vec::new();
        for item in dx.chunks_mut(row_len).enumerate() {
            row(&mut taps, item);
        }
    }
    Ok(dx)
}

/// One input-gradient row as a SIMD-dispatched job.
struct InputRow<'a, T> {
    dy: &'a [T],
    f: &'a [T],
    g: &'a Geom,
    m: usize,
    r: usize,
    dst: &'a mut [T],
    taps: &'a mut Vec<(usize, usize)>,
}

impl<T: ConvElem> pulp::WithSimd for InputRow<'_, T> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let InputRow {
            dy,
            f,
            g,
            m,
            r,
            dst,
            taps,
        } = self;
        let c = g.c;
        let cm = c * m;
        let (b, iy) = (r / g.h, r % g.h);
        let dyi = &dy[b * g.ho * g.wo * cm..(b + 1) * g.ho * g.wo * cm];
        for (ix, out) in dst.chunks_exact_mut(c).enumerate() {
            // (dy pixel offset, filter tap offset) of every tap landing on (iy, ix).
            taps.clear();
            for ky in 0..g.kh {
                let Some(oy) = source(iy, ky, g.sh, g.dh, g.pt, g.ho) else {
                    continue;
                };
                for kx in 0..g.kw {
                    if let Some(ox) = source(ix, kx, g.sw, g.dw, g.pl, g.wo) {
                        taps.push(((oy * g.wo + ox) * cm, (ky * g.kw + kx) * cm));
                    }
                }
            }
            if m == 1 {
                let mut c0 = 0;
                while c0 + BLOCK <= c {
                    let mut acc = [T::ZERO; BLOCK];
                    for &(yo, fo) in taps.iter() {
                        let dv = &dyi[yo + c0..yo + c0 + BLOCK];
                        let fv = &f[fo + c0..fo + c0 + BLOCK];
                        for i in 0..BLOCK {
                            acc[i] = T::add(acc[i], T::mul(dv[i], fv[i]));
                        }
                    }
                    out[c0..c0 + BLOCK].copy_from_slice(&acc);
                    c0 += BLOCK;
                }
                let rest = &mut out[c0..];
                for &(yo, fo) in taps.iter() {
                    let dv = &dyi[yo + c0..yo + c];
                    let fv = &f[fo + c0..fo + c];
                    for ((a, &d), &w) in rest.iter_mut().zip(dv).zip(fv) {
                        *a = T::add(*a, T::mul(d, w));
                    }
                }
            } else {
                for &(yo, fo) in taps.iter() {
                    let dv = &dyi[yo..yo + cm];
                    let fv = &f[fo..fo + cm];
                    for ((a, d), w) in out
                        .iter_mut()
                        .zip(dv.chunks_exact(m))
                        .zip(fv.chunks_exact(m))
                    {
                        let mut s = *a;
                        for (&d, &w) in d.iter().zip(w) {
                            s = T::add(s, T::mul(d, w));
                        }
                        *a = s;
                    }
                }
            }
        }
    }
}

/// `df[ky, kx, c, m] = Σ_{b, oy, ox} x[b, iy, ix, c] · dy[b, oy, ox, c·M + m]`.
pub(crate) fn depthwise_backprop_filter<T: ConvElem>(
    x: &[T],
    dy: &[T],
    g: &Geom,
    m: usize,
) -> Result<Vec<T>> {
    let cm = g.c * m;
    let flen = g.kh * g.kw * cm;
    let mut df = alloc_zeroed::<T>(flen)?;
    let rows = g.n * g.ho;
    if flen == 0 || rows == 0 || g.wo == 0 {
        return Ok(df);
    }
    // Groups from the shapes only (the summation order never depends on threads).
    let row_work = (g.wo * cm).saturating_mul(g.kh.min(g.h) * g.kw.min(g.w));
    let by_work = row_work.saturating_mul(rows) / GROUP_WORK;
    let by_memory = PARTIAL_BYTES / (flen * std::mem::size_of::<T>());
    let groups = by_work.min(MAX_GROUPS).min(by_memory).min(rows).max(1);
    let per_group = rows.div_ceil(groups);
    let groups = rows.div_ceil(per_group);
    let mut partials = alloc_zeroed::<T>((groups - 1) * flen)?;
    let accs: Vec<&mut [T]> = std::iter::once(&mut df[..])
        .chain(partials.chunks_mut(flen))
        .collect();
    let group = |(gi, acc): (usize, &mut [T])| {
        let rows = gi * per_group..((gi + 1) * per_group).min(rows);
        pulp::Arch::new().dispatch(FilterRows {
            x,
            dy,
            g,
            m,
            rows,
            acc,
        })
    };
    let parallel = groups > 1 && rayon::current_num_threads() > 1;
    if parallel {
        accs.into_par_iter().enumerate().for_each(group);
    } else {
        accs.into_iter().enumerate().for_each(group);
    }
    reduce_partials(&mut df, &partials, parallel);
    Ok(df)
}

/// Output rows `rows` (`b·ho + oy`) of the filter gradient, summed into `acc`, as a
/// SIMD-dispatched job.
struct FilterRows<'a, T> {
    x: &'a [T],
    dy: &'a [T],
    g: &'a Geom,
    m: usize,
    rows: std::ops::Range<usize>,
    acc: &'a mut [T],
}

impl<T: ConvElem> pulp::WithSimd for FilterRows<'_, T> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let FilterRows {
            x,
            dy,
            g,
            m,
            rows,
            acc,
        } = self;
        let c = g.c;
        let cm = c * m;
        let img_len = g.h * g.w * c;
        for r in rows {
            let (b, oy) = (r / g.ho, r % g.ho);
            let img = &x[b * img_len..(b + 1) * img_len];
            for ox in 0..g.wo {
                let p = r * g.wo + ox;
                let dv = &dy[p * cm..(p + 1) * cm];
                for ky in g.ky_range(oy) {
                    let iy = oy * g.sh + ky * g.dh - g.pt;
                    for kx in g.kx_range(ox) {
                        let ix = ox * g.sw + kx * g.dw - g.pl;
                        let xv = &img[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                        let tap = (ky * g.kw + kx) * cm;
                        let a = &mut acc[tap..tap + cm];
                        if m == 1 {
                            for ((a, &xv), &d) in a.iter_mut().zip(xv).zip(dv) {
                                *a = T::add(*a, T::mul(xv, d));
                            }
                        } else {
                            for ((a, &xv), d) in
                                a.chunks_exact_mut(m).zip(xv).zip(dv.chunks_exact(m))
                            {
                                for (a, &d) in a.iter_mut().zip(d) {
                                    *a = T::add(*a, T::mul(xv, d));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The gradient of `DepthwiseConv2dNative` with respect to its input: inputs `filter`
/// `[kh, kw, in, multiplier]` and `out_backprop` `[batch, out_h, out_w,
/// in·multiplier]`; attr `input_sizes` (the result's shape `[batch, h, w, in]`) plus
/// the window attributes. Float dtypes.
pub static DEPTHWISE_CONV2D_BACKPROP_INPUT: OpDef = OpDef::new(
    "DepthwiseConv2dNativeBackpropInput",
    Arity::Fixed(2),
    infer_backprop_input,
)
.cpu(DTypeSet::FLOAT, backprop_input_kernel);

/// The gradient of `DepthwiseConv2dNative` with respect to its filter: inputs `input`
/// `[batch, h, w, in]` and `out_backprop`; attr `filter_sizes` (the result's shape
/// `[kh, kw, in, multiplier]`) plus the window attributes. Float dtypes.
pub static DEPTHWISE_CONV2D_BACKPROP_FILTER: OpDef = OpDef::new(
    "DepthwiseConv2dNativeBackpropFilter",
    Arity::Fixed(2),
    infer_backprop_filter,
)
.cpu(DTypeSet::FLOAT, backprop_filter_kernel);
