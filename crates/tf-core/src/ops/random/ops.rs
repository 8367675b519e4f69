//! The random op definitions and their public functions.
//!
//! Every op takes its shape and dtype as attributes (`shape`: list of non-negative
//! ints, `dtype`), its seeds as `seed`/`seed2` (resolved by [`get_seed`]; `(0, 0)` is
//! nondeterministic) and no inputs. The affine maps TensorFlow's Python layer applies
//! after the raw kernels (`* (maxval - minval) + minval`, `* stddev + mean`) are fused
//! into the kernels as float attributes, computed in the output dtype with the same
//! rounding as the separate ops.

use super::dist::{
    Dist, Normal, NormalDist, RandFloat, Sampler, TruncatedDist, Uniform, UniformInt, fill,
};
use super::seed::{get_seed, reserve};
use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::op::{Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, spec1};
use crate::shape::{PartialShape, Shape};
use crate::tensor::Tensor;

/// Float dtypes of the random kernels.
const FLOATS: DTypeSet = DTypeSet::FLOAT;
/// Integer dtypes of RandomUniformInt.
const INTS: DTypeSet = DTypeSet::of(&[DType::I32, DType::I64]);

/// The `shape` attribute as a shape, validated.
pub(crate) fn shape_attr(ctx: &InferContext<'_>, name: &str) -> Result<Shape> {
    let dims = ctx.attr_ints(name)?;
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        if d < 0 {
            return Err(Error::invalid(
                ctx.name(),
                format!("shape {dims:?} has a negative dimension"),
            ));
        }
        out.push(d as usize);
    }
    let shape = Shape::from(out);
    if shape.checked_num_elements().is_none() {
        return Err(Error::invalid(
            ctx.name(),
            format!("shape {shape} has too many elements"),
        ));
    }
    Ok(shape)
}

fn dtype_attr(ctx: &InferContext<'_>, allowed: DTypeSet) -> Result<DType> {
    let dt = ctx.attr_dtype("dtype")?;
    if !allowed.contains(dt) {
        return Err(Error::invalid(
            ctx.name(),
            format!("dtype {dt} is not supported, expected one of {allowed}"),
        ));
    }
    Ok(dt)
}

fn infer_random_float(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = dtype_attr(ctx, FLOATS)?;
    let shape = shape_attr(ctx, "shape")?;
    spec1(dt, PartialShape::from(shape))
}

fn infer_random_int(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = dtype_attr(ctx, INTS)?;
    let shape = shape_attr(ctx, "shape")?;
    let (lo, hi) = (ctx.attr_int("minval")?, ctx.attr_int("maxval")?);
    if dt == DType::I32 {
        for (name, v) in [("minval", lo), ("maxval", hi)] {
            if i32::try_from(v).is_err() {
                return Err(Error::invalid(
                    ctx.name(),
                    format!("{name} {v} does not fit dtype int32"),
                ));
            }
        }
    }
    spec1(dt, PartialShape::from(shape))
}

/// The `(seed, seed2)` attributes of a kernel call.
pub(crate) fn seeds(ctx: &KernelContext<'_>) -> Result<(i64, i64)> {
    Ok((ctx.attr_int("seed")?, ctx.attr_int("seed2")?))
}

/// Runs `dist` for the kernel's output: reserves the stream of the kernel's generator
/// (keyed by `state_op`, the output dtype and the seeds) and fills the output.
pub(crate) fn run_dist<D: Dist>(
    ctx: &KernelContext<'_>,
    state_op: &'static str,
    shape: Shape,
    dist: &D,
) -> Result<Tensor> {
    let (seed, seed2) = seeds(ctx)?;
    let n = shape.num_elements();
    let rng = reserve(state_op, D::T::DTYPE, seed, seed2, n as u64);
    Tensor::from_host_vec(fill(n, rng, dist)?, shape)
}

fn uniform_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    fn run<T: Sampler>(ctx: &KernelContext<'_>) -> Result<Tensor> {
        let min = T::from_f64(ctx.attr_float("minval")?);
        let max = T::from_f64(ctx.attr_float("maxval")?);
        let dist = Uniform {
            min,
            range: T::sub(max, min),
        };
        run_dist(ctx, RANDOM_UNIFORM.name, ctx.out_shape(0)?, &dist)
    }
    let out = crate::with_float!(ctx.out_dtype(0), T => run::<T>(ctx)?, other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

fn uniform_int_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let shape = ctx.out_shape(0)?;
    let (lo, hi) = (ctx.attr_int("minval")?, ctx.attr_int("maxval")?);
    let dt = ctx.out_dtype(0);
    // Zero impossible things are fine: the range is checked only for non-empty outputs.
    if shape.num_elements() == 0 {
        return Ok(vec![Tensor::zeros(shape, dt)?]);
    }
    if lo >= hi {
        return Err(Error::invalid(
            ctx.name(),
            format!("Need minval < maxval, got {lo} >= {hi}"),
        ));
    }
    let out = match dt {
        DType::I32 => {
            let dist = UniformInt {
                lo: lo as i32,
                range: u64::from((hi as i32 as u32).wrapping_sub(lo as i32 as u32)),
            };
            run_dist(ctx, ctx.name(), shape, &dist)?
        }
        DType::I64 => {
            let dist = UniformInt {
                lo,
                range: (hi as u64).wrapping_sub(lo as u64),
            };
            run_dist(ctx, ctx.name(), shape, &dist)?
        }
        other => return Err(ctx.unsupported_dtype(other)),
    };
    Ok(vec![out])
}

fn normal_params<T: RandFloat>(ctx: &KernelContext<'_>) -> Result<Normal<T>> {
    Ok(Normal {
        mean: T::from_f64(ctx.attr_float("mean")?),
        stddev: T::from_f64(ctx.attr_float("stddev")?),
    })
}

fn normal_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    fn run<T: Sampler>(ctx: &KernelContext<'_>) -> Result<Tensor> {
        let dist = NormalDist(normal_params::<T>(ctx)?);
        run_dist(ctx, ctx.name(), ctx.out_shape(0)?, &dist)
    }
    let out = crate::with_float!(ctx.out_dtype(0), T => run::<T>(ctx)?, other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

fn truncated_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    fn run<T: Sampler>(ctx: &KernelContext<'_>) -> Result<Tensor> {
        let dist = TruncatedDist(normal_params::<T>(ctx)?);
        run_dist(ctx, ctx.name(), ctx.out_shape(0)?, &dist)
    }
    let out = crate::with_float!(ctx.out_dtype(0), T => run::<T>(ctx)?, other => return Err(ctx.unsupported_dtype(other)));
    Ok(vec![out])
}

/// Floats uniform in `[minval, maxval)` (TensorFlow's `RandomUniform` followed by the
/// affine map of `tf.random.uniform`). Attributes: `shape`, `dtype` (float),
/// `minval`, `maxval` (floats), `seed`, `seed2`.
pub static RANDOM_UNIFORM: OpDef = OpDef::new("RandomUniform", Arity::Fixed(0), infer_random_float)
    .cpu(FLOATS, uniform_kernel)
    .stateful();

/// Integers uniform in `[minval, maxval)` (`RandomUniformInt`). Attributes: `shape`,
/// `dtype` (int32/int64), `minval`, `maxval` (ints; `minval < maxval` unless the
/// output is empty), `seed`, `seed2`.
pub static RANDOM_UNIFORM_INT: OpDef =
    OpDef::new("RandomUniformInt", Arity::Fixed(0), infer_random_int)
        .cpu(INTS, uniform_int_kernel)
        .stateful();

/// Normal values `z * stddev + mean` (`RandomStandardNormal` with `tf.random.normal`'s
/// affine map). Attributes: `shape`, `dtype` (float), `mean`, `stddev`, `seed`, `seed2`.
pub static RANDOM_STANDARD_NORMAL: OpDef =
    OpDef::new("RandomStandardNormal", Arity::Fixed(0), infer_random_float)
        .cpu(FLOATS, normal_kernel)
        .stateful();

/// Normal values resampled until within two standard deviations, then
/// `z * stddev + mean` (`TruncatedNormal`). Attributes as [`RANDOM_STANDARD_NORMAL`].
pub static TRUNCATED_NORMAL: OpDef =
    OpDef::new("TruncatedNormal", Arity::Fixed(0), infer_random_float)
        .cpu(FLOATS, truncated_kernel)
        .stateful();

fn base_attrs(shape: &[usize], dtype: DType, seed: Option<u64>) -> Attrs {
    let (s1, s2) = get_seed(seed);
    Attrs::new()
        .with("shape", shape)
        .with("dtype", dtype)
        .with("seed", s1)
        .with("seed2", s2)
}

/// `tf.random.uniform`: values uniform in `[minval, maxval)` of `shape` and `dtype`.
///
/// Float dtypes (f16, bf16, f32, f64) run `RandomUniform`; int32/int64 run
/// `RandomUniformInt` and need integral bounds with `minval < maxval` (see
/// [`random_uniform_int`] for bounds beyond 2^53). `seed` is the op seed of
/// TensorFlow's seeding model (see [`set_random_seed`](super::set_random_seed)).
///
/// Errors on other dtypes, non-integral or empty integer ranges.
///
/// ```
/// use tf_core::{DType, ops};
/// let u = ops::random_uniform(&[2, 3], -1.0, 1.0, DType::F32, Some(7))?;
/// assert!(u.to_vec::<f32>()?.iter().all(|&v| (-1.0..1.0).contains(&v)));
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn random_uniform(
    shape: &[usize],
    minval: f64,
    maxval: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    if INTS.contains(dtype) {
        let as_int = |name: &str, v: f64| -> Result<i64> {
            if v.fract() != 0.0 || !v.is_finite() || v.abs() > 9.007_199_254_740_992e15 {
                return Err(Error::invalid(
                    RANDOM_UNIFORM_INT.name,
                    format!("{name} {v} is not an integer (dtype {dtype})"),
                ));
            }
            Ok(v as i64)
        };
        return random_uniform_int(
            shape,
            as_int("minval", minval)?,
            as_int("maxval", maxval)?,
            dtype,
            seed,
        );
    }
    let attrs = base_attrs(shape, dtype, seed)
        .with("minval", minval)
        .with("maxval", maxval);
    call1(&RANDOM_UNIFORM, &[], &attrs)
}

/// Integers uniform in `[minval, maxval)` (`tf.random.uniform` with an int dtype):
/// int32 or int64, `minval < maxval` unless `shape` has no elements. Like TensorFlow,
/// values are `minval + bits % (maxval - minval)` (negligible bias for small ranges).
///
/// Errors on other dtypes, bounds outside the dtype, or `minval >= maxval`.
pub fn random_uniform_int(
    shape: &[usize],
    minval: i64,
    maxval: i64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    let attrs = base_attrs(shape, dtype, seed)
        .with("minval", minval)
        .with("maxval", maxval);
    call1(&RANDOM_UNIFORM_INT, &[], &attrs)
}

/// `tf.random.normal`: normal values with `mean` and `stddev` of `shape` and a float
/// `dtype`.
///
/// Errors on non-float dtypes.
pub fn random_normal(
    shape: &[usize],
    mean: f64,
    stddev: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    let attrs = base_attrs(shape, dtype, seed)
        .with("mean", mean)
        .with("stddev", stddev);
    call1(&RANDOM_STANDARD_NORMAL, &[], &attrs)
}

/// `tf.random.truncated_normal`: normal values with `mean` and `stddev`, where values
/// more than two standard deviations from the mean are drawn again; float `dtype`.
///
/// Errors on non-float dtypes.
pub fn truncated_normal(
    shape: &[usize],
    mean: f64,
    stddev: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    let attrs = base_attrs(shape, dtype, seed)
        .with("mean", mean)
        .with("stddev", stddev);
    call1(&TRUNCATED_NORMAL, &[], &attrs)
}
