//! Finite-difference sample calls for elementwise ops. Inputs stay away from kinks,
//! jumps and singularities (central differences are meaningless there; the values TF
//! gives at kinks are checked in `tests/higher_order.rs`).

use super::{Case, away_from_zero, uniform};
use rand::Rng;
use rand::rngs::StdRng;
use tf_core::op::Attrs;
use tf_core::{DType, Tensor};

/// A float64 tensor whose values lie in one of `intervals` (each `[lo, hi)`), picked at
/// random: e.g. both sides of a kink, or away from integers.
fn from_intervals(r: &mut StdRng, dims: &[usize], intervals: &[(f64, f64)]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| {
            let (lo, hi) = intervals[r.random_range(0..intervals.len())];
            r.random_range(lo..hi)
        })
        .collect();
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

/// Values at least 0.2 from every integer (away from `Floor`/`Ceil` jumps).
fn between_integers(r: &mut StdRng, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| r.random_range(-3i32..3) as f64 + r.random_range(0.2..0.8))
        .collect();
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

/// Values at least 0.2 from every half-integer (away from `Round` jumps).
fn near_integers(r: &mut StdRng, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| r.random_range(-3i32..3) as f64 + r.random_range(-0.3..0.3))
        .collect();
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

/// A random bool tensor.
fn bools(r: &mut StdRng, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<bool> = (0..n).map(|_| r.random_bool(0.5)).collect();
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

/// A float64 scalar.
fn scalar(v: f64) -> Tensor {
    Tensor::from_scalar(v)
}

/// One case per input tensor: a matrix and a broadcast-free rank-3 tensor.
fn unary(r: &mut StdRng, make: impl Fn(&mut StdRng, &[usize]) -> Tensor) -> Vec<Case> {
    vec![
        Case::new("matrix", vec![make(r, &[2, 3])], Attrs::new()),
        Case::new("rank 3", vec![make(r, &[2, 1, 3])], Attrs::new()),
        Case::new("scalar", vec![make(r, &[])], Attrs::new()),
    ]
}

/// Same-shape, broadcast and scalar cases of a binary op with inputs from `gx`, `gy`.
fn binary(
    r: &mut StdRng,
    gx: impl Fn(&mut StdRng, &[usize]) -> Tensor,
    gy: impl Fn(&mut StdRng, &[usize]) -> Tensor,
) -> Vec<Case> {
    vec![
        Case::new(
            "same shape",
            vec![gx(r, &[2, 3]), gy(r, &[2, 3])],
            Attrs::new(),
        ),
        Case::new(
            "broadcast",
            vec![gx(r, &[2, 1, 3]), gy(r, &[4, 1])],
            Attrs::new(),
        ),
        Case::new("scalar y", vec![gx(r, &[3]), gy(r, &[])], Attrs::new()),
    ]
}

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    let none = Attrs::new;
    let any = |r: &mut StdRng, d: &[usize]| uniform(r, d, -2.0, 2.0);
    let positive = |r: &mut StdRng, d: &[usize]| uniform(r, d, 0.5, 3.0);
    let nonzero = |r: &mut StdRng, d: &[usize]| away_from_zero(r, d, 0.2, 2.0);
    Some(match name {
        "AddV2" | "Sub" | "Mul" | "Maximum" | "Minimum" | "SquaredDifference" => {
            binary(r, any, any)
        }
        "RealDiv" => binary(r, any, |r, d| away_from_zero(r, d, 0.5, 2.0)),
        "FloorDiv" | "FloorMod" => binary(r, |r, d| uniform(r, d, -5.0, 5.0), nonzero),
        "Pow" => {
            let mut cs = binary(r, positive, any);
            // A negative base with integer exponents: only d/dx is defined (TF gives
            // d/dy = 0 where x <= 0; the finite difference in y is NaN there).
            cs.push(
                Case::new(
                    "negative base",
                    vec![
                        uniform(r, &[2, 3], -2.0, -0.5),
                        Tensor::from_vec(vec![2.0f64, 3.0, -1.0], vec![3]).unwrap(),
                    ],
                    none(),
                )
                .only(&[0]),
            );
            cs
        }
        "Neg" | "Square" | "Exp" | "Expm1" | "Sin" | "Cos" | "Tanh" | "Sigmoid" | "Erf"
        | "Erfc" | "Softplus" | "Softsign" | "Silu" => unary(r, any),
        "Abs" | "Sign" | "Reciprocal" | "Elu" | "Selu" | "Relu" => unary(r, nonzero),
        "Log" | "Sqrt" | "Rsqrt" => unary(r, positive),
        "Log1p" => unary(r, |r, d| uniform(r, d, -0.5, 2.0)),
        "Round" => unary(r, near_integers),
        "Floor" | "Ceil" => unary(r, between_integers),
        "Relu6" => unary(r, |r, d| {
            from_intervals(r, d, &[(-2.0, -0.2), (0.2, 5.8), (6.2, 8.0)])
        }),
        "LeakyRelu" => vec![
            Case::new("default alpha", vec![nonzero(r, &[2, 3])], none()),
            Case::new(
                "alpha 0.01",
                vec![nonzero(r, &[2, 3])],
                Attrs::new().with("alpha", 0.01),
            ),
            Case::new(
                "alpha 1.5",
                vec![nonzero(r, &[4])],
                Attrs::new().with("alpha", 1.5),
            ),
        ],
        "Gelu" => vec![
            Case::new(
                "exact",
                vec![uniform(r, &[2, 3], -3.0, 3.0)],
                Attrs::new().with("approximate", false),
            ),
            Case::new(
                "tanh approximation",
                vec![uniform(r, &[2, 3], -3.0, 3.0)],
                Attrs::new().with("approximate", true),
            ),
            Case::new("default", vec![uniform(r, &[3], -3.0, 3.0)], none()),
        ],
        "SelectV2" => vec![
            Case::new(
                "same shape",
                vec![bools(r, &[2, 3]), any(r, &[2, 3]), any(r, &[2, 3])],
                none(),
            ),
            Case::new(
                "broadcast",
                vec![bools(r, &[2, 3]), any(r, &[3]), any(r, &[])],
                none(),
            ),
            Case::new(
                "broadcast condition",
                vec![bools(r, &[3]), any(r, &[2, 1]), any(r, &[2, 3])],
                none(),
            ),
        ],
        "ClipByValue" => vec![
            Case::new(
                "scalar bounds",
                vec![
                    from_intervals(r, &[2, 3], &[(-2.0, -1.1), (-0.9, 0.9), (1.1, 2.0)]),
                    scalar(-1.0),
                    scalar(1.0),
                ],
                none(),
            ),
            Case::new(
                "per-column bounds",
                vec![
                    from_intervals(r, &[3, 2], &[(-2.0, -0.6), (-0.4, 0.4), (0.6, 2.0)]),
                    Tensor::from_vec(vec![-0.5f64, 0.5], vec![2]).unwrap(),
                    Tensor::from_vec(vec![0.5f64, 2.5], vec![2]).unwrap(),
                ],
                none(),
            ),
        ],
        // The fused backprop ops: (gradients, features) and (y, dy).
        "ReluGrad" => vec![
            Case::new("matrix", vec![any(r, &[2, 3]), nonzero(r, &[2, 3])], none()),
            Case::new("scalar", vec![any(r, &[]), nonzero(r, &[])], none()),
        ],
        "TanhGrad" | "SigmoidGrad" => vec![
            Case::new(
                "matrix",
                vec![uniform(r, &[2, 3], -0.95, 0.95), any(r, &[2, 3])],
                none(),
            ),
            Case::new(
                "scalar",
                vec![uniform(r, &[], 0.05, 0.95), any(r, &[])],
                none(),
            ),
        ],
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
