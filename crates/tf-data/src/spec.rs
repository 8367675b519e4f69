//! Operations on [`ElementSpec`]s: compatibility checks, the most specific common spec,
//! and the batch/unbatch transformations of shapes that transformations apply.

use crate::element::{Element, ElementSpec};
use std::collections::BTreeMap;
use tf_core::op::TensorSpec;
use tf_core::{Error, PartialShape, Result};

impl ElementSpec {
    /// Whether `element` fits this spec: same structure, same dtypes, shapes compatible
    /// (unknown dimensions match anything). [`ElementSpec::Unknown`] accepts everything.
    pub fn is_compatible_with(&self, element: &Element) -> bool {
        match (self, element) {
            (ElementSpec::Unknown, _) => true,
            (ElementSpec::Tensor(s), Element::Tensor(t)) => {
                s.dtype == t.dtype() && s.shape.is_compatible_with(t.dims())
            }
            (ElementSpec::Strings(s), Element::Strings(t)) => s.is_compatible_with(t.shape()),
            (ElementSpec::Tuple(s), Element::Tuple(t)) => {
                s.len() == t.len() && s.iter().zip(t).all(|(s, t)| s.is_compatible_with(t))
            }
            (ElementSpec::Map(s), Element::Map(t)) => {
                s.len() == t.len()
                    && s.iter()
                        .zip(t)
                        .all(|((ks, s), (kt, t))| ks == kt && s.is_compatible_with(t))
            }
            (ElementSpec::Dataset(_), Element::Dataset(_)) => true,
            _ => false,
        }
    }

    /// The most specific spec both `self` and `other` satisfy (dimensions that differ
    /// become unknown), or `None` when structures or dtypes differ (TensorFlow's
    /// `most_specific_compatible_type`). `Unknown` with anything gives `Unknown`.
    pub fn most_specific_compatible(&self, other: &ElementSpec) -> Option<ElementSpec> {
        Some(match (self, other) {
            (ElementSpec::Unknown, _) | (_, ElementSpec::Unknown) => ElementSpec::Unknown,
            (ElementSpec::Tensor(a), ElementSpec::Tensor(b)) => {
                if a.dtype != b.dtype {
                    return None;
                }
                ElementSpec::Tensor(TensorSpec::new(a.dtype, merge_shapes(&a.shape, &b.shape)?))
            }
            (ElementSpec::Strings(a), ElementSpec::Strings(b)) => {
                ElementSpec::Strings(merge_shapes(a, b)?)
            }
            (ElementSpec::Tuple(a), ElementSpec::Tuple(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                ElementSpec::Tuple(
                    a.iter()
                        .zip(b)
                        .map(|(a, b)| a.most_specific_compatible(b))
                        .collect::<Option<_>>()?,
                )
            }
            (ElementSpec::Map(a), ElementSpec::Map(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                let mut out = BTreeMap::new();
                for ((ka, a), (kb, b)) in a.iter().zip(b) {
                    if ka != kb {
                        return None;
                    }
                    out.insert(ka.clone(), a.most_specific_compatible(b)?);
                }
                ElementSpec::Map(out)
            }
            (ElementSpec::Dataset(a), ElementSpec::Dataset(b)) => ElementSpec::Dataset(Box::new(
                a.most_specific_compatible(b)
                    .unwrap_or(ElementSpec::Unknown),
            )),
            _ => return None,
        })
    }

    /// The spec of a batch of these elements: every tensor component gains a leading
    /// dimension `batch` (`None` = unknown). Nested datasets cannot be batched.
    pub(crate) fn batched(&self, op: &'static str, batch: Option<usize>) -> Result<ElementSpec> {
        self.map_shapes(op, &mut |s| {
            let mut dims = vec![batch];
            dims.extend_from_slice(s.dims());
            Ok(PartialShape::from(dims))
        })
    }

    /// The spec of one row of these elements: every component loses its leading
    /// dimension. Errors when a component is a scalar.
    pub(crate) fn unbatched(&self, op: &'static str) -> Result<ElementSpec> {
        self.map_shapes(op, &mut |s| match s.dims().split_first() {
            Some((_, rest)) => Ok(PartialShape::new(rest)),
            None => Err(Error::invalid(
                op,
                "Input element must have a non-scalar value in each component (a rank-0 component cannot be sliced)",
            )),
        })
    }

    /// The leading dimension shared by every component, when the spec knows it.
    pub(crate) fn leading_dim(&self) -> Option<usize> {
        let mut dims = Vec::new();
        self.collect_leading(&mut dims);
        let first = *dims.first()?;
        dims.iter().all(|&d| d == first).then_some(first).flatten()
    }

    fn collect_leading(&self, out: &mut Vec<Option<usize>>) {
        match self {
            ElementSpec::Tensor(t) => out.push(t.shape.dims().first().copied().flatten()),
            ElementSpec::Strings(s) => out.push(s.dims().first().copied().flatten()),
            ElementSpec::Tuple(v) => v.iter().for_each(|e| e.collect_leading(out)),
            ElementSpec::Map(m) => m.values().for_each(|e| e.collect_leading(out)),
            ElementSpec::Dataset(_) | ElementSpec::Unknown => out.push(None),
        }
    }

    /// Applies `f` to the shape of every tensor component (structure and dtypes kept).
    pub(crate) fn map_shapes(
        &self,
        op: &'static str,
        f: &mut dyn FnMut(&PartialShape) -> Result<PartialShape>,
    ) -> Result<ElementSpec> {
        Ok(match self {
            ElementSpec::Tensor(t) => ElementSpec::Tensor(TensorSpec::new(t.dtype, f(&t.shape)?)),
            ElementSpec::Strings(s) => ElementSpec::Strings(f(s)?),
            ElementSpec::Tuple(v) => ElementSpec::Tuple(
                v.iter()
                    .map(|e| e.map_shapes(op, f))
                    .collect::<Result<_>>()?,
            ),
            ElementSpec::Map(m) => ElementSpec::Map(
                m.iter()
                    .map(|(k, e)| Ok((k.clone(), e.map_shapes(op, f)?)))
                    .collect::<Result<_>>()?,
            ),
            ElementSpec::Dataset(_) => {
                return Err(Error::invalid(
                    op,
                    "elements that are datasets cannot be batched or unbatched",
                ));
            }
            ElementSpec::Unknown => ElementSpec::Unknown,
        })
    }
}

/// Dimension-wise merge: equal known dimensions stay, others become unknown. `None`
/// when ranks differ.
pub(crate) fn merge_shapes(a: &PartialShape, b: &PartialShape) -> Option<PartialShape> {
    if a.rank() != b.rank() {
        return None;
    }
    Some(
        a.dims()
            .iter()
            .zip(b.dims())
            .map(|(&x, &y)| if x == y { x } else { None })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf_core::{DType, Tensor};

    fn t(dims: &[Option<usize>]) -> ElementSpec {
        ElementSpec::Tensor(TensorSpec::new(DType::F32, PartialShape::new(dims)))
    }

    #[test]
    fn compatible_and_merge() {
        let x = Element::Tensor(Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap());
        assert!(t(&[None]).is_compatible_with(&x));
        assert!(t(&[Some(2)]).is_compatible_with(&x));
        assert!(!t(&[Some(3)]).is_compatible_with(&x));
        assert!(!t(&[]).is_compatible_with(&x));
        assert_eq!(
            t(&[Some(2), Some(3)]).most_specific_compatible(&t(&[Some(2), Some(4)])),
            Some(t(&[Some(2), None]))
        );
        assert_eq!(t(&[Some(2)]).most_specific_compatible(&t(&[])), None);
        let tup = ElementSpec::Tuple(vec![t(&[]), ElementSpec::Strings(PartialShape::scalar())]);
        assert_eq!(tup.most_specific_compatible(&tup), Some(tup.clone()));
        assert_eq!(tup.most_specific_compatible(&t(&[])), None);
    }

    #[test]
    fn batched_and_unbatched() {
        let s = ElementSpec::Tuple(vec![
            t(&[Some(3)]),
            ElementSpec::Strings(PartialShape::scalar()),
        ]);
        let b = s.batched("Batch", Some(4)).unwrap();
        assert_eq!(
            b,
            ElementSpec::Tuple(vec![
                t(&[Some(4), Some(3)]),
                ElementSpec::Strings(PartialShape::new(&[Some(4)]))
            ])
        );
        assert_eq!(b.leading_dim(), Some(4));
        assert_eq!(b.unbatched("Unbatch").unwrap(), s);
        assert!(s.unbatched("Unbatch").is_err());
    }
}
