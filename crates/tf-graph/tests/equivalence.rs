//! Property: random programs of tf-core ops give the same results eagerly and traced,
//! before and after optimization.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tf_core::{Result, Tensor, ops};
use tf_graph::{Pipeline, function};

#[derive(Clone, Debug)]
enum Instr {
    Unary(u8, usize),
    Binary(u8, usize, usize),
    MatMul(usize, usize),
    Transpose(usize),
    RowSum(usize),
    Scale(usize, i8),
    BiasRelu(usize, usize),
}

fn pick(vals: &[Tensor], i: usize) -> &Tensor {
    &vals[i % vals.len()]
}

fn run(prog: &[Instr], args: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut vals: Vec<Tensor> = args.to_vec();
    for ins in prog {
        let v = match ins {
            Instr::Unary(k, a) => {
                let x = pick(&vals, *a);
                match k % 7 {
                    0 => ops::tanh(x)?,
                    1 => ops::sigmoid(x)?,
                    2 => ops::neg(x)?,
                    3 => ops::abs(x)?,
                    4 => ops::relu(x)?,
                    5 => ops::sin(x)?,
                    _ => ops::square(&ops::tanh(x)?)?,
                }
            }
            Instr::Binary(k, a, b) => {
                let (x, y) = (pick(&vals, *a), pick(&vals, *b));
                match k % 4 {
                    0 => ops::add(x, y)?,
                    1 => ops::sub(x, y)?,
                    2 => ops::mul(x, y)?,
                    _ => ops::maximum(x, y)?,
                }
            }
            Instr::MatMul(a, b) => {
                let m = ops::matmul(pick(&vals, *a), pick(&vals, *b))?;
                ops::tanh(&m)?
            }
            Instr::Transpose(a) => ops::transpose(pick(&vals, *a), Some(&[1, 0]))?,
            Instr::RowSum(a) => {
                let x = pick(&vals, *a);
                // [n,1] broadcast back to [n,n]: every value stays square.
                ops::mul(&ops::reduce_sum(x, Some(&[1]), true)?, x)?
            }
            Instr::Scale(a, c) => {
                ops::mul(pick(&vals, *a), &Tensor::from_scalar(f32::from(*c) * 0.25))?
            }
            Instr::BiasRelu(a, b) => {
                let bias = ops::reduce_sum(pick(&vals, *b), Some(&[0]), false)?;
                ops::relu(&ops::bias_add(
                    &ops::matmul(pick(&vals, *a), &args[1])?,
                    &bias,
                )?)?
            }
        };
        vals.push(v);
    }
    let n = vals.len();
    Ok(vec![vals[n - 1].clone(), vals[n / 2].clone()])
}

fn instr() -> impl Strategy<Value = Instr> {
    prop_oneof![
        (any::<u8>(), 0..64usize).prop_map(|(k, a)| Instr::Unary(k, a)),
        (any::<u8>(), 0..64usize, 0..64usize).prop_map(|(k, a, b)| Instr::Binary(k, a, b)),
        (0..64usize, 0..64usize).prop_map(|(a, b)| Instr::MatMul(a, b)),
        (0..64usize).prop_map(Instr::Transpose),
        (0..64usize).prop_map(Instr::RowSum),
        (0..64usize, any::<i8>()).prop_map(|(a, c)| Instr::Scale(a, c)),
        (0..64usize, 0..64usize).prop_map(|(a, b)| Instr::BiasRelu(a, b)),
    ]
}

fn close(a: &Tensor, b: &Tensor) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(a.dims(), b.dims());
    let (x, y) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    for (p, q) in x.iter().zip(&y) {
        let ok = (p - q).abs() <= 1e-4 * (1.0 + p.abs()) || (p.is_nan() && q.is_nan());
        prop_assert!(ok, "{} vs {}", p, q);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn eager_traced_and_optimized_agree(
        prog in prop::collection::vec(instr(), 1..14),
        n in 1usize..6,
        seed in any::<u32>(),
    ) {
        let mut s = u64::from(seed) | 1;
        let mut rnd = |len: usize| -> Vec<f32> {
            (0..len).map(|_| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            }).collect()
        };
        let args = vec![
            Tensor::from_vec(rnd(n * n), [n, n]).unwrap(),
            Tensor::from_vec(rnd(n * n), [n, n]).unwrap(),
        ];
        let eager = run(&prog, &args).unwrap();
        let p1 = prog.clone();
        let raw = function(move |a| run(&p1, a)).with_pipeline(Pipeline::none());
        let p2 = prog.clone();
        let opt = function(move |a| run(&p2, a));
        let r = raw.call(&args).unwrap();
        let o = opt.call(&args).unwrap();
        for ((e, r), o) in eager.iter().zip(&r).zip(&o) {
            close(e, r)?;
            close(e, o)?;
        }
    }
}
