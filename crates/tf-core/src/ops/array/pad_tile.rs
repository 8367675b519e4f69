//! Ops that rearrange or repeat elements into a new buffer: tile, pad (constant and
//! mirror), reverse.

use super::copy::{alloc_shape, gather_tables};
use crate::dtype::{DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::alloc::alloc_filled;
use crate::kernels::strided::for_each_offsets;
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape, normalize_axis};
use crate::tensor::Tensor;

/// Runs `gather_tables` over the input's own storage (any layout).
fn gather_input(x: &Tensor, out_shape: Shape, tables: &[Vec<usize>]) -> Result<Tensor> {
    let host = x.to_host()?;
    crate::with_dtype!(x.dtype(), T => {
        let v = host.strided::<T>()?;
        Tensor::from_host_vec(gather_tables(v.data, v.offset, &out_shape, tables)?, out_shape)
    })
}

fn tile_multiples(op: &'static str, shape: &PartialShape, m: &[i64]) -> Result<Vec<usize>> {
    if m.len() != shape.rank() {
        return Err(Error::invalid(
            op,
            format!(
                "Expected multiples argument to be a vector of length {} but got length {} (input shape {shape}, multiples {m:?})",
                shape.rank(),
                m.len()
            ),
        ));
    }
    m.iter()
        .enumerate()
        .map(|(i, &k)| {
            usize::try_from(k).map_err(|_| {
                Error::invalid(op, format!("Expected multiples[{i}] >= 0, but got {k}"))
            })
        })
        .collect()
}

fn infer_tile(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let shape = ctx.shape(0);
    let m = tile_multiples(op, &shape, ctx.attr_ints("multiples")?)?;
    let out = shape
        .iter()
        .zip(&m)
        .map(|(d, &k)| match (d, k) {
            (_, 0) => Ok(Some(0)),
            (Some(d), k) => d
                .checked_mul(k)
                .map(Some)
                .ok_or_else(|| Error::invalid(op, format!("tiling {shape} by {m:?} overflows"))),
            (None, _) => Ok(None),
        })
        .collect::<Result<PartialShape>>()?;
    spec1(ctx.dtype(0), out)
}

fn tile_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let out_shape = alloc_shape(ctx, 0)?;
    let tables: Vec<Vec<usize>> = out_shape
        .iter()
        .zip(x.dims().iter().zip(x.strides()))
        .map(|(&o, (&n, &s))| (0..o).map(|i| (i % n.max(1)) * s).collect())
        .collect();
    Ok(vec![gather_input(x, out_shape, &tables)?])
}

/// Reads a flattened `[[before, after], ...]` paddings attribute.
pub(super) fn paddings(
    op: &'static str,
    shape: &PartialShape,
    p: &[i64],
) -> Result<Vec<(usize, usize)>> {
    if p.len() != 2 * shape.rank() {
        return Err(Error::invalid(
            op,
            format!(
                "paddings must hold [before, after] for each of the {} dimensions of the input (shape {shape}), got {} values {p:?}",
                shape.rank(),
                p.len()
            ),
        ));
    }
    p.chunks_exact(2)
        .map(|c| match (usize::try_from(c[0]), usize::try_from(c[1])) {
            (Ok(b), Ok(a)) => Ok((b, a)),
            _ => Err(Error::invalid(
                op,
                format!("Paddings must be non-negative: {} {}", c[0], c[1]),
            )),
        })
        .collect()
}

fn padded_shape(
    op: &'static str,
    shape: &PartialShape,
    pads: &[(usize, usize)],
) -> Result<PartialShape> {
    shape
        .iter()
        .zip(pads)
        .map(|(d, &(b, a))| match d {
            Some(d) => d
                .checked_add(b)
                .and_then(|x| x.checked_add(a))
                .map(Some)
                .ok_or_else(|| Error::invalid(op, "padded shape overflows")),
            None => Ok(None),
        })
        .collect()
}

fn infer_pad(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let shape = ctx.shape(0);
    let pads = paddings(op, &shape, ctx.attr_ints("paddings")?)?;
    if ctx.num_inputs() == 2 {
        let c = ctx.shape(1);
        if c.rank() != 0 {
            return Err(Error::invalid(
                op,
                format!("constant_values must be a scalar. Shape: {c}"),
            ));
        }
        ctx.same_dtype()?;
    }
    spec1(ctx.dtype(0), padded_shape(op, &shape, &pads)?)
}

fn pad_typed<T: Element>(
    x: &Tensor,
    value: T,
    pads: &[(usize, usize)],
    out_shape: Shape,
) -> Result<Tensor> {
    let n = out_shape.num_elements();
    let mut out = alloc_filled(n, value)?;
    let host = x.to_host()?;
    let v = host.strided::<T>()?;
    if x.num_elements() > 0 {
        let out_strides = out_shape.contiguous_strides();
        let base: usize = pads
            .iter()
            .zip(out_strides.iter())
            .map(|(&(b, _), &s)| b * s)
            .sum();
        match x.rank() {
            0 => out[base] = v.data[v.offset],
            r => {
                let inner = x.dims()[r - 1];
                let is = x.strides()[r - 1];
                for_each_offsets(
                    &x.dims()[..r - 1],
                    [&x.strides()[..r - 1], &out_strides[..r - 1]],
                    [v.offset, base],
                    |[i, o]| {
                        for (j, slot) in out[o..o + inner].iter_mut().enumerate() {
                            *slot = v.data[i + j * is];
                        }
                    },
                );
            }
        }
    }
    Tensor::from_host_vec(out, out_shape)
}

fn pad_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let pads = paddings(ctx.name(), &x.partial_shape(), ctx.attr_ints("paddings")?)?;
    let out_shape = alloc_shape(ctx, 0)?;
    let out = crate::with_dtype!(x.dtype(), T => {
        let value = match ctx.inputs.get(1) {
            Some(c) => c.scalar::<T>()?,
            None => T::ZERO,
        };
        pad_typed::<T>(x, value, &pads, out_shape)?
    });
    Ok(vec![out])
}

/// MirrorPad's mode: REFLECT excludes the edge element, SYMMETRIC repeats it.
/// Returns whether it is REFLECT.
pub(super) fn mirror_mode(op: &'static str, mode: &str) -> Result<bool> {
    match mode.to_ascii_uppercase().as_str() {
        "REFLECT" => Ok(true),
        "SYMMETRIC" => Ok(false),
        _ => Err(Error::invalid(
            op,
            format!("mode must be either REFLECT or SYMMETRIC, got {mode:?}"),
        )),
    }
}

/// Checks mirror paddings against the unpadded shape (`what` names it in errors).
pub(super) fn mirror_checks(
    op: &'static str,
    shape: &PartialShape,
    what: &str,
    pads: &[(usize, usize)],
    reflect: bool,
) -> Result<()> {
    for (i, (d, &(b, a))) in shape.iter().zip(pads).enumerate() {
        let Some(d) = *d else { continue };
        if reflect && (b >= d || a >= d) {
            return Err(Error::invalid(
                op,
                format!(
                    "paddings must be less than the dimension size: {b}, {a} not less than {d} (REFLECT mode, dimension {i} of {what} {shape})"
                ),
            ));
        }
        if !reflect && (b > d || a > d) {
            return Err(Error::invalid(
                op,
                format!(
                    "paddings must be no greater than the dimension size: {b}, {a} greater than {d} (SYMMETRIC mode, dimension {i} of {what} {shape})"
                ),
            ));
        }
    }
    Ok(())
}

fn infer_mirror_pad(ctx: &InferContext<'_>) -> Result<Specs> {
    let op = ctx.name();
    let shape = ctx.shape(0);
    let reflect = mirror_mode(op, ctx.attr_str("mode")?)?;
    let pads = paddings(op, &shape, ctx.attr_ints("paddings")?)?;
    mirror_checks(op, &shape, "input shape", &pads, reflect)?;
    spec1(ctx.dtype(0), padded_shape(op, &shape, &pads)?)
}

/// The input index that padded position `k` copies along a dimension of `n` elements
/// padded by `before` (paddings validated by `mirror_checks`, so it is in range).
pub(super) fn mirror_source(k: usize, before: usize, n: usize, reflect: bool) -> usize {
    let i = k as i64 - before as i64;
    let n = n as i64;
    let src = if i < 0 {
        if reflect { -i } else { -i - 1 }
    } else if i >= n {
        if reflect {
            2 * n - 2 - i
        } else {
            2 * n - 1 - i
        }
    } else {
        i
    };
    src as usize
}

fn mirror_pad_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let reflect = mirror_mode(ctx.name(), ctx.attr_str("mode")?)?;
    let pads = paddings(ctx.name(), &x.partial_shape(), ctx.attr_ints("paddings")?)?;
    let out_shape = alloc_shape(ctx, 0)?;
    let tables: Vec<Vec<usize>> = out_shape
        .iter()
        .zip(&pads)
        .zip(x.dims().iter().zip(x.strides()))
        .map(|((&o, &(b, _)), (&n, &s))| {
            (0..o)
                .map(|k| mirror_source(k, b, n, reflect) * s)
                .collect()
        })
        .collect();
    Ok(vec![gather_input(x, out_shape, &tables)?])
}

fn reverse_axes(op: &'static str, rank: usize, axes: &[i64]) -> Result<Vec<bool>> {
    let mut rev = vec![false; rank];
    for &a in axes {
        let i = normalize_axis(op, a, rank)?;
        if rev[i] {
            return Err(Error::invalid(
                op,
                format!("axis {i} specified more than once (axes {axes:?})"),
            ));
        }
        rev[i] = true;
    }
    Ok(rev)
}

fn infer_reverse(ctx: &InferContext<'_>) -> Result<Specs> {
    let shape = ctx.shape(0);
    reverse_axes(ctx.name(), shape.rank(), ctx.attr_ints("axis")?)?;
    spec1(ctx.dtype(0), shape)
}

fn reverse_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let x = ctx.input(0);
    let rev = reverse_axes(ctx.name(), x.rank(), ctx.attr_ints("axis")?)?;
    let tables: Vec<Vec<usize>> = rev
        .iter()
        .zip(x.dims().iter().zip(x.strides()))
        .map(|(&r, (&n, &s))| {
            (0..n)
                .map(|k| if r { (n - 1 - k) * s } else { k * s })
                .collect()
        })
        .collect();
    Ok(vec![gather_input(x, x.shape().clone(), &tables)?])
}

/// Tile (attr `multiples`, one non-negative entry per dimension).
pub static TILE: OpDef =
    OpDef::new("Tile", Arity::Fixed(1), infer_tile).cpu(DTypeSet::ALL, tile_kernel);
/// Pad with zeros (attr `paddings`, flattened `[[before, after], ...]`).
pub static PAD: OpDef =
    OpDef::new("Pad", Arity::Fixed(1), infer_pad).cpu(DTypeSet::ALL, pad_kernel);
/// Pad with a scalar constant (input 1, same dtype; attr `paddings`).
pub static PAD_V2: OpDef =
    OpDef::new("PadV2", Arity::Fixed(2), infer_pad).cpu(DTypeSet::ALL, pad_kernel);
/// MirrorPad (attrs `paddings`, `mode` = `"REFLECT"` or `"SYMMETRIC"`).
pub static MIRROR_PAD: OpDef = OpDef::new("MirrorPad", Arity::Fixed(1), infer_mirror_pad)
    .cpu(DTypeSet::ALL, mirror_pad_kernel);
/// ReverseV2 (attr `axis`, a list of distinct axes).
pub static REVERSE: OpDef =
    OpDef::new("ReverseV2", Arity::Fixed(1), infer_reverse).cpu(DTypeSet::ALL, reverse_kernel);

/// `[[before, after], ...]` as the flattened `paddings` attribute.
pub(super) fn flat_paddings(paddings: &[[i64; 2]]) -> Vec<i64> {
    paddings.iter().flatten().copied().collect()
}

/// `tf.tile`: repeats `x` `multiples[i]` times along dimension `i`.
///
/// Errors unless there is one non-negative multiple per dimension.
pub fn tile(x: &Tensor, multiples: &[i64]) -> Result<Tensor> {
    call1(
        &TILE,
        std::slice::from_ref(x),
        &Attrs::new().with("multiples", multiples),
    )
}

/// `tf.pad` in CONSTANT mode with zeros: `paddings[i] = [before, after]` elements
/// added on each side of dimension `i`.
///
/// Errors unless there is one non-negative pair per dimension.
pub fn pad(x: &Tensor, paddings: &[[i64; 2]]) -> Result<Tensor> {
    call1(
        &PAD,
        std::slice::from_ref(x),
        &Attrs::new().with("paddings", flat_paddings(paddings)),
    )
}

/// `tf.pad` in CONSTANT mode with `constant_values`, a scalar of `x`'s dtype (PadV2).
///
/// Errors like [`pad`], and when the constant is not a scalar of the same dtype.
pub fn pad_v2(x: &Tensor, paddings: &[[i64; 2]], constant_values: &Tensor) -> Result<Tensor> {
    call1(
        &PAD_V2,
        &[x.clone(), constant_values.clone()],
        &Attrs::new().with("paddings", flat_paddings(paddings)),
    )
}

/// `tf.pad` in `"REFLECT"` or `"SYMMETRIC"` mode (case-insensitive; MirrorPad):
/// REFLECT mirrors without repeating the edge (`[1,2,3]` padded by 2 gives
/// `[3,2,1,2,3,2,1]`), SYMMETRIC repeats it (`[2,1,1,2,3,3,2]`).
///
/// Errors on another mode, negative paddings, or paddings too large for the mode
/// (REFLECT: each must be < the dimension; SYMMETRIC: <= the dimension).
pub fn mirror_pad(x: &Tensor, paddings: &[[i64; 2]], mode: &str) -> Result<Tensor> {
    let mode = mode.to_ascii_uppercase();
    call1(
        &MIRROR_PAD,
        std::slice::from_ref(x),
        &Attrs::new()
            .with("paddings", flat_paddings(paddings))
            .with("mode", mode),
    )
}

/// `tf.reverse`: reverses the order of elements along each of `axes` (distinct;
/// negative counts from the end).
///
/// Errors when an axis is out of range or repeated.
pub fn reverse(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    call1(
        &REVERSE,
        std::slice::from_ref(x),
        &Attrs::new().with("axis", axes),
    )
}
