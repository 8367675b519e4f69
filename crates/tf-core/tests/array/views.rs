//! Views: transpose, slice, expand_dims, squeeze, broadcast_to, reshape.

use super::*;

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
