//! Finite-difference sample calls for array ops.

use super::{Case, uniform};
use rand::rngs::StdRng;
use tf_core::op::Attrs;

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    let none = Attrs::new;
    Some(match name {
        "Identity" => vec![Case::new(
            "matrix",
            vec![uniform(r, &[2, 3], -2.0, 2.0)],
            none(),
        )],
        "Reshape" => vec![Case::new(
            "2x3 -> 3x2",
            vec![uniform(r, &[2, 3], -2.0, 2.0)],
            Attrs::new().with("shape", vec![3i64, 2]),
        )],
        _ => {
            let _ = (none, uniform(r, &[1], 0.0, 1.0));
            return None;
        }
    })
}
