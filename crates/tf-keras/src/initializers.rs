//! Weight initializers (`keras.initializers`): Glorot/He/Lecun variance scaling, zeros,
//! ones, constants, random normal/uniform/truncated, orthogonal.
//!
//! Random initializers draw from tf-core's seeded random ops, so
//! [`tf_core::ops::set_random_seed`] makes model creation reproducible.

use serde_json::{Map, Value, json};
use tf_core::{DType, Error, Result, Tensor, ops};

/// How [`Initializer::VarianceScaling`] picks the fan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// Inputs.
    FanIn,
    /// Outputs.
    FanOut,
    /// Mean of inputs and outputs.
    FanAvg,
}

/// The distribution of [`Initializer::VarianceScaling`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Normal truncated at two standard deviations (stddev corrected for truncation).
    TruncatedNormal,
    /// Plain normal.
    UntruncatedNormal,
    /// Uniform in `[-limit, limit]`.
    Uniform,
}

/// A weight initializer.
#[derive(Clone, Debug, PartialEq)]
pub enum Initializer {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// A constant.
    Constant(f64),
    /// Normal with the given mean and standard deviation.
    RandomNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// Uniform in `[minval, maxval)`.
    RandomUniform {
        /// Lower bound.
        minval: f64,
        /// Upper bound.
        maxval: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// Normal truncated at two standard deviations.
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation (before truncation).
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// Keras's `VarianceScaling`; the named initializers below are presets of it.
    VarianceScaling {
        /// Scale factor.
        scale: f64,
        /// Which fan divides the scale.
        mode: FanMode,
        /// The distribution.
        distribution: Distribution,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `GlorotUniform` (Keras's default kernel initializer).
    GlorotUniform(Option<u64>),
    /// `GlorotNormal`.
    GlorotNormal(Option<u64>),
    /// `HeUniform`.
    HeUniform(Option<u64>),
    /// `HeNormal`.
    HeNormal(Option<u64>),
    /// `LecunUniform`.
    LecunUniform(Option<u64>),
    /// `LecunNormal`.
    LecunNormal(Option<u64>),
    /// A (semi-)orthogonal matrix times `gain`, over the last axis.
    Orthogonal {
        /// Multiplicative factor.
        gain: f64,
        /// Op seed.
        seed: Option<u64>,
    },
}

/// Keras's `compute_fans`: `(fan_in, fan_out)` of a weight shape.
pub fn compute_fans(shape: &[usize]) -> (f64, f64) {
    match shape.len() {
        0 => (1.0, 1.0),
        1 => (shape[0] as f64, shape[0] as f64),
        2 => (shape[0] as f64, shape[1] as f64),
        n => {
            let receptive: f64 = shape[..n - 2].iter().map(|&d| d as f64).product();
            (
                shape[n - 2] as f64 * receptive,
                shape[n - 1] as f64 * receptive,
            )
        }
    }
}

impl Initializer {
    /// The variance-scaling parameters of the named presets.
    fn as_variance_scaling(&self) -> Option<(f64, FanMode, Distribution, Option<u64>)> {
        use Distribution::*;
        use FanMode::*;
        Some(match *self {
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
                seed,
            } => (scale, mode, distribution, seed),
            Initializer::GlorotUniform(s) => (1.0, FanAvg, Uniform, s),
            Initializer::GlorotNormal(s) => (1.0, FanAvg, TruncatedNormal, s),
            Initializer::HeUniform(s) => (2.0, FanIn, Uniform, s),
            Initializer::HeNormal(s) => (2.0, FanIn, TruncatedNormal, s),
            Initializer::LecunUniform(s) => (1.0, FanIn, Uniform, s),
            Initializer::LecunNormal(s) => (1.0, FanIn, TruncatedNormal, s),
            _ => return None,
        })
    }

    /// A new tensor of `shape` and `dtype` (floating point) drawn from this initializer.
    pub fn initialize(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        if let Some((scale, mode, dist, seed)) = self.as_variance_scaling() {
            if scale <= 0.0 {
                return Err(Error::invalid(
                    "VarianceScaling",
                    format!("scale must be positive, got {scale}"),
                ));
            }
            let (fan_in, fan_out) = compute_fans(shape);
            let fan = match mode {
                FanMode::FanIn => fan_in,
                FanMode::FanOut => fan_out,
                FanMode::FanAvg => (fan_in + fan_out) / 2.0,
            };
            let scale = scale / fan.max(1.0);
            return match dist {
                Distribution::TruncatedNormal => {
                    // Standard deviation of a standard normal truncated to (-2, 2).
                    let stddev = scale.sqrt() / 0.879_625_661_034_239_8;
                    ops::truncated_normal(shape, 0.0, stddev, dtype, seed)
                }
                Distribution::UntruncatedNormal => {
                    ops::random_normal(shape, 0.0, scale.sqrt(), dtype, seed)
                }
                Distribution::Uniform => {
                    let limit = (3.0 * scale).sqrt();
                    ops::random_uniform(shape, -limit, limit, dtype, seed)
                }
            };
        }
        match *self {
            Initializer::Zeros => Tensor::zeros(shape, dtype),
            Initializer::Ones => Tensor::ones(shape, dtype),
            Initializer::Constant(v) => ops::cast(&Tensor::fill(shape, v)?, dtype),
            Initializer::RandomNormal { mean, stddev, seed } => {
                ops::random_normal(shape, mean, stddev, dtype, seed)
            }
            Initializer::RandomUniform {
                minval,
                maxval,
                seed,
            } => ops::random_uniform(shape, minval, maxval, dtype, seed),
            Initializer::TruncatedNormal { mean, stddev, seed } => {
                ops::truncated_normal(shape, mean, stddev, dtype, seed)
            }
            Initializer::Orthogonal { gain, seed } => orthogonal(shape, gain, dtype, seed),
            _ => Err(Error::precondition("Initializer", "unhandled initializer")),
        }
    }

    /// Keras's class name (`"GlorotUniform"`, ...).
    pub fn class_name(&self) -> &'static str {
        match self {
            Initializer::Zeros => "Zeros",
            Initializer::Ones => "Ones",
            Initializer::Constant(_) => "Constant",
            Initializer::RandomNormal { .. } => "RandomNormal",
            Initializer::RandomUniform { .. } => "RandomUniform",
            Initializer::TruncatedNormal { .. } => "TruncatedNormal",
            Initializer::VarianceScaling { .. } => "VarianceScaling",
            Initializer::GlorotUniform(_) => "GlorotUniform",
            Initializer::GlorotNormal(_) => "GlorotNormal",
            Initializer::HeUniform(_) => "HeUniform",
            Initializer::HeNormal(_) => "HeNormal",
            Initializer::LecunUniform(_) => "LecunUniform",
            Initializer::LecunNormal(_) => "LecunNormal",
            Initializer::Orthogonal { .. } => "Orthogonal",
        }
    }

    /// The serialized form Keras writes: `{"module": "keras.initializers", "class_name":
    /// ..., "config": {...}, "registered_name": null}`.
    pub fn to_config(&self) -> Value {
        let seed = |s: &Option<u64>| s.map_or(Value::Null, |s| json!(s));
        let config = match self {
            Initializer::Zeros | Initializer::Ones => json!({}),
            Initializer::Constant(v) => json!({ "value": v }),
            Initializer::RandomNormal {
                mean,
                stddev,
                seed: s,
            }
            | Initializer::TruncatedNormal {
                mean,
                stddev,
                seed: s,
            } => {
                json!({ "mean": mean, "stddev": stddev, "seed": seed(s) })
            }
            Initializer::RandomUniform {
                minval,
                maxval,
                seed: s,
            } => json!({ "minval": minval, "maxval": maxval, "seed": seed(s) }),
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
                seed: s,
            } => json!({
                "scale": scale,
                "mode": match mode { FanMode::FanIn => "fan_in", FanMode::FanOut => "fan_out", FanMode::FanAvg => "fan_avg" },
                "distribution": match distribution {
                    Distribution::TruncatedNormal => "truncated_normal",
                    Distribution::UntruncatedNormal => "untruncated_normal",
                    Distribution::Uniform => "uniform",
                },
                "seed": seed(s),
            }),
            Initializer::GlorotUniform(s)
            | Initializer::GlorotNormal(s)
            | Initializer::HeUniform(s)
            | Initializer::HeNormal(s)
            | Initializer::LecunUniform(s)
            | Initializer::LecunNormal(s) => json!({ "seed": seed(s) }),
            Initializer::Orthogonal { gain, seed: s } => json!({ "gain": gain, "seed": seed(s) }),
        };
        json!({
            "module": "keras.initializers",
            "class_name": self.class_name(),
            "config": config,
            "registered_name": null,
        })
    }

    /// Reads a serialized initializer (an object as written by [`to_config`](Self::to_config)
    /// or a name such as `"glorot_uniform"` / `"zeros"`). Errors name unknown classes.
    pub fn from_config(v: &Value) -> Result<Initializer> {
        let (class, config) = match v {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Object(m) => {
                let class = m.get("class_name").and_then(Value::as_str).ok_or_else(|| {
                    Error::format(
                        "Keras config",
                        format!("initializer without class_name: {v}"),
                    )
                })?;
                let config = m
                    .get("config")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                (class, config)
            }
            other => {
                return Err(Error::format(
                    "Keras config",
                    format!("initializer must be a string or object, found {other}"),
                ));
            }
        };
        let f = |k: &str, d: f64| config.get(k).and_then(Value::as_f64).unwrap_or(d);
        let seed = config.get("seed").and_then(Value::as_u64);
        Ok(match class {
            "Zeros" | "zeros" => Initializer::Zeros,
            "Ones" | "ones" => Initializer::Ones,
            "Constant" | "constant" => Initializer::Constant(f("value", 0.0)),
            "RandomNormal" | "random_normal" => Initializer::RandomNormal {
                mean: f("mean", 0.0),
                stddev: f("stddev", 0.05),
                seed,
            },
            "RandomUniform" | "random_uniform" => Initializer::RandomUniform {
                minval: f("minval", -0.05),
                maxval: f("maxval", 0.05),
                seed,
            },
            "TruncatedNormal" | "truncated_normal" => Initializer::TruncatedNormal {
                mean: f("mean", 0.0),
                stddev: f("stddev", 0.05),
                seed,
            },
            "GlorotUniform" | "glorot_uniform" => Initializer::GlorotUniform(seed),
            "GlorotNormal" | "glorot_normal" => Initializer::GlorotNormal(seed),
            "HeUniform" | "he_uniform" => Initializer::HeUniform(seed),
            "HeNormal" | "he_normal" => Initializer::HeNormal(seed),
            "LecunUniform" | "lecun_uniform" => Initializer::LecunUniform(seed),
            "LecunNormal" | "lecun_normal" => Initializer::LecunNormal(seed),
            "Orthogonal" | "orthogonal" => Initializer::Orthogonal {
                gain: f("gain", 1.0),
                seed,
            },
            "VarianceScaling" | "variance_scaling" => {
                let s = |k: &str, d: &'static str| {
                    config
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or(d)
                        .to_string()
                };
                Initializer::VarianceScaling {
                    scale: f("scale", 1.0),
                    mode: match s("mode", "fan_in").as_str() {
                        "fan_in" => FanMode::FanIn,
                        "fan_out" => FanMode::FanOut,
                        "fan_avg" => FanMode::FanAvg,
                        m => {
                            return Err(Error::format(
                                "Keras config",
                                format!("VarianceScaling: unknown mode '{m}'"),
                            ));
                        }
                    },
                    distribution: match s("distribution", "truncated_normal").as_str() {
                        "truncated_normal" => Distribution::TruncatedNormal,
                        "untruncated_normal" | "normal" => Distribution::UntruncatedNormal,
                        "uniform" => Distribution::Uniform,
                        d => {
                            return Err(Error::format(
                                "Keras config",
                                format!("VarianceScaling: unknown distribution '{d}'"),
                            ));
                        }
                    },
                    seed,
                }
            }
            other => {
                return Err(Error::NotFound {
                    what: "Keras initializer",
                    name: other.to_string(),
                });
            }
        })
    }
}

/// Keras's `Orthogonal`: QR of a normal `[rows, cols]` matrix (rows = product of all
/// but the last dimension), sign-corrected, times `gain`.
fn orthogonal(shape: &[usize], gain: f64, dtype: DType, seed: Option<u64>) -> Result<Tensor> {
    if shape.len() < 2 {
        return Err(Error::invalid(
            "Orthogonal",
            format!("needs a shape of rank >= 2, got {shape:?}"),
        ));
    }
    let cols = shape[shape.len() - 1];
    let rows: usize = shape[..shape.len() - 1].iter().product();
    // Work on the tall orientation [n, k] with n >= k.
    let (n, k) = (rows.max(cols), rows.min(cols));
    let a = ops::random_normal(&[n, k], 0.0, 1.0, DType::F64, seed)?.to_vec::<f64>()?;
    // Modified Gram-Schmidt on the columns of a (row-major [n, k]).
    let mut q = a;
    for j in 0..k {
        for p in 0..j {
            let dot: f64 = (0..n).map(|i| q[i * k + j] * q[i * k + p]).sum();
            for i in 0..n {
                q[i * k + j] -= dot * q[i * k + p];
            }
        }
        let norm: f64 = (0..n).map(|i| q[i * k + j].powi(2)).sum::<f64>().sqrt();
        let norm = if norm > 0.0 { norm } else { 1.0 };
        for i in 0..n {
            q[i * k + j] /= norm;
        }
    }
    // Gram-Schmidt's R has a positive diagonal already, matching `q * sign(diag(r))`.
    let mut out = vec![0.0f64; rows * cols];
    if rows >= cols {
        for (o, v) in out.iter_mut().zip(&q) {
            *o = v * gain;
        }
    } else {
        for i in 0..rows {
            for j in 0..cols {
                out[i * cols + j] = q[j * k + i] * gain;
            }
        }
    }
    ops::cast(&Tensor::from_vec(out, shape)?, dtype)
}
