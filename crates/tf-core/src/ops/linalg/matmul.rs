//! `MatMul` (rank 2, `transpose_a`/`transpose_b`) and `BatchMatMulV2` (rank >= 2,
//! `adj_x`/`adj_y`, NumPy broadcasting of the batch dimensions).
//!
//! Both run on [`GemmElem`]: transposes and strided views become operand strides, never
//! copies. Half types are converted to f32, multiplied with f32 accumulation and
//! rounded once.

use super::convert::{from_f32_tensor, to_f32_vec};
use super::gemm::{GEMM_PAR_WORK, GemmElem, MatRef};
use crate::dtype::{DType, DTypeSet, Element};
use crate::error::{Error, Result};
use crate::kernels::alloc::alloc_zeroed;
use crate::kernels::strided::for_each_offsets;
use crate::op::{Arity, AttrValue, Attrs, InferContext, KernelContext, OpDef, Specs, spec1};
use crate::shape::{PartialShape, Shape, broadcast_strides, contiguous_strides};
use crate::tensor::{StridedView, Tensor};
use rayon::prelude::*;

/// Dtypes with a CPU matmul kernel (TensorFlow's CPU set: floats, int32, int64).
pub const MATMUL_DTYPES: DTypeSet = DTypeSet::FLOAT.union(DTypeSet::of(&[DType::I32, DType::I64]));

/// An optional bool attribute (absent = false); another kind of value is an error.
pub(crate) fn flag(ctx: &InferContext<'_>, name: &str) -> Result<bool> {
    match ctx.attrs.get(name) {
        None => Ok(false),
        Some(AttrValue::Bool(b)) => Ok(*b),
        Some(other) => Err(Error::invalid(
            ctx.name(),
            format!(
                "attribute '{name}' must be a bool, got {} {other}",
                other.kind()
            ),
        )),
    }
}

/// The matrix dims of a (partial) shape after an optional transpose of the last two.
fn transposed(shape: &PartialShape, t: bool) -> PartialShape {
    let mut d: Vec<Option<usize>> = shape.dims().to_vec();
    let r = d.len();
    if t && r >= 2 {
        d.swap(r - 2, r - 1);
    }
    d.into()
}

/// Checks the inner dimensions of `op(a)` and `op(b)` and returns `(m, n)`.
fn inner_dims(
    ctx: &InferContext<'_>,
    a: &PartialShape,
    b: &PartialShape,
) -> Result<(Option<usize>, Option<usize>)> {
    let (ra, rb) = (a.rank(), b.rank());
    let (m, ka) = (a[ra - 2], a[ra - 1]);
    let (kb, n) = (b[rb - 2], b[rb - 1]);
    if let (Some(x), Some(y)) = (ka, kb)
        && x != y
    {
        return Err(Error::invalid(
            ctx.name(),
            format!("inner dimensions differ: {a} x {b}"),
        ));
    }
    Ok((m, n))
}

fn check_dtypes(ctx: &InferContext<'_>) -> Result<DType> {
    let dt = ctx.same_dtype()?;
    ctx.check_dtype(0, MATMUL_DTYPES).map(|_| dt)
}

fn infer_matmul(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = check_dtypes(ctx)?;
    let (sa, sb) = (ctx.shape(0), ctx.shape(1));
    if sa.rank() != 2 || sb.rank() != 2 {
        return Err(Error::invalid(
            ctx.name(),
            format!("inputs must be matrices (rank 2), got shapes {sa} and {sb}"),
        ));
    }
    let a = transposed(&sa, flag(ctx, "transpose_a")?);
    let b = transposed(&sb, flag(ctx, "transpose_b")?);
    let (m, n) = inner_dims(ctx, &a, &b)?;
    let out = PartialShape::new(&[m, n]);
    super::check_output_size(ctx.name(), &out)?;
    spec1(dt, out)
}

fn infer_batch_matmul(ctx: &InferContext<'_>) -> Result<Specs> {
    let dt = check_dtypes(ctx)?;
    let (sa, sb) = (ctx.shape(0), ctx.shape(1));
    if sa.rank() < 2 || sb.rank() < 2 {
        return Err(Error::invalid(
            ctx.name(),
            format!("inputs must have rank >= 2, got shapes {sa} and {sb}"),
        ));
    }
    let a = transposed(&sa, flag(ctx, "adj_x")?);
    let b = transposed(&sb, flag(ctx, "adj_y")?);
    let (m, n) = inner_dims(ctx, &a, &b)?;
    let batch_a: PartialShape = a.dims()[..a.rank() - 2].to_vec().into();
    let batch_b: PartialShape = b.dims()[..b.rank() - 2].to_vec().into();
    let mut out =
        crate::shape::broadcast_partial(ctx.name(), &batch_a, &batch_b).map_err(|_| {
            Error::invalid(
                ctx.name(),
                format!("batch dimensions do not broadcast: {a} x {b}"),
            )
        })?;
    out.push(m);
    out.push(n);
    super::check_output_size(ctx.name(), &out)?;
    spec1(dt, out)
}

fn matmul_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let infer = ctx.infer();
    let (ta, tb) = (flag(&infer, "transpose_a")?, flag(&infer, "transpose_b")?);
    let out = batched_matmul(
        ctx.name(),
        ctx.input(0),
        ctx.input(1),
        ta,
        tb,
        &ctx.out_shape(0)?,
    )?;
    Ok(vec![out])
}

fn batch_matmul_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let infer = ctx.infer();
    let (ta, tb) = (flag(&infer, "adj_x")?, flag(&infer, "adj_y")?);
    let out = batched_matmul(
        ctx.name(),
        ctx.input(0),
        ctx.input(1),
        ta,
        tb,
        &ctx.out_shape(0)?,
    )?;
    Ok(vec![out])
}

/// `out[..., :, :] = op(a)[..., :, :] × op(b)[..., :, :]` for inputs of any layout, with
/// the batch dimensions broadcast to those of `out_shape` (already inferred).
pub(crate) fn batched_matmul(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    out_shape: &Shape,
) -> Result<Tensor> {
    match a.dtype() {
        DType::F32 => run::<f32>(op, a.strided()?, b.strided()?, ta, tb, out_shape),
        DType::F64 => run::<f64>(op, a.strided()?, b.strided()?, ta, tb, out_shape),
        DType::I32 => run::<i32>(op, a.strided()?, b.strided()?, ta, tb, out_shape),
        DType::I64 => run::<i64>(op, a.strided()?, b.strided()?, ta, tb, out_shape),
        DType::F16 => via_f32::<crate::f16>(op, a, b, ta, tb, out_shape),
        DType::BF16 => via_f32::<crate::bf16>(op, a, b, ta, tb, out_shape),
        other => Err(Error::unimplemented(
            op,
            format!("no CPU kernel for dtype {other}"),
        )),
    }
}

fn via_f32<H: Element>(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    out_shape: &Shape,
) -> Result<Tensor> {
    let (af, bf) = (to_f32_vec::<H>(a)?, to_f32_vec::<H>(b)?);
    let (sa, sb) = (contiguous_strides(a.dims()), contiguous_strides(b.dims()));
    let av = StridedView {
        data: &af,
        offset: 0,
        dims: a.dims(),
        strides: &sa,
    };
    let bv = StridedView {
        data: &bf,
        offset: 0,
        dims: b.dims(),
        strides: &sb,
    };
    from_f32_tensor::<H>(&run_vec::<f32>(op, av, bv, ta, tb, out_shape)?, out_shape)
}

fn run<T: GemmElem + Element>(
    op: &'static str,
    av: StridedView<'_, T>,
    bv: StridedView<'_, T>,
    ta: bool,
    tb: bool,
    out_shape: &Shape,
) -> Result<Tensor> {
    Tensor::from_host_vec(run_vec(op, av, bv, ta, tb, out_shape)?, out_shape.clone())
}

/// The matrix at storage offset `off` of a rank >= 2 view, transposed if `t`.
fn matrix<'a, T: Copy>(v: &StridedView<'a, T>, off: usize, t: bool) -> MatRef<'a, T> {
    let r = v.dims.len();
    let m = MatRef {
        data: v.data,
        offset: off,
        rows: v.dims[r - 2],
        cols: v.dims[r - 1],
        rs: v.strides[r - 2],
        cs: v.strides[r - 1],
    };
    if t { m.t() } else { m }
}

fn run_vec<T: GemmElem + Element>(
    op: &'static str,
    av: StridedView<'_, T>,
    bv: StridedView<'_, T>,
    ta: bool,
    tb: bool,
    out_shape: &Shape,
) -> Result<Vec<T>> {
    let (ra, rb, r) = (av.dims.len(), bv.dims.len(), out_shape.rank());
    if ra < 2 || rb < 2 || r < 2 || ra > r || rb > r {
        return Err(Error::precondition(
            op,
            format!("bad ranks {ra}, {rb} for output {out_shape}"),
        ));
    }
    let (m, n) = (out_shape[r - 2], out_shape[r - 1]);
    let k = if ta { av.dims[ra - 2] } else { av.dims[ra - 1] };
    let mn = m * n;
    let mut out = alloc_zeroed::<T>(out_shape.num_elements())?;
    if out.is_empty() {
        return Ok(out);
    }
    let batch = &out_shape[..r - 2];
    let sa = broadcast_strides(&av.dims[..ra - 2], &av.strides[..ra - 2], batch);
    let sb = broadcast_strides(&bv.dims[..rb - 2], &bv.strides[..rb - 2], batch);
    let mut offsets = Vec::with_capacity(out.len() / mn);
    for_each_offsets(batch, [&sa, &sb], [av.offset, bv.offset], |o| {
        offsets.push(o)
    });
    let job = |dst: &mut [T], [oa, ob]: [usize; 2], parallel: bool| {
        T::gemm(dst, matrix(&av, oa, ta), matrix(&bv, ob, tb), parallel)
    };
    let work = mn.saturating_mul(k);
    if offsets.len() == 1 || work >= GEMM_PAR_WORK {
        // Few large products: each one uses every core.
        for (dst, &o) in out.chunks_mut(mn).zip(&offsets) {
            job(dst, o, true)?;
        }
    } else if offsets.len().saturating_mul(work) >= GEMM_PAR_WORK {
        // Many small products: one per task, single-threaded inside.
        out.par_chunks_mut(mn)
            .zip(offsets.par_iter())
            .try_for_each(|(dst, &o)| job(dst, o, false))?;
    } else {
        for (dst, &o) in out.chunks_mut(mn).zip(&offsets) {
            job(dst, o, false)?;
        }
    }
    Ok(out)
}

/// Matrix product of two rank-2 tensors (attrs `transpose_a`, `transpose_b`, default
/// false): `[m,k] x [k,n] -> [m,n]`.
pub static MATMUL: OpDef =
    OpDef::new("MatMul", Arity::Fixed(2), infer_matmul).cpu(MATMUL_DTYPES, matmul_kernel);

/// Batched matrix product with broadcast batch dimensions (attrs `adj_x`, `adj_y`,
/// default false): `[..., m, k] x [..., k, n] -> [broadcast(...), m, n]`.
pub static BATCH_MATMUL: OpDef = OpDef::new("BatchMatMulV2", Arity::Fixed(2), infer_batch_matmul)
    .cpu(MATMUL_DTYPES, batch_matmul_kernel);

/// `tf.matmul(a, b)`: matrix product of the last two dimensions, batch dimensions
/// broadcast (`MatMul` for two matrices, `BatchMatMulV2` otherwise).
///
/// Dtypes: float32/64, float16, bfloat16 (computed in f32, rounded once), int32 and
/// int64 (wrapping). Errors when a rank is below 2, the dtypes differ, the inner
/// dimensions differ (`MatMul: inner dimensions differ: [3,5] x [4,2]`) or the batch
/// dimensions do not broadcast.
///
/// ```
/// use tf_core::{Tensor, ops};
/// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2])?;
/// let b = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0], [2, 2])?;
/// assert_eq!(ops::matmul(&a, &b)?.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    matmul_transposed(a, b, false, false)
}

/// `tf.matmul(a, b, transpose_a=.., transpose_b=..)`: like [`matmul`] with either
/// operand's last two dimensions transposed first (no copy is made). For real dtypes
/// this is also `adjoint_a`/`adjoint_b`.
pub fn matmul_transposed(
    a: &Tensor,
    b: &Tensor,
    transpose_a: bool,
    transpose_b: bool,
) -> Result<Tensor> {
    let inputs = [a.clone(), b.clone()];
    if a.rank() <= 2 && b.rank() <= 2 {
        let attrs = Attrs::new()
            .with("transpose_a", transpose_a)
            .with("transpose_b", transpose_b);
        crate::op::call1(&MATMUL, &inputs, &attrs)
    } else {
        batch_matmul(a, b, transpose_a, transpose_b)
    }
}

/// `BatchMatMulV2` (`tf.linalg.matmul` on batches): `adj_x`/`adj_y` transpose the last
/// two dimensions of `x`/`y`. Both ranks must be at least 2.
pub fn batch_matmul(x: &Tensor, y: &Tensor, adj_x: bool, adj_y: bool) -> Result<Tensor> {
    let attrs = Attrs::new().with("adj_x", adj_x).with("adj_y", adj_y);
    crate::op::call1(&BATCH_MATMUL, &[x.clone(), y.clone()], &attrs)
}
