//! Reductions, argmax/argmin, scans and sorts against naive f64 references: random
//! shapes (zero-size dimensions and rank 0 included), every subset of axes (negative
//! spellings too), keepdims both ways, every layout and every supported dtype; NaN
//! rules; shape inference on partial shapes (proptest); f32 accuracy; error messages.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use rand::Rng;
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef, call, call1};
use tf_core::ops::{self, SortDirection};
use tf_core::{DType, PartialShape, Shape, Tensor};

const NUMERIC: [DType; 8] = [
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I8,
    DType::U8,
    DType::I32,
    DType::I64,
];
const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

fn shapes() -> Vec<Vec<usize>> {
    vec![
        vec![],
        vec![0],
        vec![5],
        vec![1, 4],
        vec![3, 4],
        vec![4, 0],
        vec![2, 3, 4],
        vec![3, 1, 5],
        vec![2, 0, 3],
        vec![2, 2, 2, 3],
        vec![37, 53],
    ]
}

/// Row-major multi-index of flat index `i`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        idx[d] = i % dims[d];
        i /= dims[d];
    }
    idx
}

/// Groups the elements of a row-major `vals` by output (kept dimensions, row-major).
fn groups(vals: &[f64], dims: &[usize], mask: &[bool]) -> Vec<Vec<f64>> {
    let n_out: usize = dims
        .iter()
        .zip(mask)
        .filter(|(_, m)| !**m)
        .map(|(d, _)| d)
        .product();
    let mut g = vec![Vec::new(); n_out];
    for (i, &v) in vals.iter().enumerate() {
        let idx = unravel(i, dims);
        let mut o = 0;
        for d in 0..dims.len() {
            if !mask[d] {
                o = o * dims[d] + idx[d];
            }
        }
        g[o].push(v);
    }
    g
}

fn out_dims(dims: &[usize], mask: &[bool], keepdims: bool) -> Vec<usize> {
    dims.iter()
        .zip(mask)
        .filter_map(|(&d, &m)| match (m, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// Wraps an integer to `dtype` (two's complement), as TensorFlow's integer kernels do.
fn wrap(dtype: DType, v: i64) -> f64 {
    match dtype {
        DType::I8 => v as i8 as f64,
        DType::U8 => v as u8 as f64,
        DType::I32 => v as i32 as f64,
        _ => v as f64,
    }
}

fn int_bounds(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => (i64::MIN as f64, i64::MAX as f64),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Red {
    Sum,
    Mean,
    Prod,
    Max,
    Min,
    LogSumExp,
}

fn nan_max(g: &[f64], max: bool) -> f64 {
    g.iter().fold(
        if max {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
        |a, &x| {
            if a.is_nan() || x.is_nan() {
                f64::NAN
            } else if max {
                a.max(x)
            } else {
                a.min(x)
            }
        },
    )
}

/// The reference value of one output and the tolerance it is checked with.
fn reference(op: Red, dtype: DType, g: &[f64]) -> (f64, f64) {
    let float = dtype.is_float();
    let t = tol(dtype);
    let scale: f64 = g.iter().map(|x| x.abs()).sum();
    match op {
        Red::Sum if float => {
            let s: f64 = g.iter().sum();
            (round_to(dtype, &[s])[0], t * (s.abs() + scale))
        }
        Red::Sum => (
            wrap(dtype, g.iter().fold(0i64, |a, &x| a.wrapping_add(x as i64))),
            0.0,
        ),
        Red::Mean if float => {
            let m = g.iter().sum::<f64>() / g.len() as f64;
            (
                round_to(dtype, &[m])[0],
                t * (m.abs() + scale / g.len() as f64),
            )
        }
        Red::Mean => {
            if g.is_empty() {
                return (0.0, 0.0);
            }
            let s = g.iter().fold(0i64, |a, &x| a + x as i64);
            (wrap(dtype, s / g.len() as i64), 0.0)
        }
        Red::Prod if float => {
            let p: f64 = g.iter().product();
            (
                round_to(dtype, &[p])[0],
                t * p.abs() * (1.0 + g.len() as f64),
            )
        }
        Red::Prod => (
            wrap(dtype, g.iter().fold(1i64, |a, &x| a.wrapping_mul(x as i64))),
            0.0,
        ),
        Red::Max | Red::Min => {
            let max = op == Red::Max;
            if g.is_empty() && !float {
                let (lo, hi) = int_bounds(dtype);
                return (if max { lo } else { hi }, 0.0);
            }
            (nan_max(g, max), 0.0)
        }
        Red::LogSumExp => {
            let m = nan_max(g, true);
            let shift = if m.is_finite() { m } else { 0.0 };
            let s: f64 = g.iter().map(|x| (x - shift).exp()).sum();
            let v = s.ln() + shift;
            (round_to(dtype, &[v])[0], 4.0 * t * (v.abs() + 1.0))
        }
    }
}

fn run_red(op: Red, x: &Tensor, axes: Option<&[i64]>, keepdims: bool) -> tf_core::Result<Tensor> {
    match op {
        Red::Sum => ops::reduce_sum(x, axes, keepdims),
        Red::Mean => ops::reduce_mean(x, axes, keepdims),
        Red::Prod => ops::reduce_prod(x, axes, keepdims),
        Red::Max => ops::reduce_max(x, axes, keepdims),
        Red::Min => ops::reduce_min(x, axes, keepdims),
        Red::LogSumExp => ops::reduce_logsumexp(x, axes, keepdims),
    }
}

/// Checks `actual` against per-element `(expected, tolerance)`; NaN must match NaN and
/// infinities must match exactly.
fn check(actual: &Tensor, expected: &[(f64, f64)], dims: &[usize], what: &str) {
    assert_eq!(actual.dims(), dims, "{what}: shape");
    let got = actual.to_f64_vec().unwrap();
    assert_eq!(got.len(), expected.len(), "{what}: count");
    for (i, (&g, &(e, t))) in got.iter().zip(expected).enumerate() {
        let ok = if e.is_nan() {
            g.is_nan()
        } else if e.is_infinite() {
            g == e
        } else {
            (g - e).abs() <= t
        };
        assert!(
            ok,
            "{what}: element {i}: got {g}, expected {e} (tolerance {t})"
        );
    }
}

/// Every subset of axes of a rank, each axis spelled positive or negative at random.
fn axis_subsets(rank: usize, rng: &mut impl Rng) -> Vec<(Vec<bool>, Vec<i64>)> {
    (0..1u32 << rank)
        .map(|bits| {
            let mask: Vec<bool> = (0..rank).map(|d| bits >> d & 1 == 1).collect();
            let axes = (0..rank)
                .filter(|&d| mask[d])
                .map(|d| {
                    if rng.random_bool(0.5) {
                        d as i64 - rank as i64
                    } else {
                        d as i64
                    }
                })
                .collect();
            (mask, axes)
        })
        .collect()
}

fn values_for(op: Red, rng: &mut rand::rngs::StdRng, dtype: DType, n: usize) -> Vec<f64> {
    if op == Red::Prod && dtype.is_float() {
        // Keep products inside every float range.
        (0..n)
            .map(|_| rng.random_range(0.6..1.6) * if rng.random_bool(0.5) { 1.0 } else { -1.0 })
            .collect()
    } else {
        random_values(rng, dtype, n)
    }
}

fn check_reduction(op: Red, dtypes: &[DType], seed: u64) {
    let mut rng = rng(seed);
    for &dtype in dtypes {
        for dims in shapes() {
            let n: usize = dims.iter().product();
            let mut v = values_for(op, &mut rng, dtype, n);
            if dtype.is_float() && n > 4 && rng.random_bool(0.5) {
                v[n / 3] = f64::NAN; // poisons the outputs it reaches
            }
            let x = tensor_from_f64(&v, dtype, &dims);
            let vals = x.to_f64_vec().unwrap();
            for (mask, axes) in axis_subsets(dims.len(), &mut rng) {
                let expect: Vec<(f64, f64)> = groups(&vals, &dims, &mask)
                    .iter()
                    .map(|g| reference(op, dtype, g))
                    .collect();
                for keepdims in [false, true] {
                    let od = out_dims(&dims, &mask, keepdims);
                    for (k, view) in layouts(&x).iter().enumerate() {
                        let what = format!(
                            "{op:?} {dtype} {dims:?} axes {axes:?} keepdims {keepdims} layout {k}"
                        );
                        let y = run_red(op, view, Some(&axes), keepdims).unwrap();
                        assert_eq!(y.dtype(), dtype, "{what}");
                        check(&y, &expect, &od, &what);
                    }
                }
            }
            // axis=None reduces everything.
            let all = vec![true; dims.len()];
            let expect: Vec<(f64, f64)> = groups(&vals, &dims, &all)
                .iter()
                .map(|g| reference(op, dtype, g))
                .collect();
            check(
                &run_red(op, &x, None, false).unwrap(),
                &expect,
                &[],
                &format!("{op:?} {dtype} {dims:?} None"),
            );
        }
    }
}

#[test]
fn reduce_sum_matches_reference() {
    check_reduction(Red::Sum, &NUMERIC, 1);
}

#[test]
fn reduce_mean_matches_reference() {
    check_reduction(Red::Mean, &NUMERIC, 2);
}

#[test]
fn reduce_prod_matches_reference() {
    check_reduction(Red::Prod, &NUMERIC, 3);
}

#[test]
fn reduce_max_min_match_reference() {
    check_reduction(Red::Max, &NUMERIC, 4);
    check_reduction(Red::Min, &NUMERIC, 5);
}

#[test]
fn reduce_logsumexp_matches_reference() {
    check_reduction(Red::LogSumExp, &FLOATS, 6);
}

/// Reference `(mean, variance)` of one output with tolerances (two passes in f64).
fn moments_ref(dtype: DType, g: &[f64]) -> ((f64, f64), (f64, f64)) {
    let t = tol(dtype);
    let m = g.iter().sum::<f64>() / g.len() as f64;
    let v = g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / g.len() as f64;
    let scale = g.iter().map(|x| x.abs()).sum::<f64>() / g.len() as f64;
    (
        (round_to(dtype, &[m])[0], t * (m.abs() + scale)),
        (round_to(dtype, &[v])[0], t * v.abs() + 1e-9),
    )
}

#[test]
fn moments_match_two_pass_reference() {
    let mut rng = rng(7);
    for dtype in FLOATS {
        for dims in shapes() {
            let n: usize = dims.iter().product();
            // An offset large next to the spread: naive E[x^2] - E[x]^2 would fail.
            let v: Vec<f64> = random_values(&mut rng, dtype, n)
                .iter()
                .map(|x| x + 100.0)
                .collect();
            let x = tensor_from_f64(&v, dtype, &dims);
            let vals = x.to_f64_vec().unwrap();
            for (mask, axes) in axis_subsets(dims.len(), &mut rng) {
                let gs = groups(&vals, &dims, &mask);
                let (mean, var): (Vec<_>, Vec<_>) =
                    gs.iter().map(|g| moments_ref(dtype, g)).unzip();
                for keepdims in [false, true] {
                    let od = out_dims(&dims, &mask, keepdims);
                    for (k, view) in layouts(&x).iter().enumerate() {
                        let what =
                            format!("Moments {dtype} {dims:?} {axes:?} {keepdims} layout {k}");
                        let (m, var_t) = ops::moments(view, Some(&axes), keepdims).unwrap();
                        check(&m, &mean, &od, &what);
                        check(&var_t, &var, &od, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn reduce_all_any_match_reference() {
    let mut rng = rng(8);
    for dims in shapes() {
        let n: usize = dims.iter().product();
        // Mostly-true and mostly-false inputs so both answers occur.
        for p in [0.9, 0.1] {
            let v: Vec<bool> = (0..n).map(|_| rng.random_bool(p)).collect();
            let x = Tensor::from_vec(v.clone(), Shape::new(&dims)).unwrap();
            let vals: Vec<f64> = v.iter().map(|&b| b as u8 as f64).collect();
            for (mask, axes) in axis_subsets(dims.len(), &mut rng) {
                let gs = groups(&vals, &dims, &mask);
                let all: Vec<(f64, f64)> = gs
                    .iter()
                    .map(|g| (g.iter().all(|&x| x == 1.0) as u8 as f64, 0.0))
                    .collect();
                let any: Vec<(f64, f64)> = gs
                    .iter()
                    .map(|g| (g.contains(&1.0) as u8 as f64, 0.0))
                    .collect();
                for keepdims in [false, true] {
                    let od = out_dims(&dims, &mask, keepdims);
                    for view in layouts(&x) {
                        let what = format!("All/Any {dims:?} {axes:?} {keepdims}");
                        check(
                            &ops::reduce_all(&view, Some(&axes), keepdims).unwrap(),
                            &all,
                            &od,
                            &what,
                        );
                        check(
                            &ops::reduce_any(&view, Some(&axes), keepdims).unwrap(),
                            &any,
                            &od,
                            &what,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn large_reductions_take_the_parallel_paths() {
    let mut rng = rng(9);
    for dtype in [DType::F32, DType::I32, DType::F16] {
        for dims in [vec![260, 150], vec![3, 12000], vec![40000], vec![9, 70, 60]] {
            let n: usize = dims.iter().product();
            let x = tensor_from_f64(&random_values(&mut rng, dtype, n), dtype, &dims);
            let vals = x.to_f64_vec().unwrap();
            for (mask, axes) in axis_subsets(dims.len(), &mut rng) {
                let gs = groups(&vals, &dims, &mask);
                let od = out_dims(&dims, &mask, false);
                if dtype.is_float() {
                    let (mean, var): (Vec<_>, Vec<_>) =
                        gs.iter().map(|g| moments_ref(dtype, g)).unzip();
                    for view in layouts(&x) {
                        let (m, v) = ops::moments(&view, Some(&axes), false).unwrap();
                        check(&m, &mean, &od, &format!("mean {dtype} {dims:?} {axes:?}"));
                        check(
                            &v,
                            &var,
                            &od,
                            &format!("variance {dtype} {dims:?} {axes:?}"),
                        );
                    }
                }
                let float_ops: &[Red] = if dtype.is_float() {
                    &[Red::LogSumExp]
                } else {
                    &[]
                };
                for &op in [Red::Sum, Red::Max, Red::Mean].iter().chain(float_ops) {
                    let expect: Vec<(f64, f64)> =
                        gs.iter().map(|g| reference(op, dtype, g)).collect();
                    for (k, view) in layouts(&x).iter().enumerate() {
                        let y = run_red(op, view, Some(&axes), false).unwrap();
                        check(
                            &y,
                            &expect,
                            &od,
                            &format!("{op:?} {dtype} {dims:?} {axes:?} layout {k}"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn broadcast_views_reduce_like_their_values() {
    // [4, 3] read from 3 values with stride 0 on the rows.
    let base = Tensor::from_vec(vec![1.0f32, 2.0, 4.0], [3]).unwrap();
    let b = base
        .view("test", Shape::new(&[4, 3]), vec![0, 1].into(), 0)
        .unwrap();
    assert_eq!(
        ops::reduce_sum(&b, Some(&[0]), false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![4.0, 8.0, 16.0]
    );
    assert_eq!(
        ops::reduce_sum(&b, Some(&[1]), false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![7.0; 4]
    );
    assert_eq!(
        ops::reduce_prod(&b, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        4096.0
    );
    assert_eq!(
        ops::argmax(&b, 1).unwrap().to_vec::<i64>().unwrap(),
        vec![2; 4]
    );
}

#[test]
fn empty_reductions_give_identities() {
    let e = Tensor::zeros([0, 3], DType::F32).unwrap();
    let sum = ops::reduce_sum(&e, Some(&[0]), false).unwrap();
    assert_eq!(sum.to_vec::<f32>().unwrap(), vec![0.0; 3]);
    assert_eq!(
        ops::reduce_prod(&e, Some(&[0]), false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0; 3]
    );
    assert!(
        ops::reduce_mean(&e, Some(&[0]), false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .all(|v| v.is_nan())
    );
    assert_eq!(
        ops::reduce_max(&e, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        f32::NEG_INFINITY
    );
    assert_eq!(
        ops::reduce_min(&e, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        f32::INFINITY
    );
    assert_eq!(
        ops::reduce_logsumexp(&e, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        f32::NEG_INFINITY
    );
    let (m, v) = ops::moments(&e, None, false).unwrap();
    assert!(m.scalar::<f32>().unwrap().is_nan() && v.scalar::<f32>().unwrap().is_nan());
    let ei = Tensor::zeros([2, 0], DType::I8).unwrap();
    assert_eq!(
        ops::reduce_max(&ei, Some(&[1]), false)
            .unwrap()
            .to_vec::<i8>()
            .unwrap(),
        vec![i8::MIN; 2]
    );
    assert_eq!(
        ops::reduce_min(&ei, Some(&[1]), false)
            .unwrap()
            .to_vec::<i8>()
            .unwrap(),
        vec![i8::MAX; 2]
    );
    assert_eq!(
        ops::reduce_mean(&ei, Some(&[1]), true)
            .unwrap()
            .to_vec::<i8>()
            .unwrap(),
        vec![0; 2]
    );
    let eb = Tensor::zeros([0], DType::Bool).unwrap();
    assert!(
        ops::reduce_all(&eb, None, false)
            .unwrap()
            .scalar::<bool>()
            .unwrap()
    );
    assert!(
        !ops::reduce_any(&eb, None, false)
            .unwrap()
            .scalar::<bool>()
            .unwrap()
    );
    // Reducing a zero-size kept dimension gives an empty output.
    assert_eq!(
        ops::reduce_sum(&e, Some(&[1]), true).unwrap().dims(),
        &[0, 1]
    );
    // Reducing nothing returns the values.
    let s = Tensor::from_scalar(2.5f64);
    assert_eq!(
        ops::reduce_sum(&s, None, false)
            .unwrap()
            .scalar::<f64>()
            .unwrap(),
        2.5
    );
    assert_eq!(
        ops::reduce_mean(&s, Some(&[]), true)
            .unwrap()
            .scalar::<f64>()
            .unwrap(),
        2.5
    );
}

#[test]
fn nan_rules() {
    let nan = f32::NAN;
    let x = Tensor::from_vec(vec![1.0, nan, 3.0, -1.0, 5.0, 2.0], [2, 3]).unwrap();
    let max = ops::reduce_max(&x, Some(&[1]), false)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(max[0].is_nan() && max[1] == 5.0);
    let min = ops::reduce_min(&x, Some(&[0]), false)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!((min[0], min[2]), (-1.0, 2.0));
    assert!(min[1].is_nan());
    assert!(
        ops::reduce_sum(&x, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap()
            .is_nan()
    );
    assert!(
        ops::reduce_logsumexp(&x, Some(&[1]), false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()[0]
            .is_nan()
    );
    // NaN first in a long run (sticky across lanes and blocks).
    let mut long = vec![1.0f32; 5000];
    long[0] = nan;
    long[4999] = 7.0;
    let t = Tensor::from_vec(long, [5000]).unwrap();
    assert!(
        ops::reduce_max(&t, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap()
            .is_nan()
    );
    assert!(
        ops::reduce_min(&t, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap()
            .is_nan()
    );
    // logsumexp with infinities: TF's formula.
    let inf = Tensor::from_vec(vec![f32::INFINITY, 1.0, f32::NEG_INFINITY], [3]).unwrap();
    assert_eq!(
        ops::reduce_logsumexp(&inf, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        f32::INFINITY
    );
    let ninf = Tensor::from_vec(vec![f32::NEG_INFINITY; 2], [2]).unwrap();
    assert_eq!(
        ops::reduce_logsumexp(&ninf, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        f32::NEG_INFINITY
    );
    let big = Tensor::from_vec(vec![1000.0f32, 1000.0], [2]).unwrap();
    let l = ops::reduce_logsumexp(&big, None, false)
        .unwrap()
        .scalar::<f32>()
        .unwrap();
    assert!((l - (1000.0 + 2f32.ln())).abs() < 1e-3, "{l}");
}

#[test]
fn f32_sums_are_accurate() {
    let ones = Tensor::ones([1 << 22], DType::F32).unwrap();
    assert_eq!(
        ops::reduce_sum(&ones, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        (1 << 22) as f32
    );
    assert_eq!(
        ops::reduce_mean(&ones, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap(),
        1.0
    );
    let tenth = 0.1f32;
    let exact = tenth as f64 * 1e6;
    for dims in [vec![1_000_000], vec![1000, 1000], vec![250_000, 4]] {
        let x = Tensor::fill(Shape::new(&dims), tenth).unwrap();
        let s = ops::reduce_sum(&x, None, false)
            .unwrap()
            .scalar::<f32>()
            .unwrap() as f64;
        assert!(
            ((s - exact) / exact).abs() < 1e-6,
            "{dims:?}: {s} vs {exact}"
        );
        // Column sums of long columns (the column path) stay accurate too.
        if dims.len() == 2 {
            let c = ops::reduce_sum(&x, Some(&[0]), false)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            let e = tenth as f64 * dims[0] as f64;
            assert!(
                c.iter().all(|&v| ((v as f64 - e) / e).abs() < 1e-6),
                "{dims:?}: {:?}",
                &c[..2]
            );
        }
    }
    // Variance with a large mean: accurate where E[x^2] - E[x]^2 in f32 is not.
    let v: Vec<f32> = (0..100_000).map(|i| 1e4 + (i % 2) as f32).collect();
    let (m, var) = ops::moments(&Tensor::from_vec(v, [100_000]).unwrap(), None, false).unwrap();
    assert_eq!(m.scalar::<f32>().unwrap(), 10000.5);
    assert_eq!(var.scalar::<f32>().unwrap(), 0.25);
}

#[test]
fn integer_semantics() {
    let x = Tensor::from_vec(vec![100i8, 100, 100], [3]).unwrap();
    assert_eq!(
        ops::reduce_sum(&x, None, false)
            .unwrap()
            .scalar::<i8>()
            .unwrap(),
        44
    );
    // Means use a wide intermediate (TensorFlow's int64) and truncate toward zero.
    assert_eq!(
        ops::reduce_mean(&x, None, false)
            .unwrap()
            .scalar::<i8>()
            .unwrap(),
        100
    );
    let y = Tensor::from_vec(vec![-7i32, 0], [2]).unwrap();
    assert_eq!(
        ops::reduce_mean(&y, None, false)
            .unwrap()
            .scalar::<i32>()
            .unwrap(),
        -3
    );
    let p = Tensor::from_vec(vec![i64::MAX, 2], [2]).unwrap();
    assert_eq!(
        ops::reduce_prod(&p, None, false)
            .unwrap()
            .scalar::<i64>()
            .unwrap(),
        -2
    );
    let u = Tensor::from_vec(vec![200u8, 100], [2]).unwrap();
    assert_eq!(
        ops::reduce_sum(&u, None, false)
            .unwrap()
            .scalar::<u8>()
            .unwrap(),
        44
    );
    assert_eq!(
        ops::reduce_mean(&u, None, false)
            .unwrap()
            .scalar::<u8>()
            .unwrap(),
        150
    );
}

// ---------------------------------------------------------------- argmax / argmin

/// First index of the max (min) ignoring NaN; 0 when all are NaN.
fn arg_ref(g: &[f64], max: bool) -> f64 {
    let mut best: Option<(usize, f64)> = None;
    for (i, &v) in g.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if !(if max { v > b } else { v < b }) => {}
            _ => best = Some((i, v)),
        }
    }
    best.map_or(0.0, |(i, _)| i as f64)
}

#[test]
fn argmax_argmin_match_reference() {
    let mut rng = rng(10);
    let mut dtypes = NUMERIC.to_vec();
    dtypes.push(DType::Bool);
    for dtype in dtypes {
        for dims in shapes() {
            let n: usize = dims.iter().product();
            let mut v = random_values(&mut rng, dtype, n);
            if dtype.is_float() && n > 3 {
                v[1] = f64::NAN; // skipped, like TensorFlow's CPU kernel
            }
            let x = tensor_from_f64(&v, dtype, &dims);
            let vals = x.to_f64_vec().unwrap();
            for axis in 0..dims.len() {
                let mut mask = vec![false; dims.len()];
                mask[axis] = true;
                let od = out_dims(&dims, &mask, false);
                let gs = groups(&vals, &dims, &mask);
                for (max, name) in [(true, "ArgMax"), (false, "ArgMin")] {
                    let spelled = if axis % 2 == 0 {
                        axis as i64
                    } else {
                        axis as i64 - dims.len() as i64
                    };
                    if dims[axis] == 0 {
                        let e = ops::argmax(&x, spelled).unwrap_err().to_string();
                        assert!(e.contains("ArgMax") && e.contains("empty"), "{e}");
                        continue;
                    }
                    let expect: Vec<(f64, f64)> =
                        gs.iter().map(|g| (arg_ref(g, max), 0.0)).collect();
                    for (k, view) in layouts(&x).iter().enumerate() {
                        let what = format!("{name} {dtype} {dims:?} axis {spelled} layout {k}");
                        let y = if max {
                            ops::argmax(view, spelled)
                        } else {
                            ops::argmin(view, spelled)
                        }
                        .unwrap();
                        assert_eq!(y.dtype(), DType::I64);
                        check(&y, &expect, &od, &what);
                        let y32 = if max {
                            ops::argmax_with_type(view, spelled, DType::I32)
                        } else {
                            ops::argmin_with_type(view, spelled, DType::I32)
                        }
                        .unwrap();
                        assert_eq!(y32.dtype(), DType::I32);
                        check(&y32, &expect, &od, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn argmax_ties_and_nan() {
    let x = Tensor::from_vec(vec![3.0f32, 7.0, 7.0, f32::NAN, 7.0], [5]).unwrap();
    assert_eq!(ops::argmax(&x, 0).unwrap().scalar::<i64>().unwrap(), 1);
    let all_nan = Tensor::from_vec(vec![f32::NAN; 4], [4]).unwrap();
    assert_eq!(
        ops::argmax(&all_nan, 0).unwrap().scalar::<i64>().unwrap(),
        0
    );
    assert_eq!(
        ops::argmin(&all_nan, 0).unwrap().scalar::<i64>().unwrap(),
        0
    );
    let lead = Tensor::from_vec(vec![f32::NAN, 1.0, 2.0], [3]).unwrap();
    assert_eq!(ops::argmax(&lead, 0).unwrap().scalar::<i64>().unwrap(), 2);
    assert_eq!(ops::argmin(&lead, 0).unwrap().scalar::<i64>().unwrap(), 1);
    let z = Tensor::from_vec(vec![-0.0f64, 0.0], [2]).unwrap();
    assert_eq!(ops::argmax(&z, 0).unwrap().scalar::<i64>().unwrap(), 0);
    let big = Tensor::from_vec(
        (0..50_000i32).map(|i| i % 977).collect::<Vec<_>>(),
        [50, 1000],
    )
    .unwrap();
    assert_eq!(
        ops::argmax(&big, 1).unwrap().to_vec::<i64>().unwrap()[0],
        976
    );
    // Column 0 holds (23 * row) % 977, largest (966) at row 42.
    assert_eq!(
        ops::argmax(&big, 0).unwrap().to_vec::<i64>().unwrap()[0],
        42
    );
}

// ---------------------------------------------------------------- scans

fn scan_ref(line: &[f64], prod: bool, exclusive: bool, reverse: bool, dtype: DType) -> Vec<f64> {
    let n = line.len();
    let mut out = vec![0.0; n];
    let mut acc_f = if prod { 1.0 } else { 0.0 };
    let mut acc_i: i64 = if prod { 1 } else { 0 };
    for step in 0..n {
        let i = if reverse { n - 1 - step } else { step };
        let emit = |acc_f: f64, acc_i: i64| {
            if dtype.is_float() {
                round_to(dtype, &[acc_f])[0]
            } else {
                wrap(dtype, acc_i)
            }
        };
        if exclusive {
            out[i] = emit(acc_f, acc_i);
        }
        if prod {
            acc_f *= line[i];
            acc_i = acc_i.wrapping_mul(line[i] as i64);
        } else {
            acc_f += line[i];
            acc_i = acc_i.wrapping_add(line[i] as i64);
        }
        if !exclusive {
            out[i] = emit(acc_f, acc_i);
        }
    }
    out
}

#[test]
fn cumsum_cumprod_match_reference() {
    let mut rng = rng(11);
    for dtype in NUMERIC {
        for dims in shapes() {
            if dims.is_empty() {
                continue;
            }
            let n: usize = dims.iter().product();
            for prod in [false, true] {
                let v = values_for(if prod { Red::Prod } else { Red::Sum }, &mut rng, dtype, n);
                let x = tensor_from_f64(&v, dtype, &dims);
                let vals = x.to_f64_vec().unwrap();
                for axis in 0..dims.len() {
                    let (outer, len, inner): (usize, usize, usize) = (
                        dims[..axis].iter().product(),
                        dims[axis],
                        dims[axis + 1..].iter().product(),
                    );
                    for exclusive in [false, true] {
                        for reverse in [false, true] {
                            let mut expect = vec![(0.0, 0.0); n];
                            for o in 0..outer {
                                for j in 0..inner {
                                    let at = |i: usize| o * len * inner + i * inner + j;
                                    let line: Vec<f64> = (0..len).map(|i| vals[at(i)]).collect();
                                    let scale: f64 = line.iter().map(|x| x.abs()).sum::<f64>();
                                    for (i, e) in scan_ref(&line, prod, exclusive, reverse, dtype)
                                        .into_iter()
                                        .enumerate()
                                    {
                                        let t = if prod {
                                            tol(dtype) * e.abs() * (1.0 + len as f64)
                                        } else {
                                            tol(dtype) * (e.abs() + scale)
                                        };
                                        expect[at(i)] = (e, t);
                                    }
                                }
                            }
                            let spelled = axis as i64 - if reverse { dims.len() as i64 } else { 0 };
                            for (k, view) in layouts(&x).iter().enumerate() {
                                let what = format!(
                                    "prod={prod} {dtype} {dims:?} axis {spelled} ex {exclusive} rev {reverse} layout {k}"
                                );
                                let y = if prod {
                                    ops::cumprod(view, spelled, exclusive, reverse)
                                } else {
                                    ops::cumsum(view, spelled, exclusive, reverse)
                                }
                                .unwrap();
                                assert_eq!(y.dtype(), dtype);
                                check(&y, &expect, &dims, &what);
                            }
                        }
                    }
                }
            }
        }
    }
    // Large enough to run in parallel.
    let x = Tensor::ones([300, 200], DType::I64).unwrap();
    let c = ops::cumsum(&x, 1, false, false)
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    assert_eq!((c[199], c[200], c[59_999]), (200, 1, 200));
    let c = ops::cumsum(&x, 0, true, true)
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    assert_eq!((c[0], c[59_999]), (299, 0));
}

// ---------------------------------------------------------------- sorting

/// Our total order on f64 values: NaN greatest, -0 == 0.
fn order(a: f64, b: f64) -> std::cmp::Ordering {
    a.partial_cmp(&b)
        .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
}

/// Stable sorting permutation of a line.
fn perm(line: &[f64], desc: bool) -> Vec<usize> {
    let mut p: Vec<usize> = (0..line.len()).collect();
    p.sort_by(|&i, &j| {
        let o = order(line[i], line[j]);
        if desc { o.reverse() } else { o }
    });
    p
}

#[test]
fn sort_argsort_match_reference() {
    let mut rng = rng(12);
    for dtype in NUMERIC {
        for dims in shapes() {
            if dims.is_empty() {
                let e = ops::sort(&Tensor::from_scalar(1.0f32), 0, SortDirection::Ascending)
                    .unwrap_err();
                assert!(e.to_string().contains("Sort"), "{e}");
                continue;
            }
            let n: usize = dims.iter().product();
            let mut v = random_values(&mut rng, dtype, n);
            if dtype.is_float() {
                for k in (0..n).step_by(7) {
                    v[k] = [f64::NAN, -0.0, 0.0, f64::INFINITY][k % 4];
                }
            }
            let x = tensor_from_f64(&v, dtype, &dims);
            let vals = x.to_f64_vec().unwrap();
            for axis in 0..dims.len() {
                let (outer, len, inner): (usize, usize, usize) = (
                    dims[..axis].iter().product(),
                    dims[axis],
                    dims[axis + 1..].iter().product(),
                );
                for dir in [SortDirection::Ascending, SortDirection::Descending] {
                    let mut ev = vec![(0.0, 0.0); n];
                    let mut ei = vec![(0.0, 0.0); n];
                    for o in 0..outer {
                        for j in 0..inner {
                            let at = |i: usize| o * len * inner + i * inner + j;
                            let line: Vec<f64> = (0..len).map(|i| vals[at(i)]).collect();
                            for (i, p) in perm(&line, dir == SortDirection::Descending)
                                .into_iter()
                                .enumerate()
                            {
                                ev[at(i)] = (line[p], 0.0);
                                ei[at(i)] = (p as f64, 0.0);
                            }
                        }
                    }
                    for (k, view) in layouts(&x).iter().enumerate() {
                        let what = format!("{dtype} {dims:?} axis {axis} {dir:?} layout {k}");
                        let s = ops::sort(view, axis as i64 - dims.len() as i64, dir).unwrap();
                        check(&s, &ev, &dims, &what);
                        // -0.0 and 0.0 keep their order: compare signs too.
                        let got = s.to_f64_vec().unwrap();
                        for (g, e) in got.iter().zip(&ev) {
                            assert_eq!(
                                g.is_sign_negative(),
                                e.0.is_sign_negative() || (e.0.is_nan() && g.is_sign_negative()),
                                "{what}"
                            );
                        }
                        let a = ops::argsort(view, axis as i64, dir).unwrap();
                        assert_eq!(a.dtype(), DType::I32);
                        check(&a, &ei, &dims, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn nan_sorts_last_ascending_and_first_descending() {
    let x = Tensor::from_vec(vec![2.0f32, f32::NAN, -1.0, f32::NEG_INFINITY, 2.0], [5]).unwrap();
    assert_eq!(
        ops::argsort(&x, 0, SortDirection::Ascending)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![3, 2, 0, 4, 1]
    );
    assert_eq!(
        ops::argsort(&x, 0, SortDirection::Descending)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![1, 0, 4, 2, 3]
    );
    let (v, i) = ops::top_k(&x, 2, true).unwrap();
    assert!(v.to_vec::<f32>().unwrap()[0].is_nan());
    assert_eq!(i.to_vec::<i32>().unwrap(), vec![1, 0]);
}

#[test]
fn top_k_matches_reference() {
    let mut rng = rng(13);
    for dtype in NUMERIC {
        for dims in [
            vec![5],
            vec![3, 4],
            vec![2, 3, 6],
            vec![0, 4],
            vec![2, 0],
            vec![64, 700],
        ] {
            let n: usize = dims.iter().product();
            let x = tensor_from_f64(&random_values(&mut rng, dtype, n), dtype, &dims);
            let vals = x.to_f64_vec().unwrap();
            let last = *dims.last().unwrap();
            let rows: usize = dims[..dims.len() - 1].iter().product();
            for k in [0, 1, last / 2, last].into_iter().filter(|&k| k <= last) {
                let mut od = dims.clone();
                *od.last_mut().unwrap() = k;
                let mut ev = Vec::new();
                let mut ei = Vec::new();
                for r in 0..rows {
                    let line = &vals[r * last..(r + 1) * last];
                    for &p in perm(line, true).iter().take(k) {
                        ev.push((line[p], 0.0));
                        ei.push((p as f64, 0.0));
                    }
                }
                for (l, view) in layouts(&x).iter().enumerate() {
                    let what = format!("TopKV2 {dtype} {dims:?} k={k} layout {l}");
                    let (v, i) = ops::top_k(view, k, true).unwrap();
                    assert_eq!((v.dtype(), i.dtype()), (dtype, DType::I32), "{what}");
                    check(&v, &ev, &od, &what);
                    check(&i, &ei, &od, &what);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- shape inference

fn infer(
    op: &'static OpDef,
    dtype: DType,
    shape: PartialShape,
    attrs: &Attrs,
) -> tf_core::Result<Vec<tf_core::op::TensorSpec>> {
    let x = Tensor::symbolic(dtype, shape, Arc::new(()));
    let ctx = InferContext {
        op,
        inputs: std::slice::from_ref(&x),
        attrs,
    };
    Ok((op.infer)(&ctx)?.into_vec())
}

proptest! {
    #[test]
    fn reduction_shapes(
        dims in strategies::dims(),
        bits in any::<u16>(),
        neg in any::<u16>(),
        unknown in any::<u16>(),
        keepdims in any::<bool>(),
    ) {
        let rank = dims.len();
        let mask: Vec<bool> = (0..rank).map(|d| bits >> d & 1 == 1).collect();
        let axes: Vec<i64> = (0..rank)
            .filter(|&d| mask[d])
            .map(|d| if neg >> d & 1 == 1 { d as i64 - rank as i64 } else { d as i64 })
            .collect();
        let attrs = Attrs::new().with("axis", axes.clone()).with("keepdims", keepdims);
        let partial: PartialShape = dims.iter().enumerate()
            .map(|(d, &n)| if unknown >> d & 1 == 1 { None } else { Some(n) })
            .collect();
        for op in [&ops::SUM, &ops::MAX, &ops::MOMENTS] {
            let specs = infer(op, DType::F32, partial.clone(), &attrs).unwrap();
            prop_assert_eq!(specs.len(), if std::ptr::eq(op, &ops::MOMENTS) { 2 } else { 1 });
            let s = &specs[0].shape;
            prop_assert_eq!(s.rank(), if keepdims { rank } else { rank - axes.len() });
            // Kept dims are the input's (unknown stays unknown), reduced ones are 1 or gone.
            let kept: Vec<Option<usize>> = (0..rank).filter_map(|d| match (mask[d], keepdims) {
                (false, _) => Some(partial[d]),
                (true, true) => Some(Some(1)),
                (true, false) => None,
            }).collect();
            prop_assert_eq!(s.dims(), &kept[..]);
        }
        // Eager agrees on the fully known shape.
        let n: usize = dims.iter().product();
        let x = Tensor::from_vec(vec![1.0f32; n], Shape::new(&dims)).unwrap();
        let y = ops::reduce_sum(&x, Some(&axes), keepdims).unwrap();
        prop_assert_eq!(y.dims(), &out_dims(&dims, &mask, keepdims)[..]);
        prop_assert!(y.to_vec::<f32>().unwrap().iter().all(|&v| v == (n / y.num_elements().max(1)) as f32 || y.num_elements() == 0));
    }

    #[test]
    fn other_op_shapes(dims in prop::collection::vec(1usize..5, 1..5), unknown in any::<u16>(), k in 0usize..5, axis in 0usize..4) {
        let rank = dims.len();
        let axis = axis % rank;
        let partial: PartialShape = dims.iter().enumerate()
            .map(|(d, &n)| if unknown >> d & 1 == 1 { None } else { Some(n) })
            .collect();
        let a = Attrs::new().with("axis", axis as i64).with("output_type", DType::I64);
        let s = infer(&ops::ARG_MAX, DType::F32, partial.clone(), &a).unwrap();
        let expect: Vec<Option<usize>> = (0..rank).filter(|&d| d != axis).map(|d| partial[d]).collect();
        prop_assert_eq!(s[0].shape.dims(), &expect[..]);
        let c = Attrs::new().with("axis", axis as i64).with("exclusive", false).with("reverse", true);
        prop_assert_eq!(&infer(&ops::CUMSUM, DType::I32, partial.clone(), &c).unwrap()[0].shape, &partial);
        let t = Attrs::new().with("k", k).with("sorted", true);
        let r = infer(&ops::TOP_K, DType::F32, partial.clone(), &t);
        match partial[rank - 1] {
            Some(n) if n < k => prop_assert!(r.is_err()),
            _ => {
                let r = r.unwrap();
                prop_assert_eq!(r[1].dtype, DType::I32);
                prop_assert_eq!(r[0].shape[rank - 1], Some(k));
                prop_assert_eq!(&r[0].shape[..rank - 1], &partial[..rank - 1]);
            }
        }
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn axis_out_of_range_names_axis_and_rank() {
    let x = Tensor::zeros([2, 3], DType::F32).unwrap();
    let e = ops::reduce_sum(&x, Some(&[2]), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Sum") && e.contains("axis 2") && e.contains("rank 2"),
        "{e}"
    );
    let e = ops::reduce_max(&x, Some(&[-3]), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Max") && e.contains("axis -3") && e.contains("rank 2"),
        "{e}"
    );
    let e = ops::argmax(&x, 5).unwrap_err().to_string();
    assert!(e.contains("ArgMax") && e.contains("axis 5"), "{e}");
    let e = ops::cumsum(&x, -3, false, false).unwrap_err().to_string();
    assert!(e.contains("Cumsum") && e.contains("axis -3"), "{e}");
    let e = ops::sort(&x, 2, SortDirection::Ascending)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Sort") && e.contains("rank 2"), "{e}");
}

#[test]
fn duplicate_axes_are_rejected() {
    let x = Tensor::zeros([2, 3, 4], DType::F32).unwrap();
    let e = ops::reduce_mean(&x, Some(&[1, -2]), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Mean") && e.contains("[1, -2]") && e.contains("dimension 1"),
        "{e}"
    );
    assert!(ops::moments(&x, Some(&[0, 0]), true).is_err());
}

#[test]
fn bad_dtypes_are_rejected() {
    let b = Tensor::zeros([2], DType::Bool).unwrap();
    let e = ops::reduce_sum(&b, None, false).unwrap_err().to_string();
    assert!(e.contains("Sum") && e.contains("bool"), "{e}");
    let f = Tensor::zeros([2], DType::F32).unwrap();
    let e = ops::reduce_all(&f, None, false).unwrap_err().to_string();
    assert!(e.contains("All") && e.contains("float32"), "{e}");
    let i = Tensor::zeros([2], DType::I32).unwrap();
    let e = ops::reduce_logsumexp(&i, None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ReduceLogSumExp") && e.contains("int32"), "{e}");
    assert!(
        ops::moments(&i, None, false)
            .unwrap_err()
            .to_string()
            .contains("Moments")
    );
    assert!(
        ops::cumsum(&b, 0, false, false)
            .unwrap_err()
            .to_string()
            .contains("Cumsum")
    );
    assert!(
        ops::top_k(&b, 1, true)
            .unwrap_err()
            .to_string()
            .contains("TopKV2")
    );
    let e = ops::argmax_with_type(&f, 0, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ArgMax") && e.contains("output_type"), "{e}");
}

#[test]
fn bad_attributes_are_rejected() {
    let x = Tensor::zeros([2, 3], DType::F32).unwrap();
    let e = ops::top_k(&x, 4, true).unwrap_err().to_string();
    assert!(
        e.contains("TopKV2") && e.contains("k=4") && e.contains("[2,3]"),
        "{e}"
    );
    let e = ops::top_k(&Tensor::from_scalar(1.0f32), 1, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("TopKV2") && e.contains("rank 1"), "{e}");
    let attrs = Attrs::new().with("axis", 0i64).with("direction", "UP");
    let e = call1(&ops::SORT, std::slice::from_ref(&x), &attrs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Sort") && e.contains("UP"), "{e}");
    let e = call(&ops::SUM, std::slice::from_ref(&x), &Attrs::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("Sum") && e.contains("axis"), "{e}");
    let e = ops::argmin(&Tensor::zeros([3, 0], DType::I32).unwrap(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ArgMin") && e.contains("axis 1 is empty") && e.contains("[3,0]"),
        "{e}"
    );
}

#[test]
fn tensor_methods_dispatch_to_the_ops() {
    let x = Tensor::from_vec(vec![1.0f32, 4.0, 2.0, 3.0], [2, 2]).unwrap();
    assert_eq!(
        x.reduce_sum(None, false).unwrap().scalar::<f32>().unwrap(),
        10.0
    );
    assert_eq!(
        x.reduce_max(Some(&[0]), true)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![2.0, 4.0]
    );
    assert_eq!(x.argmax(1).unwrap().to_vec::<i64>().unwrap(), vec![1, 1]);
    assert_eq!(
        x.cumsum(0, false, false).unwrap().to_vec::<f32>().unwrap(),
        vec![1.0, 4.0, 3.0, 7.0]
    );
    assert_eq!(
        x.sort(1, SortDirection::Descending)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![4.0, 1.0, 3.0, 2.0]
    );
    assert_eq!(
        x.top_k(1, true).unwrap().1.to_vec::<i32>().unwrap(),
        vec![1, 1]
    );
}
