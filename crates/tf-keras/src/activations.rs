//! Activation functions by Keras name (`"relu"`, `"softmax"`, ...), built from tf-core ops.

use serde_json::Value;
use tf_core::{Error, Result, Tensor, ops};

/// A Keras activation function.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    /// Identity (`"linear"`, also `None` in Keras).
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// Softmax over the last axis.
    Softmax,
    /// Log-softmax over the last axis.
    LogSoftmax,
    /// GELU (`approximate`: the tanh form).
    Gelu {
        /// Use the tanh approximation.
        approximate: bool,
    },
    /// `x` if `x > 0` else `exp(x) - 1`.
    Elu,
    /// Scaled ELU.
    Selu,
    /// `x * sigmoid(x)` (`"silu"` and `"swish"`).
    Silu,
    /// `x` if `x > 0` else `negative_slope * x` (Keras default slope 0.2).
    LeakyRelu {
        /// The slope for negative inputs.
        negative_slope: f64,
    },
    /// `log(1 + exp(x))`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `exp(x)`.
    Exponential,
}

impl Activation {
    /// Looks up an activation by its Keras name (`"relu"`, `"gelu"`, `"swish"`,
    /// `"leaky_relu"`, `"linear"`, ...). Errors name the unknown activation.
    pub fn from_name(name: &str) -> Result<Activation> {
        Ok(match name {
            "linear" | "None" | "" => Activation::Linear,
            "relu" => Activation::Relu,
            "relu6" => Activation::Relu6,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "log_softmax" => Activation::LogSoftmax,
            "gelu" => Activation::Gelu { approximate: false },
            "elu" => Activation::Elu,
            "selu" => Activation::Selu,
            "silu" | "swish" => Activation::Silu,
            "leaky_relu" => Activation::LeakyRelu {
                negative_slope: 0.2,
            },
            "softplus" => Activation::Softplus,
            "softsign" => Activation::Softsign,
            "exponential" => Activation::Exponential,
            other => {
                return Err(Error::NotFound {
                    what: "Keras activation",
                    name: other.to_string(),
                });
            }
        })
    }

    /// The Keras name written to configs.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::LogSoftmax => "log_softmax",
            Activation::Gelu { .. } => "gelu",
            Activation::Elu => "elu",
            Activation::Selu => "selu",
            Activation::Silu => "silu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::Exponential => "exponential",
        }
    }

    /// Applies the activation elementwise (softmax variants over the last axis).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Linear => Ok(x.clone()),
            Activation::Relu => ops::relu(x),
            Activation::Relu6 => ops::relu6(x),
            Activation::Sigmoid => ops::sigmoid(x),
            Activation::Tanh => ops::tanh(x),
            Activation::Softmax => ops::softmax(x, -1),
            Activation::LogSoftmax => ops::log_softmax(x, -1),
            Activation::Gelu { approximate } => ops::gelu(x, approximate),
            Activation::Elu => ops::elu(x),
            Activation::Selu => ops::selu(x),
            Activation::Silu => ops::silu(x),
            Activation::LeakyRelu { negative_slope } => ops::leaky_relu(x, negative_slope),
            Activation::Softplus => ops::softplus(x),
            Activation::Softsign => ops::softsign(x),
            Activation::Exponential => ops::exp(x),
        }
    }

    /// The config value Keras writes (a plain string).
    pub fn to_config(&self) -> Value {
        Value::String(self.name().to_string())
    }

    /// Reads an activation from a config value: a name, `null` (linear), or a
    /// serialized function object `{"class_name": "function", "config": "relu", ...}`.
    pub fn from_config(v: &Value) -> Result<Activation> {
        match v {
            Value::Null => Ok(Activation::Linear),
            Value::String(s) => Activation::from_name(s),
            Value::Object(m) => match m.get("config") {
                Some(Value::String(s)) => Activation::from_name(s),
                _ => Err(Error::format(
                    "Keras config",
                    format!("unsupported activation object {v}"),
                )),
            },
            other => Err(Error::format(
                "Keras config",
                format!("activation must be a string, found {other}"),
            )),
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Activation::from_name(s)
    }
}
