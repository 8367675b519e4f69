//! A source yielding the slices along axis 0 of whole tensors read from a file (a tensor,
//! or a tuple or map of tensors with a common first dimension), as views that share the
//! file's storage.

use crate::cardinality::Cardinality;
use crate::dataset::{DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use tf_core::op::TensorSpec;
use tf_core::{Error, PartialShape, Result, Tensor};

/// Slice `i` along axis 0 of `t` (a view of the same storage).
pub(crate) fn slice0(op: &'static str, t: &Tensor, i: usize) -> Result<Tensor> {
    let dims = t.dims();
    if dims.is_empty() || i >= dims[0] {
        return Err(Error::out_of_range(
            op,
            format!("slice {i} of a tensor of shape {:?}", dims),
        ));
    }
    let strides = t.strides();
    let offset = t
        .offset()
        .checked_add(
            i.checked_mul(strides[0])
                .ok_or_else(|| Error::invalid(op, "slice offset overflows"))?,
        )
        .ok_or_else(|| Error::invalid(op, "slice offset overflows"))?;
    t.view(op, dims[1..].into(), strides[1..].into(), offset)
}

/// The slices of a structure of tensors along axis 0.
pub(crate) struct Slices {
    /// `Tensor`, `Tuple` or `Map` of tensors, all with the same first dimension.
    pub(crate) full: Element,
    pub(crate) len: usize,
    pub(crate) name: &'static str,
}

impl Slices {
    /// Checks that every tensor has rank ≥ 1 and the same first dimension.
    pub(crate) fn new(op: &'static str, full: Element) -> Result<Slices> {
        let mut first: Option<usize> = None;
        check(op, &full, &mut first)?;
        Ok(Slices {
            full,
            len: first.unwrap_or(0),
            name: op,
        })
    }
}

fn check(op: &'static str, e: &Element, first: &mut Option<usize>) -> Result<()> {
    match e {
        Element::Tensor(t) => {
            let Some(&d0) = t.dims().first() else {
                return Err(Error::invalid(
                    op,
                    "cannot slice a rank-0 array into elements",
                ));
            };
            match *first {
                Some(f) if f != d0 => Err(Error::invalid(
                    op,
                    format!(
                        "arrays have different first dimensions: {f} and {d0} (shape {})",
                        t.shape()
                    ),
                )),
                _ => {
                    *first = Some(d0);
                    Ok(())
                }
            }
        }
        Element::Tuple(v) => v.iter().try_for_each(|x| check(op, x, first)),
        Element::Map(m) => m.values().try_for_each(|x| check(op, x, first)),
        Element::Strings(_) => Err(Error::invalid(op, "string arrays are not supported")),
    }
}

fn slice_element(op: &'static str, e: &Element, i: usize) -> Result<Element> {
    Ok(match e {
        Element::Tensor(t) => Element::Tensor(slice0(op, t, i)?),
        Element::Tuple(v) => Element::Tuple(
            v.iter()
                .map(|x| slice_element(op, x, i))
                .collect::<Result<_>>()?,
        ),
        Element::Map(m) => Element::Map(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), slice_element(op, x, i)?)))
                .collect::<Result<_>>()?,
        ),
        Element::Strings(_) => return Err(Error::invalid(op, "string arrays are not supported")),
    })
}

fn slice_spec(e: &Element) -> ElementSpec {
    match e {
        Element::Tensor(t) => ElementSpec::Tensor(TensorSpec::new(
            t.dtype(),
            PartialShape::known(t.dims().get(1..).unwrap_or(&[])),
        )),
        Element::Tuple(v) => ElementSpec::Tuple(v.iter().map(slice_spec).collect()),
        Element::Map(m) => {
            ElementSpec::Map(m.iter().map(|(k, x)| (k.clone(), slice_spec(x))).collect())
        }
        Element::Strings(s) => ElementSpec::Strings(PartialShape::known(
            s.shape().dims().get(1..).unwrap_or(&[]),
        )),
    }
}

impl DatasetSource for Slices {
    fn iter(&self) -> Result<ElementIter> {
        let full = self.full.clone();
        let op = self.name;
        Ok(Box::new(
            (0..self.len).map(move |i| slice_element(op, &full, i)),
        ))
    }

    fn cardinality(&self) -> Cardinality {
        Cardinality::Finite(self.len as u64)
    }

    fn element_spec(&self) -> ElementSpec {
        slice_spec(&self.full)
    }

    fn name(&self) -> &'static str {
        self.name
    }
}
