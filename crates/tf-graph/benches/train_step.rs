//! Training step of a 784-256-128-10 MLP (forward, backward with a GradientTape, Adam
//! update) on synthetic data, eager vs traced with `tf_graph::function`, at batch 32 and
//! 128. Issue goal: traced faster at batch 32 (overhead dominates), no slower at 128.
//!
//! Both run the same Rust function; the traced one is a graph of the recorded forward,
//! gradient and update ops, optimized by the default pipeline. Figures are indicative:
//! the machine has 2 cores shared with other jobs.

use tf_autodiff::GradientTape;
use tf_bench::{Figure, measure};
use tf_core::{DType, Result, Tensor, Variable, ops};
use tf_graph::function;

struct Mlp {
    params: Vec<Variable>,
    m: Vec<Variable>,
    v: Vec<Variable>,
}

impl Mlp {
    fn new() -> Result<Mlp> {
        let dims = [784usize, 256, 128, 10];
        let mut params = Vec::new();
        for w in dims.windows(2) {
            let scale = (2.0 / w[0] as f64).sqrt();
            params.push(Variable::new(ops::random_normal(
                &[w[0], w[1]],
                0.0,
                scale,
                DType::F32,
                Some(1),
            )?)?);
            params.push(Variable::new(Tensor::zeros([w[1]], DType::F32)?)?);
        }
        let zeros = |p: &Variable| {
            Variable::builder(Tensor::zeros(p.shape().dims(), DType::F32)?)
                .trainable(false)
                .build()
        };
        let m = params.iter().map(zeros).collect::<Result<_>>()?;
        let v = params.iter().map(zeros).collect::<Result<_>>()?;
        Ok(Mlp { params, m, v })
    }

    /// One Adam step (lr 1e-3, β 0.9/0.999, ε 1e-7, bias correction folded into lr by
    /// the caller-provided `lr_t`); returns the loss.
    fn step(&self, x: &Tensor, y: &Tensor, lr_t: &Tensor) -> Result<Tensor> {
        let tape = GradientTape::new();
        let p: Vec<Tensor> = self
            .params
            .iter()
            .map(Variable::read)
            .collect::<Result<_>>()?;
        let h1 = ops::relu(&ops::bias_add(&ops::matmul(x, &p[0])?, &p[1])?)?;
        let h2 = ops::relu(&ops::bias_add(&ops::matmul(&h1, &p[2])?, &p[3])?)?;
        let logits = ops::bias_add(&ops::matmul(&h2, &p[4])?, &p[5])?;
        let loss = ops::reduce_mean(
            &ops::sparse_softmax_cross_entropy_with_logits(y, &logits)?,
            None,
            false,
        )?;
        let grads = tape.gradient(&loss, self.params.as_slice())?;
        let (b1, b2) = (Tensor::from_scalar(0.9f32), Tensor::from_scalar(0.999f32));
        let (c1, c2) = (Tensor::from_scalar(0.1f32), Tensor::from_scalar(0.001f32));
        let eps = Tensor::from_scalar(1e-7f32);
        for ((var, g), (m, v)) in self
            .params
            .iter()
            .zip(grads)
            .zip(self.m.iter().zip(&self.v))
        {
            let g = g.ok_or_else(|| tf_core::Error::precondition("bench", "missing gradient"))?;
            let m_new = ops::add(&ops::mul(&m.read()?, &b1)?, &ops::mul(&g, &c1)?)?;
            let v_new = ops::add(
                &ops::mul(&v.read()?, &b2)?,
                &ops::mul(&ops::square(&g)?, &c2)?,
            )?;
            m.assign(&m_new)?;
            v.assign(&v_new)?;
            let upd = ops::mul(
                lr_t,
                &ops::real_div(&m_new, &ops::add(&ops::sqrt(&v_new)?, &eps)?)?,
            )?;
            var.assign_sub(&upd)?;
        }
        Ok(loss)
    }
}

fn main() -> Result<()> {
    ops::set_random_seed(5);
    for batch in [32usize, 128] {
        let x = ops::random_normal(&[batch, 784], 0.0, 1.0, DType::F32, Some(2))?;
        let y = ops::random_uniform_int(&[batch], 0, 10, DType::I32, Some(3))?;
        let lr = Tensor::from_scalar(1e-3f32);

        let eager = Mlp::new()?;
        let t_eager = measure(|| eager.step(&x, &y, &lr));

        let traced = std::rc::Rc::new(Mlp::new()?);
        let t2 = traced.clone();
        let f = function(move |a| Ok(vec![t2.step(&a[0], &a[1], &a[2])?]));
        f.call(&[x.clone(), y.clone(), lr.clone()])?;
        let args = [x.clone(), y.clone(), lr.clone()];
        tf_graph::set_inter_op_parallelism_threads(1);
        let t_in_order = measure(|| f.call(&args));
        tf_graph::set_inter_op_parallelism_threads(0);
        let t_traced = measure(|| f.call(&args));

        let sps = |s: f64| batch as f64 / s;
        Figure::new(
            format!("MLP 784-256-128-10 Adam train step b{batch}, traced"),
            sps(t_traced.median_s),
            "samples/s",
        )
        .compare("same step eager", sps(t_eager.median_s))
        .report();
        Figure::new(
            format!("MLP train step b{batch}, traced, inter-op parallel"),
            sps(t_traced.median_s),
            "samples/s",
        )
        .compare("nodes in order", sps(t_in_order.median_s))
        .report();
        Figure::new(
            format!("MLP train step b{batch}: traced / eager speed"),
            t_eager.median_s / t_traced.median_s,
            "x",
        )
        .target(1.0)
        .report();
    }
    Ok(())
}
