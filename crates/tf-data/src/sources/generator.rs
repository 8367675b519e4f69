//! `from_generator` (a function called once per epoch that yields elements) and
//! `from_iter` (a one-shot iterator), both checked against an output signature.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use crate::util::lock;
use std::sync::Mutex;
use tf_core::{Error, Result};

const OP: &str = "from_generator";

type Factory = Box<dyn Fn() -> ElementIter + Send + Sync>;

struct Generator {
    factory: Factory,
    spec: ElementSpec,
}

struct OneShot {
    iter: Mutex<Option<ElementIter>>,
    spec: ElementSpec,
}

/// Checks every element against the signature, as TensorFlow does.
fn checked(iter: ElementIter, spec: ElementSpec) -> ElementIter {
    Box::new(iter.enumerate().map(move |(i, r)| {
        let e = r?;
        if spec.is_compatible_with(&e) {
            Ok(e)
        } else {
            Err(Error::invalid(
                OP,
                format!(
                    "`generator` yielded an element that did not match the expected structure. The expected structure was {spec}, but element {i} was {}",
                    e.spec()
                ),
            ))
        }
    }))
}

impl DatasetSource for Generator {
    fn iter(&self) -> Result<ElementIter> {
        Ok(checked((self.factory)(), self.spec.clone()))
    }
    fn cardinality(&self) -> Cardinality {
        Cardinality::Unknown
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "Generator"
    }
}

impl DatasetSource for OneShot {
    fn iter(&self) -> Result<ElementIter> {
        let it = lock(&self.iter).take().ok_or_else(|| {
            Error::precondition(
                "from_iter",
                "the iterator was consumed by an earlier epoch; use from_generator for a dataset that can be iterated again",
            )
        })?;
        Ok(checked(it, self.spec.clone()))
    }
    fn cardinality(&self) -> Cardinality {
        Cardinality::Unknown
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "Generator"
    }
}

impl Dataset {
    /// `tf.data.Dataset.from_generator(generator, output_signature=...)`: each epoch
    /// calls `generator` and yields what its iterator yields. Every element is checked
    /// against `output_signature`; a mismatch is an error item naming the element.
    /// The cardinality is unknown.
    pub fn from_generator<F, I>(generator: F, output_signature: ElementSpec) -> Dataset
    where
        F: Fn() -> I + Send + Sync + 'static,
        I: IntoIterator<Item = Result<Element>>,
        I::IntoIter: Send + 'static,
    {
        Dataset::new(Generator {
            factory: Box::new(move || Box::new(generator().into_iter())),
            spec: output_signature,
        })
    }

    /// A dataset over a one-shot iterator: the first epoch consumes it; starting a
    /// second epoch is a `FailedPrecondition` error (use [`Dataset::from_generator`]
    /// for data that can be produced again). Elements are checked against
    /// `output_signature`.
    pub fn from_iter<I>(iter: I, output_signature: ElementSpec) -> Dataset
    where
        I: IntoIterator<Item = Result<Element>>,
        I::IntoIter: Send + 'static,
    {
        Dataset::new(OneShot {
            iter: Mutex::new(Some(Box::new(iter.into_iter()))),
            spec: output_signature,
        })
    }
}
