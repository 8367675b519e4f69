//! Gradient-support ops: StopGradient, StridedSliceGrad, MirrorPadGrad and the unsorted
//! segment reductions against naive references (every layout, several dtypes), their
//! adjoint properties (⟨f(x), g⟩ = ⟨x, f*(g)⟩), shape inference with unknown
//! dimensions, large (parallel) outputs and error messages.

use super::strided_slice::{Entry, SliceSpec, random_slice_spec, spec_of};
use super::*;
use tf_core::Element;

/// Numeric dtypes (the accumulating ops do not take bool).
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

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| x * y).sum()
}

/// Asserts two inner products agree (exact for integers and small sums).
fn assert_adjoint(lhs: f64, rhs: f64, scale: f64, what: &str) {
    assert!(
        (lhs - rhs).abs() <= 1e-9 * scale.max(1.0),
        "{what}: <f(x), g> = {lhs} but <x, f*(g)> = {rhs}"
    );
}

/// An exact reference result as `dtype` stores it: integers wrap (the kernels' C++
/// arithmetic), floats round.
fn wrap_to(dtype: DType, v: f64) -> f64 {
    tf_core::with_dtype!(dtype, T => {
        if dtype.is_int() {
            <T as Element>::from_i64(v as i64).to_f64()
        } else {
            <T as Element>::from_f64(v).to_f64()
        }
    })
}

/// Asserts `actual` holds the sums `expected` (exact values) within the dtype's
/// rounding of the magnitudes `abs` that went into each (exact for integers, which
/// wrap).
fn assert_sums(actual: &Tensor, expected: &[f64], abs: &[f64], dims: &[usize], what: &str) {
    let dtype = actual.dtype();
    assert_eq!(actual.dims(), dims, "{what}: shape");
    let got = actual.to_f64_vec().unwrap();
    assert_eq!(got.len(), expected.len(), "{what}: element count");
    for (i, ((&g, &e), &a)) in got.iter().zip(expected).zip(abs).enumerate() {
        let want = wrap_to(dtype, e);
        let ok = if dtype.is_int() {
            g == want
        } else {
            (g - want).abs() <= tol(dtype) * a.max(e.abs())
        };
        assert!(
            ok,
            "{what}: element {i}: got {g}, expected {want} (exact {e})"
        );
    }
}

/// `t` with its dtype's values read back as f64 (what the kernels see).
fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

// ---------------------------------------------------------------- StopGradient

#[test]
fn stop_gradient_is_a_view_with_the_same_value() {
    let mut r = rng(70);
    for (case, dtype) in DTYPES.into_iter().enumerate() {
        let dims = random_dims(&mut r, case % 4, 3);
        let t = random_tensor(&mut r, dtype, &dims);
        let want = values(&t);
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = ops::stop_gradient(x).unwrap();
            check(
                &y,
                &want,
                &dims,
                &format!("stop_gradient {dtype} layout {k}"),
            );
            assert_eq!(y.dtype(), dtype);
            if x.num_elements() > 0 {
                assert!(y.shares_storage_with(x), "{dtype} layout {k}: copied");
            }
            assert_eq!((y.strides(), y.offset()), (x.strides(), x.offset()));
            assert_ne!(y.id(), x.id(), "a new tensor for tapes");
        }
    }
}

// ---------------------------------------------------------------- StridedSliceGrad

/// The reference gradient: zeros of `dims` with `dy[k]` at `spec.sources[k]`.
fn slice_grad_reference(spec: &SliceSpec, dims: &[usize], dy: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; dims.iter().product()];
    for (k, &s) in spec.sources.iter().enumerate() {
        dx[s] += dy[k];
    }
    dx
}

fn slice_grad(dy: &Tensor, dims: &[usize], spec: &SliceSpec) -> tf_core::Result<Tensor> {
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    ops::strided_slice_grad(
        dy,
        &shape,
        &spec.begin,
        &spec.end,
        &spec.strides,
        spec.masks,
    )
}

#[test]
fn strided_slice_grad_matches_reference() {
    let mut r = rng(71);
    for case in 0..150 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = case % 5;
        let dims = random_dims(&mut r, rank, 4);
        let spec = random_slice_spec(&mut r, &dims);
        let dy = random_tensor(&mut r, dtype, &spec.out_dims);
        let expected = slice_grad_reference(&spec, &dims, &values(&dy));
        for (k, g) in layouts(&dy).iter().enumerate() {
            let dx = slice_grad(g, &dims, &spec)
                .unwrap_or_else(|e| panic!("{dims:?} {:?}: {e}", spec.entries));
            check(
                &dx,
                &expected,
                &dims,
                &format!("{dtype} {dims:?} {:?} layout {k}", spec.entries),
            );
        }
    }
}

#[test]
fn strided_slice_grad_documented_cases() {
    // x[1:, ::-2] of a [3, 4] input.
    let dy = Tensor::from_vec(vec![1i32, 2, 3, 4], [2, 2]).unwrap();
    let m = SliceMasks {
        end_mask: 0b11,
        begin_mask: 0b10,
        ..Default::default()
    };
    let dx = ops::strided_slice_grad(&dy, &[3, 4], &[1, 0], &[0, 0], &[1, -2], m).unwrap();
    assert_eq!(
        dx.to_vec::<i32>().unwrap(),
        vec![0, 0, 0, 0, 0, 2, 0, 1, 0, 4, 0, 3]
    );
    // A scalar input under new axes: x[newaxis, ..., newaxis].
    let spec = spec_of(vec![Entry::NewAxis, Entry::Ellipsis, Entry::NewAxis], &[]);
    assert_eq!(spec.out_dims, vec![1, 1]);
    let dx = slice_grad(&Tensor::from_vec(vec![7.5f64], [1, 1]).unwrap(), &[], &spec).unwrap();
    assert_eq!(dx.dims(), &[] as &[usize]);
    assert_eq!(dx.scalar::<f64>().unwrap(), 7.5);
    // An empty selection: zeros of the input shape.
    let spec = spec_of(vec![Entry::Range(Some(3), Some(1), 1)], &[4, 2]);
    let dx = slice_grad(&Tensor::zeros([0, 2], DType::F32).unwrap(), &[4, 2], &spec).unwrap();
    assert_eq!(dx.to_vec::<f32>().unwrap(), vec![0.0; 8]);
    // A zero-size input.
    let spec = spec_of(vec![Entry::Ellipsis, Entry::Index(1)], &[0, 3]);
    let dx = slice_grad(&Tensor::zeros([0], DType::I8).unwrap(), &[0, 3], &spec).unwrap();
    assert_eq!(dx.dims(), &[0, 3]);
}

#[test]
fn strided_slice_grad_is_the_adjoint_of_strided_slice() {
    let mut r = rng(72);
    for case in 0..120 {
        let dtype = [DType::F64, DType::F32, DType::I32, DType::I64][case % 4];
        let rank = case % 5;
        let dims = random_dims(&mut r, rank, 4);
        let spec = random_slice_spec(&mut r, &dims);
        let x = random_tensor(&mut r, dtype, &dims);
        let g = random_tensor(&mut r, dtype, &spec.out_dims);
        let y = ops::strided_slice(&x, &spec.begin, &spec.end, &spec.strides, spec.masks).unwrap();
        for (k, gl) in layouts(&g).iter().enumerate() {
            let dx = slice_grad(gl, &dims, &spec).unwrap();
            assert_adjoint(
                dot(&y, &g),
                dot(&x, &dx),
                1e4,
                &format!("{dims:?} {:?} layout {k}", spec.entries),
            );
        }
    }
}

#[test]
fn strided_slice_grad_large_outputs_split_mid_row() {
    // 70k-element outputs are filled in parallel chunks that start inside rows.
    let dims = [7usize, 10_000];
    for (entries, dtype) in [
        (
            vec![Entry::Range(None, None, 2), Entry::Range(Some(3), None, 1)],
            DType::F32,
        ),
        (
            vec![
                Entry::Range(None, None, -1),
                Entry::Range(None, Some(5), -3),
            ],
            DType::I64,
        ),
        (
            vec![
                Entry::Index(-2),
                Entry::NewAxis,
                Entry::Range(Some(7), Some(9_000), 7),
            ],
            DType::F16,
        ),
    ] {
        let spec = spec_of(entries, &dims);
        let mut r = rng(73);
        let dy = random_tensor(&mut r, dtype, &spec.out_dims);
        let expected = slice_grad_reference(&spec, &dims, &values(&dy));
        for (k, g) in layouts(&dy).iter().enumerate() {
            let dx = slice_grad(g, &dims, &spec).unwrap();
            check(
                &dx,
                &expected,
                &dims,
                &format!("{:?} layout {k}", spec.entries),
            );
        }
    }
}

// ---------------------------------------------------------------- MirrorPadGrad

/// The reference gradient: every padded element added onto its source.
fn mirror_grad_reference(
    grad: &[f64],
    dims: &[usize],
    pads: &[[i64; 2]],
    mode: &str,
) -> (Vec<f64>, Vec<f64>) {
    let padded: Vec<usize> = dims
        .iter()
        .zip(pads)
        .map(|(&d, p)| d + p[0] as usize + p[1] as usize)
        .collect();
    let n: usize = dims.iter().product();
    let (mut sum, mut abs) = (vec![0.0; n], vec![0.0; n]);
    for (i, &g) in grad.iter().enumerate() {
        let o = unravel(i, &padded);
        let idx: Vec<usize> = o
            .iter()
            .zip(dims.iter().zip(pads))
            .map(|(&o, (&d, p))| super::pad_tile::pad_source(o, p[0] as usize, d, mode).unwrap())
            .collect();
        let at = ravel(&idx, dims);
        sum[at] += g;
        abs[at] += g.abs();
    }
    (sum, abs)
}

/// Random dimensions and paddings valid for `mode` (zero-size dimensions for
/// SYMMETRIC, which allows them with zero paddings).
fn random_mirror_case(r: &mut StdRng, rank: usize, mode: &str) -> (Vec<usize>, Vec<[i64; 2]>) {
    let dims: Vec<usize> = (0..rank)
        .map(|_| match mode {
            "SYMMETRIC" if r.random_bool(0.1) => 0,
            _ => r.random_range(1..5),
        })
        .collect();
    let pads = dims
        .iter()
        .map(|&d| {
            let max = if mode == "REFLECT" { d - 1 } else { d };
            [
                r.random_range(0..=max) as i64,
                r.random_range(0..=max) as i64,
            ]
        })
        .collect();
    (dims, pads)
}

fn padded_dims(dims: &[usize], pads: &[[i64; 2]]) -> Vec<usize> {
    dims.iter()
        .zip(pads)
        .map(|(&d, p)| d + (p[0] + p[1]) as usize)
        .collect()
}

#[test]
fn mirror_pad_grad_matches_reference() {
    let mut r = rng(74);
    for case in 0..96 {
        let dtype = NUMERIC[case % NUMERIC.len()];
        let mode = ["REFLECT", "SYMMETRIC"][case / NUMERIC.len() % 2];
        let (dims, pads) = random_mirror_case(&mut r, case % 5, mode);
        let pdims = padded_dims(&dims, &pads);
        let g = random_tensor(&mut r, dtype, &pdims);
        let (expected, abs) = mirror_grad_reference(&values(&g), &dims, &pads, mode);
        for (k, gl) in layouts(&g).iter().enumerate() {
            let dx = ops::mirror_pad_grad(gl, &pads, mode).unwrap();
            assert_eq!(dx.dtype(), dtype);
            assert_sums(
                &dx,
                &expected,
                &abs,
                &dims,
                &format!("{mode} {dtype} {dims:?} {pads:?} layout {k}"),
            );
        }
    }
    // The documented example and lowercase modes.
    let g = Tensor::vector(&[1.0f32, 10.0, 100.0, 1000.0, 10000.0, 100000.0]);
    let dx = ops::mirror_pad_grad(&g, &[[2, 1]], "reflect").unwrap();
    assert_eq!(dx.to_vec::<f32>().unwrap(), vec![100.0, 101010.0, 10001.0]);
    let dx = ops::mirror_pad_grad(&g, &[[2, 1]], "symmetric").unwrap();
    // SYMMETRIC [a, b, c] by (2, 1): [b, a, a, b, c, c].
    assert_eq!(dx.to_vec::<f32>().unwrap(), vec![110.0, 1001.0, 110000.0]);
}

#[test]
fn mirror_pad_grad_is_the_adjoint_of_mirror_pad() {
    let mut r = rng(75);
    for case in 0..60 {
        let dtype = [DType::F64, DType::I32, DType::I64][case % 3];
        let mode = ["REFLECT", "SYMMETRIC"][case % 2];
        let (dims, pads) = random_mirror_case(&mut r, case % 5, mode);
        let x = random_tensor(&mut r, dtype, &dims);
        let y = ops::mirror_pad(&x, &pads, mode).unwrap();
        let g = random_tensor(&mut r, dtype, y.dims());
        for (k, gl) in layouts(&g).iter().enumerate() {
            let dx = ops::mirror_pad_grad(gl, &pads, mode).unwrap();
            assert_adjoint(
                dot(&y, &g),
                dot(&x, &dx),
                1e5,
                &format!("{mode} {dims:?} {pads:?} layout {k}"),
            );
        }
    }
}

#[test]
fn mirror_pad_grad_large_and_zero_padding() {
    // Output of 3 * 20_000 elements (parallel), padded on both dimensions.
    let mut r = rng(76);
    let (dims, pads) = (vec![3usize, 20_000], vec![[2i64, 1], [5, 3]]);
    let pdims = padded_dims(&dims, &pads);
    for dtype in [DType::F32, DType::BF16, DType::I8] {
        let g = random_tensor(&mut r, dtype, &pdims);
        let (expected, abs) = mirror_grad_reference(&values(&g), &dims, &pads, "REFLECT");
        let dx = ops::mirror_pad_grad(&g, &pads, "REFLECT").unwrap();
        assert_sums(&dx, &expected, &abs, &dims, &format!("large {dtype}"));
    }
    // A zero-size dimension beside a padded one: an empty result, no division by the
    // empty row length (SYMMETRIC: REFLECT rejects zero-size dimensions, as in TF).
    let z = Tensor::zeros([0, 5], DType::F32).unwrap();
    let dx = ops::mirror_pad_grad(&z, &[[0, 0], [1, 1]], "SYMMETRIC").unwrap();
    assert_eq!(dx.dims(), &[0, 3]);
    let z = Tensor::zeros([4, 0], DType::I32).unwrap();
    let dx = ops::mirror_pad_grad(&z, &[[1, 0], [0, 0]], "SYMMETRIC").unwrap();
    assert_eq!(dx.dims(), &[3, 0]);
    // No padding: the same value, no copy.
    let t = random_tensor(&mut r, DType::F64, &[2, 3]);
    let dx = ops::mirror_pad_grad(&t, &[[0, 0], [0, 0]], "SYMMETRIC").unwrap();
    assert!(dx.shares_storage_with(&t));
    assert_eq!(values(&dx), values(&t));
}

// ---------------------------------------------------------------- UnsortedSegment*

fn ids_tensor(values: &[i64], dims: &[usize], dtype: DType) -> Tensor {
    match dtype {
        DType::I32 => Tensor::from_vec(
            values.iter().map(|&v| v as i32).collect::<Vec<_>>(),
            Shape::new(dims),
        )
        .unwrap(),
        _ => Tensor::from_vec(values.to_vec(), Shape::new(dims)).unwrap(),
    }
}

/// The empty-segment value of each reduction, as f64 (TensorFlow: 0, lowest, highest, 1).
fn empty_value(dtype: DType, red: &str) -> f64 {
    use tf_core::{bf16, f16};
    let (lowest, highest) = match dtype {
        DType::F32 => (f32::MIN as f64, f32::MAX as f64),
        DType::F64 => (f64::MIN, f64::MAX),
        DType::F16 => (f16::MIN.to_f64(), f16::MAX.to_f64()),
        DType::BF16 => (bf16::MIN.to_f64(), bf16::MAX.to_f64()),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U8 => (0.0, 255.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::I64 => (i64::MIN as f64, i64::MAX as f64),
        DType::Bool => unreachable!(),
    };
    match red {
        "sum" => 0.0,
        "max" => lowest,
        "min" => highest,
        _ => 1.0,
    }
}

/// Naive segment reduction: (results, magnitudes) of shape `[n] + data.shape[k:]`.
/// Integers reduce exactly in i64 (sums and products wrap modulo 2^64) and are then
/// wrapped to the dtype, like the kernel's arithmetic modulo its width.
fn segment_reference(
    data: &[f64],
    ids: &[i64],
    n: usize,
    inner: usize,
    dtype: DType,
    red: &str,
) -> (Vec<f64>, Vec<f64>) {
    let mut fl: Vec<Option<f64>> = vec![None; n * inner];
    let mut int: Vec<Option<i64>> = vec![None; n * inner];
    let mut abs = vec![0.0; n * inner];
    for (row, &s) in ids.iter().enumerate() {
        if s < 0 {
            continue;
        }
        for j in 0..inner {
            let x = data[row * inner + j];
            let at = s as usize * inner + j;
            let xi = x as i64;
            fl[at] = Some(match (fl[at], red) {
                (None, _) => x,
                (Some(a), "sum") => a + x,
                (Some(a), "max") => a.max(x),
                (Some(a), "min") => a.min(x),
                (Some(a), _) => a * x,
            });
            int[at] = Some(match (int[at], red) {
                (None, _) => xi,
                (Some(a), "sum") => a.wrapping_add(xi),
                (Some(a), "max") => a.max(xi),
                (Some(a), "min") => a.min(xi),
                (Some(a), _) => a.wrapping_mul(xi),
            });
            abs[at] = match red {
                "prod" => fl[at].unwrap().abs(),
                _ => abs[at] + x.abs(),
            };
        }
    }
    let out = (0..n * inner)
        .map(|i| {
            let v = if dtype.is_int() {
                int[i]
                    .map(|v| tf_core::with_dtype!(dtype, T => <T as Element>::from_i64(v).to_f64()))
            } else {
                fl[i]
            };
            v.unwrap_or_else(|| empty_value(dtype, red))
        })
        .collect();
    (out, abs)
}

fn segment_op(red: &str, data: &Tensor, ids: &Tensor, n: i64) -> tf_core::Result<Tensor> {
    match red {
        "sum" => ops::unsorted_segment_sum(data, ids, n),
        "max" => ops::unsorted_segment_max(data, ids, n),
        "min" => ops::unsorted_segment_min(data, ids, n),
        _ => ops::unsorted_segment_prod(data, ids, n),
    }
}

#[test]
fn unsorted_segment_reductions_match_reference() {
    let mut r = rng(77);
    for case in 0..160 {
        let dtype = NUMERIC[case % NUMERIC.len()];
        let red = ["sum", "max", "min", "prod"][case / NUMERIC.len() % 4];
        let id_dtype = [DType::I32, DType::I64][case % 2];
        let rank = case % 4;
        let dims = random_dims(&mut r, rank, 4);
        let k = r.random_range(0..=rank);
        let n = r.random_range(0..5usize);
        let rows: usize = dims[..k].iter().product();
        let inner: usize = dims[k..].iter().product();
        let ids: Vec<i64> = (0..rows).map(|_| r.random_range(-1..n as i64)).collect();
        let ids_t = ids_tensor(&ids, &dims[..k], id_dtype);
        let data = random_tensor(&mut r, dtype, &dims);
        let (expected, abs) = segment_reference(&values(&data), &ids, n, inner, dtype, red);
        let mut out_dims = vec![n];
        out_dims.extend_from_slice(&dims[k..]);
        for (l, x) in layouts(&data).iter().enumerate() {
            for (m, it) in layouts(&ids_t).iter().enumerate() {
                let y = segment_op(red, x, it, n as i64).unwrap();
                assert_eq!(y.dtype(), dtype);
                assert_sums(
                    &y,
                    &expected,
                    &abs,
                    &out_dims,
                    &format!("{red} {dtype} {dims:?} ids {ids:?} n {n} layouts {l}/{m}"),
                );
            }
        }
    }
}

#[test]
fn unsorted_segment_documented_cases() {
    let data = Tensor::from_vec(vec![1, 2, 3, 4, 5, 6, 7, 8], [4, 2]).unwrap();
    let ids = Tensor::vector(&[0i32, 2, 0, -1]);
    let y = ops::unsorted_segment_sum(&data, &ids, 3).unwrap();
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![6, 8, 0, 0, 3, 4]);
    let y = ops::unsorted_segment_max(&data, &ids, 3).unwrap();
    assert_eq!(
        y.to_vec::<i32>().unwrap(),
        vec![5, 6, i32::MIN, i32::MIN, 3, 4]
    );
    let y = ops::unsorted_segment_min(&data, &ids, 3).unwrap();
    assert_eq!(
        y.to_vec::<i32>().unwrap(),
        vec![1, 2, i32::MAX, i32::MAX, 3, 4]
    );
    let y = ops::unsorted_segment_prod(&data, &ids, 3).unwrap();
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![5, 12, 1, 1, 3, 4]);
    // Float max of an empty segment is the lowest finite value, not -inf; NaN
    // propagates.
    let f = Tensor::vector(&[f32::NAN, 1.0, 2.0]);
    let y = ops::unsorted_segment_max(&f, &Tensor::vector(&[0i64, 0, 2]), 3).unwrap();
    let v = y.to_vec::<f32>().unwrap();
    assert!(v[0].is_nan());
    assert_eq!(&v[1..], &[f32::MIN, 2.0]);
    // Integer sums wrap.
    let b = Tensor::vector(&[100i8, 100]);
    let y = ops::unsorted_segment_sum(&b, &Tensor::vector(&[0i32, 0]), 1).unwrap();
    assert_eq!(y.to_vec::<i8>().unwrap(), vec![-56]);
    // Scalar ids: the whole tensor is one row.
    let y = ops::unsorted_segment_sum(&data, &Tensor::from_scalar(1i64), 2).unwrap();
    assert_eq!(y.dims(), &[2, 4, 2]);
    let mut want = vec![0; 8];
    want.extend(1..=8);
    assert_eq!(y.to_vec::<i32>().unwrap(), want);
    // Zero segments, zero-size rows, and a huge segment count with nothing per row.
    let y = ops::unsorted_segment_sum(&data, &Tensor::vector(&[-1i32; 4]), 0).unwrap();
    assert_eq!(y.dims(), &[0, 2]);
    let z = Tensor::zeros([3, 0], DType::F32).unwrap();
    let y = ops::unsorted_segment_sum(&z, &Tensor::vector(&[0i32, 1, 2]), 1 << 40).unwrap();
    assert_eq!(y.dims(), &[1 << 40, 0]);
    // Half sums accumulate in f32 and round once: 2048 + 1 + 1 = 2050 (f16 steps
    // would stay at 2048).
    let h = Tensor::vector(&[2048.0f32, 1.0, 1.0])
        .cast(DType::F16)
        .unwrap();
    let y = ops::unsorted_segment_sum(&h, &Tensor::vector(&[0i32, 0, 0]), 1).unwrap();
    assert_eq!(values(&y), vec![2050.0]);
}

#[test]
fn unsorted_segment_sum_is_the_adjoint_of_gather() {
    let mut r = rng(78);
    for case in 0..60 {
        let dtype = [DType::F64, DType::I32, DType::I64][case % 3];
        let prank = 1 + case % 3;
        let pdims: Vec<usize> = (0..prank).map(|_| r.random_range(1..5)).collect();
        let n = pdims[0];
        let idims: Vec<usize> = (0..1 + case % 2).map(|_| r.random_range(0..4)).collect();
        let ni: usize = idims.iter().product();
        let ids: Vec<i64> = (0..ni).map(|_| r.random_range(0..n as i64)).collect();
        let ids_t = ids_tensor(&ids, &idims, [DType::I32, DType::I64][case % 2]);
        let x = random_tensor(&mut r, dtype, &pdims);
        let y = ops::gather(&x, &ids_t, 0, 0).unwrap();
        let g = random_tensor(&mut r, dtype, y.dims());
        for (k, gl) in layouts(&g).iter().enumerate() {
            let dx = ops::unsorted_segment_sum(gl, &ids_t, n as i64).unwrap();
            assert_eq!(dx.dims(), x.dims());
            assert_adjoint(
                dot(&y, &g),
                dot(&x, &dx),
                1e5,
                &format!("{pdims:?} ids {ids:?} layout {k}"),
            );
        }
    }
}

#[test]
fn unsorted_segment_sum_large_outputs() {
    // Many segments (output filled in parallel chunks starting mid-row) and a long
    // inner dimension.
    let mut r = rng(79);
    for (rows, inner, n, dtype) in [
        (50_000usize, 1usize, 40_000usize, DType::F32),
        (300, 257, 150, DType::I64),
        (90, 1_000, 40, DType::BF16),
    ] {
        let ids: Vec<i64> = (0..rows).map(|_| r.random_range(-1..n as i64)).collect();
        let ids_t = ids_tensor(&ids, &[rows], DType::I64);
        let data = random_tensor(&mut r, dtype, &[rows, inner]);
        let (expected, abs) = segment_reference(&values(&data), &ids, n, inner, dtype, "sum");
        let y = ops::unsorted_segment_sum(&data, &ids_t, n as i64).unwrap();
        assert_sums(
            &y,
            &expected,
            &abs,
            &[n, inner],
            &format!("{rows}x{inner} {dtype}"),
        );
    }
}

// ---------------------------------------------------------------- inference

fn infer1(op: &'static OpDef, inputs: &[Tensor], attrs: &Attrs) -> tf_core::Result<PartialShape> {
    let specs = (op.infer)(&InferContext { op, inputs, attrs })?;
    Ok(specs[0].shape.clone())
}

fn hide(dims: &[usize], mask: u16) -> Vec<Option<usize>> {
    dims.iter()
        .enumerate()
        .map(|(i, &d)| if mask >> i & 1 == 1 { None } else { Some(d) })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn grad_ops_inference_keeps_unknown_dims(
        dims in strategies::dims(),
        seed in any::<u64>(),
        mask in any::<u16>(),
    ) {
        let mut r = rng(seed);
        let rank = dims.len();
        let hidden = hide(&dims, mask);
        let x = sym(DType::F32, &hidden);

        // StopGradient: the input's partial shape.
        let p = infer1(&ops::STOP_GRADIENT, std::slice::from_ref(&x), &Attrs::new()).unwrap();
        prop_assert_eq!(p.dims(), &hidden[..]);

        // MirrorPadGrad: known dims shrink by their paddings, unknown stay unknown.
        // Paddings valid for SYMMETRIC against the unpadded dims (none for a 0 dim).
        let pads: Vec<i64> = (0..2 * rank)
            .map(|j| r.random_range(0..=dims[j / 2].min(2)) as i64)
            .collect();
        let mdims: Vec<usize> = dims
            .iter()
            .enumerate()
            .map(|(i, &d)| d + (pads[2 * i] + pads[2 * i + 1]) as usize)
            .collect();
        let attrs = Attrs::new().with("paddings", pads.clone()).with("mode", "SYMMETRIC");
        let g = sym(DType::F64, &hide(&mdims, mask));
        let p = infer1(&ops::MIRROR_PAD_GRAD, std::slice::from_ref(&g), &attrs).unwrap();
        let pd: Vec<[i64; 2]> = pads.chunks(2).map(|c| [c[0], c[1]]).collect();
        let eager = ops::mirror_pad_grad(
            &Tensor::zeros(Shape::new(&mdims), DType::F64).unwrap(), &pd, "SYMMETRIC").unwrap();
        prop_assert_eq!(eager.dims(), &dims[..]);
        prop_assert!(p.is_compatible_with(eager.dims()));
        for i in 0..rank {
            prop_assert_eq!(p[i].is_none(), hidden[i].is_none());
        }

        // UnsortedSegmentSum: [num_segments] + data.shape[k:], unknowns kept; the ids
        // may hide dimensions too.
        let k = r.random_range(0..=rank);
        let ids = sym(DType::I32, &hide(&dims[..k], mask.rotate_left(3)));
        let attrs = Attrs::new().with("num_segments", 5i64);
        let p = infer1(&ops::UNSORTED_SEGMENT_SUM, &[x.clone(), ids], &attrs).unwrap();
        prop_assert_eq!(p[0], Some(5));
        prop_assert_eq!(&p.dims()[1..], &hidden[k..]);

        // StridedSliceGrad: the `shape` attribute, whatever dy's unknown dims.
        let spec = random_slice_spec(&mut r, &dims);
        let dy = sym(DType::F32, &hide(&spec.out_dims, mask));
        let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        let attrs = Attrs::new()
            .with("shape", shape)
            .with("begin", spec.begin.clone())
            .with("end", spec.end.clone())
            .with("strides", spec.strides.clone())
            .with("begin_mask", spec.masks.begin_mask)
            .with("end_mask", spec.masks.end_mask)
            .with("ellipsis_mask", spec.masks.ellipsis_mask)
            .with("new_axis_mask", spec.masks.new_axis_mask)
            .with("shrink_axis_mask", spec.masks.shrink_axis_mask);
        let p = infer1(&ops::STRIDED_SLICE_GRAD, std::slice::from_ref(&dy), &attrs).unwrap();
        prop_assert_eq!(p.to_shape().unwrap(), Shape::new(&dims));
    }
}

#[test]
fn inference_rejects_what_it_can_see() {
    // Partially known shapes still catch definite conflicts.
    let data = sym(DType::F32, &[None, Some(3), Some(2)]);
    let ids = sym(DType::I64, &[Some(4), Some(2)]);
    let attrs = Attrs::new().with("num_segments", 2i64);
    let e = infer1(&ops::UNSORTED_SEGMENT_SUM, &[data, ids], &attrs).unwrap_err();
    assert!(
        e.to_string()
            .contains("data.shape = [?,3,2] does not start with segment_ids.shape = [4,2]"),
        "{e}"
    );
    let g = sym(DType::F32, &[None, Some(1)]);
    let attrs = Attrs::new()
        .with("paddings", vec![5i64, 5, 1, 1])
        .with("mode", "REFLECT");
    let e = infer1(&ops::MIRROR_PAD_GRAD, std::slice::from_ref(&g), &attrs).unwrap_err();
    assert!(
        e.to_string().starts_with("MirrorPadGrad:") && e.to_string().contains("exceed"),
        "{e}"
    );
    let p = infer1(
        &ops::MIRROR_PAD_GRAD,
        &[sym(DType::F32, &[None, Some(5)])],
        &Attrs::new()
            .with("paddings", vec![5i64, 5, 1, 1])
            .with("mode", "REFLECT"),
    )
    .unwrap();
    assert_eq!(p.dims(), &[None, Some(3)]);
}

// ---------------------------------------------------------------- errors

fn err(r: tf_core::Result<Tensor>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn strided_slice_grad_errors() {
    let dy = Tensor::zeros([2, 2], DType::F32).unwrap();
    let m = SliceMasks::default();
    let e = err(ops::strided_slice_grad(&dy, &[2, -3], &[0], &[2], &[1], m));
    assert!(
        e.starts_with("StridedSliceGrad:") && e.contains("[2, -3] has a negative dimension"),
        "{e}"
    );
    // dy must be the slice's output shape: x[0:2, 0:3] of a [2, 3] input is [2, 3].
    let e = err(ops::strided_slice_grad(
        &dy,
        &[2, 3],
        &[0, 0],
        &[2, 3],
        &[1, 1],
        m,
    ));
    assert!(
        e.starts_with("StridedSliceGrad:")
            && e.contains("shape of dy was [2,2] instead of [2,3]")
            && e.contains("input shape [2,3]"),
        "{e}"
    );
    // The slice spec is validated as StridedSlice validates it.
    let e = err(ops::strided_slice_grad(&dy, &[2, 2], &[0], &[2], &[0], m));
    assert!(
        e.starts_with("StridedSliceGrad:") && e.contains("strides[0] must be non-zero"),
        "{e}"
    );
    let shrink = SliceMasks {
        shrink_axis_mask: 1,
        ..m
    };
    let e = err(ops::strided_slice_grad(
        &dy,
        &[2, 2],
        &[5],
        &[6],
        &[1],
        shrink,
    ));
    assert!(
        e.contains("slice index 5 of dimension 0 out of bounds"),
        "{e}"
    );
    let e = err(ops::strided_slice_grad(
        &dy,
        &[2, 2],
        &[0, 0, 0],
        &[1, 1],
        &[1, 1, 1],
        m,
    ));
    assert!(e.contains("equal size"), "{e}");
    // Missing attributes are named.
    let e = tf_core::op::call1(
        &ops::STRIDED_SLICE_GRAD,
        std::slice::from_ref(&dy),
        &Attrs::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("'shape'"), "{e}");
}

#[test]
fn mirror_pad_grad_errors() {
    let g = Tensor::zeros([5, 2], DType::F32).unwrap();
    let e = err(ops::mirror_pad_grad(&g, &[[0, 0], [0, 0]], "WRAP"));
    assert!(
        e.starts_with("MirrorPadGrad:") && e.contains("REFLECT or SYMMETRIC"),
        "{e}"
    );
    // REFLECT: paddings must be below the unpadded size (5 - 2 - 1 = 2).
    let e = err(ops::mirror_pad_grad(&g, &[[2, 1], [0, 0]], "REFLECT"));
    assert!(
        e.contains("less than the dimension size") && e.contains("output shape [2,2]"),
        "{e}"
    );
    assert!(ops::mirror_pad_grad(&g, &[[2, 1], [0, 0]], "SYMMETRIC").is_ok());
    let e = err(ops::mirror_pad_grad(&g, &[[3, 1], [0, 0]], "SYMMETRIC"));
    assert!(e.contains("no greater than"), "{e}");
    let e = err(ops::mirror_pad_grad(&g, &[[4, 2], [0, 0]], "SYMMETRIC"));
    assert!(
        e.contains("exceed its size 5") && e.contains("[5,2]"),
        "{e}"
    );
    let e = err(ops::mirror_pad_grad(&g, &[[-1, 0], [0, 0]], "SYMMETRIC"));
    assert!(e.contains("non-negative"), "{e}");
    let e = err(ops::mirror_pad_grad(&g, &[[0, 0]], "SYMMETRIC"));
    assert!(e.contains("[5,2]"), "{e}");
    let b = Tensor::zeros([3], DType::Bool).unwrap();
    let e = err(ops::mirror_pad_grad(&b, &[[1, 1]], "SYMMETRIC"));
    assert!(e.starts_with("MirrorPadGrad:") && e.contains("bool"), "{e}");
}

#[test]
fn unsorted_segment_errors() {
    let data = Tensor::zeros([4, 2], DType::F32).unwrap();
    let e = err(ops::unsorted_segment_sum(
        &data,
        &Tensor::vector(&[0i32, 7, 1, 2]),
        5,
    ));
    assert!(
        e.starts_with("UnsortedSegmentSum:")
            && e.contains("segment_ids[1] = 7 is out of range [0, 5)"),
        "{e}"
    );
    let e = err(ops::unsorted_segment_max(
        &data,
        &Tensor::from_vec(vec![0i64, 1, 5, 1, 0, 0, 1, 1], [4, 2]).unwrap(),
        5,
    ));
    assert!(
        e.starts_with("UnsortedSegmentMax:") && e.contains("segment_ids[1,0] = 5"),
        "{e}"
    );
    let e = err(ops::unsorted_segment_sum(
        &data,
        &Tensor::vector(&[0i32, 1, 2]),
        5,
    ));
    assert!(
        e.contains("data.shape = [4,2] does not start with segment_ids.shape = [3]"),
        "{e}"
    );
    let e = err(ops::unsorted_segment_sum(
        &data,
        &Tensor::vector(&[0i32; 4]),
        -1,
    ));
    assert!(e.contains("num_segments = -1 must not be negative"), "{e}");
    let e = err(ops::unsorted_segment_sum(
        &data,
        &Tensor::vector(&[0.0f32; 4]),
        2,
    ));
    assert!(
        e.contains("segment_ids must be int32 or int64, got float32"),
        "{e}"
    );
    let b = Tensor::zeros([4], DType::Bool).unwrap();
    let e = err(ops::unsorted_segment_prod(
        &b,
        &Tensor::vector(&[0i32; 4]),
        2,
    ));
    assert!(
        e.starts_with("UnsortedSegmentProd:") && e.contains("bool"),
        "{e}"
    );
}
