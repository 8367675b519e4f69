//! Finite-difference sample calls for elementwise ops.

use super::{Case, away_from_zero, uniform};
use rand::rngs::StdRng;
use tf_core::op::Attrs;
use tf_core::{DType, Tensor};

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    let none = Attrs::new;
    Some(match name {
        "AddV2" | "Sub" | "Mul" => vec![
            Case::new(
                "same shape",
                vec![
                    uniform(r, &[2, 3], -2.0, 2.0),
                    uniform(r, &[2, 3], -2.0, 2.0),
                ],
                none(),
            ),
            Case::new(
                "broadcast",
                vec![
                    uniform(r, &[2, 1, 3], -2.0, 2.0),
                    uniform(r, &[4, 1], -2.0, 2.0),
                ],
                none(),
            ),
            Case::new(
                "scalar",
                vec![uniform(r, &[], -2.0, 2.0), uniform(r, &[3], -2.0, 2.0)],
                none(),
            ),
        ],
        "RealDiv" => vec![
            Case::new(
                "same shape",
                vec![
                    uniform(r, &[2, 3], -2.0, 2.0),
                    away_from_zero(r, &[2, 3], 0.5, 2.0),
                ],
                none(),
            ),
            Case::new(
                "broadcast",
                vec![
                    uniform(r, &[3, 1], -2.0, 2.0),
                    away_from_zero(r, &[2], 0.5, 2.0),
                ],
                none(),
            ),
        ],
        "Neg" => vec![Case::new(
            "matrix",
            vec![uniform(r, &[2, 3], -2.0, 2.0)],
            none(),
        )],
        "Cast" => vec![
            Case::new(
                "f64 -> f32",
                vec![uniform(r, &[3], -2.0, 2.0)],
                Attrs::new().with("DstT", DType::F32),
            ),
            Case::new(
                "f64 -> f64",
                vec![uniform(r, &[2], -2.0, 2.0)],
                Attrs::new().with("DstT", DType::F64),
            ),
        ],
        _ => return None,
    })
}

/// Keeps `Tensor` in scope for case files that build constants.
pub fn _unused(_: Tensor) {}
