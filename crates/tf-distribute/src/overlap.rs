//! The gradient all-reduce overlapped with the backward pass.
//!
//! [`ReplicaContext::all_reduce_gradients`] reduces a step's gradients as ops: the
//! gradients are grouped into buckets in reverse order (the last layers' gradients,
//! which the backward pass produces first, go first; the first bucket is small, as in
//! PyTorch DDP), and each bucket is one `CollectiveReduceStart` op (it takes the
//! bucket's gradients, packs them in float32 and starts a non-blocking all-reduce,
//! returning a ticket) and one `CollectiveReduceWait` op (it waits and returns the
//! reduced values, which ordinary ops split back into gradients). The start op is
//! [scheduled early](tf_core::op::OpDef::schedule_early): when the step is traced into a
//! tf-graph function, the executor runs each start as soon as the bucket's last
//! gradient exists, and the waits stay at the end, so the reduction of the last layers'
//! gradients runs while the backward pass computes the first layers'. Between nodes the
//! executor calls the replica's progress hook, which advances the started all-reduces
//! (MPI's non-blocking collectives move only inside MPI calls). The last bucket (the
//! first layers' gradients, produced last) has nothing left to overlap with:
//! [`ReplicaContext::all_reduce_gradients_but_last`] leaves it to the host, which runs
//! the engine's blocking all-reduce on it (faster with MPI than the non-blocking one)
//! with other values fused in; a model whose gradients fit one bucket then gets
//! exactly the blocking all-reduce after the backward pass.
//!
//! Engines: MPI (`MPI_Iallreduce`), NCCL (enqueued on the device's stream) start for
//! real; the in-process [`LocalGroup`](crate::LocalGroup) and [`SingleProcess`](
//! crate::SingleProcess) run the default
//! [`Communicator::start_all_reduce_f32`](crate::Communicator::start_all_reduce_f32),
//! blocking at the start: the result is the same as the host-side
//! [`CollectiveGroup::all_reduce_gradients`](crate::CollectiveGroup::all_reduce_gradients)
//! at the same place in the step.
//!
//! All three ops are stateful and pinned to the calling thread (they reach the thread's
//! [`ReplicaContext`], where started all-reduces wait under their ticket); a graph holding
//! them runs in order, the same order in every process, so collectives stay matched. They
//! have no gradient.

use crate::bucket::plan_buckets_with_first;
use crate::communicator::ReduceOp;
use crate::replica::{ReplicaContext, get_replica_context};
use std::sync::Once;
use tf_core::op::{
    Arity, Attrs, InferContext, KernelContext, OpDef, Specs, call1, register_static_op, spec1,
};
use tf_core::shape::PartialShape;
use tf_core::{DType, DTypeSet, Error, Result, Tensor, ops};

const START: &str = "CollectiveReduceStart";
const FLOATS: DTypeSet = DTypeSet::of(&[DType::F16, DType::BF16, DType::F32, DType::F64]);
const WAIT: &str = "CollectiveReduceWait";

/// `CollectiveReduceStart`: starts the sum over `group_size` replicas of its inputs
/// (one or more float tensors of any width and shape, flattened and concatenated in
/// float32), multiplied first by this replica's share of the global batch when
/// `scale_by_share` is true; returns the int64 scalar ticket that
/// `CollectiveReduceWait` takes.
pub static COLLECTIVE_REDUCE_START: OpDef = OpDef::new(START, Arity::AtLeast(1), infer_start)
    .cpu(FLOATS, start_kernel)
    .stateful()
    .on_calling_thread()
    .scheduled_early();

/// `CollectiveReduceWait`: the reduced values of the all-reduce of a ticket, a float32
/// vector of `num_elements`.
pub static COLLECTIVE_REDUCE_WAIT: OpDef = OpDef::new(WAIT, Arity::Fixed(1), infer_wait)
    .cpu(DTypeSet::of(&[DType::I64]), wait_kernel)
    .stateful()
    .on_calling_thread();

/// `ReplicaShare`: this replica's share of the global batch, read from the thread's
/// [`ReplicaContext`] when the op runs (a float32 scalar; stateful, so a traced step
/// reused with another share never sees a folded constant). With one worker and several
/// local replicas, [`ReplicaContext::all_reduce_gradients`] scales the gradients by it
/// on their device instead of a host round trip.
pub static REPLICA_SHARE: OpDef = OpDef::new(SHARE, Arity::Fixed(0), infer_share)
    .cpu(DTypeSet::of(&[DType::F32]), share_kernel)
    .stateful()
    .on_calling_thread();

const SHARE: &str = "ReplicaShare";

/// Registers the three ops (once per process; [`ReplicaContext::enter`] does it).
pub fn ensure_registered() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for def in [
            &COLLECTIVE_REDUCE_START,
            &COLLECTIVE_REDUCE_WAIT,
            &REPLICA_SHARE,
        ] {
            // Only fails when another op took the name; the static still gets an id.
            if let Err(e) = register_static_op(def) {
                tracing::warn!(target: "tf_distribute", "{e}");
            }
        }
    });
}

fn int_attr(op: &'static str, attrs: &Attrs, k: &str) -> Result<usize> {
    let v = attrs.int(k).ok_or_else(|| {
        Error::invalid(
            op,
            format!("missing or mistyped attribute '{k}' (expected int)"),
        )
    })?;
    usize::try_from(v)
        .map_err(|_| Error::invalid(op, format!("attribute '{k}' must be >= 0, got {v}")))
}

fn group_size(op: &'static str, attrs: &Attrs) -> Result<usize> {
    let n = int_attr(op, attrs, "group_size")?;
    if n == 0 {
        return Err(Error::invalid(op, "group_size must be at least 1, got 0"));
    }
    Ok(n)
}

fn infer_start(ctx: &InferContext<'_>) -> Result<Specs> {
    group_size(START, ctx.attrs)?;
    for i in 0..ctx.num_inputs() {
        ctx.check_dtype(i, FLOATS)?;
    }
    spec1(DType::I64, PartialShape::scalar())
}

fn infer_share(_ctx: &InferContext<'_>) -> Result<Specs> {
    spec1(DType::F32, PartialShape::scalar())
}

fn share_kernel(_ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let replica = get_replica_context().ok_or_else(|| {
        Error::precondition(
            SHARE,
            "no replica context on this thread: the op runs inside a distributed step",
        )
    })?;
    Ok(vec![Tensor::from_host_vec(
        vec![replica.share() as f32],
        Vec::new(),
    )?])
}

/// This replica's share, as an op (see [`REPLICA_SHARE`]).
fn replica_share() -> Result<Tensor> {
    ensure_registered();
    call1(&REPLICA_SHARE, &[], &Attrs::new())
}

fn infer_wait(ctx: &InferContext<'_>) -> Result<Specs> {
    group_size(WAIT, ctx.attrs)?;
    let n = int_attr(WAIT, ctx.attrs, "num_elements")?;
    ctx.check_dtype(0, DTypeSet::of(&[DType::I64]))?;
    if ctx.shape(0).rank() != 0 {
        return Err(Error::invalid(WAIT, "the ticket must be an int64 scalar"));
    }
    spec1(DType::F32, PartialShape::known(&[n]))
}

/// This thread's replica context, checked against the op's group size.
fn context(op: &'static str, attrs: &Attrs) -> Result<std::rc::Rc<ReplicaContext>> {
    let n = group_size(op, attrs)?;
    let replica = get_replica_context().ok_or_else(|| {
        Error::precondition(
            op,
            "no replica context on this thread: collective ops run inside a distributed \
             step (tf_distribute::ReplicaContext::enter; Keras's fit with a strategy enters \
             one for each step)",
        )
    })?;
    let have = replica.num_replicas_in_sync();
    if have != n {
        return Err(Error::invalid(
            op,
            format!("group_size {n} but the replica context has {have} replicas"),
        ));
    }
    Ok(replica)
}

fn start_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let replica = context(START, ctx.attrs)?;
    let scale = if ctx.attrs.bool("scale_by_share").unwrap_or(false) {
        replica.share() as f32
    } else {
        1.0
    };
    let total: usize = ctx.inputs.iter().map(Tensor::num_elements).sum();
    let mut v: Vec<f32> = Vec::with_capacity(total);
    for x in ctx.inputs {
        append_f32(&mut v, x, scale)?;
    }
    let pending = replica.group().start_all_reduce_f32(v, ReduceOp::Sum)?;
    let ticket = replica.add_pending(pending);
    Ok(vec![Tensor::from_host_vec(vec![ticket], Vec::new())?])
}

fn wait_kernel(ctx: &KernelContext<'_>) -> Result<Vec<Tensor>> {
    let replica = context(WAIT, ctx.attrs)?;
    let n = int_attr(WAIT, ctx.attrs, "num_elements")?;
    let ticket = ctx.input(0).scalar::<i64>()?;
    let pending = replica.take_pending(ticket).ok_or_else(|| {
        Error::precondition(
            WAIT,
            format!(
                "no started all-reduce has ticket {ticket} in this replica context \
                 (waited twice, or started in another step)"
            ),
        )
    })?;
    let v = replica.group().wait_all_reduce_f32(pending)?;
    if v.len() != n {
        return Err(Error::invalid(
            WAIT,
            format!(
                "the all-reduce returned {} values, num_elements is {n}",
                v.len()
            ),
        ));
    }
    Ok(vec![Tensor::from_host_vec(v, vec![n])?])
}

/// Appends `x` (any float dtype, on the host: the kernel is the CPU's) times `scale`
/// to `out` in float32, reading the tensor's buffer in place when it is contiguous.
fn append_f32(out: &mut Vec<f32>, x: &Tensor, scale: f32) -> Result<()> {
    match x.dtype() {
        DType::F32 => {
            let v = x.host_data::<f32>()?;
            if scale == 1.0 {
                out.extend_from_slice(&v);
            } else {
                out.extend(v.iter().map(|&a| a * scale));
            }
        }
        DType::F64 => out.extend(x.host_data::<f64>()?.iter().map(|&a| a as f32 * scale)),
        DType::F16 => out.extend(
            x.host_data::<tf_core::f16>()?
                .iter()
                .map(|a| a.to_f32() * scale),
        ),
        DType::BF16 => out.extend(
            x.host_data::<tf_core::bf16>()?
                .iter()
                .map(|a| a.to_f32() * scale),
        ),
        other => {
            return Err(Error::invalid(
                START,
                format!("inputs must be floats, got {other}"),
            ));
        }
    }
    Ok(())
}

/// Starts the all-reduce of `grads` (packed in float32) over `group_size` replicas.
fn start(grads: &[Tensor], group_size: usize, scale_by_share: bool) -> Result<Tensor> {
    ensure_registered();
    let attrs = Attrs::new()
        .with("group_size", group_size)
        .with("scale_by_share", scale_by_share);
    call1(&COLLECTIVE_REDUCE_START, grads, &attrs)
}

/// Waits for the all-reduce of `ticket` (`n` float32 values).
fn wait(ticket: &Tensor, group_size: usize, n: usize) -> Result<Tensor> {
    let attrs = Attrs::new()
        .with("group_size", group_size)
        .with("num_elements", n);
    call1(
        &COLLECTIVE_REDUCE_WAIT,
        std::slice::from_ref(ticket),
        &attrs,
    )
}

impl ReplicaContext {
    /// The data-parallel gradients `sum over replicas r of share_r * grads_r` (share:
    /// [`ReplicaContext::share`]), as ops that overlap with the backward pass when
    /// traced (see the [module docs](self)). Buckets follow the group's
    /// [`CollectiveOptions`](crate::CollectiveOptions) (`first_bucket_bytes`, then
    /// `bucket_bytes`), gradients in reverse order. Float gradients of any width are
    /// reduced in float32 and cast back; `None` stays `None` (every replica must have
    /// the same gradients present, with the same shapes). With one replica the
    /// gradients are returned unchanged; with one worker (several local replicas) they
    /// are only scaled by the share (the `ReplicaShare` op), on their device, and the
    /// caller adds the local replicas' results.
    ///
    /// Errors: non-float gradients, and (when the ops run) the communicator's errors.
    pub fn all_reduce_gradients(&self, grads: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Ok(self.reduce_buckets(grads, true)?.0)
    }

    /// [`all_reduce_gradients`](Self::all_reduce_gradients) for every bucket but the
    /// last, which the caller reduces on the host after the step's graph, fused with
    /// other values (a training step's logs): the gradients of the last bucket come back
    /// as this replica's own, unscaled, with `true` at their index in the returned mask;
    /// reduce them with [`CollectiveGroup::all_reduce_gradients_with`](
    /// crate::CollectiveGroup::all_reduce_gradients_with) at this replica's
    /// [`share`](Self::share) (every replica must). The last bucket (the first layers'
    /// gradients, produced last) has nothing left to overlap with, so this costs no
    /// overlap and saves a collective. The mask is all `false` when nothing is left
    /// for the host (one replica, or one worker).
    ///
    /// Errors: as [`all_reduce_gradients`](Self::all_reduce_gradients).
    pub fn all_reduce_gradients_but_last(
        &self,
        grads: &[Option<Tensor>],
    ) -> Result<(Vec<Option<Tensor>>, Vec<bool>)> {
        self.reduce_buckets(grads, false)
    }

    /// The buckets of both: with `last_in_graph` false the last bucket is left to the
    /// host (see [`all_reduce_gradients_but_last`](Self::all_reduce_gradients_but_last)).
    fn reduce_buckets(
        &self,
        grads: &[Option<Tensor>],
        last_in_graph: bool,
    ) -> Result<(Vec<Option<Tensor>>, Vec<bool>)> {
        let mut on_host = vec![false; grads.len()];
        let n = self.num_replicas_in_sync();
        if n <= 1 {
            return Ok((grads.to_vec(), on_host));
        }
        if self.strategy().num_workers() <= 1 {
            // Only local replicas (one worker): nothing to exchange, only the share to
            // apply, on the gradients' device.
            let share = replica_share()?;
            let scaled = grads
                .iter()
                .map(|g| {
                    g.as_ref()
                        .map(|g| {
                            let s = if g.dtype() == DType::F32 {
                                share.clone()
                            } else {
                                ops::cast(&share, g.dtype())?
                            };
                            ops::mul(g, &s)
                        })
                        .transpose()
                })
                .collect::<Result<_>>()?;
            return Ok((scaled, on_host));
        }
        let mut present: Vec<(usize, &Tensor)> = Vec::new();
        for (i, g) in grads.iter().enumerate() {
            if let Some(g) = g {
                if !g.dtype().is_float() {
                    return Err(Error::invalid(
                        "all_reduce_gradients",
                        format!("gradient {i} has dtype {}; only floats reduce", g.dtype()),
                    ));
                }
                present.push((i, g));
            }
        }
        // The backward pass produces the last weights' gradients first.
        present.reverse();
        let sizes: Vec<usize> = present.iter().map(|(_, g)| g.num_elements() * 4).collect();
        let options = self.group().options();
        let buckets =
            plan_buckets_with_first(&sizes, options.first_bucket_bytes, options.bucket_bytes);
        let mut out: Vec<Option<Tensor>> = vec![None; grads.len()];
        let mut buckets = buckets;
        if !last_in_graph && let Some(range) = buckets.pop() {
            for (i, g) in present.get(range).unwrap_or_default() {
                if let (Some(slot), Some(h)) = (out.get_mut(*i), on_host.get_mut(*i)) {
                    *slot = Some((*g).clone());
                    *h = true;
                }
            }
        }
        let mut tickets = Vec::with_capacity(buckets.len());
        for range in &buckets {
            let members: Vec<Tensor> = present
                .get(range.clone())
                .unwrap_or_default()
                .iter()
                .map(|(_, g)| (*g).clone())
                .collect();
            tickets.push(start(&members, n, true)?);
        }
        for (range, ticket) in buckets.iter().zip(&tickets) {
            let members = present.get(range.clone()).unwrap_or_default();
            let counts: Vec<usize> = members.iter().map(|(_, g)| g.num_elements()).collect();
            let total: usize = counts.iter().sum();
            let reduced = wait(ticket, n, total)?;
            let parts = match counts.len() {
                1 => vec![reduced],
                _ => {
                    let splits: Vec<i64> = counts.iter().map(|&c| c as i64).collect();
                    ops::split_v(&reduced, &splits, 0)?
                }
            };
            for ((i, g), part) in members.iter().zip(parts) {
                let dims: Vec<i64> = g.dims().iter().map(|&d| d as i64).collect();
                let t = ops::reshape(&part, &dims)?;
                let t = if g.dtype() == DType::F32 {
                    t
                } else {
                    ops::cast(&t, g.dtype())?
                };
                if let Some(slot) = out.get_mut(*i) {
                    *slot = Some(t);
                }
            }
        }
        Ok((out, on_host))
    }
}
