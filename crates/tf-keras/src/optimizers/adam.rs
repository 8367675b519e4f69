//! `Adam` (with AMSGrad), `AdamW` and `Nadam`.

use super::{
    Optimizer, OptimizerBase, StepContext, as_var_dtype, optimizer_builders, s, slot_like,
};
use serde_json::{Map, Value, json};
use tf_core::ops::ScalarOperand;
use tf_core::{DType, Result, Tensor, Variable, ops};

/// The Adam update shared by `Adam` and `AdamW`.
struct AdamCore {
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    amsgrad: bool,
    momentums: Vec<Variable>,
    velocities: Vec<Variable>,
    velocity_hats: Vec<Variable>,
    /// `lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)` for the current step.
    alpha: Option<Tensor>,
}

impl AdamCore {
    fn new() -> AdamCore {
        AdamCore {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
            momentums: Vec::new(),
            velocities: Vec::new(),
            velocity_hats: Vec::new(),
            alpha: None,
        }
    }

    fn from_config(config: &Map<String, Value>) -> AdamCore {
        let f = |k: &str, d: f64| config.get(k).and_then(Value::as_f64).unwrap_or(d);
        AdamCore {
            beta_1: f("beta_1", 0.9),
            beta_2: f("beta_2", 0.999),
            epsilon: f("epsilon", 1e-7),
            amsgrad: config
                .get("amsgrad")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ..AdamCore::new()
        }
    }

    fn build(&mut self, opt: &str, vars: &[Variable]) -> Result<()> {
        for v in vars {
            self.momentums.push(slot_like(opt, v, "momentum", 0.0)?);
            self.velocities.push(slot_like(opt, v, "velocity", 0.0)?);
        }
        if self.amsgrad {
            for v in vars {
                self.velocity_hats
                    .push(slot_like(opt, v, "velocity_hat", 0.0)?);
            }
        }
        Ok(())
    }

    fn prepare(&mut self, ctx: &StepContext) -> Result<()> {
        let b1p = ops::pow(&Tensor::from_scalar(self.beta_1 as f32), &ctx.local_step)?;
        let b2p = ops::pow(&Tensor::from_scalar(self.beta_2 as f32), &ctx.local_step)?;
        let one = Tensor::from_scalar(1.0f32);
        let num = ops::sqrt(&ops::sub(&one, &b2p)?)?;
        let den = ops::sub(&one, &b1p)?;
        self.alpha = Some(ops::div(&ops::mul(&ctx.lr, &num)?, &den)?);
        Ok(())
    }

    fn update(&self, index: usize, g: &Tensor, var: &Variable) -> Result<()> {
        let (Some(m), Some(v), Some(alpha)) = (
            self.momentums.get(index),
            self.velocities.get(index),
            self.alpha.as_ref(),
        ) else {
            return Err(tf_core::Error::precondition("Adam", "slots are not built"));
        };
        let alpha = as_var_dtype(alpha, var)?;
        // m += (g - m) * (1 - beta_1); v += (g² - v) * (1 - beta_2)
        let dm = ops::mul(&ops::sub(g, &m.read()?)?, &s(1.0 - self.beta_1, var))?;
        m.assign_add(&dm)?;
        let dv = ops::mul(
            &ops::sub(&ops::square(g)?, &v.read()?)?,
            &s(1.0 - self.beta_2, var),
        )?;
        v.assign_add(&dv)?;
        let mut v_use = v.read()?;
        if self.amsgrad
            && let Some(vh) = self.velocity_hats.get(index)
        {
            vh.assign(&ops::maximum(&vh.read()?, &v_use)?)?;
            v_use = vh.read()?;
        }
        let denom = ops::add(&ops::sqrt(&v_use)?, &s(self.epsilon, var))?;
        let upd = ops::div(&ops::mul(&m.read()?, &alpha)?, &denom)?;
        drop(v_use);
        var.assign_sub(&upd)
    }

    fn slots(&self) -> Vec<Variable> {
        let mut out = Vec::with_capacity(self.momentums.len() * 3);
        for (m, v) in self.momentums.iter().zip(&self.velocities) {
            out.push(m.clone());
            out.push(v.clone());
        }
        out.extend(self.velocity_hats.iter().cloned());
        out
    }

    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("beta_1".into(), json!(self.beta_1));
        m.insert("beta_2".into(), json!(self.beta_2));
        m.insert("epsilon".into(), json!(self.epsilon));
        m.insert("amsgrad".into(), json!(self.amsgrad));
        m
    }
}

macro_rules! adam_like {
    ($name:ident, $class:literal, $snake:literal, $wd:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name {
            base: OptimizerBase,
            core: AdamCore,
        }

        impl $name {
            /// The optimizer with learning rate `lr` and Keras's other defaults.
            pub fn new(lr: f64) -> Result<$name> {
                let mut base = OptimizerBase::new($snake, lr)?;
                base.weight_decay = $wd;
                Ok($name {
                    base,
                    core: AdamCore::new(),
                })
            }

            /// Sets `beta_1` (first-moment decay).
            pub fn beta_1(mut self, b: f64) -> Self {
                self.core.beta_1 = b;
                self
            }

            /// Sets `beta_2` (second-moment decay).
            pub fn beta_2(mut self, b: f64) -> Self {
                self.core.beta_2 = b;
                self
            }

            /// Sets `epsilon`.
            pub fn epsilon(mut self, e: f64) -> Self {
                self.core.epsilon = e;
                self
            }

            /// Uses AMSGrad (the running maximum of the second moment).
            pub fn amsgrad(mut self, a: bool) -> Self {
                self.core.amsgrad = a;
                self
            }

            optimizer_builders!();

            /// Reads the Keras config.
            pub fn from_config(config: &Map<String, Value>) -> Result<$name> {
                let mut base = OptimizerBase::from_config(config, $snake, 0.001)?;
                if base.weight_decay.is_none() {
                    base.weight_decay = $wd;
                }
                Ok($name {
                    base,
                    core: AdamCore::from_config(config),
                })
            }
        }

        impl Optimizer for $name {
            fn class_name(&self) -> &str {
                $class
            }
            fn base(&self) -> &OptimizerBase {
                &self.base
            }
            fn base_mut(&mut self) -> &mut OptimizerBase {
                &mut self.base
            }
            fn build_slots(&mut self, vars: &[Variable]) -> Result<()> {
                self.core.build(&self.base.name, vars)
            }
            fn before_updates(&mut self, ctx: &StepContext) -> Result<()> {
                self.core.prepare(ctx)
            }
            fn update_step(
                &mut self,
                index: usize,
                grad: &Tensor,
                var: &Variable,
                _ctx: &StepContext,
            ) -> Result<()> {
                self.core.update(index, grad, var)
            }
            fn slot_variables(&self) -> Vec<Variable> {
                self.core.slots()
            }
            fn config(&self) -> Map<String, Value> {
                self.core.config()
            }
        }
    };
}

adam_like!(
    Adam,
    "Adam",
    "adam",
    None,
    "Keras's `Adam`: `m += (g - m)(1 - β1)`, `v += (g² - v)(1 - β2)`, `w -= lr·√(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + ε)` (AMSGrad: the running maximum of `v`)."
);
adam_like!(
    AdamW,
    "AdamW",
    "adamw",
    Some(0.004),
    "Keras's `AdamW`: Adam with decoupled weight decay (default 0.004) applied before each update."
);

/// Keras's `Nadam`: Adam with Nesterov momentum and the 0.96 momentum schedule.
pub struct Nadam {
    base: OptimizerBase,
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    momentums: Vec<Variable>,
    velocities: Vec<Variable>,
    u_product: Option<Variable>,
    step_terms: Option<(Tensor, Tensor, Tensor, Tensor, Tensor)>,
}

impl Nadam {
    /// Nadam with learning rate `lr` (Keras default 0.001).
    pub fn new(lr: f64) -> Result<Nadam> {
        Ok(Nadam {
            base: OptimizerBase::new("nadam", lr)?,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            momentums: Vec::new(),
            velocities: Vec::new(),
            u_product: None,
            step_terms: None,
        })
    }

    optimizer_builders!();

    /// Reads the Keras config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Nadam> {
        let f = |k: &str, d: f64| config.get(k).and_then(Value::as_f64).unwrap_or(d);
        let mut n = Nadam::new(0.001)?;
        n.base = OptimizerBase::from_config(config, "nadam", 0.001)?;
        n.beta_1 = f("beta_1", 0.9);
        n.beta_2 = f("beta_2", 0.999);
        n.epsilon = f("epsilon", 1e-7);
        Ok(n)
    }
}

impl Optimizer for Nadam {
    fn class_name(&self) -> &str {
        "Nadam"
    }
    fn base(&self) -> &OptimizerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut OptimizerBase {
        &mut self.base
    }
    fn build_slots(&mut self, vars: &[Variable]) -> Result<()> {
        for v in vars {
            self.momentums
                .push(slot_like(&self.base.name, v, "momentum", 0.0)?);
            self.velocities
                .push(slot_like(&self.base.name, v, "velocity", 0.0)?);
        }
        let dtype = vars.first().map_or(DType::F32, |v| v.dtype());
        self.u_product = Some(
            Variable::builder(1.0f64.to_scalar_tensor(dtype))
                .name(format!("{}/u_product", self.base.name))
                .trainable(false)
                .build()?,
        );
        Ok(())
    }
    fn before_updates(&mut self, ctx: &StepContext) -> Result<()> {
        let one = Tensor::from_scalar(1.0f32);
        let half = Tensor::from_scalar(0.5f32);
        let decay = Tensor::from_scalar(0.96f32);
        let b1 = Tensor::from_scalar(self.beta_1 as f32);
        let u = |step: &Tensor| -> Result<Tensor> {
            ops::mul(
                &b1,
                &ops::sub(&one, &ops::mul(&half, &ops::pow(&decay, step)?)?)?,
            )
        };
        let u_t = u(&ctx.local_step)?;
        let next = ops::add(&ctx.local_step, &one)?;
        let u_t_1 = u(&next)?;
        let Some(up) = &self.u_product else {
            return Err(tf_core::Error::precondition("Nadam", "slots are not built"));
        };
        // Keras updates u_product first (with u_t), then reads it in the updates.
        let up_t = ops::mul(&ops::cast(&up.read()?, DType::F32)?, &u_t)?;
        up.assign(&ops::cast(&up_t, up.dtype())?)?;
        let up_t_1 = ops::mul(&up_t, &u_t_1)?;
        let b2p = ops::pow(&Tensor::from_scalar(self.beta_2 as f32), &ctx.local_step)?;
        self.step_terms = Some((u_t, u_t_1, up_t, up_t_1, b2p));
        Ok(())
    }
    fn update_step(
        &mut self,
        index: usize,
        g: &Tensor,
        var: &Variable,
        ctx: &StepContext,
    ) -> Result<()> {
        let (Some(m), Some(v), Some((u_t, u_t_1, up_t, up_t_1, b2p))) = (
            self.momentums.get(index),
            self.velocities.get(index),
            self.step_terms.as_ref(),
        ) else {
            return Err(tf_core::Error::precondition("Nadam", "slots are not built"));
        };
        let c = |t: &Tensor| as_var_dtype(t, var);
        let one = s(1.0, var);
        m.assign_add(&ops::mul(
            &ops::sub(g, &m.read()?)?,
            &s(1.0 - self.beta_1, var),
        )?)?;
        v.assign_add(&ops::mul(
            &ops::sub(&ops::square(g)?, &v.read()?)?,
            &s(1.0 - self.beta_2, var),
        )?)?;
        let m_hat = ops::add(
            &ops::div(
                &ops::mul(&c(u_t_1)?, &m.read()?)?,
                &ops::sub(&one, &c(up_t_1)?)?,
            )?,
            &ops::div(
                &ops::mul(&ops::sub(&one, &c(u_t)?)?, g)?,
                &ops::sub(&one, &c(up_t)?)?,
            )?,
        )?;
        let v_hat = ops::div(&v.read()?, &ops::sub(&one, &c(b2p)?)?)?;
        let upd = ops::div(
            &ops::mul(&m_hat, &c(&ctx.lr)?)?,
            &ops::add(&ops::sqrt(&v_hat)?, &s(self.epsilon, var))?,
        )?;
        var.assign_sub(&upd)
    }
    fn slot_variables(&self) -> Vec<Variable> {
        let mut out = Vec::new();
        for (m, v) in self.momentums.iter().zip(&self.velocities) {
            out.push(m.clone());
            out.push(v.clone());
        }
        out.extend(self.u_product.iter().cloned());
        out
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("beta_1".into(), json!(self.beta_1));
        m.insert("beta_2".into(), json!(self.beta_2));
        m.insert("epsilon".into(), json!(self.epsilon));
        m
    }
}
