//! Optimizer updates against Keras's update formulas evaluated in f64 by hand, with
//! gradients fed straight to `apply_gradients` (no tape involved).

#![allow(clippy::unwrap_used)]

use tf_core::{Tensor, Variable};
use tf_keras::optimizers::schedules::{
    CosineDecay, ExponentialDecay, InverseTimeDecay, LearningRateSchedule, PiecewiseConstantDecay,
};
use tf_keras::optimizers::{Adagrad, Adam, AdamW, Nadam, Optimizer, RMSprop, SGD};

const W0: [f64; 3] = [0.5, -1.0, 2.0];
const GRADS: [[f64; 3]; 3] = [[0.1, -0.2, 0.3], [0.4, 0.0, -0.5], [-0.3, 0.25, 0.05]];

fn var() -> Variable {
    Variable::new(Tensor::from_vec(W0.iter().map(|&v| v as f32).collect::<Vec<_>>(), [3]).unwrap())
        .unwrap()
}

fn run(opt: &mut dyn Optimizer) -> Vec<f64> {
    let v = var();
    for g in GRADS {
        let g = Tensor::from_vec(g.iter().map(|&x| x as f32).collect::<Vec<_>>(), [3]).unwrap();
        opt.apply_gradients(&[(Some(g), v.clone())]).unwrap();
    }
    assert_eq!(opt.iterations().unwrap(), GRADS.len() as i64);
    v.value()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&x| x as f64)
        .collect()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "got {got:?}, want {want:?}"
        );
    }
}

/// Adam as Keras writes it (alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)).
fn adam_ref(lr: f64, amsgrad: bool, wd: f64) -> Vec<f64> {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
    let mut w = W0.to_vec();
    let (mut m, mut v, mut vh) = (vec![0.0f64; 3], vec![0.0f64; 3], vec![0.0f64; 3]);
    for (t, g) in GRADS.iter().enumerate() {
        let t = (t + 1) as f64;
        let alpha = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
        for i in 0..3 {
            w[i] -= w[i] * wd * lr;
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
            let vv = if amsgrad {
                vh[i] = vh[i].max(v[i]);
                vh[i]
            } else {
                v[i]
            };
            w[i] -= m[i] * alpha / (vv.sqrt() + eps);
        }
    }
    w
}

#[test]
fn adam_matches_keras_formula() {
    close(
        &run(&mut Adam::new(0.01).unwrap()),
        &adam_ref(0.01, false, 0.0),
        1e-5,
    );
    close(
        &run(&mut Adam::new(0.01).unwrap().amsgrad(true)),
        &adam_ref(0.01, true, 0.0),
        1e-5,
    );
}

#[test]
fn adamw_applies_decoupled_decay() {
    close(
        &run(&mut AdamW::new(0.01).unwrap()),
        &adam_ref(0.01, false, 0.004),
        1e-5,
    );
}

#[test]
fn adam_slot_layout_is_keras_order() {
    let mut opt = Adam::new(0.01).unwrap();
    let a = var();
    let b = Variable::new(Tensor::zeros([2, 2], tf_core::DType::F32).unwrap()).unwrap();
    opt.build(&[a.clone(), b.clone()]).unwrap();
    let shapes: Vec<Vec<usize>> = opt
        .variables()
        .iter()
        .map(|v| v.shape().dims().to_vec())
        .collect();
    // iterations, learning_rate, then (momentum, velocity) per variable.
    assert_eq!(
        shapes,
        vec![vec![], vec![], vec![3], vec![3], vec![2, 2], vec![2, 2]]
    );
    assert_eq!(opt.variables()[0].dtype(), tf_core::DType::I64);
}

#[test]
fn sgd_plain_momentum_nesterov() {
    let lr = 0.1;
    let sgd_ref = |mom: f64, nesterov: bool| {
        let mut w = W0.to_vec();
        let mut m = [0.0; 3];
        for g in GRADS {
            for i in 0..3 {
                if mom == 0.0 {
                    w[i] -= lr * g[i];
                } else {
                    m[i] = m[i] * mom - g[i] * lr;
                    w[i] += if nesterov {
                        m[i] * mom - g[i] * lr
                    } else {
                        m[i]
                    };
                }
            }
        }
        w
    };
    close(&run(&mut SGD::new(lr).unwrap()), &sgd_ref(0.0, false), 1e-6);
    close(
        &run(&mut SGD::new(lr).unwrap().momentum(0.9)),
        &sgd_ref(0.9, false),
        1e-6,
    );
    close(
        &run(&mut SGD::new(lr).unwrap().momentum(0.9).nesterov(true)),
        &sgd_ref(0.9, true),
        1e-6,
    );
}

#[test]
fn rmsprop_and_adagrad() {
    let lr = 0.01;
    let rms_ref = |mom: f64, centered: bool| {
        let (rho, eps) = (0.9, 1e-7);
        let mut w = W0.to_vec();
        let (mut v, mut m, mut a) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
        for g in GRADS {
            for i in 0..3 {
                v[i] = rho * v[i] + (1.0 - rho) * g[i] * g[i];
                let denom = if centered {
                    a[i] = rho * a[i] + (1.0 - rho) * g[i];
                    v[i] - a[i] * a[i] + eps
                } else {
                    v[i] + eps
                };
                let inc = lr * g[i] / denom.sqrt();
                if mom > 0.0 {
                    m[i] = mom * m[i] + inc;
                    w[i] -= m[i];
                } else {
                    w[i] -= inc;
                }
            }
        }
        w
    };
    close(
        &run(&mut RMSprop::new(lr).unwrap()),
        &rms_ref(0.0, false),
        1e-5,
    );
    close(
        &run(&mut RMSprop::new(lr).unwrap().momentum(0.5).centered(true)),
        &rms_ref(0.5, true),
        1e-5,
    );

    let mut w = W0.to_vec();
    let mut acc = [0.1; 3];
    for g in GRADS {
        for i in 0..3 {
            acc[i] += g[i] * g[i];
            w[i] -= lr * g[i] / (acc[i] + 1e-7).sqrt();
        }
    }
    close(&run(&mut Adagrad::new(lr).unwrap()), &w, 1e-5);
}

#[test]
fn nadam_matches_keras_formula() {
    let (lr, b1, b2, eps) = (0.01f64, 0.9f64, 0.999f64, 1e-7);
    let mut w = W0.to_vec();
    let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
    let mut u_product = 1.0;
    for (t, g) in GRADS.iter().enumerate() {
        let step = (t + 1) as f64;
        let u_t = b1 * (1.0 - 0.5 * 0.96f64.powf(step));
        let u_t_1 = b1 * (1.0 - 0.5 * 0.96f64.powf(step + 1.0));
        u_product *= u_t;
        let u_product_t_1 = u_product * u_t_1;
        let b2p = b2.powf(step);
        for i in 0..3 {
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
            let m_hat =
                u_t_1 * m[i] / (1.0 - u_product_t_1) + (1.0 - u_t) * g[i] / (1.0 - u_product);
            let v_hat = v[i] / (1.0 - b2p);
            w[i] -= m_hat * lr / (v_hat.sqrt() + eps);
        }
    }
    close(&run(&mut Nadam::new(lr).unwrap()), &w, 1e-5);
}

#[test]
fn gradient_clipping() {
    let lr = 1.0;
    // clipvalue: each element to [-0.15, 0.15]
    let mut w = W0.to_vec();
    for g in GRADS {
        for i in 0..3 {
            w[i] -= lr * g[i].clamp(-0.15, 0.15);
        }
    }
    close(&run(&mut SGD::new(lr).unwrap().clipvalue(0.15)), &w, 1e-6);
    // clipnorm (one variable: same as global_clipnorm): scale to norm 0.2 when larger
    let mut w = W0.to_vec();
    for g in GRADS {
        let n = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let s = 0.2 / n.max(0.2);
        for i in 0..3 {
            w[i] -= lr * g[i] * s;
        }
    }
    close(&run(&mut SGD::new(lr).unwrap().clipnorm(0.2)), &w, 1e-6);
    close(
        &run(&mut SGD::new(lr).unwrap().global_clipnorm(0.2)),
        &w,
        1e-6,
    );
}

#[test]
fn schedules_match_keras_formulas() {
    let e = ExponentialDecay {
        initial_learning_rate: 0.1,
        decay_steps: 10.0,
        decay_rate: 0.5,
        staircase: false,
    };
    assert!((e.value_at(5).unwrap() - 0.1 * 0.5f64.powf(0.5)).abs() < 1e-7);
    let e = ExponentialDecay {
        staircase: true,
        ..e
    };
    assert!((e.value_at(15).unwrap() - 0.05).abs() < 1e-7);
    let it = InverseTimeDecay {
        initial_learning_rate: 0.1,
        decay_steps: 10.0,
        decay_rate: 1.0,
        staircase: false,
    };
    assert!((it.value_at(5).unwrap() - 0.1 / 1.5).abs() < 1e-7);
    let pc = PiecewiseConstantDecay::new(&[10.0, 20.0], &[1.0, 0.5, 0.1]).unwrap();
    for (s, want) in [(0, 1.0), (10, 1.0), (11, 0.5), (20, 0.5), (21, 0.1)] {
        assert!((pc.value_at(s).unwrap() - want).abs() < 1e-7, "step {s}");
    }
    assert!(PiecewiseConstantDecay::new(&[1.0], &[1.0]).is_err());
    let c = CosineDecay::new(1.0, 100.0);
    assert!((c.value_at(50).unwrap() - 0.5).abs() < 1e-6);
    assert!(c.value_at(200).unwrap().abs() < 1e-6);
    let w = CosineDecay {
        warmup_target: Some(2.0),
        warmup_steps: 10.0,
        ..CosineDecay::new(0.0, 100.0)
    };
    assert!((w.value_at(5).unwrap() - 1.0).abs() < 1e-6);
    assert!((w.value_at(60).unwrap() - 1.0).abs() < 1e-5);
    // An optimizer driven by a schedule uses the step count.
    let mut opt = SGD::new(0.0)
        .unwrap()
        .schedule(PiecewiseConstantDecay::new(&[0.0], &[1.0, 0.1]).unwrap());
    let v = var();
    for _ in 0..2 {
        opt.apply_gradients(&[(
            Some(Tensor::from_vec(vec![1.0f32; 3], [3]).unwrap()),
            v.clone(),
        )])
        .unwrap();
    }
    let got = v.value().to_vec::<f32>().unwrap();
    assert!((got[0] as f64 - (0.5 - 1.0 - 0.1)).abs() < 1e-6, "{got:?}");
}

#[test]
fn unknown_variable_is_an_error_naming_it() {
    let mut opt = Adam::new(0.01).unwrap();
    let a = var();
    opt.build(std::slice::from_ref(&a)).unwrap();
    let stranger = Variable::builder(Tensor::zeros([3], tf_core::DType::F32).unwrap())
        .name("stranger")
        .build()
        .unwrap();
    let err = opt
        .apply_gradients(&[(
            Some(Tensor::zeros([3], tf_core::DType::F32).unwrap()),
            stranger,
        )])
        .unwrap_err()
        .to_string();
    assert!(err.contains("stranger"), "{err}");
}
