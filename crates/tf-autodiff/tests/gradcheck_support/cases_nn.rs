//! Finite-difference sample calls for nn ops.

use super::{Case, uniform};
use rand::Rng;
use rand::rngs::StdRng;
use tf_core::Tensor;
use tf_core::op::Attrs;

fn bn_attrs(eps: f64, offset: bool, scale: bool) -> Attrs {
    Attrs::new()
        .with("variance_epsilon", eps)
        .with("has_offset", offset)
        .with("has_scale", scale)
}

fn fused_attrs(format: &'static str, training: bool, factor: f64) -> Attrs {
    Attrs::new()
        .with("epsilon", 1e-3)
        .with("data_format", format)
        .with("is_training", training)
        .with("exponential_avg_factor", factor)
}

/// Positive values whose rows (last axis) sum to 1.
fn distributions(r: &mut StdRng, dims: &[usize]) -> Tensor {
    let raw = uniform(r, dims, 0.1, 1.0).to_vec::<f64>().unwrap();
    let n = dims.last().copied().unwrap_or(1);
    let v: Vec<f64> = raw
        .chunks(n)
        .flat_map(|row| {
            let s: f64 = row.iter().sum();
            row.iter().map(move |x| x / s)
        })
        .collect();
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    Some(match name {
        "Softmax" | "LogSoftmax" => vec![
            Case::new(
                "last axis",
                vec![uniform(r, &[2, 4], -2.0, 2.0)],
                Attrs::new().with("axis", -1i64),
            ),
            Case::new(
                "axis 1 of 3",
                vec![uniform(r, &[3, 2, 2], -2.0, 2.0)],
                Attrs::new().with("axis", 1i64),
            ),
        ],
        // The op's backprop `softmax - labels` is the logits gradient only for labels
        // that sum to 1 along each row (TensorFlow's contract): rows are distributions.
        "SoftmaxCrossEntropyWithLogits" => vec![
            Case::new(
                "same shape",
                vec![uniform(r, &[3, 4], -2.0, 2.0), distributions(r, &[3, 4])],
                Attrs::new(),
            ),
            Case::new(
                "broadcast logits",
                vec![uniform(r, &[1, 4], -2.0, 2.0), distributions(r, &[3, 4])],
                Attrs::new(),
            ),
            Case::new(
                "broadcast labels",
                vec![uniform(r, &[2, 3], -2.0, 2.0), distributions(r, &[3])],
                Attrs::new(),
            ),
        ],
        "SparseSoftmaxCrossEntropyWithLogits" => {
            let labels: Vec<i32> = (0..3).map(|_| r.random_range(0..4)).collect();
            let labels64: Vec<i64> = (0..2).map(|_| r.random_range(0..5)).collect();
            vec![
                Case::new(
                    "int32 labels",
                    vec![uniform(r, &[3, 4], -2.0, 2.0), Tensor::vector(&labels)],
                    Attrs::new(),
                ),
                Case::new(
                    "int64 labels",
                    vec![uniform(r, &[2, 5], -2.0, 2.0), Tensor::vector(&labels64)],
                    Attrs::new(),
                ),
            ]
        }
        "L2Normalize" => vec![
            Case::new(
                "last axis",
                vec![uniform(r, &[2, 3], -2.0, 2.0)],
                Attrs::new().with("axis", vec![1i64]).with("epsilon", 1e-12),
            ),
            Case::new(
                "axes 0,2",
                vec![uniform(r, &[2, 3, 2], -2.0, 2.0)],
                Attrs::new()
                    .with("axis", vec![0i64, 2])
                    .with("epsilon", 1e-12),
            ),
            Case::new(
                "epsilon dominates",
                vec![uniform(r, &[2, 3], -0.1, 0.1)],
                Attrs::new().with("axis", vec![1i64]).with("epsilon", 1.0),
            ),
        ],
        "BatchNormalization" => vec![
            Case::new(
                "offset and scale",
                vec![
                    uniform(r, &[2, 3], -2.0, 2.0),
                    uniform(r, &[3], -1.0, 1.0),
                    uniform(r, &[3], 0.5, 2.0),
                    uniform(r, &[3], -1.0, 1.0),
                    uniform(r, &[3], 0.5, 2.0),
                ],
                bn_attrs(1e-3, true, true),
            ),
            Case::new(
                "no offset, no scale",
                vec![
                    uniform(r, &[2, 3], -2.0, 2.0),
                    uniform(r, &[3], -1.0, 1.0),
                    uniform(r, &[3], 0.5, 2.0),
                ],
                bn_attrs(1e-3, false, false),
            ),
            Case::new(
                "scale only, broadcast [3,1]",
                vec![
                    uniform(r, &[2, 3, 2], -2.0, 2.0),
                    uniform(r, &[3, 1], -1.0, 1.0),
                    uniform(r, &[3, 1], 0.5, 2.0),
                    uniform(r, &[2], 0.5, 2.0),
                ],
                bn_attrs(0.01, false, true),
            ),
        ],
        "FusedBatchNormV3" => {
            let x4 = |r: &mut StdRng, d: [usize; 4]| uniform(r, &d, -2.0, 2.0);
            let params = |r: &mut StdRng, c: usize, stats: bool| -> Vec<Tensor> {
                let (m, v) = if stats {
                    (uniform(r, &[c], -1.0, 1.0), uniform(r, &[c], 0.5, 2.0))
                } else {
                    (uniform(r, &[0], 0.0, 1.0), uniform(r, &[0], 0.0, 1.0))
                };
                vec![
                    uniform(r, &[c], 0.5, 2.0),
                    uniform(r, &[c], -1.0, 1.0),
                    m,
                    v,
                ]
            };
            let (a, b) = (x4(r, [2, 2, 2, 3]), x4(r, [2, 3, 2, 2]));
            let (cc, d) = (x4(r, [2, 2, 2, 3]), x4(r, [2, 3, 2, 2]));
            let mut with = |x: Tensor, c: usize, stats: bool| {
                let mut v = vec![x];
                v.extend(params(r, c, stats));
                v
            };
            vec![
                Case::new(
                    "inference NHWC",
                    with(a, 3, true),
                    fused_attrs("NHWC", false, 1.0),
                )
                .only(&[0, 1, 2]),
                Case::new(
                    "inference NCHW",
                    with(b, 3, true),
                    fused_attrs("NCHW", false, 1.0),
                )
                .only(&[0, 1, 2]),
                Case::new(
                    "training NHWC",
                    with(cc, 3, false),
                    fused_attrs("NHWC", true, 1.0),
                )
                .only(&[0, 1, 2]),
                Case::new(
                    "training NCHW, running averages",
                    with(d, 3, true),
                    fused_attrs("NCHW", true, 0.3),
                )
                .only(&[0, 1, 2]),
            ]
        }
        "FusedBatchNormGradV3" => {
            let mut v = Vec::new();
            for (format, dims) in [("NHWC", [2usize, 2, 2, 3]), ("NCHW", [2, 3, 2, 2])] {
                for training in [true, false] {
                    v.push(Case::new(
                        format!("{format} training={training}"),
                        vec![
                            uniform(r, &dims, -1.0, 1.0),
                            uniform(r, &dims, -2.0, 2.0),
                            uniform(r, &[3], 0.5, 2.0),
                            uniform(r, &[3], -1.0, 1.0),
                            uniform(r, &[3], 0.5, 2.0),
                            uniform(r, &[0], 0.0, 1.0),
                        ],
                        fused_attrs(format, training, 1.0),
                    ));
                }
            }
            v
        }
        "Dropout" => vec![
            Case::new(
                "rate 0",
                vec![uniform(r, &[2, 3], -2.0, 2.0)],
                Attrs::new()
                    .with("rate", 0.0)
                    .with("seed", 1i64)
                    .with("seed2", 2i64),
            ),
            Case::new(
                "rate 0, noise shape",
                vec![uniform(r, &[2, 3], -2.0, 2.0)],
                Attrs::new()
                    .with("rate", 0.0)
                    .with("seed", 1i64)
                    .with("seed2", 2i64)
                    .with("noise_shape", vec![1i64, 3]),
            ),
        ],
        _ => return None,
    })
}
