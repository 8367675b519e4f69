//! The inter-op parallel executor: graphs with independent heavy branches give exactly
//! what the in-order run gives (same kernels on the same values), keep stateful nodes
//! (random ops, variable reads and assignments) in program order, and report a
//! failing node's error.

#![allow(clippy::unwrap_used)]

use tf_core::{DType, Tensor, Variable, ops};
use tf_graph::{function, set_inter_op_parallelism_threads};

fn random(seed: u64, shape: &[usize]) -> Tensor {
    ops::random_normal(shape, 0.0, 1.0, DType::F32, Some(seed)).unwrap()
}

/// Runs `call` in order (inter-op parallelism 1) and automatically, returning both.
/// Tests in this file only switch the setting around their own calls; other tests of
/// the binary may run under either setting, which changes no result.
fn both<R>(mut call: impl FnMut() -> R) -> (R, R) {
    set_inter_op_parallelism_threads(1);
    let in_order = call();
    set_inter_op_parallelism_threads(0);
    let parallel = call();
    (in_order, parallel)
}

#[test]
fn independent_branches_match_the_in_order_run_and_eager() {
    // Four independent 64×64 MatMul + Tanh branches, summed.
    let body = |a: &[Tensor]| -> tf_core::Result<Vec<Tensor>> {
        let mut acc: Option<Tensor> = None;
        for w in &a[1..] {
            let b = ops::tanh(&ops::matmul(&a[0], w)?)?;
            acc = Some(match acc {
                Some(s) => ops::add(&s, &b)?,
                None => b,
            });
        }
        Ok(vec![acc.unwrap(), ops::reduce_sum(&a[0], None, false)?])
    };
    let f = function(body);
    let args: Vec<Tensor> = (0..5).map(|k| random(k, &[64, 64])).collect();
    let eager = body(&args).unwrap();
    let (seq, par) = both(|| f.call(&args).unwrap());
    for ((e, s), p) in eager.iter().zip(&seq).zip(&par) {
        let (e, s, p) = (
            e.to_vec::<f32>().unwrap(),
            s.to_vec::<f32>().unwrap(),
            p.to_vec::<f32>().unwrap(),
        );
        assert_eq!(s, p);
        for (a, b) in e.iter().zip(&s) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
        }
    }
}

#[test]
fn stateful_nodes_keep_program_order() {
    // Two heavy branches that each draw from the global random stream and update a
    // variable the other one reads: the parallel run must see what the in-order run
    // sees, call after call.
    let v = Variable::new(Tensor::zeros([64, 64], DType::F32).unwrap()).unwrap();
    let vc = v.clone();
    let f = function(move |a| {
        let r1 = ops::random_uniform(&[64, 64], 0.0, 1.0, DType::F32, None)?;
        let b1 = ops::matmul(&a[0], &r1)?;
        vc.assign_add(&b1)?;
        let r2 = ops::random_uniform(&[64, 64], 0.0, 1.0, DType::F32, None)?;
        let b2 = ops::matmul(&vc.read()?, &r2)?;
        Ok(vec![b1, b2])
    });
    let x = random(9, &[64, 64]);
    let mut run = || {
        ops::set_random_seed(11);
        v.assign(&Tensor::zeros([64, 64], DType::F32).unwrap())
            .unwrap();
        let out = f.call(std::slice::from_ref(&x)).unwrap();
        (
            out.iter()
                .map(|t| t.to_vec::<f32>().unwrap())
                .collect::<Vec<_>>(),
            v.read().unwrap().to_vec::<f32>().unwrap(),
        )
    };
    let (seq, par) = both(&mut run);
    assert_eq!(seq, par);
    // The assignment really happened before the read.
    assert_eq!(seq.1, seq.0[0]);
}

#[test]
fn a_failing_node_reports_its_error_and_the_function_still_works() {
    let f = function(|a| {
        let left = ops::tanh(&ops::matmul(&a[0], &a[0])?)?;
        let right = ops::gather(&ops::matmul(&a[0], &a[0])?, &a[1], 0, 0)?;
        Ok(vec![left, right])
    });
    let x = random(3, &[64, 64]);
    let bad = Tensor::from_vec(vec![0i32, 64], [2]).unwrap();
    let (seq, par) = both(|| f.call(&[x.clone(), bad.clone()]).unwrap_err().to_string());
    assert_eq!(seq, par);
    assert!(par.contains("Gather"), "{par}");
    let good = Tensor::from_vec(vec![63i32, 0], [2]).unwrap();
    let out = f.call(&[x.clone(), good]).unwrap();
    assert_eq!(out[1].dims(), &[2, 64]);
}

/// One value read by many concurrent consumers: every consumer but the last clones it,
/// the last takes it; none may find it gone (a race the executor must not have).
#[test]
fn a_value_shared_by_many_concurrent_consumers_reaches_all_of_them() {
    let f = function(|a| {
        let shared = ops::tanh(&a[0])?;
        let mut outs = Vec::new();
        for k in 0..8 {
            let s = ops::mul(&shared, &Tensor::from_scalar(k as f32))?;
            outs.push(ops::exp(&s)?);
        }
        Ok(outs)
    });
    let x = random(5, &[128, 64]);
    set_inter_op_parallelism_threads(0);
    let first = f.call(std::slice::from_ref(&x)).unwrap();
    for _ in 0..200 {
        let again = f.call(std::slice::from_ref(&x)).unwrap();
        assert_eq!(again.len(), first.len());
    }
    for (k, t) in first.iter().enumerate() {
        let want =
            ops::exp(&ops::mul(&ops::tanh(&x).unwrap(), &Tensor::from_scalar(k as f32)).unwrap())
                .unwrap();
        assert_eq!(t.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    }
}
