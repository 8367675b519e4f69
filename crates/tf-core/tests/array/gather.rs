//! Gather, gather_nd, scatter_nd, one_hot.

use super::*;

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
