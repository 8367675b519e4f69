//! Reshaping layers: `Flatten`, `Reshape`, `Permute`, `ZeroPadding2D`.

use super::{Cfg, Layer, LayerBase, layer_boilerplate, single, single_shape};
use serde_json::{Map, Value, json};
use tf_core::{Error, PartialShape, Result, Tensor, ops};

/// Errors unless a config's `data_format` is `channels_last` (the only layout here).
pub(crate) fn check_channels_last(class: &str, c: &Cfg<'_>) -> Result<()> {
    match c.str_or("data_format", "channels_last")? {
        "channels_last" => Ok(()),
        other => Err(Error::unimplemented(
            class.to_string(),
            format!("data_format '{other}' (only channels_last is supported)"),
        )),
    }
}

/// Keras's `Flatten`: `[batch, d1, d2, ...]` → `[batch, d1 * d2 * ...]`.
#[derive(Clone)]
pub struct Flatten {
    base: LayerBase,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Flatten {
        Flatten {
            base: LayerBase::new("Flatten", None),
        }
    }

    /// Reads a Keras `Flatten` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Flatten> {
        check_channels_last("Flatten", &Cfg::new("Flatten", config))?;
        Ok(Flatten {
            base: LayerBase::from_config("Flatten", config)?,
        })
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Layer for Flatten {
    layer_boilerplate!("Flatten");

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = single(&self.base, "Flatten", inputs)?;
        let dims = x.dims();
        if dims.is_empty() {
            return Err(Error::invalid(
                format!("Flatten '{}'", self.base.name),
                "input must have a batch dimension",
            ));
        }
        let rest: usize = dims[1..].iter().product();
        ops::reshape(x, &[dims[0] as i64, rest as i64])
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "Flatten", input_shapes)?;
        if s.rank() == 0 {
            return Err(Error::invalid(
                format!("Flatten '{}'", self.base.name),
                "input must have a batch dimension",
            ));
        }
        let rest: Option<usize> = s.dims()[1..]
            .iter()
            .try_fold(1usize, |a, d| d.map(|d| a * d));
        Ok(PartialShape::new(&[s.dims()[0], rest]))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("data_format".into(), json!("channels_last"));
        m
    }
}

/// Keras's `Reshape`: `[batch, ...]` → `[batch, *target_shape]` (one entry may be -1).
#[derive(Clone)]
pub struct Reshape {
    base: LayerBase,
    target_shape: Vec<i64>,
}

impl Reshape {
    /// Reshapes each sample to `target_shape` (at most one `-1`).
    pub fn new(target_shape: &[i64]) -> Reshape {
        Reshape {
            base: LayerBase::new("Reshape", None),
            target_shape: target_shape.to_vec(),
        }
    }

    /// Reads a Keras `Reshape` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Reshape> {
        let c = Cfg::new("Reshape", config);
        Ok(Reshape {
            base: LayerBase::from_config("Reshape", config)?,
            target_shape: c.i64_list("target_shape")?,
        })
    }
}

impl Layer for Reshape {
    layer_boilerplate!("Reshape");

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = single(&self.base, "Reshape", inputs)?;
        let batch = x.dims().first().copied().unwrap_or(0) as i64;
        let mut shape = vec![batch];
        shape.extend(&self.target_shape);
        ops::reshape(x, &shape)
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "Reshape", input_shapes)?;
        let batch = s.dims().first().copied().flatten();
        let known: Option<usize> = s
            .dims()
            .iter()
            .skip(1)
            .try_fold(1usize, |a, d| d.map(|d| a * d));
        let fixed: i64 = self.target_shape.iter().filter(|&&d| d >= 0).product();
        let mut dims = vec![batch];
        for &d in &self.target_shape {
            dims.push(if d >= 0 {
                Some(d as usize)
            } else {
                match known {
                    Some(k) if fixed > 0 => Some(k / fixed as usize),
                    _ => None,
                }
            });
        }
        Ok(PartialShape::new(&dims))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("target_shape".into(), json!(self.target_shape));
        m
    }
}

/// Keras's `Permute`: reorders the non-batch axes (`dims` are 1-based).
#[derive(Clone)]
pub struct Permute {
    base: LayerBase,
    dims: Vec<i64>,
}

impl Permute {
    /// Permutes sample axes: `dims` is a permutation of `1..=rank-1`.
    pub fn new(dims: &[i64]) -> Permute {
        Permute {
            base: LayerBase::new("Permute", None),
            dims: dims.to_vec(),
        }
    }

    /// Reads a Keras `Permute` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Permute> {
        let c = Cfg::new("Permute", config);
        Ok(Permute {
            base: LayerBase::from_config("Permute", config)?,
            dims: c.i64_list("dims")?,
        })
    }

    fn perm(&self) -> Vec<i64> {
        let mut p = vec![0];
        p.extend(&self.dims);
        p
    }
}

impl Layer for Permute {
    layer_boilerplate!("Permute");

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        ops::transpose(single(&self.base, "Permute", inputs)?, Some(&self.perm()))
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "Permute", input_shapes)?;
        let perm = self.perm();
        if perm.len() != s.rank() {
            return Err(Error::invalid(
                format!("Permute '{}'", self.base.name),
                format!("dims {:?} do not match input shape {s}", self.dims),
            ));
        }
        perm.iter()
            .map(|&p| {
                s.dims().get(p as usize).copied().ok_or_else(|| {
                    Error::invalid(
                        format!("Permute '{}'", self.base.name),
                        format!("dims {:?} are not a permutation for shape {s}", self.dims),
                    )
                })
            })
            .collect()
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("dims".into(), json!(self.dims));
        m
    }
}

/// Keras's `ZeroPadding2D`: pads NHWC images with zeros.
#[derive(Clone)]
pub struct ZeroPadding2D {
    base: LayerBase,
    padding: [[usize; 2]; 2],
}

impl ZeroPadding2D {
    /// Pads `[[top, bottom], [left, right]]`.
    pub fn new(padding: [[usize; 2]; 2]) -> ZeroPadding2D {
        ZeroPadding2D {
            base: LayerBase::new("ZeroPadding2D", None),
            padding,
        }
    }

    /// Reads a Keras `ZeroPadding2D` config (`padding` as an int, a pair, or pairs).
    pub fn from_config(config: &Map<String, Value>) -> Result<ZeroPadding2D> {
        let c = Cfg::new("ZeroPadding2D", config);
        check_channels_last("ZeroPadding2D", &c)?;
        let bad = || {
            Error::format(
                "Keras config",
                format!(
                    "ZeroPadding2D: bad padding {}",
                    c.get("padding").unwrap_or(&Value::Null)
                ),
            )
        };
        let padding = match c.get("padding") {
            None => [[1, 1], [1, 1]],
            Some(Value::Array(a)) if a.len() == 2 => {
                let pair = |v: &Value| -> Option<[usize; 2]> {
                    match v {
                        Value::Array(p) if p.len() == 2 => {
                            Some([p[0].as_u64()? as usize, p[1].as_u64()? as usize])
                        }
                        v => v.as_u64().map(|x| [x as usize, x as usize]),
                    }
                };
                [pair(&a[0]).ok_or_else(bad)?, pair(&a[1]).ok_or_else(bad)?]
            }
            Some(v) => {
                let p = v.as_u64().ok_or_else(bad)? as usize;
                [[p, p], [p, p]]
            }
        };
        Ok(ZeroPadding2D {
            base: LayerBase::from_config("ZeroPadding2D", config)?,
            padding,
        })
    }
}

impl Layer for ZeroPadding2D {
    layer_boilerplate!("ZeroPadding2D");

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let [[t, b], [l, r]] = self.padding;
        let p = [[0, 0], [t as i64, b as i64], [l as i64, r as i64], [0, 0]];
        ops::pad(single(&self.base, "ZeroPadding2D", inputs)?, &p)
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "ZeroPadding2D", input_shapes)?;
        if s.rank() != 4 {
            return Err(Error::invalid(
                format!("ZeroPadding2D '{}'", self.base.name),
                format!("expects NHWC input of rank 4, got {s}"),
            ));
        }
        let d = s.dims();
        let [[t, b], [l, r]] = self.padding;
        Ok(PartialShape::new(&[
            d[0],
            d[1].map(|h| h + t + b),
            d[2].map(|w| w + l + r),
            d[3],
        ]))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("padding".into(), json!(self.padding));
        m.insert("data_format".into(), json!("channels_last"));
        m
    }
}
