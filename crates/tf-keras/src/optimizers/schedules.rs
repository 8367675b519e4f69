//! Learning-rate schedules (`keras.optimizers.schedules`), computed with tf-core ops
//! from the step tensor so they also work traced.

use serde_json::{Map, Value, json};
use tf_core::{Error, Result, Tensor, ops};

/// A learning rate as a function of the (float32 scalar) step.
pub trait LearningRateSchedule: Send + Sync {
    /// Keras's class name.
    fn class_name(&self) -> &str;

    /// The learning rate at `step` (float32 scalar in, float32 scalar out).
    fn call(&self, step: &Tensor) -> Result<Tensor>;

    /// Class-specific config.
    fn config(&self) -> Map<String, Value>;

    /// The learning rate at an integer step, evaluated eagerly.
    fn value_at(&self, step: i64) -> Result<f64> {
        Ok(f64::from(
            self.call(&Tensor::from_scalar(step as f32))?
                .scalar::<f32>()?,
        ))
    }

    /// The serialized form.
    fn to_config(&self) -> Value {
        json!({"module": "keras.optimizers.schedules", "class_name": self.class_name(), "config": self.config(), "registered_name": null})
    }
}

fn c(v: f64) -> Tensor {
    Tensor::from_scalar(v as f32)
}

/// `ExponentialDecay`: `lr0 * rate ^ (step / decay_steps)` (floored exponent when
/// `staircase`).
#[derive(Clone, Debug)]
pub struct ExponentialDecay {
    /// Initial learning rate.
    pub initial_learning_rate: f64,
    /// Steps per decay period.
    pub decay_steps: f64,
    /// Decay factor per period.
    pub decay_rate: f64,
    /// Whether to decay in discrete steps.
    pub staircase: bool,
}

impl LearningRateSchedule for ExponentialDecay {
    fn class_name(&self) -> &str {
        "ExponentialDecay"
    }
    fn call(&self, step: &Tensor) -> Result<Tensor> {
        let mut p = ops::div(step, &c(self.decay_steps))?;
        if self.staircase {
            p = ops::floor(&p)?;
        }
        ops::mul(
            &c(self.initial_learning_rate),
            &ops::pow(&c(self.decay_rate), &p)?,
        )
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "initial_learning_rate".into(),
            json!(self.initial_learning_rate),
        );
        m.insert("decay_steps".into(), json!(self.decay_steps));
        m.insert("decay_rate".into(), json!(self.decay_rate));
        m.insert("staircase".into(), json!(self.staircase));
        m.insert("name".into(), json!("ExponentialDecay"));
        m
    }
}

/// `InverseTimeDecay`: `lr0 / (1 + rate * step / decay_steps)` (floored when
/// `staircase`).
#[derive(Clone, Debug)]
pub struct InverseTimeDecay {
    /// Initial learning rate.
    pub initial_learning_rate: f64,
    /// Steps per decay period.
    pub decay_steps: f64,
    /// Decay rate.
    pub decay_rate: f64,
    /// Whether to decay in discrete steps.
    pub staircase: bool,
}

impl LearningRateSchedule for InverseTimeDecay {
    fn class_name(&self) -> &str {
        "InverseTimeDecay"
    }
    fn call(&self, step: &Tensor) -> Result<Tensor> {
        let mut p = ops::div(step, &c(self.decay_steps))?;
        if self.staircase {
            p = ops::floor(&p)?;
        }
        let denom = ops::add(&c(1.0), &ops::mul(&c(self.decay_rate), &p)?)?;
        ops::div(&c(self.initial_learning_rate), &denom)
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "initial_learning_rate".into(),
            json!(self.initial_learning_rate),
        );
        m.insert("decay_steps".into(), json!(self.decay_steps));
        m.insert("decay_rate".into(), json!(self.decay_rate));
        m.insert("staircase".into(), json!(self.staircase));
        m.insert("name".into(), json!("InverseTimeDecay"));
        m
    }
}

/// `PiecewiseConstantDecay`: `values[0]` up to `boundaries[0]` (inclusive), then
/// `values[1]` up to `boundaries[1]`, ..., `values[n]` after the last boundary.
#[derive(Clone, Debug)]
pub struct PiecewiseConstantDecay {
    boundaries: Vec<f64>,
    values: Vec<f64>,
}

impl PiecewiseConstantDecay {
    /// Errors unless there is exactly one more value than boundaries.
    pub fn new(boundaries: &[f64], values: &[f64]) -> Result<Self> {
        if values.len() != boundaries.len() + 1 {
            return Err(Error::invalid(
                "PiecewiseConstantDecay",
                format!(
                    "the length of boundaries ({}) should be 1 less than the length of values ({})",
                    boundaries.len(),
                    values.len()
                ),
            ));
        }
        Ok(PiecewiseConstantDecay {
            boundaries: boundaries.to_vec(),
            values: values.to_vec(),
        })
    }
}

impl LearningRateSchedule for PiecewiseConstantDecay {
    fn class_name(&self) -> &str {
        "PiecewiseConstantDecay"
    }
    fn call(&self, step: &Tensor) -> Result<Tensor> {
        // Walk from the last interval down: where(step <= b_i, v_i, acc).
        let mut acc = c(*self.values.last().unwrap_or(&0.0));
        for (b, v) in self.boundaries.iter().zip(&self.values).rev() {
            let cond = ops::less_equal(step, &c(*b))?;
            acc = ops::where_(&cond, &c(*v), &acc)?;
        }
        Ok(acc)
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("boundaries".into(), json!(self.boundaries));
        m.insert("values".into(), json!(self.values));
        m.insert("name".into(), json!("PiecewiseConstant"));
        m
    }
}

/// `CosineDecay` with optional linear warmup: from `initial_learning_rate` (or
/// `warmup_target` after `warmup_steps`) down to `alpha` times it over `decay_steps`.
#[derive(Clone, Debug)]
pub struct CosineDecay {
    /// Initial learning rate.
    pub initial_learning_rate: f64,
    /// Length of the decay.
    pub decay_steps: f64,
    /// Final fraction of the rate.
    pub alpha: f64,
    /// Rate reached at the end of the warmup (`None`: no warmup).
    pub warmup_target: Option<f64>,
    /// Length of the warmup.
    pub warmup_steps: f64,
}

impl CosineDecay {
    /// Cosine decay without warmup.
    pub fn new(initial_learning_rate: f64, decay_steps: f64) -> Self {
        CosineDecay {
            initial_learning_rate,
            decay_steps,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0.0,
        }
    }

    fn decay(&self, step: &Tensor, from: f64) -> Result<Tensor> {
        let frac = ops::div(step, &c(self.decay_steps))?;
        let cos = ops::cos(&ops::mul(&c(std::f64::consts::PI), &frac)?)?;
        let cosine = ops::mul(&c(0.5), &ops::add(&c(1.0), &cos)?)?;
        let decayed = ops::add(&ops::mul(&c(1.0 - self.alpha), &cosine)?, &c(self.alpha))?;
        ops::mul(&c(from), &decayed)
    }
}

impl LearningRateSchedule for CosineDecay {
    fn class_name(&self) -> &str {
        "CosineDecay"
    }
    fn call(&self, step: &Tensor) -> Result<Tensor> {
        match self.warmup_target {
            None => {
                let s = ops::minimum(step, &c(self.decay_steps))?;
                self.decay(&s, self.initial_learning_rate)
            }
            Some(target) => {
                let s = ops::minimum(step, &c(self.decay_steps + self.warmup_steps))?;
                let warm_frac = ops::div(&s, &c(self.warmup_steps.max(f64::MIN_POSITIVE)))?;
                let warm = ops::add(
                    &ops::mul(&c(target - self.initial_learning_rate), &warm_frac)?,
                    &c(self.initial_learning_rate),
                )?;
                let dec = self.decay(&ops::sub(&s, &c(self.warmup_steps))?, target)?;
                let cond = ops::less(&s, &c(self.warmup_steps))?;
                ops::where_(&cond, &warm, &dec)
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "initial_learning_rate".into(),
            json!(self.initial_learning_rate),
        );
        m.insert("decay_steps".into(), json!(self.decay_steps));
        m.insert("alpha".into(), json!(self.alpha));
        m.insert("name".into(), json!("CosineDecay"));
        m.insert(
            "warmup_target".into(),
            self.warmup_target.map_or(Value::Null, |v| json!(v)),
        );
        m.insert("warmup_steps".into(), json!(self.warmup_steps));
        m
    }
}

/// Reads a serialized schedule.
pub fn from_config(v: &Value) -> Result<Box<dyn LearningRateSchedule>> {
    let class = v.get("class_name").and_then(Value::as_str).unwrap_or("");
    let cfg = v.get("config").cloned().unwrap_or(Value::Null);
    let f = |k: &str, d: f64| cfg.get(k).and_then(Value::as_f64).unwrap_or(d);
    let b = |k: &str| cfg.get(k).and_then(Value::as_bool).unwrap_or(false);
    let list = |k: &str| -> Vec<f64> {
        cfg.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    Ok(match class {
        "ExponentialDecay" => Box::new(ExponentialDecay {
            initial_learning_rate: f("initial_learning_rate", 0.01),
            decay_steps: f("decay_steps", 1.0),
            decay_rate: f("decay_rate", 1.0),
            staircase: b("staircase"),
        }),
        "InverseTimeDecay" => Box::new(InverseTimeDecay {
            initial_learning_rate: f("initial_learning_rate", 0.01),
            decay_steps: f("decay_steps", 1.0),
            decay_rate: f("decay_rate", 1.0),
            staircase: b("staircase"),
        }),
        "PiecewiseConstantDecay" => Box::new(PiecewiseConstantDecay::new(
            &list("boundaries"),
            &list("values"),
        )?),
        "CosineDecay" => Box::new(CosineDecay {
            initial_learning_rate: f("initial_learning_rate", 0.01),
            decay_steps: f("decay_steps", 1.0),
            alpha: f("alpha", 0.0),
            warmup_target: cfg.get("warmup_target").and_then(Value::as_f64),
            warmup_steps: f("warmup_steps", 0.0),
        }),
        other => {
            return Err(Error::NotFound {
                what: "Keras learning-rate schedule",
                name: other.to_string(),
            });
        }
    })
}
