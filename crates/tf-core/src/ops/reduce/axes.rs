//! Reduction axes: validation, output shapes (partial), the shared attribute schema and
//! the public calls' argument handling.

use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::op::{Attrs, InferContext, OpDef, Specs, call, spec1};
use crate::shape::{PartialShape, normalize_axis};
use crate::tensor::Tensor;
use smallvec::{SmallVec, smallvec};

/// Which dimensions a reduction folds, one flag per dimension.
pub(crate) type AxisMask = SmallVec<[bool; 6]>;

/// Resolves `axes` (negative allowed) against `rank`.
///
/// Errors (naming `op`) on an axis outside `[-rank, rank)` or an axis named twice.
pub(crate) fn axis_mask(op: &'static str, rank: usize, axes: &[i64]) -> Result<AxisMask> {
    let mut mask: AxisMask = smallvec![false; rank];
    for &a in axes {
        let i = normalize_axis(op, a, rank)?;
        if mask[i] {
            return Err(Error::invalid(
                op,
                format!("axes {axes:?} name dimension {i} more than once (rank {rank})"),
            ));
        }
        mask[i] = true;
    }
    Ok(mask)
}

/// The output shape of a reduction: reduced dimensions dropped, or kept as 1 with
/// `keepdims`; the other dimensions (known or not) unchanged.
pub(crate) fn reduced_shape(shape: &PartialShape, mask: &[bool], keepdims: bool) -> PartialShape {
    shape
        .iter()
        .zip(mask)
        .filter_map(|(&d, &red)| match (red, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(Some(1)),
            (true, false) => None,
        })
        .collect()
}

/// The `axis` (list of ints, already resolved: all axes for `axis=None`) and `keepdims`
/// attributes of a reduction.
pub(crate) fn reduce_attrs<'a>(ctx: &InferContext<'a>) -> Result<(&'a [i64], bool)> {
    Ok((ctx.attr_ints("axis")?, ctx.attr_bool("keepdims")?))
}

/// Shape inference of a one-output reduction whose output dtype is its input's.
pub(crate) fn infer_reduction(ctx: &InferContext<'_>, dtypes: DTypeSet) -> Result<Specs> {
    let dt = ctx.check_dtype(0, dtypes)?;
    let (axes, keepdims) = reduce_attrs(ctx)?;
    let shape = ctx.shape(0);
    let mask = axis_mask(ctx.name(), shape.rank(), axes)?;
    spec1(dt, reduced_shape(&shape, &mask, keepdims))
}

/// The attributes of a reduction call: `axis=None` becomes every axis (as in TensorFlow,
/// which passes `range(rank)`), `Some(&[])` reduces nothing.
pub(crate) fn reduction_attrs(x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Attrs {
    let axes: Vec<i64> = match axis {
        Some(a) => a.to_vec(),
        None => (0..x.rank() as i64).collect(),
    };
    Attrs::new().with("axis", axes).with("keepdims", keepdims)
}

/// Calls a reduction op.
pub(crate) fn call_reduction(
    op: &'static OpDef,
    x: &Tensor,
    axis: Option<&[i64]>,
    keepdims: bool,
) -> Result<Vec<Tensor>> {
    call(
        op,
        std::slice::from_ref(x),
        &reduction_attrs(x, axis, keepdims),
    )
}

/// `(outer, n, inner)`: the products of the dimensions before `axis`, at it and after
/// it (the layout of scans, sorts and argmax over a contiguous tensor).
pub(crate) fn split_at_axis(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims[axis], inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_shapes() {
        let m = axis_mask("Sum", 3, &[-1, 0]).unwrap();
        assert_eq!(m.as_slice(), &[true, false, true]);
        let e = axis_mask("Sum", 3, &[1, -2]).unwrap_err().to_string();
        assert!(e.contains("Sum") && e.contains("dimension 1"), "{e}");
        let e = axis_mask("Max", 2, &[2]).unwrap_err().to_string();
        assert!(
            e.contains("Max") && e.contains("axis 2") && e.contains("rank 2"),
            "{e}"
        );
        let s = PartialShape::new(&[None, Some(3), Some(4)]);
        assert_eq!(reduced_shape(&s, &m, false).dims(), &[Some(3)]);
        assert_eq!(
            reduced_shape(&s, &m, true).dims(),
            &[Some(1), Some(3), Some(1)]
        );
    }
}
