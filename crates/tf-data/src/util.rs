//! Small shared helpers: error annotation, panic capture for worker threads, poison-free
//! locking, and the parallelism arguments (`AUTOTUNE`).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};
use tf_core::{Error, Result};

/// `tf.data.AUTOTUNE`: let the runtime pick a parallelism or buffer size.
pub const AUTOTUNE: i64 = -1;

/// Prefixes an error's message with `context`, keeping its kind (status code).
pub(crate) fn annotate(err: Error, context: impl std::fmt::Display) -> Error {
    match err {
        Error::InvalidArgument { op, message } => Error::InvalidArgument {
            op,
            message: format!("{context}: {message}"),
        },
        Error::OutOfRange { op, message } => Error::OutOfRange {
            op,
            message: format!("{context}: {message}"),
        },
        Error::Unimplemented { op, message } => Error::Unimplemented {
            op,
            message: format!("{context}: {message}"),
        },
        Error::FailedPrecondition { op, message } => Error::FailedPrecondition {
            op,
            message: format!("{context}: {message}"),
        },
        Error::ResourceExhausted { op, message } => Error::ResourceExhausted {
            op,
            message: format!("{context}: {message}"),
        },
        Error::Io {
            context: inner,
            source,
        } => Error::Io {
            context: format!("{context}: {inner}"),
            source,
        },
        Error::Format {
            context: inner,
            message,
        } => Error::Format {
            context: format!("{context}: {inner}"),
            message,
        },
        other => other,
    }
}

/// The message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs `f`, turning a panic into an `Internal`-like error naming `op` (worker threads
/// must never die silently: the consumer would wait forever or end the epoch early).
pub(crate) fn catch<R>(op: &'static str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(Error::precondition(
            op,
            format!("user code panicked: {}", panic_message(p.as_ref())),
        )),
    }
}

/// Locks a mutex, ignoring poisoning (panics are caught before they can poison state
/// that matters; a poisoned lock still holds consistent data here).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on a condition variable, ignoring poisoning.
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}

/// The number of worker threads `AUTOTUNE` stands for: the available CPU cores.
pub(crate) fn autotune_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Resolves a `num_parallel_calls`-style argument: `AUTOTUNE` or a positive count.
pub(crate) fn parallelism(op: &'static str, what: &str, n: i64) -> Result<usize> {
    match n {
        AUTOTUNE => Ok(autotune_threads()),
        n if n >= 1 => {
            usize::try_from(n).map_err(|_| Error::invalid(op, format!("{what} {n} is too large")))
        }
        n => Err(Error::invalid(
            op,
            format!("{what} must be positive or AUTOTUNE (-1), got {n}"),
        )),
    }
}

/// Spawns a named worker thread; failing to start one is a `ResourceExhausted` error.
pub(crate) fn spawn(
    op: &'static str,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("tf-data-{op}"))
        .spawn(f)
        .map_err(|e| Error::exhausted(op, format!("cannot start a worker thread: {e}")))
}

/// A copy of an error (errors are not `Clone`; I/O errors keep their kind and message).
pub(crate) fn clone_error(err: &Error) -> Error {
    match err {
        Error::InvalidArgument { op, message } => Error::InvalidArgument {
            op: op.clone(),
            message: message.clone(),
        },
        Error::OutOfRange { op, message } => Error::OutOfRange {
            op: op.clone(),
            message: message.clone(),
        },
        Error::Unimplemented { op, message } => Error::Unimplemented {
            op: op.clone(),
            message: message.clone(),
        },
        Error::FailedPrecondition { op, message } => Error::FailedPrecondition {
            op: op.clone(),
            message: message.clone(),
        },
        Error::ResourceExhausted { op, message } => Error::ResourceExhausted {
            op: op.clone(),
            message: message.clone(),
        },
        Error::NotFound { what, name } => Error::NotFound {
            what,
            name: name.clone(),
        },
        Error::Io { context, source } => Error::Io {
            context: context.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::Format { context, message } => Error::Format {
            context: context.clone(),
            message: message.clone(),
        },
        other => Error::precondition("tf-data", other.to_string()),
    }
}
