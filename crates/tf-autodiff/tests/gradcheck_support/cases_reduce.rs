//! Finite-difference sample calls for reduce ops.

use super::{Case, away_from_zero, uniform};
use rand::rngs::StdRng;
use tf_core::op::Attrs;

fn reduce(axes: &[i64], keepdims: bool) -> Attrs {
    Attrs::new()
        .with("axis", axes.to_vec())
        .with("keepdims", keepdims)
}

/// The usual reduction calls on values from `make`.
fn reductions(r: &mut StdRng, make: fn(&mut StdRng, &[usize]) -> tf_core::Tensor) -> Vec<Case> {
    vec![
        Case::new("all", vec![make(r, &[2, 3])], reduce(&[0, 1], false)),
        Case::new(
            "axis 1 keepdims",
            vec![make(r, &[2, 3, 2])],
            reduce(&[1], true),
        ),
        Case::new(
            "axes 0,2",
            vec![make(r, &[2, 3, 2])],
            reduce(&[0, 2], false),
        ),
        Case::new(
            "axes 2,0 keepdims",
            vec![make(r, &[2, 2, 3])],
            reduce(&[2, 0], true),
        ),
        Case::new(
            "negative axis",
            vec![make(r, &[3, 2])],
            reduce(&[-1], false),
        ),
        Case::new("no axes", vec![make(r, &[2, 2])], reduce(&[], false)),
    ]
}

fn scans(r: &mut StdRng, make: fn(&mut StdRng, &[usize]) -> tf_core::Tensor) -> Vec<Case> {
    let mut v = Vec::new();
    for exclusive in [false, true] {
        for reverse in [false, true] {
            v.push(Case::new(
                format!("axis 1 exclusive={exclusive} reverse={reverse}"),
                vec![make(r, &[2, 4])],
                Attrs::new()
                    .with("axis", 1i64)
                    .with("exclusive", exclusive)
                    .with("reverse", reverse),
            ));
        }
    }
    v.push(Case::new(
        "axis 0 of 3",
        vec![make(r, &[3, 2, 2])],
        Attrs::new()
            .with("axis", 0i64)
            .with("exclusive", false)
            .with("reverse", false),
    ));
    v
}

fn spread(r: &mut StdRng, dims: &[usize]) -> tf_core::Tensor {
    uniform(r, dims, -2.0, 2.0)
}

fn nonzero(r: &mut StdRng, dims: &[usize]) -> tf_core::Tensor {
    away_from_zero(r, dims, 0.5, 1.5)
}

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    Some(match name {
        "Sum" | "Mean" | "Max" | "Min" | "ReduceLogSumExp" | "Moments" => reductions(r, spread),
        "Prod" => reductions(r, nonzero),
        "Cumsum" => scans(r, spread),
        "Cumprod" => scans(r, nonzero),
        "TopKV2" => vec![
            Case::new(
                "k 3 of 5",
                vec![uniform(r, &[2, 5], -2.0, 2.0)],
                Attrs::new().with("k", 3i64).with("sorted", true),
            ),
            Case::new(
                "k = n",
                vec![uniform(r, &[6], -2.0, 2.0)],
                Attrs::new().with("k", 6i64).with("sorted", true),
            ),
            Case::new(
                "rank 3",
                vec![uniform(r, &[2, 2, 4], -2.0, 2.0)],
                Attrs::new().with("k", 2i64).with("sorted", false),
            ),
        ],
        "Sort" => vec![
            Case::new(
                "last axis ascending",
                vec![uniform(r, &[2, 5], -2.0, 2.0)],
                Attrs::new()
                    .with("axis", -1i64)
                    .with("direction", "ASCENDING"),
            ),
            Case::new(
                "axis 0 descending",
                vec![uniform(r, &[4, 3], -2.0, 2.0)],
                Attrs::new()
                    .with("axis", 0i64)
                    .with("direction", "DESCENDING"),
            ),
            Case::new(
                "middle axis of 3",
                vec![uniform(r, &[2, 3, 2], -2.0, 2.0)],
                Attrs::new()
                    .with("axis", 1i64)
                    .with("direction", "ASCENDING"),
            ),
        ],
        _ => return None,
    })
}
