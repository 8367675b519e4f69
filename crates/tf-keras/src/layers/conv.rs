//! Convolution layers: `Conv1D`, `Conv2D`, `DepthwiseConv2D`, `SeparableConv2D`,
//! `Conv2DTranspose` (NHWC / channels_last, HWIO kernels as Keras stores them).

use super::core::{cast_input, read_weight};
use super::reshaping::check_channels_last;
use super::{Cfg, Layer, LayerBase, last_dim, layer_boilerplate, single, single_shape};
use crate::activations::Activation;
use crate::initializers::Initializer;
use crate::regularizers::Regularizer;
use serde_json::{Map, Value, json};
use tf_core::ops::{Conv2dOptions, Padding};
use tf_core::{Error, PartialShape, Result, Tensor, Variable, ops};

/// Keras's padding modes for convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPadding {
    /// No padding.
    Valid,
    /// Output size `ceil(in / stride)`.
    Same,
    /// Left-padding so outputs see no future inputs (Conv1D only).
    Causal,
}

impl ConvPadding {
    fn parse(class: &str, s: &str) -> Result<ConvPadding> {
        match s {
            "valid" | "VALID" => Ok(ConvPadding::Valid),
            "same" | "SAME" => Ok(ConvPadding::Same),
            "causal" if class == "Conv1D" => Ok(ConvPadding::Causal),
            other => Err(Error::unimplemented(
                class.to_string(),
                format!("padding '{other}'"),
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ConvPadding::Valid => "valid",
            ConvPadding::Same => "same",
            ConvPadding::Causal => "causal",
        }
    }

    fn tf(self) -> Padding {
        match self {
            ConvPadding::Same => Padding::Same,
            _ => Padding::Valid,
        }
    }
}

/// Output length of a convolution along one axis (`None` when unknown, error when the
/// window does not fit).
fn conv_len(
    op: &str,
    input: Option<usize>,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: ConvPadding,
) -> Result<Option<usize>> {
    let Some(n) = input else { return Ok(None) };
    if stride == 0 || k == 0 || dilation == 0 {
        return Err(Error::invalid(
            op.to_string(),
            format!(
                "kernel size, strides and dilation must be positive (kernel {k}, stride {stride}, dilation {dilation})"
            ),
        ));
    }
    let k_eff = (k - 1) * dilation + 1;
    Ok(Some(match pad {
        ConvPadding::Same | ConvPadding::Causal => n.div_ceil(stride),
        ConvPadding::Valid => {
            if n < k_eff {
                return Err(Error::invalid(
                    op.to_string(),
                    format!("input size {n} is smaller than the (dilated) kernel {k_eff}"),
                ));
            }
            (n - k_eff) / stride + 1
        }
    }))
}

/// Settings shared by the convolution layers.
#[derive(Clone)]
struct ConvSpec {
    rank: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: ConvPadding,
    dilation_rate: Vec<usize>,
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
}

impl ConvSpec {
    fn new(rank: usize, kernel_size: &[usize]) -> ConvSpec {
        let ks = if kernel_size.len() == 1 {
            vec![kernel_size[0]; rank]
        } else {
            kernel_size.to_vec()
        };
        ConvSpec {
            rank,
            kernel_size: ks,
            strides: vec![1; rank],
            padding: ConvPadding::Valid,
            dilation_rate: vec![1; rank],
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform(None),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
        }
    }

    fn from_config(class: &str, c: &Cfg<'_>, rank: usize, kernel_key: &str) -> Result<ConvSpec> {
        check_channels_last(class, c)?;
        c.no_constraint(&format!("{kernel_key}_constraint"))?;
        c.no_constraint("bias_constraint")?;
        if c.usize_or("groups", 1)? != 1 {
            return Err(Error::unimplemented(class.to_string(), "groups != 1"));
        }
        let mut s = ConvSpec::new(rank, &c.tuple_or("kernel_size", rank, 1)?);
        s.strides = c.tuple_or("strides", rank, 1)?;
        s.padding = ConvPadding::parse(class, c.str_or("padding", "valid")?)?;
        s.dilation_rate = c.tuple_or("dilation_rate", rank, 1)?;
        s.activation = c.activation("activation")?;
        s.use_bias = c.bool_or("use_bias", true)?;
        s.kernel_initializer = c.initializer_or(
            &format!("{kernel_key}_initializer"),
            Initializer::GlorotUniform(None),
        )?;
        s.bias_initializer = c.initializer_or("bias_initializer", Initializer::Zeros)?;
        s.kernel_regularizer = c.regularizer(&format!("{kernel_key}_regularizer"))?;
        s.bias_regularizer = c.regularizer("bias_regularizer")?;
        Ok(s)
    }

    fn config(&self, m: &mut Map<String, Value>, kernel_key: &str) {
        let reg = |r: &Option<Regularizer>| r.map_or(Value::Null, |r| r.to_config());
        m.insert("kernel_size".into(), json!(self.kernel_size));
        m.insert("strides".into(), json!(self.strides));
        m.insert("padding".into(), json!(self.padding.name()));
        m.insert("data_format".into(), json!("channels_last"));
        m.insert("dilation_rate".into(), json!(self.dilation_rate));
        m.insert("activation".into(), self.activation.to_config());
        m.insert("use_bias".into(), json!(self.use_bias));
        m.insert(
            format!("{kernel_key}_initializer"),
            self.kernel_initializer.to_config(),
        );
        m.insert("bias_initializer".into(), self.bias_initializer.to_config());
        m.insert(
            format!("{kernel_key}_regularizer"),
            reg(&self.kernel_regularizer),
        );
        m.insert("bias_regularizer".into(), reg(&self.bias_regularizer));
        m.insert("activity_regularizer".into(), Value::Null);
        m.insert(format!("{kernel_key}_constraint"), Value::Null);
        m.insert("bias_constraint".into(), Value::Null);
    }

    fn options(&self) -> Conv2dOptions {
        Conv2dOptions::new(self.padding.tf())
            .strides(&self.strides)
            .dilations(&self.dilation_rate)
    }

    /// Output spatial dims for the input's spatial dims.
    fn out_spatial(&self, class: &str, spatial: &[Option<usize>]) -> Result<Vec<Option<usize>>> {
        spatial
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                conv_len(
                    class,
                    d,
                    self.kernel_size[i],
                    self.strides[i],
                    self.dilation_rate[i],
                    self.padding,
                )
            })
            .collect()
    }

    fn check_rank(&self, base: &LayerBase, class: &str, s: &PartialShape) -> Result<()> {
        if s.rank() != self.rank + 2 {
            return Err(Error::invalid(
                format!("{class} '{}'", base.name),
                format!(
                    "expects input of rank {} (batch, spatial..., channels), got shape {s}",
                    self.rank + 2
                ),
            ));
        }
        if self.kernel_size.len() != self.rank
            || self.strides.len() != self.rank
            || self.dilation_rate.len() != self.rank
        {
            return Err(Error::invalid(
                format!("{class} '{}'", base.name),
                format!(
                    "kernel_size {:?}, strides {:?} and dilation_rate {:?} must have {} entries",
                    self.kernel_size, self.strides, self.dilation_rate, self.rank
                ),
            ));
        }
        Ok(())
    }

    fn finish(&self, y: Tensor, bias: &Option<Variable>) -> Result<Tensor> {
        let y = match bias {
            Some(b) => ops::bias_add(&y, &b.read()?)?,
            None => y,
        };
        self.activation.apply(&y)
    }
}

macro_rules! conv_builders {
    () => {
        /// Sets the strides (one value per spatial dimension, or one for all).
        pub fn strides(mut self, strides: &[usize]) -> Self {
            self.spec.strides = if strides.len() == 1 {
                vec![strides[0]; self.spec.rank]
            } else {
                strides.to_vec()
            };
            self
        }

        /// `"valid"` (default) or `"same"` padding.
        pub fn padding(mut self, padding: ConvPadding) -> Self {
            self.spec.padding = padding;
            self
        }

        /// Sets the dilation rates.
        pub fn dilation_rate(mut self, d: &[usize]) -> Self {
            self.spec.dilation_rate = if d.len() == 1 {
                vec![d[0]; self.spec.rank]
            } else {
                d.to_vec()
            };
            self
        }

        /// Sets the activation.
        pub fn activation(mut self, activation: Activation) -> Self {
            self.spec.activation = activation;
            self
        }

        /// Whether to add a bias (default true).
        pub fn use_bias(mut self, use_bias: bool) -> Self {
            self.spec.use_bias = use_bias;
            self
        }

        /// Sets the kernel initializer.
        pub fn kernel_initializer(mut self, init: Initializer) -> Self {
            self.spec.kernel_initializer = init;
            self
        }

        /// Sets the bias initializer.
        pub fn bias_initializer(mut self, init: Initializer) -> Self {
            self.spec.bias_initializer = init;
            self
        }

        /// Adds a kernel penalty.
        pub fn kernel_regularizer(mut self, r: Regularizer) -> Self {
            self.spec.kernel_regularizer = Some(r);
            self
        }

        /// Names the layer.
        pub fn name(mut self, name: &str) -> Self {
            self.base.name = name.to_string();
            self
        }
    };
}

/// Keras's `Conv2D` on NHWC input with an HWIO kernel `[kh, kw, in, filters]`.
#[derive(Clone)]
pub struct Conv2D {
    base: LayerBase,
    filters: usize,
    spec: ConvSpec,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl Conv2D {
    /// `filters` output channels with a `kernel_size` window (`&[3]` or `&[3, 3]`).
    pub fn new(filters: usize, kernel_size: &[usize]) -> Conv2D {
        Conv2D {
            base: LayerBase::new("Conv2D", None),
            filters,
            spec: ConvSpec::new(2, kernel_size),
            kernel: None,
            bias: None,
        }
    }

    conv_builders!();

    /// Reads a Keras `Conv2D` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Conv2D> {
        let c = Cfg::new("Conv2D", config);
        Ok(Conv2D {
            base: LayerBase::from_config("Conv2D", config)?,
            filters: c.usize("filters")?,
            spec: ConvSpec::from_config("Conv2D", &c, 2, "kernel")?,
            kernel: None,
            bias: None,
        })
    }
}

impl Layer for Conv2D {
    layer_boilerplate!("Conv2D");

    fn build(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        let s = single_shape(&self.base, "Conv2D", input_shapes)?;
        self.spec.check_rank(&self.base, "Conv2D", s)?;
        let cin = last_dim(&self.base, "Conv2D", s)?;
        let ks = &self.spec.kernel_size;
        let shape = [ks[0], ks[1], cin, self.filters];
        let (ki, kr) = (
            self.spec.kernel_initializer.clone(),
            self.spec.kernel_regularizer,
        );
        self.kernel = Some(self.base.add_weight("kernel", &shape, &ki, true, kr)?);
        if self.spec.use_bias {
            let (bi, br) = (
                self.spec.bias_initializer.clone(),
                self.spec.bias_regularizer,
            );
            self.bias = Some(
                self.base
                    .add_weight("bias", &[self.filters], &bi, true, br)?,
            );
        }
        Ok(())
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = cast_input(single(&self.base, "Conv2D", inputs)?, self.base.dtype)?;
        let k = read_weight(&self.base, "Conv2D", &self.kernel)?;
        let y = ops::conv2d(&x, &k, &self.spec.options())?;
        self.spec.finish(y, &self.bias)
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "Conv2D", input_shapes)?;
        self.spec.check_rank(&self.base, "Conv2D", s)?;
        let d = s.dims();
        let sp = self.spec.out_spatial("Conv2D", &d[1..3])?;
        Ok(PartialShape::new(&[d[0], sp[0], sp[1], Some(self.filters)]))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("filters".into(), json!(self.filters));
        self.spec.config(&mut m, "kernel");
        m.insert("groups".into(), json!(1));
        m
    }
}

/// Keras's `Conv1D` on `[batch, steps, channels]` with a kernel `[k, in, filters]`.
#[derive(Clone)]
pub struct Conv1D {
    base: LayerBase,
    filters: usize,
    spec: ConvSpec,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl Conv1D {
    /// `filters` output channels with a window of `kernel_size` steps.
    pub fn new(filters: usize, kernel_size: usize) -> Conv1D {
        Conv1D {
            base: LayerBase::new("Conv1D", None),
            filters,
            spec: ConvSpec::new(1, &[kernel_size]),
            kernel: None,
            bias: None,
        }
    }

    conv_builders!();

    /// Reads a Keras `Conv1D` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<Conv1D> {
        let c = Cfg::new("Conv1D", config);
        Ok(Conv1D {
            base: LayerBase::from_config("Conv1D", config)?,
            filters: c.usize("filters")?,
            spec: ConvSpec::from_config("Conv1D", &c, 1, "kernel")?,
            kernel: None,
            bias: None,
        })
    }
}

impl Layer for Conv1D {
    layer_boilerplate!("Conv1D");

    fn build(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        let s = single_shape(&self.base, "Conv1D", input_shapes)?;
        self.spec.check_rank(&self.base, "Conv1D", s)?;
        let cin = last_dim(&self.base, "Conv1D", s)?;
        let shape = [self.spec.kernel_size[0], cin, self.filters];
        let (ki, kr) = (
            self.spec.kernel_initializer.clone(),
            self.spec.kernel_regularizer,
        );
        self.kernel = Some(self.base.add_weight("kernel", &shape, &ki, true, kr)?);
        if self.spec.use_bias {
            let (bi, br) = (
                self.spec.bias_initializer.clone(),
                self.spec.bias_regularizer,
            );
            self.bias = Some(
                self.base
                    .add_weight("bias", &[self.filters], &bi, true, br)?,
            );
        }
        Ok(())
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let mut x = cast_input(single(&self.base, "Conv1D", inputs)?, self.base.dtype)?;
        if self.spec.padding == ConvPadding::Causal {
            let left = ((self.spec.kernel_size[0] - 1) * self.spec.dilation_rate[0]) as i64;
            x = ops::pad(&x, &[[0, 0], [left, 0], [0, 0]])?;
        }
        let k = read_weight(&self.base, "Conv1D", &self.kernel)?;
        let x4 = ops::expand_dims(&x, 1)?;
        let k4 = ops::expand_dims(&k, 0)?;
        let opts = Conv2dOptions::new(self.spec.padding.tf())
            .strides(&[1, self.spec.strides[0]])
            .dilations(&[1, self.spec.dilation_rate[0]]);
        let y = ops::squeeze(&ops::conv2d(&x4, &k4, &opts)?, &[1])?;
        self.spec.finish(y, &self.bias)
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "Conv1D", input_shapes)?;
        self.spec.check_rank(&self.base, "Conv1D", s)?;
        let d = s.dims();
        let sp = self.spec.out_spatial("Conv1D", &d[1..2])?;
        Ok(PartialShape::new(&[d[0], sp[0], Some(self.filters)]))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("filters".into(), json!(self.filters));
        self.spec.config(&mut m, "kernel");
        m.insert("groups".into(), json!(1));
        m
    }
}

/// Keras's `DepthwiseConv2D`: one `[kh, kw]` filter per input channel (times
/// `depth_multiplier`); kernel `[kh, kw, in, depth_multiplier]`.
#[derive(Clone)]
pub struct DepthwiseConv2D {
    base: LayerBase,
    depth_multiplier: usize,
    spec: ConvSpec,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl DepthwiseConv2D {
    /// A depthwise convolution with a `kernel_size` window and multiplier 1.
    pub fn new(kernel_size: &[usize]) -> DepthwiseConv2D {
        DepthwiseConv2D {
            base: LayerBase::new("DepthwiseConv2D", None),
            depth_multiplier: 1,
            spec: ConvSpec::new(2, kernel_size),
            kernel: None,
            bias: None,
        }
    }

    /// Output channels per input channel.
    pub fn depth_multiplier(mut self, m: usize) -> Self {
        self.depth_multiplier = m;
        self
    }

    conv_builders!();

    /// Reads a Keras `DepthwiseConv2D` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<DepthwiseConv2D> {
        let c = Cfg::new("DepthwiseConv2D", config);
        Ok(DepthwiseConv2D {
            base: LayerBase::from_config("DepthwiseConv2D", config)?,
            depth_multiplier: c.usize_or("depth_multiplier", 1)?,
            spec: ConvSpec::from_config("DepthwiseConv2D", &c, 2, "depthwise")?,
            kernel: None,
            bias: None,
        })
    }
}

impl Layer for DepthwiseConv2D {
    layer_boilerplate!("DepthwiseConv2D");

    fn build(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        let s = single_shape(&self.base, "DepthwiseConv2D", input_shapes)?;
        self.spec.check_rank(&self.base, "DepthwiseConv2D", s)?;
        let cin = last_dim(&self.base, "DepthwiseConv2D", s)?;
        let ks = &self.spec.kernel_size;
        let shape = [ks[0], ks[1], cin, self.depth_multiplier];
        let (ki, kr) = (
            self.spec.kernel_initializer.clone(),
            self.spec.kernel_regularizer,
        );
        self.kernel = Some(self.base.add_weight("kernel", &shape, &ki, true, kr)?);
        if self.spec.use_bias {
            let (bi, br) = (
                self.spec.bias_initializer.clone(),
                self.spec.bias_regularizer,
            );
            let n = cin * self.depth_multiplier;
            self.bias = Some(self.base.add_weight("bias", &[n], &bi, true, br)?);
        }
        Ok(())
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = cast_input(
            single(&self.base, "DepthwiseConv2D", inputs)?,
            self.base.dtype,
        )?;
        let k = read_weight(&self.base, "DepthwiseConv2D", &self.kernel)?;
        let y = ops::depthwise_conv2d(&x, &k, &self.spec.options())?;
        self.spec.finish(y, &self.bias)
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "DepthwiseConv2D", input_shapes)?;
        self.spec.check_rank(&self.base, "DepthwiseConv2D", s)?;
        let d = s.dims();
        let sp = self.spec.out_spatial("DepthwiseConv2D", &d[1..3])?;
        Ok(PartialShape::new(&[
            d[0],
            sp[0],
            sp[1],
            d[3].map(|c| c * self.depth_multiplier),
        ]))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("depth_multiplier".into(), json!(self.depth_multiplier));
        self.spec.config(&mut m, "depthwise");
        m
    }
}

/// Keras's `SeparableConv2D`: a depthwise convolution then a 1×1 pointwise one.
#[derive(Clone)]
pub struct SeparableConv2D {
    base: LayerBase,
    filters: usize,
    depth_multiplier: usize,
    pointwise_initializer: Initializer,
    spec: ConvSpec,
    depthwise: Option<Variable>,
    pointwise: Option<Variable>,
    bias: Option<Variable>,
}

impl SeparableConv2D {
    /// `filters` outputs with a `kernel_size` depthwise window.
    pub fn new(filters: usize, kernel_size: &[usize]) -> SeparableConv2D {
        SeparableConv2D {
            base: LayerBase::new("SeparableConv2D", None),
            filters,
            depth_multiplier: 1,
            pointwise_initializer: Initializer::GlorotUniform(None),
            spec: ConvSpec::new(2, kernel_size),
            depthwise: None,
            pointwise: None,
            bias: None,
        }
    }

    conv_builders!();

    /// Reads a Keras `SeparableConv2D` config.
    pub fn from_config(config: &Map<String, Value>) -> Result<SeparableConv2D> {
        let c = Cfg::new("SeparableConv2D", config);
        c.no_constraint("pointwise_constraint")?;
        Ok(SeparableConv2D {
            base: LayerBase::from_config("SeparableConv2D", config)?,
            filters: c.usize("filters")?,
            depth_multiplier: c.usize_or("depth_multiplier", 1)?,
            pointwise_initializer: c
                .initializer_or("pointwise_initializer", Initializer::GlorotUniform(None))?,
            spec: ConvSpec::from_config("SeparableConv2D", &c, 2, "depthwise")?,
            depthwise: None,
            pointwise: None,
            bias: None,
        })
    }
}

impl Layer for SeparableConv2D {
    layer_boilerplate!("SeparableConv2D");

    fn build(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        let s = single_shape(&self.base, "SeparableConv2D", input_shapes)?;
        self.spec.check_rank(&self.base, "SeparableConv2D", s)?;
        let cin = last_dim(&self.base, "SeparableConv2D", s)?;
        let ks = &self.spec.kernel_size;
        let m = self.depth_multiplier;
        let (ki, kr) = (
            self.spec.kernel_initializer.clone(),
            self.spec.kernel_regularizer,
        );
        self.depthwise = Some(self.base.add_weight(
            "depthwise_kernel",
            &[ks[0], ks[1], cin, m],
            &ki,
            true,
            kr,
        )?);
        let pi = self.pointwise_initializer.clone();
        self.pointwise = Some(self.base.add_weight(
            "pointwise_kernel",
            &[1, 1, cin * m, self.filters],
            &pi,
            true,
            None,
        )?);
        if self.spec.use_bias {
            let (bi, br) = (
                self.spec.bias_initializer.clone(),
                self.spec.bias_regularizer,
            );
            self.bias = Some(
                self.base
                    .add_weight("bias", &[self.filters], &bi, true, br)?,
            );
        }
        Ok(())
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = cast_input(
            single(&self.base, "SeparableConv2D", inputs)?,
            self.base.dtype,
        )?;
        let dk = read_weight(&self.base, "SeparableConv2D", &self.depthwise)?;
        let pk = read_weight(&self.base, "SeparableConv2D", &self.pointwise)?;
        let h = ops::depthwise_conv2d(&x, &dk, &self.spec.options())?;
        let y = ops::conv2d(&h, &pk, &Conv2dOptions::valid())?;
        self.spec.finish(y, &self.bias)
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "SeparableConv2D", input_shapes)?;
        self.spec.check_rank(&self.base, "SeparableConv2D", s)?;
        let d = s.dims();
        let sp = self.spec.out_spatial("SeparableConv2D", &d[1..3])?;
        Ok(PartialShape::new(&[d[0], sp[0], sp[1], Some(self.filters)]))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("filters".into(), json!(self.filters));
        m.insert("depth_multiplier".into(), json!(self.depth_multiplier));
        self.spec.config(&mut m, "depthwise");
        m.insert(
            "pointwise_initializer".into(),
            self.pointwise_initializer.to_config(),
        );
        m.insert("pointwise_regularizer".into(), Value::Null);
        m.insert("pointwise_constraint".into(), Value::Null);
        m
    }
}

/// Keras's `Conv2DTranspose` (a "deconvolution"); kernel `[kh, kw, filters, in]`.
#[derive(Clone)]
pub struct Conv2DTranspose {
    base: LayerBase,
    filters: usize,
    spec: ConvSpec,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl Conv2DTranspose {
    /// `filters` output channels with a `kernel_size` window.
    pub fn new(filters: usize, kernel_size: &[usize]) -> Conv2DTranspose {
        Conv2DTranspose {
            base: LayerBase::new("Conv2DTranspose", None),
            filters,
            spec: ConvSpec::new(2, kernel_size),
            kernel: None,
            bias: None,
        }
    }

    conv_builders!();

    /// Reads a Keras `Conv2DTranspose` config (`output_padding` must be null).
    pub fn from_config(config: &Map<String, Value>) -> Result<Conv2DTranspose> {
        let c = Cfg::new("Conv2DTranspose", config);
        if let Some(op) = c.get("output_padding") {
            return Err(Error::unimplemented(
                "Conv2DTranspose",
                format!("output_padding {op}"),
            ));
        }
        Ok(Conv2DTranspose {
            base: LayerBase::from_config("Conv2DTranspose", config)?,
            filters: c.usize("filters")?,
            spec: ConvSpec::from_config("Conv2DTranspose", &c, 2, "kernel")?,
            kernel: None,
            bias: None,
        })
    }

    fn out_len(&self, n: Option<usize>, i: usize) -> Option<usize> {
        let k_eff = (self.spec.kernel_size[i] - 1) * self.spec.dilation_rate[i] + 1;
        let s = self.spec.strides[i];
        n.map(|n| match self.spec.padding {
            ConvPadding::Valid => n * s + k_eff.saturating_sub(s),
            _ => n * s,
        })
    }
}

impl Layer for Conv2DTranspose {
    layer_boilerplate!("Conv2DTranspose");

    fn build(&mut self, input_shapes: &[PartialShape]) -> Result<()> {
        let s = single_shape(&self.base, "Conv2DTranspose", input_shapes)?;
        self.spec.check_rank(&self.base, "Conv2DTranspose", s)?;
        let cin = last_dim(&self.base, "Conv2DTranspose", s)?;
        let ks = &self.spec.kernel_size;
        let shape = [ks[0], ks[1], self.filters, cin];
        let (ki, kr) = (
            self.spec.kernel_initializer.clone(),
            self.spec.kernel_regularizer,
        );
        self.kernel = Some(self.base.add_weight("kernel", &shape, &ki, true, kr)?);
        if self.spec.use_bias {
            let (bi, br) = (
                self.spec.bias_initializer.clone(),
                self.spec.bias_regularizer,
            );
            self.bias = Some(
                self.base
                    .add_weight("bias", &[self.filters], &bi, true, br)?,
            );
        }
        Ok(())
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = cast_input(
            single(&self.base, "Conv2DTranspose", inputs)?,
            self.base.dtype,
        )?;
        let k = read_weight(&self.base, "Conv2DTranspose", &self.kernel)?;
        let d = x.dims();
        if d.len() != 4 {
            return Err(Error::invalid(
                format!("Conv2DTranspose '{}'", self.base.name),
                format!("expects NHWC input of rank 4, got {:?}", d),
            ));
        }
        let oh = self.out_len(Some(d[1]), 0).unwrap_or(0);
        let ow = self.out_len(Some(d[2]), 1).unwrap_or(0);
        let y = ops::conv2d_transpose(&x, &k, &[d[0], oh, ow, self.filters], &self.spec.options())?;
        self.spec.finish(y, &self.bias)
    }

    fn compute_output_shape(&self, input_shapes: &[PartialShape]) -> Result<PartialShape> {
        let s = single_shape(&self.base, "Conv2DTranspose", input_shapes)?;
        self.spec.check_rank(&self.base, "Conv2DTranspose", s)?;
        let d = s.dims();
        Ok(PartialShape::new(&[
            d[0],
            self.out_len(d[1], 0),
            self.out_len(d[2], 1),
            Some(self.filters),
        ]))
    }

    fn get_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("filters".into(), json!(self.filters));
        self.spec.config(&mut m, "kernel");
        m.insert("output_padding".into(), Value::Null);
        m.insert("groups".into(), json!(1));
        m
    }
}
