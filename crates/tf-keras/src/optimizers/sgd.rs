//! `SGD` with optional momentum and Nesterov momentum.

use super::{
    Optimizer, OptimizerBase, StepContext, as_var_dtype, optimizer_builders, s, slot_like,
};
use serde_json::{Map, Value, json};
use tf_core::{Result, Tensor, Variable, ops};

/// Keras's `SGD`: `w -= lr * g`, or with momentum `m = momentum * m - lr * g; w += m`
/// (Nesterov: `w += momentum * m - lr * g`).
pub struct SGD {
    base: OptimizerBase,
    momentum: f64,
    nesterov: bool,
    momentums: Vec<Variable>,
}

impl SGD {
    /// Plain SGD with learning rate `lr` (Keras default 0.01).
    pub fn new(lr: f64) -> Result<SGD> {
        Ok(SGD {
            base: OptimizerBase::new("SGD", lr)?,
            momentum: 0.0,
            nesterov: false,
            momentums: Vec::new(),
        })
    }

    /// Sets the momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }

    /// Uses Nesterov momentum.
    pub fn nesterov(mut self, n: bool) -> Self {
        self.nesterov = n;
        self
    }

    optimizer_builders!();

    /// Reads a Keras `SGD` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<SGD> {
        Ok(SGD {
            base: OptimizerBase::from_config(config, "SGD", 0.01)?,
            momentum: config
                .get("momentum")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            nesterov: config
                .get("nesterov")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            momentums: Vec::new(),
        })
    }
}

impl Optimizer for SGD {
    fn class_name(&self) -> &str {
        "SGD"
    }
    fn base(&self) -> &OptimizerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut OptimizerBase {
        &mut self.base
    }
    fn build_slots(&mut self, vars: &[Variable]) -> Result<()> {
        if self.momentum != 0.0 {
            self.momentums = vars
                .iter()
                .map(|v| slot_like(&self.base.name, v, "momentum", 0.0))
                .collect::<Result<_>>()?;
        }
        Ok(())
    }
    fn update_step(
        &mut self,
        index: usize,
        grad: &Tensor,
        var: &Variable,
        ctx: &StepContext,
    ) -> Result<()> {
        let lr = as_var_dtype(&ctx.lr, var)?;
        let step = ops::mul(grad, &lr)?;
        match self.momentums.get(index) {
            None => var.assign_sub(&step),
            Some(m) => {
                let mom = s(self.momentum, var);
                let new_m = ops::sub(&ops::mul(&m.read()?, &mom)?, &step)?;
                m.assign(&new_m)?;
                if self.nesterov {
                    var.assign_add(&ops::sub(&ops::mul(&new_m, &mom)?, &step)?)
                } else {
                    var.assign_add(&new_m)
                }
            }
        }
    }
    fn slot_variables(&self) -> Vec<Variable> {
        self.momentums.clone()
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("momentum".into(), json!(self.momentum));
        m.insert("nesterov".into(), json!(self.nesterov));
        m
    }
}
