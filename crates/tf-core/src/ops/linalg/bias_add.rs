//! `BiasAdd`: adds a rank-1 bias along the channel dimension (the last one for NHWC,
//! dimension 1 for NCHW), and its gradient `BiasAddGrad`: the sum over every other
//! dimension.

use crate::dtype::DTypeSet;
use crate::error::{Error, Result};
use crate::kernels::parallel::{fill_vec, zip_into};
use crate::op::{Arity, AttrValue, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::ops::elementwise::{Arith, binary_map};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;
use smallvec::smallvec;

/// The channel axis for the `data_format` attribute (absent = NHWC).
fn channel_axis(ctx: &InferContext<'_>, rank: usize) -> Result<usize> {
    match ctx.attrs.get("data_format") {
        None => Ok(rank - 1),
        Some(AttrValue::Str(s)) if s == "NHWC" => Ok(rank - 1),
        Some(AttrValue::Str(s)) if s == "NCHW" => Ok(1),
        Some(other) => Err(Error::invalid(
            ctx.name(),
            format!("data_format must be \"NHWC\" or \"NCHW\", got {other}"),
        )),
    }
}

fn infer_bias_add(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let (value, bias) = (ctx.shape(0), ctx.shape(1));
    if value.rank() < 2 {
        return Err(Error::invalid(
            ctx.name(),
            format!("input tensor must be at least 2D: {value}"),
        ));
    }
    if bias.rank() != 1 {
        return Err(Error::invalid(
            ctx.name(),
            format!("biases must be 1D: {bias}"),
        ));
    }
    let axis = channel_axis(ctx, value.rank())?;
    if let (Some(c), Some(b)) = (value[axis], bias[0])
        && c != b
    {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "must provide as many biases as the channel dimension of the input tensor: {bias} vs. {value}"
            ),
        ));
    }
    spec1(dt, value)
}

fn bias_add_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let (x, bias) = (ctx.input(0), ctx.input(1));
    let axis = channel_axis(&ctx.infer(), x.rank())?;
    let shape = ctx.out_shape(0)?;
    crate::with_numeric!(ctx.out_dtype(0), T => {
        if axis + 1 == x.rank() {
            if let (Some(xs), Some(bs)) = (x.strided::<T>()?.as_contiguous(), bias.strided::<T>()?.as_contiguous()) {
                return Ok(vec![add_rows::<T>(xs, bs, &shape)?]);
            }
            Ok(vec![binary_map::<T, T>(x, bias, &shape, T::add)?])
        } else {
            // NCHW: view the bias as [C, 1, ..., 1] and broadcast.
            let rank = x.rank() - axis;
            let mut dims: crate::shape::Dims = smallvec![1; rank];
            dims[0] = bias.dims()[0];
            let mut strides: crate::shape::Strides = smallvec![0; rank];
            strides[0] = bias.strides()[0];
            let b = bias.view(ctx.name(), Shape::from(dims), strides, bias.offset())?;
            Ok(vec![binary_map::<T, T>(x, &b, &shape, T::add)?])
        }
    }, other => Err(ctx.unsupported_dtype(other)))
}

/// `out[i] = x[i] + bias[i % C]` for a contiguous `x` whose last dimension is `C`.
fn add_rows<T: Arith>(x: &[T], bias: &[T], shape: &Shape) -> Result<Tensor> {
    let c = bias.len();
    if c == 0 || x.is_empty() {
        return Tensor::from_host_vec(x.to_vec(), shape.clone());
    }
    let out = fill_vec(x.len(), |start, chunk| {
        let mut pos = 0;
        let mut c0 = start % c;
        while pos < chunk.len() {
            let len = (c - c0).min(chunk.len() - pos);
            let s = start + pos;
            zip_into(
                &x[s..s + len],
                &bias[c0..c0 + len],
                &mut chunk[pos..pos + len],
                T::add,
            );
            pos += len;
            c0 = 0;
        }
    })?;
    Tensor::from_host_vec(out, shape.clone())
}

/// Adds a rank-1 bias along the channel dimension (attr `data_format`: `"NHWC"`, the
/// default, or `"NCHW"`).
pub static BIAS_ADD: OpDef =
    OpDef::new("BiasAdd", Arity::Fixed(2), infer_bias_add).cpu(DTypeSet::NUMERIC, bias_add_kernel);

/// `tf.nn.bias_add(value, bias)`: `value + bias` with `bias` (rank 1, length C) added
/// along the last dimension of `value` (rank >= 2, NHWC layout). Integers wrap.
///
/// Errors when `value` has rank < 2, `bias` is not rank 1, their dtypes differ or the
/// bias length differs from the last dimension.
pub fn bias_add(value: &Tensor, bias: &Tensor) -> Result<Tensor> {
    call1(&BIAS_ADD, &[value.clone(), bias.clone()], &Attrs::new())
}

/// `tf.nn.bias_add(value, bias, data_format="NCHW")`: the bias is added along
/// dimension 1.
pub fn bias_add_nchw(value: &Tensor, bias: &Tensor) -> Result<Tensor> {
    call1(
        &BIAS_ADD,
        &[value.clone(), bias.clone()],
        &Attrs::new().with("data_format", "NCHW"),
    )
}

fn infer_bias_add_grad(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = ctx.check_dtype(0, DTypeSet::NUMERIC)?;
    let g = ctx.shape(0);
    if g.rank() < 2 {
        return Err(Error::invalid(
            ctx.name(),
            format!("input tensor must be at least 2D: {g}"),
        ));
    }
    let axis = channel_axis(ctx, g.rank())?;
    spec1(dt, PartialShape::new(&[g[axis]]))
}

fn bias_add_grad_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let g = ctx.input(0);
    let axis = channel_axis(&ctx.infer(), g.rank())?;
    let reduced: Vec<bool> = (0..g.rank()).map(|d| d != axis).collect();
    Ok(vec![crate::ops::reduce::sum_masked(
        ctx.name(),
        g,
        &reduced,
        ctx.out_shape(0)?,
    )?])
}

/// The gradient of [`BIAS_ADD`] with respect to the bias (TensorFlow's
/// `BiasAddGrad`): input `out_backprop` (rank >= 2, numeric), attribute `data_format`
/// (`"NHWC"`, the default, or `"NCHW"`); output `[C]`, the sum of `out_backprop` over
/// every dimension but the channel one. One vectorized pass (floats accumulate in f64).
pub static BIAS_ADD_GRAD: OpDef = OpDef::new("BiasAddGrad", Arity::Fixed(1), infer_bias_add_grad)
    .cpu(DTypeSet::NUMERIC, bias_add_grad_kernel);

/// `BiasAddGrad(out_backprop, data_format)`: sums `out_backprop` over every dimension
/// except the channel one (the last for `"NHWC"`, dimension 1 for `"NCHW"`), giving the
/// bias gradient of [`bias_add`] / [`bias_add_nchw`].
///
/// Errors when `out_backprop` has rank < 2, a non-numeric dtype, or `data_format` is
/// neither `"NHWC"` nor `"NCHW"`.
///
/// ```
/// use tf_core::{Tensor, ops};
/// let g = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [2, 2, 2])?;
/// assert_eq!(ops::bias_add_grad(&g, "NHWC")?.to_vec::<f32>()?, vec![16.0, 20.0]);
/// assert_eq!(ops::bias_add_grad(&g, "NCHW")?.to_vec::<f32>()?, vec![14.0, 22.0]);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn bias_add_grad(out_backprop: &Tensor, data_format: &str) -> Result<Tensor> {
    call1(
        &BIAS_ADD_GRAD,
        std::slice::from_ref(out_backprop),
        &Attrs::new().with("data_format", data_format.to_string()),
    )
}
