//! Finite-difference gradient checking for any registered op.
//!
//! For an op call with float64 inputs, the loss `L = Σ_k sum(output_k · w_k)` (random
//! weights `w_k` for every float output) is differentiated twice: by the tape (the
//! registered gradient) and by central differences on each element of each checked
//! input. Per-op sample calls live in the `cases_*` files.
#![allow(dead_code, clippy::unwrap_used)]

pub mod cases_array;
pub mod cases_conv;
pub mod cases_elementwise;
pub mod cases_linalg;
pub mod cases_nn;
pub mod cases_reduce;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tf_autodiff::GradientTape;
use tf_core::op::{Attrs, OpDef, call};
use tf_core::{DType, Tensor, ops};

/// One sample call of an op.
pub struct Case {
    /// Inputs (float inputs to be checked must be float64).
    pub inputs: Vec<Tensor>,
    /// Attributes.
    pub attrs: Attrs,
    /// Indices of the inputs whose gradient is checked.
    pub check: Vec<usize>,
    /// A label for failure messages.
    pub label: String,
}

impl Case {
    /// A case checking every float64 input.
    pub fn new(label: impl Into<String>, inputs: Vec<Tensor>, attrs: Attrs) -> Case {
        let check = inputs
            .iter()
            .enumerate()
            .filter(|(_, t)| t.dtype() == DType::F64)
            .map(|(i, _)| i)
            .collect();
        Case {
            inputs,
            attrs,
            check,
            label: label.into(),
        }
    }

    /// Restricts the checked inputs.
    pub fn only(mut self, check: &[usize]) -> Case {
        self.check = check.to_vec();
        self
    }
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A float64 tensor of `dims` with values uniform in [lo, hi).
pub fn uniform(r: &mut StdRng, dims: &[usize], lo: f64, hi: f64) -> Tensor {
    let n: usize = dims.iter().product();
    Tensor::from_vec(
        (0..n).map(|_| r.random_range(lo..hi)).collect::<Vec<f64>>(),
        dims.to_vec(),
    )
    .unwrap()
}

/// A float64 tensor with values uniform in ±[lo, hi) (away from zero).
pub fn away_from_zero(r: &mut StdRng, dims: &[usize], lo: f64, hi: f64) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| {
            let m = r.random_range(lo..hi);
            if r.random_bool(0.5) { m } else { -m }
        })
        .collect();
    Tensor::from_vec(v, dims.to_vec()).unwrap()
}

/// Random shape dims in 1..=max for the given rank.
pub fn dims(r: &mut StdRng, rank: usize, max: usize) -> Vec<usize> {
    (0..rank).map(|_| r.random_range(1..=max)).collect()
}

fn loss_value(outs: &[Tensor], weights: &[Option<Vec<f64>>]) -> f64 {
    outs.iter()
        .zip(weights)
        .filter_map(|(o, w)| {
            w.as_ref().map(|w| {
                o.to_f64_vec()
                    .unwrap()
                    .iter()
                    .zip(w)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
        })
        .sum()
}

fn perturbed(t: &Tensor, j: usize, delta: f64) -> Tensor {
    let mut v = t.to_vec::<f64>().unwrap();
    v[j] += delta;
    Tensor::from_vec(v, t.dims().to_vec()).unwrap()
}

/// Checks the registered gradient of `op` on `case` against central differences.
pub fn check(op: &'static OpDef, case: &Case, seed: u64) -> Result<(), String> {
    let name = format!("{} [{}]", op.name, case.label);
    let outs =
        call(op, &case.inputs, &case.attrs).map_err(|e| format!("{name}: forward failed: {e}"))?;
    let mut r = rng(seed);
    let weights: Vec<Option<Vec<f64>>> = outs
        .iter()
        .map(|o| {
            o.dtype().is_float().then(|| {
                (0..o.num_elements())
                    .map(|_| r.random_range(-1.0..1.0))
                    .collect()
            })
        })
        .collect();

    // Analytic: through the tape.
    let tape = GradientTape::new();
    for &i in &case.check {
        tape.watch(&case.inputs[i]);
    }
    let outs =
        call(op, &case.inputs, &case.attrs).map_err(|e| format!("{name}: forward failed: {e}"))?;
    let mut loss: Option<Tensor> = None;
    for (o, w) in outs.iter().zip(&weights) {
        let Some(w) = w else { continue };
        let wt = ops::cast(
            &Tensor::from_vec(w.clone(), o.dims().to_vec()).unwrap(),
            o.dtype(),
        )
        .unwrap();
        let term = ops::reduce_sum(
            &ops::cast(&ops::mul(o, &wt).unwrap(), DType::F64).unwrap(),
            None,
            false,
        )
        .unwrap();
        loss = Some(match loss {
            Some(l) => ops::add(&l, &term).unwrap(),
            None => term,
        });
    }
    let Some(loss) = loss else {
        return Err(format!("{name}: no float output to differentiate"));
    };
    let srcs: Vec<&Tensor> = case.check.iter().map(|&i| &case.inputs[i]).collect();
    let grads = tape
        .gradient(&loss, srcs.as_slice())
        .map_err(|e| format!("{name}: gradient failed: {e}"))?;

    // Numeric: central differences, with a step suited to the outputs' precision (an
    // f32 output rounds away a 1e-6 step).
    let low_precision = outs
        .iter()
        .any(|o| o.dtype().is_float() && o.dtype() != DType::F64);
    let (eps, rel) = if low_precision {
        (1e-2, 1e-3)
    } else {
        (1e-6, 1e-5)
    };
    for (k, &i) in case.check.iter().enumerate() {
        let x = &case.inputs[i];
        let analytic = match &grads[k] {
            Some(g) => {
                if g.dims() != x.dims() {
                    return Err(format!(
                        "{name}: gradient of input {i} has shape {}, input {}",
                        g.shape(),
                        x.shape()
                    ));
                }
                g.to_f64_vec().unwrap()
            }
            None => vec![0.0; x.num_elements()],
        };
        for j in 0..x.num_elements() {
            let eval = |d: f64| {
                let mut inputs = case.inputs.clone();
                inputs[i] = perturbed(x, j, d);
                let o = call(op, &inputs, &case.attrs).unwrap();
                loss_value(&o, &weights)
            };
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
            let a = analytic[j];
            let tol = rel / 10.0 + rel * numeric.abs().max(a.abs());
            if (a - numeric).abs() > tol || a.is_nan() != numeric.is_nan() {
                return Err(format!(
                    "{name}: d/d input{i}[{j}]: gradient {a}, finite difference {numeric} (all analytic: {analytic:?})"
                ));
            }
        }
    }
    Ok(())
}
