//! `zip`: tuples of the elements of several datasets, up to the shortest.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use tf_core::Result;

struct Zip {
    inputs: Vec<Dataset>,
}

impl DatasetSource for Zip {
    fn iter(&self) -> Result<ElementIter> {
        let mut iters = self
            .inputs
            .iter()
            .map(Dataset::iter)
            .collect::<Result<Vec<_>>>()?;
        let mut done = iters.is_empty();
        Ok(Box::new(std::iter::from_fn(move || {
            if done {
                return None;
            }
            let mut parts = Vec::with_capacity(iters.len());
            let mut error = None;
            for it in &mut iters {
                match it.next() {
                    // Stop at the shortest input.
                    None => {
                        done = true;
                        return None;
                    }
                    Some(Ok(e)) => parts.push(e),
                    Some(Err(e)) => {
                        error.get_or_insert(e);
                    }
                }
            }
            Some(match error {
                Some(e) => Err(e),
                None => Ok(Element::Tuple(parts)),
            })
        })))
    }
    fn cardinality(&self) -> Cardinality {
        let mut result = Cardinality::Infinite;
        for d in &self.inputs {
            match d.cardinality() {
                Cardinality::Unknown => return Cardinality::Unknown,
                Cardinality::Finite(n) => {
                    result = match result {
                        Cardinality::Finite(m) => Cardinality::Finite(m.min(n)),
                        _ => Cardinality::Finite(n),
                    }
                }
                Cardinality::Infinite => {}
            }
        }
        if self.inputs.is_empty() {
            return Cardinality::Finite(0);
        }
        result
    }
    fn element_spec(&self) -> ElementSpec {
        ElementSpec::Tuple(self.inputs.iter().map(Dataset::element_spec).collect())
    }
    fn name(&self) -> &'static str {
        "Zip"
    }
}

impl Dataset {
    /// `Dataset.zip(datasets)`: tuples `(a, b, ...)` of the datasets' elements, in
    /// step, ending with the shortest. An error from any input is that step's item.
    pub fn zip(datasets: impl IntoIterator<Item = Dataset>) -> Dataset {
        Dataset::new(Zip {
            inputs: datasets.into_iter().collect(),
        })
    }

    /// `self.zip(other)`: pairs `(a, b)` of this dataset's and `other`'s elements.
    pub fn zip_with(&self, other: &Dataset) -> Dataset {
        Dataset::zip([self.clone(), other.clone()])
    }
}
