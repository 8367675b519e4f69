//! `tf.train.Example` / `SequenceExample` protobufs (encoded and decoded by hand against
//! the wire format), `tf.io.parse_example` and `tf.io.parse_sequence_example` with
//! feature specs.

mod parse;
mod sequence;
mod sparse;
mod spec;
mod types;
mod values;
mod wire;

pub use parse::{ExampleParser, parse_example, parse_single_example};
pub use sequence::{SequenceExampleParser, parse_sequence_example, parse_single_sequence_example};
pub use sparse::sparse_to_dense;
pub use spec::{FeatureSpec, FeatureType};
pub use types::{
    Example, Feature, FeatureList, FeatureLists, Features, OrderedMap, SequenceExample,
};
