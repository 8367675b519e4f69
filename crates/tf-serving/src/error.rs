//! Errors with TensorFlow's canonical status codes, mapped to HTTP and gRPC as TF Serving
//! maps them.

use std::fmt;

/// TensorFlow's canonical error codes (`tensorflow.error.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Not an error.
    Ok = 0,
    /// The caller cancelled.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// Bad request content.
    InvalidArgument = 3,
    /// A deadline passed.
    DeadlineExceeded = 4,
    /// No such model, version or signature.
    NotFound = 5,
    /// Already exists.
    AlreadyExists = 6,
    /// Not allowed.
    PermissionDenied = 7,
    /// A queue or a limit is full.
    ResourceExhausted = 8,
    /// The system is not in a state to do this.
    FailedPrecondition = 9,
    /// Aborted.
    Aborted = 10,
    /// Out of range.
    OutOfRange = 11,
    /// Not implemented.
    Unimplemented = 12,
    /// Internal error.
    Internal = 13,
    /// Temporarily unavailable.
    Unavailable = 14,
    /// Data loss.
    DataLoss = 15,
    /// No credentials.
    Unauthenticated = 16,
}

impl Code {
    /// The HTTP status TF Serving's REST API answers for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Code::Ok => 200,
            Code::Cancelled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }

    /// The name TF Serving writes in status JSON (`"OK"`, `"NOT_FOUND"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The gRPC status code (the same numbers).
    pub fn grpc(self) -> tonic::Code {
        tonic::Code::from_i32(self as i32)
    }
}

/// A request or load failure: a canonical code and a message for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServingError {
    /// The canonical code.
    pub code: Code,
    /// The message (`{"error": message}` over REST, the status message over gRPC).
    pub message: String,
}

impl ServingError {
    /// An error with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ServingError {
            code,
            message: message.into(),
        }
    }

    /// `INVALID_ARGUMENT`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }
}

impl fmt::Display for ServingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for ServingError {}

impl From<tf_core::Error> for ServingError {
    fn from(e: tf_core::Error) -> Self {
        ServingError::invalid(e.to_string())
    }
}

impl From<tf_lite::Error> for ServingError {
    fn from(e: tf_lite::Error) -> Self {
        ServingError::invalid(e.to_string())
    }
}

impl From<ServingError> for tonic::Status {
    fn from(e: ServingError) -> Self {
        tonic::Status::new(e.code.grpc(), e.message)
    }
}

/// The result type of this crate.
pub type Result<T, E = ServingError> = std::result::Result<T, E>;
