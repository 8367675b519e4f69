//! `RMSprop` (momentum, centered) and `Adagrad`.

use super::{
    Optimizer, OptimizerBase, StepContext, as_var_dtype, optimizer_builders, s, slot_like,
};
use serde_json::{Map, Value, json};
use tf_core::{Result, Tensor, Variable, ops};

/// Keras's `RMSprop`: `v = ρv + (1-ρ)g²`, `w -= lr·g / √(v + ε)` (centered: minus the
/// squared mean gradient; with momentum: through a momentum slot).
pub struct RMSprop {
    base: OptimizerBase,
    rho: f64,
    momentum: f64,
    epsilon: f64,
    centered: bool,
    velocities: Vec<Variable>,
    momentums: Vec<Variable>,
    average_gradients: Vec<Variable>,
}

impl RMSprop {
    /// RMSprop with learning rate `lr` (Keras default 0.001), ρ = 0.9.
    pub fn new(lr: f64) -> Result<RMSprop> {
        Ok(RMSprop {
            base: OptimizerBase::new("rmsprop", lr)?,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
            velocities: Vec::new(),
            momentums: Vec::new(),
            average_gradients: Vec::new(),
        })
    }

    /// Sets ρ.
    pub fn rho(mut self, rho: f64) -> Self {
        self.rho = rho;
        self
    }

    /// Sets the momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }

    /// Centers the second moment.
    pub fn centered(mut self, c: bool) -> Self {
        self.centered = c;
        self
    }

    optimizer_builders!();

    /// Reads the Keras config.
    pub fn from_config(config: &Map<String, Value>) -> Result<RMSprop> {
        let f = |k: &str, d: f64| config.get(k).and_then(Value::as_f64).unwrap_or(d);
        let mut r = RMSprop::new(0.001)?;
        r.base = OptimizerBase::from_config(config, "rmsprop", 0.001)?;
        r.rho = f("rho", 0.9);
        r.momentum = f("momentum", 0.0);
        r.epsilon = f("epsilon", 1e-7);
        r.centered = config
            .get("centered")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(r)
    }
}

impl Optimizer for RMSprop {
    fn class_name(&self) -> &str {
        "RMSprop"
    }
    fn base(&self) -> &OptimizerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut OptimizerBase {
        &mut self.base
    }
    fn build_slots(&mut self, vars: &[Variable]) -> Result<()> {
        let n = &self.base.name;
        self.velocities = vars
            .iter()
            .map(|v| slot_like(n, v, "velocity", 0.0))
            .collect::<Result<_>>()?;
        if self.momentum > 0.0 {
            self.momentums = vars
                .iter()
                .map(|v| slot_like(n, v, "momentum", 0.0))
                .collect::<Result<_>>()?;
        }
        if self.centered {
            self.average_gradients = vars
                .iter()
                .map(|v| slot_like(n, v, "average_gradient", 0.0))
                .collect::<Result<_>>()?;
        }
        Ok(())
    }
    fn update_step(
        &mut self,
        index: usize,
        g: &Tensor,
        var: &Variable,
        ctx: &StepContext,
    ) -> Result<()> {
        let Some(vel) = self.velocities.get(index) else {
            return Err(tf_core::Error::precondition(
                "RMSprop",
                "slots are not built",
            ));
        };
        let lr = as_var_dtype(&ctx.lr, var)?;
        let rho = s(self.rho, var);
        let one_m = s(1.0 - self.rho, var);
        let new_v = ops::add(
            &ops::mul(&rho, &vel.read()?)?,
            &ops::mul(&one_m, &ops::square(g)?)?,
        )?;
        vel.assign(&new_v)?;
        let denom = match self.average_gradients.get(index) {
            Some(ag) => {
                let new_ag = ops::add(&ops::mul(&rho, &ag.read()?)?, &ops::mul(&one_m, g)?)?;
                ag.assign(&new_ag)?;
                ops::add(
                    &ops::sub(&new_v, &ops::square(&new_ag)?)?,
                    &s(self.epsilon, var),
                )?
            }
            None => ops::add(&new_v, &s(self.epsilon, var))?,
        };
        let inc = ops::div(&ops::mul(&lr, g)?, &ops::sqrt(&denom)?)?;
        match self.momentums.get(index) {
            Some(m) => {
                let new_m = ops::add(&ops::mul(&s(self.momentum, var), &m.read()?)?, &inc)?;
                m.assign(&new_m)?;
                var.assign_sub(&new_m)
            }
            None => var.assign_sub(&inc),
        }
    }
    fn slot_variables(&self) -> Vec<Variable> {
        let mut v = self.velocities.clone();
        v.extend(self.momentums.iter().cloned());
        v.extend(self.average_gradients.iter().cloned());
        v
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("rho".into(), json!(self.rho));
        m.insert("momentum".into(), json!(self.momentum));
        m.insert("epsilon".into(), json!(self.epsilon));
        m.insert("centered".into(), json!(self.centered));
        m
    }
}

/// Keras's `Adagrad`: `acc += g²`, `w -= lr·g / √(acc + ε)`.
pub struct Adagrad {
    base: OptimizerBase,
    initial_accumulator_value: f64,
    epsilon: f64,
    accumulators: Vec<Variable>,
}

impl Adagrad {
    /// Adagrad with learning rate `lr` (Keras default 0.001), accumulators starting at 0.1.
    pub fn new(lr: f64) -> Result<Adagrad> {
        Ok(Adagrad {
            base: OptimizerBase::new("adagrad", lr)?,
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
            accumulators: Vec::new(),
        })
    }

    /// Sets the starting accumulator value.
    pub fn initial_accumulator_value(mut self, v: f64) -> Self {
        self.initial_accumulator_value = v;
        self
    }

    optimizer_builders!();

    /// Reads the Keras config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Adagrad> {
        let f = |k: &str, d: f64| config.get(k).and_then(Value::as_f64).unwrap_or(d);
        let mut a = Adagrad::new(0.001)?;
        a.base = OptimizerBase::from_config(config, "adagrad", 0.001)?;
        a.initial_accumulator_value = f("initial_accumulator_value", 0.1);
        a.epsilon = f("epsilon", 1e-7);
        Ok(a)
    }
}

impl Optimizer for Adagrad {
    fn class_name(&self) -> &str {
        "Adagrad"
    }
    fn base(&self) -> &OptimizerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut OptimizerBase {
        &mut self.base
    }
    fn build_slots(&mut self, vars: &[Variable]) -> Result<()> {
        let init = self.initial_accumulator_value;
        self.accumulators = vars
            .iter()
            .map(|v| slot_like(&self.base.name, v, "accumulator", init))
            .collect::<Result<_>>()?;
        Ok(())
    }
    fn update_step(
        &mut self,
        index: usize,
        g: &Tensor,
        var: &Variable,
        ctx: &StepContext,
    ) -> Result<()> {
        let Some(acc) = self.accumulators.get(index) else {
            return Err(tf_core::Error::precondition(
                "Adagrad",
                "slots are not built",
            ));
        };
        acc.assign_add(&ops::square(g)?)?;
        let lr = as_var_dtype(&ctx.lr, var)?;
        let denom = ops::sqrt(&ops::add(&acc.read()?, &s(self.epsilon, var))?)?;
        var.assign_sub(&ops::div(&ops::mul(&lr, g)?, &denom)?)
    }
    fn slot_variables(&self) -> Vec<Variable> {
        self.accumulators.clone()
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "initial_accumulator_value".into(),
            json!(self.initial_accumulator_value),
        );
        m.insert("epsilon".into(), json!(self.epsilon));
        m
    }
}
