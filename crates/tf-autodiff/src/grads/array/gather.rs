//! Gradients of the index-driven ops: GatherV2 (a dense gradient through
//! UnsortedSegmentSum, `batch_dims` included), GatherNd (ScatterNd), ScatterNd
//! (GatherNd), and the unsorted segment reductions (gathers of the upstream gradient,
//! TensorFlow's `math_grad.py`). Integer index inputs get `None`.

use super::{Grads, attr_int, grad_name, known_dims};
use crate::registry::{GradContext, register_gradient};
use tf_core::{DType, Error, Result, Tensor, ops};

/// `usize` dimensions as reshape/scatter attributes.
fn as_i64(dims: &[usize]) -> Vec<i64> {
    dims.iter().map(|&d| d as i64).collect()
}

/// GatherV2: the upstream gradient summed into the gathered positions.
///
/// With params `[B.., O.., N, I..]` (`batch_dims` leading batch dimensions, the gather
/// axis of size `N`) and indices `[B.., K..]`, the gradient `[B.., O.., K.., I..]` is
/// arranged as `[b·k, o, i]` rows, each batch's indices are offset by `batch · N`, and
/// UnsortedSegmentSum folds the rows into `[b·N, o, i]`, rearranged back to params'
/// shape. The params shape must be known (it sizes the result).
fn gather_v2(c: &GradContext<'_>) -> Grads {
    let (params, indices) = (c.input(0), c.input(1));
    let g = c.grad(0)?;
    let pdims = known_dims(c, params, "params")?;
    let ip = indices.partial_shape();
    let bd = c.attrs.int("batch_dims").unwrap_or(0);
    let bd = if bd < 0 { bd + ip.rank() as i64 } else { bd };
    let axis = attr_int(c, "axis")?;
    let axis = if axis < 0 {
        axis + pdims.len() as i64
    } else {
        axis
    };
    if bd < 0 || axis < bd || axis as usize >= pdims.len() || bd as usize > ip.rank() {
        return Err(Error::invalid(
            grad_name(c),
            format!(
                "axis {axis} and batch_dims {bd} do not fit params {} and indices {ip}",
                params.partial_shape()
            ),
        ));
    }
    let (bd, axis) = (bd as usize, axis as usize);
    let b: usize = pdims[..bd].iter().product();
    let o: usize = pdims[bd..axis].iter().product();
    let n = pdims[axis];
    let i: usize = pdims[axis + 1..].iter().product();
    // The number of indices per batch, or -1 (inferred) when unknown.
    let k: i64 = ip[bd..]
        .iter()
        .try_fold(1usize, |acc, d| d.map(|d| acc * d))
        .map_or(-1, |k| k as i64);
    let segments = b.checked_mul(n).ok_or_else(|| {
        Error::invalid(
            grad_name(c),
            format!("params {} has too many rows", params.shape()),
        )
    })?;
    let (b, o, n, i) = (b as i64, o as i64, n as i64, i as i64);

    // Rows [b·k, o, i] of the gradient, in the order of the flattened indices.
    let bk = if k < 0 { -1 } else { b * k };
    let rows = if o == 1 {
        ops::reshape(&g, &[bk, 1, i])?
    } else {
        let t = ops::transpose(&ops::reshape(&g, &[b, o, k, i])?, Some(&[0, 2, 1, 3]))?;
        ops::reshape(&t, &[bk, o, i])?
    };
    // Segment ids: each batch's indices offset by batch · N.
    let mut ids = indices.clone();
    if b > 1 {
        let offsets: Vec<i64> = (0..b).map(|bb| bb * n).collect();
        let offsets = ops::cast(&Tensor::from_vec(offsets, [b as usize, 1])?, ids.dtype())?;
        ids = ops::add(&ops::reshape(&ids, &[b, k])?, &offsets)?;
    }
    let ids = ops::reshape(&ids, &[-1])?;
    let summed = ops::unsorted_segment_sum(&rows, &ids, segments as i64)?;
    let dx = if o == 1 {
        ops::reshape(&summed, &as_i64(&pdims))?
    } else {
        let t = ops::transpose(&ops::reshape(&summed, &[b, n, o, i])?, Some(&[0, 2, 1, 3]))?;
        ops::reshape(&t, &as_i64(&pdims))?
    };
    Ok(vec![Some(dx), None])
}

/// GatherNd: the gradient scattered (added) back into params' shape.
fn gather_nd(c: &GradContext<'_>) -> Grads {
    let pdims = known_dims(c, c.input(0), "params")?;
    let dx = ops::scatter_nd(c.input(1), &c.grad(0)?, &as_i64(&pdims))?;
    Ok(vec![Some(dx), None])
}

/// ScatterNd: the updates' gradient gathered from the output's.
fn scatter_nd(c: &GradContext<'_>) -> Grads {
    Ok(vec![None, Some(ops::gather_nd(&c.grad(0)?, c.input(0))?)])
}

/// TensorFlow's `_GatherDropNegatives`: `params` gathered (axis 0) at `ids`, with the
/// rows of negative ids zeroed. Returns the result, the ids clipped at 0, and
/// `ids >= 0` shaped to broadcast against the result.
fn gather_drop_negatives(params: &Tensor, ids: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let zero = ops::zeros_like(ids)?;
    let clipped = ops::maximum(ids, &zero)?;
    let gathered = ops::gather(params, &clipped, 0, 0)?;
    let mut is_positive = ops::greater_equal(ids, &zero)?;
    for _ in 1..params.partial_shape().rank() {
        is_positive = ops::expand_dims(&is_positive, -1)?;
    }
    let kept = ops::where_(&is_positive, &gathered, &ops::zeros_like(&gathered)?)?;
    Ok((kept, clipped, is_positive))
}

/// The `num_segments` attribute; with no segment every id is negative (the forward
/// call checked the others), so no element gets a gradient.
fn no_segments(c: &GradContext<'_>) -> Result<bool> {
    Ok(attr_int(c, "num_segments")? == 0)
}

/// UnsortedSegmentSum: each element of `data` receives its segment's gradient
/// (zero for negative ids).
fn unsorted_segment_sum(c: &GradContext<'_>) -> Grads {
    let data = c.input(0);
    if no_segments(c)? {
        return Ok(vec![Some(ops::zeros_like(data)?), None]);
    }
    let (dx, _, _) = gather_drop_negatives(&c.grad(0)?, c.input(1))?;
    Ok(vec![Some(dx), None])
}

/// UnsortedSegmentMax/Min: the segment's gradient shared equally among the elements
/// equal to the segment's result (TensorFlow's `_UnsortedSegmentMinOrMaxGrad`).
fn unsorted_segment_min_or_max(c: &GradContext<'_>) -> Grads {
    let (data, ids) = (c.input(0), c.input(1));
    if no_segments(c)? {
        return Ok(vec![Some(ops::zeros_like(data)?), None]);
    }
    let n = attr_int(c, "num_segments")?;
    let (gathered_outputs, clipped, is_positive) = gather_drop_negatives(c.output(0), ids)?;
    let is_selected = ops::logical_and(&ops::equal(data, &gathered_outputs)?, &is_positive)?;
    let num_selected = ops::unsorted_segment_sum(&ops::cast(&is_selected, data.dtype())?, ids, n)?;
    let weighted = ops::real_div(&c.grad(0)?, &num_selected)?;
    let gathered = ops::gather(&weighted, &clipped, 0, 0)?;
    let dx = ops::where_(&is_selected, &gathered, &ops::zeros_like(data)?)?;
    Ok(vec![Some(dx), None])
}

/// UnsortedSegmentProd: the product of the segment's other elements times the
/// segment's gradient, computed without dividing by zero (TensorFlow's
/// `_UnsortedSegmentProdGrad`): a segment with two or more zeros gives zero, one zero
/// gives the product of the non-zero elements to the zero element.
fn unsorted_segment_prod(c: &GradContext<'_>) -> Grads {
    let (data, ids) = (c.input(0), c.input(1));
    if no_segments(c)? {
        return Ok(vec![Some(ops::zeros_like(data)?), None]);
    }
    let n = attr_int(c, "num_segments")?;
    let g = c.grad(0)?;
    let is_zero = ops::equal(data, &ops::zeros_like(data)?)?;
    let num_zeros = ops::unsorted_segment_sum(&ops::cast(&is_zero, DType::I32)?, ids, n)?;
    let g = ops::where_(
        &ops::greater(&num_zeros, &ops::ones_like(&num_zeros)?)?,
        &ops::zeros_like(&g)?,
        &g,
    )?;
    let non_zero_data = ops::where_(&is_zero, &ops::ones_like(data)?, data)?;
    let non_zero_prod = ops::unsorted_segment_prod(&non_zero_data, ids, n)?;
    let clipped = ops::maximum(ids, &ops::zeros_like(ids)?)?;
    let gathered_prod = ops::gather(c.output(0), &clipped, 0, 0)?;
    let gathered_non_zero_prod = ops::gather(&non_zero_prod, &clipped, 0, 0)?;
    // May hold inf/NaN where data is zero; those positions take the other branch.
    let prod_divided_by_el = ops::real_div(&gathered_prod, data)?;
    let partial = ops::where_(&is_zero, &gathered_non_zero_prod, &prod_divided_by_el)?;
    let (gathered_grad, _, _) = gather_drop_negatives(&g, ids)?;
    Ok(vec![Some(ops::mul(&gathered_grad, &partial)?), None])
}

pub(super) fn register() {
    register_gradient(&ops::GATHER, gather_v2);
    register_gradient(&ops::GATHER_ND, gather_nd);
    register_gradient(&ops::SCATTER_ND, scatter_nd);
    register_gradient(&ops::UNSORTED_SEGMENT_SUM, unsorted_segment_sum);
    register_gradient(&ops::UNSORTED_SEGMENT_MAX, unsorted_segment_min_or_max);
    register_gradient(&ops::UNSORTED_SEGMENT_MIN, unsorted_segment_min_or_max);
    register_gradient(&ops::UNSORTED_SEGMENT_PROD, unsorted_segment_prod);
}
