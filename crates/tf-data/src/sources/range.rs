//! `Dataset.range(start, stop, step)`.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use tf_core::{DType, Element as _, Error, PartialShape, Result, Tensor, with_dtype};

struct Range {
    start: i64,
    step: i64,
    count: u64,
    dtype: DType,
}

impl DatasetSource for Range {
    fn iter(&self) -> Result<ElementIter> {
        let (start, step, dtype) = (self.start, self.step, self.dtype);
        Ok(Box::new((0..self.count).map(move |i| {
            // start + i * step stays within [start, stop) so it cannot overflow; wrapping
            // keeps debug builds from checking what is already bounded.
            let v = start.wrapping_add((i as i64).wrapping_mul(step));
            Ok(Element::Tensor(
                with_dtype!(dtype, T => Tensor::from_scalar(T::from_i64(v))),
            ))
        })))
    }
    fn cardinality(&self) -> Cardinality {
        Cardinality::Finite(self.count)
    }
    fn element_spec(&self) -> ElementSpec {
        ElementSpec::tensor(self.dtype, PartialShape::scalar())
    }
    fn name(&self) -> &'static str {
        "Range"
    }
}

/// The number of elements of `range(start, stop, step)`.
fn range_count(start: i64, stop: i64, step: i64) -> u64 {
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let n = if step > 0 {
        if stop <= start {
            0
        } else {
            (stop - start + step - 1) / step
        }
    } else if stop >= start {
        0
    } else {
        (start - stop + (-step) - 1) / (-step)
    };
    n as u64
}

impl Dataset {
    /// `tf.data.Dataset.range(start, stop, step)`: int64 scalars `start`,
    /// `start + step`, ... up to but excluding `stop` (like Python's `range`).
    ///
    /// Errors when `step` is 0.
    pub fn range(start: i64, stop: i64, step: i64) -> Result<Dataset> {
        Dataset::range_with_dtype(start, stop, step, DType::I64)
    }

    /// [`Dataset::range`] producing scalars of `dtype` (`output_type`; values are
    /// computed in int64 and cast).
    ///
    /// Errors when `step` is 0 or `dtype` is bool.
    pub fn range_with_dtype(start: i64, stop: i64, step: i64, dtype: DType) -> Result<Dataset> {
        if step == 0 {
            return Err(Error::invalid(
                "RangeDataset",
                "step must be a non-zero integer",
            ));
        }
        if dtype == DType::Bool {
            return Err(Error::invalid(
                "RangeDataset",
                "output_type must be numeric, got bool",
            ));
        }
        Ok(Dataset::new(Range {
            start,
            step,
            count: range_count(start, stop, step),
            dtype,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::range_count;

    #[test]
    fn counts_match_python_range() {
        for (a, b, s) in [
            (0, 7, 1),
            (0, 7, 3),
            (7, 0, -2),
            (3, 3, 1),
            (5, 0, 1),
            (0, 5, -1),
        ] {
            let py = {
                let mut n = 0u64;
                let mut v = a;
                while (s > 0 && v < b) || (s < 0 && v > b) {
                    n += 1;
                    v += s;
                }
                n
            };
            assert_eq!(range_count(a, b, s), py, "{a} {b} {s}");
        }
        assert_eq!(range_count(i64::MIN, i64::MAX, i64::MAX), 3);
    }
}
