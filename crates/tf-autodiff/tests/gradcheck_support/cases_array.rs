//! Finite-difference sample calls for array ops.

use super::{Case, away_from_zero, uniform};
use rand::rngs::StdRng;
use tf_core::Tensor;
use tf_core::op::Attrs;

/// An int32 index tensor.
fn i32s(v: &[i32], dims: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), dims.to_vec()).unwrap()
}

/// An int64 index tensor.
fn i64s(v: &[i64], dims: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), dims.to_vec()).unwrap()
}

/// StridedSlice's attributes (masks in the order begin, end, ellipsis, new_axis,
/// shrink_axis).
fn slice_attrs(begin: &[i64], end: &[i64], strides: &[i64], masks: [i64; 5]) -> Attrs {
    Attrs::new()
        .with("begin", begin.to_vec())
        .with("end", end.to_vec())
        .with("strides", strides.to_vec())
        .with("begin_mask", masks[0])
        .with("end_mask", masks[1])
        .with("ellipsis_mask", masks[2])
        .with("new_axis_mask", masks[3])
        .with("shrink_axis_mask", masks[4])
}

/// `x[1:, ::-2]` of a [3, 4] input (output [2, 2]).
fn reversed_step() -> Attrs {
    slice_attrs(&[1, 0], &[0, 0], &[1, -2], [0b10, 0b11, 0, 0, 0])
}

/// `x[1, ..., newaxis, ::2]` of a [2, 3, 4] input (output [3, 1, 2]).
fn shrink_ellipsis_newaxis() -> Attrs {
    slice_attrs(
        &[1, 0, 0, 0],
        &[2, 0, 0, 0],
        &[1, 1, 1, 2],
        [0b1000, 0b1000, 0b10, 0b100, 0b1],
    )
}

fn paddings(p: &[[i64; 2]]) -> Vec<i64> {
    p.iter().flatten().copied().collect()
}

fn segments(n: i64) -> Attrs {
    Attrs::new().with("num_segments", n)
}

fn gather_attrs(axis: i64, batch_dims: i64) -> Attrs {
    Attrs::new()
        .with("axis", axis)
        .with("batch_dims", batch_dims)
}

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    let none = Attrs::new;
    let mut u = |dims: &[usize]| uniform(r, dims, -2.0, 2.0);
    Some(match name {
        "Identity" => vec![Case::new("matrix", vec![u(&[2, 3])], none())],
        "Reshape" => vec![Case::new(
            "2x3 -> 3x2",
            vec![u(&[2, 3])],
            Attrs::new().with("shape", vec![3i64, 2]),
        )],
        "Transpose" => vec![
            Case::new(
                "rank 3",
                vec![u(&[2, 3, 4])],
                Attrs::new().with("perm", vec![2i64, 0, 1]),
            ),
            Case::new(
                "matrix",
                vec![u(&[3, 2])],
                Attrs::new().with("perm", vec![1i64, 0]),
            ),
        ],
        "Slice" => vec![
            Case::new(
                "size -1",
                vec![u(&[3, 4])],
                Attrs::new()
                    .with("begin", vec![1i64, 0])
                    .with("size", vec![2i64, -1]),
            ),
            Case::new(
                "inner block",
                vec![u(&[2, 3, 2])],
                Attrs::new()
                    .with("begin", vec![0i64, 1, 1])
                    .with("size", vec![2i64, 1, 1]),
            ),
        ],
        "StridedSlice" => vec![
            Case::new("negative stride", vec![u(&[3, 4])], reversed_step()),
            Case::new(
                "shrink, ellipsis, new axis",
                vec![u(&[2, 3, 4])],
                shrink_ellipsis_newaxis(),
            ),
        ],
        "StridedSliceGrad" => vec![
            Case::new(
                "negative stride",
                vec![u(&[2, 2])],
                reversed_step().with("shape", vec![3i64, 4]),
            ),
            Case::new(
                "shrink, ellipsis, new axis",
                vec![u(&[3, 1, 2])],
                shrink_ellipsis_newaxis().with("shape", vec![2i64, 3, 4]),
            ),
        ],
        "ExpandDims" => vec![
            Case::new("middle", vec![u(&[2, 3])], Attrs::new().with("axis", 1i64)),
            Case::new("last", vec![u(&[2, 3])], Attrs::new().with("axis", -1i64)),
        ],
        "Squeeze" => vec![
            Case::new(
                "one axis",
                vec![u(&[2, 1, 3, 1])],
                Attrs::new().with("squeeze_dims", vec![1i64]),
            ),
            Case::new(
                "all size-1 axes",
                vec![u(&[2, 1, 3, 1])],
                Attrs::new().with("squeeze_dims", Vec::<i64>::new()),
            ),
        ],
        "BroadcastTo" => vec![
            Case::new(
                "new leading axis and size-1 axis",
                vec![u(&[3, 1])],
                Attrs::new().with("shape", vec![2i64, 3, 4]),
            ),
            Case::new(
                "scalar",
                vec![u(&[])],
                Attrs::new().with("shape", vec![2i64, 2]),
            ),
        ],
        "ConcatV2" => vec![
            Case::new(
                "three inputs, axis 1",
                vec![u(&[2, 1]), u(&[2, 3]), u(&[2, 2])],
                Attrs::new().with("axis", 1i64),
            ),
            Case::new(
                "negative axis",
                vec![u(&[1, 3]), u(&[2, 3])],
                Attrs::new().with("axis", -2i64),
            ),
        ],
        "Pack" => vec![
            Case::new(
                "axis 0",
                vec![u(&[2, 3]), u(&[2, 3]), u(&[2, 3])],
                Attrs::new().with("axis", 0i64),
            ),
            Case::new(
                "axis -1",
                vec![u(&[2]), u(&[2])],
                Attrs::new().with("axis", -1i64),
            ),
        ],
        "Unpack" => vec![
            Case::new(
                "axis 0",
                vec![u(&[3, 2, 2])],
                Attrs::new().with("num", 3i64).with("axis", 0i64),
            ),
            Case::new(
                "axis 1",
                vec![u(&[2, 3])],
                Attrs::new().with("num", 3i64).with("axis", 1i64),
            ),
        ],
        "Split" => vec![
            Case::new(
                "three along axis 1",
                vec![u(&[4, 6])],
                Attrs::new().with("num_split", 3i64).with("axis", 1i64),
            ),
            Case::new(
                "two along axis -2",
                vec![u(&[4, 2])],
                Attrs::new().with("num_split", 2i64).with("axis", -2i64),
            ),
        ],
        "SplitV" => vec![Case::new(
            "sizes with -1",
            vec![u(&[5, 2])],
            Attrs::new()
                .with("size_splits", vec![1i64, -1, 2])
                .with("axis", 0i64),
        )],
        "Tile" => vec![
            Case::new(
                "matrix",
                vec![u(&[2, 3])],
                Attrs::new().with("multiples", vec![2i64, 1]),
            ),
            Case::new(
                "rank 3",
                vec![u(&[2, 1, 2])],
                Attrs::new().with("multiples", vec![1i64, 3, 2]),
            ),
            Case::new(
                "scalar",
                vec![u(&[])],
                Attrs::new().with("multiples", Vec::<i64>::new()),
            ),
        ],
        "Pad" => vec![
            Case::new(
                "both sides",
                vec![u(&[2, 3])],
                Attrs::new().with("paddings", paddings(&[[1, 2], [0, 1]])),
            ),
            Case::new(
                "no padding",
                vec![u(&[3])],
                Attrs::new().with("paddings", paddings(&[[0, 0]])),
            ),
        ],
        // TensorFlow gives constant_values no gradient.
        "PadV2" => vec![
            Case::new(
                "constant 0.5",
                vec![u(&[2, 3]), Tensor::from_scalar(0.5f64)],
                Attrs::new().with("paddings", paddings(&[[1, 0], [2, 1]])),
            )
            .only(&[0]),
        ],
        "MirrorPad" => vec![
            Case::new(
                "REFLECT",
                vec![u(&[3, 4])],
                Attrs::new()
                    .with("paddings", paddings(&[[2, 1], [1, 3]]))
                    .with("mode", "REFLECT"),
            ),
            Case::new(
                "SYMMETRIC",
                vec![u(&[3, 2])],
                Attrs::new()
                    .with("paddings", paddings(&[[3, 0], [2, 2]]))
                    .with("mode", "SYMMETRIC"),
            ),
        ],
        "MirrorPadGrad" => vec![
            Case::new(
                "REFLECT",
                vec![u(&[6, 8])],
                Attrs::new()
                    .with("paddings", paddings(&[[2, 1], [1, 3]]))
                    .with("mode", "REFLECT"),
            ),
            Case::new(
                "SYMMETRIC",
                vec![u(&[6, 6])],
                Attrs::new()
                    .with("paddings", paddings(&[[3, 0], [2, 2]]))
                    .with("mode", "SYMMETRIC"),
            ),
        ],
        "ReverseV2" => vec![
            Case::new(
                "two axes",
                vec![u(&[2, 3, 4])],
                Attrs::new().with("axis", vec![0i64, 2]),
            ),
            Case::new(
                "negative axis",
                vec![u(&[3, 2])],
                Attrs::new().with("axis", vec![-1i64]),
            ),
        ],
        "GatherV2" => vec![
            Case::new(
                "axis 0, repeated indices",
                vec![u(&[5, 3]), i32s(&[4, 0, 4, 2], &[2, 2])],
                gather_attrs(0, 0),
            ),
            Case::new(
                "axis 1",
                vec![u(&[2, 4, 3]), i64s(&[3, 1, 3], &[3])],
                gather_attrs(1, 0),
            ),
            Case::new(
                "batch_dims 1, axis 1",
                vec![u(&[2, 4, 3]), i32s(&[0, 3, 3, 1, 1, 2], &[2, 3])],
                gather_attrs(1, 1),
            ),
            Case::new(
                "batch_dims 1, axis -1 (outer dims between)",
                vec![u(&[2, 3, 4]), i64s(&[1, 1, 0, 3], &[2, 2])],
                gather_attrs(-1, 1),
            ),
            Case::new(
                "scalar index",
                vec![u(&[3, 2]), i32s(&[2], &[])],
                gather_attrs(0, 0),
            ),
        ],
        "GatherNd" => vec![
            Case::new(
                "elements, repeated",
                vec![u(&[3, 4]), i32s(&[0, 1, 2, 3, 0, 1], &[3, 2])],
                none(),
            ),
            Case::new("rows", vec![u(&[3, 2]), i64s(&[1, 0, 1], &[3, 1])], none()),
        ],
        "ScatterNd" => vec![
            Case::new(
                "rows, repeated",
                vec![i32s(&[0, 2, 0], &[3, 1]), u(&[3, 4])],
                Attrs::new().with("shape", vec![4i64, 4]),
            ),
            Case::new(
                "elements",
                vec![i64s(&[1, 1, 0, 2], &[2, 2]), u(&[2])],
                Attrs::new().with("shape", vec![2i64, 3]),
            ),
        ],
        "UnsortedSegmentSum" => vec![
            Case::new(
                "negative id and empty segment",
                vec![u(&[5, 2]), i32s(&[0, 2, -1, 0, 1], &[5])],
                segments(4),
            ),
            Case::new(
                "2-D ids",
                vec![u(&[2, 3, 2]), i64s(&[3, 0, 3, -1, 1, 0], &[2, 3])],
                segments(4),
            ),
        ],
        // No empty segment: its value (the lowest/highest finite number) would overflow
        // the finite-difference loss (tests/grads_array.rs covers empty segments).
        "UnsortedSegmentMax" | "UnsortedSegmentMin" => vec![
            Case::new(
                "negative id",
                vec![u(&[5, 2]), i32s(&[0, 2, -1, 0, 1], &[5])],
                segments(3),
            ),
            Case::new(
                "2-D ids",
                vec![u(&[2, 3]), i64s(&[1, 0, 1, 1, -1, 0], &[2, 3])],
                segments(2),
            ),
        ],
        "UnsortedSegmentProd" => vec![
            Case::new(
                "no zeros",
                vec![
                    away_from_zero(r, &[5, 2], 0.5, 2.0),
                    i32s(&[0, 2, -1, 0, 0], &[5]),
                ],
                segments(4),
            ),
            Case::new(
                "one zero and two zeros in a segment",
                vec![
                    Tensor::from_vec(vec![0.0f64, 1.5, 0.0, 0.0, 2.0, 0.0, 0.9, 1.2], [4, 2])
                        .unwrap(),
                    i64s(&[0, 0, 1, 1], &[4]),
                ],
                segments(2),
            ),
        ],
        _ => return None,
    })
}
