//! Joining and splitting: concat, stack, unstack, split, split_v.

use super::*;

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
