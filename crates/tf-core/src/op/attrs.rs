//! Op attributes: a short list of named, typed values (`axis`, `transpose_a`, `padding`...).
//!
//! Stored inline (no heap for up to four entries) and looked up by name with a linear
//! scan: ops have few attributes, so this beats hashing.

use crate::dtype::DType;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;

/// One attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A boolean flag.
    Bool(bool),
    /// An integer (axis, count, seed).
    Int(i64),
    /// A float (alpha, epsilon).
    Float(f64),
    /// A dtype (for casts and creation ops).
    DType(DType),
    /// A string (padding mode, data format).
    Str(Cow<'static, str>),
    /// A list of integers (axes, shape, strides).
    Ints(Vec<i64>),
    /// A list of floats.
    Floats(Vec<f64>),
}

impl AttrValue {
    /// The kind of value, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            AttrValue::Bool(_) => "bool",
            AttrValue::Int(_) => "int",
            AttrValue::Float(_) => "float",
            AttrValue::DType(_) => "dtype",
            AttrValue::Str(_) => "string",
            AttrValue::Ints(_) => "list(int)",
            AttrValue::Floats(_) => "list(float)",
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Float(x) => write!(f, "{x}"),
            AttrValue::DType(d) => write!(f, "{d}"),
            AttrValue::Str(s) => write!(f, "{s:?}"),
            AttrValue::Ints(v) => write!(f, "{v:?}"),
            AttrValue::Floats(v) => write!(f, "{v:?}"),
        }
    }
}

macro_rules! attr_from {
    ($($t:ty => $v:ident $(as $cast:ty)?),*) => {$(
        impl From<$t> for AttrValue {
            fn from(x: $t) -> AttrValue { AttrValue::$v(x $(as $cast)?) }
        }
    )*};
}
attr_from!(bool => Bool, i64 => Int, i32 => Int as i64, usize => Int as i64, f64 => Float,
           f32 => Float as f64, DType => DType, Vec<i64> => Ints, Vec<f64> => Floats);

impl From<&'static str> for AttrValue {
    fn from(s: &'static str) -> AttrValue {
        AttrValue::Str(Cow::Borrowed(s))
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> AttrValue {
        AttrValue::Str(Cow::Owned(s))
    }
}
impl From<&[i64]> for AttrValue {
    fn from(v: &[i64]) -> AttrValue {
        AttrValue::Ints(v.to_vec())
    }
}
impl From<&[usize]> for AttrValue {
    fn from(v: &[usize]) -> AttrValue {
        AttrValue::Ints(v.iter().map(|&x| x as i64).collect())
    }
}

/// The attributes of one op call.
///
/// ```
/// use tf_core::op::Attrs;
/// let a = Attrs::new().with("axis", 1i64).with("keepdims", true);
/// assert_eq!(a.int("axis"), Some(1));
/// assert_eq!(a.bool("keepdims"), Some(true));
/// assert_eq!(a.int("missing"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Attrs(SmallVec<[(Cow<'static, str>, AttrValue); 4]>);

impl Attrs {
    /// No attributes.
    pub const fn new() -> Attrs {
        Attrs(SmallVec::new_const())
    }

    /// Adds (or replaces) an attribute, builder style.
    pub fn with(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<AttrValue>,
    ) -> Attrs {
        self.set(name, value);
        self
    }

    /// Adds or replaces an attribute.
    pub fn set(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<AttrValue>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// All attributes in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttrValue)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An int attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A float attribute (ints are accepted and converted).
    pub fn float(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            AttrValue::Float(x) => Some(*x),
            AttrValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// A bool attribute.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A dtype attribute.
    pub fn dtype(&self, name: &str) -> Option<DType> {
        match self.get(name)? {
            AttrValue::DType(d) => Some(*d),
            _ => None,
        }
    }

    /// A string attribute.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A list-of-ints attribute.
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.get(name)? {
            AttrValue::Ints(v) => Some(v),
            _ => None,
        }
    }

    /// A list-of-floats attribute.
    pub fn floats(&self, name: &str) -> Option<&[f64]> {
        match self.get(name)? {
            AttrValue::Floats(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_types_are_checked() {
        let mut a = Attrs::new().with("axis", 0i64).with("padding", "SAME");
        a.set("axis", 2i64);
        assert_eq!(a.len(), 2);
        assert_eq!(a.int("axis"), Some(2));
        assert_eq!(a.str("padding"), Some("SAME"));
        assert_eq!(a.int("padding"), None);
        assert_eq!(a.float("axis"), Some(2.0));
        assert_eq!(a.to_string(), "axis=2, padding=\"SAME\"");
        let b = Attrs::new()
            .with("perm", vec![1i64, 0])
            .with("dt", DType::F16);
        assert_eq!(b.ints("perm"), Some(&[1, 0][..]));
        assert_eq!(b.dtype("dt"), Some(DType::F16));
    }
}
