//! Errors: each names the op and the offending shapes/indices.

use super::*;

fn err(r: tf_core::Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn error_messages() {
    let x = Tensor::zeros([2, 3], DType::F32).unwrap();
    let e = err(ops::transpose(&x, Some(&[0, 0])));
    assert!(
        e.starts_with("Transpose:") && e.contains("more than once"),
        "{e}"
    );
    let e = err(ops::transpose(&x, Some(&[0, 2])));
    assert!(e.contains("out of range"), "{e}");
    let e = err(ops::transpose(&x, Some(&[-1, 0])));
    assert!(e.contains("-1"), "{e}");
    let e = err(ops::transpose(&x, Some(&[0])));
    assert!(e.contains("rank 2"), "{e}");

    let y = Tensor::zeros([2, 4], DType::F32).unwrap();
    let e = err(ops::concat(&[x.clone(), x.clone(), y.clone()], 0));
    assert!(
        e.starts_with("ConcatV2:")
            && e.contains("input 2")
            && e.contains("[2,4]")
            && e.contains("[2,3]"),
        "{e}"
    );
    let e = err(ops::concat(
        &[x.clone(), Tensor::zeros([2, 3], DType::F64).unwrap()],
        0,
    ));
    assert!(e.contains("dtype"), "{e}");
    let e = err(ops::concat(&[Tensor::from_scalar(1.0f32)], 0));
    assert!(e.contains("scalars"), "{e}");
    let e = err(ops::concat(std::slice::from_ref(&x), 2));
    assert!(e.contains("[-2, 2)"), "{e}");
    let e = err(ops::stack(&[x.clone(), y.clone()], 0));
    assert!(
        e.starts_with("Pack:") && e.contains("[2,3]") && e.contains("[2,4]"),
        "{e}"
    );

    let params = Tensor::zeros([5, 2], DType::F32).unwrap();
    let idx = Tensor::from_vec(vec![0i32, 7, 1, 2], [2, 2]).unwrap();
    let e = err(ops::gather(&params, &idx, 0, 0));
    assert!(
        e.starts_with("GatherV2:") && e.contains("indices[0,1] = 7 is not in [0, 5)"),
        "{e}"
    );
    let neg = Tensor::vector(&[-1i64]);
    assert!(err(ops::gather(&params, &neg, 1, 0)).contains("= -1 is not in [0, 2)"));
    let e = err(ops::gather(&params, &Tensor::vector(&[0.0f32]), 0, 0));
    assert!(e.contains("int32 or int64"), "{e}");
    let e = err(ops::gather_nd(
        &params,
        &Tensor::from_vec(vec![4i64, 1, 5, 0], [2, 2]).unwrap(),
    ));
    assert!(
        e.starts_with("GatherNd:") && e.contains("indices[1] = [5, 0]") && e.contains("[5,2]"),
        "{e}"
    );
    let e = err(ops::scatter_nd(
        &Tensor::from_vec(vec![8i32], [1, 1]).unwrap(),
        &Tensor::vector(&[1.0f32]),
        &[8],
    ));
    assert!(e.starts_with("ScatterNd:") && e.contains("[8]"), "{e}");
    let e = err(ops::scatter_nd(
        &Tensor::from_vec(vec![1i32], [1, 1]).unwrap(),
        &Tensor::vector(&[1.0f32, 2.0]),
        &[8],
    ));
    assert!(e.contains("updates has shape [2]"), "{e}");
    let e = err(ops::one_hot(
        &Tensor::vector(&[1i32]),
        -1,
        1.0,
        0.0,
        -1,
        DType::F32,
    ));
    assert!(e.contains("depth must be non-negative"), "{e}");

    let v = Tensor::zeros([3, 2], DType::F32).unwrap();
    let e = err(ops::mirror_pad(&v, &[[3, 0], [0, 0]], "REFLECT"));
    assert!(
        e.starts_with("MirrorPad:")
            && e.contains("less than the dimension size")
            && e.contains("3"),
        "{e}"
    );
    assert!(ops::mirror_pad(&v, &[[3, 0], [0, 0]], "SYMMETRIC").is_ok());
    let e = err(ops::mirror_pad(&v, &[[4, 0], [0, 0]], "SYMMETRIC"));
    assert!(e.contains("no greater than"), "{e}");
    let e = err(ops::mirror_pad(&v, &[[0, 0], [0, 0]], "WRAP"));
    assert!(e.contains("REFLECT or SYMMETRIC"), "{e}");
    let e = err(v.pad(&[[-1, 0], [0, 0]]));
    assert!(e.starts_with("Pad:") && e.contains("non-negative"), "{e}");
    let e = err(v.pad(&[[0, 0]]));
    assert!(e.contains("[3,2]"), "{e}");
    let e = err(ops::pad_v2(
        &v,
        &[[0, 0], [0, 0]],
        &Tensor::from_scalar(1.0f64),
    ));
    assert!(e.contains("dtype"), "{e}");

    let e = err(v.squeeze(&[0]));
    assert!(
        e.starts_with("Squeeze:") && e.contains("Can not squeeze dim[0]") && e.contains("got 3"),
        "{e}"
    );
    let e = err(v.reshape(&[4, 2]));
    assert!(
        e.starts_with("Reshape:") && e.contains("[3,2]") && e.contains("6"),
        "{e}"
    );
    let e = err(v.reshape(&[-1, -1]));
    assert!(e.contains("only infer one"), "{e}");
    let e = err(v.slice(&[2, 0], &[2, 1]));
    assert!(e.starts_with("Slice:") && e.contains("size[0]"), "{e}");
    let e = err(v.slice(&[4, 0], &[-1, 1]));
    assert!(e.contains("begin[0] in [0, 3]"), "{e}");
    let e = err(v.expand_dims(3));
    assert!(e.starts_with("ExpandDims:") && e.contains("3"), "{e}");
    let e = err(v.broadcast_to(&[4, 2]));
    assert!(
        e.starts_with("BroadcastTo:") && e.contains("[3,2]") && e.contains("[4,2]"),
        "{e}"
    );
    let e = err(v.tile(&[1]));
    assert!(e.starts_with("Tile:") && e.contains("length 2"), "{e}");
    let e = err(v.reverse(&[0, -2]));
    assert!(
        e.starts_with("ReverseV2:") && e.contains("more than once"),
        "{e}"
    );
    let e = err(v.reverse(&[2]));
    assert!(e.contains("axis 2"), "{e}");

    // Outputs too large to hold are errors, not failed allocations.
    let four = Tensor::zeros([4], DType::F32).unwrap();
    let e = err(four.tile(&[1 << 61]));
    assert!(
        e.starts_with("Tile:") && e.contains("too many elements"),
        "{e}"
    );
    let e = err(four.pad(&[[0, 1 << 62]]));
    assert!(
        e.starts_with("Pad:") && e.contains("too many elements"),
        "{e}"
    );
    let e = err(ops::one_hot(
        &Tensor::vector(&[1i32, 2]),
        1 << 62,
        1.0,
        0.0,
        -1,
        DType::F32,
    ));
    assert!(
        e.starts_with("OneHot:") && e.contains("too many elements"),
        "{e}"
    );
}
