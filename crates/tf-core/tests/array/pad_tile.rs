//! Tile, pad (constant and mirror), reverse.

use super::*;

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
pub(super) fn pad_source(o: usize, before: usize, n: usize, mode: &str) -> Option<usize> {
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
