//! `tf.io.parse_example` / `parse_single_example`: serialized `tf.train.Example`s and a
//! feature spec in, dense tensors (FixedLenFeature, FixedLenSequenceFeature), sparse
//! components (VarLenFeature) and ragged tensors (RaggedFeature) out. Parses the wire
//! bytes directly, without building an [`Example`](super::Example), like TensorFlow's
//! fast parser.

use super::spec::{FeatureSpec, FeatureType, field_type};
use super::types::Feature;
use super::values::{Values, ragged, sparse};
use super::wire::{LEN, Reader, WireResult};
use crate::element::Element;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tf_core::{DType, Error, Result, Shape};

const OP: &str = "ParseExample";

/// How a validated spec entry parses.
pub(crate) enum Kind {
    /// `prod(shape) == n` values per example.
    Fixed {
        shape: Vec<usize>,
        n: usize,
        /// The default, expanded to the full size.
        default: Option<Values>,
    },
    Var,
    /// Rows of `stride = prod(shape)` values.
    Seq {
        shape: Vec<usize>,
        stride: usize,
        allow_missing: bool,
        /// The padding value (one value).
        default: Option<Values>,
    },
    Ragged {
        splits: DType,
    },
}

/// A validated spec entry.
pub(crate) struct Compiled {
    pub(crate) key: String,
    pub(crate) dtype: FeatureType,
    pub(crate) kind: Kind,
}

impl Compiled {
    /// Validates one spec entry (`op` names the parser in errors).
    pub(crate) fn new(op: &'static str, key: &str, s: &FeatureSpec) -> Result<Compiled> {
        let dtype = s.dtype();
        let size = |shape: &[usize]| {
            Shape::new(shape).checked_num_elements().ok_or_else(|| {
                Error::invalid(op, format!("feature '{key}': shape {shape:?} is too large"))
            })
        };
        let kind = match s {
            FeatureSpec::FixedLen { shape, default, .. } => {
                let n = size(shape)?;
                let default = match default {
                    Some(d) => Some(default_values(op, key, dtype, shape, n, d)?),
                    None => None,
                };
                Kind::Fixed {
                    shape: shape.clone(),
                    n,
                    default,
                }
            }
            FeatureSpec::VarLen { .. } => Kind::Var,
            FeatureSpec::FixedLenSequence {
                shape,
                allow_missing,
                default,
                ..
            } => {
                let stride = size(shape)?;
                if stride == 0 {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "feature '{key}': FixedLenSequenceFeature shape {shape:?} has no elements"
                        ),
                    ));
                }
                let default = match default {
                    Some(d) if d.len() == 1 => Some(default_values(op, key, dtype, &[], 1, d)?),
                    Some(d) => {
                        return Err(Error::invalid(
                            op,
                            format!(
                                "feature '{key}': the padding default of a FixedLenSequenceFeature must be one value, got {}",
                                d.len()
                            ),
                        ));
                    }
                    None => None,
                };
                Kind::Seq {
                    shape: shape.clone(),
                    stride,
                    allow_missing: *allow_missing,
                    default,
                }
            }
            FeatureSpec::Ragged {
                row_splits_dtype, ..
            } => {
                if !matches!(row_splits_dtype, DType::I32 | DType::I64) {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "feature '{key}': row_splits_dtype must be int32 or int64, got {row_splits_dtype:?}"
                        ),
                    ));
                }
                Kind::Ragged {
                    splits: *row_splits_dtype,
                }
            }
        };
        Ok(Compiled {
            key: key.to_string(),
            dtype,
            kind,
        })
    }
}

/// A compiled feature spec that parses serialized examples (cheap to clone and share
/// between threads, e.g. inside a `map` function).
///
/// ```
/// use std::collections::BTreeMap;
/// use tf_data::formats::{Example, ExampleParser, Feature, FeatureSpec, FeatureType};
/// let bytes = Example::new().with("x", Feature::floats([1.0, 2.0])).encode();
/// let parser = ExampleParser::new(&BTreeMap::from([
///     ("x".to_string(), FeatureSpec::fixed_len([2], FeatureType::Float32)),
///     ("y".to_string(), FeatureSpec::fixed_len([], FeatureType::Int64)
///         .with_default(Feature::int64s([-1]))),
/// ]))?;
/// let parsed = parser.parse_single(&bytes)?;
/// assert_eq!(parsed.field("x")?.tensor()?.to_vec::<f32>()?, vec![1.0, 2.0]);
/// assert_eq!(parsed.field("y")?.tensor()?.to_vec::<i64>()?, vec![-1]);
/// # Ok::<(), tf_core::Error>(())
/// ```
#[derive(Clone)]
pub struct ExampleParser {
    /// Sorted by key.
    features: Arc<[Compiled]>,
    /// The op named in errors.
    op: &'static str,
    /// The message named in errors.
    what: &'static str,
}

impl fmt::Debug for ExampleParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.features.iter().map(|c| (&c.key, c.dtype)))
            .finish()
    }
}

/// `d` expanded to `n` values of `dtype`.
pub(crate) fn default_values(
    op: &'static str,
    key: &str,
    dtype: FeatureType,
    shape: &[usize],
    n: usize,
    d: &Feature,
) -> Result<Values> {
    let given = d.len();
    if given != n && given != 1 {
        return Err(Error::invalid(
            op,
            format!(
                "feature '{key}': default value has {given} values but shape {shape:?} needs {n} (or 1 to repeat)"
            ),
        ));
    }
    let values = match (dtype, d) {
        (FeatureType::Float32, Feature::Float(v)) => {
            Values::F(v.iter().copied().cycle().take(n).collect())
        }
        (FeatureType::Int64, Feature::Int64(v)) => {
            Values::I(v.iter().copied().cycle().take(n).collect())
        }
        (FeatureType::String, Feature::Bytes(v)) => Values::S(
            v.iter()
                .map(|b| Arc::from(b.as_slice()))
                .cycle()
                .take(n)
                .collect(),
        ),
        (_, other) => {
            return Err(Error::invalid(
                op,
                format!(
                    "feature '{key}': default value is a {} but the feature's dtype is {dtype}",
                    other.kind_name()
                ),
            ));
        }
    };
    Ok(values)
}

impl ExampleParser {
    /// Validates `spec` (feature name → how to parse it).
    ///
    /// Errors when a default does not match its feature's dtype or size, a shape is
    /// too large or empty (fixed-length sequences), a fixed-length sequence feature
    /// does not allow missing values (TensorFlow requires `allow_missing=True` in an
    /// `Example`), or a ragged feature's `row_splits_dtype` is not int32/int64.
    pub fn new(spec: &BTreeMap<String, FeatureSpec>) -> Result<ExampleParser> {
        for (key, s) in spec {
            if let FeatureSpec::FixedLenSequence {
                allow_missing: false,
                ..
            } = s
            {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "feature '{key}': a FixedLenSequenceFeature in an Example needs allow_missing=true"
                    ),
                ));
            }
        }
        Self::compile(OP, "tf.train.Example", spec)
    }

    /// Compiles a spec for the parser `op` of messages `what` whose field 1 is a
    /// `Features` map (an `Example`, or a `SequenceExample`'s context).
    pub(crate) fn compile(
        op: &'static str,
        what: &'static str,
        spec: &BTreeMap<String, FeatureSpec>,
    ) -> Result<ExampleParser> {
        let features = spec
            .iter()
            .map(|(key, s)| Compiled::new(op, key, s))
            .collect::<Result<Vec<_>>>()?;
        Ok(ExampleParser {
            features: features.into(),
            op,
            what,
        })
    }

    /// The feature names parsed, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|c| c.key.as_str())
    }

    /// Parses one serialized example (`tf.io.parse_single_example`) into a map element:
    /// fixed-length features as tensors of their shape, variable-length ones as sparse
    /// components of rank 1, fixed-length sequences as `[rows] + shape`, ragged ones as
    /// 1-D tensors of their values.
    ///
    /// Errors on malformed bytes, a missing required feature, a dtype mismatch, a
    /// fixed-length feature with the wrong number of values or a sequence feature whose
    /// values do not fill whole rows; messages name the feature.
    pub fn parse_single(&self, serialized: &[u8]) -> Result<Element> {
        self.parse(std::iter::once(serialized), 1, false)
    }

    /// Parses a batch of serialized examples (`tf.io.parse_example`): fixed-length
    /// features as tensors of `[batch] + shape`, variable-length ones as sparse
    /// components of rank 2, fixed-length sequences as `[batch, most rows] + shape`
    /// (padded with their default or zeros), ragged ones as `{"values", "row_splits"}`
    /// maps. Errors as [`ExampleParser::parse_single`], naming the
    /// example index.
    pub fn parse_batch<B: AsRef<[u8]>>(&self, serialized: &[B]) -> Result<Element> {
        self.parse(serialized.iter().map(AsRef::as_ref), serialized.len(), true)
    }

    /// Parses a string element: rank 0 as [`ExampleParser::parse_single`], rank 1 as
    /// [`ExampleParser::parse_batch`] — the function to `map` over a TFRecord dataset
    /// (before or after batching).
    ///
    /// Errors when the element is not a string tensor of rank 0 or 1.
    pub fn parse_element(&self, element: &Element) -> Result<Element> {
        let s = element.strings().map_err(|_| {
            Error::invalid(
                self.op,
                format!(
                    "expected serialized examples (strings), got {}",
                    element.kind()
                ),
            )
        })?;
        match s.shape().rank() {
            0 => self.parse_single(s.as_bytes()?),
            1 => self.parse_batch(s.values()),
            _ => Err(Error::invalid(
                self.op,
                format!(
                    "serialized examples must have rank 0 or 1, got shape {}",
                    s.shape()
                ),
            )),
        }
    }

    pub(crate) fn parse<'a>(
        &self,
        examples: impl Iterator<Item = &'a [u8]>,
        batch: usize,
        batched: bool,
    ) -> Result<Element> {
        let (op, what) = (self.op, self.what);
        let nf = self.features.len();
        let mut values: Vec<Values> = self
            .features
            .iter()
            .map(|c| {
                let mut v = Values::new(c.dtype);
                if let Kind::Fixed { n, .. } = c.kind {
                    v.reserve(n.saturating_mul(batch));
                }
                v
            })
            .collect();
        // Values per example for the features that are not fixed-length.
        let mut lengths: Vec<Vec<usize>> = vec![Vec::new(); nf];
        let mut found: Vec<Option<Reader<'a>>> = vec![None; nf];
        for (i, bytes) in examples.enumerate() {
            found.iter_mut().for_each(|f| *f = None);
            self.scan(bytes, &mut found).map_err(|e| {
                Error::format(
                    format!("{what} (example {i})"),
                    format!("malformed protobuf at byte {}: {}", e.offset, e.message),
                )
            })?;
            for (j, c) in self.features.iter().enumerate() {
                let out = &mut values[j];
                let before = out.len();
                let present = match found[j] {
                    None => false,
                    Some(r) => match out.append_feature(r, c.dtype).map_err(|e| {
                        Error::format(
                            format!("{what} (example {i}), feature '{}'", c.key),
                            format!("malformed protobuf at byte {}: {}", e.offset, e.message),
                        )
                    })? {
                        Ok(p) => p,
                        Err(field) => {
                            return Err(Error::invalid(
                                op,
                                format!(
                                    "example {i}, key '{}': data types don't match: expected type {}, actual type {}",
                                    c.key,
                                    c.dtype,
                                    field_type(field)
                                ),
                            ));
                        }
                    },
                };
                let got = out.len() - before;
                match &c.kind {
                    Kind::Var | Kind::Ragged { .. } => lengths[j].push(got),
                    Kind::Seq { shape, stride, .. } => {
                        if !got.is_multiple_of(*stride) {
                            return Err(Error::invalid(
                                op,
                                format!(
                                    "example {i}, key '{}': number of {} values is not a multiple of stride length: saw {got} values but output shape is [?{}]",
                                    c.key,
                                    c.dtype,
                                    shape.iter().map(|d| format!(",{d}")).collect::<String>()
                                ),
                            ));
                        }
                        lengths[j].push(got);
                    }
                    Kind::Fixed { shape, n, default } => {
                        if !present {
                            out.truncate(before);
                            match default {
                                Some(d) => out.extend_from(d),
                                None => {
                                    return Err(Error::invalid(
                                        op,
                                        format!(
                                            "example {i}: feature: {} (data type: {}) is required but could not be found",
                                            c.key, c.dtype
                                        ),
                                    ));
                                }
                            }
                        } else if got != *n {
                            return Err(Error::invalid(
                                op,
                                format!(
                                    "example {i}, key '{}': number of {} values != expected: values size {got} but output shape {shape:?}",
                                    c.key, c.dtype
                                ),
                            ));
                        }
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        for ((c, v), lens) in self.features.iter().zip(values).zip(lengths) {
            let leading = |dims: &[usize]| {
                let mut all = Vec::with_capacity(dims.len() + 1);
                if batched {
                    all.push(batch);
                }
                all.extend_from_slice(dims);
                Shape::from(all)
            };
            let e = match &c.kind {
                Kind::Fixed { shape, .. } => v.into_element(leading(shape))?,
                Kind::Var => sparse(v, None, &lens, !batched)?,
                Kind::Seq {
                    shape,
                    stride,
                    default,
                    ..
                } => {
                    let rows = lens.iter().copied().max().unwrap_or(0) / stride;
                    let mut dims = vec![rows];
                    dims.extend_from_slice(shape);
                    if batched {
                        v.padded(&lens, rows * stride, default.as_ref())
                            .into_element(leading(&dims))?
                    } else {
                        v.into_element(Shape::from(dims))?
                    }
                }
                Kind::Ragged { splits } => {
                    let n = v.len();
                    let flat = v.into_element(Shape::from(vec![n]))?;
                    if batched {
                        ragged(op, flat, &lens, *splits)?
                    } else {
                        flat
                    }
                }
            };
            out.insert(c.key.clone(), e);
        }
        Ok(Element::Map(out))
    }

    /// Finds the spec'd features of one example (the last occurrence of a key wins).
    fn scan<'a>(&self, bytes: &'a [u8], found: &mut [Option<Reader<'a>>]) -> WireResult<()> {
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            match r.key()? {
                (1, LEN) => {
                    let mut feats = r.sub()?;
                    while !feats.is_empty() {
                        match feats.key()? {
                            (1, LEN) => self.scan_entry(feats.sub()?, found)?,
                            (1, wt) => {
                                return Err(feats.err(format!("map field with wire type {wt}")));
                            }
                            (_, wt) => feats.skip(wt)?,
                        }
                    }
                }
                (1, wt) => return Err(r.err(format!("Example.features with wire type {wt}"))),
                (_, wt) => r.skip(wt)?,
            }
        }
        Ok(())
    }

    fn scan_entry<'a>(
        &self,
        mut e: Reader<'a>,
        found: &mut [Option<Reader<'a>>],
    ) -> WireResult<()> {
        let mut key: &[u8] = b"";
        let mut value: Option<Reader<'a>> = None;
        while !e.is_empty() {
            match e.key()? {
                (1, LEN) => key = e.bytes()?,
                (2, LEN) => value = Some(e.sub()?),
                (f @ (1 | 2), wt) => {
                    return Err(e.err(format!("map entry field {f} with wire type {wt}")));
                }
                (_, wt) => e.skip(wt)?,
            }
        }
        if let Ok(j) = self
            .features
            .binary_search_by(|c| c.key.as_bytes().cmp(key))
        {
            // An entry without a value is an empty (unset) feature.
            found[j] = Some(value.unwrap_or(Reader::new(&[])));
        }
        Ok(())
    }
}

/// `tf.io.parse_single_example`: see [`ExampleParser::parse_single`].
pub fn parse_single_example(
    serialized: &[u8],
    spec: &BTreeMap<String, FeatureSpec>,
) -> Result<Element> {
    ExampleParser::new(spec)?.parse_single(serialized)
}

/// `tf.io.parse_example` over a rank-1 string tensor (or a slice of byte strings): see
/// [`ExampleParser::parse_batch`].
pub fn parse_example<B: AsRef<[u8]>>(
    serialized: &[B],
    spec: &BTreeMap<String, FeatureSpec>,
) -> Result<Element> {
    ExampleParser::new(spec)?.parse_batch(serialized)
}
