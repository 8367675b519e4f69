//! Parsed feature values and the tensors they become: dense tensors, sparse
//! components and ragged (values, row_splits) maps.

use super::spec::FeatureType;
use super::types::{decode_floats, decode_int64s};
use super::wire::{LEN, Reader, WireResult};
use crate::element::{ByteString, Element, StringTensor};
use std::collections::BTreeMap;
use std::sync::Arc;
use tf_core::{DType, Error, Result, Shape, Tensor};

/// Parsed values of one feature (across a batch).
#[derive(Clone)]
pub(crate) enum Values {
    F(Vec<f32>),
    I(Vec<i64>),
    S(Vec<ByteString>),
}

impl Values {
    pub(crate) fn new(t: FeatureType) -> Values {
        match t {
            FeatureType::Float32 => Values::F(Vec::new()),
            FeatureType::Int64 => Values::I(Vec::new()),
            FeatureType::String => Values::S(Vec::new()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Values::F(v) => v.len(),
            Values::I(v) => v.len(),
            Values::S(v) => v.len(),
        }
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        match self {
            Values::F(v) => v.reserve(n),
            Values::I(v) => v.reserve(n),
            Values::S(v) => v.reserve(n),
        }
    }

    pub(crate) fn truncate(&mut self, n: usize) {
        match self {
            Values::F(v) => v.truncate(n),
            Values::I(v) => v.truncate(n),
            Values::S(v) => v.truncate(n),
        }
    }

    pub(crate) fn extend_from(&mut self, other: &Values) {
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
    pub(crate) fn append_feature(
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

    /// Rows of `lens[i]` values each, padded to `width` values with `fill` (its first
    /// value) or zeros / empty strings.
    pub(crate) fn padded(&self, lens: &[usize], width: usize, fill: Option<&Values>) -> Values {
        fn pad<T: Clone>(v: &[T], lens: &[usize], width: usize, fill: T) -> Vec<T> {
            let mut out = Vec::with_capacity(lens.len().saturating_mul(width));
            let mut at = 0;
            for &n in lens {
                out.extend_from_slice(&v[at..at + n]);
                out.extend(std::iter::repeat_n(fill.clone(), width - n));
                at += n;
            }
            out
        }
        match (self, fill) {
            (Values::F(v), Some(Values::F(d))) => {
                Values::F(pad(v, lens, width, d.first().copied().unwrap_or(0.0)))
            }
            (Values::F(v), _) => Values::F(pad(v, lens, width, 0.0)),
            (Values::I(v), Some(Values::I(d))) => {
                Values::I(pad(v, lens, width, d.first().copied().unwrap_or(0)))
            }
            (Values::I(v), _) => Values::I(pad(v, lens, width, 0)),
            (Values::S(v), Some(Values::S(d))) => {
                let fill = d.first().cloned().unwrap_or_else(|| Arc::from(&b""[..]));
                Values::S(pad(v, lens, width, fill))
            }
            (Values::S(v), _) => Values::S(pad(v, lens, width, Arc::from(&b""[..]))),
        }
    }

    pub(crate) fn into_element(self, shape: Shape) -> Result<Element> {
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

fn max(v: &[usize]) -> usize {
    v.iter().copied().max().unwrap_or(0)
}

/// Sparse components of `values` split into rows of `lens[r]` values:
/// - `groups == None`, `single`: one row, indices `[n, 1]`, dense shape `[n]`;
/// - `groups == None`: indices `[n, 2]` (row, position), dense shape
///   `[rows, longest row]`;
/// - `groups == Some(g)`: the rows are grouped, `g[b]` rows for group `b`; indices
///   `[n, 3]` (group, row, position), dense shape `[groups, most rows, longest row]`.
pub(crate) fn sparse(
    values: Values,
    groups: Option<&[usize]>,
    lens: &[usize],
    single: bool,
) -> Result<Element> {
    let total = values.len();
    let (indices, dense_shape) = match groups {
        None if single => (
            Tensor::from_host_vec((0..total as i64).collect::<Vec<_>>(), [total, 1])?,
            Tensor::from_host_vec(vec![total as i64], [1])?,
        ),
        None => {
            let mut idx = Vec::with_capacity(2 * total);
            for (r, &n) in lens.iter().enumerate() {
                for k in 0..n {
                    idx.extend_from_slice(&[r as i64, k as i64]);
                }
            }
            (
                Tensor::from_host_vec(idx, [total, 2])?,
                Tensor::from_host_vec(vec![lens.len() as i64, max(lens) as i64], [2])?,
            )
        }
        Some(groups) => {
            let mut idx = Vec::with_capacity(3 * total);
            let mut rows = lens.iter();
            for (b, &g) in groups.iter().enumerate() {
                for (s, &n) in rows.by_ref().take(g).enumerate() {
                    for k in 0..n {
                        idx.extend_from_slice(&[b as i64, s as i64, k as i64]);
                    }
                }
            }
            let dense = vec![groups.len() as i64, max(groups) as i64, max(lens) as i64];
            (
                Tensor::from_host_vec(idx, [total, 3])?,
                Tensor::from_host_vec(dense, [3])?,
            )
        }
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

/// A ragged map element `{"values": values, "row_splits": [0, l0, l0 + l1, ...]}`
/// with splits of `dtype` (int32 or int64).
pub(crate) fn ragged(
    op: &'static str,
    values: Element,
    lens: &[usize],
    dtype: DType,
) -> Result<Element> {
    let mut splits = Vec::with_capacity(lens.len() + 1);
    let mut at = 0usize;
    splits.push(0);
    for &n in lens {
        at += n;
        splits.push(at);
    }
    let n = splits.len();
    let splits = match dtype {
        DType::I64 => Tensor::from_host_vec(splits.into_iter().map(|s| s as i64).collect(), [n])?,
        _ => {
            let s: Vec<i32> = splits
                .into_iter()
                .map(i32::try_from)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::invalid(
                        op,
                        format!("{at} ragged values do not fit int32 row_splits; use int64"),
                    )
                })?;
            Tensor::from_host_vec(s, [n])?
        }
    };
    Ok(Element::Map(BTreeMap::from([
        ("values".to_string(), values),
        ("row_splits".to_string(), Element::Tensor(splits)),
    ])))
}
