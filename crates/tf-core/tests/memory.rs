//! Memory: contiguity without needless copies, pooled reuse of large buffers, and
//! allocation failures as `RESOURCE_EXHAUSTED` errors instead of aborts.

#![allow(clippy::unwrap_used)]

use tf_core::storage::pool;
use tf_core::{DType, Tensor, ops};

#[test]
fn contiguous_copies_only_when_needed() {
    let m = Tensor::from_vec((0..6).map(|x| x as f32).collect(), [2, 3]).unwrap();
    let same = m.contiguous().unwrap();
    assert!(same.shares_storage_with(&m) && same.id() == m.id());
    let t = ops::transpose(&m, None).unwrap();
    assert!(!t.is_contiguous() && t.shares_storage_with(&m));
    let c = t.contiguous().unwrap();
    assert!(c.is_contiguous() && !c.shares_storage_with(&m));
    assert_eq!(
        c.to_vec::<f32>().unwrap(),
        vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
}

#[test]
fn huge_but_valid_shapes_are_resource_exhausted_errors() {
    // 2^57 elements: a valid shape whose memory no machine has.
    let e = Tensor::zeros([1 << 33, 1 << 24], DType::F32).unwrap_err();
    assert_eq!(e.code(), "RESOURCE_EXHAUSTED", "{e}");
    let big = ops::broadcast_to(&Tensor::from_scalar(1.0f32), &[1 << 33, 1 << 24]).unwrap();
    let e = ops::add(&big, &big).unwrap_err();
    assert_eq!(e.code(), "RESOURCE_EXHAUSTED", "{e}");
    let e = ops::relu(&big).unwrap_err();
    assert_eq!(e.code(), "RESOURCE_EXHAUSTED", "{e}");
}

#[test]
fn large_outputs_reuse_pooled_buffers() {
    // An odd size no other test in this binary allocates.
    let n = (1 << 18) + 7;
    let x = Tensor::from_vec(vec![1.5f32; n], [n]).unwrap();
    let first = ops::relu(&x).unwrap();
    let ptr = first.as_slice::<f32>().unwrap().as_ptr();
    drop(first);
    assert!(pool::pooled_bytes() >= n * 4);
    let second = ops::relu(&x).unwrap();
    assert_eq!(
        second.as_slice::<f32>().unwrap().as_ptr(),
        ptr,
        "the freed output buffer is reused"
    );
    assert_eq!(second.to_vec::<f32>().unwrap(), vec![1.5; n]);
}
