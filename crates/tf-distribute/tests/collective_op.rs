//! The `CollectiveReduceV2` op and the replica context on a thread group
//! (`LocalGroup`): eager results against closed forms, the gradient (with equal and
//! unequal shares of the global batch) against the closed form and finite differences
//! of the global objective, and the error cases.

#![allow(clippy::unwrap_used)]

mod common;

use common::replicas;
use tf_autodiff::GradientTape;
use tf_core::{DType, Tensor, ops};
use tf_distribute::ops::{DEFAULT_GROUP_KEY, collective_reduce};
use tf_distribute::{ReduceOp, ReplicaContext, get_replica_context};

fn x_of(rank: usize) -> Vec<f64> {
    (0..6)
        .map(|i| (i as f64 - 2.5) * 0.3 + rank as f64)
        .collect()
}

#[test]
fn all_reduce_matches_closed_forms() {
    let out = replicas(2, |r| {
        assert_eq!(r.num_replicas_in_sync(), 2);
        let rank = r.replica_id_in_sync_group();
        let x = Tensor::from_vec(x_of(rank).iter().map(|&v| v as f32).collect(), [2, 3]).unwrap();
        let get = |op| r.all_reduce(op, &x).unwrap().to_vec::<f32>().unwrap();
        (
            get(ReduceOp::Sum),
            get(ReduceOp::Mean),
            get(ReduceOp::Max),
            get(ReduceOp::Min),
        )
    });
    let (a, b) = (x_of(0), x_of(1));
    for (sum, mean, max, min) in &out {
        for i in 0..6 {
            assert!((sum[i] as f64 - (a[i] + b[i])).abs() < 1e-6);
            assert!((mean[i] as f64 - (a[i] + b[i]) / 2.0).abs() < 1e-6);
            assert!((max[i] as f64 - a[i].max(b[i])).abs() < 1e-6);
            assert!((min[i] as f64 - a[i].min(b[i])).abs() < 1e-6);
        }
    }
    assert_eq!(out[0], out[1]);
}

/// The global objective `F = sum_r share_r * L_r` with `L_r = sum(tanh(x_0 + x_1) * c_r)`.
fn objective(x0: &[f64], x1: &[f64], shares: &[f64; 2]) -> f64 {
    (0..2)
        .map(|r| {
            let l: f64 = x0
                .iter()
                .zip(x1)
                .enumerate()
                .map(|(i, (a, b))| (a + b).tanh() * c_of(r)[i])
                .sum();
            shares[r] * l
        })
        .sum()
}

fn c_of(rank: usize) -> Vec<f64> {
    (0..6).map(|i| 1.0 + 0.5 * i as f64 - rank as f64).collect()
}

/// Each replica's gradient of its own loss through the all-reduce, times its share,
/// must be the global objective's gradient (closed form and central differences).
fn check_gradient(shares: [f64; 2]) {
    let grads = replicas(2, move |r| {
        let rank = r.replica_id_in_sync_group();
        r.set_share(shares[rank]).unwrap();
        let x = Tensor::from_vec(x_of(rank), [6]).unwrap();
        let c = Tensor::from_vec(c_of(rank), [6]).unwrap();
        let tape = GradientTape::new();
        tape.watch(&x);
        let y = r.all_reduce(ReduceOp::Sum, &x).unwrap();
        let loss =
            ops::reduce_sum(&ops::mul(&ops::tanh(&y).unwrap(), &c).unwrap(), None, false).unwrap();
        let g = tape.gradient(&loss, &[&x]).unwrap().remove(0).unwrap();
        g.to_vec::<f64>().unwrap()
    });
    let (x0, x1) = (x_of(0), x_of(1));
    for (rank, g) in grads.iter().enumerate() {
        for i in 0..6 {
            let got = g[i] * shares[rank];
            let t = (x0[i] + x1[i]).tanh();
            let closed = (shares[0] * c_of(0)[i] + shares[1] * c_of(1)[i]) * (1.0 - t * t);
            assert!(
                (got - closed).abs() < 1e-12,
                "rank {rank} [{i}]: {got} vs {closed}"
            );
            let h = 1e-6;
            let (mut xp, mut xm) = (x_of(rank), x_of(rank));
            xp[i] += h;
            xm[i] -= h;
            let (fp, fm) = if rank == 0 {
                (objective(&xp, &x1, &shares), objective(&xm, &x1, &shares))
            } else {
                (objective(&x0, &xp, &shares), objective(&x0, &xm, &shares))
            };
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (got - fd).abs() < 1e-7,
                "rank {rank} [{i}]: {got} vs fd {fd}"
            );
        }
    }
}

#[test]
fn gradient_is_the_all_reduce_of_upstream_gradients() {
    check_gradient([0.5, 0.5]);
}

#[test]
fn gradient_weights_unequal_shares_of_the_global_batch() {
    check_gradient([0.25, 0.75]);
}

#[test]
fn mean_gradient_divides_by_the_group_size() {
    let grads = replicas(2, |r| {
        let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
        let tape = GradientTape::new();
        tape.watch(&x);
        let y = r.all_reduce(ReduceOp::Mean, &x).unwrap();
        let w = (r.replica_id_in_sync_group() + 1) as f32;
        let loss =
            ops::reduce_sum(&ops::mul(&y, &Tensor::from_scalar(w)).unwrap(), None, false).unwrap();
        let g = tape.gradient(&loss, &[&x]).unwrap().remove(0).unwrap();
        g.to_vec::<f32>().unwrap()
    });
    // d/dx_r of sum_j L_j with L_j = w_j * mean(x): (1 + 2) / 2 on both replicas.
    for g in grads {
        assert_eq!(g, [1.5, 1.5]);
    }
}

#[test]
fn one_replica_is_the_identity_and_no_context_is_an_error() {
    let s: std::rc::Rc<dyn tf_distribute::Strategy> =
        std::rc::Rc::new(tf_distribute::MirroredStrategy::new().unwrap());
    let x = Tensor::from_vec(vec![1.0f32, -2.0], [2]).unwrap();
    {
        let g = ReplicaContext::enter(s);
        let y = g.context().all_reduce(ReduceOp::Sum, &x).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), [1.0, -2.0]);
        assert!(get_replica_context().is_some());
    }
    assert!(get_replica_context().is_none());
    let e = collective_reduce(&x, 2, DEFAULT_GROUP_KEY, "Add", "Id")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("CollectiveReduceV2") && e.contains("no replica context"),
        "{e}"
    );
}

#[test]
fn bad_calls_are_errors_naming_the_op() {
    let errs = replicas(2, |r| {
        let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
        let size = collective_reduce(&x, 3, DEFAULT_GROUP_KEY, "Add", "Id")
            .unwrap_err()
            .to_string();
        let merge = collective_reduce(&x, 2, DEFAULT_GROUP_KEY, "Mul", "Id")
            .unwrap_err()
            .to_string();
        let xi = Tensor::from_vec(vec![1i32, 2], [2]).unwrap();
        let dtype = r.all_reduce(ReduceOp::Sum, &xi).unwrap_err().to_string();
        let share = r.set_share(0.0).unwrap_err().to_string();
        // The group is still usable after the refused calls.
        let ok = r
            .all_reduce(ReduceOp::Sum, &x)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        (size, merge, dtype, share, ok)
    });
    for (size, merge, dtype, share, ok) in errs {
        assert!(
            size.contains("CollectiveReduceV2") && size.contains("group_size 3"),
            "{size}"
        );
        assert!(
            merge.contains("CollectiveReduceV2") && merge.contains("\"Mul\""),
            "{merge}"
        );
        assert!(
            dtype.contains("CollectiveReduceV2") && dtype.contains("int32"),
            "{dtype}"
        );
        assert!(share.contains("(0, 1]"), "{share}");
        assert_eq!(ok, [2.0, 4.0]);
    }
    let _ = DType::F32;
}
