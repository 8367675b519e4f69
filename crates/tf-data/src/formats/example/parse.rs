//! `tf.io.parse_example` / `parse_single_example`: serialized `tf.train.Example`s and a
//! feature spec in, dense tensors (FixedLenFeature) and sparse components
//! (VarLenFeature) out. Parses the wire bytes directly, without building an
//! [`Example`](super::Example), like TensorFlow's fast parser.

use super::types::{Feature, decode_floats, decode_int64s};
use super::wire::{LEN, Reader, WireResult};
use crate::element::{ByteString, Element, StringTensor};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tf_core::{Error, Result, Shape, Tensor};

const OP: &str = "ParseExample";

/// The value type of a parsed feature (`tf.float32`, `tf.int64` or `tf.string`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureType {
    /// `float_list` → float32 tensors.
    Float32,
    /// `int64_list` → int64 tensors.
    Int64,
    /// `bytes_list` → string tensors.
    String,
}

impl FeatureType {
    /// TensorFlow's dtype name (`"float"`, `"int64"`, `"string"`).
    pub fn name(self) -> &'static str {
        match self {
            FeatureType::Float32 => "float",
            FeatureType::Int64 => "int64",
            FeatureType::String => "string",
        }
    }

    /// The `Feature` oneof field holding this type's list.
    fn field(self) -> u32 {
        match self {
            FeatureType::String => 1,
            FeatureType::Float32 => 2,
            FeatureType::Int64 => 3,
        }
    }
}

impl fmt::Display for FeatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn field_type(field: u32) -> &'static str {
    match field {
        1 => "string",
        2 => "float",
        _ => "int64",
    }
}

/// How to parse one feature.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureSpec {
    /// `tf.io.FixedLenFeature(shape, dtype, default_value)`: exactly
    /// `prod(shape)` values, giving a dense tensor of `shape` (`[batch] + shape` for a
    /// batch). A missing feature takes `default` (all of it, or one value repeated), or
    /// is an error when there is none.
    FixedLen {
        /// The shape of the parsed tensor.
        shape: Vec<usize>,
        /// The value type.
        dtype: FeatureType,
        /// Values for examples that lack the feature.
        default: Option<Feature>,
    },
    /// `tf.io.VarLenFeature(dtype)`: any number of values, giving TensorFlow's
    /// `SparseTensor` components as a map element `{"indices": int64 [n, rank],
    /// "values": [n], "dense_shape": int64 [rank]}` (rank 1 for one example, 2 for a
    /// batch, whose dense width is the longest example's length).
    VarLen {
        /// The value type.
        dtype: FeatureType,
    },
}

impl FeatureSpec {
    /// A required fixed-length feature.
    pub fn fixed_len(shape: impl Into<Vec<usize>>, dtype: FeatureType) -> FeatureSpec {
        FeatureSpec::FixedLen {
            shape: shape.into(),
            dtype,
            default: None,
        }
    }

    /// Sets the default of a fixed-length feature (ignored for variable-length ones).
    pub fn with_default(self, value: Feature) -> FeatureSpec {
        match self {
            FeatureSpec::FixedLen { shape, dtype, .. } => FeatureSpec::FixedLen {
                shape,
                dtype,
                default: Some(value),
            },
            other => other,
        }
    }

    /// A variable-length feature.
    pub fn var_len(dtype: FeatureType) -> FeatureSpec {
        FeatureSpec::VarLen { dtype }
    }

    fn dtype(&self) -> FeatureType {
        match self {
            FeatureSpec::FixedLen { dtype, .. } | FeatureSpec::VarLen { dtype } => *dtype,
        }
    }
}

/// Parsed values of one feature across a batch.
enum Values {
    F(Vec<f32>),
    I(Vec<i64>),
    S(Vec<ByteString>),
}

impl Values {
    fn new(t: FeatureType) -> Values {
        match t {
            FeatureType::Float32 => Values::F(Vec::new()),
            FeatureType::Int64 => Values::I(Vec::new()),
            FeatureType::String => Values::S(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Values::F(v) => v.len(),
            Values::I(v) => v.len(),
            Values::S(v) => v.len(),
        }
    }

    fn reserve(&mut self, n: usize) {
        match self {
            Values::F(v) => v.reserve(n),
            Values::I(v) => v.reserve(n),
            Values::S(v) => v.reserve(n),
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Values::F(v) => v.truncate(n),
            Values::I(v) => v.truncate(n),
            Values::S(v) => v.truncate(n),
        }
    }

    fn extend_from(&mut self, other: &Values) {
        match (self, other) {
            (Values::F(a), Values::F(b)) => a.extend_from_slice(b),
            (Values::I(a), Values::I(b)) => a.extend_from_slice(b),
            (Values::S(a), Values::S(b)) => a.extend_from_slice(b),
            _ => {}
        }
    }

    /// Appends the list of a `Feature` message if it holds `want`'s kind. Returns
    /// `Ok(Ok(true))` when a list of that kind was found, `Ok(Ok(false))` when the
    /// feature has no list, `Ok(Err(field))` when it holds another kind.
    fn append_feature(
        &mut self,
        mut r: Reader<'_>,
        want: FeatureType,
    ) -> WireResult<std::result::Result<bool, u32>> {
        let mut found = false;
        while !r.is_empty() {
            let (field, wt) = r.key()?;
            match (field, wt) {
                (1..=3, LEN) if field == want.field() => {
                    let l = r.sub()?;
                    match self {
                        Values::F(v) => decode_floats(l, v)?,
                        Values::I(v) => decode_int64s(l, v)?,
                        Values::S(v) => decode_bytes(l, v)?,
                    }
                    found = true;
                }
                (1..=3, LEN) => return Ok(Err(field)),
                (1..=3, wt) => {
                    return Err(r.err(format!("Feature field {field} with wire type {wt}")));
                }
                (_, wt) => r.skip(wt)?,
            }
        }
        Ok(Ok(found))
    }

    fn into_element(self, shape: Shape) -> Result<Element> {
        Ok(match self {
            Values::F(v) => Element::Tensor(Tensor::from_host_vec(v, shape)?),
            Values::I(v) => Element::Tensor(Tensor::from_host_vec(v, shape)?),
            Values::S(v) => Element::Strings(StringTensor::new(v, shape)?),
        })
    }
}

fn decode_bytes(mut l: Reader<'_>, out: &mut Vec<ByteString>) -> WireResult<()> {
    while !l.is_empty() {
        match l.key()? {
            (1, LEN) => out.push(Arc::from(l.bytes()?)),
            (1, wt) => return Err(l.err(format!("bytes_list value with wire type {wt}"))),
            (_, wt) => l.skip(wt)?,
        }
    }
    Ok(())
}

/// A validated spec entry.
struct Compiled {
    key: String,
    dtype: FeatureType,
    /// `Some(values per example)` for fixed-length features.
    fixed: Option<(Vec<usize>, usize)>,
    /// The default, expanded to the full size.
    default: Option<Values>,
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
}

impl fmt::Debug for ExampleParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.features.iter().map(|c| (&c.key, c.dtype, &c.fixed)))
            .finish()
    }
}

fn default_values(
    key: &str,
    dtype: FeatureType,
    shape: &[usize],
    n: usize,
    d: &Feature,
) -> Result<Values> {
    let given = d.len();
    if given != n && given != 1 {
        return Err(Error::invalid(
            OP,
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
                OP,
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
    /// Errors when a default does not match its feature's dtype or size, or a shape is
    /// too large.
    pub fn new(spec: &BTreeMap<String, FeatureSpec>) -> Result<ExampleParser> {
        let mut features = Vec::with_capacity(spec.len());
        for (key, s) in spec {
            let dtype = s.dtype();
            let (fixed, default) = match s {
                FeatureSpec::FixedLen { shape, default, .. } => {
                    let n = Shape::new(shape).checked_num_elements().ok_or_else(|| {
                        Error::invalid(OP, format!("feature '{key}': shape {shape:?} is too large"))
                    })?;
                    let default = match default {
                        Some(d) => Some(default_values(key, dtype, shape, n, d)?),
                        None => None,
                    };
                    (Some((shape.clone(), n)), default)
                }
                FeatureSpec::VarLen { .. } => (None, None),
            };
            features.push(Compiled {
                key: key.clone(),
                dtype,
                fixed,
                default,
            });
        }
        Ok(ExampleParser {
            features: features.into(),
        })
    }

    /// The feature names parsed, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|c| c.key.as_str())
    }

    /// Parses one serialized example (`tf.io.parse_single_example`) into a map element:
    /// fixed-length features as tensors of their shape, variable-length ones as sparse
    /// components of rank 1.
    ///
    /// Errors on malformed bytes, a missing required feature, a dtype mismatch or a
    /// fixed-length feature with the wrong number of values; messages name the feature.
    pub fn parse_single(&self, serialized: &[u8]) -> Result<Element> {
        self.parse(std::iter::once(serialized), 1, false)
    }

    /// Parses a batch of serialized examples (`tf.io.parse_example`): fixed-length
    /// features as tensors of `[batch] + shape`, variable-length ones as sparse
    /// components of rank 2. Errors as [`ExampleParser::parse_single`], naming the
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
                OP,
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
                OP,
                format!(
                    "serialized examples must have rank 0 or 1, got shape {}",
                    s.shape()
                ),
            )),
        }
    }

    fn parse<'a>(
        &self,
        examples: impl Iterator<Item = &'a [u8]>,
        batch: usize,
        batched: bool,
    ) -> Result<Element> {
        let nf = self.features.len();
        let mut values: Vec<Values> = self
            .features
            .iter()
            .map(|c| {
                let mut v = Values::new(c.dtype);
                if let Some((_, n)) = c.fixed {
                    v.reserve(n.saturating_mul(batch));
                }
                v
            })
            .collect();
        // Values per example for variable-length features.
        let mut lengths: Vec<Vec<usize>> = vec![Vec::new(); nf];
        let mut found: Vec<Option<Reader<'a>>> = vec![None; nf];
        for (i, bytes) in examples.enumerate() {
            found.iter_mut().for_each(|f| *f = None);
            self.scan(bytes, &mut found).map_err(|e| {
                Error::format(
                    format!("tf.train.Example (example {i})"),
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
                            format!("tf.train.Example (example {i}), feature '{}'", c.key),
                            format!("malformed protobuf at byte {}: {}", e.offset, e.message),
                        )
                    })? {
                        Ok(p) => p,
                        Err(field) => {
                            return Err(Error::invalid(
                                OP,
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
                match &c.fixed {
                    None => lengths[j].push(got),
                    Some((shape, n)) => {
                        if !present {
                            out.truncate(before);
                            match &c.default {
                                Some(d) => out.extend_from(d),
                                None => {
                                    return Err(Error::invalid(
                                        OP,
                                        format!(
                                            "example {i}: feature: {} (data type: {}) is required but could not be found",
                                            c.key, c.dtype
                                        ),
                                    ));
                                }
                            }
                        } else if got != *n {
                            return Err(Error::invalid(
                                OP,
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
            let e = match &c.fixed {
                Some((shape, _)) => {
                    let mut dims = Vec::with_capacity(shape.len() + 1);
                    if batched {
                        dims.push(batch);
                    }
                    dims.extend_from_slice(shape);
                    v.into_element(Shape::from(dims))?
                }
                None => sparse(v, &lens, batched)?,
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

/// Sparse components from per-example value counts.
fn sparse(values: Values, lens: &[usize], batched: bool) -> Result<Element> {
    let total = values.len();
    let max = lens.iter().copied().max().unwrap_or(0);
    let (indices, dense_shape) = if batched {
        let mut idx = Vec::with_capacity(2 * total);
        for (b, &n) in lens.iter().enumerate() {
            for k in 0..n {
                idx.push(b as i64);
                idx.push(k as i64);
            }
        }
        (
            Tensor::from_host_vec(idx, [total, 2])?,
            Tensor::from_host_vec(vec![lens.len() as i64, max as i64], [2])?,
        )
    } else {
        (
            Tensor::from_host_vec((0..total as i64).collect::<Vec<_>>(), [total, 1])?,
            Tensor::from_host_vec(vec![total as i64], [1])?,
        )
    };
    Ok(Element::Map(BTreeMap::from([
        ("indices".to_string(), Element::Tensor(indices)),
        (
            "values".to_string(),
            values.into_element(Shape::from(vec![total]))?,
        ),
        ("dense_shape".to_string(), Element::Tensor(dense_shape)),
    ])))
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

/// `tf.sparse.to_dense` for the sparse components a variable-length feature parses to
/// (a map element with `indices` int64 `[n, rank]`, `values` `[n]` and `dense_shape`
/// int64 `[rank]`): a dense tensor of `dense_shape`, `default` (a value of the values'
/// type: `Feature::Float`, `Feature::Int64` or `Feature::Bytes` with one entry) where
/// no value is given.
///
/// Errors when the element is not such a map, an index is out of bounds, or the
/// default's type differs from the values'.
pub fn sparse_to_dense(sparse: &Element, default: &Feature) -> Result<Element> {
    const OP: &str = "SparseToDense";
    let bad = |m: String| Error::invalid(OP, m);
    let idx = sparse.field("indices")?.tensor()?.to_vec::<i64>()?;
    let shape_t = sparse.field("dense_shape")?.tensor()?;
    let shape: Vec<usize> = shape_t
        .to_vec::<i64>()?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| bad(format!("negative dense_shape entry {d}"))))
        .collect::<Result<_>>()?;
    let rank = shape.len();
    let total = Shape::new(&shape)
        .checked_num_elements()
        .ok_or_else(|| bad(format!("dense_shape {shape:?} is too large")))?;
    let values = sparse.field("values")?;
    let n = match values {
        Element::Tensor(t) => t.num_elements(),
        Element::Strings(s) => s.values().len(),
        other => return Err(bad(format!("values is {}", other.kind()))),
    };
    if idx.len() != n * rank {
        return Err(bad(format!(
            "{} index entries for {n} values of rank {rank}",
            idx.len()
        )));
    }
    let mut flat = Vec::with_capacity(n);
    for (k, ix) in idx.chunks(rank.max(1)).take(n).enumerate() {
        let mut at = 0usize;
        for (d, (&i, &dim)) in ix.iter().zip(&shape).enumerate() {
            let i = usize::try_from(i)
                .ok()
                .filter(|&i| i < dim)
                .ok_or_else(|| {
                    bad(format!(
                        "index {i} of value {k} is out of bounds for dimension {d} of size {dim}"
                    ))
                })?;
            at = at * dim + i;
        }
        flat.push(at);
    }
    let shape = Shape::from(shape);
    Ok(match (values, default) {
        (Element::Tensor(t), Feature::Float(d))
            if t.dtype() == tf_core::DType::F32 && d.len() == 1 =>
        {
            let mut out = vec![d[0]; total];
            for (&at, v) in flat.iter().zip(t.to_vec::<f32>()?) {
                out[at] = v;
            }
            Element::Tensor(Tensor::from_host_vec(out, shape)?)
        }
        (Element::Tensor(t), Feature::Int64(d))
            if t.dtype() == tf_core::DType::I64 && d.len() == 1 =>
        {
            let mut out = vec![d[0]; total];
            for (&at, v) in flat.iter().zip(t.to_vec::<i64>()?) {
                out[at] = v;
            }
            Element::Tensor(Tensor::from_host_vec(out, shape)?)
        }
        (Element::Strings(s), Feature::Bytes(d)) if d.len() == 1 => {
            let fill: ByteString = Arc::from(d[0].as_slice());
            let mut out = vec![fill; total];
            for (&at, v) in flat.iter().zip(s.values()) {
                out[at] = v.clone();
            }
            Element::Strings(StringTensor::new(out, shape)?)
        }
        _ => {
            return Err(bad(format!(
                "default must be one value of the values' type; got a {} with {} values for {}",
                default.kind_name(),
                default.len(),
                values.kind()
            )));
        }
    })
}
