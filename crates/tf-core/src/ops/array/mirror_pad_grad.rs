//! MirrorPadGrad: the adjoint of MirrorPad. Each element of the padded gradient is
//! added onto the input element it mirrors (TensorFlow semantics).
//!
//! The fold is separable: one pass per padded dimension shrinks it from its padded to
//! its unpadded size, each output row summing the 1 to 3 padded rows that copy it
//! (ascending order). Values accumulate in the dtype's accumulator (`f32` for halves,
//! `f64` for `f32`) across passes and round once.

use super::accum::Accum;
use super::copy::alloc_shape;
use super::pad_tile::{flat_paddings, mirror_checks, mirror_mode, mirror_source, paddings};
use crate::dtype::{DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::parallel::{fill_vec, map_into, zip_into};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;

/// The unpadded shape: each known dimension minus its paddings.
fn unpadded_shape(
    op: &'static str,
    shape: &PartialShape,
    pads: &[(usize, usize)],
) -> Result<PartialShape> {
    shape
        .iter()
        .zip(pads)
        .enumerate()
        .map(|(i, (d, &(b, a)))| match d {
            Some(d) => d
                .checked_sub(b)
                .and_then(|x| x.checked_sub(a))
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid(
                        op,
                        format!(
                            "paddings {b}, {a} of dimension {i} exceed its size {d} in the padded gradient shape {shape}"
                        ),
                    )
                }),
            None => Ok(None),
        })
        .collect()
}

fn infer_mirror_pad_grad(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let dtype = ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let shape = ctx.shape(0);
    let reflect = mirror_mode(op, ctx.attr_str("mode")?)?;
    let pads = paddings(op, &shape, ctx.attr_ints("paddings")?)?;
    let out = unpadded_shape(op, &shape, &pads)?;
    mirror_checks(op, &out, "output shape", &pads, reflect)?;
    spec1(dtype, out)
}

/// One pass: `src` is row-major `[outer, p, inner]` with `p = before + n + after`; the
/// result is `[outer, n, inner]`, row `(o, i)` summing the rows `(o, k)` that mirror
/// `i`, widened by `to` and narrowed by `from`.
#[allow(clippy::too_many_arguments)]
fn fold_dim<S, D, A>(
    src: &[S],
    outer: usize,
    (before, n, after): (usize, usize, usize),
    inner: usize,
    reflect: bool,
    to: impl Fn(S) -> A + Sync,
    add: impl Fn(A, A) -> A + Sync,
    from: impl Fn(A) -> D + Sync,
) -> Result<Vec<D>>
where
    S: Copy + Sync,
    D: Element,
    A: Copy,
{
    let total = outer * n * inner;
    if total == 0 {
        return Ok(Vec::new());
    }
    let p = before + n + after;
    // Preimages of each unpadded index, as CSR: pre[start[i]..start[i + 1]].
    let mut start = vec![0usize; n + 1];
    for k in 0..p {
        start[mirror_source(k, before, n, reflect) + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut pre = vec![0usize; p];
    let mut cursor = start.clone();
    for k in 0..p {
        let i = mirror_source(k, before, n, reflect);
        pre[cursor[i]] = k;
        cursor[i] += 1;
    }
    fill_vec(total, |first, chunk| {
        let mut row = first / inner;
        let mut col = first % inner;
        let mut pos = 0;
        while pos < chunk.len() {
            let take = (inner - col).min(chunk.len() - pos);
            let dst = &mut chunk[pos..pos + take];
            let (o, i) = (row / n, row % n);
            let at = |k: usize| {
                let s = (o * p + k) * inner + col;
                &src[s..s + take]
            };
            match &pre[start[i]..start[i + 1]] {
                [k] => map_into(at(*k), dst, |x| from(to(x))),
                [k0, k1] => zip_into(at(*k0), at(*k1), dst, |x, y| from(add(to(x), to(y)))),
                ks => {
                    // Three preimages at most (validated paddings); fold in order.
                    for (j, slot) in dst.iter_mut().enumerate() {
                        let mut acc: Option<A> = None;
                        for &k in ks {
                            let v = to(src[(o * p + k) * inner + col + j]);
                            acc = Some(match acc {
                                Some(a) => add(a, v),
                                None => v,
                            });
                        }
                        slot.write(match acc {
                            Some(a) => from(a),
                            None => D::ZERO,
                        });
                    }
                }
            }
            pos += take;
            col = 0;
            row += 1;
        }
    })
}

fn mirror_pad_grad_typed<T: Accum>(
    x: &Tensor,
    pads: &[(usize, usize)],
    reflect: bool,
    out_shape: Shape,
) -> Result<Tensor> {
    let data = x.host_data::<T>()?;
    let data: &[T] = &data;
    let mut dims: Vec<usize> = x.dims().to_vec();
    let passes: Vec<usize> = (0..dims.len()).filter(|&d| pads[d] != (0, 0)).collect();
    let shape_of = |dims: &[usize], d: usize| {
        let outer: usize = dims[..d].iter().product();
        let inner: usize = dims[d + 1..].iter().product();
        let (b, a) = pads[d];
        (outer, (b, out_shape[d], a), inner)
    };
    let out: Vec<T> = match passes.as_slice() {
        [] => return Ok(x.alias()),
        [d] => {
            let (outer, bna, inner) = shape_of(&dims, *d);
            fold_dim(
                data,
                outer,
                bna,
                inner,
                reflect,
                T::widen,
                T::add,
                T::narrow,
            )?
        }
        [first, middle @ .., last] => {
            let (outer, bna, inner) = shape_of(&dims, *first);
            let mut acc: Vec<T::Acc> =
                fold_dim(data, outer, bna, inner, reflect, T::widen, T::add, |a| a)?;
            dims[*first] = out_shape[*first];
            for &d in middle {
                let (outer, bna, inner) = shape_of(&dims, d);
                acc = fold_dim(&acc, outer, bna, inner, reflect, |a| a, T::add, |a| a)?;
                dims[d] = out_shape[d];
            }
            let (outer, bna, inner) = shape_of(&dims, *last);
            fold_dim(&acc, outer, bna, inner, reflect, |a| a, T::add, T::narrow)?
        }
    };
    Tensor::from_host_vec(out, out_shape)
}

fn mirror_pad_grad_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let reflect = mirror_mode(ctx.name(), ctx.attr_str("mode")?)?;
    let pads = paddings(ctx.name(), &x.partial_shape(), ctx.attr_ints("paddings")?)?;
    let out_shape = alloc_shape(ctx, 0)?;
    let out = crate::with_numeric!(x.dtype(), T => mirror_pad_grad_typed::<T>(x, &pads, reflect, out_shape)?,
        other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

/// MirrorPadGrad (input: the gradient of MirrorPad's output; attrs `paddings`,
/// flattened `[[before, after], ...]`, and `mode` = `"REFLECT"` or `"SYMMETRIC"`).
pub static MIRROR_PAD_GRAD: OpDef =
    OpDef::new("MirrorPadGrad", Arity::Fixed(1), infer_mirror_pad_grad)
        .cpu(DTypeSet::NUMERIC, mirror_pad_grad_kernel);

/// TensorFlow's `MirrorPadGrad`: the gradient of [`mirror_pad`](super::mirror_pad)
/// with respect to its input. `grad` has the padded shape; the result has the unpadded
/// shape (each dimension minus its `[before, after]` paddings), and each element of
/// `grad` is added onto the element it mirrors. Numeric dtypes; `mode` is
/// `"REFLECT"` or `"SYMMETRIC"` (case-insensitive).
///
/// ```
/// use tf_core::{Tensor, ops};
/// // mirror_pad([a, b, c], [[2, 1]], REFLECT) = [c, b, a, b, c, b].
/// let g = Tensor::vector(&[1.0f32, 10.0, 100.0, 1000.0, 10000.0, 100000.0]);
/// let dx = ops::mirror_pad_grad(&g, &[[2, 1]], "REFLECT")?;
/// assert_eq!(dx.to_vec::<f32>()?, vec![100.0, 101010.0, 10001.0]);
/// # Ok::<(), tf_core::Error>(())
/// ```
///
/// Errors on another mode, negative paddings, paddings larger than a dimension of
/// `grad`, or paddings too large for the mode against the unpadded size (REFLECT: each
/// must be < it; SYMMETRIC: <= it), like MirrorPad.
pub fn mirror_pad_grad(grad: &Tensor, paddings: &[[i64; 2]], mode: &str) -> Result<Tensor> {
    let mode = mode.to_ascii_uppercase();
    call1(
        &MIRROR_PAD_GRAD,
        std::slice::from_ref(grad),
        &Attrs::new()
            .with("paddings", flat_paddings(paddings))
            .with("mode", mode),
    )
}
