//! `tf.train.Example` / `SequenceExample` protobufs (encoded and decoded by hand against
//! the wire format) and `tf.io.parse_example` with a feature spec.

mod parse;
mod types;
mod wire;

pub use parse::{
    ExampleParser, FeatureSpec, FeatureType, parse_example, parse_single_example, sparse_to_dense,
};
pub use types::{
    Example, Feature, FeatureList, FeatureLists, Features, OrderedMap, SequenceExample,
};
