//! Second derivatives of a training loss through nested tapes: the Hessian-vector
//! product of the softmax cross-entropy of a small linear model (`x @ w + b`), i.e. the
//! gradient of `<grad(loss, w), v>` with respect to `w`, compared with a central finite
//! difference of the gradient and with the closed form, in float64.

#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tf_autodiff::{GradientTape, UnconnectedGradients};
use tf_core::{Tensor, ops};

const BATCH: usize = 4;
const FEATURES: usize = 3;
const CLASSES: usize = 5;

fn uniform(r: &mut StdRng, dims: &[usize], lo: f64, hi: f64) -> Tensor {
    let n: usize = dims.iter().product();
    Tensor::from_vec(
        (0..n).map(|_| r.random_range(lo..hi)).collect::<Vec<f64>>(),
        dims.to_vec(),
    )
    .unwrap()
}

/// Dense labels (each row a probability distribution) or sparse class indices.
enum Labels {
    Dense(Tensor),
    Sparse(Tensor),
}

struct Model {
    x: Tensor,
    b: Tensor,
    labels: Labels,
}

impl Model {
    fn new(seed: u64, sparse: bool) -> Model {
        let mut r = StdRng::seed_from_u64(seed);
        let x = uniform(&mut r, &[BATCH, FEATURES], -1.0, 1.0);
        let b = uniform(&mut r, &[CLASSES], -0.5, 0.5);
        let labels = if sparse {
            let l: Vec<i64> = (0..BATCH)
                .map(|_| r.random_range(0..CLASSES as i64))
                .collect();
            Labels::Sparse(Tensor::vector(&l))
        } else {
            let raw = uniform(&mut r, &[BATCH, CLASSES], 0.1, 1.0);
            let total = ops::reduce_sum(&raw, Some(&[1]), true).unwrap();
            Labels::Dense(ops::div(&raw, &total).unwrap())
        };
        Model { x, b, labels }
    }

    fn logits(&self, w: &Tensor) -> Tensor {
        ops::bias_add(&ops::matmul(&self.x, w).unwrap(), &self.b).unwrap()
    }

    /// Per-example losses `[batch]`.
    fn losses(&self, w: &Tensor) -> Tensor {
        let logits = self.logits(w);
        match &self.labels {
            Labels::Dense(l) => ops::softmax_cross_entropy_with_logits(l, &logits).unwrap(),
            Labels::Sparse(l) => ops::sparse_softmax_cross_entropy_with_logits(l, &logits).unwrap(),
        }
    }

    /// The weights of the mean over the batch, as the upstream gradient of the losses.
    fn mean_weights() -> Tensor {
        Tensor::from_vec(vec![1.0 / BATCH as f64; BATCH], [BATCH]).unwrap()
    }

    /// d(mean loss)/dw through one tape.
    fn gradient(&self, w: &Tensor) -> Vec<f64> {
        let tape = GradientTape::new();
        tape.watch(w);
        let losses = self.losses(w);
        let g = tape
            .gradient_with(
                &losses,
                &[w],
                Some(&Model::mean_weights()),
                UnconnectedGradients::None,
            )
            .unwrap();
        g[0].as_ref().unwrap().to_vec::<f64>().unwrap()
    }

    /// `H v` through nested tapes: the gradient of `<grad(loss, w), v>`.
    fn hvp(&self, w: &Tensor, v: &Tensor) -> Vec<f64> {
        let outer = GradientTape::new();
        outer.watch(w);
        let inner = GradientTape::new();
        inner.watch(w);
        let losses = self.losses(w);
        let g = inner
            .gradient_with(
                &losses,
                &[w],
                Some(&Model::mean_weights()),
                UnconnectedGradients::None,
            )
            .unwrap()
            .remove(0)
            .unwrap();
        let gv = ops::reduce_sum(&ops::mul(&g, v).unwrap(), None, false).unwrap();
        let hv = outer.gradient(&gv, &[w]).unwrap().remove(0).unwrap();
        assert_eq!(hv.dims(), w.dims());
        hv.to_vec::<f64>().unwrap()
    }

    /// The closed form: `H v = mean_i x_i ⊗ (diag(p_i) - p_i p_iᵀ)(x_iᵀ V)`, with `p_i`
    /// the softmax of row `i`'s logits (the labels do not enter the Hessian).
    fn hvp_closed_form(&self, w: &Tensor, v: &Tensor) -> Vec<f64> {
        let x = self.x.to_vec::<f64>().unwrap();
        let vv = v.to_vec::<f64>().unwrap();
        let logits = self.logits(w).to_vec::<f64>().unwrap();
        let mut out = vec![0.0; FEATURES * CLASSES];
        for i in 0..BATCH {
            let row = &logits[i * CLASSES..(i + 1) * CLASSES];
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = row.iter().map(|l| (l - m).exp()).collect();
            let s: f64 = e.iter().sum();
            let p: Vec<f64> = e.iter().map(|v| v / s).collect();
            // u = x_iᵀ V (the logits' direction), then J u.
            let u: Vec<f64> = (0..CLASSES)
                .map(|c| {
                    (0..FEATURES)
                        .map(|f| x[i * FEATURES + f] * vv[f * CLASSES + c])
                        .sum()
                })
                .collect();
            let pu: f64 = p.iter().zip(&u).map(|(a, b)| a * b).sum();
            for f in 0..FEATURES {
                for c in 0..CLASSES {
                    out[f * CLASSES + c] += x[i * FEATURES + f] * p[c] * (u[c] - pu) / BATCH as f64;
                }
            }
        }
        out
    }
}

fn axpy(w: &Tensor, v: &Tensor, h: f64) -> Tensor {
    let (a, b) = (w.to_vec::<f64>().unwrap(), v.to_vec::<f64>().unwrap());
    Tensor::from_vec(
        a.iter()
            .zip(&b)
            .map(|(x, y)| x + h * y)
            .collect::<Vec<f64>>(),
        w.dims().to_vec(),
    )
    .unwrap()
}

fn check_hvp(sparse: bool) {
    let model = Model::new(if sparse { 11 } else { 7 }, sparse);
    let mut r = StdRng::seed_from_u64(3);
    let w = uniform(&mut r, &[FEATURES, CLASSES], -1.0, 1.0);
    let v = uniform(&mut r, &[FEATURES, CLASSES], -1.0, 1.0);
    let hv = model.hvp(&w, &v);

    // Central difference of the gradient along v.
    let h = 1e-5;
    let (gp, gm) = (
        model.gradient(&axpy(&w, &v, h)),
        model.gradient(&axpy(&w, &v, -h)),
    );
    let fd: Vec<f64> = gp
        .iter()
        .zip(&gm)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    let closed = model.hvp_closed_form(&w, &v);
    let scale = fd.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(scale > 1e-3, "degenerate Hessian-vector product {fd:?}");
    for i in 0..hv.len() {
        assert!(
            (hv[i] - fd[i]).abs() <= 1e-6 * scale.max(1.0),
            "sparse={sparse} Hv[{i}] = {}, finite difference {} (all {hv:?} vs {fd:?})",
            hv[i],
            fd[i]
        );
        assert!(
            (hv[i] - closed[i]).abs() <= 1e-12,
            "sparse={sparse} Hv[{i}] = {}, closed form {}",
            hv[i],
            closed[i]
        );
    }
}

/// The same product with the loss as Keras computes it: `reduce_mean` of the losses and
/// a plain `gradient` call (the mean's own gradient is then part of the graph the
/// outer tape differentiates).
#[test]
fn hessian_vector_product_through_reduce_mean() {
    let model = Model::new(5, false);
    let mut r = StdRng::seed_from_u64(4);
    let w = uniform(&mut r, &[FEATURES, CLASSES], -1.0, 1.0);
    let v = uniform(&mut r, &[FEATURES, CLASSES], -1.0, 1.0);
    let outer = GradientTape::new();
    outer.watch(&w);
    let inner = GradientTape::new();
    inner.watch(&w);
    let loss = ops::reduce_mean(&model.losses(&w), None, false).unwrap();
    let g = inner.gradient(&loss, &[&w]).unwrap().remove(0).unwrap();
    let gv = ops::reduce_sum(&ops::mul(&g, &v).unwrap(), None, false).unwrap();
    let hv = outer.gradient(&gv, &[&w]).unwrap().remove(0).unwrap();
    let closed = model.hvp_closed_form(&w, &v);
    for (i, (a, b)) in hv.to_vec::<f64>().unwrap().iter().zip(&closed).enumerate() {
        assert!((a - b).abs() <= 1e-12, "Hv[{i}] = {a}, closed form {b}");
    }
}

#[test]
fn hessian_vector_product_of_softmax_cross_entropy() {
    check_hvp(false);
}

#[test]
fn hessian_vector_product_of_sparse_softmax_cross_entropy() {
    check_hvp(true);
}

/// The second derivative of the loss with respect to the logits themselves is the
/// softmax Jacobian `diag(p) - p pᵀ` (for one row), whatever the labels.
#[test]
fn second_derivative_of_cross_entropy_wrt_logits_is_the_softmax_jacobian() {
    let logits = Tensor::from_vec(vec![0.3f64, -1.2, 0.8, 0.1], [1, 4]).unwrap();
    let labels = Tensor::from_vec(vec![0.1f64, 0.2, 0.3, 0.4], [1, 4]).unwrap();
    let p: Vec<f64> = {
        let e: Vec<f64> = logits
            .to_vec::<f64>()
            .unwrap()
            .iter()
            .map(|v| v.exp())
            .collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    };
    for j in 0..4 {
        let outer = GradientTape::new();
        outer.watch(&logits);
        let inner = GradientTape::new();
        inner.watch(&logits);
        let loss = ops::softmax_cross_entropy_with_logits(&labels, &logits).unwrap();
        let g = inner
            .gradient_with(
                &loss,
                &[&logits],
                Some(&Tensor::vector(&[1.0f64])),
                UnconnectedGradients::None,
            )
            .unwrap()
            .remove(0)
            .unwrap();
        // Row j of the Hessian: d g[j] / d logits, selected with a one-hot weight.
        let e: Vec<f64> = (0..4).map(|k| f64::from(u8::from(k == j))).collect();
        let gj = ops::reduce_sum(
            &ops::mul(&g, &Tensor::from_vec(e, [1, 4]).unwrap()).unwrap(),
            None,
            false,
        )
        .unwrap();
        let row = outer.gradient(&gj, &[&logits]).unwrap()[0]
            .as_ref()
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        for k in 0..4 {
            let want = if j == k {
                p[j] * (1.0 - p[j])
            } else {
                -p[j] * p[k]
            };
            assert!(
                (row[k] - want).abs() < 1e-14,
                "H[{j}][{k}] = {}, want {want}",
                row[k]
            );
        }
    }
}
