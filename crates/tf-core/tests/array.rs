//! The array ops against naive references (index arithmetic on f64 copies of the
//! values), on random shapes, every layout and several dtypes; views share storage;
//! StridedSlice against a table of NumPy-derived cases; shape inference with unknown
//! dimensions; error messages.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef};
use tf_core::ops::{self, SliceMasks};
use tf_core::{DType, PartialShape, Shape, Tensor};

// ---------------------------------------------------------------------------------
// Reference helpers.

/// Row-major multi-index of flat position `i`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        idx[d] = i % dims[d];
        i /= dims[d];
    }
    idx
}

/// Flat position of a multi-index.
fn ravel(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// The reference output of shape `out_dims` whose element at `idx` is
/// `src[f(idx)]` (`f` returns a flat input position).
fn build(out_dims: &[usize], src: &[f64], f: impl Fn(&[usize]) -> usize) -> Vec<f64> {
    let n: usize = out_dims.iter().product();
    (0..n).map(|i| src[f(&unravel(i, out_dims))]).collect()
}

fn random_dims(r: &mut StdRng, rank: usize, max: usize) -> Vec<usize> {
    (0..rank).map(|_| r.random_range(0..=max)).collect()
}

/// Dtypes cycled through by the copy tests (every dtype, including bool and halves).
const DTYPES: [DType; 9] = DType::ALL;

fn check(actual: &Tensor, expected: &[f64], dims: &[usize], what: &str) {
    assert_close(actual, expected, dims, 0.0, 0.0, what);
}

// ---------------------------------------------------------------------------------
// Views.

#[test]
fn transpose_matches_reference_and_is_a_view() {
    let mut r = rng(10);
    for case in 0..60 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = case % 5;
        let dims = random_dims(&mut r, rank, 4);
        let mut perm: Vec<usize> = (0..rank).collect();
        for i in (1..rank).rev() {
            perm.swap(i, r.random_range(0..=i));
        }
        let perm_i: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let out_dims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
        let expected = build(&out_dims, &src, |o| {
            let mut idx = vec![0; rank];
            for (i, &p) in perm.iter().enumerate() {
                idx[p] = o[i];
            }
            ravel(&idx, &dims)
        });
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = ops::transpose(x, Some(&perm_i)).unwrap();
            check(
                &y,
                &expected,
                &out_dims,
                &format!("transpose {dims:?} {perm:?} layout {k}"),
            );
            assert!(y.shares_storage_with(x));
        }
    }
    // None reverses the axes.
    let t = Tensor::from_vec((0..6).collect::<Vec<i32>>(), [2, 3]).unwrap();
    assert_eq!(
        t.transpose(None).unwrap().to_vec::<i32>().unwrap(),
        vec![0, 3, 1, 4, 2, 5]
    );
}

#[test]
fn slice_matches_reference_and_is_a_view() {
    let mut r = rng(11);
    for case in 0..60 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = 1 + case % 4;
        let dims = random_dims(&mut r, rank, 5);
        let begin: Vec<usize> = dims.iter().map(|&d| r.random_range(0..=d)).collect();
        let size: Vec<i64> = dims
            .iter()
            .zip(&begin)
            .map(|(&d, &b)| {
                if r.random_bool(0.3) {
                    -1
                } else {
                    r.random_range(0..=(d - b)) as i64
                }
            })
            .collect();
        let out_dims: Vec<usize> = size
            .iter()
            .zip(dims.iter().zip(&begin))
            .map(|(&s, (&d, &b))| if s < 0 { d - b } else { s as usize })
            .collect();
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let expected = build(&out_dims, &src, |o| {
            let idx: Vec<usize> = o.iter().zip(&begin).map(|(a, b)| a + b).collect();
            ravel(&idx, &dims)
        });
        let begin_i: Vec<i64> = begin.iter().map(|&b| b as i64).collect();
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = x.slice(&begin_i, &size).unwrap();
            check(
                &y,
                &expected,
                &out_dims,
                &format!("slice {dims:?} {begin:?} {size:?} layout {k}"),
            );
            assert!(y.shares_storage_with(x));
        }
    }
}

#[test]
fn expand_dims_squeeze_broadcast_to_are_views() {
    let mut r = rng(12);
    for (case, dtype) in DTYPES.iter().enumerate() {
        let dims = [2, 1, 3];
        let t = random_tensor(&mut r, *dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        for x in layouts(&t) {
            for axis in -4..=3i64 {
                let y = x.expand_dims(axis).unwrap();
                let a = if axis < 0 { axis + 4 } else { axis } as usize;
                let mut want = dims.to_vec();
                want.insert(a, 1);
                check(&y, &src, &want, &format!("expand_dims {axis}"));
                assert!(y.shares_storage_with(&x));
            }
            let s = x.squeeze(&[]).unwrap();
            check(&s, &src, &[2, 3], "squeeze all");
            assert!(s.shares_storage_with(&x));
            check(&x.squeeze(&[-2]).unwrap(), &src, &[2, 3], "squeeze -2");
            // broadcast_to [4, 2, 5, 3]: index (a, b, c, d) reads (b, 0, d).
            let b = x.broadcast_to(&[4, 2, 5, 3]).unwrap();
            let want = build(&[4, 2, 5, 3], &src, |o| ravel(&[o[1], 0, o[3]], &dims));
            check(
                &b,
                &want,
                &[4, 2, 5, 3],
                &format!("broadcast_to {dtype} case {case}"),
            );
            assert!(b.shares_storage_with(&x));
            assert_eq!(b.strides()[0], 0);
            assert_eq!(b.strides()[2], 0);
        }
    }
    // Scalars and zero-size dims.
    let s = Tensor::from_scalar(2.5f32);
    let e = s.expand_dims(0).unwrap();
    assert_eq!(e.dims(), &[1]);
    assert_eq!(e.squeeze(&[]).unwrap().dims(), &[] as &[usize]);
    let z = Tensor::zeros([0, 1], DType::F32).unwrap();
    assert_eq!(z.broadcast_to(&[3, 0, 4]).unwrap().dims(), &[3, 0, 4]);
    assert_eq!(
        Tensor::from_scalar(7i64)
            .broadcast_to(&[2, 2])
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![7; 4]
    );
}

#[test]
fn reshape_is_a_view_when_contiguous() {
    let t = Tensor::from_vec((0..24).collect::<Vec<i32>>(), [2, 3, 4]).unwrap();
    let v = t.reshape(&[4, -1]).unwrap();
    assert_eq!(v.dims(), &[4, 6]);
    assert!(v.shares_storage_with(&t));
    let tt = t.transpose(None).unwrap();
    let c = tt.reshape(&[-1]).unwrap();
    assert!(!c.shares_storage_with(&t));
    let want: Vec<i32> = tt.to_vec().unwrap();
    assert_eq!(c.to_vec::<i32>().unwrap(), want);
}

// ---------------------------------------------------------------------------------
// StridedSlice.

struct Case {
    name: &'static str,
    src: &'static str,
    begin: &'static [i64],
    end: &'static [i64],
    strides: &'static [i64],
    masks: [i64; 5],
    dims: &'static [usize],
    values: &'static [i32],
}

#[allow(clippy::too_many_arguments)]
const fn case(
    name: &'static str,
    src: &'static str,
    begin: &'static [i64],
    end: &'static [i64],
    strides: &'static [i64],
    masks: [i64; 5],
    dims: &'static [usize],
    values: &'static [i32],
) -> Case {
    Case {
        name,
        src,
        begin,
        end,
        strides,
        masks,
        dims,
        values,
    }
}

/// `x = arange(24).reshape(2, 3, 4)`, `y = arange(10)`. Each case lists the NumPy
/// expression, the (begin, end, strides, [begin, end, ellipsis, new_axis, shrink]
/// masks) that TensorFlow's `__getitem__` produces for it, and NumPy's result.
#[rustfmt::skip]
const CASES: &[Case] = &[
    case("x[1]", "x", &[1], &[2], &[1], [0, 0, 0, 0, 1], &[3, 4], &[12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[-1]", "x", &[-1], &[0], &[1], [0, 0, 0, 0, 1], &[3, 4], &[12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[:, 1:3]", "x", &[0, 1], &[0, 3], &[1, 1], [1, 1, 0, 0, 0], &[2, 2, 4], &[4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[..., ::-1]", "x", &[0, 0], &[0, 0], &[1, -1], [2, 2, 1, 0, 0], &[2, 3, 4], &[3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16, 23, 22, 21, 20]),
    case("x[newaxis, :, 2]", "x", &[0, 0, 2], &[0, 0, 3], &[1, 1, 1], [2, 2, 0, 1, 4], &[1, 2, 4], &[8, 9, 10, 11, 20, 21, 22, 23]),
    case("x[1, ..., 1:3]", "x", &[1, 0, 1], &[2, 0, 3], &[1, 1, 1], [0, 0, 2, 0, 1], &[3, 2], &[13, 14, 17, 18, 21, 22]),
    case("x[:, -100:100]", "x", &[0, -100], &[0, 100], &[1, 1], [1, 1, 0, 0, 0], &[2, 3, 4], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[:, ::2, 3:0:-2]", "x", &[0, 0, 3], &[0, 0, 0], &[1, 2, -2], [3, 3, 0, 0, 0], &[2, 2, 2], &[3, 1, 11, 9, 15, 13, 23, 21]),
    case("x[1:, ..., newaxis]", "x", &[1, 0, 0], &[0, 0, 0], &[1, 1, 1], [0, 1, 2, 4, 0], &[1, 3, 4, 1], &[12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[..., newaxis, 1]", "x", &[0, 0, 1], &[0, 0, 2], &[1, 1, 1], [0, 0, 1, 2, 4], &[2, 3, 1], &[1, 5, 9, 13, 17, 21]),
    case("x[1, 2, 3]", "x", &[1, 2, 3], &[2, 3, 4], &[1, 1, 1], [0, 0, 0, 0, 7], &[], &[23]),
    case("x[newaxis, ..., newaxis]", "x", &[0, 0, 0], &[0, 0, 0], &[1, 1, 1], [0, 0, 2, 5, 0], &[1, 2, 3, 4, 1], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[..., 1, ::2]", "x", &[0, 1, 0], &[0, 2, 0], &[1, 1, 2], [0, 4, 1, 0, 2], &[2, 2], &[4, 6, 16, 18]),
    case("x[-1:, -2::-1, -3]", "x", &[-1, -2, -3], &[0, 0, -2], &[1, -1, 1], [0, 3, 0, 0, 4], &[1, 2], &[17, 13]),
    case("x[] (empty spec)", "x", &[], &[], &[], [0, 0, 0, 0, 0], &[2, 3, 4], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("y[8:2:-3]", "y", &[8], &[2], &[-3], [0, 0, 0, 0, 0], &[2], &[8, 5]),
    case("y[-3:]", "y", &[-3], &[0], &[1], [0, 1, 0, 0, 0], &[3], &[7, 8, 9]),
    case("y[::-1]", "y", &[0], &[0], &[-1], [1, 1, 0, 0, 0], &[10], &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
    case("y[5:2]", "y", &[5], &[2], &[1], [0, 0, 0, 0, 0], &[0], &[]),
    case("y[-1:-20:-1]", "y", &[-1], &[-20], &[-1], [0, 0, 0, 0, 0], &[10], &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
    case("y[1:100:50]", "y", &[1], &[100], &[50], [0, 0, 0, 0, 0], &[1], &[1]),
    case("y[-100:3]", "y", &[-100], &[3], &[1], [0, 0, 0, 0, 0], &[3], &[0, 1, 2]),
    case("y[20:]", "y", &[20], &[0], &[1], [0, 1, 0, 0, 0], &[0], &[]),
    case("y[:-20:-2] (clamped end)", "y", &[0], &[-20], &[-2], [1, 0, 0, 0, 0], &[5], &[9, 7, 5, 3, 1]),
    case("y[..., newaxis]", "y", &[0, 0], &[0, 0], &[1, 1], [0, 0, 1, 2, 0], &[10, 1], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    case("y[7] masks beyond range ignored", "y", &[7], &[8], &[1], [12, 12, 0, 0, 1], &[], &[7]),
];

fn masks(m: [i64; 5]) -> SliceMasks {
    SliceMasks {
        begin_mask: m[0],
        end_mask: m[1],
        ellipsis_mask: m[2],
        new_axis_mask: m[3],
        shrink_axis_mask: m[4],
    }
}

#[test]
fn strided_slice_table() {
    let x = Tensor::from_vec((0..24).collect::<Vec<i32>>(), [2, 3, 4]).unwrap();
    let y = Tensor::from_vec((0..10).collect::<Vec<i32>>(), [10]).unwrap();
    for c in CASES {
        let src = if c.src == "x" { &x } else { &y };
        for (k, t) in layouts(src).iter().enumerate() {
            let out = ops::strided_slice(t, c.begin, c.end, c.strides, masks(c.masks))
                .unwrap_or_else(|e| panic!("{} layout {k}: {e}", c.name));
            assert_eq!(out.dims(), c.dims, "{} layout {k}", c.name);
            assert_eq!(
                out.to_vec::<i32>().unwrap(),
                c.values,
                "{} layout {k}",
                c.name
            );
            let positive = c.strides.iter().all(|&s| s > 0);
            if positive && out.num_elements() > 0 {
                assert!(out.shares_storage_with(t), "{} should be a view", c.name);
            }
        }
    }
}

/// Python's `slice(start, stop, step).indices(n)` followed by `range`, per dimension
/// (independent of TensorFlow's canonicalization code).
fn py_range(n: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> Vec<usize> {
    let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let norm = |v: i64| (if v < 0 { v + n } else { v }).clamp(lo, hi);
    let start = start.map_or(if step > 0 { 0 } else { n - 1 }, norm);
    let stop = stop.map_or(if step > 0 { n } else { -1 }, norm);
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

#[test]
fn strided_slice_random_ranges_match_python_slicing() {
    let mut r = rng(13);
    for case in 0..80 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = 1 + case % 3;
        let dims = random_dims(&mut r, rank, 5);
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let (mut b, mut e, mut s) = (vec![], vec![], vec![]);
        let (mut bm, mut em) = (0i64, 0i64);
        let mut ranges = Vec::new();
        for (i, &d) in dims.iter().enumerate() {
            let step = [1, 2, 3, -1, -2][r.random_range(0..5)];
            let start = r.random_bool(0.7).then(|| r.random_range(-8..8));
            let stop = r.random_bool(0.7).then(|| r.random_range(-8..8));
            b.push(start.unwrap_or(0));
            e.push(stop.unwrap_or(0));
            s.push(step);
            if start.is_none() {
                bm |= 1 << i;
            }
            if stop.is_none() {
                em |= 1 << i;
            }
            ranges.push(py_range(d as i64, start, stop, step));
        }
        let out_dims: Vec<usize> = ranges.iter().map(Vec::len).collect();
        let expected = build(&out_dims, &src, |o| {
            let idx: Vec<usize> = o.iter().zip(&ranges).map(|(&k, rg)| rg[k]).collect();
            ravel(&idx, &dims)
        });
        let m = SliceMasks {
            begin_mask: bm,
            end_mask: em,
            ..Default::default()
        };
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = ops::strided_slice(x, &b, &e, &s, m).unwrap();
            check(
                &y,
                &expected,
                &out_dims,
                &format!("{dims:?} {b:?}:{e:?}:{s:?} masks {bm} {em} layout {k}"),
            );
        }
    }
}

#[test]
fn strided_slice_errors_follow_tf() {
    let x = Tensor::from_vec((0..24).collect::<Vec<i32>>(), [2, 3, 4]).unwrap();
    let m = SliceMasks::default();
    let err = |b: &[i64], e: &[i64], s: &[i64], m: SliceMasks| {
        ops::strided_slice(&x, b, e, s, m).unwrap_err().to_string()
    };
    let e = err(&[0], &[1], &[0], m);
    assert!(
        e.contains("StridedSlice") && e.contains("strides[0] must be non-zero"),
        "{e}"
    );
    let e = err(&[0, 0], &[1], &[1, 1], m);
    assert!(e.contains("equal size"), "{e}");
    let e = err(
        &[0, 0],
        &[0, 0],
        &[1, 1],
        SliceMasks {
            ellipsis_mask: 3,
            ..m
        },
    );
    assert!(e.contains("Multiple ellipses"), "{e}");
    let e = err(
        &[5],
        &[6],
        &[1],
        SliceMasks {
            shrink_axis_mask: 1,
            ..m
        },
    );
    assert!(
        e.contains("slice index 5 of dimension 0 out of bounds"),
        "{e}"
    );
    let e = err(
        &[-3],
        &[-2],
        &[1],
        SliceMasks {
            shrink_axis_mask: 1,
            ..m
        },
    );
    assert!(e.contains("out of bounds"), "{e}");
    let e = err(
        &[1],
        &[0],
        &[-1],
        SliceMasks {
            shrink_axis_mask: 1,
            ..m
        },
    );
    assert!(e.contains("only stride 1"), "{e}");
    let e = err(&[0, 0, 0, 0], &[1, 1, 1, 1], &[1, 1, 1, 1], m);
    assert!(e.contains("Index out of range using input dim 3"), "{e}");
}

// ---------------------------------------------------------------------------------
// Joining and splitting.

#[test]
fn concat_matches_reference_for_every_layout() {
    let mut r = rng(20);
    for case in 0..45 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = 1 + case % 3;
        let base = random_dims(&mut r, rank, 3);
        let axis = r.random_range(0..rank);
        let n_in = 1 + case % 3;
        let inputs: Vec<Tensor> = (0..n_in)
            .map(|i| {
                let mut d = base.clone();
                d[axis] = r.random_range(0..4);
                let t = random_tensor(&mut r, dtype, &d);
                let ls = layouts(&t);
                ls[(case + i) % ls.len()].clone()
            })
            .collect();
        let mut out_dims = base.clone();
        out_dims[axis] = inputs.iter().map(|t| t.dims()[axis]).sum();
        let srcs: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_f64_vec().unwrap()).collect();
        let n: usize = out_dims.iter().product();
        let expected: Vec<f64> = (0..n)
            .map(|i| {
                let mut idx = unravel(i, &out_dims);
                let mut k = 0;
                while idx[axis] >= inputs[k].dims()[axis] {
                    idx[axis] -= inputs[k].dims()[axis];
                    k += 1;
                }
                srcs[k][ravel(&idx, inputs[k].dims())]
            })
            .collect();
        for neg in [false, true] {
            let a = if neg {
                axis as i64 - rank as i64
            } else {
                axis as i64
            };
            let y = ops::concat(&inputs, a).unwrap();
            check(
                &y,
                &expected,
                &out_dims,
                &format!("concat {dtype} {out_dims:?} axis {a}"),
            );
        }
    }
}

#[test]
fn stack_unstack_split_round_trip() {
    let mut r = rng(21);
    for case in 0..36 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = case % 4;
        let dims = random_dims(&mut r, rank, 3);
        let n_in = 1 + case % 3;
        let inputs: Vec<Tensor> = (0..n_in)
            .map(|i| {
                let t = random_tensor(&mut r, dtype, &dims);
                let ls = layouts(&t);
                ls[(case + i) % ls.len()].clone()
            })
            .collect();
        let srcs: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_f64_vec().unwrap()).collect();
        for axis in 0..=rank {
            let mut out_dims = dims.clone();
            out_dims.insert(axis, n_in);
            let expected = {
                let n: usize = out_dims.iter().product();
                (0..n)
                    .map(|i| {
                        let mut idx = unravel(i, &out_dims);
                        let k = idx.remove(axis);
                        srcs[k][ravel(&idx, &dims)]
                    })
                    .collect::<Vec<f64>>()
            };
            let s = ops::stack(&inputs, axis as i64).unwrap();
            check(
                &s,
                &expected,
                &out_dims,
                &format!("stack {dims:?} axis {axis}"),
            );
            let s_neg = ops::stack(&inputs, axis as i64 - rank as i64 - 1).unwrap();
            check(&s_neg, &expected, &out_dims, "stack negative axis");
            // unstack returns views of the stacked tensor equal to the inputs.
            let parts = s.unstack(axis as i64).unwrap();
            assert_eq!(parts.len(), n_in);
            for (p, src) in parts.iter().zip(&srcs) {
                check(p, src, &dims, "unstack");
                assert!(p.shares_storage_with(&s));
            }
            // split into n_in pieces then concat is the identity.
            let pieces = s.split(n_in, axis as i64).unwrap();
            let mut piece_dims = out_dims.clone();
            piece_dims[axis] = 1;
            for p in &pieces {
                assert_eq!(p.dims(), &piece_dims[..]);
                assert!(p.shares_storage_with(&s));
            }
            check(
                &ops::concat(&pieces, axis as i64).unwrap(),
                &expected,
                &out_dims,
                "split+concat",
            );
        }
    }
}

#[test]
fn split_v_pieces() {
    let t = Tensor::from_vec((0..20).collect::<Vec<i64>>(), [2, 10]).unwrap();
    for x in layouts(&t) {
        let parts = ops::split_v(&x, &[3, -1, 0, 2], 1).unwrap();
        let dims: Vec<Vec<usize>> = parts.iter().map(|p| p.dims().to_vec()).collect();
        assert_eq!(dims, vec![vec![2, 3], vec![2, 5], vec![2, 0], vec![2, 2]]);
        assert_eq!(
            parts[1].to_vec::<i64>().unwrap(),
            vec![3, 4, 5, 6, 7, 13, 14, 15, 16, 17]
        );
        assert_eq!(parts[3].to_vec::<i64>().unwrap(), vec![8, 9, 18, 19]);
        assert!(parts[0].shares_storage_with(&x));
    }
    let e = ops::split_v(&t, &[3, 3], 1).unwrap_err().to_string();
    assert!(
        e.contains("SplitV") && e.contains("[3, 3]") && e.contains("10"),
        "{e}"
    );
    let e = ops::split_v(&t, &[-1, -1], 1).unwrap_err().to_string();
    assert!(e.contains("only be one -1"), "{e}");
    let e = ops::split(&t, 3, 1).unwrap_err().to_string();
    assert!(
        e.contains("evenly divide") && e.contains("size = 10"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------
// Tile, pad, reverse.

#[test]
fn tile_matches_reference() {
    let mut r = rng(30);
    for case in 0..45 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = case % 4;
        let dims = random_dims(&mut r, rank, 3);
        let mult: Vec<usize> = (0..rank).map(|_| r.random_range(0..4)).collect();
        let out_dims: Vec<usize> = dims.iter().zip(&mult).map(|(d, m)| d * m).collect();
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let expected = build(&out_dims, &src, |o| {
            let idx: Vec<usize> = o.iter().zip(&dims).map(|(&i, &d)| i % d).collect();
            ravel(&idx, &dims)
        });
        let m: Vec<i64> = mult.iter().map(|&m| m as i64).collect();
        for (k, x) in layouts(&t).iter().enumerate() {
            check(
                &x.tile(&m).unwrap(),
                &expected,
                &out_dims,
                &format!("tile {dims:?} {mult:?} layout {k}"),
            );
        }
    }
}

/// Source index along one dimension for mirror padding (None = constant).
fn pad_source(o: usize, before: usize, n: usize, mode: &str) -> Option<usize> {
    let i = o as i64 - before as i64;
    let n = n as i64;
    let s = match mode {
        "CONSTANT" if i < 0 || i >= n => return None,
        "REFLECT" if i < 0 => -i,
        "REFLECT" if i >= n => 2 * n - 2 - i,
        "SYMMETRIC" if i < 0 => -i - 1,
        "SYMMETRIC" if i >= n => 2 * n - 1 - i,
        _ => i,
    };
    Some(s as usize)
}

#[test]
fn pad_modes_match_reference() {
    let mut r = rng(31);
    for case in 0..54 {
        let dtype = DTYPES[case % DTYPES.len()];
        let mode = ["CONSTANT", "REFLECT", "SYMMETRIC"][case % 3];
        let rank = case % 4;
        let dims: Vec<usize> = (0..rank).map(|_| r.random_range(1..4)).collect();
        let max_pad = |d: usize| match mode {
            "REFLECT" => d - 1,
            "SYMMETRIC" => d,
            _ => 3,
        };
        let pads: Vec<[i64; 2]> = dims
            .iter()
            .map(|&d| {
                [
                    r.random_range(0..=max_pad(d)) as i64,
                    r.random_range(0..=max_pad(d)) as i64,
                ]
            })
            .collect();
        let out_dims: Vec<usize> = dims
            .iter()
            .zip(&pads)
            .map(|(&d, p)| d + p[0] as usize + p[1] as usize)
            .collect();
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let cval = round_to(dtype, &[if dtype == DType::Bool { 1.0 } else { 2.0 }])[0];
        let n: usize = out_dims.iter().product();
        let expected: Vec<f64> = (0..n)
            .map(|i| {
                let o = unravel(i, &out_dims);
                let idx: Option<Vec<usize>> = o
                    .iter()
                    .zip(dims.iter().zip(&pads))
                    .map(|(&o, (&d, p))| pad_source(o, p[0] as usize, d, mode))
                    .collect();
                idx.map_or(cval, |idx| src[ravel(&idx, &dims)])
            })
            .collect();
        let c = tf_core::with_dtype!(dtype, T => Tensor::from_scalar(<T as tf_core::Element>::from_f64(cval)));
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = match mode {
                "CONSTANT" => ops::pad_v2(x, &pads, &c).unwrap(),
                m => ops::mirror_pad(x, &pads, m).unwrap(),
            };
            check(
                &y,
                &expected,
                &out_dims,
                &format!("{mode} pad {dims:?} {pads:?} layout {k}"),
            );
        }
    }
    // Pad (zeros) on a zero-size input, and the scalar case.
    let z = Tensor::zeros([0, 2], DType::I32).unwrap();
    let p = z.pad(&[[1, 1], [0, 1]]).unwrap();
    assert_eq!(p.dims(), &[2, 3]);
    assert_eq!(p.to_vec::<i32>().unwrap(), vec![0; 6]);
    assert_eq!(
        Tensor::from_scalar(3u8)
            .pad(&[])
            .unwrap()
            .scalar::<u8>()
            .unwrap(),
        3
    );
    // The documented examples.
    let v = Tensor::vector(&[1.0f32, 2.0, 3.0]);
    assert_eq!(
        ops::mirror_pad(&v, &[[2, 2]], "reflect")
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
    );
    assert_eq!(
        ops::mirror_pad(&v, &[[2, 2]], "SYMMETRIC")
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0]
    );
}

#[test]
fn reverse_matches_reference() {
    let mut r = rng(32);
    for case in 0..45 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = case % 4;
        let dims = random_dims(&mut r, rank, 4);
        let rev: Vec<bool> = (0..rank).map(|_| r.random_bool(0.5)).collect();
        let axes: Vec<i64> = rev
            .iter()
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(i, _)| {
                if case % 2 == 0 {
                    i as i64
                } else {
                    i as i64 - rank as i64
                }
            })
            .collect();
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let expected = build(&dims, &src, |o| {
            let idx: Vec<usize> = o
                .iter()
                .zip(dims.iter().zip(&rev))
                .map(|(&i, (&d, &r))| if r { d - 1 - i } else { i })
                .collect();
            ravel(&idx, &dims)
        });
        for (k, x) in layouts(&t).iter().enumerate() {
            check(
                &x.reverse(&axes).unwrap(),
                &expected,
                &dims,
                &format!("reverse {dims:?} {axes:?} layout {k}"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Gather, scatter, one_hot.

fn index_tensor(values: &[i64], dims: &[usize], dtype: DType) -> Tensor {
    match dtype {
        DType::I32 => Tensor::from_vec(
            values.iter().map(|&v| v as i32).collect::<Vec<_>>(),
            Shape::new(dims),
        )
        .unwrap(),
        _ => Tensor::from_vec(values.to_vec(), Shape::new(dims)).unwrap(),
    }
}

#[test]
fn gather_matches_reference_with_batch_dims() {
    let mut r = rng(40);
    for case in 0..60 {
        let dtype = DTYPES[case % DTYPES.len()];
        let idx_dtype = if case % 2 == 0 {
            DType::I32
        } else {
            DType::I64
        };
        let prank = 1 + case % 4;
        let pdims: Vec<usize> = (0..prank).map(|_| r.random_range(1..4)).collect();
        let axis = r.random_range(0..prank);
        let bd = r.random_range(0..=axis);
        let mut idims: Vec<usize> = pdims[..bd].to_vec();
        for _ in 0..r.random_range(0..3) {
            idims.push(r.random_range(0..3));
        }
        let ni: usize = idims.iter().product();
        let ivals: Vec<i64> = (0..ni)
            .map(|_| r.random_range(0..pdims[axis] as i64))
            .collect();
        let indices = index_tensor(&ivals, &idims, idx_dtype);
        let t = random_tensor(&mut r, dtype, &pdims);
        let src = t.to_f64_vec().unwrap();
        let mut out_dims = pdims[..axis].to_vec();
        out_dims.extend_from_slice(&idims[bd..]);
        out_dims.extend_from_slice(&pdims[axis + 1..]);
        let ki = idims.len() - bd;
        let expected = build(&out_dims, &src, |o| {
            // o = [params[:axis] | indices[bd:] | params[axis+1:]]
            let mut iidx: Vec<usize> = o[..bd].to_vec();
            iidx.extend_from_slice(&o[axis..axis + ki]);
            let sel = ivals[ravel(&iidx, &idims)] as usize;
            let mut pidx: Vec<usize> = o[..axis].to_vec();
            pidx.push(sel);
            pidx.extend_from_slice(&o[axis + ki..]);
            ravel(&pidx, &pdims)
        });
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = ops::gather(x, &indices, axis as i64, bd as i64).unwrap();
            check(
                &y,
                &expected,
                &out_dims,
                &format!("gather {pdims:?} idx {idims:?} axis {axis} bd {bd} layout {k}"),
            );
        }
    }
}

#[test]
fn gather_nd_matches_reference() {
    let mut r = rng(41);
    for case in 0..45 {
        let dtype = DTYPES[case % DTYPES.len()];
        let prank = 1 + case % 3;
        let pdims: Vec<usize> = (0..prank).map(|_| r.random_range(1..4)).collect();
        let m = r.random_range(0..=prank);
        let mut idims: Vec<usize> = (0..r.random_range(0..3))
            .map(|_| r.random_range(0..3))
            .collect();
        idims.push(m);
        let tuples: usize = idims[..idims.len() - 1].iter().product();
        let ivals: Vec<i64> = (0..tuples)
            .flat_map(|_| {
                (0..m)
                    .map(|j| r.random_range(0..pdims[j] as i64))
                    .collect::<Vec<_>>()
            })
            .collect();
        let indices = index_tensor(
            &ivals,
            &idims,
            if case % 2 == 0 {
                DType::I64
            } else {
                DType::I32
            },
        );
        let t = random_tensor(&mut r, dtype, &pdims);
        let src = t.to_f64_vec().unwrap();
        let lead = idims.len() - 1;
        let mut out_dims = idims[..lead].to_vec();
        out_dims.extend_from_slice(&pdims[m..]);
        let expected = build(&out_dims, &src, |o| {
            let tuple = ravel(&o[..lead], &idims[..lead]);
            let mut pidx: Vec<usize> = ivals[tuple * m..(tuple + 1) * m]
                .iter()
                .map(|&v| v as usize)
                .collect();
            pidx.extend_from_slice(&o[lead..]);
            ravel(&pidx, &pdims)
        });
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = ops::gather_nd(x, &indices).unwrap();
            check(
                &y,
                &expected,
                &out_dims,
                &format!("gather_nd {pdims:?} idx {idims:?} layout {k}"),
            );
        }
    }
}

#[test]
fn scatter_nd_adds_duplicates() {
    let mut r = rng(42);
    let numeric: Vec<DType> = DTYPES.iter().copied().filter(|d| d.is_numeric()).collect();
    for case in 0..40 {
        let dtype = numeric[case % numeric.len()];
        let rank = 1 + case % 3;
        let shape: Vec<usize> = (0..rank).map(|_| r.random_range(1..4)).collect();
        let m = r.random_range(1..=rank);
        let k = r.random_range(0..6);
        let ivals: Vec<i64> = (0..k)
            .flat_map(|_| {
                (0..m)
                    .map(|j| r.random_range(0..shape[j] as i64))
                    .collect::<Vec<_>>()
            })
            .collect();
        let indices = index_tensor(&ivals, &[k, m], DType::I32);
        let mut udims = vec![k];
        udims.extend_from_slice(&shape[m..]);
        // Small integers so sums are exact in every dtype.
        let uvals: Vec<f64> = (0..udims.iter().product::<usize>())
            .map(|_| r.random_range(-4..5) as f64)
            .map(|v| if dtype == DType::U8 { v.abs() } else { v })
            .collect();
        let updates = tensor_from_f64(&uvals, dtype, &udims);
        let block: usize = shape[m..].iter().product();
        let mut expected = vec![0.0; shape.iter().product()];
        let strides = Shape::new(&shape[..m]).contiguous_strides();
        for q in 0..k {
            let off: usize = (0..m).map(|j| ivals[q * m + j] as usize * strides[j]).sum();
            for b in 0..block {
                expected[off * block + b] += uvals[q * block + b];
            }
        }
        let shape_i: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        for (l, u) in layouts(&updates).iter().enumerate() {
            let y = ops::scatter_nd(&indices, u, &shape_i).unwrap();
            check(
                &y,
                &expected,
                &shape,
                &format!("scatter_nd {dtype} {shape:?} m {m} k {k} layout {l}"),
            );
        }
    }
    // Integer sums wrap like TensorFlow's.
    let idx = Tensor::from_vec(vec![0i64, 0], [2, 1]).unwrap();
    let upd = Tensor::from_vec(vec![100i8, 100], [2]).unwrap();
    assert_eq!(
        ops::scatter_nd(&idx, &upd, &[1])
            .unwrap()
            .to_vec::<i8>()
            .unwrap(),
        vec![-56]
    );
}

#[test]
fn one_hot_matches_reference() {
    let mut r = rng(43);
    for case in 0..40 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = case % 3;
        let idims = random_dims(&mut r, rank, 3);
        let depth = r.random_range(0..4usize);
        let n: usize = idims.iter().product();
        let ivals: Vec<i64> = (0..n).map(|_| r.random_range(-1..5)).collect();
        let indices = index_tensor(
            &ivals,
            &idims,
            if case % 2 == 0 {
                DType::I32
            } else {
                DType::I64
            },
        );
        let axis = r.random_range(-1..=rank as i64);
        let a = if axis < 0 { rank } else { axis as usize };
        let mut out_dims = idims.clone();
        out_dims.insert(a, depth);
        let (on, off) = if dtype == DType::Bool {
            (1.0, 0.0)
        } else {
            (5.0, -1.0)
        };
        let (on, off) = if dtype == DType::U8 {
            (5.0, 1.0)
        } else {
            (on, off)
        };
        let total: usize = out_dims.iter().product();
        let expected: Vec<f64> = (0..total)
            .map(|i| {
                let mut o = unravel(i, &out_dims);
                let d = o.remove(a);
                if ivals[ravel(&o, &idims)] == d as i64 {
                    on
                } else {
                    off
                }
            })
            .collect();
        let y = ops::one_hot(&indices, depth as i64, on, off, axis, dtype).unwrap();
        assert_eq!(y.dtype(), dtype);
        check(
            &y,
            &expected,
            &out_dims,
            &format!("one_hot {idims:?} depth {depth} axis {axis}"),
        );
    }
    let u = Tensor::vector(&[0u8, 2, 9]);
    let y = ops::one_hot(&u, 3, 1.0, 0.0, -1, DType::F32).unwrap();
    assert_eq!(
        y.to_vec::<f32>().unwrap(),
        vec![1., 0., 0., 0., 0., 1., 0., 0., 0.]
    );
}

// ---------------------------------------------------------------------------------
// Shape ops, on concrete and symbolic tensors.

#[test]
fn shape_size_and_likes() {
    for dtype in DTYPES {
        let t = Tensor::zeros([2, 0, 3], dtype).unwrap();
        let tt = t.transpose(None).unwrap();
        assert_eq!(
            ops::shape(&tt, DType::I32)
                .unwrap()
                .to_vec::<i32>()
                .unwrap(),
            vec![3, 0, 2]
        );
        assert_eq!(
            ops::shape(&tt, DType::I64)
                .unwrap()
                .to_vec::<i64>()
                .unwrap(),
            vec![3, 0, 2]
        );
        assert_eq!(
            ops::size(&t, DType::I64).unwrap().scalar::<i64>().unwrap(),
            0
        );
        let o = Tensor::zeros([2, 3], dtype).unwrap().ones_like().unwrap();
        assert_eq!(o.dtype(), dtype);
        assert_eq!(o.to_f64_vec().unwrap(), vec![1.0; 6]);
        let z = o.zeros_like().unwrap();
        assert_eq!(z.to_f64_vec().unwrap(), vec![0.0; 6]);
    }
    let s = Tensor::from_scalar(1.0f32);
    assert_eq!(ops::shape(&s, DType::I32).unwrap().dims(), &[0]);
    assert_eq!(
        ops::size(&s, DType::I32).unwrap().scalar::<i32>().unwrap(),
        1
    );
    let e = ops::shape(&s, DType::F32).unwrap_err().to_string();
    assert!(e.contains("Shape") && e.contains("out_type"), "{e}");
}

/// A minimal tracer: outputs are symbolic tensors shaped by the op's inference.
struct Tracer;

impl tf_core::context::Executor for Tracer {
    fn execute(&self, call: &tf_core::op::OpCall<'_>) -> tf_core::Result<Vec<Tensor>> {
        let specs = (call.op.infer)(&InferContext {
            op: call.op,
            inputs: call.inputs,
            attrs: call.attrs,
        })?;
        Ok(specs
            .into_iter()
            .map(|s| Tensor::symbolic(s.dtype, s.shape, Arc::new(())))
            .collect())
    }
    fn read_variable(&self, _: &tf_core::Variable) -> tf_core::Result<Tensor> {
        Err(tf_core::Error::invalid("Tracer", "no variables"))
    }
    fn assign_variable(
        &self,
        _: &tf_core::Variable,
        _: tf_core::variable::AssignKind,
        _: &Tensor,
    ) -> tf_core::Result<()> {
        Err(tf_core::Error::invalid("Tracer", "no variables"))
    }
}

fn sym(dtype: DType, dims: &[Option<usize>]) -> Tensor {
    Tensor::symbolic(dtype, PartialShape::new(dims), Arc::new(()))
}

#[test]
fn ops_trace_on_symbolic_tensors() {
    let _g = tf_core::context::push_executor(std::rc::Rc::new(Tracer));
    let x = sym(DType::F32, &[None, Some(3), Some(1)]);
    let shape = ops::shape(&x, DType::I64).unwrap();
    assert!(shape.is_symbolic());
    assert_eq!(shape.partial_shape().dims(), &[Some(3)]);
    assert_eq!(shape.dtype(), DType::I64);
    assert_eq!(ops::size(&x, DType::I32).unwrap().rank(), 0);
    assert_eq!(
        x.zeros_like().unwrap().partial_shape().dims(),
        &[None, Some(3), Some(1)]
    );
    assert_eq!(x.ones_like().unwrap().dtype(), DType::F32);
    let p = |t: Tensor| t.partial_shape().to_string();
    assert_eq!(p(x.transpose(None).unwrap()), "[1,3,?]");
    assert_eq!(p(x.squeeze(&[2]).unwrap()), "[?,3]");
    assert!(x.squeeze(&[]).is_err());
    assert_eq!(p(x.expand_dims(0).unwrap()), "[1,?,3,1]");
    assert_eq!(p(x.slice(&[0, 1, 0], &[-1, 2, 1]).unwrap()), "[?,2,1]");
    assert_eq!(p(x.tile(&[2, 2, 0]).unwrap()), "[?,6,0]");
    assert_eq!(p(x.pad(&[[1, 1], [0, 2], [0, 0]]).unwrap()), "[?,5,1]");
    assert_eq!(
        p(ops::concat(&[x.clone(), x.clone()], 1).unwrap()),
        "[?,6,1]"
    );
    assert_eq!(
        p(ops::concat(&[x.clone(), x.clone()], 0).unwrap()),
        "[?,3,1]"
    );
    assert_eq!(
        p(ops::stack(&[x.clone(), x.clone()], 1).unwrap()),
        "[?,2,3,1]"
    );
    assert_eq!(p(x.broadcast_to(&[4, 5, 3, 2]).unwrap()), "[4,5,3,2]");
    let ss = ops::strided_slice(
        &x,
        &[0, 1],
        &[0, 0],
        &[1, 1],
        SliceMasks {
            begin_mask: 1,
            end_mask: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p(ss), "[?,2,1]");
    let parts = ops::split(&x, 3, 1).unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(p(parts[0].clone()), "[?,1,1]");
    assert_eq!(ops::unstack(&x, 1).unwrap().len(), 3);
    assert!(ops::unstack(&x, 0).is_err());
    let idx = sym(DType::I32, &[None]);
    assert_eq!(p(x.gather(&idx, 1).unwrap()), "[?,?,1]");
}

// ---------------------------------------------------------------------------------
// Shape inference properties.

fn infer(
    op: &'static OpDef,
    inputs: &[Tensor],
    attrs: &Attrs,
) -> tf_core::Result<Vec<PartialShape>> {
    let specs = (op.infer)(&InferContext { op, inputs, attrs })?;
    Ok(specs.into_iter().map(|s| s.shape).collect())
}

fn hide(dims: &[usize], mask: u16) -> Vec<Option<usize>> {
    dims.iter()
        .enumerate()
        .map(|(i, &d)| if mask >> i & 1 == 1 { None } else { Some(d) })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn transpose_inference(dims in strategies::dims(), seed in any::<u64>(), mask in any::<u16>()) {
        let rank = dims.len();
        let mut r = rng(seed);
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        for i in (1..rank).rev() { perm.swap(i, r.random_range(0..=i)); }
        let attrs = Attrs::new().with("perm", perm.clone());
        let known = infer(&ops::TRANSPOSE, &[sym(DType::F32, &hide(&dims, 0))], &attrs).unwrap();
        let eager = ops::transpose(&Tensor::zeros(Shape::new(&dims), DType::F32).unwrap(), Some(&perm)).unwrap();
        prop_assert_eq!(known[0].to_shape().unwrap(), eager.shape().clone());
        let partial = infer(&ops::TRANSPOSE, &[sym(DType::F32, &hide(&dims, mask))], &attrs).unwrap();
        for (i, &p) in perm.iter().enumerate() {
            prop_assert_eq!(partial[0][i], hide(&dims, mask)[p as usize]);
        }
    }

    #[test]
    fn concat_and_stack_inference(dims in strategies::dims(), n in 1usize..4, sizes in prop::collection::vec(0usize..4, 3), mask in any::<u16>(), which in 0usize..3) {
        prop_assume!(!dims.is_empty());
        let axis = (mask as usize) % dims.len();
        let shapes: Vec<Vec<usize>> = (0..n).map(|k| { let mut d = dims.clone(); d[axis] = sizes[k]; d }).collect();
        let attrs = Attrs::new().with("axis", axis as i64);
        let eager: Vec<Tensor> = shapes.iter().map(|s| Tensor::zeros(Shape::new(s), DType::I32).unwrap()).collect();
        let out = ops::concat(&eager, axis as i64).unwrap();
        // Hide dims of one input: the result stays compatible; the axis becomes unknown
        // exactly when some input's axis is unknown; other dims are known from any input.
        let syms: Vec<Tensor> = shapes.iter().enumerate()
            .map(|(k, s)| sym(DType::I32, &hide(s, if k == which % n { mask } else { 0 })))
            .collect();
        let p = &infer(&ops::CONCAT, &syms, &attrs).unwrap()[0];
        prop_assert!(p.is_compatible_with(out.dims()), "{} vs {}", p, out.shape());
        let hidden_axis = mask >> axis & 1 == 1;
        prop_assert_eq!(p[axis].is_none(), hidden_axis);
        if n > 1 {
            for d in 0..dims.len() { if d != axis { prop_assert!(p[d].is_some()); } }
        }
        let s = &infer(&ops::STACK, &syms.iter().map(|_| syms[0].clone()).collect::<Vec<_>>(), &attrs).unwrap()[0];
        let st = ops::stack(&eager.iter().map(|_| eager[0].clone()).collect::<Vec<_>>(), axis as i64).unwrap();
        prop_assert!(s.is_compatible_with(st.dims()));
        prop_assert_eq!(s[axis], Some(n));
    }

    #[test]
    fn tile_and_pad_inference(dims in strategies::dims(), mult in prop::collection::vec(0i64..3, 4), pads in prop::collection::vec(0i64..3, 8), mask in any::<u16>()) {
        let rank = dims.len();
        let m = &mult[..rank];
        let pd: Vec<[i64; 2]> = (0..rank).map(|i| [pads[2 * i], pads[2 * i + 1]]).collect();
        let t = Tensor::zeros(Shape::new(&dims), DType::F16).unwrap();
        let tiled = t.tile(m).unwrap();
        let padded = t.pad(&pd).unwrap();
        let hidden = hide(&dims, mask);
        let x = sym(DType::F16, &hidden);
        let pt = &infer(&ops::TILE, std::slice::from_ref(&x), &Attrs::new().with("multiples", m)).unwrap()[0];
        let flat: Vec<i64> = pd.iter().flatten().copied().collect();
        let pp = &infer(&ops::PAD, std::slice::from_ref(&x), &Attrs::new().with("paddings", flat)).unwrap()[0];
        prop_assert!(pt.is_compatible_with(tiled.dims()));
        prop_assert!(pp.is_compatible_with(padded.dims()));
        for i in 0..rank {
            // Unknown stays unknown (except a tile multiple of 0); known is exact.
            prop_assert_eq!(pt[i].is_none(), hidden[i].is_none() && m[i] != 0);
            prop_assert_eq!(pp[i].is_none(), hidden[i].is_none());
        }
    }
}

// ---------------------------------------------------------------------------------
// Errors: each names the op and the offending shapes/indices.

fn err(r: tf_core::Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn error_messages() {
    let x = Tensor::zeros([2, 3], DType::F32).unwrap();
    let e = err(ops::transpose(&x, Some(&[0, 0])));
    assert!(
        e.starts_with("Transpose:") && e.contains("more than once"),
        "{e}"
    );
    let e = err(ops::transpose(&x, Some(&[0, 2])));
    assert!(e.contains("out of range"), "{e}");
    let e = err(ops::transpose(&x, Some(&[-1, 0])));
    assert!(e.contains("-1"), "{e}");
    let e = err(ops::transpose(&x, Some(&[0])));
    assert!(e.contains("rank 2"), "{e}");

    let y = Tensor::zeros([2, 4], DType::F32).unwrap();
    let e = err(ops::concat(&[x.clone(), x.clone(), y.clone()], 0));
    assert!(
        e.starts_with("ConcatV2:")
            && e.contains("input 2")
            && e.contains("[2,4]")
            && e.contains("[2,3]"),
        "{e}"
    );
    let e = err(ops::concat(
        &[x.clone(), Tensor::zeros([2, 3], DType::F64).unwrap()],
        0,
    ));
    assert!(e.contains("dtype"), "{e}");
    let e = err(ops::concat(&[Tensor::from_scalar(1.0f32)], 0));
    assert!(e.contains("scalars"), "{e}");
    let e = err(ops::concat(std::slice::from_ref(&x), 2));
    assert!(e.contains("[-2, 2)"), "{e}");
    let e = err(ops::stack(&[x.clone(), y.clone()], 0));
    assert!(
        e.starts_with("Pack:") && e.contains("[2,3]") && e.contains("[2,4]"),
        "{e}"
    );

    let params = Tensor::zeros([5, 2], DType::F32).unwrap();
    let idx = Tensor::from_vec(vec![0i32, 7, 1, 2], [2, 2]).unwrap();
    let e = err(ops::gather(&params, &idx, 0, 0));
    assert!(
        e.starts_with("GatherV2:") && e.contains("indices[0,1] = 7 is not in [0, 5)"),
        "{e}"
    );
    let neg = Tensor::vector(&[-1i64]);
    assert!(err(ops::gather(&params, &neg, 1, 0)).contains("= -1 is not in [0, 2)"));
    let e = err(ops::gather(&params, &Tensor::vector(&[0.0f32]), 0, 0));
    assert!(e.contains("int32 or int64"), "{e}");
    let e = err(ops::gather_nd(
        &params,
        &Tensor::from_vec(vec![4i64, 1, 5, 0], [2, 2]).unwrap(),
    ));
    assert!(
        e.starts_with("GatherNd:") && e.contains("indices[1] = [5, 0]") && e.contains("[5,2]"),
        "{e}"
    );
    let e = err(ops::scatter_nd(
        &Tensor::from_vec(vec![8i32], [1, 1]).unwrap(),
        &Tensor::vector(&[1.0f32]),
        &[8],
    ));
    assert!(e.starts_with("ScatterNd:") && e.contains("[8]"), "{e}");
    let e = err(ops::scatter_nd(
        &Tensor::from_vec(vec![1i32], [1, 1]).unwrap(),
        &Tensor::vector(&[1.0f32, 2.0]),
        &[8],
    ));
    assert!(e.contains("updates has shape [2]"), "{e}");
    let e = err(ops::one_hot(
        &Tensor::vector(&[1i32]),
        -1,
        1.0,
        0.0,
        -1,
        DType::F32,
    ));
    assert!(e.contains("depth must be non-negative"), "{e}");

    let v = Tensor::zeros([3, 2], DType::F32).unwrap();
    let e = err(ops::mirror_pad(&v, &[[3, 0], [0, 0]], "REFLECT"));
    assert!(
        e.starts_with("MirrorPad:")
            && e.contains("less than the dimension size")
            && e.contains("3"),
        "{e}"
    );
    assert!(ops::mirror_pad(&v, &[[3, 0], [0, 0]], "SYMMETRIC").is_ok());
    let e = err(ops::mirror_pad(&v, &[[4, 0], [0, 0]], "SYMMETRIC"));
    assert!(e.contains("no greater than"), "{e}");
    let e = err(ops::mirror_pad(&v, &[[0, 0], [0, 0]], "WRAP"));
    assert!(e.contains("REFLECT or SYMMETRIC"), "{e}");
    let e = err(v.pad(&[[-1, 0], [0, 0]]));
    assert!(e.starts_with("Pad:") && e.contains("non-negative"), "{e}");
    let e = err(v.pad(&[[0, 0]]));
    assert!(e.contains("[3,2]"), "{e}");
    let e = err(ops::pad_v2(
        &v,
        &[[0, 0], [0, 0]],
        &Tensor::from_scalar(1.0f64),
    ));
    assert!(e.contains("dtype"), "{e}");

    let e = err(v.squeeze(&[0]));
    assert!(
        e.starts_with("Squeeze:") && e.contains("Can not squeeze dim[0]") && e.contains("got 3"),
        "{e}"
    );
    let e = err(v.reshape(&[4, 2]));
    assert!(
        e.starts_with("Reshape:") && e.contains("[3,2]") && e.contains("6"),
        "{e}"
    );
    let e = err(v.reshape(&[-1, -1]));
    assert!(e.contains("only infer one"), "{e}");
    let e = err(v.slice(&[2, 0], &[2, 1]));
    assert!(e.starts_with("Slice:") && e.contains("size[0]"), "{e}");
    let e = err(v.slice(&[4, 0], &[-1, 1]));
    assert!(e.contains("begin[0] in [0, 3]"), "{e}");
    let e = err(v.expand_dims(3));
    assert!(e.starts_with("ExpandDims:") && e.contains("3"), "{e}");
    let e = err(v.broadcast_to(&[4, 2]));
    assert!(
        e.starts_with("BroadcastTo:") && e.contains("[3,2]") && e.contains("[4,2]"),
        "{e}"
    );
    let e = err(v.tile(&[1]));
    assert!(e.starts_with("Tile:") && e.contains("length 2"), "{e}");
    let e = err(v.reverse(&[0, -2]));
    assert!(
        e.starts_with("ReverseV2:") && e.contains("more than once"),
        "{e}"
    );
    let e = err(v.reverse(&[2]));
    assert!(e.contains("axis 2"), "{e}");
}
