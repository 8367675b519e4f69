//! Neural-network ops against naive f64 references: softmax, log_softmax, the two
//! softmax cross-entropies, l2_normalize, batch normalization and dropout, over random
//! shapes, every layout and every float dtype; stability with huge logits; errors.

mod common;

use common::{assert_close, layouts, random_tensor, rng, round_to, tensor_from_f64};
use rand::Rng;
use tf_core::{DType, Tensor, ops};

const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

/// Relative tolerance for results computed in f32 (or f64) and rounded to `dtype`.
fn rtol(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 1e-5,
        DType::F16 => 2e-3,
        _ => 1.6e-2,
    }
}

fn atol(dtype: DType) -> f64 {
    rtol(dtype) * 0.1
}

fn random_dims(r: &mut rand::rngs::StdRng, min_rank: usize) -> Vec<usize> {
    let rank = r.random_range(min_rank..5);
    (0..rank).map(|_| r.random_range(1..6)).collect()
}

/// Calls `f(outer, i, inner)` style: for every row along `axis`, the flat indices.
fn rows_along(dims: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let strides = tf_core::Shape::new(dims).contiguous_strides();
    let n: usize = dims.iter().product();
    let mut rows = Vec::new();
    for start in 0..n {
        if (start / strides[axis]).is_multiple_of(dims[axis]) {
            rows.push((0..dims[axis]).map(|k| start + k * strides[axis]).collect());
        }
    }
    rows
}

fn softmax_ref(x: &[f64], dims: &[usize], axis: usize, log: bool) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for row in rows_along(dims, axis) {
        let m = row.iter().map(|&i| x[i]).fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|&i| (x[i] - m).exp()).sum();
        for &i in &row {
            out[i] = if log {
                x[i] - m - s.ln()
            } else {
                (x[i] - m).exp() / s
            };
        }
    }
    out
}

#[test]
fn softmax_and_log_softmax_match_reference() {
    let mut r = rng(1);
    for dtype in FLOATS {
        for _ in 0..6 {
            let dims = random_dims(&mut r, 1);
            let t = random_tensor(&mut r, dtype, &dims);
            let x = t.to_f64_vec().unwrap();
            for axis in [-1i64, r.random_range(0..dims.len() as i64)] {
                let ax = if axis < 0 {
                    dims.len() - 1
                } else {
                    axis as usize
                };
                for (li, v) in layouts(&t).iter().enumerate() {
                    let what = format!("{dtype} {dims:?} axis {axis} layout {li}");
                    let got = ops::softmax(v, axis).unwrap();
                    assert_eq!(got.dtype(), dtype);
                    let want = softmax_ref(&x, &dims, ax, false);
                    assert_close(&got, &want, &dims, rtol(dtype), atol(dtype), &what);
                    let got = v.log_softmax(axis).unwrap();
                    let want = softmax_ref(&x, &dims, ax, true);
                    assert_close(&got, &want, &dims, rtol(dtype), atol(dtype) * 10.0, &what);
                }
            }
        }
    }
}

#[test]
fn softmax_large_rows_run_in_parallel_blocks() {
    // Enough work to cross the parallel threshold; rows of odd length.
    let mut r = rng(2);
    for dims in [vec![70, 1001], vec![3, 40, 300]] {
        let t = random_tensor(&mut r, DType::F32, &dims);
        let x = t.to_f64_vec().unwrap();
        let got = ops::softmax(&t, -1).unwrap();
        assert_close(
            &got,
            &softmax_ref(&x, &dims, dims.len() - 1, false),
            &dims,
            1e-5,
            1e-8,
            "parallel",
        );
        let got = ops::softmax(&t, 0).unwrap();
        assert_close(
            &got,
            &softmax_ref(&x, &dims, 0, false),
            &dims,
            1e-5,
            1e-8,
            "axis 0",
        );
    }
}

#[test]
fn zero_size_dimensions() {
    for dims in [[0usize, 3], [3, 0]] {
        let x = Tensor::zeros(dims, DType::F32).unwrap();
        assert_eq!(ops::softmax(&x, -1).unwrap().dims(), &dims);
        assert_eq!(ops::log_softmax(&x, 0).unwrap().dims(), &dims);
        assert_eq!(
            ops::l2_normalize(&x, Some(&[1]), 1e-12).unwrap().dims(),
            &dims
        );
    }
    let (loss, bp) = ops::softmax_cross_entropy_with_logits_raw(
        &Tensor::zeros([0, 4], DType::F32).unwrap(),
        &Tensor::zeros([0, 4], DType::F32).unwrap(),
    )
    .unwrap();
    assert_eq!((loss.dims(), bp.dims()), (&[0][..], &[0, 4][..]));
    let (loss, _) = ops::sparse_softmax_cross_entropy_with_logits_raw(
        &Tensor::zeros([0, 4], DType::F32).unwrap(),
        &Tensor::zeros([0], DType::I32).unwrap(),
    )
    .unwrap();
    assert_eq!(loss.dims(), &[0]);
}

#[test]
fn huge_logits_stay_finite() {
    for dtype in [DType::F32, DType::F64] {
        let x = tensor_from_f64(&[1e4, -1e4, 0.0, 1e4, 1e4, -1e4], dtype, &[2, 3]);
        let s = ops::softmax(&x, -1).unwrap().to_f64_vec().unwrap();
        assert_eq!(s, vec![1.0, 0.0, 0.0, 0.5, 0.5, 0.0]);
        let l = ops::log_softmax(&x, -1).unwrap().to_f64_vec().unwrap();
        assert!(l.iter().all(|v| v.is_finite()), "{l:?}");
        assert_eq!(l[0], 0.0);
        assert_eq!(l[1], -2e4);
        let labels = tensor_from_f64(&[0.0, 1.0, 0.0, 0.5, 0.5, 0.0], dtype, &[2, 3]);
        let (loss, bp) = ops::softmax_cross_entropy_with_logits_raw(&x, &labels).unwrap();
        let loss = loss.to_f64_vec().unwrap();
        assert!(
            (loss[0] - 2e4).abs() < 1e-3 && (loss[1] - 2f64.ln()).abs() < 1e-6,
            "{loss:?}"
        );
        assert!(bp.to_f64_vec().unwrap().iter().all(|v| v.is_finite()));
        let idx = Tensor::from_vec(vec![1i32, 2], [2]).unwrap();
        let sl = ops::sparse_softmax_cross_entropy_with_logits(&idx, &x)
            .unwrap()
            .to_f64_vec()
            .unwrap();
        assert!(
            (sl[0] - 2e4).abs() < 1e-3 && (sl[1] - (2e4 + 2f64.ln())).abs() < 1e-2,
            "{sl:?}"
        );
    }
}

fn xent_ref(f: &[f64], l: &[f64], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let sm = softmax_ref(f, &[rows, cols], 1, false);
    let lsm = softmax_ref(f, &[rows, cols], 1, true);
    let loss = (0..rows)
        .map(|i| {
            (0..cols)
                .map(|j| -l[i * cols + j] * lsm[i * cols + j])
                .sum()
        })
        .collect();
    let bp = sm.iter().zip(l).map(|(s, y)| s - y).collect();
    (loss, bp)
}

#[test]
fn softmax_cross_entropy_matches_reference_and_backprop_is_softmax_minus_labels() {
    let mut r = rng(3);
    for dtype in FLOATS {
        for _ in 0..4 {
            let (rows, cols) = (r.random_range(1..6), r.random_range(1..7));
            let f = random_tensor(&mut r, dtype, &[rows, cols]);
            let raw: Vec<f64> = (0..rows * cols).map(|_| r.random_range(0.0..1.0)).collect();
            let labels = tensor_from_f64(&raw, dtype, &[rows, cols]);
            let (fv, lv) = (f.to_f64_vec().unwrap(), labels.to_f64_vec().unwrap());
            let (want_loss, want_bp) = xent_ref(&fv, &lv, rows, cols);
            for (a, fl) in layouts(&f).iter().enumerate() {
                for (b, ll) in layouts(&labels).iter().enumerate() {
                    let what = format!("{dtype} [{rows},{cols}] layouts {a}/{b}");
                    let (loss, bp) = ops::softmax_cross_entropy_with_logits_raw(fl, ll).unwrap();
                    assert_close(
                        &loss,
                        &want_loss,
                        &[rows],
                        rtol(dtype) * 4.0,
                        atol(dtype) * 10.0,
                        &what,
                    );
                    assert_close(
                        &bp,
                        &want_bp,
                        &[rows, cols],
                        rtol(dtype),
                        atol(dtype) * 10.0,
                        &what,
                    );
                    let pub_loss = ops::softmax_cross_entropy_with_logits(ll, fl).unwrap();
                    assert_eq!(pub_loss.to_f64_vec().unwrap(), loss.to_f64_vec().unwrap());
                }
            }
            // Backprop equals softmax - labels as computed by the ops themselves.
            if dtype == DType::F64 {
                let (_, bp) = ops::softmax_cross_entropy_with_logits_raw(&f, &labels).unwrap();
                let sm = ops::softmax(&f, -1).unwrap().to_f64_vec().unwrap();
                let want: Vec<f64> = sm.iter().zip(&lv).map(|(s, y)| s - y).collect();
                assert_close(
                    &bp,
                    &want,
                    &[rows, cols],
                    1e-14,
                    1e-15,
                    "bp = softmax - labels",
                );
            }
        }
    }
    // Broadcasting labels: [1, C] and [C] against [B, C].
    let f = random_tensor(&mut r, DType::F32, &[3, 4]);
    let l1 = tensor_from_f64(&[0.1, 0.2, 0.3, 0.4], DType::F32, &[1, 4]);
    let lfull = tensor_from_f64(&[0.1, 0.2, 0.3, 0.4].repeat(3), DType::F32, &[3, 4]);
    let (want_loss, want_bp) =
        xent_ref(&f.to_f64_vec().unwrap(), &lfull.to_f64_vec().unwrap(), 3, 4);
    let (loss, bp) = ops::softmax_cross_entropy_with_logits_raw(&f, &l1).unwrap();
    assert_close(&loss, &want_loss, &[3], 1e-5, 1e-6, "broadcast labels");
    assert_close(&bp, &want_bp, &[3, 4], 1e-5, 1e-6, "broadcast labels");
    // Higher rank through the public function: loss shaped like logits[:-1].
    let f3 = random_tensor(&mut r, DType::F64, &[2, 3, 4]);
    let l3 = tensor_from_f64(&[0.25; 24], DType::F64, &[2, 3, 4]);
    let (want, _) = xent_ref(&f3.to_f64_vec().unwrap(), &l3.to_f64_vec().unwrap(), 6, 4);
    let got = ops::softmax_cross_entropy_with_logits(&l3, &f3).unwrap();
    assert_close(&got, &want, &[2, 3], 1e-12, 1e-14, "rank 3");
    let got = ops::softmax_cross_entropy_with_logits(
        &tensor_from_f64(&[0.0, 1.0], DType::F32, &[2]),
        &tensor_from_f64(&[0.0, 0.0], DType::F32, &[2]),
    )
    .unwrap();
    assert_eq!(got.rank(), 0);
    assert!((got.scalar::<f32>().unwrap() - std::f32::consts::LN_2).abs() < 1e-6);
}

#[test]
fn sparse_softmax_cross_entropy_matches_reference() {
    let mut r = rng(4);
    for dtype in FLOATS {
        for label_dtype in [DType::I32, DType::I64] {
            let (rows, cols) = (r.random_range(1..7), r.random_range(1..9));
            let f = random_tensor(&mut r, dtype, &[rows, cols]);
            let idx: Vec<f64> = (0..rows).map(|_| r.random_range(0..cols) as f64).collect();
            let labels = tensor_from_f64(&idx, label_dtype, &[rows]);
            let mut onehot = vec![0.0; rows * cols];
            for (i, &c) in idx.iter().enumerate() {
                onehot[i * cols + c as usize] = 1.0;
            }
            let (want_loss, want_bp) = xent_ref(&f.to_f64_vec().unwrap(), &onehot, rows, cols);
            for (li, fl) in layouts(&f).iter().enumerate() {
                let what = format!("{dtype}/{label_dtype} [{rows},{cols}] layout {li}");
                let (loss, bp) =
                    ops::sparse_softmax_cross_entropy_with_logits_raw(fl, &labels).unwrap();
                assert_close(
                    &loss,
                    &want_loss,
                    &[rows],
                    rtol(dtype) * 4.0,
                    atol(dtype) * 10.0,
                    &what,
                );
                assert_close(
                    &bp,
                    &want_bp,
                    &[rows, cols],
                    rtol(dtype),
                    atol(dtype) * 10.0,
                    &what,
                );
                assert_eq!(
                    ops::sparse_softmax_cross_entropy_with_logits(&labels, fl)
                        .unwrap()
                        .to_f64_vec()
                        .unwrap(),
                    loss.to_f64_vec().unwrap()
                );
            }
        }
    }
    // Rank 3 logits / rank 2 labels, large enough to run in parallel.
    let f = random_tensor(&mut r, DType::F32, &[4, 50, 200]);
    let idx: Vec<f64> = (0..200).map(|i| (i * 7 % 200) as f64).collect();
    let labels = tensor_from_f64(&idx, DType::I64, &[4, 50]);
    let mut onehot = vec![0.0; 200 * 200];
    for (i, &c) in idx.iter().enumerate() {
        onehot[i * 200 + c as usize] = 1.0;
    }
    let (want, _) = xent_ref(&f.to_f64_vec().unwrap(), &onehot, 200, 200);
    let got = ops::sparse_softmax_cross_entropy_with_logits(&labels, &f).unwrap();
    assert_close(&got, &want, &[4, 50], 1e-5, 1e-5, "rank 3 sparse");
}

fn l2_ref(x: &[f64], dims: &[usize], axes: &[usize], eps: f64) -> Vec<f64> {
    let strides = tf_core::Shape::new(dims).contiguous_strides();
    let key = |i: usize| -> Vec<usize> {
        (0..dims.len())
            .map(|d| {
                if axes.contains(&d) {
                    0
                } else {
                    (i / strides[d]) % dims[d]
                }
            })
            .collect()
    };
    let mut sums = std::collections::HashMap::new();
    for (i, v) in x.iter().enumerate() {
        *sums.entry(key(i)).or_insert(0.0) += v * v;
    }
    x.iter()
        .enumerate()
        .map(|(i, v)| v / sums[&key(i)].max(eps).sqrt())
        .collect()
}

#[test]
fn l2_normalize_matches_reference() {
    let mut r = rng(5);
    for dtype in FLOATS {
        for _ in 0..5 {
            let dims = random_dims(&mut r, 1);
            let t = random_tensor(&mut r, dtype, &dims);
            let x = t.to_f64_vec().unwrap();
            let rank = dims.len();
            let a = r.random_range(0..rank);
            let mut cases: Vec<Vec<usize>> = vec![vec![rank - 1], vec![a], (0..rank).collect()];
            if rank >= 2 {
                cases.push(vec![0, rank - 1]);
            }
            for axes in cases {
                let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
                let want = l2_ref(&x, &dims, &axes, 1e-12);
                for (li, v) in layouts(&t).iter().enumerate() {
                    let got = ops::l2_normalize(v, Some(&ax), 1e-12).unwrap();
                    let what = format!("{dtype} {dims:?} axes {axes:?} layout {li}");
                    assert_close(&got, &want, &dims, rtol(dtype), atol(dtype), &what);
                }
            }
        }
    }
    // Epsilon floors the norm; all axes by default; rank 0.
    let z = Tensor::from_vec(vec![0.0f32, 1e-8], [2]).unwrap();
    assert_eq!(
        ops::l2_normalize(&z, None, 1e-12)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0, 1e-2]
    );
    let s = Tensor::from_scalar(-2.0f64);
    assert_eq!(
        ops::l2_normalize(&s, None, 1e-12)
            .unwrap()
            .scalar::<f64>()
            .unwrap(),
        -1.0
    );
}

fn bn_ref(
    x: &[f64],
    c: usize,
    m: &[f64],
    v: &[f64],
    o: Option<&[f64]>,
    s: Option<&[f64]>,
    eps: f64,
) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &xv)| {
            let j = i % c;
            let mut inv = 1.0 / (v[j] + eps).sqrt();
            if let Some(s) = s {
                inv *= s[j];
            }
            xv * inv + o.map_or(0.0, |o| o[j]) - m[j] * inv
        })
        .collect()
}

#[test]
fn batch_normalization_matches_reference() {
    let mut r = rng(6);
    for dtype in FLOATS {
        for _ in 0..4 {
            let dims = random_dims(&mut r, 1);
            let c = *dims.last().unwrap();
            let t = random_tensor(&mut r, dtype, &dims);
            let vals = |r: &mut rand::rngs::StdRng, lo: f64| -> Vec<f64> {
                (0..c).map(|_| r.random_range(lo..2.0)).collect()
            };
            let (m, v, o, s) = (
                vals(&mut r, -1.0),
                vals(&mut r, 0.1),
                vals(&mut r, -1.0),
                vals(&mut r, 0.5),
            );
            let p = |v: &[f64]| tensor_from_f64(v, dtype, &[c]);
            let (pm, pv, po, ps) = (p(&m), p(&v), p(&o), p(&s));
            let x = t.to_f64_vec().unwrap();
            let rd = |v: &[f64]| common::round_to(dtype, v);
            for (li, xl) in layouts(&t).iter().enumerate() {
                for (with_o, with_s) in [(true, true), (false, false), (true, false), (false, true)]
                {
                    let got = ops::batch_normalization(
                        xl,
                        &pm,
                        &pv,
                        with_o.then_some(&po),
                        with_s.then_some(&ps),
                        1e-3,
                    )
                    .unwrap();
                    let want = bn_ref(
                        &x,
                        c,
                        &rd(&m),
                        &rd(&v),
                        with_o.then_some(&rd(&o)[..]),
                        with_s.then_some(&rd(&s)[..]),
                        1e-3,
                    );
                    let what =
                        format!("{dtype} {dims:?} layout {li} offset {with_o} scale {with_s}");
                    assert_close(
                        &got,
                        &want,
                        &dims,
                        rtol(dtype) * 4.0,
                        atol(dtype) * 40.0,
                        &what,
                    );
                }
            }
        }
    }
    // General broadcasting: per-row statistics [B, 1] and full-shape parameters.
    let x = random_tensor(&mut r, DType::F64, &[3, 4]);
    let m = tensor_from_f64(&[0.5, -0.5, 1.0], DType::F64, &[3, 1]);
    let v = tensor_from_f64(&[1.0; 12], DType::F64, &[3, 4]);
    let got = ops::batch_normalization(&x, &m, &v, None, None, 0.0).unwrap();
    let xv = x.to_f64_vec().unwrap();
    let want: Vec<f64> = xv
        .iter()
        .enumerate()
        .map(|(i, &a)| a - [0.5, -0.5, 1.0][i / 4])
        .collect();
    assert_close(&got, &want, &[3, 4], 1e-12, 1e-12, "broadcast [3,1]");
}

#[test]
fn fused_batch_norm_inference_matches_batch_normalization() {
    let mut r = rng(7);
    let x = random_tensor(&mut r, DType::F32, &[2, 3, 2, 4]);
    let p = |r: &mut rand::rngs::StdRng, lo: f64| {
        tensor_from_f64(
            &(0..4).map(|_| r.random_range(lo..2.0)).collect::<Vec<_>>(),
            DType::F32,
            &[4],
        )
    };
    let (s, o, m, v) = (
        p(&mut r, 0.5),
        p(&mut r, -1.0),
        p(&mut r, -1.0),
        p(&mut r, 0.1),
    );
    let want = ops::batch_normalization(&x, &m, &v, Some(&o), Some(&s), 1e-3).unwrap();
    let got = ops::fused_batch_norm_inference(&x, &s, &o, &m, &v, 1e-3, "NHWC").unwrap();
    assert_close(
        &got,
        &want.to_f64_vec().unwrap(),
        &[2, 3, 2, 4],
        1e-6,
        1e-6,
        "NHWC",
    );
    // NCHW: channels on axis 1.
    let xc = random_tensor(&mut r, DType::F32, &[2, 4, 3, 2]);
    let got = ops::fused_batch_norm_inference(&xc, &s, &o, &m, &v, 1e-3, "NCHW").unwrap();
    let xv = xc.to_f64_vec().unwrap();
    let (sv, ov, mv, vv) = (
        s.to_f64_vec().unwrap(),
        o.to_f64_vec().unwrap(),
        m.to_f64_vec().unwrap(),
        v.to_f64_vec().unwrap(),
    );
    let want: Vec<f64> = xv
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let c = (i / 6) % 4;
            (a - mv[c]) * sv[c] / (vv[c] + 1e-3).sqrt() + ov[c]
        })
        .collect();
    assert_close(&got, &want, &[2, 4, 3, 2], 1e-5, 1e-5, "NCHW");
    let e = ops::fused_batch_norm_inference(&xc, &s, &o, &m, &v, 1e-3, "NHWC")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("FusedBatchNormV3") && e.contains("[2,4,3,2]"),
        "{e}"
    );
}

#[test]
fn dropout_keeps_the_right_fraction_and_scales_exactly() {
    let x = Tensor::ones([100_000], DType::F32).unwrap();
    for rate in [0.1, 0.5, 0.9] {
        let (y, mask) = ops::dropout_with_mask(&x, rate, None, Some(3)).unwrap();
        let scale = (1.0 / (1.0 - rate)) as f32;
        let y = y.to_vec::<f32>().unwrap();
        assert!(y.iter().all(|&v| v == 0.0 || v == scale));
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / 1e5;
        assert!(
            (kept - (1.0 - rate)).abs() < 0.01,
            "rate {rate}: kept {kept}"
        );
        assert_eq!(mask.to_vec::<f32>().unwrap(), y);
    }
    // Values are scaled, not replaced; every float dtype.
    let mut r = rng(8);
    for dtype in FLOATS {
        let t = random_tensor(&mut r, dtype, &[6, 7]);
        for (li, v) in layouts(&t).iter().enumerate() {
            let (y, mask) = ops::dropout_with_mask(v, 0.25, None, Some(1)).unwrap();
            let (xv, mv) = (t.to_f64_vec().unwrap(), mask.to_f64_vec().unwrap());
            let want: Vec<f64> = common::round_to(
                dtype,
                &xv.iter().zip(&mv).map(|(a, m)| a * m).collect::<Vec<_>>(),
            );
            assert_close(
                &y,
                &want,
                &[6, 7],
                rtol(dtype),
                0.0,
                &format!("{dtype} layout {li}"),
            );
            let s = common::round_to(dtype, &[1.0 / 0.75])[0];
            assert!(mv.iter().all(|&m| m == 0.0 || m == s));
        }
    }
    // rate 0 is the identity.
    let t = random_tensor(&mut r, DType::F32, &[3, 2]);
    let y = ops::dropout(&t, 0.0, None, None).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), t.to_vec::<f32>().unwrap());
    assert_ne!(y.id(), t.id());
}

#[test]
fn dropout_noise_shape_broadcasts() {
    let x = Tensor::ones([8, 5], DType::F32).unwrap();
    let (y, mask) = ops::dropout_with_mask(&x, 0.5, Some(&[8, 1]), Some(4)).unwrap();
    assert_eq!(mask.dims(), &[8, 1]);
    let y = y.to_vec::<f32>().unwrap();
    let m = mask.to_vec::<f32>().unwrap();
    for i in 0..8 {
        assert!(
            y[i * 5..(i + 1) * 5].iter().all(|&v| v == m[i]),
            "row {i}: {y:?}"
        );
    }
    // -1 takes x's dimension; a lower-rank noise shape aligns from the right.
    let (_, mask) = ops::dropout_with_mask(&x, 0.5, Some(&[-1, 1]), Some(4)).unwrap();
    assert_eq!(mask.dims(), &[8, 1]);
    let (y, mask) = ops::dropout_with_mask(&x, 0.5, Some(&[5]), Some(4)).unwrap();
    assert_eq!(mask.dims(), &[5]);
    let y = y.to_vec::<f32>().unwrap();
    assert!((0..8).all(|i| y[i * 5..(i + 1) * 5] == y[..5]));
}

#[test]
fn dropout_is_reproducible_with_seeds_and_matches_tensorflow() {
    let x = Tensor::ones([10], DType::F32).unwrap();
    // TensorFlow 2.21: tf.random.set_seed(5); tf.nn.dropout(tf.ones([10]), 0.5, seed=2)
    ops::set_random_seed(5);
    let y = ops::dropout(&x, 0.5, None, Some(2)).unwrap();
    assert_eq!(
        y.to_vec::<f32>().unwrap(),
        [0.0, 0.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]
    );
    // then tf.nn.dropout(tf.ones([3, 4]), 0.3, noise_shape=[3, 1], seed=2)
    let y = ops::dropout(
        &Tensor::ones([3, 4], DType::F32).unwrap(),
        0.3,
        Some(&[3, 1]),
        Some(2),
    )
    .unwrap();
    let s = (1.0f64 / 0.7) as f32;
    assert_eq!(
        y.to_vec::<f32>().unwrap(),
        [[0.0; 4], [s; 4], [s; 4]].concat()
    );
    // Same program twice, global seed only: same masks.
    let run = || {
        ops::set_random_seed(11);
        let a = ops::dropout(&x, 0.5, None, None)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let b = ops::dropout(&x, 0.5, None, None)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        (a, b)
    };
    let (a1, b1) = run();
    let (a2, b2) = run();
    assert_eq!((&a1, &b1), (&a2, &b2));
    let big = Tensor::ones([1000], DType::F32).unwrap();
    ops::set_random_seed(11);
    let c = ops::dropout(&big, 0.5, None, None)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let d = ops::dropout(&big, 0.5, None, None)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_ne!(c, d, "successive calls draw new masks");
}

#[test]
fn errors_name_the_op_and_the_problem() {
    let x = Tensor::ones([2, 3], DType::F32).unwrap();
    // Bad rate.
    for rate in [-0.1, 1.0, f64::NAN] {
        let e = ops::dropout(&x, rate, None, None).unwrap_err().to_string();
        assert!(e.contains("Dropout") && e.contains("rate"), "{e}");
    }
    // Noise shape that does not broadcast.
    let e = ops::dropout(&x, 0.5, Some(&[2, 2]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("noise_shape") && e.contains("[2,3]"), "{e}");
    // Label out of range: names the value and the class count.
    let labels = Tensor::from_vec(vec![0i32, 3], [2]).unwrap();
    let e = ops::sparse_softmax_cross_entropy_with_logits(&labels, &x).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("SparseSoftmaxCrossEntropyWithLogits")
            && msg.contains("label value of 3")
            && msg.contains("[0, 3)"),
        "{msg}"
    );
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    let neg = Tensor::from_vec(vec![-1i64, 0], [2]).unwrap();
    let msg = ops::sparse_softmax_cross_entropy_with_logits(&neg, &x)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("label value of -1"), "{msg}");
    // Shape mismatches name both shapes.
    let l = Tensor::ones([3, 3], DType::F32).unwrap();
    let msg = ops::softmax_cross_entropy_with_logits(&l, &x)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("SoftmaxCrossEntropyWithLogits")
            && msg.contains("[2,3]")
            && msg.contains("[3,3]"),
        "{msg}"
    );
    let l3 = Tensor::from_vec(vec![0i32; 3], [3]).unwrap();
    let msg = ops::sparse_softmax_cross_entropy_with_logits(&l3, &x)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("[3]") && msg.contains("[2,3]"), "{msg}");
    let msg = ops::sparse_softmax_cross_entropy_with_logits(&x, &x)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("Rank mismatch"), "{msg}");
    let msg = ops::batch_normalization(
        &x,
        &Tensor::ones([4], DType::F32).unwrap(),
        &Tensor::ones([3], DType::F32).unwrap(),
        None,
        None,
        1e-3,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("BatchNormalization") && msg.contains("[4]") && msg.contains("[2,3]"),
        "{msg}"
    );
    // Bad dtypes.
    let xi = Tensor::ones([2, 3], DType::I32).unwrap();
    let msg = ops::softmax(&xi, -1).unwrap_err().to_string();
    assert!(msg.contains("Softmax") && msg.contains("int32"), "{msg}");
    let msg =
        ops::sparse_softmax_cross_entropy_with_logits(&Tensor::ones([2], DType::F32).unwrap(), &x)
            .unwrap_err()
            .to_string();
    assert!(msg.contains("float32") && msg.contains("input 1"), "{msg}");
    let msg =
        ops::softmax_cross_entropy_with_logits(&Tensor::ones([2, 3], DType::F64).unwrap(), &x)
            .unwrap_err()
            .to_string();
    assert!(msg.contains("float64") && msg.contains("float32"), "{msg}");
    assert!(ops::dropout(&xi, 0.5, None, None).is_err());
    assert!(ops::l2_normalize(&xi, None, 1e-12).is_err());
    // Bad axes and ranks.
    let msg = ops::softmax(&x, 2).unwrap_err().to_string();
    assert!(msg.contains("Softmax") && msg.contains("axis 2"), "{msg}");
    let msg = ops::softmax(&Tensor::from_scalar(1.0f32), -1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains(">= 1 dimension"), "{msg}");
    let msg = ops::l2_normalize(&x, Some(&[1, -1]), 1e-12)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("L2Normalize") && msg.contains("twice"),
        "{msg}"
    );
    let msg = ops::sparse_softmax_cross_entropy_with_logits_raw(
        &Tensor::ones([2, 0], DType::F32).unwrap(),
        &Tensor::from_vec(vec![0i32, 0], [2]).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("at least one class") && msg.contains("[2,0]"),
        "{msg}"
    );
}

#[test]
fn shape_inference_keeps_unknown_dimensions() {
    use std::sync::Arc;
    use tf_core::PartialShape;
    use tf_core::op::{Attrs, InferContext, OpDef};
    let sym = |dt: DType, dims: &[Option<usize>]| {
        Tensor::symbolic(dt, PartialShape::new(dims), Arc::new(()))
    };
    let infer = |op: &'static OpDef, inputs: &[Tensor], attrs: &Attrs| -> Vec<String> {
        (op.infer)(&InferContext { op, inputs, attrs })
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let x = sym(DType::F32, &[None, Some(10)]);
    assert_eq!(
        infer(
            &ops::SOFTMAX,
            std::slice::from_ref(&x),
            &Attrs::new().with("axis", 0i64)
        ),
        ["float32[?,10]"]
    );
    let labels = sym(DType::F32, &[Some(1), Some(10)]);
    assert_eq!(
        infer(
            &ops::SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
            &[x.clone(), labels],
            &Attrs::new()
        ),
        ["float32[?]", "float32[?,10]"]
    );
    let idx = sym(DType::I64, &[None]);
    assert_eq!(
        infer(
            &ops::SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
            &[x.clone(), idx],
            &Attrs::new()
        ),
        ["float32[?]", "float32[?,10]"]
    );
    let idx4 = sym(DType::I32, &[Some(4)]);
    assert_eq!(
        infer(
            &ops::SPARSE_SOFTMAX_CROSS_ENTROPY_WITH_LOGITS,
            &[x.clone(), idx4],
            &Attrs::new()
        ),
        ["float32[4]", "float32[4,10]"]
    );
    let attrs = Attrs::new()
        .with("rate", 0.5)
        .with("seed", 0i64)
        .with("seed2", 0i64)
        .with("noise_shape", vec![-1i64, 1]);
    assert_eq!(
        infer(&ops::DROPOUT, std::slice::from_ref(&x), &attrs),
        ["float32[?,10]", "float32[?,1]"]
    );
    let mean = sym(DType::F32, &[Some(10)]);
    let attrs = Attrs::new().with("variance_epsilon", 1e-3);
    assert_eq!(
        infer(
            &ops::BATCH_NORMALIZATION,
            &[x.clone(), mean.clone(), mean],
            &attrs
        ),
        ["float32[?,10]"]
    );
    let attrs = Attrs::new().with("axis", vec![1i64]).with("epsilon", 1e-12);
    assert_eq!(infer(&ops::L2_NORMALIZE, &[x], &attrs), ["float32[?,10]"]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// A shape that broadcasts to `[r, c]`: one of its rank-2 or rank-1 variants.
    fn variant(r: usize, c: usize, k: u8) -> Vec<usize> {
        match k % 5 {
            0 => vec![r, c],
            1 => vec![1, c],
            2 => vec![r, 1],
            3 => vec![c],
            _ => vec![1, 1],
        }
    }

    fn broadcast_to(v: &[f64], dims: &[usize], r: usize, c: usize) -> Vec<f64> {
        let (dr, dc) = match dims {
            [a, b] => (*a, *b),
            [b] => (1, *b),
            _ => (1, 1),
        };
        (0..r * c)
            .map(|i| v[(if dr == 1 { 0 } else { i / c }) * dc + if dc == 1 { 0 } else { i % c }])
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn dense_xent_broadcasts_like_tensorflow(r in 1usize..4, c in 1usize..5, kf in any::<u8>(), kl in any::<u8>(), seed in any::<u64>()) {
            let mut g = rng(seed);
            let (fd, ld) = (variant(r, c, kf), variant(r, c, kl));
            let f = random_tensor(&mut g, DType::F64, &fd);
            let l = random_tensor(&mut g, DType::F64, &ld);
            let res = ops::softmax_cross_entropy_with_logits_raw(&f, &l);
            let out_rank2 = fd.len() == 2 || ld.len() == 2;
            if !out_rank2 {
                prop_assert!(res.is_err());
                return Ok(());
            }
            let (loss, bp) = res.unwrap();
            // The broadcast shape, as TensorFlow computes it.
            let bshape = tf_core::shape::broadcast_shapes("x", &fd, &ld).unwrap();
            let (br, bc) = (bshape[0], bshape[1]);
            let fv = broadcast_to(&f.to_f64_vec().unwrap(), &fd, br, bc);
            let lv = broadcast_to(&l.to_f64_vec().unwrap(), &ld, br, bc);
            let (wl, wb) = xent_ref(&fv, &lv, br, bc);
            assert_close(&loss, &wl, &[br], 1e-12, 1e-12, "loss");
            assert_close(&bp, &wb, &[br, bc], 1e-12, 1e-12, "backprop");
        }

        #[test]
        fn dropout_noise_shape_property(dims in common::strategies::dims(), pick in any::<u16>(), seed in 0u64..1000) {
            // Each noise dimension is x's, 1, or -1 (x's); sometimes drop leading dims.
            let mut noise: Vec<i64> = dims.iter().enumerate().map(|(i, &d)| match (pick >> (2 * i)) & 3 {
                0 => 1,
                1 => -1,
                _ => d as i64,
            }).collect();
            let drop = ((pick >> 12) as usize % 2).min(noise.len());
            noise.drain(..drop);
            let x = random_tensor(&mut rng(seed), DType::F32, &dims);
            let (y, mask) = ops::dropout_with_mask(&x, 0.4, Some(&noise), Some(seed)).unwrap();
            let want_mask: Vec<usize> = noise.iter().enumerate().map(|(i, &n)| if n == -1 { dims[drop + i] } else { n as usize }).collect();
            prop_assert_eq!(mask.dims(), &want_mask[..]);
            prop_assert_eq!(y.dims(), &dims[..]);
            // y[i] = x[i] * mask[broadcast index of i].
            let (xv, mv, yv) = (x.to_f64_vec().unwrap(), mask.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
            let xs = tf_core::Shape::new(&dims).contiguous_strides();
            let ms = tf_core::Shape::new(&want_mask).contiguous_strides();
            for i in 0..xv.len() {
                let mut mi = 0;
                for (k, &md) in want_mask.iter().enumerate() {
                    let d = drop + k;
                    let idx = (i / xs[d]) % dims[d];
                    mi += if md == 1 { 0 } else { idx * ms[k] };
                }
                prop_assert_eq!(yv[i], ((xv[i] as f32) * (mv[mi] as f32)) as f64);
            }
        }
    }
}

/// Naive training-mode batch norm over every axis but `axis`: `(y, mean, biased var)`.
fn naive_bn_training(
    x: &[f64],
    dims: &[usize],
    axis: usize,
    scale: &[f64],
    offset: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let inner: usize = dims[axis + 1..].iter().product();
    let c = dims[axis];
    let ch = |i: usize| (i / inner) % c;
    let n = (x.len() / c) as f64;
    let mut mean = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        mean[ch(i)] += v / n;
    }
    let mut var = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        var[ch(i)] += (v - mean[ch(i)]).powi(2) / n;
    }
    let y = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let k = ch(i);
            (v - mean[k]) / (var[k] + eps).sqrt() * scale[k] + offset[k]
        })
        .collect();
    (y, mean, var)
}

#[test]
fn fused_batch_norm_training_uses_batch_statistics() {
    let mut r = rng(8);
    for (fmt, dims, axis) in [
        ("NHWC", [2usize, 3, 2, 4], 3usize),
        ("NCHW", [2, 4, 3, 2], 1),
    ] {
        for dt in [DType::F64, DType::F32] {
            let u = if dt == DType::F64 {
                DType::F64
            } else {
                DType::F32
            };
            let x = random_tensor(&mut r, dt, &dims);
            let sv: Vec<f64> = (0..4).map(|_| r.random_range(0.5..2.0)).collect();
            let ov: Vec<f64> = (0..4).map(|_| r.random_range(-1.0..1.0)).collect();
            let (s, o) = (tensor_from_f64(&sv, u, &[4]), tensor_from_f64(&ov, u, &[4]));
            let xv = x.to_f64_vec().unwrap();
            let (y, mean, var) = naive_bn_training(&xv, &dims, axis, &sv, &ov, 1e-3);
            let n = (xv.len() / 4) as f64;
            let t = rtol(dt) * 10.0;
            for xl in layouts(&x) {
                let (gy, gm, gv) =
                    ops::fused_batch_norm_training(&xl, &s, &o, None, 1e-3, 1.0, fmt).unwrap();
                assert_close(&gy, &y, &dims, t, t, &format!("{fmt} {dt} y"));
                assert_close(&gm, &mean, &[4], t, t, &format!("{fmt} {dt} mean"));
                let unbiased: Vec<f64> = var.iter().map(|v| v * n / (n - 1.0)).collect();
                assert_close(&gv, &unbiased, &[4], t, t, &format!("{fmt} {dt} variance"));
            }
            // Running averages and the reserve spaces (batch mean, biased variance).
            let old_m = tensor_from_f64(&[0.5; 4], u, &[4]);
            let old_v = tensor_from_f64(&[2.0; 4], u, &[4]);
            let out = tf_core::op::call(
                &ops::FUSED_BATCH_NORM_V3,
                &[x.clone(), s.clone(), o.clone(), old_m, old_v],
                &tf_core::op::Attrs::new()
                    .with("epsilon", 1e-3)
                    .with("exponential_avg_factor", 0.25)
                    .with("data_format", fmt),
            )
            .unwrap();
            assert_eq!(out.len(), 6);
            let run_m: Vec<f64> = mean.iter().map(|m| 0.75 * 0.5 + 0.25 * m).collect();
            let run_v: Vec<f64> = var
                .iter()
                .map(|v| 0.75 * 2.0 + 0.25 * v * n / (n - 1.0))
                .collect();
            assert_close(&out[0], &y, &dims, t, t, "y with running averages");
            assert_close(&out[1], &run_m, &[4], t, t, "running mean");
            assert_close(&out[2], &run_v, &[4], t, t, "running variance");
            assert_close(&out[3], &mean, &[4], t, t, "reserve_space_1");
            assert_close(&out[4], &var, &[4], t, t, "reserve_space_2");
            assert_eq!(out[5].dims(), &[0]);
        }
    }
    // A factor other than 1 needs the running statistics.
    let x = Tensor::zeros([1, 2, 2, 3], DType::F32).unwrap();
    let p = Tensor::ones([3], DType::F32).unwrap();
    let e = ops::fused_batch_norm_training(&x, &p, &p, None, 1e-3, 0.5, "NHWC")
        .unwrap_err()
        .to_string();
    assert!(e.contains("FusedBatchNormV3") && e.contains("mean"), "{e}");
}

/// Naive FusedBatchNormGradV3 over every axis but `axis`: `(dx, dscale, doffset)`.
#[allow(clippy::too_many_arguments)]
fn naive_bn_grad(
    g: &[f64],
    x: &[f64],
    dims: &[usize],
    axis: usize,
    scale: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
    training: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let inner: usize = dims[axis + 1..].iter().product();
    let c = dims[axis];
    let ch = |i: usize| (i / inner) % c;
    let n = (x.len() / c) as f64;
    let inv: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let xhat = |i: usize| (x[i] - mean[ch(i)]) * inv[ch(i)];
    let (mut sg, mut sgx) = (vec![0.0; c], vec![0.0; c]);
    for i in 0..x.len() {
        sg[ch(i)] += g[i];
        sgx[ch(i)] += g[i] * xhat(i);
    }
    let dx = (0..x.len())
        .map(|i| {
            let k = ch(i);
            if training {
                scale[k] * inv[k] * (g[i] - sg[k] / n - xhat(i) * sgx[k] / n)
            } else {
                g[i] * scale[k] * inv[k]
            }
        })
        .collect();
    (dx, sgx, sg)
}

#[test]
fn fused_batch_norm_grad_matches_the_formulas() {
    let mut r = rng(9);
    for (fmt, dims, axis) in [
        ("NHWC", [2usize, 3, 2, 4], 3usize),
        ("NCHW", [2, 4, 3, 2], 1),
        ("NHWC", [4, 16, 16, 4], 3),
    ] {
        for dt in [DType::F64, DType::F32, DType::BF16] {
            for training in [true, false] {
                let u = if dt == DType::F64 {
                    DType::F64
                } else {
                    DType::F32
                };
                let x = random_tensor(&mut r, dt, &dims);
                let g = random_tensor(&mut r, dt, &dims);
                let p = |r: &mut rand::rngs::StdRng, lo: f64| -> Vec<f64> {
                    (0..4).map(|_| r.random_range(lo..2.0)).collect()
                };
                let (sv, mv, vv) = (p(&mut r, 0.5), p(&mut r, -1.0), p(&mut r, 0.1));
                let (s, m, v) = (
                    tensor_from_f64(&sv, u, &[4]),
                    tensor_from_f64(&mv, u, &[4]),
                    tensor_from_f64(&vv, u, &[4]),
                );
                let (sv, mv, vv) = (
                    s.to_f64_vec().unwrap(),
                    m.to_f64_vec().unwrap(),
                    v.to_f64_vec().unwrap(),
                );
                let (gx, xv) = (g.to_f64_vec().unwrap(), x.to_f64_vec().unwrap());
                let eps = 1e-3;
                let eps_u = tensor_from_f64(&[eps], u, &[1]).to_f64_vec().unwrap()[0];
                let (dx, ds, db) =
                    naive_bn_grad(&gx, &xv, &dims, axis, &sv, &mv, &vv, eps_u, training);
                let t = rtol(dt) * 10.0;
                let what = format!("{fmt} {dt} training={training} {dims:?}");
                for (gl, xl) in layouts(&g).iter().zip(layouts(&x)) {
                    let (a, b, c) =
                        ops::fused_batch_norm_grad(gl, &xl, &s, &m, &v, eps, fmt, training)
                            .unwrap();
                    assert_close(&a, &round_to(dt, &dx), &dims, t, t * 10.0, &what);
                    assert_close(&b, &ds, &[4], t, t * 10.0, &what);
                    assert_close(&c, &db, &[4], t, t * 10.0, &what);
                }
            }
        }
    }
    let x = Tensor::zeros([1, 2, 2, 3], DType::F32).unwrap();
    let p = Tensor::ones([3], DType::F32).unwrap();
    let e = ops::fused_batch_norm_grad(
        &x,
        &x,
        &p,
        &p,
        &Tensor::ones([4], DType::F32).unwrap(),
        1e-3,
        "NHWC",
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("FusedBatchNormGradV3") && e.contains("reserve_space_2") && e.contains("[4]"),
        "{e}"
    );
    let e = ops::fused_batch_norm_grad(
        &Tensor::zeros([1, 2, 2, 4], DType::F32).unwrap(),
        &x,
        &p,
        &p,
        &p,
        1e-3,
        "NHWC",
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("FusedBatchNormGradV3") && e.contains("[1,2,2,4]"),
        "{e}"
    );
}
