//! Public functions of the convolution and pooling gradient ops (what gradient
//! functions call). Arguments follow the op's inputs in order, then the shape
//! attribute, then the window options; the shapes are attributes, not tensors.

use super::backprop_filter::CONV2D_BACKPROP_FILTER;
use super::depthwise_grad::{DEPTHWISE_CONV2D_BACKPROP_FILTER, DEPTHWISE_CONV2D_BACKPROP_INPUT};
use super::options::{Conv2dOptions, Padding};
use super::pool_attrs;
use super::pool_grad::{AVG_POOL_GRAD, MAX_POOL_GRAD, MAX_POOL_GRAD_GRAD};
use super::transpose::CONV2D_BACKPROP_INPUT;
use crate::error::Result;
use crate::op::{OpDef, call1};
use crate::tensor::Tensor;

/// A shape argument as an int-list attribute (sizes beyond `i64` saturate and are
/// then rejected by the op as too large).
fn sizes(v: &[usize]) -> Vec<i64> {
    v.iter()
        .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
        .collect()
}

fn conv_grad(
    op: &'static OpDef,
    inputs: [&Tensor; 2],
    attr: &'static str,
    shape: &[usize],
    options: &Conv2dOptions,
) -> Result<Tensor> {
    let attrs = options.attrs(op.name)?.with(attr, sizes(shape));
    call1(op, &[inputs[0].clone(), inputs[1].clone()], &attrs)
}

/// `Conv2DBackpropInput`: the gradient of [`conv2d`](super::conv2d) with respect to
/// its input. `filter` is the HWIO filter `[kh, kw, in, out]`, `out_backprop` the
/// gradient of the output `[batch, out_h, out_w, out]`, `input_sizes` the input's shape
/// `[batch, h, w, in]` (the result's shape), `options` the forward convolution's.
///
/// Dtypes: float32/64, float16/bfloat16 (computed in f32), int32. Errors when a rank
/// is not 4, the dtypes differ, `input_sizes` does not have 4 elements, or the shapes
/// are not those of one forward convolution with `options` (batch, channels, or
/// `out_backprop`'s spatial size differ from what the forward convolution computes).
pub fn conv2d_backprop_input(
    filter: &Tensor,
    out_backprop: &Tensor,
    input_sizes: &[usize],
    options: &Conv2dOptions,
) -> Result<Tensor> {
    conv_grad(
        &CONV2D_BACKPROP_INPUT,
        [filter, out_backprop],
        "input_sizes",
        input_sizes,
        options,
    )
}

/// `Conv2DBackpropFilter`: the gradient of [`conv2d`](super::conv2d) with respect to
/// its filter. `input` is the forward input `[batch, h, w, in]`, `out_backprop` the
/// gradient of the output `[batch, out_h, out_w, out]`, `filter_sizes` the filter's
/// shape `[kh, kw, in, out]` (the result's shape), `options` the forward convolution's.
///
/// The sum over pixels runs in an order fixed by the shapes, so results are bitwise
/// reproducible on any thread count. Float dtypes (float16/bfloat16 computed in f32).
/// Errors like [`conv2d_backprop_input`], and when `filter_sizes` has a zero.
pub fn conv2d_backprop_filter(
    input: &Tensor,
    out_backprop: &Tensor,
    filter_sizes: &[usize],
    options: &Conv2dOptions,
) -> Result<Tensor> {
    conv_grad(
        &CONV2D_BACKPROP_FILTER,
        [input, out_backprop],
        "filter_sizes",
        filter_sizes,
        options,
    )
}

/// `DepthwiseConv2dNativeBackpropInput`: the gradient of
/// [`depthwise_conv2d`](super::depthwise_conv2d) with respect to its input. `filter`
/// is `[kh, kw, in, multiplier]`, `out_backprop` `[batch, out_h, out_w,
/// in·multiplier]`, `input_sizes` the input's shape `[batch, h, w, in]`.
///
/// Float dtypes. Errors like [`conv2d_backprop_input`].
pub fn depthwise_conv2d_backprop_input(
    filter: &Tensor,
    out_backprop: &Tensor,
    input_sizes: &[usize],
    options: &Conv2dOptions,
) -> Result<Tensor> {
    conv_grad(
        &DEPTHWISE_CONV2D_BACKPROP_INPUT,
        [filter, out_backprop],
        "input_sizes",
        input_sizes,
        options,
    )
}

/// `DepthwiseConv2dNativeBackpropFilter`: the gradient of
/// [`depthwise_conv2d`](super::depthwise_conv2d) with respect to its filter. `input`
/// is `[batch, h, w, in]`, `out_backprop` `[batch, out_h, out_w, in·multiplier]`,
/// `filter_sizes` the filter's shape `[kh, kw, in, multiplier]`.
///
/// Float dtypes; reproducible on any thread count. Errors like
/// [`conv2d_backprop_filter`].
pub fn depthwise_conv2d_backprop_filter(
    input: &Tensor,
    out_backprop: &Tensor,
    filter_sizes: &[usize],
    options: &Conv2dOptions,
) -> Result<Tensor> {
    conv_grad(
        &DEPTHWISE_CONV2D_BACKPROP_FILTER,
        [input, out_backprop],
        "filter_sizes",
        filter_sizes,
        options,
    )
}

/// `MaxPoolGrad`: the gradient of [`max_pool2d`](super::max_pool2d) with respect to its
/// input. Each element of `grad` (shaped like `orig_output`) is added at the position
/// of its window's maximum in `orig_input` (the first maximum in row-major window
/// order on ties; overlapping windows accumulate); the result is shaped like
/// `orig_input`. `orig_output` only fixes the expected shape (the maxima are
/// recomputed, as TensorFlow's CPU kernel does). `ksize`, `strides`, `padding` as for
/// `max_pool2d`.
///
/// Numeric dtypes, all three the same. Errors when a rank is not 4, the dtypes
/// differ, a window option is malformed, or `orig_output`/`grad` are not the pooled
/// shape of `orig_input`.
pub fn max_pool_grad(
    orig_input: &Tensor,
    orig_output: &Tensor,
    grad: &Tensor,
    ksize: &[usize],
    strides: &[usize],
    padding: Padding,
) -> Result<Tensor> {
    let attrs = pool_attrs(MAX_POOL_GRAD.name, ksize, strides, padding)?;
    let inputs = [orig_input.clone(), orig_output.clone(), grad.clone()];
    call1(&MAX_POOL_GRAD, &inputs, &attrs)
}

/// `MaxPoolGradGrad`: the gradient of [`max_pool_grad`] with respect to its `grad`
/// (used for second derivatives of max pooling). `grad` is shaped like `orig_input`;
/// the result, shaped like `orig_output`, holds for each window the element of `grad`
/// at the window's argmax in `orig_input` (first maximum on ties).
///
/// Numeric dtypes. Errors like [`max_pool_grad`], with `grad` required to have
/// `orig_input`'s shape.
pub fn max_pool_grad_grad(
    orig_input: &Tensor,
    orig_output: &Tensor,
    grad: &Tensor,
    ksize: &[usize],
    strides: &[usize],
    padding: Padding,
) -> Result<Tensor> {
    let attrs = pool_attrs(MAX_POOL_GRAD_GRAD.name, ksize, strides, padding)?;
    let inputs = [orig_input.clone(), orig_output.clone(), grad.clone()];
    call1(&MAX_POOL_GRAD_GRAD, &inputs, &attrs)
}

/// `AvgPoolGrad`: the gradient of [`avg_pool2d`](super::avg_pool2d) with respect to its
/// input, of shape `orig_input_shape` `[batch, h, w, c]`. Each element of `grad` (the
/// pooled shape) is spread equally over its window's valid (non-padding) positions:
/// multiplied by `1 / count` (rounded to the dtype, as TensorFlow does), `count` being
/// what `avg_pool2d` divided by.
///
/// Float dtypes. Errors when `grad` is not 4-D or not the pooled shape of
/// `orig_input_shape`, or `orig_input_shape` does not have 4 elements.
pub fn avg_pool_grad(
    orig_input_shape: &[usize],
    grad: &Tensor,
    ksize: &[usize],
    strides: &[usize],
    padding: Padding,
) -> Result<Tensor> {
    let attrs = pool_attrs(AVG_POOL_GRAD.name, ksize, strides, padding)?
        .with("orig_input_shape", sizes(orig_input_shape));
    call1(&AVG_POOL_GRAD, std::slice::from_ref(grad), &attrs)
}
