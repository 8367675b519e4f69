//! Feature specs: how `parse_example` / `parse_sequence_example` turn a feature into
//! tensors (`tf.io.FixedLenFeature`, `VarLenFeature`, `FixedLenSequenceFeature`,
//! `RaggedFeature`).

use super::types::Feature;
use std::fmt;
use tf_core::DType;

/// The value type of a parsed feature (`tf.float32`, `tf.int64` or `tf.string`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureType {
    /// `float_list` → float32 tensors.
    Float32,
    /// `int64_list` → int64 tensors.
    Int64,
    /// `bytes_list` → string tensors.
    String,
}

impl FeatureType {
    /// TensorFlow's dtype name (`"float"`, `"int64"`, `"string"`).
    pub fn name(self) -> &'static str {
        match self {
            FeatureType::Float32 => "float",
            FeatureType::Int64 => "int64",
            FeatureType::String => "string",
        }
    }

    /// The `Feature` oneof field holding this type's list.
    pub(crate) fn field(self) -> u32 {
        match self {
            FeatureType::String => 1,
            FeatureType::Float32 => 2,
            FeatureType::Int64 => 3,
        }
    }
}

impl fmt::Display for FeatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type name of a `Feature` oneof field number.
pub(crate) fn field_type(field: u32) -> &'static str {
    match field {
        1 => "string",
        2 => "float",
        _ => "int64",
    }
}

/// How to parse one feature.
///
/// Sparse results (`VarLen`) are map elements `{"indices": int64 [n, rank], "values":
/// [n], "dense_shape": int64 [rank]}` (TensorFlow's `SparseTensor` components); ragged
/// results (`Ragged`, and the batched forms) are map elements `{"values": ..,
/// "row_splits": [rows + 1]}` whose `values` is itself such a map for two ragged
/// dimensions (TensorFlow's `RaggedTensor.values` / `.row_splits`).
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureSpec {
    /// `tf.io.FixedLenFeature(shape, dtype, default_value)`: exactly
    /// `prod(shape)` values, giving a dense tensor of `shape` (`[batch] + shape` for a
    /// batch). A missing feature takes `default` (all of it, or one value repeated), or
    /// is an error when there is none. An `Example` feature or a `SequenceExample`
    /// context feature.
    FixedLen {
        /// The shape of the parsed tensor.
        shape: Vec<usize>,
        /// The value type.
        dtype: FeatureType,
        /// Values for examples that lack the feature.
        default: Option<Feature>,
    },
    /// `tf.io.VarLenFeature(dtype)`: any number of values, giving sparse components:
    /// rank 1 for one example, 2 for a batch (dense width: the longest example); for a
    /// `SequenceExample` feature list, rank 2 (`[steps, longest step]`) for one example
    /// and 3 for a batch.
    VarLen {
        /// The value type.
        dtype: FeatureType,
    },
    /// `tf.io.FixedLenSequenceFeature(shape, dtype, allow_missing, default_value)`: a
    /// dense tensor of `[rows] + shape`.
    ///
    /// In a `SequenceExample` feature list every step holds one row of `prod(shape)`
    /// values; a batch pads to the longest sequence with zeros (empty strings) and
    /// `parse_sequence_example` reports each sequence's length. A missing list is an
    /// error unless `allow_missing` (then zero steps); `default` must be `None`.
    ///
    /// In an `Example` (`parse_example`; `allow_missing` must be true) the feature's
    /// values are split into rows of `prod(shape)`; a batch pads to the most rows with
    /// `default` (one value, else zero).
    FixedLenSequence {
        /// The shape of one row (step).
        shape: Vec<usize>,
        /// The value type.
        dtype: FeatureType,
        /// Whether a missing feature (list) gives zero rows instead of an error.
        allow_missing: bool,
        /// The padding value of a batch of `Example`s (one value).
        default: Option<Feature>,
    },
    /// `tf.io.RaggedFeature(dtype, row_splits_dtype)` without partitions: the values of
    /// one example as a 1-D tensor (a `SequenceExample` feature list: ragged
    /// `[steps, (values)]`), a batch as ragged `[batch, (values)]` (feature lists:
    /// `[batch, (steps), (values)]`).
    Ragged {
        /// The value type.
        dtype: FeatureType,
        /// The dtype of `row_splits`: int32 (TensorFlow's default) or int64.
        row_splits_dtype: DType,
    },
}

impl FeatureSpec {
    /// A required fixed-length feature.
    pub fn fixed_len(shape: impl Into<Vec<usize>>, dtype: FeatureType) -> FeatureSpec {
        FeatureSpec::FixedLen {
            shape: shape.into(),
            dtype,
            default: None,
        }
    }

    /// Sets the default of a fixed-length feature (the padding value of a
    /// fixed-length sequence feature; ignored for other kinds).
    pub fn with_default(self, value: Feature) -> FeatureSpec {
        match self {
            FeatureSpec::FixedLen { shape, dtype, .. } => FeatureSpec::FixedLen {
                shape,
                dtype,
                default: Some(value),
            },
            FeatureSpec::FixedLenSequence {
                shape,
                dtype,
                allow_missing,
                ..
            } => FeatureSpec::FixedLenSequence {
                shape,
                dtype,
                allow_missing,
                default: Some(value),
            },
            other => other,
        }
    }

    /// A variable-length feature.
    pub fn var_len(dtype: FeatureType) -> FeatureSpec {
        FeatureSpec::VarLen { dtype }
    }

    /// A fixed-length sequence feature with rows of `shape` (no padding default).
    pub fn fixed_len_sequence(
        shape: impl Into<Vec<usize>>,
        dtype: FeatureType,
        allow_missing: bool,
    ) -> FeatureSpec {
        FeatureSpec::FixedLenSequence {
            shape: shape.into(),
            dtype,
            allow_missing,
            default: None,
        }
    }

    /// A ragged feature with int32 row splits (TensorFlow's default).
    pub fn ragged(dtype: FeatureType) -> FeatureSpec {
        FeatureSpec::Ragged {
            dtype,
            row_splits_dtype: DType::I32,
        }
    }

    /// The value type.
    pub fn dtype(&self) -> FeatureType {
        match self {
            FeatureSpec::FixedLen { dtype, .. }
            | FeatureSpec::VarLen { dtype }
            | FeatureSpec::FixedLenSequence { dtype, .. }
            | FeatureSpec::Ragged { dtype, .. } => *dtype,
        }
    }

    /// TensorFlow's class name of the spec, for errors.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            FeatureSpec::FixedLen { .. } => "FixedLenFeature",
            FeatureSpec::VarLen { .. } => "VarLenFeature",
            FeatureSpec::FixedLenSequence { .. } => "FixedLenSequenceFeature",
            FeatureSpec::Ragged { .. } => "RaggedFeature",
        }
    }
}
