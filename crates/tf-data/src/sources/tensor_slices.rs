//! `from_tensor_slices` (one element per row of the leading dimension) and
//! `from_tensors` (the whole value as one element).

use super::SpecOnly;
use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use crate::structure::Rows;
use std::sync::Arc;
use tf_core::Result;

const OP: &str = "TensorSliceDataset";

struct TensorSlices {
    rows: Arc<Rows>,
    n: usize,
    spec: ElementSpec,
}

impl DatasetSource for TensorSlices {
    fn iter(&self) -> Result<ElementIter> {
        let rows = self.rows.clone();
        Ok(Box::new((0..self.n).map(move |i| rows.row(OP, i))))
    }
    fn cardinality(&self) -> Cardinality {
        Cardinality::Finite(self.n as u64)
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "TensorSlice"
    }
}

struct Tensors {
    element: Element,
    spec: ElementSpec,
}

impl DatasetSource for Tensors {
    fn iter(&self) -> Result<ElementIter> {
        Ok(Box::new(std::iter::once(Ok(self.element.clone()))))
    }
    fn cardinality(&self) -> Cardinality {
        Cardinality::Finite(1)
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "Tensor"
    }
}

fn has_symbolic(e: &Element) -> bool {
    match e {
        Element::Tensor(t) => t.is_symbolic(),
        Element::Tuple(v) => v.iter().any(has_symbolic),
        Element::Map(m) => m.values().any(has_symbolic),
        Element::Strings(_) | Element::Dataset(_) => false,
    }
}

impl Dataset {
    /// `tf.data.Dataset.from_tensor_slices`: one element per row of the leading
    /// dimension of every component of `element` (a tensor, string tensor, or a
    /// tuple/map of them). Rows of tensors are views: nothing is copied.
    ///
    /// Errors when a component is a scalar, the components disagree on the number of
    /// rows, or a component is a dataset.
    pub fn from_tensor_slices(element: impl Into<Element>) -> Result<Dataset> {
        let element = element.into();
        let spec = element.spec().unbatched(OP)?;
        if has_symbolic(&element) {
            // Built inside a traced function: only the spec is meaningful.
            let cardinality = match element.spec().leading_dim() {
                Some(n) => Cardinality::Finite(n as u64),
                None => Cardinality::Unknown,
            };
            return Ok(Dataset::new(SpecOnly { spec, cardinality }));
        }
        let (rows, n) = Rows::new(OP, &element)?;
        Ok(Dataset::new(TensorSlices {
            rows: Arc::new(rows),
            n,
            spec,
        }))
    }

    /// `tf.data.Dataset.from_tensors`: a dataset of exactly one element, `element`.
    pub fn from_tensors(element: impl Into<Element>) -> Dataset {
        let element = element.into();
        let spec = element.spec();
        Dataset::new(Tensors { element, spec })
    }
}
