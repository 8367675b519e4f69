//! Finite-difference sample calls for linalg ops.

use super::{Case, uniform};
use rand::rngs::StdRng;
use tf_core::op::Attrs;

/// `[rows, cols]`, or `[cols, rows]` when the op transposes it.
fn mat(r: &mut StdRng, batch: &[usize], rows: usize, cols: usize, t: bool) -> tf_core::Tensor {
    let mut dims = batch.to_vec();
    if t {
        dims.extend([cols, rows]);
    } else {
        dims.extend([rows, cols]);
    }
    uniform(r, &dims, -2.0, 2.0)
}

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    Some(match name {
        "MatMul" => [(false, false), (false, true), (true, false), (true, true)]
            .into_iter()
            .map(|(ta, tb)| {
                Case::new(
                    format!("transpose_a={ta} transpose_b={tb}"),
                    vec![mat(r, &[], 2, 3, ta), mat(r, &[], 3, 4, tb)],
                    Attrs::new().with("transpose_a", ta).with("transpose_b", tb),
                )
            })
            .collect(),
        "BatchMatMulV2" => {
            let mut v: Vec<Case> = [(false, false), (false, true), (true, false), (true, true)]
                .into_iter()
                .map(|(ax, ay)| {
                    Case::new(
                        format!("broadcast batch adj_x={ax} adj_y={ay}"),
                        vec![mat(r, &[2, 1], 2, 3, ax), mat(r, &[3], 3, 2, ay)],
                        Attrs::new().with("adj_x", ax).with("adj_y", ay),
                    )
                })
                .collect();
            v.push(Case::new(
                "matrix x batch",
                vec![mat(r, &[], 2, 3, false), mat(r, &[2], 3, 2, false)],
                Attrs::new().with("adj_x", false).with("adj_y", false),
            ));
            v.push(Case::new(
                "batch of one broadcast",
                vec![mat(r, &[1, 2], 2, 2, false), mat(r, &[3, 1], 2, 3, true)],
                Attrs::new().with("adj_x", false).with("adj_y", true),
            ));
            v
        }
        "BiasAdd" => vec![
            Case::new(
                "NHWC",
                vec![
                    uniform(r, &[2, 3, 4], -2.0, 2.0),
                    uniform(r, &[4], -2.0, 2.0),
                ],
                Attrs::new(),
            ),
            Case::new(
                "NCHW",
                vec![
                    uniform(r, &[2, 3, 2, 2], -2.0, 2.0),
                    uniform(r, &[3], -2.0, 2.0),
                ],
                Attrs::new().with("data_format", "NCHW"),
            ),
        ],
        "BiasAddGrad" => vec![
            Case::new(
                "NHWC",
                vec![uniform(r, &[2, 3, 4], -2.0, 2.0)],
                Attrs::new().with("data_format", "NHWC"),
            ),
            Case::new(
                "NCHW",
                vec![uniform(r, &[2, 3, 2], -2.0, 2.0)],
                Attrs::new().with("data_format", "NCHW"),
            ),
        ],
        _ => return None,
    })
}
