//! The converter's input: a layer graph, the description a Keras model loader (tf-keras's
//! `.keras` reader, or a SavedModel) hands over. Weights use Keras's layouts.

use tf_core::Tensor;

/// A model as a graph of layers.
#[derive(Clone, Debug, Default)]
pub struct LayerGraph {
    /// The model's inputs.
    pub inputs: Vec<InputSpec>,
    /// Layers in an order where every layer comes after the layers it reads.
    pub layers: Vec<Layer>,
    /// Names of the layers (or inputs) whose outputs are the model's outputs.
    pub outputs: Vec<String>,
}

/// One model input (float32).
#[derive(Clone, Debug)]
pub struct InputSpec {
    /// Name (becomes the signature's input name).
    pub name: String,
    /// Shape without the batch dimension (the batch is dynamic: `-1` in the file's
    /// `shape_signature`, 1 in its `shape`).
    pub shape: Vec<usize>,
}

/// One layer: what it computes and which layers (or inputs) it reads, by name.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Unique name (becomes the output tensor's name).
    pub name: String,
    /// What the layer computes, with its weights.
    pub kind: LayerKind,
    /// Names of the layers or inputs it reads.
    pub inputs: Vec<String>,
}

/// Keras activations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// No activation.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Softmax over the last axis.
    Softmax,
    /// GELU, exact or tanh-approximated.
    Gelu {
        /// Use the tanh approximation.
        approximate: bool,
    },
    /// `x · relu6(x + 3) / 6`.
    HardSwish,
    /// Leaky ReLU with slope `alpha` below zero.
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f32,
    },
}

/// `"same"` or `"valid"` padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`.
    Same,
    /// No padding.
    Valid,
}

/// Layers the converter understands.
#[derive(Clone, Debug)]
pub enum LayerKind {
    /// `Dense`: kernel `[in, units]`, bias `[units]`.
    Dense {
        /// Kernel, `[in, units]`.
        kernel: Tensor,
        /// Bias, `[units]`.
        bias: Option<Tensor>,
        /// Activation applied after.
        activation: Activation,
    },
    /// `Conv2D` on NHWC: kernel `[kh, kw, in, out]` (HWIO).
    Conv2D {
        /// Kernel, HWIO.
        kernel: Tensor,
        /// Bias, `[out]`.
        bias: Option<Tensor>,
        /// `(stride_h, stride_w)`.
        strides: (usize, usize),
        /// Padding.
        padding: Padding,
        /// `(dilation_h, dilation_w)`.
        dilation: (usize, usize),
        /// Activation applied after.
        activation: Activation,
    },
    /// `DepthwiseConv2D`: kernel `[kh, kw, in, multiplier]`.
    DepthwiseConv2D {
        /// Kernel, `[kh, kw, in, multiplier]`.
        kernel: Tensor,
        /// Bias, `[in·multiplier]`.
        bias: Option<Tensor>,
        /// `(stride_h, stride_w)`.
        strides: (usize, usize),
        /// Padding.
        padding: Padding,
        /// `(dilation_h, dilation_w)`.
        dilation: (usize, usize),
        /// Activation applied after.
        activation: Activation,
    },
    /// `MaxPooling2D`.
    MaxPool2D {
        /// `(h, w)` window.
        pool: (usize, usize),
        /// `(stride_h, stride_w)`.
        strides: (usize, usize),
        /// Padding.
        padding: Padding,
    },
    /// `AveragePooling2D`.
    AveragePool2D {
        /// `(h, w)` window.
        pool: (usize, usize),
        /// `(stride_h, stride_w)`.
        strides: (usize, usize),
        /// Padding.
        padding: Padding,
    },
    /// `GlobalAveragePooling2D` (NHWC → NC).
    GlobalAveragePool2D,
    /// `BatchNormalization` in inference mode on the last axis; folded into a preceding
    /// Dense/Conv2D/DepthwiseConv2D that nothing else reads.
    BatchNormalization {
        /// Scale γ.
        gamma: Tensor,
        /// Offset β.
        beta: Tensor,
        /// Moving mean.
        mean: Tensor,
        /// Moving variance.
        variance: Tensor,
        /// ε.
        epsilon: f32,
    },
    /// `Activation` layer (and `ReLU`, `Softmax` layers on the last axis).
    Activation(Activation),
    /// `Flatten`.
    Flatten,
    /// `Reshape` to a target shape without the batch dimension (one entry may be -1).
    Reshape(Vec<i64>),
    /// `Add` of two or more inputs of the same shape.
    Add,
    /// `Concatenate` along an axis (negative counts from the end; includes the batch axis).
    Concatenate {
        /// The axis.
        axis: i64,
    },
    /// `Dropout`: the identity at inference; removed.
    Dropout,
}

impl LayerKind {
    /// The Keras class name, for error messages.
    pub fn keras_name(&self) -> &'static str {
        match self {
            LayerKind::Dense { .. } => "Dense",
            LayerKind::Conv2D { .. } => "Conv2D",
            LayerKind::DepthwiseConv2D { .. } => "DepthwiseConv2D",
            LayerKind::MaxPool2D { .. } => "MaxPooling2D",
            LayerKind::AveragePool2D { .. } => "AveragePooling2D",
            LayerKind::GlobalAveragePool2D => "GlobalAveragePooling2D",
            LayerKind::BatchNormalization { .. } => "BatchNormalization",
            LayerKind::Activation(_) => "Activation",
            LayerKind::Flatten => "Flatten",
            LayerKind::Reshape(_) => "Reshape",
            LayerKind::Add => "Add",
            LayerKind::Concatenate { .. } => "Concatenate",
            LayerKind::Dropout => "Dropout",
        }
    }
}
