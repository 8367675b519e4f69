//! Dataset elements: tensors, string tensors, and tuples/maps of them (TensorFlow's
//! nested structures), with their specs.

use crate::dataset::Dataset;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tf_core::op::TensorSpec;
use tf_core::{Error, PartialShape, Result, Shape, Tensor};

/// One byte string (TensorFlow's `tf.string` element): cheap to clone.
pub type ByteString = Arc<[u8]>;

/// A tensor of byte strings (`tf.string`), row-major. Records from files and lines of
/// text are rank-0 string tensors; batching them gives rank 1.
#[derive(Clone, PartialEq, Eq)]
pub struct StringTensor {
    shape: Shape,
    values: Vec<ByteString>,
}

impl StringTensor {
    /// A string tensor of `shape` holding `values` (row-major).
    ///
    /// Errors when the count does not match the shape.
    pub fn new(values: Vec<ByteString>, shape: impl Into<Shape>) -> Result<StringTensor> {
        let shape = shape.into();
        if shape.checked_num_elements() != Some(values.len()) {
            return Err(Error::invalid(
                "StringTensor",
                format!("{} strings cannot have shape {shape}", values.len()),
            ));
        }
        Ok(StringTensor { shape, values })
    }

    /// A rank-0 string tensor.
    pub fn scalar(value: impl Into<ByteString>) -> StringTensor {
        StringTensor {
            shape: Shape::scalar(),
            values: vec![value.into()],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The strings, row-major.
    pub fn values(&self) -> &[ByteString] {
        &self.values
    }

    /// The single string of a rank-0 (or one-element) tensor.
    pub fn as_bytes(&self) -> Result<&[u8]> {
        match self.values.as_slice() {
            [one] => Ok(one),
            _ => Err(Error::invalid(
                "StringTensor::as_bytes",
                format!(
                    "string tensor of shape {} does not hold exactly one string",
                    self.shape
                ),
            )),
        }
    }
}

impl fmt::Debug for StringTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StringTensor(shape={}, {} strings)",
            self.shape,
            self.values.len()
        )
    }
}

/// One element of a dataset: a tensor, a string tensor, a nested dataset (what
/// `window` produces), or a tuple/map of elements.
#[derive(Clone, Debug)]
pub enum Element {
    /// A numeric or bool tensor.
    Tensor(Tensor),
    /// A tensor of byte strings.
    Strings(StringTensor),
    /// A tuple (`(x, y)` in TensorFlow).
    Tuple(Vec<Element>),
    /// A dict with string keys (`{"image": ..., "label": ...}`), ordered by key.
    Map(BTreeMap<String, Element>),
    /// A nested dataset (TensorFlow's `DatasetSpec` value): the windows of
    /// [`Dataset::window`], the values `flat_map`/`interleave` functions receive from it.
    Dataset(Dataset),
}

impl From<Tensor> for Element {
    fn from(t: Tensor) -> Self {
        Element::Tensor(t)
    }
}

impl From<StringTensor> for Element {
    fn from(t: StringTensor) -> Self {
        Element::Strings(t)
    }
}

impl Element {
    /// The tensor of a `Tensor` element.
    pub fn tensor(&self) -> Result<&Tensor> {
        match self {
            Element::Tensor(t) => Ok(t),
            other => Err(Error::invalid(
                "Element::tensor",
                format!("element is {}, not a tensor", other.kind()),
            )),
        }
    }

    /// The string tensor of a `Strings` element.
    pub fn strings(&self) -> Result<&StringTensor> {
        match self {
            Element::Strings(t) => Ok(t),
            other => Err(Error::invalid(
                "Element::strings",
                format!("element is {}, not strings", other.kind()),
            )),
        }
    }

    /// The components of a `Tuple` element.
    pub fn tuple(&self) -> Result<&[Element]> {
        match self {
            Element::Tuple(t) => Ok(t),
            other => Err(Error::invalid(
                "Element::tuple",
                format!("element is {}, not a tuple", other.kind()),
            )),
        }
    }

    /// The dataset of a `Dataset` element (a window).
    pub fn dataset(&self) -> Result<&Dataset> {
        match self {
            Element::Dataset(d) => Ok(d),
            other => Err(Error::invalid(
                "Element::dataset",
                format!("element is {}, not a dataset", other.kind()),
            )),
        }
    }

    /// The entries of a `Map` element.
    pub fn map(&self) -> Result<&BTreeMap<String, Element>> {
        match self {
            Element::Map(m) => Ok(m),
            other => Err(Error::invalid(
                "Element::map",
                format!("element is {}, not a map", other.kind()),
            )),
        }
    }

    /// Component `i` of a tuple.
    pub fn get(&self, i: usize) -> Result<&Element> {
        let t = self.tuple()?;
        t.get(i).ok_or_else(|| {
            Error::out_of_range("Element::get", format!("index {i} of a {}-tuple", t.len()))
        })
    }

    /// Entry `key` of a map.
    pub fn field(&self, key: &str) -> Result<&Element> {
        self.map()?.get(key).ok_or_else(|| Error::NotFound {
            what: "element key",
            name: key.to_string(),
        })
    }

    /// A short description of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Element::Tensor(_) => "a tensor",
            Element::Strings(_) => "a string tensor",
            Element::Tuple(_) => "a tuple",
            Element::Map(_) => "a map",
            Element::Dataset(_) => "a dataset",
        }
    }

    /// The spec (structure, dtypes, shapes) of this element.
    pub fn spec(&self) -> ElementSpec {
        match self {
            Element::Tensor(t) => {
                ElementSpec::Tensor(TensorSpec::new(t.dtype(), t.partial_shape()))
            }
            Element::Strings(s) => ElementSpec::Strings(PartialShape::from(s.shape())),
            Element::Tuple(v) => ElementSpec::Tuple(v.iter().map(Element::spec).collect()),
            Element::Map(m) => {
                ElementSpec::Map(m.iter().map(|(k, v)| (k.clone(), v.spec())).collect())
            }
            Element::Dataset(d) => ElementSpec::Dataset(Box::new(d.element_spec())),
        }
    }
}

/// The structure, dtypes and (partial) shapes of a dataset's elements
/// (TensorFlow's `element_spec`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElementSpec {
    /// A tensor.
    Tensor(TensorSpec),
    /// A string tensor of this shape.
    Strings(PartialShape),
    /// A tuple.
    Tuple(Vec<ElementSpec>),
    /// A map.
    Map(BTreeMap<String, ElementSpec>),
    /// A nested dataset whose elements have this spec (TensorFlow's `DatasetSpec`).
    Dataset(Box<ElementSpec>),
    /// Not known: the output of a function whose result could not be inferred without
    /// running it on real data (see `Dataset::map`). Transformations pass it on.
    Unknown,
}

impl fmt::Display for ElementSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElementSpec::Tensor(t) => write!(f, "TensorSpec(shape={}, dtype={})", t.shape, t.dtype),
            ElementSpec::Strings(s) => write!(f, "TensorSpec(shape={s}, dtype=string)"),
            ElementSpec::Tuple(v) => {
                f.write_str("(")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            ElementSpec::Map(m) => {
                f.write_str("{")?;
                for (i, (k, e)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "'{k}': {e}")?;
                }
                f.write_str("}")
            }
            ElementSpec::Dataset(e) => write!(f, "DatasetSpec({e})"),
            ElementSpec::Unknown => f.write_str("<unknown>"),
        }
    }
}
