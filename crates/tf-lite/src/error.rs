//! The crate's error type.

use std::borrow::Cow;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, writing, converting or running a `.tflite` model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid TFLite flatbuffer, or the model they hold is inconsistent
    /// (an index out of range, a buffer of the wrong size, ...).
    #[error("invalid .tflite model: {0}")]
    Format(String),
    /// The model uses something this implementation does not support (an operator, a tensor
    /// type, an option); the message names it.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A caller passed something wrong: an input of the wrong shape or dtype, an unknown
    /// signature or tensor name, a bad option.
    #[error("{op}: {message}")]
    InvalidArgument {
        /// What was called (an op, a method).
        op: Cow<'static, str>,
        /// What is wrong, naming the values involved.
        message: String,
    },
    /// An error from tf-core (tensor creation, `.npy` files, ...).
    #[error(transparent)]
    Core(#[from] tf_core::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl Error {
    /// A [`Error::Format`] error.
    pub fn format(message: impl Into<String>) -> Self {
        Error::Format(message.into())
    }

    /// A [`Error::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::Unsupported(message.into())
    }

    /// An [`Error::InvalidArgument`] error from `op`.
    pub fn invalid(op: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op: op.into(),
            message: message.into(),
        }
    }
}
