//! The gradient all-reduce as ops (`CollectiveReduceStart` / `CollectiveReduceWait`,
//! `ReplicaContext::all_reduce_gradients`) on a thread group: results against the closed
//! form `sum_r share_r * g_r` (eager and traced, float32 and float64, several buckets),
//! the order a traced step runs them in (each bucket's start right after its gradient,
//! before the rest of the backward pass), and the error cases.

#![allow(clippy::unwrap_used)]

mod common;

use common::replicas_with;
use tf_core::{DType, Tensor, ops};
use tf_distribute::{CollectiveOptions, ReplicaContext};
use tf_graph::{ConcreteFunction, Pipeline};

/// Tiny buckets: every gradient gets its own, so the order is visible.
fn one_per_bucket() -> CollectiveOptions {
    CollectiveOptions::default()
        .first_bucket_bytes(4)
        .bucket_bytes(4)
}

fn grads_of(rank: usize) -> Vec<Option<Tensor>> {
    let r = rank as f32;
    vec![
        Some(Tensor::from_vec((0..6).map(|i| i as f32 + r).collect(), [2, 3]).unwrap()),
        None,
        Some(Tensor::from_vec(vec![1.5f64 * f64::from(r + 1.0), -2.0], [2]).unwrap()),
        Some(Tensor::from_vec(vec![10.0f32 * r], [1]).unwrap()),
    ]
}

fn host(t: &Option<Tensor>) -> Option<Vec<f64>> {
    t.as_ref()
        .map(|t| ops::cast(t, DType::F64).unwrap().to_vec::<f64>().unwrap())
}

/// Checks reduced gradients (as f64) against `shares[0] * g_0 + shares[1] * g_1`.
fn assert_weighted(values: &[Option<Vec<f64>>], shares: [f64; 2]) {
    let (g0, g1) = (grads_of(0), grads_of(1));
    for (i, v) in values.iter().enumerate() {
        let want = host(&g0[i]).map(|a| {
            let b = host(&g1[i]).unwrap();
            a.iter()
                .zip(&b)
                .map(|(a, b)| shares[0] * a + shares[1] * b)
                .collect::<Vec<_>>()
        });
        match (v, want) {
            (None, None) => {}
            (Some(v), Some(w)) => {
                for (x, y) in v.iter().zip(&w) {
                    assert!((x - y).abs() < 1e-5, "gradient {i}: {v:?} vs {w:?}");
                }
            }
            other => panic!("gradient {i}: {other:?}"),
        }
    }
}

fn check(shares: [f64; 2], options: CollectiveOptions) {
    let out = replicas_with(2, options, move |r| {
        let rank = r.replica_id_in_sync_group();
        r.set_share(shares[rank]).unwrap();
        let reduced = r.all_reduce_gradients(&grads_of(rank)).unwrap();
        assert_eq!(r.pending_all_reduces(), 0);
        let dtypes: Vec<Option<DType>> = reduced
            .iter()
            .map(|g| g.as_ref().map(Tensor::dtype))
            .collect();
        let dims: Vec<Option<Vec<usize>>> = reduced
            .iter()
            .map(|g| g.as_ref().map(|g| g.dims().to_vec()))
            .collect();
        (reduced.iter().map(host).collect::<Vec<_>>(), dtypes, dims)
    });
    let g0 = grads_of(0);
    for (values, dtypes, dims) in &out {
        assert_weighted(values, shares);
        for i in 0..values.len() {
            assert_eq!(dtypes[i], g0[i].as_ref().map(Tensor::dtype));
            assert_eq!(dims[i], g0[i].as_ref().map(|g| g.dims().to_vec()));
        }
    }
    assert_eq!(out[0].0, out[1].0);
}

#[test]
fn eager_gradients_reduce_weighted_by_share() {
    check([0.5, 0.5], CollectiveOptions::default());
    check([0.25, 0.75], one_per_bucket());
    check(
        [0.4, 0.6],
        CollectiveOptions::default()
            .first_bucket_bytes(8)
            .bucket_bytes(24),
    );
}

/// A stand-in for a backward pass (matrix products, which no pass fuses): the "last
/// layer" gradient is ready after the first product, the "first layer" one after three
/// more.
fn backward(x: &Tensor) -> tf_core::Result<Vec<Option<Tensor>>> {
    let h = ops::tanh(x)?;
    let last = ops::matmul(&h, x)?;
    let c1 = ops::matmul(&h, &h)?;
    let c2 = ops::matmul(&c1, &h)?;
    let first = ops::matmul(&c2, &c1)?;
    Ok(vec![Some(first), Some(last)])
}

#[test]
fn a_traced_step_starts_each_bucket_as_soon_as_its_gradient_exists() {
    let out = replicas_with(2, one_per_bucket(), |r| {
        let rank = r.replica_id_in_sync_group();
        r.set_share(0.5).unwrap();
        let spec = tf_core::op::TensorSpec::new(DType::F32, vec![Some(2), Some(2)]);
        let f = ConcreteFunction::trace(
            "step",
            std::slice::from_ref(&spec),
            false,
            &Pipeline::default(),
            &mut |a| {
                let grads = backward(&a[0])?;
                let reduced = get_context().all_reduce_gradients(&grads)?;
                Ok(reduced.into_iter().flatten().collect())
            },
        )
        .unwrap();
        let x = Tensor::from_vec(vec![0.1f32 + rank as f32, 0.2, 0.3, 0.4], [2, 2]).unwrap();
        let (values, profile) = f.call_profiled(std::slice::from_ref(&x)).unwrap();
        assert_eq!(r.pending_all_reduces(), 0);
        let order: Vec<&'static str> = profile.nodes.iter().map(|(_, t, _)| *t).collect();
        let eager = backward(&x).unwrap();
        (
            values
                .iter()
                .map(|v| v.to_vec::<f32>().unwrap())
                .collect::<Vec<_>>(),
            eager
                .iter()
                .map(|g| g.as_ref().unwrap().to_vec::<f32>().unwrap())
                .collect::<Vec<_>>(),
            order,
        )
    });
    for (_, _, order) in &out {
        let at = |name: &str| -> Vec<usize> {
            order
                .iter()
                .enumerate()
                .filter(|(_, t)| **t == name)
                .map(|(i, _)| i)
                .collect()
        };
        let (starts, waits, products) = (
            at("CollectiveReduceStart"),
            at("CollectiveReduceWait"),
            at("MatMul"),
        );
        assert_eq!(
            (starts.len(), waits.len(), products.len()),
            (2, 2, 4),
            "{order:?}"
        );
        // The last layer's bucket starts right after its gradient, before the rest of
        // the backward pass; the other one after its gradient; the waits come last.
        assert!(
            products[0] < starts[0] && starts[0] < products[1],
            "{order:?}"
        );
        assert!(starts[1] > products[3], "{order:?}");
        assert!(waits[0] > starts[1], "{order:?}");
    }
    // Reduced = mean of the two replicas' gradients (shares 0.5).
    for k in 0..2 {
        let want: Vec<f32> = out[0].1[k]
            .iter()
            .zip(&out[1].1[k])
            .map(|(a, b)| 0.5 * a + 0.5 * b)
            .collect();
        for (got, _, _) in &out {
            for (x, y) in got[k].iter().zip(&want) {
                assert!((x - y).abs() < 1e-6, "{k}: {:?} vs {want:?}", got[k]);
            }
        }
    }
}

fn get_context() -> std::rc::Rc<ReplicaContext> {
    tf_distribute::get_replica_context().unwrap()
}

#[test]
fn one_replica_returns_the_gradients_and_bad_calls_are_errors() {
    let s: std::rc::Rc<dyn tf_distribute::Strategy> =
        std::rc::Rc::new(tf_distribute::MirroredStrategy::new().unwrap());
    let g = ReplicaContext::enter(s);
    let grads = grads_of(0);
    let same = g.context().all_reduce_gradients(&grads).unwrap();
    assert_eq!(
        same.iter().map(host).collect::<Vec<_>>(),
        grads.iter().map(host).collect::<Vec<_>>()
    );
    drop(g);
    // Integer gradients, and the ops outside a context.
    let errs = replicas_with(2, CollectiveOptions::default(), |r| {
        let int = Some(Tensor::from_vec(vec![1i32, 2], [2]).unwrap());
        r.all_reduce_gradients(&[int]).unwrap_err().to_string()
    });
    assert!(errs[0].contains("only floats"), "{}", errs[0]);
    let x = Tensor::from_vec(vec![1.0f32], [1]).unwrap();
    let attrs = tf_core::op::Attrs::new().with("group_size", 2usize);
    tf_distribute::overlap::ensure_registered();
    let e = tf_core::op::call1(
        &tf_distribute::overlap::COLLECTIVE_REDUCE_START,
        &[x],
        &attrs,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("CollectiveReduceStart") && e.contains("no replica context"),
        "{e}"
    );
    // A ticket nobody started.
    let errs = replicas_with(2, CollectiveOptions::default(), |_| {
        let t = Tensor::from_vec(vec![42i64], Vec::<usize>::new()).unwrap();
        let attrs = tf_core::op::Attrs::new()
            .with("group_size", 2usize)
            .with("num_elements", 1usize);
        tf_core::op::call1(
            &tf_distribute::overlap::COLLECTIVE_REDUCE_WAIT,
            &[t],
            &attrs,
        )
        .unwrap_err()
        .to_string()
    });
    assert!(errs[0].contains("ticket 42"), "{}", errs[0]);
}

#[test]
fn local_replicas_of_one_worker_scale_by_the_share_read_when_the_graph_runs() {
    let s: std::rc::Rc<dyn tf_distribute::Strategy> = std::rc::Rc::new(
        tf_distribute::MirroredStrategy::with_replicas(&[
            tf_core::Device::Cpu,
            tf_core::Device::Cpu,
        ])
        .unwrap(),
    );
    let guard = ReplicaContext::enter_local(s, 1).unwrap();
    let spec = tf_core::op::TensorSpec::new(DType::F32, vec![Some(2), Some(2)]);
    let f = ConcreteFunction::trace(
        "local",
        std::slice::from_ref(&spec),
        false,
        &Pipeline::default(),
        &mut |a| {
            let grads = vec![
                Some(ops::tanh(&a[0])?),
                None,
                Some(ops::cast(&a[0], DType::F64)?),
            ];
            Ok(get_context()
                .all_reduce_gradients(&grads)?
                .into_iter()
                .flatten()
                .collect())
        },
    )
    .unwrap();
    // No all-reduce ops: nothing to exchange with one worker.
    let types: Vec<&str> = f
        .graph()
        .nodes()
        .iter()
        .map(|n| n.kind.type_name())
        .collect();
    assert!(!types.contains(&"CollectiveReduceStart"), "{types:?}");
    let x = Tensor::from_vec(vec![0.5f32, -1.0, 2.0, 0.25], [2, 2]).unwrap();
    for share in [0.25, 0.75] {
        guard.context().set_share(share).unwrap();
        let out = f.call(std::slice::from_ref(&x)).unwrap();
        let t = ops::tanh(&x).unwrap().to_vec::<f32>().unwrap();
        let got = out[0].to_vec::<f32>().unwrap();
        for (g, w) in got.iter().zip(&t) {
            assert!(
                (g - *w * share as f32).abs() < 1e-6,
                "share {share}: {got:?}"
            );
        }
        assert_eq!(out[1].dtype(), DType::F64);
        let got = out[1].to_vec::<f64>().unwrap();
        let want: Vec<f64> = x
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| f64::from(*v) * share)
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn the_last_bucket_can_be_left_to_the_host_with_extra_values() {
    let shares = [0.25, 0.75];
    let out = replicas_with(2, one_per_bucket(), move |r| {
        let rank = r.replica_id_in_sync_group();
        r.set_share(shares[rank]).unwrap();
        let grads = grads_of(rank);
        let (mut reduced, on_host) = r.all_reduce_gradients_but_last(&grads).unwrap();
        // Reverse order, one gradient per bucket: the last bucket is gradient 0.
        assert_eq!(on_host, [true, false, false, false]);
        assert_eq!(
            host(&reduced[0]),
            host(&grads[0]),
            "left as this replica's own"
        );
        let host_part: Vec<Option<Tensor>> = reduced
            .iter()
            .zip(&on_host)
            .map(|(g, &h)| if h { g.clone() } else { None })
            .collect();
        let mut extra = [rank as f32 + 1.0];
        let done = r
            .group()
            .all_reduce_gradients_with(&host_part, shares[rank] as f32, &mut extra)
            .unwrap();
        reduced[0] = done[0].clone();
        (reduced.iter().map(host).collect::<Vec<_>>(), extra[0])
    });
    for (values, extra) in &out {
        assert_eq!(*extra, 3.0);
        assert_weighted(values, shares);
    }
}
