//! Pooling layers: `MaxPooling2D`, `AveragePooling2D`, `GlobalAveragePooling2D`,
//! `GlobalMaxPooling2D` (NHWC).

use super::reshaping::check_channels_last;
use super::{Cfg, Layer, LayerBase, single, single_shape};
use serde_json::{Map, Value, json};
use tf_core::ops::Padding;
use tf_core::{Error, PartialShape, Result, Tensor, ops};

#[derive(Clone, Copy, PartialEq, Eq)]
enum PoolKind {
    Max,
    Avg,
}

/// Shared window settings of the 2-D pooling layers.
#[derive(Clone)]
struct Pool2D {
    base: LayerBase,
    kind: PoolKind,
    pool_size: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
}

impl Pool2D {
    fn class(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPooling2D",
            PoolKind::Avg => "AveragePooling2D",
        }
    }

    fn new(kind: PoolKind, pool_size: [usize; 2], class: &str) -> Pool2D {
        Pool2D {
            base: LayerBase::new(class, None),
            kind,
            pool_size,
            strides: pool_size,
            padding: Padding::Valid,
        }
    }

    fn from_config(kind: PoolKind, class: &str, config: &Map<String, Value>) -> Result<Pool2D> {
        let c = Cfg::new(class, config);
        check_channels_last(class, &c)?;
        let ps = c.tuple_or("pool_size", 2, 2)?;
        let pool_size = [ps[0], ps[1]];
        let strides = match c.get("strides") {
            None => pool_size,
            Some(_) => {
                let s = c.tuple_or("strides", 2, 1)?;
                [s[0], s[1]]
            }
        };
        Ok(Pool2D {
            base: LayerBase::from_config(class, config)?,
            kind,
            pool_size,
            strides,
            padding: c.str_or("padding", "valid")?.parse()?,
        })
    }

    fn call(&self, inputs: &[Tensor]) -> Result<Tensor> {
        let x = single(&self.base, self.class(), inputs)?;
        match self.kind {
            PoolKind::Max => ops::max_pool2d(x, &self.pool_size, &self.strides, self.padding),
            PoolKind::Avg => ops::avg_pool2d(x, &self.pool_size, &self.strides, self.padding),
        }
    }

    fn output_shape(&self, shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, self.class(), shapes)?;
        if s.rank() != 4 {
            return Err(Error::invalid(
                format!("{} '{}'", self.class(), self.base.name),
                format!("expects NHWC input of rank 4, got {s}"),
            ));
        }
        let d = s.dims();
        let len = |n: Option<usize>, i: usize| -> Result<Option<usize>> {
            let (k, st) = (self.pool_size[i], self.strides[i]);
            if k == 0 || st == 0 {
                return Err(Error::invalid(
                    format!("{} '{}'", self.class(), self.base.name),
                    "pool_size and strides must be positive",
                ));
            }
            Ok(match (n, self.padding) {
                (None, _) => None,
                (Some(n), Padding::Same) => Some(n.div_ceil(st)),
                (Some(n), _) => Some(if n < k { 0 } else { (n - k) / st + 1 }),
            })
        };
        Ok(PartialShape::new(&[
            d[0],
            len(d[1], 0)?,
            len(d[2], 1)?,
            d[3],
        ]))
    }

    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("pool_size".into(), json!(self.pool_size));
        m.insert(
            "padding".into(),
            json!(if self.padding == Padding::Same {
                "same"
            } else {
                "valid"
            }),
        );
        m.insert("strides".into(), json!(self.strides));
        m.insert("data_format".into(), json!("channels_last"));
        m
    }
}

macro_rules! pool_layer {
    ($name:ident, $kind:expr, $class:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name(Pool2D);

        impl $name {
            /// Pools `pool_size` windows with strides equal to the window, `valid` padding.
            pub fn new(pool_size: [usize; 2]) -> $name {
                $name(Pool2D::new($kind, pool_size, $class))
            }

            /// Sets the strides.
            pub fn strides(mut self, strides: [usize; 2]) -> Self {
                self.0.strides = strides;
                self
            }

            /// Sets the padding (`Padding::Valid` or `Padding::Same`).
            pub fn padding(mut self, padding: Padding) -> Self {
                self.0.padding = padding;
                self
            }

            /// Reads the Keras config.
            pub fn from_config(config: &Map<String, Value>) -> Result<$name> {
                Ok($name(Pool2D::from_config($kind, $class, config)?))
            }
        }

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $class
            }
            fn base(&self) -> &LayerBase {
                &self.0.base
            }
            fn base_mut(&mut self) -> &mut LayerBase {
                &mut self.0.base
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
            fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
                self.0.call(inputs)
            }
            fn compute_output_shape(&self, s: &[PartialShape]) -> Result<PartialShape> {
                self.0.output_shape(s)
            }
            fn get_config(&self) -> Map<String, Value> {
                self.0.config()
            }
        }
    };
}

pool_layer!(
    MaxPooling2D,
    PoolKind::Max,
    "MaxPooling2D",
    "Keras's `MaxPooling2D`: the maximum of each window."
);
pool_layer!(
    AveragePooling2D,
    PoolKind::Avg,
    "AveragePooling2D",
    "Keras's `AveragePooling2D`: the mean of each window (padding excluded)."
);

/// Global pooling over the spatial axes of NHWC input.
#[derive(Clone)]
struct GlobalPool {
    base: LayerBase,
    kind: PoolKind,
    keepdims: bool,
}

impl GlobalPool {
    fn class(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "GlobalMaxPooling2D",
            PoolKind::Avg => "GlobalAveragePooling2D",
        }
    }

    fn from_config(kind: PoolKind, class: &str, config: &Map<String, Value>) -> Result<GlobalPool> {
        let c = Cfg::new(class, config);
        check_channels_last(class, &c)?;
        Ok(GlobalPool {
            base: LayerBase::from_config(class, config)?,
            kind,
            keepdims: c.bool_or("keepdims", false)?,
        })
    }

    fn call(&self, inputs: &[Tensor]) -> Result<Tensor> {
        let x = single(&self.base, self.class(), inputs)?;
        if x.rank() != 4 {
            return Err(Error::invalid(
                format!("{} '{}'", self.class(), self.base.name),
                format!("expects NHWC input of rank 4, got {:?}", x.dims()),
            ));
        }
        match self.kind {
            PoolKind::Max => ops::reduce_max(x, Some(&[1, 2]), self.keepdims),
            PoolKind::Avg => ops::reduce_mean(x, Some(&[1, 2]), self.keepdims),
        }
    }

    fn output_shape(&self, shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, self.class(), shapes)?;
        if s.rank() != 4 {
            return Err(Error::invalid(
                format!("{} '{}'", self.class(), self.base.name),
                format!("expects NHWC input of rank 4, got {s}"),
            ));
        }
        let d = s.dims();
        Ok(if self.keepdims {
            PartialShape::new(&[d[0], Some(1), Some(1), d[3]])
        } else {
            PartialShape::new(&[d[0], d[3]])
        })
    }

    fn config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("data_format".into(), json!("channels_last"));
        m.insert("keepdims".into(), json!(self.keepdims));
        m
    }
}

macro_rules! global_pool_layer {
    ($name:ident, $kind:expr, $class:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name(GlobalPool);

        impl $name {
            /// Pools over height and width, dropping them.
            pub fn new() -> $name {
                $name(GlobalPool {
                    base: LayerBase::new($class, None),
                    kind: $kind,
                    keepdims: false,
                })
            }

            /// Keeps the pooled axes as size 1.
            pub fn keepdims(mut self, keepdims: bool) -> Self {
                self.0.keepdims = keepdims;
                self
            }

            /// Reads the Keras config.
            pub fn from_config(config: &Map<String, Value>) -> Result<$name> {
                Ok($name(GlobalPool::from_config($kind, $class, config)?))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $class
            }
            fn base(&self) -> &LayerBase {
                &self.0.base
            }
            fn base_mut(&mut self) -> &mut LayerBase {
                &mut self.0.base
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
            fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
                self.0.call(inputs)
            }
            fn compute_output_shape(&self, s: &[PartialShape]) -> Result<PartialShape> {
                self.0.output_shape(s)
            }
            fn get_config(&self) -> Map<String, Value> {
                self.0.config()
            }
        }
    };
}

global_pool_layer!(
    GlobalAveragePooling2D,
    PoolKind::Avg,
    "GlobalAveragePooling2D",
    "Keras's `GlobalAveragePooling2D`: the mean over height and width."
);
global_pool_layer!(
    GlobalMaxPooling2D,
    PoolKind::Max,
    "GlobalMaxPooling2D",
    "Keras's `GlobalMaxPooling2D`: the maximum over height and width."
);
