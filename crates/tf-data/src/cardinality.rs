//! Dataset cardinality: known, infinite or unknown (`tf.data.experimental.cardinality`).

/// How many elements a dataset produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cardinality {
    /// Exactly this many.
    Finite(u64),
    /// Never ends (`repeat()` of a non-empty dataset).
    Infinite,
    /// Not knowable without iterating (after `filter`, for file sources, ...).
    Unknown,
}

impl Cardinality {
    /// TensorFlow's integer encoding: the count, `-1` infinite, `-2` unknown.
    pub fn as_i64(self) -> i64 {
        match self {
            Cardinality::Finite(n) => n.min(i64::MAX as u64) as i64,
            Cardinality::Infinite => -1,
            Cardinality::Unknown => -2,
        }
    }

    /// The count, if finite.
    pub fn finite(self) -> Option<u64> {
        match self {
            Cardinality::Finite(n) => Some(n),
            _ => None,
        }
    }

    /// Applies `f` to a finite count; infinite and unknown stay as they are.
    pub fn map(self, f: impl FnOnce(u64) -> u64) -> Cardinality {
        match self {
            Cardinality::Finite(n) => Cardinality::Finite(f(n)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_codes() {
        assert_eq!(Cardinality::Finite(7).as_i64(), 7);
        assert_eq!(Cardinality::Infinite.as_i64(), -1);
        assert_eq!(Cardinality::Unknown.as_i64(), -2);
        assert_eq!(
            Cardinality::Finite(7).map(|n| n / 2),
            Cardinality::Finite(3)
        );
        assert_eq!(Cardinality::Infinite.map(|n| n / 2), Cardinality::Infinite);
    }
}
