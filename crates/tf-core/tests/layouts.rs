//! The shared test helpers themselves: layouts hold the same values.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use tf_core::DType;

#[test]
fn every_layout_holds_the_same_values() {
    let mut r = rng(1);
    for dtype in ALL_DTYPES {
        for dims in [vec![], vec![3], vec![2, 3], vec![2, 3, 4], vec![2, 0, 3]] {
            let t = random_tensor(&mut r, dtype, &dims);
            let expect = t.to_f64_vec().unwrap();
            for (k, v) in layouts(&t).iter().enumerate() {
                assert_eq!(v.dims(), &dims[..]);
                assert_eq!(
                    v.to_f64_vec().unwrap(),
                    expect,
                    "{dtype} {dims:?} layout {k}"
                );
                if k > 0 && t.num_elements() > 1 && dims.last() != Some(&1) {
                    assert!(
                        !v.is_contiguous(),
                        "layout {k} of {dims:?} should be a strided view"
                    );
                }
            }
        }
    }
    assert_eq!(
        round_to(DType::F16, &[1.0 / 3.0])[0],
        f64::from(tf_core::f16::from_f64(1.0 / 3.0))
    );
}
