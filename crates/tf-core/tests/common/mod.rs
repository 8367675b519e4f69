//! Shared support for tf-core's integration tests: seeded random tensors of every dtype
//! in several memory layouts (contiguous, strided, transposed views), comparison with
//! naive reference results, and proptest strategies for shapes.
//!
//! Use with `mod common;` at the top of a test file. Not every test file uses every
//! helper.
#![allow(dead_code, clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tf_core::{DType, Element, Shape, Tensor};

/// A seeded RNG, so failures reproduce.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` random values of `dtype` as f64: floats in [-3, 3), ints in [-50, 50) (u8 in
/// [0, 100)), bools 0/1.
pub fn random_values(rng: &mut StdRng, dtype: DType, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| match dtype {
            DType::Bool => rng.random_range(0..2) as f64,
            DType::U8 => rng.random_range(0..100) as f64,
            d if d.is_int() => rng.random_range(-50..50) as f64,
            _ => rng.random_range(-3.0..3.0),
        })
        .collect()
}

/// A contiguous tensor of `dtype` holding `values` (converted with tf.cast rules).
pub fn tensor_from_f64(values: &[f64], dtype: DType, dims: &[usize]) -> Tensor {
    tf_core::with_dtype!(dtype, T => {
        let v: Vec<T> = values.iter().map(|&x| T::from_f64(x)).collect();
        Tensor::from_vec(v, Shape::new(dims)).unwrap()
    })
}

/// A random contiguous tensor.
pub fn random_tensor(rng: &mut StdRng, dtype: DType, dims: &[usize]) -> Tensor {
    let n = dims.iter().product();
    tensor_from_f64(&random_values(rng, dtype, n), dtype, dims)
}

/// The same values as `t` laid out as a non-contiguous view: every other element of a
/// buffer twice as large (stride 2 on the innermost dimension, offset 1).
pub fn strided_copy(t: &Tensor) -> Tensor {
    let dims = t.dims().to_vec();
    let values = t.to_f64_vec().unwrap();
    let n = values.len();
    let mut padded = vec![0.0; 2 * n + 1];
    for (i, v) in values.iter().enumerate() {
        padded[1 + 2 * i] = *v;
    }
    let base = tensor_from_f64(&padded, t.dtype(), &[padded.len()]);
    let strides: Vec<usize> = Shape::new(&dims)
        .contiguous_strides()
        .iter()
        .map(|s| s * 2)
        .collect();
    base.view("test", Shape::new(&dims), strides.into(), 1)
        .unwrap()
}

/// The same values as `t` (rank >= 2) as a transposed view of a buffer holding the
/// transpose: last two dimensions swapped in memory.
pub fn transposed_copy(t: &Tensor) -> Tensor {
    let dims = t.dims().to_vec();
    let r = dims.len();
    assert!(r >= 2);
    let values = t.to_f64_vec().unwrap();
    let (rows, cols) = (dims[r - 2], dims[r - 1]);
    let batch: usize = dims[..r - 2].iter().product();
    let mut mem = vec![0.0; values.len()];
    for b in 0..batch {
        for i in 0..rows {
            for j in 0..cols {
                mem[b * rows * cols + j * rows + i] = values[b * rows * cols + i * cols + j];
            }
        }
    }
    let base = tensor_from_f64(&mem, t.dtype(), &[mem.len()]);
    let mut strides: Vec<usize> = Shape::new(&dims).contiguous_strides().to_vec();
    strides[r - 2] = 1;
    strides[r - 1] = rows;
    base.view("test", Shape::new(&dims), strides.into(), 0)
        .unwrap()
}

/// `t` in every layout the tests exercise: contiguous, strided, and (rank >= 2)
/// transposed. All hold the same values.
pub fn layouts(t: &Tensor) -> Vec<Tensor> {
    let mut v = vec![t.clone(), strided_copy(t)];
    if t.rank() >= 2 {
        v.push(transposed_copy(t));
    }
    v
}

/// Tolerance suited to a dtype's precision (relative and absolute).
pub fn tol(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 2e-3,
        DType::BF16 => 1.6e-2,
        DType::F32 => 2e-6,
        DType::F64 => 1e-12,
        _ => 0.0,
    }
}

/// Asserts `actual` has `dims` and matches `expected` elementwise within
/// `rtol * |expected| + atol`; NaNs must match NaNs.
pub fn assert_close(
    actual: &Tensor,
    expected: &[f64],
    dims: &[usize],
    rtol: f64,
    atol: f64,
    what: &str,
) {
    assert_eq!(actual.dims(), dims, "{what}: shape");
    let got = actual.to_f64_vec().unwrap();
    assert_eq!(got.len(), expected.len(), "{what}: element count");
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let ok = if e.is_nan() {
            g.is_nan()
        } else if e.is_infinite() {
            g == e
        } else {
            (g - e).abs() <= rtol * e.abs() + atol
        };
        assert!(
            ok,
            "{what}: element {i}: got {g}, expected {e} (all: {got:?} vs {expected:?})"
        );
    }
}

/// Rounds f64 reference values through `dtype` (what a kernel computing exactly and
/// storing in `dtype` would produce).
pub fn round_to(dtype: DType, values: &[f64]) -> Vec<f64> {
    tf_core::with_dtype!(dtype, T => values.iter().map(|&x| T::from_f64(x).to_f64()).collect())
}

pub mod strategies {
    //! proptest strategies for shapes.
    use proptest::prelude::*;

    /// Dimensions of rank 0..=4 with sizes 0..=4 (zero-size dimensions included).
    pub fn dims() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0usize..5, 0..5)
    }

    /// Two shapes that broadcast together: start from one shape and, per dimension,
    /// replace the other's size with 1 or drop leading dimensions.
    pub fn broadcastable_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        (dims(), any::<u16>(), 0usize..3).prop_map(|(a, mask, drop)| {
            let mut b: Vec<usize> = a
                .iter()
                .enumerate()
                .map(|(i, &d)| if mask >> i & 1 == 1 { 1 } else { d })
                .collect();
            let drop = drop.min(b.len());
            b.drain(..drop);
            let a = a
                .iter()
                .enumerate()
                .map(|(i, &d)| if mask >> (i + 8) & 1 == 1 { 1 } else { d })
                .collect();
            (a, b)
        })
    }
}

/// Every element dtype with its Rust type's name, for loops over dtypes.
pub const ALL_DTYPES: [DType; 9] = DType::ALL;

/// Reads back an element type generically (helper for typed asserts).
pub fn values_of<T: Element>(t: &Tensor) -> Vec<T> {
    t.to_vec::<T>().unwrap()
}
