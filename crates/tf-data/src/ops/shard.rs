//! `shard`: every `num_shards`-th element, starting at `index`.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::ElementSpec;
use tf_core::{Error, Result};

struct Shard {
    input: Dataset,
    num_shards: u64,
    index: u64,
}

impl DatasetSource for Shard {
    fn iter(&self) -> Result<ElementIter> {
        let (n, index) = (self.num_shards, self.index);
        let mut input = self.input.iter()?;
        let mut position = 0u64;
        Ok(Box::new(std::iter::from_fn(move || {
            loop {
                let item = input.next()?;
                let p = position;
                position += 1;
                // Errors met while skipping are passed on, as in TensorFlow.
                if p % n == index || item.is_err() {
                    return Some(item);
                }
            }
        })))
    }
    fn cardinality(&self) -> Cardinality {
        let (k, i) = (self.num_shards, self.index);
        self.input
            .cardinality()
            .map(|n| n / k + u64::from(i < n % k))
    }
    fn element_spec(&self) -> ElementSpec {
        self.input.element_spec()
    }
    fn name(&self) -> &'static str {
        "Shard"
    }
}

impl Dataset {
    /// `Dataset.shard(num_shards, index)`: the elements at positions
    /// `index, index + num_shards, ...` (for one worker of several). An error item at
    /// any position is passed on and the positions stay aligned (TensorFlow also
    /// reports it but then shifts to other positions).
    ///
    /// Errors unless `num_shards >= 1` and `index < num_shards`.
    pub fn shard(&self, num_shards: u64, index: u64) -> Result<Dataset> {
        if num_shards == 0 {
            return Err(Error::invalid(
                "ShardDataset",
                "Number of shards must be greater than zero",
            ));
        }
        if index >= num_shards {
            return Err(Error::invalid(
                "ShardDataset",
                format!(
                    "Index must be between 0 and {}, got {index}",
                    num_shards - 1
                ),
            ));
        }
        Ok(Dataset::new(Shard {
            input: self.clone(),
            num_shards,
            index,
        }))
    }
}
