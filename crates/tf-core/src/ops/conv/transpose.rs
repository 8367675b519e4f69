//! `Conv2DBackpropInput` (`tf.nn.conv2d_transpose`): the gradient of `Conv2D` with
//! respect to its input, as GEMM + col2im.
//!
//! For each tile of `out_backprop` pixels, `cols = dy_tile [pixels, O] × filterᵀ
//! [O, kh·kw·C]` (the transpose is a stride swap, no copy), then every column block is
//! added into the input-gradient pixel its window position maps to. Images run in
//! parallel (single-threaded GEMMs inside); a single image uses the multi-threaded GEMM.

use super::backprop_shapes::{ConvKind, check_backprop_shapes, dims4, sizes_attr};
use super::conv2d::{
    CONV_DTYPES, check_filter_nonempty, conv2d_forward, input_is_patch_matrix, rank4, tile_pixels,
};
use super::geometry::{Geom, parse_window};
use super::typed::{BinaryKernel, ConvElem, run_binary};
use crate::error::Result;
use crate::kernels::alloc::alloc_zeroed;
use crate::op::{Arity, InferContext, KernelContext, OpDef, Specs, spec1};
use crate::ops::linalg::gemm::{GEMM_PAR_WORK, MatRef};
use crate::shape::PartialShape;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Dimension names of the `input_sizes` attribute.
pub(crate) const INPUT_SIZES: &str = "[batch, height, width, channels]";

fn infer_backprop_input(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, CONV_DTYPES)?;
    let f = rank4(ctx, 0, "filter")?;
    let dy = rank4(ctx, 1, "out_backprop")?;
    check_filter_nonempty(ctx, &f)?;
    let sizes = sizes_attr(ctx, "input_sizes", INPUT_SIZES)?;
    let win = parse_window(ctx, true)?;
    let input = PartialShape::known(&sizes);
    check_backprop_shapes(
        ctx,
        &win,
        ConvKind::Conv,
        [&input, &f, &dy],
        ["input_sizes", "filter"],
    )?;
    crate::ops::linalg::check_output_size(ctx.name(), &input)?;
    spec1(dt, input)
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
        out_channels: fd[3],
    };
    Ok(vec![run_binary(ctx.name(), dy, f, &shape, &kernel)?])
}

struct BackpropInput {
    geom: Geom,
    out_channels: usize,
}

impl BinaryKernel for BackpropInput {
    fn run<T: ConvElem>(&self, dy: &[T], f: &[T]) -> Result<Vec<T>> {
        conv2d_backprop_input(dy, f, &self.geom, self.out_channels)
    }
}

/// `dx` (`[n, h, w, c]` of `g`) from `dy` (`[n, ho, wo, o]`) and the HWIO filter.
pub(crate) fn conv2d_backprop_input<T: ConvElem>(
    dy: &[T],
    f: &[T],
    g: &Geom,
    o: usize,
) -> Result<Vec<T>> {
    let k = g.kh * g.kw * g.c;
    let img_len = g.h * g.w * g.c;
    let mut dx = alloc_zeroed::<T>(g.n * img_len)?;
    let opix = g.ho * g.wo;
    if dx.is_empty() || o == 0 || opix == 0 {
        return Ok(dx);
    }
    let filter_t = MatRef::row_major(f, 0, k, o).t();
    if input_is_patch_matrix(g) {
        let rows = dx.len() / k;
        T::gemm(&mut dx, MatRef::row_major(dy, 0, rows, o), filter_t, true)?;
        return Ok(dx);
    }
    if let Some(fg) = as_forward_conv(g, o) {
        let flipped = flip_filter(f, g, o)?;
        return conv2d_forward(dy, &flipped, &fg, g.c);
    }
    let work = g.pixels().saturating_mul(o).saturating_mul(k);
    let threads = rayon::current_num_threads();
    let per_image = g.n >= threads && threads > 1 && work >= GEMM_PAR_WORK;
    // Parallel images want balanced tiles; one image at a time wants the largest
    // cache-sized tiles for its multi-threaded GEMM.
    let balance_over = if per_image { opix } else { usize::MAX };
    let tile = tile_pixels(k, std::mem::size_of::<T>(), balance_over).min(opix);
    let image = |cols: &mut Vec<T>, (b, dxi): (usize, &mut [T]), parallel: bool| -> Result<()> {
        let dyi = &dy[b * opix * o..(b + 1) * opix * o];
        for p0 in (0..opix).step_by(tile) {
            let rows = tile.min(opix - p0);
            let cols = &mut cols[..rows * k];
            let src = MatRef::row_major(dyi, p0 * o, rows, o);
            T::gemm(cols, src, filter_t, parallel)?;
            pulp::Arch::new().dispatch(ScatterAdd {
                cols,
                g,
                p0,
                dx: dxi,
            });
        }
        Ok(())
    };
    let new_cols = || vec![T::ZERO; tile * k];
    if per_image {
        dx.par_chunks_mut(img_len)
            .enumerate()
            .try_for_each_init(new_cols, |cols, item| image(cols, item, false))?;
    } else {
        let mut cols = new_cols();
        for item in dx.chunks_mut(img_len).enumerate() {
            image(&mut cols, item, true)?;
        }
    }
    Ok(dx)
}

/// The geometry of a stride-1 input gradient computed as a forward convolution: `dx`
/// is `dy` (`[n, ho, wo, o]`) convolved with the flipped filter, stride 1, same
/// dilation, padding before `(k - 1)·d - pad` (input row `iy` gathers `dy` rows
/// `iy + pad - ky·d`). `None` when strided, when the padding exceeds the effective
/// window (no such forward convolution), or when the forward form would multiply
/// far more padding than the scatter form does (VALID with a window large for the
/// image).
fn as_forward_conv(g: &Geom, o: usize) -> Option<Geom> {
    if g.sh != 1 || g.sw != 1 {
        return None;
    }
    let pt = ((g.kh - 1) * g.dh).checked_sub(g.pt)?;
    let pl = ((g.kw - 1) * g.dw).checked_sub(g.pl)?;
    // Output pixels of the forward form vs input-gradient pixels the scatter visits.
    if 2 * g.h * g.w > 3 * g.ho * g.wo {
        return None;
    }
    Some(Geom {
        n: g.n,
        h: g.ho,
        w: g.wo,
        c: o,
        kh: g.kh,
        kw: g.kw,
        ho: g.h,
        wo: g.w,
        sh: 1,
        sw: 1,
        dh: g.dh,
        dw: g.dw,
        pt,
        pl,
    })
}

/// The filter of [`as_forward_conv`]: `f'[ky, kx, m, c] = f[kh-1-ky, kw-1-kx, c, m]`
/// (spatially flipped, channels swapped) from the HWIO `f` `[kh, kw, c, o]`.
fn flip_filter<T: ConvElem>(f: &[T], g: &Geom, o: usize) -> Result<Vec<T>> {
    let (c, taps) = (g.c, g.kh * g.kw);
    let mut out = alloc_zeroed::<T>(taps * c * o)?;
    for (t, dst) in out.chunks_exact_mut(o * c).enumerate() {
        let src = &f[(taps - 1 - t) * c * o..(taps - t) * c * o];
        for (m, row) in dst.chunks_exact_mut(c).enumerate() {
            for (ci, d) in row.iter_mut().enumerate() {
                *d = src[ci * o + m];
            }
        }
    }
    Ok(out)
}

/// [`scatter_add`] as a SIMD-dispatched job (compiled for AVX-512 where present).
struct ScatterAdd<'a, T> {
    cols: &'a [T],
    g: &'a Geom,
    p0: usize,
    dx: &'a mut [T],
}

impl<T: ConvElem> pulp::WithSimd for ScatterAdd<'_, T> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        scatter_add(self.cols, self.g, self.p0, self.dx)
    }
}

/// col2im: adds each `(ky, kx)` column block of the tile's rows (output pixels
/// `p0..` of one image) into the input pixel it came from.
#[inline(always)]
fn scatter_add<T: ConvElem>(cols: &[T], g: &Geom, p0: usize, dx: &mut [T]) {
    let c = g.c;
    let k = g.kh * g.kw * c;
    let (mut oy, mut ox) = (p0 / g.wo, p0 % g.wo);
    for row in cols.chunks_exact(k) {
        for ky in g.ky_range(oy) {
            let iy = oy * g.sh + ky * g.dh - g.pt;
            for kx in g.kx_range(ox) {
                let ix = ox * g.sw + kx * g.dw - g.pl;
                let src = &row[(ky * g.kw + kx) * c..(ky * g.kw + kx + 1) * c];
                let at = (iy * g.w + ix) * c;
                for (d, &s) in dx[at..at + c].iter_mut().zip(src) {
                    *d = T::add(*d, s);
                }
            }
        }
        ox += 1;
        if ox == g.wo {
            ox = 0;
            oy += 1;
        }
    }
}

/// The gradient of `Conv2D` with respect to its input: inputs `filter` `[kh, kw, in,
/// out]` and `out_backprop` `[batch, out_h, out_w, out]`; attr `input_sizes` (the
/// result's shape `[batch, h, w, in]`, an attribute here rather than TensorFlow's
/// first input) plus Conv2D's window attributes.
pub static CONV2D_BACKPROP_INPUT: OpDef =
    OpDef::new("Conv2DBackpropInput", Arity::Fixed(2), infer_backprop_input)
        .cpu(CONV_DTYPES, backprop_input_kernel);
