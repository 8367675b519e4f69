//! Walks tf-core's op registry: every op must either be declared non-differentiable or
//! have a gradient that passes a float64 finite-difference check on sample calls. An op
//! added later without a (correct) gradient fails here.

#![allow(clippy::unwrap_used)]

mod gradcheck_support;

use gradcheck_support::{
    Case, cases_array, cases_conv, cases_elementwise, cases_linalg, cases_nn, cases_reduce, check,
    rng,
};
use rand::rngs::StdRng;
use tf_autodiff::{Differentiability, ensure_builtin_gradients, gradient_of};
use tf_core::op::registered_ops;

/// Gradients still being written in this session's work: remove an op from this list
/// when its gradient lands. The test fails if a listed op already has one.
const PENDING: &[&str] = &[];

fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    cases_elementwise::cases(name, r)
        .or_else(|| cases_array::cases(name, r))
        .or_else(|| cases_reduce::cases(name, r))
        .or_else(|| cases_linalg::cases(name, r))
        .or_else(|| cases_nn::cases(name, r))
        .or_else(|| cases_conv::cases(name, r))
}

#[test]
fn every_differentiable_op_passes_a_finite_difference_check() {
    ensure_builtin_gradients();
    let mut unregistered = Vec::new();
    let mut no_case = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (k, op) in registered_ops().into_iter().enumerate() {
        match gradient_of(op) {
            Differentiability::NotDifferentiable => {}
            Differentiability::Unregistered => unregistered.push(op.name),
            Differentiability::Gradient(_) => {
                let mut r = rng(1000 + k as u64);
                match cases(op.name, &mut r) {
                    None => no_case.push(op.name),
                    Some(cs) => {
                        for (i, c) in cs.iter().enumerate() {
                            checked += 1;
                            if let Err(e) = check(op, c, 7 * k as u64 + i as u64) {
                                failures.push(e);
                            }
                        }
                    }
                }
            }
        }
    }
    let unexpected: Vec<_> = unregistered
        .iter()
        .filter(|n| !PENDING.contains(n))
        .collect();
    let stale: Vec<_> = PENDING
        .iter()
        .filter(|n| !unregistered.contains(n))
        .collect();
    assert!(
        unexpected.is_empty(),
        "ops with neither a gradient nor a not-differentiable mark: {unexpected:?}"
    );
    assert!(
        stale.is_empty(),
        "ops listed as PENDING that now have a registration: {stale:?}"
    );
    assert!(
        no_case.is_empty(),
        "differentiable ops without a finite-difference case: {no_case:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
