//! `Conv2DBackpropInput` (`tf.nn.conv2d_transpose`): the gradient of `Conv2D` with
//! respect to its input, as GEMM + col2im.
//!
//! For each tile of `out_backprop` pixels, `cols = dy_tile [pixels, O] × filterᵀ
//! [O, kh·kw·C]` (the transpose is a stride swap, no copy), then every column block is
//! added into the input-gradient pixel its window position maps to. Images run in
//! parallel (single-threaded GEMMs inside); a single image uses the multi-threaded GEMM.

use super::conv2d::{
    CONV_DTYPES, check_filter_nonempty, input_is_patch_matrix, rank4, tile_pixels,
};
use super::geometry::{Geom, parse_window};
use super::typed::{BinaryKernel, ConvElem, run_binary};
use crate::error::{Error, Result};
use crate::kernels::alloc::alloc_zeroed;
use crate::op::{Arity, AttrValue, InferContext, KernelContext, OpDef, Specs, spec1};
use crate::ops::linalg::gemm::{GEMM_PAR_WORK, MatRef};
use crate::shape::PartialShape;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// The `input_sizes` attribute: four non-negative sizes.
fn input_sizes(ctx: &InferContext<'_>) -> Result<[usize; 4]> {
    let v = match ctx.attrs.get("input_sizes") {
        Some(AttrValue::Ints(v)) => v,
        Some(other) => {
            return Err(Error::invalid(
                ctx.name(),
                format!("attribute 'input_sizes' must be a list of ints, got {other}"),
            ));
        }
        None => {
            return Err(Error::invalid(
                ctx.name(),
                "missing attribute 'input_sizes'",
            ));
        }
    };
    if v.len() != 4 || v.iter().any(|&d| d < 0) {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "input_sizes (the output shape) must be 4 non-negative sizes [batch, height, width, channels], got {v:?}"
            ),
        ));
    }
    let mut out = [0usize; 4];
    for (o, &d) in out.iter_mut().zip(v) {
        *o = usize::try_from(d)
            .map_err(|_| Error::invalid(ctx.name(), format!("input_sizes too large: {v:?}")))?;
    }
    Ok(out)
}

fn infer_backprop_input(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, CONV_DTYPES)?;
    let f = rank4(ctx, 0, "filter")?;
    let dy = rank4(ctx, 1, "out_backprop")?;
    check_filter_nonempty(ctx, &f)?;
    let sizes = input_sizes(ctx)?;
    let win = parse_window(ctx, true)?;
    let input = PartialShape::known(&sizes);
    let mismatch = |what: &str| {
        Error::invalid(
            ctx.name(),
            format!("{what}: output shape {input}, filter {f}, out_backprop {dy}"),
        )
    };
    if dy[0].is_some_and(|n| n != sizes[0]) {
        return Err(mismatch(
            "output shape and out_backprop must have the same batch size",
        ));
    }
    if f[2].is_some_and(|c| c != sizes[3]) {
        return Err(mismatch(
            "output depth must equal filter in_channels (dimension 2)",
        ));
    }
    if let (Some(a), Some(b)) = (f[3], dy[3])
        && a != b
    {
        return Err(mismatch(
            "filter out_channels (dimension 3) must equal out_backprop depth",
        ));
    }
    for axis in 0..2 {
        let computed = win.partial_dim(ctx.name(), axis, Some(sizes[1 + axis]), f[axis])?;
        if let (Some(c), Some(actual)) = (computed, dy[1 + axis])
            && c != actual
        {
            return Err(Error::invalid(
                ctx.name(),
                format!(
                    "size of out_backprop doesn't match computed: actual = {actual}, computed = {c} spatial_dim: {} input: {} filter: {} stride: {} dilation: {} (output shape {input}, filter {f}, out_backprop {dy})",
                    axis + 1,
                    sizes[1 + axis],
                    f[axis].map_or("?".to_string(), |k| k.to_string()),
                    win.strides[axis],
                    win.dilations[axis],
                ),
            ));
        }
    }
    crate::ops::linalg::check_output_size(ctx.name(), &input)?;
    spec1(dt, input)
}

fn backprop_input_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (f, dy) = (ctx.input(0), ctx.input(1));
    let infer = ctx.infer();
    let win = parse_window(&infer, true)?;
    let sizes = input_sizes(&infer)?;
    let fd = f.dims();
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
