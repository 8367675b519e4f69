//! `DepthwiseConv2dNative`: each input channel convolved with its own
//! `channel_multiplier` filters; output channel `c·M + m` (TensorFlow's order).
//!
//! A direct loop vectorized over the contiguous `C·M` output channels of a pixel,
//! parallel over output rows.

use super::conv2d::{check_filter_nonempty, conv_geom, rank4};
use super::geometry::{Geom, parse_window};
use super::typed::{BinaryKernel, ConvElem, run_binary};
use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::kernels::alloc::alloc_zeroed;
use crate::kernels::parallel::PAR_THRESHOLD;
use crate::op::{Arity, InferContext, KernelContext, OpDef, Specs, spec1};
use crate::shape::PartialShape;
use crate::tensor::Tensor;
use rayon::prelude::*;

fn infer_depthwise(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, DTypeSet::FLOAT)?;
    let x = rank4(ctx, 0, "input")?;
    let f = rank4(ctx, 1, "depthwise filter")?;
    check_filter_nonempty(ctx, &f)?;
    let win = parse_window(ctx, true)?;
    if let (Some(c), Some(fc)) = (x[3], f[2])
        && c != fc
    {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "input channels ({c}) must equal filter in_channels ({fc}): input {x} vs filter {f}"
            ),
        ));
    }
    let ho = win.partial_dim(ctx.name(), 0, x[1], f[0])?;
    let wo = win.partial_dim(ctx.name(), 1, x[2], f[1])?;
    let out_c = match (f[2], f[3]) {
        (Some(c), Some(m)) => Some(c.checked_mul(m).ok_or_else(|| {
            Error::invalid(ctx.name(), format!("too many output channels: filter {f}"))
        })?),
        _ => None,
    };
    let out = PartialShape::new(&[x[0], ho, wo, out_c]);
    crate::ops::linalg::check_output_size(ctx.name(), &out)?;
    spec1(dt, out)
}

fn depthwise_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (x, f) = (ctx.input(0), ctx.input(1));
    let win = parse_window(&ctx.infer(), true)?;
    let geom = conv_geom(ctx.name(), &win, x, f)?;
    let shape = ctx.out_shape(0)?;
    let kernel = Depthwise {
        geom,
        multiplier: f.dims()[3],
    };
    Ok(vec![run_binary(ctx.name(), x, f, &shape, &kernel)?])
}

struct Depthwise {
    geom: Geom,
    multiplier: usize,
}

impl BinaryKernel for Depthwise {
    fn run<T: ConvElem>(&self, x: &[T], f: &[T]) -> Result<Vec<T>> {
        depthwise_forward(x, f, &self.geom, self.multiplier)
    }
}

/// `out[b, oy, ox, c·M + m] = Σ_{ky,kx} x[b, iy, ix, c] · f[ky, kx, c, m]`.
pub(crate) fn depthwise_forward<T: ConvElem>(
    x: &[T],
    f: &[T],
    g: &Geom,
    m: usize,
) -> Result<Vec<T>> {
    let c = g.c;
    let cm = c * m;
    let row_len = g.wo * cm;
    let mut out = alloc_zeroed::<T>(g.n * g.ho * row_len)?;
    if out.is_empty() {
        return Ok(out);
    }
    // Each row is compiled for the best SIMD level the CPU has (AVX-512 here).
    let out_row =
        |(r, dst): (usize, &mut [T])| pulp::Arch::new().dispatch(DwRow { x, f, g, m, r, dst });
    let work = out.len().saturating_mul(g.kh * g.kw);
    if work >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(row_len).enumerate().for_each(out_row);
    } else {
        out.chunks_mut(row_len).enumerate().for_each(out_row);
    }
    Ok(out)
}

/// One output row as a SIMD-dispatched job.
struct DwRow<'a, T> {
    x: &'a [T],
    f: &'a [T],
    g: &'a Geom,
    m: usize,
    r: usize,
    dst: &'a mut [T],
}

impl<T: ConvElem> pulp::WithSimd for DwRow<'_, T> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        depthwise_row(self.x, self.f, self.g, self.m, self.r, self.dst)
    }
}

/// Channels accumulated in registers at a time by the multiplier-1 path.
const BLOCK: usize = 64;

/// Output row `r` (`b·ho + oy`) of a depthwise convolution into `dst` (`wo·C·M`).
#[inline(always)]
fn depthwise_row<T: ConvElem>(x: &[T], f: &[T], g: &Geom, m: usize, r: usize, dst: &mut [T]) {
    let c = g.c;
    let cm = c * m;
    let img_len = g.h * g.w * c;
    let (b, oy) = (r / g.ho, r % g.ho);
    let img = &x[b * img_len..(b + 1) * img_len];
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(g.kh * g.kw);
    for (ox, out) in dst.chunks_exact_mut(cm).enumerate() {
        // (input pixel offset, filter tap offset) of the window's valid positions.
        taps.clear();
        for ky in g.ky_range(oy) {
            let iy = oy * g.sh + ky * g.dh - g.pt;
            for kx in g.kx_range(ox) {
                let ix = ox * g.sw + kx * g.dw - g.pl;
                taps.push(((iy * g.w + ix) * c, (ky * g.kw + kx) * cm));
            }
        }
        if m == 1 {
            // Blocks of BLOCK channels accumulate in registers across the taps.
            let mut c0 = 0;
            while c0 + BLOCK <= c {
                let mut acc = [T::ZERO; BLOCK];
                for &(xo, wo) in &taps {
                    let xin = &img[xo + c0..xo + c0 + BLOCK];
                    let wk = &f[wo + c0..wo + c0 + BLOCK];
                    for i in 0..BLOCK {
                        acc[i] = T::add(acc[i], T::mul(xin[i], wk[i]));
                    }
                }
                out[c0..c0 + BLOCK].copy_from_slice(&acc);
                c0 += BLOCK;
            }
            let rest = &mut out[c0..];
            for &(xo, wo) in &taps {
                let xin = &img[xo + c0..xo + c];
                let wk = &f[wo + c0..wo + c];
                for ((a, &xv), &wv) in rest.iter_mut().zip(xin).zip(wk) {
                    *a = T::add(*a, T::mul(xv, wv));
                }
            }
        } else {
            for &(xo, wo) in &taps {
                let xin = &img[xo..xo + c];
                let wk = &f[wo..wo + cm];
                for ((a, &xv), w) in out.chunks_exact_mut(m).zip(xin).zip(wk.chunks_exact(m)) {
                    for (a, &wv) in a.iter_mut().zip(w) {
                        *a = T::add(*a, T::mul(xv, wv));
                    }
                }
            }
        }
    }
}

/// Depthwise 2-D convolution: input `[batch, h, w, in]`, filter `[kh, kw, in,
/// multiplier]`, output `[batch, out_h, out_w, in·multiplier]` with channel `c·M + m`
/// from input channel `c` and filter `m`. Same window attributes as `Conv2D`.
pub static DEPTHWISE_CONV2D: OpDef =
    OpDef::new("DepthwiseConv2dNative", Arity::Fixed(2), infer_depthwise)
        .cpu(DTypeSet::FLOAT, depthwise_kernel);
