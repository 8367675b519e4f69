//! The crate's error type.
//!
//! Variants follow TensorFlow's status codes so upper layers (the model server in
//! particular) can map them one to one. Every message names the op (or file) and what
//! was expected, e.g. `MatMul: inner dimensions differ: [3,5] x [4,2]`.

use std::borrow::Cow;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by tensors, ops, kernels and I/O in tf-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad shape, dtype, attribute or value passed to an op (TensorFlow's `InvalidArgument`).
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The op (or API function) that rejected its input.
        op: Cow<'static, str>,
        /// What was wrong and what was expected.
        message: String,
    },
    /// An index or axis outside its valid range (TensorFlow's `OutOfRange`/`InvalidArgument`).
    #[error("{op}: {message}")]
    OutOfRange {
        /// The op that rejected the index.
        op: Cow<'static, str>,
        /// Which index, and the valid range.
        message: String,
    },
    /// The op exists but not for this dtype or device (TensorFlow's `Unimplemented`).
    #[error("{op}: {message}")]
    Unimplemented {
        /// The op.
        op: Cow<'static, str>,
        /// What is not supported.
        message: String,
    },
    /// The system is not in a state the op needs (e.g. a symbolic tensor read eagerly).
    #[error("{op}: {message}")]
    FailedPrecondition {
        /// The op or API call.
        op: Cow<'static, str>,
        /// What precondition failed.
        message: String,
    },
    /// Memory for a result could not be allocated (TensorFlow's `ResourceExhausted`).
    #[error("{op}: {message}")]
    ResourceExhausted {
        /// The op or API call that needed the memory.
        op: Cow<'static, str>,
        /// How much was requested.
        message: String,
    },
    /// A named thing (op, device, file) does not exist.
    #[error("{what} not found: {name}")]
    NotFound {
        /// The kind of thing looked up ("op", "device", ...).
        what: &'static str,
        /// The name that was looked up.
        name: String,
    },
    /// File or stream I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, including the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents are not what its format requires.
    #[error("{context}: {message}")]
    Format {
        /// The file (or stream) being read.
        context: String,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    /// An `InvalidArgument` error for `op`.
    pub fn invalid(op: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op: op.into(),
            message: message.into(),
        }
    }

    /// An `OutOfRange` error for `op`.
    pub fn out_of_range(op: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::OutOfRange {
            op: op.into(),
            message: message.into(),
        }
    }

    /// An `Unimplemented` error for `op`.
    pub fn unimplemented(op: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::Unimplemented {
            op: op.into(),
            message: message.into(),
        }
    }

    /// A `FailedPrecondition` error for `op`.
    pub fn precondition(op: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::FailedPrecondition {
            op: op.into(),
            message: message.into(),
        }
    }

    /// A `ResourceExhausted` error for `op`.
    pub fn exhausted(op: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::ResourceExhausted {
            op: op.into(),
            message: message.into(),
        }
    }

    /// An I/O error with context (which file, doing what).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A malformed-file error with context.
    pub fn format(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Format {
            context: context.into(),
            message: message.into(),
        }
    }

    /// The TensorFlow status code name this error maps to (`"INVALID_ARGUMENT"`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } | Error::Format { .. } => "INVALID_ARGUMENT",
            Error::OutOfRange { .. } => "OUT_OF_RANGE",
            Error::Unimplemented { .. } => "UNIMPLEMENTED",
            Error::FailedPrecondition { .. } => "FAILED_PRECONDITION",
            Error::NotFound { .. } => "NOT_FOUND",
            Error::ResourceExhausted { .. } => "RESOURCE_EXHAUSTED",
            Error::Io { .. } => "UNKNOWN",
        }
    }
}
