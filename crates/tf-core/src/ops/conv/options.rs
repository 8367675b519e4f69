//! The user-facing window options: [`Padding`] and [`Conv2dOptions`], turned into the
//! ops' TensorFlow attributes (`strides`, `padding`, `explicit_paddings`,
//! `dilations`, `ksize`, each a 4-element NHWC list).

use crate::error::{Error, Result};
use crate::op::Attrs;
use std::fmt;
use std::str::FromStr;

/// How a window op pads its input (`padding=` in TensorFlow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Padding {
    /// `"SAME"`: output size `ceil(in / stride)`; the zero padding needed is split with
    /// the smaller half before (top/left), as in TensorFlow.
    Same,
    /// `"VALID"`: no padding; windows lie entirely inside the input.
    #[default]
    Valid,
    /// `"EXPLICIT"`: `[[top, bottom], [left, right]]` zero padding (TensorFlow's list
    /// form `[[0, 0], [top, bottom], [left, right], [0, 0]]`). Convolutions only.
    Explicit([[usize; 2]; 2]),
}

impl Padding {
    /// TensorFlow's attribute string: `"SAME"`, `"VALID"` or `"EXPLICIT"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Padding::Same => "SAME",
            Padding::Valid => "VALID",
            Padding::Explicit(_) => "EXPLICIT",
        }
    }

    /// Sets `padding` (and `explicit_paddings` for [`Padding::Explicit`]) on `attrs`.
    pub(crate) fn set_attrs(&self, attrs: &mut Attrs) {
        attrs.set("padding", self.as_str());
        if let Padding::Explicit([[t, b], [l, r]]) = *self {
            let v: Vec<i64> = [0, 0, t, b, l, r, 0, 0].iter().map(|&x| x as i64).collect();
            attrs.set("explicit_paddings", v);
        }
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Padding::Explicit(p) => write!(f, "EXPLICIT{p:?}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl FromStr for Padding {
    type Err = Error;

    /// Parses `"SAME"` or `"VALID"` (either case, as Keras writes them).
    fn from_str(s: &str) -> Result<Padding> {
        match s {
            "SAME" | "same" => Ok(Padding::Same),
            "VALID" | "valid" => Ok(Padding::Valid),
            other => Err(Error::invalid(
                "Padding",
                format!("padding must be \"SAME\" or \"VALID\", got {other:?}"),
            )),
        }
    }
}

/// Expands a TensorFlow-style window list to the 4-element NHWC attribute: one value
/// (both spatial dimensions), two (height, width) or four (`[1, h, w, 1]`, kept as
/// given and validated by the op).
pub(crate) fn nhwc_attr(op: &'static str, name: &str, v: &[usize]) -> Result<Vec<i64>> {
    let to = |x: usize| x as i64;
    match *v {
        [s] => Ok(vec![1, to(s), to(s), 1]),
        [h, w] => Ok(vec![1, to(h), to(w), 1]),
        [n, h, w, c] => Ok(vec![to(n), to(h), to(w), to(c)]),
        _ => Err(Error::invalid(
            op,
            format!(
                "{name} must have 1, 2 or 4 elements, got {v:?} ({} elements)",
                v.len()
            ),
        )),
    }
}

/// Strides, padding and dilations of a 2-D convolution (`conv2d`, `depthwise_conv2d`,
/// `conv2d_transpose`), in TensorFlow's terms.
///
/// `strides` and `dilations` take 1 value (both spatial dimensions), 2 values
/// (`[height, width]`) or TensorFlow's 4-value NHWC form `[1, h, w, 1]`, exactly like
/// `tf.nn.conv2d`. The default is stride 1, dilation 1, `VALID` padding (the default of
/// `tf.nn.convolution` and Keras' `Conv2D`).
///
/// ```
/// use tf_core::ops::{Conv2dOptions, Padding};
/// let o = Conv2dOptions::same().strides(&[2]);
/// assert_eq!(o.padding, Padding::Same);
/// let o = Conv2dOptions::new(Padding::Explicit([[1, 1], [2, 2]])).dilations(&[1, 2, 2, 1]);
/// assert_eq!(o.dilations, vec![1, 2, 2, 1]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Window strides (1, 2 or 4 values; see the type docs).
    pub strides: Vec<usize>,
    /// Padding mode.
    pub padding: Padding,
    /// Dilation rates (1, 2 or 4 values; see the type docs).
    pub dilations: Vec<usize>,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions::new(Padding::Valid)
    }
}

impl Conv2dOptions {
    /// Stride 1, dilation 1 and `padding`.
    pub fn new(padding: Padding) -> Self {
        Conv2dOptions {
            strides: vec![1],
            padding,
            dilations: vec![1],
        }
    }

    /// Stride 1, dilation 1, `SAME` padding.
    pub fn same() -> Self {
        Conv2dOptions::new(Padding::Same)
    }

    /// Stride 1, dilation 1, `VALID` padding.
    pub fn valid() -> Self {
        Conv2dOptions::new(Padding::Valid)
    }

    /// Sets the strides (1, 2 or 4 values).
    pub fn strides(mut self, strides: &[usize]) -> Self {
        self.strides = strides.to_vec();
        self
    }

    /// Sets the dilation rates (1, 2 or 4 values).
    pub fn dilations(mut self, dilations: &[usize]) -> Self {
        self.dilations = dilations.to_vec();
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// The op attributes (`strides`, `padding`, `explicit_paddings`, `dilations`).
    ///
    /// Errors (naming `op`) when a list does not have 1, 2 or 4 elements.
    pub(crate) fn attrs(&self, op: &'static str) -> Result<Attrs> {
        let mut a = Attrs::new()
            .with("strides", nhwc_attr(op, "strides", &self.strides)?)
            .with("dilations", nhwc_attr(op, "dilations", &self.dilations)?);
        self.padding.set_attrs(&mut a);
        Ok(a)
    }
}
