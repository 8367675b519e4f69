//! [`Dataset`]: a re-iterable stream of elements, and [`DatasetSource`], the trait each
//! source and transformation implements.

use crate::cardinality::Cardinality;
use crate::element::{Element, ElementSpec};
use std::fmt;
use std::sync::Arc;
use tf_core::Result;

/// A stream of elements; errors are delivered in the stream where they occur.
pub type ElementIter = Box<dyn Iterator<Item = Result<Element>> + Send>;

/// A source or transformation: something that can start a fresh pass over its elements.
///
/// Implementations must be cheap to start and thread-safe; each call of [`iter`] is an
/// independent epoch (shuffles reshuffle, caches fill, files reopen).
///
/// [`iter`]: DatasetSource::iter
pub trait DatasetSource: Send + Sync + 'static {
    /// Starts a new pass over the elements.
    fn iter(&self) -> Result<ElementIter>;
    /// How many elements a pass produces.
    fn cardinality(&self) -> Cardinality;
    /// The structure, dtypes and shapes of the elements.
    fn element_spec(&self) -> ElementSpec;
    /// The transformation's name, for debugging (`"Batch"`, `"TFRecord"`, ...).
    fn name(&self) -> &'static str;
}

/// A dataset (`tf.data.Dataset`): an immutable description of a pipeline. Iterating it
/// (`for e in &ds` or [`Dataset::iter`]) runs one epoch; iterating again runs another.
/// Cloning is cheap.
#[derive(Clone)]
pub struct Dataset {
    source: Arc<dyn DatasetSource>,
}

impl Dataset {
    /// Wraps a source or transformation.
    pub fn new(source: impl DatasetSource) -> Dataset {
        Dataset {
            source: Arc::new(source),
        }
    }

    /// The underlying source (for transformations that wrap this dataset).
    pub fn source(&self) -> &Arc<dyn DatasetSource> {
        &self.source
    }

    /// Starts an epoch.
    pub fn iter(&self) -> Result<ElementIter> {
        self.source.iter()
    }

    /// The number of elements of an epoch, if known.
    pub fn cardinality(&self) -> Cardinality {
        self.source.cardinality()
    }

    /// The spec of the elements.
    pub fn element_spec(&self) -> ElementSpec {
        self.source.element_spec()
    }

    /// Runs one epoch and collects every element (stops at the first error).
    pub fn collect(&self) -> Result<Vec<Element>> {
        self.iter()?.collect()
    }
}

impl IntoIterator for &Dataset {
    type Item = Result<Element>;
    type IntoIter = ElementIter;

    /// Starts an epoch; a failure to start is the epoch's only item.
    fn into_iter(self) -> ElementIter {
        match self.iter() {
            Ok(it) => it,
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{}Dataset element_spec={}>",
            self.source.name(),
            self.element_spec()
        )
    }
}
