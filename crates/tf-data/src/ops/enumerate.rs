//! `enumerate`: pairs `(index, element)` with an int64 counter.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use tf_core::{DType, PartialShape, Result, Tensor};

struct Enumerate {
    input: Dataset,
    start: i64,
}

impl DatasetSource for Enumerate {
    fn iter(&self) -> Result<ElementIter> {
        let mut i = self.start;
        Ok(Box::new(self.input.iter()?.map(move |item| {
            let index = i;
            i = i.wrapping_add(1);
            item.map(|e| Element::Tuple(vec![Element::Tensor(Tensor::from_scalar(index)), e]))
        })))
    }
    fn cardinality(&self) -> Cardinality {
        self.input.cardinality()
    }
    fn element_spec(&self) -> ElementSpec {
        ElementSpec::Tuple(vec![
            ElementSpec::tensor(DType::I64, PartialShape::scalar()),
            self.input.element_spec(),
        ])
    }
    fn name(&self) -> &'static str {
        "Enumerate"
    }
}

impl Dataset {
    /// `Dataset.enumerate(start)`: pairs `(i, element)` where `i` is an int64 scalar
    /// counting from `start`.
    pub fn enumerate(&self, start: i64) -> Dataset {
        Dataset::new(Enumerate {
            input: self.clone(),
            start,
        })
    }
}
