//! Gradients of reductions, scans and sorting (TensorFlow's `math_grad.py`: `_SumGrad`,
//! `_MeanGrad`, `_ProdGrad`, `_MinOrMaxGrad`, `_CumsumGrad`, `_CumprodGrad`, and
//! `nn_grad.py`'s `_TopKGrad`); `ReduceLogSumExp`, `Moments` and `Sort`, which
//! TensorFlow composes from other ops, get the gradient of that composition.

use super::array::reshape_to;
use super::util::{broadcast_like, reduce_axes, restore_reduced_dims, scalar_like};
use crate::registry::{GradContext, register_gradient, register_not_differentiable};
use tf_core::ops::SortDirection;
use tf_core::{Error, Result, Tensor, ops};

type Grads = Result<Vec<Option<Tensor>>>;

fn keepdims(c: &GradContext<'_>) -> bool {
    c.attrs.bool("keepdims").unwrap_or(false)
}

fn sum(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let axes = reduce_axes(c.op.name, c.attrs, x.rank())?;
    let g = restore_reduced_dims(&c.grad(0)?, &axes, keepdims(c))?;
    Ok(vec![Some(broadcast_like(&g, x)?)])
}

fn mean(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let axes = reduce_axes(c.op.name, c.attrs, x.rank())?;
    let g = restore_reduced_dims(&c.grad(0)?, &axes, keepdims(c))?;
    let count: usize = if x.shape().is_fully_defined() {
        axes.iter().map(|&a| x.dims()[a as usize]).product()
    } else {
        return Ok(vec![Some(ops::real_div(
            &broadcast_like(&g, x)?,
            &ops::cast(
                &ops::reduce_sum(&ops::ones_like(x)?, Some(&axes), true)?,
                x.dtype(),
            )?,
        )?)]);
    };
    let scaled = ops::mul(&g, &scalar_like(x, 1.0 / count.max(1) as f64)?)?;
    Ok(vec![Some(broadcast_like(&scaled, x)?)])
}

/// The gradient of output `i` when it is connected (`None` when unconnected).
fn connected(c: &GradContext<'_>, i: usize) -> Option<Tensor> {
    c.grads.get(i).and_then(Clone::clone)
}

/// The reduction axes (sorted) and the incoming gradient with reduced dimensions
/// restored as size 1.
fn reduced_grad(c: &GradContext<'_>, g: &Tensor) -> Result<(Vec<i64>, Tensor)> {
    let mut axes = reduce_axes(c.op.name, c.attrs, c.input(0).rank())?;
    axes.sort_unstable();
    let g = restore_reduced_dims(g, &axes, keepdims(c))?;
    Ok((axes, g))
}

/// The number of elements each output of a reduction over `axes` folds: a scalar when
/// those dimensions are known, else a keepdims count.
fn reduced_count(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    let p = x.partial_shape();
    let known: Option<Vec<usize>> = axes.iter().map(|&a| p[a as usize]).collect();
    match known {
        Some(d) => scalar_like(x, d.iter().product::<usize>() as f64),
        None => ops::reduce_sum(&ops::ones_like(x)?, Some(axes), true),
    }
}

/// `_ProdGrad`: the product of every other element of each reduced group, as the
/// product of exclusive cumulative products from both ends (exact with zeros). The
/// reduced axes are moved to the front and flattened into one.
fn prod(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    if !x.dtype().is_float() {
        return Ok(vec![None]);
    }
    let (axes, g) = reduced_grad(c, &c.grad(0)?)?;
    let g = broadcast_like(&g, x)?;
    let p = x.partial_shape();
    if axes.is_empty() || p.num_elements() == Some(0) {
        return Ok(vec![Some(ops::mul(&g, &ops::ones_like(x)?)?)]);
    }
    let rank = x.rank() as i64;
    let other: Vec<i64> = (0..rank).filter(|a| !axes.contains(a)).collect();
    let perm: Vec<i64> = axes.iter().chain(&other).copied().collect();
    let size = |ax: &[i64]| -> Option<usize> { ax.iter().map(|&a| p[a as usize]).product() };
    let target = match (size(&axes), size(&other)) {
        (Some(r), _) => [r as i64, -1],
        (None, Some(o)) => [-1, o as i64],
        (None, None) => {
            return Err(Error::invalid(
                "Prod gradient",
                format!("input shape {p} has unknown reduced and kept dimensions"),
            ));
        }
    };
    let permuted = ops::transpose(x, Some(&perm))?;
    let flat = ops::reshape(&permuted, &target)?;
    let left = ops::cumprod(&flat, 0, true, false)?;
    let right = ops::cumprod(&flat, 0, true, true)?;
    let others = reshape_to(&ops::mul(&left, &right)?, &permuted)?;
    let mut inverse = vec![0i64; perm.len()];
    for (i, &a) in perm.iter().enumerate() {
        inverse[a as usize] = i as i64;
    }
    let others = ops::transpose(&others, Some(&inverse))?;
    Ok(vec![Some(ops::mul(&g, &others)?)])
}

/// `_MinOrMaxGrad`: the gradient goes to the elements equal to the extremum, split
/// equally among ties.
fn min_or_max(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    if !x.dtype().is_float() {
        return Ok(vec![None]);
    }
    let (axes, g) = reduced_grad(c, &c.grad(0)?)?;
    let y = restore_reduced_dims(c.output(0), &axes, keepdims(c))?;
    let hits = ops::cast(&ops::equal(&y, x)?, x.dtype())?;
    let count = ops::reduce_sum(&hits, Some(&axes), true)?;
    Ok(vec![Some(ops::mul(&ops::real_div(&hits, &count)?, &g)?)])
}

/// `y = log(sum(exp(x)))`: `dx = g * exp(x - y)` (the softmax over the reduced axes).
fn reduce_logsumexp(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let (axes, g) = reduced_grad(c, &c.grad(0)?)?;
    let y = restore_reduced_dims(c.output(0), &axes, keepdims(c))?;
    Ok(vec![Some(ops::mul(&g, &ops::exp(&ops::sub(x, &y)?)?)?)])
}

/// `mean = sum(x) / n`, `variance = sum((x - mean)²) / n`: `dx = g_mean / n + g_var * 2
/// (x - mean) / n`. (TensorFlow's `tf.nn.moments` stops the gradient through the mean
/// inside the variance; the first derivative is the same, and this one's derivatives
/// are the true higher derivatives.)
fn moments(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    let mut axes = reduce_axes(c.op.name, c.attrs, x.rank())?;
    axes.sort_unstable();
    let kd = keepdims(c);
    let n = reduced_count(x, &axes)?;
    let mut dx: Option<Tensor> = None;
    if let Some(gm) = connected(c, 0) {
        let gm = restore_reduced_dims(&gm, &axes, kd)?;
        dx = Some(ops::real_div(&gm, &n)?);
    }
    if let Some(gv) = connected(c, 1) {
        let gv = restore_reduced_dims(&gv, &axes, kd)?;
        let mean = restore_reduced_dims(c.output(0), &axes, kd)?;
        let scale = ops::real_div(&ops::mul(&gv, &scalar_like(x, 2.0)?)?, &n)?;
        let term = ops::mul(&ops::sub(x, &mean)?, &scale)?;
        dx = Some(match dx {
            Some(d) => ops::add(&d, &term)?,
            None => term,
        });
    }
    let dx = match dx {
        Some(d) => broadcast_like(&d, x)?,
        None => ops::zeros_like(x)?,
    };
    Ok(vec![Some(dx)])
}

fn scan_attrs(c: &GradContext<'_>) -> Result<(i64, bool, bool)> {
    let axis = c
        .attrs
        .int("axis")
        .ok_or_else(|| Error::invalid(c.op.name, "missing 'axis' attribute on a recorded scan"))?;
    Ok((
        axis,
        c.attrs.bool("exclusive").unwrap_or(false),
        c.attrs.bool("reverse").unwrap_or(false),
    ))
}

/// `_CumsumGrad`: the cumulative sum of the gradient in the other direction.
fn cumsum(c: &GradContext<'_>) -> Grads {
    if !c.input(0).dtype().is_float() {
        return Ok(vec![None]);
    }
    let (axis, exclusive, reverse) = scan_attrs(c)?;
    Ok(vec![Some(ops::cumsum(
        &c.grad(0)?,
        axis,
        exclusive,
        !reverse,
    )?)])
}

/// `_CumprodGrad`: `div_no_nan(cumsum(y * g, reversed), x)`. Like TensorFlow this is 0
/// (not the true derivative) where `x` is 0.
fn cumprod(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    if !x.dtype().is_float() {
        return Ok(vec![None]);
    }
    let (axis, exclusive, reverse) = scan_attrs(c)?;
    let out = ops::cumsum(
        &ops::mul(c.output(0), &c.grad(0)?)?,
        axis,
        exclusive,
        !reverse,
    )?;
    let zero = ops::equal(x, &scalar_like(x, 0.0)?)?;
    let safe_x = ops::select(&zero, &ops::ones_like(x)?, x)?;
    let q = ops::real_div(&out, &safe_x)?;
    Ok(vec![Some(ops::select(&zero, &ops::zeros_like(&q)?, &q)?)])
}

/// `_TopKGrad`: the values' gradient scattered to the positions the indices name; the
/// indices output has none. Needs the input's shape (the scatter's output shape).
fn top_k(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    if !x.dtype().is_float() {
        return Ok(vec![None]);
    }
    let p = x.partial_shape();
    let Some(dims) = p.to_shape() else {
        return Err(Error::invalid(
            "TopKV2 gradient",
            format!("needs a fully known input shape, got {p}"),
        ));
    };
    let dims = dims.dims().to_vec();
    let n = dims.last().copied().unwrap_or(1);
    let rows: usize = dims[..dims.len().saturating_sub(1)].iter().product();
    let (indices, g) = (c.output(1), c.grad(0)?);
    if x.num_elements() == 0 || indices.partial_shape().num_elements() == Some(0) {
        return Ok(vec![Some(ops::zeros_like(x)?)]);
    }
    let idx = ops::reshape(indices, &[rows as i64, -1])?;
    // Row numbers without host arithmetic: an exclusive running count of ones.
    let row = ops::cumsum(&ops::ones_like(&idx)?, 0, true, false)?;
    let at = ops::stack(&[row, idx], -1)?;
    let updates = ops::reshape(&g, &[rows as i64, -1])?;
    let scattered = ops::scatter_nd(&at, &updates, &[rows as i64, n as i64])?;
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    Ok(vec![Some(ops::reshape(&scattered, &shape)?)])
}

/// `tf.sort` is `top_k` of all values in TensorFlow, so each sorted value's gradient
/// goes back to the element it came from: `dx = take_along_axis(g, argsort(order))`,
/// with `order = argsort(x)` the (stable) permutation `Sort` applied.
fn sort(c: &GradContext<'_>) -> Grads {
    let x = c.input(0);
    if !x.dtype().is_float() {
        return Ok(vec![None]);
    }
    let rank = x.rank();
    let axis = c
        .attrs
        .int("axis")
        .ok_or_else(|| Error::invalid("Sort", "missing 'axis' attribute on a recorded call"))?;
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    let direction = match c.attrs.str("direction") {
        Some("DESCENDING") => SortDirection::Descending,
        _ => SortDirection::Ascending,
    };
    let last = rank as i64 - 1;
    // Work along the last axis (a transposition swapping `axis` with it is its own
    // inverse).
    let swap: Option<Vec<i64>> = (axis != last).then(|| {
        (0..rank as i64)
            .map(|d| {
                if d == axis {
                    last
                } else if d == last {
                    axis
                } else {
                    d
                }
            })
            .collect()
    });
    let along = |t: &Tensor| -> Result<Tensor> {
        match &swap {
            Some(p) => ops::transpose(t, Some(p)),
            None => Ok(t.clone()),
        }
    };
    let order = ops::argsort(&along(x)?, -1, direction)?;
    let position = ops::argsort(&order, -1, SortDirection::Ascending)?;
    let dx = ops::gather(&along(&c.grad(0)?)?, &position, last, last)?;
    Ok(vec![Some(along(&dx)?)])
}

pub(super) fn register() {
    register_gradient(&ops::SUM, sum);
    register_gradient(&ops::MEAN, mean);
    register_gradient(&ops::PROD, prod);
    register_gradient(&ops::MAX, min_or_max);
    register_gradient(&ops::MIN, min_or_max);
    register_gradient(&ops::REDUCE_LOGSUMEXP, reduce_logsumexp);
    register_gradient(&ops::MOMENTS, moments);
    register_gradient(&ops::CUMSUM, cumsum);
    register_gradient(&ops::CUMPROD, cumprod);
    register_gradient(&ops::TOP_K, top_k);
    register_gradient(&ops::SORT, sort);
    // TensorFlow's argsort is top_k's indices: not differentiable.
    register_not_differentiable(&ops::ARG_SORT);
}
