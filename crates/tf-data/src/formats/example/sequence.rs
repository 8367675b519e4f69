//! `tf.io.parse_sequence_example` / `parse_single_sequence_example`: serialized
//! `tf.train.SequenceExample`s, a context spec and a feature-list spec in; context
//! tensors, feature-list tensors (and, for a batch, the sequence lengths) out.

use super::parse::{Compiled, ExampleParser, Kind};
use super::spec::{FeatureSpec, field_type};
use super::values::{Values, ragged, sparse};
use super::wire::{LEN, Reader, WireResult};
use crate::element::Element;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tf_core::{Error, Result, Shape, Tensor};

const OP: &str = "ParseSequenceExample";
const WHAT: &str = "tf.train.SequenceExample";

/// Compiled context and feature-list specs that parse serialized
/// `tf.train.SequenceExample`s (cheap to clone and share between threads).
///
/// Context features may be `FixedLen`, `VarLen` or `Ragged` (parsed like an
/// `Example`'s features); feature lists may be `FixedLenSequence` (every step one row
/// of `shape`), `VarLen` (sparse `[steps, longest step]`) or `Ragged`
/// (`[steps, (values)]`).
///
/// ```
/// use std::collections::BTreeMap;
/// use tf_data::formats::{
///     Feature, FeatureList, FeatureSpec, FeatureType, SequenceExample, SequenceExampleParser,
/// };
/// let mut se = SequenceExample::default();
/// se.context.insert("len", Feature::int64s([2]));
/// se.feature_lists.insert("x", FeatureList { feature: vec![
///     Feature::floats([1.0, 2.0]), Feature::floats([3.0, 4.0]) ] });
/// let parser = SequenceExampleParser::new(
///     &BTreeMap::from([("len".to_string(), FeatureSpec::fixed_len([], FeatureType::Int64))]),
///     &BTreeMap::from([(
///         "x".to_string(),
///         FeatureSpec::fixed_len_sequence([2], FeatureType::Float32, false),
///     )]),
/// )?;
/// let (context, lists) = parser.parse_single(&se.encode())?;
/// assert_eq!(context.field("len")?.tensor()?.to_vec::<i64>()?, vec![2]);
/// let x = lists.field("x")?.tensor()?;
/// assert_eq!(x.dims(), &[2, 2]);
/// # Ok::<(), tf_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SequenceExampleParser {
    context: ExampleParser,
    /// Sorted by key.
    lists: Arc<[Compiled]>,
}

impl fmt::Debug for SequenceExampleParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceExampleParser")
            .field("context", &self.context)
            .field(
                "feature_lists",
                &self
                    .lists
                    .iter()
                    .map(|c| (&c.key, c.dtype))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The per-batch accumulation of one feature list.
struct ListValues {
    values: Values,
    /// Steps per example.
    steps: Vec<usize>,
    /// Values per step, over all examples.
    step_lens: Vec<usize>,
}

impl SequenceExampleParser {
    /// Validates the specs.
    ///
    /// Errors when a context feature is a `FixedLenSequence`, a feature list is a
    /// `FixedLen`, a feature list's `FixedLenSequence` has a default (TensorFlow:
    /// "must be None") or an empty shape, and for the errors of [`ExampleParser::new`].
    pub fn new(
        context: &BTreeMap<String, FeatureSpec>,
        sequence: &BTreeMap<String, FeatureSpec>,
    ) -> Result<SequenceExampleParser> {
        for (key, s) in context {
            if let FeatureSpec::FixedLenSequence { .. } = s {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "context feature '{key}': a context feature is a FixedLenFeature, VarLenFeature or RaggedFeature, not a {}",
                        s.kind_name()
                    ),
                ));
            }
        }
        let mut lists = Vec::with_capacity(sequence.len());
        for (key, s) in sequence {
            match s {
                FeatureSpec::FixedLen { .. } => {
                    return Err(Error::invalid(
                        OP,
                        format!(
                            "feature list '{key}': a sequence feature is a FixedLenSequenceFeature, VarLenFeature or RaggedFeature, not a {}",
                            s.kind_name()
                        ),
                    ));
                }
                FeatureSpec::FixedLenSequence {
                    default: Some(_), ..
                } => {
                    return Err(Error::invalid(
                        OP,
                        format!("value feature_list.dense_defaults[{key}] must be None"),
                    ));
                }
                _ => {}
            }
            lists.push(Compiled::new(OP, key, s)?);
        }
        Ok(SequenceExampleParser {
            context: ExampleParser::compile(OP, WHAT, context)?,
            lists: lists.into(),
        })
    }

    /// Parses one serialized `SequenceExample`
    /// (`tf.io.parse_single_sequence_example`): `(context, feature_lists)`, two map
    /// elements. Context features parse as in [`ExampleParser::parse_single`];
    /// feature lists as `[steps] + shape` tensors (`FixedLenSequence`), sparse
    /// components of rank 2 (`VarLen`) or ragged `{"values", "row_splits"}` maps.
    ///
    /// Errors on malformed bytes, a missing required context feature or feature list,
    /// a dtype mismatch, or a step with the wrong number of values; messages name the
    /// feature (list) and the step.
    pub fn parse_single(&self, serialized: &[u8]) -> Result<(Element, Element)> {
        let context = self.context.parse(std::iter::once(serialized), 1, false)?;
        let lists = self.parse_lists(std::iter::once(serialized), false)?.0;
        Ok((context, lists))
    }

    /// Parses a batch (`tf.io.parse_sequence_example`): `(context, feature_lists,
    /// lengths)`. Context features parse as in [`ExampleParser::parse_batch`];
    /// `FixedLenSequence` lists as `[batch, most steps] + shape` padded with zeros (empty
    /// strings), `VarLen` lists as sparse components of rank 3, `Ragged` lists as
    /// ragged `[batch, (steps), (values)]`; `lengths` maps each `FixedLenSequence`
    /// list to its int64 `[batch]` step counts. Errors as
    /// [`SequenceExampleParser::parse_single`], naming the example index.
    pub fn parse_batch<B: AsRef<[u8]>>(
        &self,
        serialized: &[B],
    ) -> Result<(Element, Element, Element)> {
        let context =
            self.context
                .parse(serialized.iter().map(AsRef::as_ref), serialized.len(), true)?;
        let (lists, lengths) = self.parse_lists(serialized.iter().map(AsRef::as_ref), true)?;
        Ok((context, lists, lengths))
    }

    /// Parses a string element: rank 0 as [`SequenceExampleParser::parse_single`]
    /// (a 2-tuple), rank 1 as [`SequenceExampleParser::parse_batch`] (a 3-tuple) — the
    /// function to `map` over a TFRecord dataset.
    ///
    /// Errors when the element is not a string tensor of rank 0 or 1.
    pub fn parse_element(&self, element: &Element) -> Result<Element> {
        let s = element.strings().map_err(|_| {
            Error::invalid(
                OP,
                format!(
                    "expected serialized sequence examples (strings), got {}",
                    element.kind()
                ),
            )
        })?;
        match s.shape().rank() {
            0 => {
                let (c, l) = self.parse_single(s.as_bytes()?)?;
                Ok(Element::Tuple(vec![c, l]))
            }
            1 => {
                let (c, l, n) = self.parse_batch(s.values())?;
                Ok(Element::Tuple(vec![c, l, n]))
            }
            _ => Err(Error::invalid(
                OP,
                format!(
                    "serialized sequence examples must have rank 0 or 1, got shape {}",
                    s.shape()
                ),
            )),
        }
    }

    /// The feature lists (and, batched, the lengths map) of `examples`.
    fn parse_lists<'a>(
        &self,
        examples: impl Iterator<Item = &'a [u8]>,
        batched: bool,
    ) -> Result<(Element, Element)> {
        let mut acc: Vec<ListValues> = self
            .lists
            .iter()
            .map(|c| ListValues {
                values: Values::new(c.dtype),
                steps: Vec::new(),
                step_lens: Vec::new(),
            })
            .collect();
        let mut found: Vec<Option<Reader<'a>>> = vec![None; self.lists.len()];
        for (i, bytes) in examples.enumerate() {
            found.iter_mut().for_each(|f| *f = None);
            self.scan(bytes, &mut found).map_err(|e| {
                Error::format(
                    format!("{WHAT} (example {i})"),
                    format!("malformed protobuf at byte {}: {}", e.offset, e.message),
                )
            })?;
            for ((c, a), list) in self.lists.iter().zip(&mut acc).zip(&found) {
                let steps = match list {
                    Some(r) => self.append_list(i, c, a, *r)?,
                    None => {
                        if let Kind::Seq {
                            allow_missing: false,
                            ..
                        } = c.kind
                        {
                            return Err(Error::invalid(
                                OP,
                                format!(
                                    "example {i}: feature list '{}' is required but could not be found",
                                    c.key
                                ),
                            ));
                        }
                        0
                    }
                };
                a.steps.push(steps);
            }
        }
        let mut lists = BTreeMap::new();
        let mut lengths = BTreeMap::new();
        for (c, a) in self.lists.iter().zip(acc) {
            let e = match &c.kind {
                Kind::Seq { shape, stride, .. } => {
                    let most = a.steps.iter().copied().max().unwrap_or(0);
                    let mut dims = Vec::with_capacity(shape.len() + 2);
                    if batched {
                        dims.push(a.steps.len());
                    }
                    dims.push(most);
                    dims.extend_from_slice(shape);
                    let values = if batched {
                        let lens: Vec<usize> = a.steps.iter().map(|&s| s * stride).collect();
                        let n = a.steps.len() as i64;
                        let counts = a.steps.iter().map(|&s| s as i64).collect::<Vec<_>>();
                        lengths.insert(
                            c.key.clone(),
                            Element::Tensor(Tensor::from_host_vec(counts, [n as usize])?),
                        );
                        a.values.padded(&lens, most * stride, None)
                    } else {
                        a.values
                    };
                    values.into_element(Shape::from(dims))?
                }
                Kind::Var => sparse(
                    a.values,
                    batched.then_some(a.steps.as_slice()),
                    &a.step_lens,
                    false,
                )?,
                Kind::Ragged { splits } => {
                    let n = a.values.len();
                    let flat = a.values.into_element(Shape::from(vec![n]))?;
                    let inner = ragged(OP, flat, &a.step_lens, *splits)?;
                    if batched {
                        ragged(OP, inner, &a.steps, *splits)?
                    } else {
                        inner
                    }
                }
                // Rejected by `new`.
                Kind::Fixed { .. } => {
                    return Err(Error::invalid(
                        OP,
                        format!("feature list '{}' is a FixedLenFeature", c.key),
                    ));
                }
            };
            lists.insert(c.key.clone(), e);
        }
        Ok((Element::Map(lists), Element::Map(lengths)))
    }

    /// Appends the steps of one `FeatureList`; returns the number of steps.
    fn append_list(
        &self,
        i: usize,
        c: &Compiled,
        a: &mut ListValues,
        mut r: Reader<'_>,
    ) -> Result<usize> {
        let malformed = |e: super::wire::WireError| {
            Error::format(
                format!("{WHAT} (example {i}), feature list '{}'", c.key),
                format!("malformed protobuf at byte {}: {}", e.offset, e.message),
            )
        };
        let mut steps = 0;
        while !r.is_empty() {
            let (field, wt) = r.key().map_err(malformed)?;
            if (field, wt) != (1, LEN) {
                if field == 1 {
                    return Err(malformed(
                        r.err(format!("FeatureList.feature with wire type {wt}")),
                    ));
                }
                r.skip(wt).map_err(malformed)?;
                continue;
            }
            let feature = r.sub().map_err(malformed)?;
            let before = a.values.len();
            if let Err(field) = a
                .values
                .append_feature(feature, c.dtype)
                .map_err(malformed)?
            {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "example {i}, feature list '{}', step {steps}: data types don't match: expected type {}, actual type {}",
                        c.key,
                        c.dtype,
                        field_type(field)
                    ),
                ));
            }
            let got = a.values.len() - before;
            if let Kind::Seq { shape, stride, .. } = &c.kind
                && got != *stride
            {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "example {i}, feature list '{}', step {steps}: number of values != expected: values size {got} but output shape {shape:?}",
                        c.key
                    ),
                ));
            }
            a.step_lens.push(got);
            steps += 1;
        }
        Ok(steps)
    }

    /// Finds the spec'd feature lists of one example (the last occurrence of a key
    /// wins).
    fn scan<'a>(&self, bytes: &'a [u8], found: &mut [Option<Reader<'a>>]) -> WireResult<()> {
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            match r.key()? {
                (2, LEN) => {
                    let mut lists = r.sub()?;
                    while !lists.is_empty() {
                        match lists.key()? {
                            (1, LEN) => self.scan_entry(lists.sub()?, found)?,
                            (1, wt) => {
                                return Err(lists.err(format!("map field with wire type {wt}")));
                            }
                            (_, wt) => lists.skip(wt)?,
                        }
                    }
                }
                (f @ (1 | 2), wt) if wt != LEN => {
                    return Err(r.err(format!("SequenceExample field {f} with wire type {wt}")));
                }
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
        if let Ok(j) = self.lists.binary_search_by(|c| c.key.as_bytes().cmp(key)) {
            found[j] = Some(value.unwrap_or(Reader::new(&[])));
        }
        Ok(())
    }
}

/// `tf.io.parse_single_sequence_example`: see
/// [`SequenceExampleParser::parse_single`].
pub fn parse_single_sequence_example(
    serialized: &[u8],
    context_features: &BTreeMap<String, FeatureSpec>,
    sequence_features: &BTreeMap<String, FeatureSpec>,
) -> Result<(Element, Element)> {
    SequenceExampleParser::new(context_features, sequence_features)?.parse_single(serialized)
}

/// `tf.io.parse_sequence_example`: see [`SequenceExampleParser::parse_batch`].
pub fn parse_sequence_example<B: AsRef<[u8]>>(
    serialized: &[B],
    context_features: &BTreeMap<String, FeatureSpec>,
    sequence_features: &BTreeMap<String, FeatureSpec>,
) -> Result<(Element, Element, Element)> {
    SequenceExampleParser::new(context_features, sequence_features)?.parse_batch(serialized)
}
