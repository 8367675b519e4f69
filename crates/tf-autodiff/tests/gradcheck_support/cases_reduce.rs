//! Finite-difference sample calls for reduce ops.

use super::{Case, uniform};
use rand::rngs::StdRng;
use tf_core::op::Attrs;

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    let none = Attrs::new;
    Some(match name {
        "Sum" | "Mean" => vec![
            Case::new(
                "all",
                vec![uniform(r, &[2, 3], -2.0, 2.0)],
                Attrs::new()
                    .with("axis", vec![0i64, 1])
                    .with("keepdims", false),
            ),
            Case::new(
                "axis 1 keepdims",
                vec![uniform(r, &[2, 3, 2], -2.0, 2.0)],
                Attrs::new().with("axis", vec![1i64]).with("keepdims", true),
            ),
            Case::new(
                "axes 0,2",
                vec![uniform(r, &[2, 3, 2], -2.0, 2.0)],
                Attrs::new()
                    .with("axis", vec![0i64, 2])
                    .with("keepdims", false),
            ),
        ],
        _ => {
            let _ = (none, uniform(r, &[1], 0.0, 1.0));
            return None;
        }
    })
}
