//! Tensor-level collectives over any [`Communicator`]: broadcasting variables from a
//! root, all-reducing gradients in buckets, and reducing host scalars (metrics) — what a
//! data-parallel training loop calls. [`CollectiveGroup`] bundles a communicator with
//! its [`CollectiveOptions`] and counts the time spent communicating.

use crate::bucket::{DEFAULT_BUCKET_BYTES, DEFAULT_FIRST_BUCKET_BYTES, plan_buckets};
use crate::communicator::{Communicator, DEFAULT_TIMEOUT, ReduceOp};
use crate::error::{Error, Result};
use std::cell::Cell;
use std::time::{Duration, Instant};
use tf_core::{DType, Tensor, Variable, ops};

/// Options of the collectives a strategy runs.
#[derive(Clone, Debug)]
pub struct CollectiveOptions {
    /// How long one collective may wait for its peers (default 5 minutes).
    pub timeout: Duration,
    /// Gradient bucket size in bytes (default 25 MiB).
    pub bucket_bytes: usize,
    /// Size of the first bucket of the all-reduce overlapped with the backward pass
    /// ([`ReplicaContext::all_reduce_gradients`](crate::ReplicaContext::all_reduce_gradients);
    /// default 1 MiB): small, so the first reduction starts early.
    pub first_bucket_bytes: usize,
}

impl Default for CollectiveOptions {
    fn default() -> Self {
        CollectiveOptions {
            timeout: DEFAULT_TIMEOUT,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            first_bucket_bytes: DEFAULT_FIRST_BUCKET_BYTES,
        }
    }
}

impl CollectiveOptions {
    /// Sets `timeout`.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Sets `bucket_bytes`.
    pub fn bucket_bytes(mut self, b: usize) -> Self {
        self.bucket_bytes = b;
        self
    }
    /// Sets `first_bucket_bytes`.
    pub fn first_bucket_bytes(mut self, b: usize) -> Self {
        self.first_bucket_bytes = b;
        self
    }
}

/// Communication counters of a [`CollectiveGroup`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommStats {
    /// Collectives run.
    pub calls: u64,
    /// Payload bytes this rank contributed.
    pub bytes: u64,
    /// Wall time spent inside collectives (packing and unpacking included; waiting
    /// for slower peers too).
    pub time: Duration,
    /// The part of `time` spent in [`CollectiveGroup::all_reduce_gradients`] and in
    /// started all-reduces (their start and wait: the part not hidden behind compute).
    pub gradient_time: Duration,
}

/// A communicator with its options, the tensor-level collectives, and counters.
pub struct CollectiveGroup {
    comm: Box<dyn Communicator>,
    options: CollectiveOptions,
    stats: Cell<CommStats>,
}

impl CollectiveGroup {
    /// Wraps `comm`.
    pub fn new(comm: Box<dyn Communicator>, options: CollectiveOptions) -> CollectiveGroup {
        CollectiveGroup {
            comm,
            options,
            stats: Cell::new(CommStats::default()),
        }
    }

    /// The communicator.
    pub fn communicator(&self) -> &dyn Communicator {
        self.comm.as_ref()
    }

    /// The options.
    pub fn options(&self) -> &CollectiveOptions {
        &self.options
    }

    /// Sets the options.
    pub fn set_options(&mut self, options: CollectiveOptions) {
        self.options = options;
    }

    /// Counters since creation (or the last [`reset_stats`](Self::reset_stats)).
    pub fn stats(&self) -> CommStats {
        self.stats.get()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.stats.set(CommStats::default());
    }

    fn count<T>(&self, bytes: usize, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let t = Instant::now();
        let r = f();
        let mut s = self.stats.get();
        s.calls += 1;
        s.bytes += bytes as u64;
        s.time += t.elapsed();
        self.stats.set(s);
        r
    }

    /// Overwrites `vars` on every rank with `root`'s values (one broadcast). Errors when
    /// the ranks' variables differ in total size, on timeout, or when a value cannot be
    /// assigned.
    pub fn broadcast_variables(&self, vars: &[Variable], root: usize) -> Result<()> {
        let sizes: Vec<usize> = vars
            .iter()
            .map(|v| {
                v.shape()
                    .checked_num_elements()
                    .and_then(|n| n.checked_mul(v.dtype().size_of()))
                    .ok_or_else(|| Error::invalid("broadcast_variables", "variable too large"))
            })
            .collect::<Result<_>>()?;
        let total: usize = sizes.iter().sum();
        let mut buf = Vec::with_capacity(total);
        if self.comm.rank() == root {
            for v in vars {
                buf.extend_from_slice(&v.value().to_le_bytes()?);
            }
        }
        self.count(total, || {
            self.comm
                .broadcast_bytes(&mut buf, root, self.options.timeout)
        })?;
        if buf.len() != total {
            return Err(Error::invalid(
                "broadcast_variables",
                format!(
                    "rank {root} sent {} bytes of variables but rank {}'s {} variables hold {total} bytes: the models differ",
                    buf.len(),
                    self.comm.rank(),
                    vars.len()
                ),
            ));
        }
        if self.comm.rank() == root {
            return Ok(());
        }
        let mut at = 0;
        for (v, n) in vars.iter().zip(sizes) {
            let bytes = buf
                .get(at..at + n)
                .ok_or_else(|| Error::invalid("broadcast_variables", "short buffer"))?;
            at += n;
            let t =
                Tensor::from_le_bytes("broadcast_variables", v.dtype(), v.shape().clone(), bytes)?;
            v.assign(&t)?;
        }
        Ok(())
    }

    /// All-reduces gradients in buckets: every rank gets `sum over ranks of
    /// scale_r * g_r` for each present gradient (`scale = 1/size` on every rank gives
    /// the mean; `n_r / N` weights by local batch size). Float gradients of any width are
    /// reduced in float32 and cast back; `None` stays `None` (all ranks must agree on
    /// which are present). Errors on non-float gradients, mismatched buffers, timeout.
    pub fn all_reduce_gradients(
        &self,
        grads: &[Option<Tensor>],
        scale: f32,
    ) -> Result<Vec<Option<Tensor>>> {
        self.all_reduce_gradients_with(grads, scale, &mut [])
    }

    /// [`all_reduce_gradients`](Self::all_reduce_gradients) that also sums `extra`
    /// (unscaled) over ranks in the same collective, appended to the last bucket: a
    /// training step reduces its logs with its gradients, one synchronisation instead of
    /// two. With no gradient present, `extra` is reduced alone.
    pub fn all_reduce_gradients_with(
        &self,
        grads: &[Option<Tensor>],
        scale: f32,
        extra: &mut [f32],
    ) -> Result<Vec<Option<Tensor>>> {
        let start = Instant::now();
        let out = self.all_reduce_gradient_buckets(grads, scale, extra);
        let mut s = self.stats.get();
        s.gradient_time += start.elapsed();
        self.stats.set(s);
        out
    }

    /// The buckets of [`all_reduce_gradients`](Self::all_reduce_gradients).
    fn all_reduce_gradient_buckets(
        &self,
        grads: &[Option<Tensor>],
        scale: f32,
        extra: &mut [f32],
    ) -> Result<Vec<Option<Tensor>>> {
        let present: Vec<(usize, &Tensor)> = grads
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
            .collect();
        for (i, g) in &present {
            if !g.dtype().is_float() {
                return Err(Error::invalid(
                    "all_reduce_gradients",
                    format!("gradient {i} has dtype {}; only floats reduce", g.dtype()),
                ));
            }
        }
        let sizes: Vec<usize> = present.iter().map(|(_, g)| g.num_elements() * 4).collect();
        let mut out: Vec<Option<Tensor>> = vec![None; grads.len()];
        let buckets = plan_buckets(&sizes, self.options.bucket_bytes);
        if buckets.is_empty() && !extra.is_empty() {
            let mut buf = extra.to_vec();
            self.count(buf.len() * 4, || {
                self.comm
                    .all_reduce_f32(&mut buf, ReduceOp::Sum, self.options.timeout)
            })?;
            if buf.len() != extra.len() {
                return Err(Error::invalid(
                    "all_reduce_gradients",
                    format!(
                        "reduced {} extra values, {} expected",
                        buf.len(),
                        extra.len()
                    ),
                ));
            }
            extra.copy_from_slice(&buf);
        }
        let last = buckets.len().saturating_sub(1);
        for (b, range) in buckets.into_iter().enumerate() {
            let members = present.get(range.clone()).unwrap_or_default();
            let grad_len: usize = sizes.get(range).unwrap_or_default().iter().sum::<usize>() / 4;
            let fused = if b == last { extra.len() } else { 0 };
            let len = grad_len + fused;
            self.count(len * 4, || {
                let mut buf: Vec<f32> = Vec::with_capacity(len);
                for (_, g) in members {
                    let g32 = if g.dtype() == DType::F32 {
                        (*g).clone()
                    } else {
                        ops::cast(g, DType::F32)?
                    };
                    let data = g32.host_data::<f32>()?;
                    if scale == 1.0 {
                        buf.extend_from_slice(&data);
                    } else {
                        buf.extend(data.iter().map(|v| v * scale));
                    }
                }
                if fused > 0 {
                    buf.extend_from_slice(extra);
                }
                self.comm
                    .all_reduce_f32(&mut buf, ReduceOp::Sum, self.options.timeout)?;
                if buf.len() != len {
                    return Err(Error::invalid(
                        "all_reduce_gradients",
                        format!("reduced bucket has {} values, {len} expected", buf.len()),
                    ));
                }
                let mut at = 0;
                for (i, g) in members {
                    let n = g.num_elements();
                    let part = buf.get(at..at + n).unwrap_or_default().to_vec();
                    at += n;
                    let t = Tensor::from_vec(part, g.shape().clone())?;
                    let t = if g.dtype() == DType::F32 {
                        t
                    } else {
                        ops::cast(&t, g.dtype())?
                    };
                    if let Some(slot) = out.get_mut(*i) {
                        *slot = Some(t);
                    }
                }
                if let Some(tail) = buf.get(grad_len..len)
                    && fused > 0
                {
                    extra.copy_from_slice(tail);
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// Reduces host scalars (losses, metrics, flags) over ranks in place.
    pub fn all_reduce_f64(&self, values: &mut Vec<f64>, op: ReduceOp) -> Result<()> {
        let n = values.len() * 8;
        self.count(n, || {
            self.comm.all_reduce_f64(values, op, self.options.timeout)
        })
    }

    /// Reduces a float32 buffer over ranks in place (the in-graph collective op's
    /// kernel, `CollectiveReduceV2`, goes through this).
    pub fn all_reduce_f32(&self, values: &mut Vec<f32>, op: ReduceOp) -> Result<()> {
        let n = values.len() * 4;
        self.count(n, || {
            self.comm.all_reduce_f32(values, op, self.options.timeout)
        })
    }

    /// Starts a float32 all-reduce that may complete while the caller computes (see
    /// [`Communicator::start_all_reduce_f32`]); finish it with
    /// [`wait_all_reduce_f32`](Self::wait_all_reduce_f32). Counted as a call with its
    /// bytes; the time of the start and of the wait count, not the overlap.
    pub fn start_all_reduce_f32(
        &self,
        values: Vec<f32>,
        op: ReduceOp,
    ) -> Result<crate::communicator::PendingAllReduce> {
        let n = values.len() * 4;
        let start = Instant::now();
        let out = self.count(n, || {
            self.comm
                .start_all_reduce_f32(values, op, self.options.timeout)
        });
        self.add_gradient_time(start.elapsed());
        out
    }

    /// Waits for an all-reduce started by
    /// [`start_all_reduce_f32`](Self::start_all_reduce_f32); the time spent waiting
    /// counts as communication (and gradient) time.
    pub fn wait_all_reduce_f32(
        &self,
        pending: crate::communicator::PendingAllReduce,
    ) -> Result<Vec<f32>> {
        let start = Instant::now();
        let out = pending.wait();
        let took = start.elapsed();
        let mut s = self.stats.get();
        s.time += took;
        s.gradient_time += took;
        self.stats.set(s);
        out
    }

    fn add_gradient_time(&self, d: Duration) {
        let mut s = self.stats.get();
        s.gradient_time += d;
        self.stats.set(s);
    }

    /// `root`'s `value` on every rank.
    pub fn broadcast_u64(&self, value: u64, root: usize) -> Result<u64> {
        let mut b = value.to_le_bytes().to_vec();
        self.count(8, || {
            self.comm
                .broadcast_bytes(&mut b, root, self.options.timeout)
        })?;
        let arr: [u8; 8] = b
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid("broadcast", format!("{} bytes, 8 expected", b.len())))?;
        Ok(u64::from_le_bytes(arr))
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> Result<()> {
        self.count(0, || self.comm.barrier(self.options.timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalGroup;
    use std::sync::Arc;

    fn run<R: Send + 'static>(
        n: usize,
        options: CollectiveOptions,
        f: impl Fn(CollectiveGroup) -> R + Send + Sync + 'static,
    ) -> Vec<R> {
        let f = Arc::new(f);
        let hs: Vec<_> = LocalGroup::new(n)
            .unwrap()
            .into_iter()
            .map(|c| {
                let f = f.clone();
                let o = options.clone();
                std::thread::spawn(move || f(CollectiveGroup::new(Box::new(c), o)))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    }

    /// Gradient `k` of rank `r`: values `r * 10 + k + i / 8`.
    fn grad(r: usize, k: usize, dims: &[usize], dtype: DType) -> Tensor {
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| r as f32 * 10.0 + k as f32 + i as f32 / 8.0)
            .collect();
        ops::cast(&Tensor::from_vec(v, dims).unwrap(), dtype).unwrap()
    }

    #[test]
    fn gradients_reduce_in_buckets_to_the_weighted_sum() {
        let shapes: [&[usize]; 4] = [&[3, 4], &[4], &[], &[2, 2, 2]];
        for bucket in [0usize, 20, 1 << 20] {
            let out = run(
                3,
                CollectiveOptions::default().bucket_bytes(bucket),
                move |g| {
                    let r = g.communicator().rank();
                    let mut grads: Vec<Option<Tensor>> = shapes
                        .iter()
                        .enumerate()
                        .map(|(k, d)| Some(grad(r, k, d, DType::F32)))
                        .collect();
                    grads.insert(1, None);
                    grads[4] = Some(grad(r, 3, shapes[3], DType::F64));
                    // Weights 1, 2, 3 over ranks 0..3, normalised by 6.
                    let scale = (r + 1) as f32 / 6.0;
                    let red = g.all_reduce_gradients(&grads, scale).unwrap();
                    (red, g.stats())
                },
            );
            for (red, stats) in out {
                assert!(red[1].is_none());
                assert_eq!(
                    stats.calls as usize,
                    if bucket == 0 {
                        4
                    } else if bucket == 20 {
                        3
                    } else {
                        1
                    }
                );
                let present = [0usize, 2, 3, 4];
                for (slot, k) in present.iter().zip(0..) {
                    let t = red[*slot].as_ref().unwrap();
                    let dims = shapes[k];
                    assert_eq!(t.dims(), dims);
                    let want_dtype = if k == 3 { DType::F64 } else { DType::F32 };
                    assert_eq!(t.dtype(), want_dtype);
                    let got = t.to_f64_vec().unwrap();
                    for (i, g) in got.iter().enumerate() {
                        // sum_r (r+1)/6 * (10r + k + i/8)
                        let want: f64 = (0..3)
                            .map(|r| {
                                (r + 1) as f64 / 6.0 * (10.0 * r as f64 + k as f64 + i as f64 / 8.0)
                            })
                            .sum();
                        assert!(
                            (g - want).abs() < 1e-4,
                            "bucket {bucket} grad {k}[{i}]: {g} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn extra_values_ride_with_the_last_bucket() {
        for (bucket, with_grads) in [(0usize, true), (1 << 20, true), (0, false)] {
            let out = run(
                2,
                CollectiveOptions::default().bucket_bytes(bucket),
                move |g| {
                    let r = g.communicator().rank();
                    let grads: Vec<Option<Tensor>> = if with_grads {
                        vec![
                            Some(grad(r, 0, &[3], DType::F32)),
                            Some(grad(r, 1, &[2], DType::F32)),
                        ]
                    } else {
                        vec![None]
                    };
                    let mut extra = vec![r as f32 + 1.0, 10.0 * r as f32];
                    let red = g
                        .all_reduce_gradients_with(&grads, 0.5, &mut extra)
                        .unwrap();
                    (red, extra, g.stats())
                },
            );
            for (red, extra, stats) in out {
                assert_eq!(extra, vec![3.0, 10.0], "bucket {bucket}");
                // One collective per gradient bucket (2 or 1), or one for the extras.
                let want_calls = match (with_grads, bucket) {
                    (false, _) => 1,
                    (true, 0) => 2,
                    _ => 1,
                };
                assert_eq!(stats.calls, want_calls);
                if with_grads {
                    // mean of 10r + k + i/8 over r = 0, 1
                    let got = red[1].as_ref().unwrap().to_vec::<f32>().unwrap();
                    assert_eq!(got, vec![6.0, 6.125]);
                } else {
                    assert!(red[0].is_none());
                }
            }
        }
    }

    #[test]
    fn integer_gradients_are_rejected() {
        let g = CollectiveGroup::new(Box::new(crate::SingleProcess), CollectiveOptions::default());
        let e = g
            .all_reduce_gradients(&[Some(Tensor::from_scalar(1i32))], 1.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only floats"), "{e}");
    }

    #[test]
    fn variables_broadcast_from_root() {
        let out = run(2, CollectiveOptions::default(), |g| {
            let r = g.communicator().rank();
            let a = Variable::new(Tensor::from_vec(vec![r as f32; 6], [2, 3]).unwrap()).unwrap();
            let b = Variable::new(Tensor::from_scalar(r as i64 + 7)).unwrap();
            g.broadcast_variables(&[a.clone(), b.clone()], 1).unwrap();
            (
                a.value().to_vec::<f32>().unwrap(),
                b.value().scalar::<i64>().unwrap(),
            )
        });
        for (a, b) in out {
            assert_eq!(a, vec![1.0; 6]);
            assert_eq!(b, 8);
        }
        // Models that differ are reported, not silently mixed.
        let out = run(2, CollectiveOptions::default(), |g| {
            let r = g.communicator().rank();
            let a = Variable::new(Tensor::from_vec(vec![0f32; 2 + r], [2 + r]).unwrap()).unwrap();
            g.broadcast_variables(&[a], 0).map_err(|e| e.to_string())
        });
        let e = out[1].as_ref().unwrap_err();
        assert!(e.contains("the models differ"), "{e}");
    }

    #[test]
    fn scalars_and_seed() {
        let out = run(2, CollectiveOptions::default(), |g| {
            let r = g.communicator().rank() as f64;
            let mut v = vec![r, 2.0 * r];
            g.all_reduce_f64(&mut v, ReduceOp::Mean).unwrap();
            g.barrier().unwrap();
            (v, g.broadcast_u64(40 + r as u64, 1).unwrap())
        });
        for (v, s) in out {
            assert_eq!(v, [0.5, 1.0]);
            assert_eq!(s, 41);
        }
    }
}
