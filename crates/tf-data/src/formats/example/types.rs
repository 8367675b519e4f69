//! `tf.train.Example`, `tf.train.SequenceExample` and their parts, with protobuf
//! encoding and decoding written against the wire format (no generated code).
//!
//! Maps keep their entries in insertion (or decoded) order, so decoding and re-encoding
//! reproduces TensorFlow's bytes exactly; [`OrderedMap::sort_keys`] gives the
//! deterministic (key-sorted) order instead.

use super::wire::{
    FIXED32, LEN, Reader, VARINT, WireError, WireResult, len_field_size, put_len_prefix,
    put_varint, varint_len,
};
use tf_core::{Error, Result};

/// One feature: a list of byte strings, floats or 64-bit integers
/// (`tf.train.Feature`).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Feature {
    /// No list set (an empty `tf.train.Feature()`); parsing treats it as missing.
    #[default]
    Unset,
    /// `bytes_list`.
    Bytes(Vec<Vec<u8>>),
    /// `float_list`.
    Float(Vec<f32>),
    /// `int64_list`.
    Int64(Vec<i64>),
}

impl Feature {
    /// A `bytes_list` feature.
    pub fn bytes<I, B>(values: I) -> Feature
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        Feature::Bytes(values.into_iter().map(|b| b.as_ref().to_vec()).collect())
    }

    /// A `float_list` feature.
    pub fn floats(values: impl Into<Vec<f32>>) -> Feature {
        Feature::Float(values.into())
    }

    /// An `int64_list` feature.
    pub fn int64s(values: impl Into<Vec<i64>>) -> Feature {
        Feature::Int64(values.into())
    }

    /// The proto field name of the list kind (`"bytes_list"`, `"float_list"`,
    /// `"int64_list"`, or `"no list"`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Feature::Unset => "no list",
            Feature::Bytes(_) => "bytes_list",
            Feature::Float(_) => "float_list",
            Feature::Int64(_) => "int64_list",
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Feature::Unset => 0,
            Feature::Bytes(v) => v.len(),
            Feature::Float(v) => v.len(),
            Feature::Int64(v) => v.len(),
        }
    }

    /// Whether the list has no values (or is unset).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn list_payload_len(&self) -> usize {
        match self {
            Feature::Unset => 0,
            Feature::Bytes(v) => v.iter().map(|b| len_field_size(b.len())).sum(),
            Feature::Float(v) if v.is_empty() => 0,
            Feature::Float(v) => len_field_size(4 * v.len()),
            Feature::Int64(v) if v.is_empty() => 0,
            Feature::Int64(v) => len_field_size(packed_i64_len(v)),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Feature::Unset => 0,
            _ => len_field_size(self.list_payload_len()),
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let field = match self {
            Feature::Unset => return,
            Feature::Bytes(_) => 1,
            Feature::Float(_) => 2,
            Feature::Int64(_) => 3,
        };
        put_len_prefix(out, field, self.list_payload_len());
        match self {
            Feature::Unset => {}
            Feature::Bytes(v) => {
                for b in v {
                    put_len_prefix(out, 1, b.len());
                    out.extend_from_slice(b);
                }
            }
            Feature::Float(v) if !v.is_empty() => {
                put_len_prefix(out, 1, 4 * v.len());
                for x in v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            Feature::Int64(v) if !v.is_empty() => {
                put_len_prefix(out, 1, packed_i64_len(v));
                for &x in v {
                    put_varint(out, x as u64);
                }
            }
            _ => {}
        }
    }

    /// Decodes a `Feature` message (merging repeated occurrences of the same list as
    /// protobuf does; a different list kind replaces the earlier one).
    pub(crate) fn decode_from(mut r: Reader<'_>) -> WireResult<Feature> {
        let mut f = Feature::Unset;
        while !r.is_empty() {
            let (field, wt) = r.key()?;
            match (field, wt) {
                (1, LEN) => {
                    let mut l = r.sub()?;
                    let mut v = match std::mem::take(&mut f) {
                        Feature::Bytes(v) => v,
                        _ => Vec::new(),
                    };
                    while !l.is_empty() {
                        match l.key()? {
                            (1, LEN) => v.push(l.bytes()?.to_vec()),
                            (1, wt) => {
                                return Err(l.err(format!("bytes_list value with wire type {wt}")));
                            }
                            (_, wt) => l.skip(wt)?,
                        }
                    }
                    f = Feature::Bytes(v);
                }
                (2, LEN) => {
                    let mut v = match std::mem::take(&mut f) {
                        Feature::Float(v) => v,
                        _ => Vec::new(),
                    };
                    decode_floats(r.sub()?, &mut v)?;
                    f = Feature::Float(v);
                }
                (3, LEN) => {
                    let mut v = match std::mem::take(&mut f) {
                        Feature::Int64(v) => v,
                        _ => Vec::new(),
                    };
                    decode_int64s(r.sub()?, &mut v)?;
                    f = Feature::Int64(v);
                }
                (1..=3, wt) => {
                    return Err(r.err(format!("Feature field {field} with wire type {wt}")));
                }
                (_, wt) => r.skip(wt)?,
            }
        }
        Ok(f)
    }
}

fn packed_i64_len(v: &[i64]) -> usize {
    v.iter().map(|&x| varint_len(x as u64)).sum()
}

/// Appends the values of a `FloatList` message (packed or not) to `out`.
pub(crate) fn decode_floats(mut l: Reader<'_>, out: &mut Vec<f32>) -> WireResult<()> {
    while !l.is_empty() {
        match l.key()? {
            (1, LEN) => {
                let b = l.bytes()?;
                if b.len() % 4 != 0 {
                    return Err(l.err(format!(
                        "packed floats of {} bytes (not a multiple of 4)",
                        b.len()
                    )));
                }
                out.extend(
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            (1, FIXED32) => out.push(f32::from_le_bytes(l.fixed32()?)),
            (1, wt) => return Err(l.err(format!("float_list value with wire type {wt}"))),
            (_, wt) => l.skip(wt)?,
        }
    }
    Ok(())
}

/// Appends the values of an `Int64List` message (packed or not) to `out`.
pub(crate) fn decode_int64s(mut l: Reader<'_>, out: &mut Vec<i64>) -> WireResult<()> {
    while !l.is_empty() {
        match l.key()? {
            (1, LEN) => {
                let mut p = l.sub()?;
                while !p.is_empty() {
                    out.push(p.varint()? as i64);
                }
            }
            (1, VARINT) => out.push(l.varint()? as i64),
            (1, wt) => return Err(l.err(format!("int64_list value with wire type {wt}"))),
            (_, wt) => l.skip(wt)?,
        }
    }
    Ok(())
}

/// A string-keyed protobuf map that keeps its entries in order (insertion order, or
/// the order of the decoded bytes). Inserting an existing key replaces its value in
/// place.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderedMap<V> {
    entries: Vec<(String, V)>,
}

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
        }
    }
}

impl<V> OrderedMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        OrderedMap::default()
    }

    /// Sets `key` to `value`, returning the old value (which keeps its position).
    pub fn insert(&mut self, key: impl Into<String>, value: V) -> Option<V> {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sorts the entries by key (protobuf's deterministic serialization order).
    pub fn sort_keys(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for OrderedMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = OrderedMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// `tf.train.Features`: feature name → [`Feature`].
pub type Features = OrderedMap<Feature>;

/// `tf.train.FeatureList`: a sequence of features (one per time step).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FeatureList {
    /// The features, in order.
    pub feature: Vec<Feature>,
}

/// `tf.train.FeatureLists`: name → [`FeatureList`].
pub type FeatureLists = OrderedMap<FeatureList>;

/// Something encoded as a length-delimited map value.
trait MapValue: Sized + Default {
    fn encoded_len(&self) -> usize;
    fn encode_into(&self, out: &mut Vec<u8>);
    fn decode_merge(&mut self, r: Reader<'_>) -> WireResult<()>;
}

impl MapValue for Feature {
    fn encoded_len(&self) -> usize {
        Feature::encoded_len(self)
    }
    fn encode_into(&self, out: &mut Vec<u8>) {
        Feature::encode_into(self, out)
    }
    fn decode_merge(&mut self, r: Reader<'_>) -> WireResult<()> {
        *self = Feature::decode_from(r)?;
        Ok(())
    }
}

impl MapValue for FeatureList {
    fn encoded_len(&self) -> usize {
        self.feature
            .iter()
            .map(|f| len_field_size(f.encoded_len()))
            .sum()
    }
    fn encode_into(&self, out: &mut Vec<u8>) {
        for f in &self.feature {
            put_len_prefix(out, 1, f.encoded_len());
            f.encode_into(out);
        }
    }
    fn decode_merge(&mut self, mut r: Reader<'_>) -> WireResult<()> {
        while !r.is_empty() {
            match r.key()? {
                (1, LEN) => self.feature.push(Feature::decode_from(r.sub()?)?),
                (1, wt) => return Err(r.err(format!("FeatureList.feature with wire type {wt}"))),
                (_, wt) => r.skip(wt)?,
            }
        }
        Ok(())
    }
}

fn entry_len<V: MapValue>(k: &str, v: &V) -> usize {
    len_field_size(k.len()) + len_field_size(v.encoded_len())
}

/// Payload size of a map message (one length-delimited entry per key, field 1).
fn map_len<V: MapValue>(m: &OrderedMap<V>) -> usize {
    m.entries
        .iter()
        .map(|(k, v)| len_field_size(entry_len(k, v)))
        .sum()
}

fn encode_map<V: MapValue>(m: &OrderedMap<V>, out: &mut Vec<u8>) {
    for (k, v) in &m.entries {
        put_len_prefix(out, 1, entry_len(k, v));
        put_len_prefix(out, 1, k.len());
        out.extend_from_slice(k.as_bytes());
        put_len_prefix(out, 2, v.encoded_len());
        v.encode_into(out);
    }
}

/// Decodes one map entry (key field 1, value field 2) and merges it in; a repeated key
/// replaces the earlier value (protobuf's last-wins rule).
fn decode_entry<V: MapValue>(m: &mut OrderedMap<V>, mut r: Reader<'_>) -> WireResult<()> {
    let mut key = String::new();
    let mut value = V::default();
    while !r.is_empty() {
        match r.key()? {
            (1, LEN) => {
                let b = r.bytes()?;
                key = std::str::from_utf8(b)
                    .map_err(|_| r.err("map key is not valid UTF-8"))?
                    .to_string();
            }
            (2, LEN) => value.decode_merge(r.sub()?)?,
            (f @ (1 | 2), wt) => {
                return Err(r.err(format!("map entry field {f} with wire type {wt}")));
            }
            (_, wt) => r.skip(wt)?,
        }
    }
    m.insert(key, value);
    Ok(())
}

fn decode_map<V: MapValue>(m: &mut OrderedMap<V>, mut r: Reader<'_>) -> WireResult<()> {
    while !r.is_empty() {
        match r.key()? {
            (1, LEN) => decode_entry(m, r.sub()?)?,
            (1, wt) => return Err(r.err(format!("map field with wire type {wt}"))),
            (_, wt) => r.skip(wt)?,
        }
    }
    Ok(())
}

fn to_error(what: &str, e: WireError) -> Error {
    Error::format(
        what.to_string(),
        format!("malformed protobuf at byte {}: {}", e.offset, e.message),
    )
}

/// `tf.train.Example`: one record of named features.
///
/// ```
/// use tf_data::formats::{Example, Feature};
/// let ex = Example::new()
///     .with("s", Feature::bytes([b"hi"]))
///     .with("i", Feature::int64s([7]))
///     .with("x", Feature::floats([1.0, 2.0]));
/// let bytes = ex.encode();
/// assert_eq!(Example::decode(&bytes)?, ex);
/// # Ok::<(), tf_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Example {
    /// The features (`features.feature` in the proto).
    pub features: Features,
}

impl Example {
    /// An example with no features.
    pub fn new() -> Example {
        Example::default()
    }

    /// Adds (or replaces) a feature.
    pub fn with(mut self, key: impl Into<String>, feature: Feature) -> Example {
        self.features.insert(key, feature);
        self
    }

    /// The feature `key`.
    pub fn get(&self, key: &str) -> Option<&Feature> {
        self.features.get(key)
    }

    /// The serialized proto (`SerializeToString()`); features in map order. The
    /// `features` field is always written, as TensorFlow does for
    /// `tf.train.Example(features=...)`.
    pub fn encode(&self) -> Vec<u8> {
        let n = map_len(&self.features);
        let mut out = Vec::with_capacity(len_field_size(n));
        put_len_prefix(&mut out, 1, n);
        encode_map(&self.features, &mut out);
        out
    }

    /// Parses a serialized `tf.train.Example`; unknown fields are skipped.
    ///
    /// Errors (with the byte offset) on malformed bytes: truncation, bad varints,
    /// lengths past the end, wrong wire types, non-UTF-8 keys.
    pub fn decode(bytes: &[u8]) -> Result<Example> {
        let mut r = Reader::new(bytes);
        let mut ex = Example::default();
        (|| {
            while !r.is_empty() {
                match r.key()? {
                    (1, LEN) => decode_map(&mut ex.features, r.sub()?)?,
                    (1, wt) => return Err(r.err(format!("Example.features with wire type {wt}"))),
                    (_, wt) => r.skip(wt)?,
                }
            }
            Ok(())
        })()
        .map_err(|e| to_error("tf.train.Example", e))?;
        Ok(ex)
    }
}

/// `tf.train.SequenceExample`: context features plus named feature lists.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SequenceExample {
    /// Per-sequence features.
    pub context: Features,
    /// Per-step features.
    pub feature_lists: FeatureLists,
}

impl SequenceExample {
    /// The serialized proto; `context` and `feature_lists` are written when non-empty.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.context.is_empty() {
            put_len_prefix(&mut out, 1, map_len(&self.context));
            encode_map(&self.context, &mut out);
        }
        if !self.feature_lists.is_empty() {
            put_len_prefix(&mut out, 2, map_len(&self.feature_lists));
            encode_map(&self.feature_lists, &mut out);
        }
        out
    }

    /// Parses a serialized `tf.train.SequenceExample`; unknown fields are skipped.
    ///
    /// Errors (with the byte offset) on malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<SequenceExample> {
        let mut r = Reader::new(bytes);
        let mut ex = SequenceExample::default();
        (|| {
            while !r.is_empty() {
                match r.key()? {
                    (1, LEN) => decode_map(&mut ex.context, r.sub()?)?,
                    (2, LEN) => decode_map(&mut ex.feature_lists, r.sub()?)?,
                    (f @ (1 | 2), wt) => {
                        return Err(r.err(format!("SequenceExample field {f} with wire type {wt}")));
                    }
                    (_, wt) => r.skip(wt)?,
                }
            }
            Ok(())
        })()
        .map_err(|e| to_error("tf.train.SequenceExample", e))?;
        Ok(ex)
    }
}
