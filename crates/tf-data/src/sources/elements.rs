//! Datasets over a vector of elements ([`Dataset::from_elements`], the windows of
//! `window`) and spec-only placeholders used while tracing functions.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use std::sync::Arc;
use tf_core::{Error, Result};

/// The elements of a vector, in order.
pub(crate) struct VecSource {
    pub(crate) elements: Arc<Vec<Element>>,
    pub(crate) spec: ElementSpec,
}

impl DatasetSource for VecSource {
    fn iter(&self) -> Result<ElementIter> {
        let elements = self.elements.clone();
        Ok(Box::new(
            (0..elements.len()).filter_map(move |i| elements.get(i).cloned().map(Ok)),
        ))
    }
    fn cardinality(&self) -> Cardinality {
        Cardinality::Finite(self.elements.len() as u64)
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "Elements"
    }
}

/// A dataset that only has a spec: the stand-in for a nested dataset while a function
/// is traced, and the result of building sources from symbolic tensors. Iterating it
/// is an error.
pub(crate) struct SpecOnly {
    pub(crate) spec: ElementSpec,
    pub(crate) cardinality: Cardinality,
}

impl DatasetSource for SpecOnly {
    fn iter(&self) -> Result<ElementIter> {
        Err(Error::precondition(
            "Dataset",
            "this dataset was built from symbolic values while tracing a function; it cannot be iterated",
        ))
    }
    fn cardinality(&self) -> Cardinality {
        self.cardinality
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "Placeholder"
    }
}

impl Dataset {
    /// A dataset of the given elements, in order. Its spec is the most specific spec
    /// all elements satisfy (dimensions that differ between elements are unknown).
    ///
    /// Errors when the vector is empty or the elements differ in structure or dtypes.
    pub fn from_elements(elements: Vec<Element>) -> Result<Dataset> {
        let mut iter = elements.iter();
        let Some(first) = iter.next() else {
            return Err(Error::invalid(
                "from_elements",
                "no elements to infer a spec from; use from_generator with an output signature",
            ));
        };
        let mut spec = first.spec();
        for (i, e) in iter.enumerate() {
            spec = spec.most_specific_compatible(&e.spec()).ok_or_else(|| {
                Error::invalid(
                    "from_elements",
                    format!(
                        "element {} ({}) is incompatible with the elements before it ({spec})",
                        i + 1,
                        e.spec()
                    ),
                )
            })?;
        }
        Ok(Dataset::new(VecSource {
            elements: Arc::new(elements),
            spec,
        }))
    }
}
