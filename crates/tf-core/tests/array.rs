//! The array ops against naive references (index arithmetic on f64 copies of the
//! values), on random shapes, every layout and several dtypes; views share storage;
//! StridedSlice against a table of NumPy-derived cases and random index expressions;
//! the gradient-support ops (StopGradient, StridedSliceGrad, MirrorPadGrad, unsorted
//! segment reductions) against references and as adjoints; shape inference with
//! unknown dimensions; error messages.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::Arc;
use tf_core::op::{Attrs, InferContext, OpDef};
use tf_core::ops::{self, SliceMasks};
use tf_core::{DType, PartialShape, Shape, Tensor};

#[path = "array/errors.rs"]
mod errors;
#[path = "array/gather.rs"]
mod gather;
#[path = "array/grad_ops.rs"]
mod grad_ops;
#[path = "array/inference.rs"]
mod inference;
#[path = "array/join.rs"]
mod join;
#[path = "array/pad_tile.rs"]
mod pad_tile;
#[path = "array/shape_ops.rs"]
mod shape_ops;
#[path = "array/strided_slice.rs"]
mod strided_slice;
#[path = "array/views.rs"]
mod views;

// Reference helpers shared by the modules.

/// Row-major multi-index of flat position `i`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        idx[d] = i % dims[d];
        i /= dims[d];
    }
    idx
}

/// Flat position of a multi-index.
fn ravel(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// The reference output of shape `out_dims` whose element at `idx` is
/// `src[f(idx)]` (`f` returns a flat input position).
fn build(out_dims: &[usize], src: &[f64], f: impl Fn(&[usize]) -> usize) -> Vec<f64> {
    let n: usize = out_dims.iter().product();
    (0..n).map(|i| src[f(&unravel(i, out_dims))]).collect()
}

fn random_dims(r: &mut StdRng, rank: usize, max: usize) -> Vec<usize> {
    (0..rank).map(|_| r.random_range(0..=max)).collect()
}

/// Dtypes cycled through by the copy tests (every dtype, including bool and halves).
const DTYPES: [DType; 9] = DType::ALL;

fn check(actual: &Tensor, expected: &[f64], dims: &[usize], what: &str) {
    assert_close(actual, expected, dims, 0.0, 0.0, what);
}

/// A symbolic tensor with a partial shape (as a tracer makes).
fn sym(dtype: DType, dims: &[Option<usize>]) -> Tensor {
    Tensor::symbolic(dtype, PartialShape::new(dims), Arc::new(()))
}
