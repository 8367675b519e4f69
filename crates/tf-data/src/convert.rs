//! Conversions into [`Element`] (tuples, datasets) and into its parts, so user
//! functions can take and return plain Rust values.

use crate::dataset::Dataset;
use crate::element::{Element, ElementSpec};
use tf_core::op::TensorSpec;
use tf_core::{DType, Error, PartialShape, Result};

impl From<Dataset> for Element {
    fn from(d: Dataset) -> Self {
        Element::Dataset(d)
    }
}

impl<A: Into<Element>, B: Into<Element>> From<(A, B)> for Element {
    fn from((a, b): (A, B)) -> Self {
        Element::Tuple(vec![a.into(), b.into()])
    }
}

impl<A: Into<Element>, B: Into<Element>, C: Into<Element>> From<(A, B, C)> for Element {
    fn from((a, b, c): (A, B, C)) -> Self {
        Element::Tuple(vec![a.into(), b.into(), c.into()])
    }
}

impl Element {
    /// The components of a tuple, by value.
    ///
    /// Errors when the element is not a tuple.
    pub fn into_tuple(self) -> Result<Vec<Element>> {
        match self {
            Element::Tuple(v) => Ok(v),
            other => Err(Error::invalid(
                "Element::into_tuple",
                format!("element is {}, not a tuple", other.kind()),
            )),
        }
    }

    /// The two components of a pair (`(features, label)`), by value.
    ///
    /// Errors when the element is not a 2-tuple.
    pub fn into_pair(self) -> Result<(Element, Element)> {
        let v = self.into_tuple()?;
        let n = v.len();
        let mut it = v.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(a), Some(b), None) => Ok((a, b)),
            _ => Err(Error::invalid(
                "Element::into_pair",
                format!("element is a {n}-tuple, not a pair"),
            )),
        }
    }
}

impl ElementSpec {
    /// The spec of a tensor of `dtype` and (partial) `shape`.
    pub fn tensor(dtype: DType, shape: impl Into<PartialShape>) -> ElementSpec {
        ElementSpec::Tensor(TensorSpec::new(dtype, shape))
    }

    /// The spec of a string tensor of (partial) `shape`.
    pub fn strings(shape: impl Into<PartialShape>) -> ElementSpec {
        ElementSpec::Strings(shape.into())
    }
}
