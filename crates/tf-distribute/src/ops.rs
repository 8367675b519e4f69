//! Collectives as ops: `CollectiveReduceV2` (TensorFlow's op type name), an
//! element-wise reduction over the replicas of the current [`ReplicaContext`]. Defined
//! once (one registration with its shape function and CPU kernel, one gradient), so it
//! runs eagerly, traces into tf-graph functions and differentiates under tapes.
//!
//! Differences from TensorFlow's op: `group_size`, `group_key` and `instance_key` are
//! attributes rather than tensor inputs (shape-like arguments are attributes here), and
//! collectives are matched by call order on the replica's communicator rather than by
//! instance key (the op is stateful, so graph executors keep program order; it is also
//! pinned to the calling thread, whose replica context the kernel reads). One extra
//! attribute, `weight_by_share`, serves the gradient (see [`collective_reduce`]).

use crate::communicator::ReduceOp;
use crate::replica::{ReplicaContext, get_replica_context};
use std::sync::Once;
use std::sync::atomic::{AtomicI64, Ordering};
use tf_autodiff::{GradContext, register_gradient};
use tf_core::op::{
    Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, register_static_op, spec1,
};
use tf_core::{DType, DTypeSet, Error, Result, Tensor};

/// The group key of a replica context's group (one group per context here).
pub const DEFAULT_GROUP_KEY: i64 = 1;

const NAME: &str = "CollectiveReduceV2";

/// `CollectiveReduceV2`: `input` reduced element-wise over `group_size` replicas.
/// Attributes: `group_size`, `group_key`, `instance_key` (ints), `merge_op` (`"Add"`,
/// `"Min"`, `"Max"`), `final_op` (`"Id"`, or `"Div"` with `"Add"` for a mean), and
/// optionally `weight_by_share` (bool). float32 / float64; output spec = input spec.
pub static COLLECTIVE_REDUCE_V2: OpDef = OpDef::new(NAME, Arity::Fixed(1), infer)
    .cpu(DTypeSet::of(&[DType::F32, DType::F64]), kernel)
    .stateful()
    .on_calling_thread();

static NEXT_INSTANCE_KEY: AtomicI64 = AtomicI64::new(1);

/// Registers `CollectiveReduceV2` and its gradient (once per process; the first
/// [`ReplicaContext::enter`] or [`collective_reduce`] does it).
pub fn ensure_registered() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only fails when another op took the name; the static still gets an id.
        if let Err(e) = register_static_op(&COLLECTIVE_REDUCE_V2) {
            tracing::warn!(target: "tf_distribute", "{e}");
        }
        register_gradient(&COLLECTIVE_REDUCE_V2, gradient);
    });
}

/// The parsed attributes of one call.
struct Parsed {
    group_size: usize,
    group_key: i64,
    op: ReduceOp,
    weight_by_share: bool,
    final_div: bool,
}

fn parse(attrs: &Attrs) -> Result<Parsed> {
    let int = |k: &str| {
        attrs.int(k).ok_or_else(|| {
            Error::invalid(
                NAME,
                format!("missing or mistyped attribute '{k}' (expected int)"),
            )
        })
    };
    let group_size = int("group_size")?;
    let group_key = int("group_key")?;
    int("instance_key")?;
    let group_size = usize::try_from(group_size)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| {
            Error::invalid(
                NAME,
                format!("group_size must be at least 1, got {group_size}"),
            )
        })?;
    let merge = attrs.str("merge_op").unwrap_or("Add");
    let fin = attrs.str("final_op").unwrap_or("Id");
    let (op, final_div) = match (merge, fin) {
        ("Add", "Id") => (ReduceOp::Sum, false),
        ("Add", "Div") => (ReduceOp::Sum, true),
        ("Max", "Id") => (ReduceOp::Max, false),
        ("Min", "Id") => (ReduceOp::Min, false),
        _ => {
            return Err(Error::invalid(
                NAME,
                format!(
                    "merge_op {merge:?} with final_op {fin:?} is not supported \
                     (merge_op Add, Min or Max; final_op Id, or Div with Add)"
                ),
            ));
        }
    };
    let weight_by_share = attrs.bool("weight_by_share").unwrap_or(false);
    if weight_by_share && op != ReduceOp::Sum {
        return Err(Error::invalid(NAME, "weight_by_share needs merge_op Add"));
    }
    Ok(Parsed {
        group_size,
        group_key,
        op,
        weight_by_share,
        final_div,
    })
}

fn infer(ctx: &InferContext<'_>) -> Result<Specs> {
    parse(ctx.attrs)?;
    let dt = ctx.check_dtype(0, DTypeSet::of(&[DType::F32, DType::F64]))?;
    spec1(dt, ctx.shape(0))
}

/// The error of a collective op run where no replica context is installed.
fn no_context() -> Error {
    Error::precondition(
        NAME,
        "no replica context on this thread: collective ops run inside a distributed \
         step (tf_distribute::ReplicaContext::enter; Keras's fit with a strategy enters \
         one for each step)",
    )
}

fn kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let p = parse(ctx.attrs)?;
    let replica = get_replica_context().ok_or_else(no_context)?;
    replica.check_collectives(NAME)?;
    let n = replica.num_replicas_in_sync();
    if n != p.group_size {
        return Err(Error::invalid(
            NAME,
            format!(
                "group_size {} (group_key {}) but the replica context has {n} replicas",
                p.group_size, p.group_key
            ),
        ));
    }
    let x = ctx.input(0);
    let dims = x.dims().to_vec();
    let out = match x.dtype() {
        DType::F32 => {
            let mut v = x.to_vec::<f32>()?;
            reduce(
                &replica,
                &p,
                &mut v,
                |x| x as f32,
                crate::CollectiveGroup::all_reduce_f32,
            )?;
            Tensor::from_host_vec(v, dims)?
        }
        DType::F64 => {
            let mut v = x.to_vec::<f64>()?;
            reduce(
                &replica,
                &p,
                &mut v,
                |x| x,
                crate::CollectiveGroup::all_reduce_f64,
            )?;
            Tensor::from_host_vec(v, dims)?
        }
        other => return Err(ctx.unsupported_dtype(other)),
    };
    Ok(vec![out])
}

/// `sum_j share_j x_j / share_r` when weighting by share; `/ n` for a mean. `of`
/// converts a float64 factor to `T`; `all_reduce` is the group's reduction for `T`.
fn reduce<T: Copy + std::ops::MulAssign>(
    replica: &ReplicaContext,
    p: &Parsed,
    v: &mut Vec<T>,
    of: fn(f64) -> T,
    all_reduce: fn(&crate::CollectiveGroup, &mut Vec<T>, ReduceOp) -> crate::Result<()>,
) -> Result<()> {
    let share = replica.share();
    if p.weight_by_share {
        let s = of(share);
        v.iter_mut().for_each(|x| *x *= s);
    }
    all_reduce(replica.group(), v, p.op)?;
    let mut scale = 1.0f64;
    if p.weight_by_share {
        scale /= share;
    }
    if p.final_div {
        scale /= p.group_size as f64;
    }
    if scale != 1.0 {
        let s = of(scale);
        v.iter_mut().for_each(|x| *x *= s);
    }
    Ok(())
}

/// A `CollectiveReduceV2` call with every attribute.
fn call_op(
    x: &Tensor,
    group_size: usize,
    group_key: i64,
    merge_op: &'static str,
    final_op: &'static str,
    weight_by_share: bool,
) -> Result<Tensor> {
    ensure_registered();
    let attrs = Attrs::new()
        .with("group_size", group_size)
        .with("group_key", group_key)
        .with(
            "instance_key",
            NEXT_INSTANCE_KEY.fetch_add(1, Ordering::Relaxed),
        )
        .with("merge_op", merge_op)
        .with("final_op", final_op)
        .with("weight_by_share", weight_by_share);
    call1(&COLLECTIVE_REDUCE_V2, std::slice::from_ref(x), &attrs)
}

/// `x` reduced element-wise over the `group_size` replicas of this thread's
/// [`ReplicaContext`] (`merge_op` `"Add"`/`"Min"`/`"Max"`, `final_op` `"Id"` or
/// `"Div"` for a mean of an `"Add"`); every replica gets the result.
///
/// The gradient of a sum (or mean) is the sum (mean) of the replicas' upstream
/// gradients, each weighted by its replica's share of the global batch divided by this
/// replica's share (`sum_j share_j g_j / share_r`): with equal shares (the default
/// `1 / group_size`) that is TensorFlow's plain sum; with unequal shares it keeps the
/// data-parallel gradient `sum_r share_r * grad_r` exact when each replica's loss is a
/// mean over its own rows. Min/Max have no gradient.
///
/// Errors: dtypes other than float32/float64, bad attributes, no replica context on
/// the thread that runs the kernel, a group size different from the context's, and
/// the communicator's errors (timeouts, a broken group).
pub fn collective_reduce(
    x: &Tensor,
    group_size: usize,
    group_key: i64,
    merge_op: &'static str,
    final_op: &'static str,
) -> Result<Tensor> {
    call_op(x, group_size, group_key, merge_op, final_op, false)
}

fn gradient(ctx: &GradContext<'_>) -> Result<Vec<Option<Tensor>>> {
    let p = parse(ctx.attrs)?;
    if p.op != ReduceOp::Sum {
        return Err(Error::unimplemented(
            NAME,
            "no gradient for merge_op Min/Max",
        ));
    }
    if p.weight_by_share {
        return Err(Error::unimplemented(
            NAME,
            "no second-order gradient through a cross-replica reduction",
        ));
    }
    let g = ctx.grad(0)?;
    let fin = if p.final_div { "Div" } else { "Id" };
    Ok(vec![Some(call_op(
        &g,
        p.group_size,
        p.group_key,
        "Add",
        fin,
        true,
    )?)])
}
