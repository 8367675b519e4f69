//! MatMul, BatchMatMulV2 and BiasAdd against naive references: every dtype, every
//! layout, transpose flags, batch broadcasting, zero-size dimensions, errors and
//! shape inference on partial shapes.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use rand::Rng;
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef};
use tf_core::ops::{self, BATCH_MATMUL, BIAS_ADD, MATMUL};
use tf_core::{DType, PartialShape, Shape, Tensor};

const MATMUL_DTYPES: [DType; 6] = [
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I32,
    DType::I64,
];

/// Row-major `[rows, cols]` values of `op(t)` for a rank-2 slice of values.
fn mat(values: &[f64], rows: usize, cols: usize, t: bool) -> Vec<f64> {
    if !t {
        return values.to_vec();
    }
    // `values` is [cols, rows]; return its transpose [rows, cols].
    let mut out = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            out[i * cols + j] = values[j * rows + i];
        }
    }
    out
}

/// Naive batched product with f64 accumulation (wrapping i64 arithmetic for ints)
/// and, per output element, the sum of |a·b| (for float tolerances).
fn naive_batched(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
    let (ad, bd) = (a.dims().to_vec(), b.dims().to_vec());
    let (ra, rb) = (ad.len(), bd.len());
    let (m, k) = if ta {
        (ad[ra - 1], ad[ra - 2])
    } else {
        (ad[ra - 2], ad[ra - 1])
    };
    let n = if tb { bd[rb - 2] } else { bd[rb - 1] };
    let batch = Shape::new(
        &tf_core::shape::broadcast_shapes("test", &ad[..ra - 2], &bd[..rb - 2]).unwrap(),
    );
    let (av, bv) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    let int = a.dtype().is_int();
    let nb = batch.num_elements();
    let mut out = Vec::with_capacity(nb * m * n);
    let mut abs = Vec::with_capacity(nb * m * n);
    let bdims = batch.dims().to_vec();
    // Index of the operand matrix for batch index `bi` (broadcasting size-1 dims).
    let operand_index = |bi: usize, dims: &[usize]| -> usize {
        let mut rem = bi;
        let mut idx = vec![0; bdims.len()];
        for ax in (0..bdims.len()).rev() {
            idx[ax] = rem % bdims[ax];
            rem /= bdims[ax];
        }
        let off = bdims.len() - dims.len();
        let mut flat = 0;
        for (ax, &d) in dims.iter().enumerate() {
            flat = flat * d + if d == 1 { 0 } else { idx[off + ax] };
        }
        flat
    };
    for bi in 0..nb {
        let ia = operand_index(bi, &ad[..ra - 2]);
        let ib = operand_index(bi, &bd[..rb - 2]);
        let am = mat(&av[ia * m * k..(ia + 1) * m * k], m, k, ta);
        let bm = mat(&bv[ib * k * n..(ib + 1) * k * n], k, n, tb);
        for i in 0..m {
            for j in 0..n {
                if int {
                    let mut acc = 0i64;
                    for p in 0..k {
                        acc = acc.wrapping_add(
                            (am[i * k + p] as i64).wrapping_mul(bm[p * n + j] as i64),
                        );
                    }
                    out.push(acc as f64);
                    abs.push(0.0);
                } else {
                    out.push((0..k).map(|p| am[i * k + p] * bm[p * n + j]).sum());
                    abs.push((0..k).map(|p| (am[i * k + p] * bm[p * n + j]).abs()).sum());
                }
            }
        }
    }
    let mut dims = batch.dims().to_vec();
    dims.extend([m, n]);
    (dims, out, abs)
}

/// Relative tolerance (against Σ|a·b|) of a dtype's matmul.
fn mm_tol(dt: DType) -> f64 {
    match dt {
        DType::F64 => 1e-13,
        DType::F32 => 1e-5,
        DType::F16 => 1e-3,
        DType::BF16 => 8e-3,
        _ => 0.0,
    }
}

fn check_product(got: &Tensor, a: &Tensor, b: &Tensor, ta: bool, tb: bool, what: &str) {
    let (dims, expect, abs) = naive_batched(a, b, ta, tb);
    assert_eq!(got.dtype(), a.dtype(), "{what}: dtype");
    assert_eq!(got.dims(), &dims[..], "{what}: shape");
    let g = got.to_f64_vec().unwrap();
    let dt = a.dtype();
    for (i, ((&x, &e), &s)) in g.iter().zip(&expect).zip(&abs).enumerate() {
        if dt.is_int() {
            // Wrap the i64 reference to the dtype's width.
            let e = if dt == DType::I32 {
                (e as i64) as i32 as f64
            } else {
                e
            };
            assert_eq!(x, e, "{what}: element {i}");
        } else {
            // One final rounding to the dtype plus the accumulation error.
            let tol = mm_tol(dt) * s + mm_tol(dt) * e.abs() + 1e-300;
            assert!(
                (x - e).abs() <= tol,
                "{what}: element {i}: got {x}, expected {e} (tol {tol})"
            );
        }
    }
}

fn dims_of(rows: usize, cols: usize, t: bool) -> [usize; 2] {
    if t { [cols, rows] } else { [rows, cols] }
}

#[test]
fn matmul_matches_naive_for_every_dtype_layout_and_flag() {
    let mut r = rng(11);
    let shapes = [
        (1, 1, 1),
        (3, 5, 2),
        (7, 1, 9),
        (1, 13, 1),
        (4, 0, 3),
        (0, 5, 3),
        (3, 5, 0),
        (17, 31, 23),
        (33, 64, 9),
    ];
    for dt in MATMUL_DTYPES {
        for &(m, k, n) in &shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = random_tensor(&mut r, dt, &dims_of(m, k, ta));
                let b = random_tensor(&mut r, dt, &dims_of(k, n, tb));
                for (la, av) in layouts(&a).iter().enumerate() {
                    for (lb, bv) in layouts(&b).iter().enumerate() {
                        let got = ops::matmul_transposed(av, bv, ta, tb).unwrap();
                        check_product(
                            &got,
                            &a,
                            &b,
                            ta,
                            tb,
                            &format!("{dt} m{m} k{k} n{n} ta{ta} tb{tb} layouts {la},{lb}"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn random_shapes_and_parallel_sizes() {
    let mut r = rng(12);
    for case in 0..40 {
        let (m, k, n) = (
            r.random_range(1..40),
            r.random_range(0..40),
            r.random_range(1..40),
        );
        let dt = MATMUL_DTYPES[case % MATMUL_DTYPES.len()];
        let a = random_tensor(&mut r, dt, &[m, k]);
        let b = random_tensor(&mut r, dt, &[k, n]);
        check_product(
            &ops::matmul(&a, &b).unwrap(),
            &a,
            &b,
            false,
            false,
            &format!("case {case}"),
        );
    }
    // Large enough for the multi-threaded GEMM and the parallel integer kernel.
    for dt in [DType::F32, DType::F64, DType::I32, DType::BF16] {
        let a = random_tensor(&mut r, dt, &[70, 90]);
        let b = random_tensor(&mut r, dt, &[90, 80]);
        check_product(
            &a.matmul(&b).unwrap(),
            &a,
            &b,
            false,
            false,
            &format!("{dt} 70x90x80"),
        );
        let bt = transposed_copy(&random_tensor(&mut r, dt, &[80, 90]));
        check_product(
            &ops::matmul_transposed(&a, &bt, false, true).unwrap(),
            &a,
            &bt,
            false,
            true,
            &format!("{dt} 70x90x80 transposed view"),
        );
    }
}

#[test]
fn broadcast_stride_zero_operands() {
    // A [4] vector viewed as [3, 4] with row stride 0: three equal rows.
    let v = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, 0.5], [4]).unwrap();
    let a = v
        .view("test", Shape::new(&[3, 4]), vec![0, 1].into(), 0)
        .unwrap();
    let b = Tensor::from_vec((0..8).map(|x| x as f32).collect::<Vec<_>>(), [4, 2]).unwrap();
    let a_dense = Tensor::from_vec([1.0f32, -2.0, 3.0, 0.5].repeat(3), [3, 4]).unwrap();
    let got = ops::matmul(&a, &b).unwrap();
    check_product(&got, &a_dense, &b, false, false, "stride-0 rows");
    // And as the right operand: columns broadcast (column stride 0).
    let col = Tensor::from_vec(vec![2.0f64, -1.0, 4.0], [3]).unwrap();
    let bb = col
        .view("test", Shape::new(&[3, 5]), vec![1, 0].into(), 0)
        .unwrap();
    let bb_dense = Tensor::from_vec(
        (0..15)
            .map(|i| [2.0, -1.0, 4.0][i / 5])
            .collect::<Vec<f64>>(),
        [3, 5],
    )
    .unwrap();
    let aa = Tensor::from_vec((0..6).map(|x| x as f64).collect::<Vec<_>>(), [2, 3]).unwrap();
    check_product(
        &ops::matmul(&aa, &bb).unwrap(),
        &aa,
        &bb_dense,
        false,
        false,
        "stride-0 cols",
    );
    // Large enough for the packed (and multi-threaded) GEMM paths.
    let mut r = rng(15);
    let row = random_tensor(&mut r, DType::F32, &[100]);
    let a = row
        .view("test", Shape::new(&[64, 100]), vec![0, 1].into(), 0)
        .unwrap();
    let a_dense = Tensor::from_vec(row.to_vec::<f32>().unwrap().repeat(64), [64, 100]).unwrap();
    let b = random_tensor(&mut r, DType::F32, &[100, 70]);
    check_product(
        &ops::matmul(&a, &b).unwrap(),
        &a_dense,
        &b,
        false,
        false,
        "large stride-0 rows",
    );
}

#[test]
fn batch_matmul_broadcasts_batch_dimensions() {
    let mut r = rng(13);
    let cases: &[(&[usize], &[usize])] = &[
        (&[2, 1, 3, 4], &[5, 4, 6]),
        (&[2, 3, 4], &[2, 4, 5]),
        (&[1, 3, 4], &[7, 4, 2]),
        (&[3, 4], &[2, 2, 4, 3]),
        (&[2, 3, 4], &[4, 5]),
        (&[0, 3, 4], &[4, 5]),
        (&[2, 3, 0], &[1, 0, 5]),
        (&[300, 8, 8], &[300, 8, 8]),
    ];
    for dt in MATMUL_DTYPES {
        for &(ad, bd) in cases {
            for (ta, tb) in [(false, false), (true, true), (true, false)] {
                let swap = |d: &[usize], t: bool| {
                    let mut d = d.to_vec();
                    let n = d.len();
                    if t {
                        d.swap(n - 2, n - 1);
                    }
                    d
                };
                let a = random_tensor(&mut r, dt, &swap(ad, ta));
                let b = random_tensor(&mut r, dt, &swap(bd, tb));
                for (la, av) in layouts(&a).iter().enumerate() {
                    let got = ops::matmul_transposed(av, &b, ta, tb).unwrap();
                    check_product(
                        &got,
                        &a,
                        &b,
                        ta,
                        tb,
                        &format!("{dt} {ad:?} x {bd:?} ta{ta} tb{tb} layout {la}"),
                    );
                }
            }
        }
    }
    // The explicit op takes matrices too.
    let a = random_tensor(&mut r, DType::F32, &[3, 4]);
    let b = random_tensor(&mut r, DType::F32, &[4, 2]);
    check_product(
        &ops::batch_matmul(&a, &b, false, false).unwrap(),
        &a,
        &b,
        false,
        false,
        "rank-2 batch op",
    );
}

#[test]
fn integer_matmul_wraps_around() {
    let big = 1 << 20;
    let a = Tensor::from_vec(vec![big, big, -big, 3], [2, 2]).unwrap();
    let b = Tensor::from_vec(vec![big, 7, big, i32::MAX], [2, 2]).unwrap();
    let got = ops::matmul(&a, &b).unwrap().to_vec::<i32>().unwrap();
    let w = |x: i64| x as i32;
    let (bg, mx) = (big as i64, i32::MAX as i64);
    assert_eq!(
        got,
        vec![
            w(bg * bg + bg * bg),
            w(bg * 7 + bg * mx),
            w(-bg * bg + 3 * bg),
            w(-bg * 7 + 3 * mx),
        ]
    );
    let a = Tensor::from_vec(vec![i64::MAX, 2], [1, 2]).unwrap();
    let b = Tensor::from_vec(vec![2i64, i64::MAX], [2, 1]).unwrap();
    let got = ops::matmul(&a, &b).unwrap().to_vec::<i64>().unwrap();
    assert_eq!(
        got,
        vec![
            i64::MAX
                .wrapping_mul(2)
                .wrapping_add(i64::MAX.wrapping_mul(2))
        ]
    );
}

#[test]
fn zero_size_inner_dimension_gives_zeros() {
    for dt in MATMUL_DTYPES {
        let a = Tensor::zeros([3, 0], dt).unwrap();
        let b = Tensor::zeros([0, 4], dt).unwrap();
        let c = ops::matmul(&a, &b).unwrap();
        assert_eq!(c.dims(), &[3, 4]);
        assert_eq!(c.to_f64_vec().unwrap(), vec![0.0; 12]);
        let c = ops::matmul(
            &Tensor::zeros([2, 0, 3], dt).unwrap(),
            &Tensor::zeros([3, 5], dt).unwrap(),
        )
        .unwrap();
        assert_eq!(c.dims(), &[2, 0, 5]);
    }
}

#[test]
fn huge_outputs_are_errors() {
    let a = Tensor::zeros([1 << 40, 0], DType::F32).unwrap();
    let b = Tensor::zeros([0, 1 << 40], DType::F32).unwrap();
    let e = ops::matmul(&a, &b).unwrap_err().to_string();
    assert!(
        e.starts_with("MatMul: output shape") && e.contains("too many elements"),
        "{e}"
    );
}

#[test]
fn matmul_errors_name_the_op_and_shapes() {
    let f = |d: &[usize]| Tensor::zeros(Shape::new(d), DType::F32).unwrap();
    let e = ops::matmul(&f(&[3, 5]), &f(&[4, 2]))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "MatMul: inner dimensions differ: [3,5] x [4,2]");
    // Shapes are reported after the transposes.
    let e = ops::matmul_transposed(&f(&[5, 3]), &f(&[2, 4]), true, true)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "MatMul: inner dimensions differ: [3,5] x [4,2]");
    let e = ops::matmul(&f(&[2, 3, 5]), &f(&[2, 4, 2]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "BatchMatMulV2: inner dimensions differ: [2,3,5] x [2,4,2]"
    );
    let e = ops::matmul(&f(&[2, 3, 4]), &f(&[3, 4, 5]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("BatchMatMulV2: batch dimensions do not broadcast")
            && e.contains("[2,3,4] x [3,4,5]"),
        "{e}"
    );
    // Rank-1 operands are an error, like tf.matmul.
    let e = ops::matmul(&f(&[3]), &f(&[3, 4])).unwrap_err().to_string();
    assert!(
        e.starts_with("MatMul:") && e.contains("rank 2") && e.contains("[3]"),
        "{e}"
    );
    let e = ops::matmul(&f(&[2, 3, 4]), &f(&[4]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("BatchMatMulV2:") && e.contains("rank >= 2") && e.contains("[4]"),
        "{e}"
    );
    let e = ops::matmul(&f(&[]), &f(&[])).unwrap_err().to_string();
    assert!(e.starts_with("MatMul:"), "{e}");
    // Dtypes must match and be supported.
    let d = Tensor::zeros([5, 2], DType::F64).unwrap();
    let e = ops::matmul(&f(&[3, 5]), &d).unwrap_err().to_string();
    assert!(
        e.starts_with("MatMul:") && e.contains("float64") && e.contains("float32"),
        "{e}"
    );
    let i8s = Tensor::zeros([2, 2], DType::I8).unwrap();
    let e = ops::matmul(&i8s, &i8s).unwrap_err().to_string();
    assert!(e.starts_with("MatMul:") && e.contains("int8"), "{e}");
    // A non-bool flag attribute.
    let e = tf_core::op::call1(
        &MATMUL,
        &[f(&[2, 2]), f(&[2, 2])],
        &Attrs::new().with("transpose_a", 1i64),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("MatMul:") && e.contains("transpose_a"), "{e}");
}

fn infer(
    op: &'static OpDef,
    inputs: &[(DType, Vec<Option<usize>>)],
    attrs: &Attrs,
) -> tf_core::Result<PartialShape> {
    let tensors: Vec<Tensor> = inputs
        .iter()
        .map(|(dt, d)| Tensor::symbolic(*dt, PartialShape::new(d), Arc::new(())))
        .collect();
    let specs = (op.infer)(&InferContext {
        op,
        inputs: &tensors,
        attrs,
    })?;
    Ok(specs[0].shape.clone())
}

#[test]
fn shape_inference_keeps_unknown_dimensions() {
    let f = DType::F32;
    let s = infer(
        &MATMUL,
        &[(f, vec![None, Some(784)]), (f, vec![Some(784), Some(10)])],
        &Attrs::new(),
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[None, Some(10)]));
    let t = Attrs::new().with("transpose_b", true);
    let s = infer(
        &MATMUL,
        &[(f, vec![Some(2), None]), (f, vec![None, Some(3)])],
        &t,
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[Some(2), None]));
    let e = infer(
        &MATMUL,
        &[(f, vec![None, Some(5)]), (f, vec![Some(4), None])],
        &Attrs::new(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "MatMul: inner dimensions differ: [?,5] x [4,?]"
    );
    let s = infer(
        &BATCH_MATMUL,
        &[
            (f, vec![None, Some(1), Some(3), Some(4)]),
            (f, vec![Some(5), Some(4), None]),
        ],
        &Attrs::new(),
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[None, Some(5), Some(3), None]));
    let s = infer(
        &BIAS_ADD,
        &[(f, vec![None, Some(3)]), (f, vec![None])],
        &Attrs::new(),
    )
    .unwrap();
    assert_eq!(s, PartialShape::new(&[None, Some(3)]));
}

/// Naive bias add: `value + bias` along `axis`.
fn naive_bias(value: &Tensor, bias: &[f64], axis: usize) -> Vec<f64> {
    let dims = value.dims();
    let inner: usize = dims[axis + 1..].iter().product();
    let c = dims[axis];
    value
        .to_f64_vec()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, &v)| v + bias[(i / inner) % c])
        .collect()
}

#[test]
fn bias_add_matches_naive() {
    let mut r = rng(14);
    let shapes: &[&[usize]] = &[
        &[2, 3],
        &[2, 4, 5, 3],
        &[1, 1],
        &[0, 3],
        &[4, 0],
        &[3, 7, 2],
        &[64, 700],
    ];
    for dt in [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I32,
        DType::I64,
    ] {
        for &dims in shapes {
            let x = random_tensor(&mut r, dt, dims);
            let c = *dims.last().unwrap();
            let b = random_tensor(&mut r, dt, &[c]);
            let expect = round_to(
                dt,
                &wrap_ints(
                    dt,
                    &naive_bias(&x, &b.to_f64_vec().unwrap(), dims.len() - 1),
                ),
            );
            for (l, xv) in layouts(&x).iter().enumerate() {
                for bv in layouts(&b) {
                    let got = ops::bias_add(xv, &bv).unwrap();
                    assert_close(
                        &got,
                        &expect,
                        dims,
                        tol(dt),
                        0.0,
                        &format!("{dt} {dims:?} layout {l}"),
                    );
                }
            }
            if dims.len() >= 2 {
                let c1 = dims[1];
                let b1 = random_tensor(&mut r, dt, &[c1]);
                let expect = round_to(
                    dt,
                    &wrap_ints(dt, &naive_bias(&x, &b1.to_f64_vec().unwrap(), 1)),
                );
                let got = ops::bias_add_nchw(&strided_copy(&x), &b1).unwrap();
                assert_close(
                    &got,
                    &expect,
                    dims,
                    tol(dt),
                    0.0,
                    &format!("NCHW {dt} {dims:?}"),
                );
            }
        }
    }
}

/// Integer references wrap to the dtype's width (`round_to` saturates through f64).
fn wrap_ints(dt: DType, v: &[f64]) -> Vec<f64> {
    v.iter()
        .map(|&x| match dt {
            DType::I8 => (x as i64) as i8 as f64,
            DType::U8 => (x as i64) as u8 as f64,
            DType::I32 => (x as i64) as i32 as f64,
            _ => x,
        })
        .collect()
}

#[test]
fn bias_add_wraps_integers_and_rejects_bad_shapes() {
    let x = Tensor::from_vec(vec![120i8, -120], [1, 2]).unwrap();
    let b = Tensor::from_vec(vec![10i8, -10], [2]).unwrap();
    assert_eq!(
        ops::bias_add(&x, &b).unwrap().to_vec::<i8>().unwrap(),
        vec![-126, 126]
    );
    let f = |d: &[usize]| Tensor::zeros(Shape::new(d), DType::F32).unwrap();
    let e = ops::bias_add(&f(&[3]), &f(&[3])).unwrap_err().to_string();
    assert!(
        e.starts_with("BiasAdd:") && e.contains("at least 2D") && e.contains("[3]"),
        "{e}"
    );
    let e = ops::bias_add(&f(&[2, 3]), &f(&[1, 3]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("BiasAdd:") && e.contains("1D") && e.contains("[1,3]"),
        "{e}"
    );
    let e = ops::bias_add(&f(&[2, 3]), &f(&[4]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("BiasAdd:") && e.contains("[4] vs. [2,3]"),
        "{e}"
    );
    let e = ops::bias_add(&f(&[2, 3]), &Tensor::zeros([3], DType::F64).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("BiasAdd:") && e.contains("float64"), "{e}");
    let e = tf_core::op::call1(
        &BIAS_ADD,
        &[f(&[2, 3]), f(&[3])],
        &Attrs::new().with("data_format", "NWHC"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("BiasAdd:") && e.contains("data_format"),
        "{e}"
    );
    let bools = Tensor::zeros([2, 2], DType::Bool).unwrap();
    assert!(ops::bias_add(&bools, &Tensor::zeros([2], DType::Bool).unwrap()).is_err());
}

/// Naive BiasAddGrad: the sum over every dimension but `axis`.
fn naive_bias_grad(g: &Tensor, axis: usize) -> Vec<f64> {
    let dims = g.dims();
    let inner: usize = dims[axis + 1..].iter().product();
    let c = dims[axis];
    let mut out = vec![0.0; c];
    for (i, v) in g.to_f64_vec().unwrap().into_iter().enumerate() {
        out[(i / inner) % c] += v;
    }
    out
}

#[test]
fn bias_add_grad_sums_all_but_the_channel_dimension() {
    let mut r = rng(15);
    let shapes: &[&[usize]] = &[&[2, 3], &[2, 4, 5, 3], &[0, 3], &[4, 0], &[64, 700]];
    for dt in [DType::F32, DType::F64, DType::BF16, DType::I32, DType::I64] {
        for &dims in shapes {
            let g = random_tensor(&mut r, dt, dims);
            let last = naive_bias_grad(&g, dims.len() - 1);
            let first = naive_bias_grad(&g, 1);
            // Sums accumulate in f64 and round once.
            let t = if dt.is_float() { tol(dt) } else { 0.0 };
            for (l, gv) in layouts(&g).iter().enumerate() {
                let got = ops::bias_add_grad(gv, "NHWC").unwrap();
                let want = round_to(dt, &wrap_ints(dt, &last));
                assert_close(
                    &got,
                    &want,
                    &[last.len()],
                    t,
                    t,
                    &format!("NHWC {dt} {dims:?} layout {l}"),
                );
                let got = ops::bias_add_grad(gv, "NCHW").unwrap();
                let want = round_to(dt, &wrap_ints(dt, &first));
                assert_close(
                    &got,
                    &want,
                    &[first.len()],
                    t,
                    t,
                    &format!("NCHW {dt} {dims:?} layout {l}"),
                );
            }
        }
    }
    let f = |d: &[usize]| Tensor::zeros(Shape::new(d), DType::F32).unwrap();
    let e = ops::bias_add_grad(&f(&[3]), "NHWC")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("BiasAddGrad:") && e.contains("[3]"), "{e}");
    let e = ops::bias_add_grad(&f(&[2, 3]), "HWNC")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("BiasAddGrad:") && e.contains("data_format"),
        "{e}"
    );
    let e = ops::bias_add_grad(&Tensor::zeros([2, 2], DType::Bool).unwrap(), "NHWC")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("BiasAddGrad:") && e.contains("bool"), "{e}");
}
