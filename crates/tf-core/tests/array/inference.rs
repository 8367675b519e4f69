//! Shape inference properties, with unknown dimensions.

use super::*;

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
