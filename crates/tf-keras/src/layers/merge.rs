//! Merge layers: `Add`, `Multiply`, `Concatenate` (several inputs, one output).

use super::{Cfg, Layer, LayerBase, layer_boilerplate};
use serde_json::{Map, Value, json};
use tf_core::shape::broadcast_partial;
use tf_core::{Error, PartialShape, Result, Tensor, ops};

fn at_least_two(base: &LayerBase, class: &str, n: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::invalid(
            format!("{class} '{}'", base.name),
            format!("needs at least 2 inputs, got {n}"),
        ));
    }
    Ok(())
}

fn broadcast_all(base: &LayerBase, class: &str, shapes: &[PartialShape]) -> Result<PartialShape> {
    at_least_two(base, class, shapes.len())?;
    let mut out = shapes[0].clone();
    for s in &shapes[1..] {
        out = broadcast_partial("Merge", &out, s).map_err(|_| {
            Error::invalid(
                format!("{class} '{}'", base.name),
                format!("input shapes are incompatible: {shapes:?}"),
            )
        })?;
    }
    Ok(out)
}

macro_rules! elementwise_merge {
    ($name:ident, $class:literal, $op:path, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name {
            base: LayerBase,
        }

        impl $name {
            /// A new merge layer.
            pub fn new() -> $name {
                $name {
                    base: LayerBase::new($class, None),
                }
            }

            /// Reads the Keras config.
            pub fn from_config(config: &Map<String, Value>) -> Result<$name> {
                Ok($name {
                    base: LayerBase::from_config($class, config)?,
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl Layer for $name {
            layer_boilerplate!($class);

            fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
                at_least_two(&self.base, $class, inputs.len())?;
                let mut acc = inputs[0].clone();
                for x in &inputs[1..] {
                    acc = $op(&acc, x)?;
                }
                Ok(acc)
            }

            fn compute_output_shape(&self, shapes: &[PartialShape]) -> Result<PartialShape> {
                broadcast_all(&self.base, $class, shapes)
            }
        }
    };
}

elementwise_merge!(
    Add,
    "Add",
    ops::add,
    "Keras's `Add`: the elementwise sum of its inputs."
);
elementwise_merge!(
    Multiply,
    "Multiply",
    ops::mul,
    "Keras's `Multiply`: the elementwise product of its inputs."
);

/// Keras's `Concatenate`: joins its inputs along `axis` (default the last).
#[derive(Clone)]
pub struct Concatenate {
    base: LayerBase,
    axis: i64,
}

impl Concatenate {
    /// Concatenation along `axis`.
    pub fn new(axis: i64) -> Concatenate {
        Concatenate {
            base: LayerBase::new("Concatenate", None),
            axis,
        }
    }

    /// Reads the Keras config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Concatenate> {
        let c = Cfg::new("Concatenate", config);
        Ok(Concatenate {
            base: LayerBase::from_config("Concatenate", config)?,
            axis: c.get("axis").and_then(Value::as_i64).unwrap_or(-1),
        })
    }
}

impl Layer for Concatenate {
    layer_boilerplate!("Concatenate");

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        at_least_two(&self.base, "Concatenate", inputs.len())?;
        ops::concat(inputs, self.axis)
    }

    fn compute_output_shape(&self, shapes: &[PartialShape]) -> Result<PartialShape> {
        at_least_two(&self.base, "Concatenate", shapes.len())?;
        let rank = shapes[0].rank();
        let err = || {
            Error::invalid(
                format!("Concatenate '{}'", self.base.name),
                format!(
                    "inputs must match except along axis {}: {shapes:?}",
                    self.axis
                ),
            )
        };
        let axis = shapes[0].axis("Concatenate", self.axis)?;
        let mut dims = shapes[0].dims().to_vec();
        for s in &shapes[1..] {
            if s.rank() != rank {
                return Err(err());
            }
            for (i, (a, b)) in dims.iter_mut().zip(s.dims()).enumerate() {
                if i == axis {
                    *a = match (*a, *b) {
                        (Some(x), Some(y)) => Some(x + y),
                        _ => None,
                    };
                } else {
                    match (*a, *b) {
                        (Some(x), Some(y)) if x != y => return Err(err()),
                        (None, y) => *a = y,
                        _ => {}
                    }
                }
            }
        }
        Ok(PartialShape::new(&dims))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("axis".into(), json!(self.axis));
        m
    }
}
