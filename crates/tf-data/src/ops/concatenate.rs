//! `concatenate`: the elements of one dataset followed by those of another.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::ElementSpec;
use tf_core::{Error, Result};

struct Concatenate {
    first: Dataset,
    second: Dataset,
    spec: ElementSpec,
}

impl DatasetSource for Concatenate {
    fn iter(&self) -> Result<ElementIter> {
        let first = self.first.iter()?;
        let second = self.second.clone();
        let mut pending: Option<Dataset> = Some(second);
        let mut current = first;
        Ok(Box::new(std::iter::from_fn(move || {
            loop {
                if let Some(item) = current.next() {
                    return Some(item);
                }
                let next = pending.take()?;
                match next.iter() {
                    Ok(it) => current = it,
                    Err(e) => return Some(Err(e)),
                }
            }
        })))
    }
    fn cardinality(&self) -> Cardinality {
        match (self.first.cardinality(), self.second.cardinality()) {
            // TensorFlow checks for an infinite input first.
            (Cardinality::Infinite, _) | (_, Cardinality::Infinite) => Cardinality::Infinite,
            (Cardinality::Unknown, _) | (_, Cardinality::Unknown) => Cardinality::Unknown,
            (Cardinality::Finite(a), Cardinality::Finite(b)) => {
                Cardinality::Finite(a.saturating_add(b))
            }
        }
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "Concatenate"
    }
}

impl Dataset {
    /// `Dataset.concatenate(other)`: this dataset's elements, then `other`'s. The spec
    /// is the most specific one both satisfy.
    ///
    /// Errors when the two differ in structure or dtypes.
    pub fn concatenate(&self, other: &Dataset) -> Result<Dataset> {
        let (a, b) = (self.element_spec(), other.element_spec());
        let spec = a.most_specific_compatible(&b).ok_or_else(|| {
            Error::invalid(
                "ConcatenateDataset",
                format!("Incompatible dataset elements: {a} vs. {b}"),
            )
        })?;
        Ok(Dataset::new(Concatenate {
            first: self.clone(),
            second: other.clone(),
            spec,
        }))
    }
}
