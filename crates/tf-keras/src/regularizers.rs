//! Weight regularizers (`keras.regularizers`): L1, L2 and L1L2 penalties added to the
//! training loss.

use serde_json::{Value, json};
use tf_core::{Error, Result, Tensor, ops};

/// A weight penalty: `l1 * sum(|w|) + l2 * sum(w²)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regularizer {
    /// L1 factor.
    pub l1: f64,
    /// L2 factor.
    pub l2: f64,
}

impl Regularizer {
    /// `L1(l1)`.
    pub fn l1(l1: f64) -> Regularizer {
        Regularizer { l1, l2: 0.0 }
    }

    /// `L2(l2)` (Keras default factor 0.01).
    pub fn l2(l2: f64) -> Regularizer {
        Regularizer { l1: 0.0, l2 }
    }

    /// `L1L2(l1, l2)`.
    pub fn l1_l2(l1: f64, l2: f64) -> Regularizer {
        Regularizer { l1, l2 }
    }

    /// The penalty for weight `w` (a scalar of `w`'s dtype).
    pub fn penalty(&self, w: &Tensor) -> Result<Tensor> {
        let dtype = w.dtype();
        let mut total = Tensor::zeros([], dtype)?;
        if self.l1 != 0.0 {
            let s = ops::reduce_sum(&ops::abs(w)?, None, false)?;
            let k = ops::cast(&Tensor::from_scalar(self.l1), dtype)?;
            total = ops::add(&total, &ops::mul(&s, &k)?)?;
        }
        if self.l2 != 0.0 {
            let s = ops::reduce_sum(&ops::square(w)?, None, false)?;
            let k = ops::cast(&Tensor::from_scalar(self.l2), dtype)?;
            total = ops::add(&total, &ops::mul(&s, &k)?)?;
        }
        Ok(total)
    }

    /// Keras's serialized form (`L1`, `L2` or `L1L2`).
    pub fn to_config(&self) -> Value {
        let (class, config) = if self.l1 == 0.0 {
            ("L2", json!({ "l2": self.l2 }))
        } else if self.l2 == 0.0 {
            ("L1", json!({ "l1": self.l1 }))
        } else {
            ("L1L2", json!({ "l1": self.l1, "l2": self.l2 }))
        };
        json!({"module": "keras.regularizers", "class_name": class, "config": config, "registered_name": null})
    }

    /// Reads a serialized regularizer; `null` gives `None`.
    pub fn from_config(v: &Value) -> Result<Option<Regularizer>> {
        let (class, config) = match v {
            Value::Null => return Ok(None),
            Value::String(s) => (s.as_str(), Value::Null),
            Value::Object(m) => (
                m.get("class_name").and_then(Value::as_str).unwrap_or(""),
                m.get("config").cloned().unwrap_or(Value::Null),
            ),
            other => {
                return Err(Error::format(
                    "Keras config",
                    format!("regularizer must be an object, found {other}"),
                ));
            }
        };
        let f = |k: &str, d: f64| config.get(k).and_then(Value::as_f64).unwrap_or(d);
        Ok(Some(match class {
            "L1" | "l1" => Regularizer::l1(f("l1", 0.01)),
            "L2" | "l2" => Regularizer::l2(f("l2", 0.01)),
            "L1L2" | "l1_l2" => Regularizer::l1_l2(f("l1", 0.0), f("l2", 0.0)),
            other => {
                return Err(Error::NotFound {
                    what: "Keras regularizer",
                    name: other.to_string(),
                });
            }
        }))
    }
}
