//! Allocation of kernel outputs: fallible (a shape too large for memory is a
//! `ResourceExhausted` error, not an abort) and served from the buffer
//! [`pool`] when a buffer of the same size is idle.

use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::storage::pool;

/// An empty vector with capacity for exactly `n` elements.
pub fn alloc_uninit<T: Element>(n: usize) -> Result<Vec<T>> {
    if let Some(v) = pool::take::<T>(n) {
        return Ok(v);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::exhausted(
            "allocate",
            format!(
                "cannot allocate {n} elements of {} ({} bytes)",
                T::DTYPE,
                n.saturating_mul(std::mem::size_of::<T>())
            ),
        )
    })?;
    Ok(v)
}

/// A vector of `n` copies of `value`.
pub fn alloc_filled<T: Element>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = alloc_uninit::<T>(n)?;
    v.resize(n, value);
    Ok(v)
}

/// A vector of `n` zeros (`false` for bool).
pub fn alloc_zeroed<T: Element>(n: usize) -> Result<Vec<T>> {
    alloc_filled(n, T::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors() {
        let e = alloc_uninit::<f64>(usize::MAX / 8).unwrap_err();
        assert_eq!(e.code(), "RESOURCE_EXHAUSTED");
        assert!(e.to_string().contains("float64"), "{e}");
        assert_eq!(alloc_zeroed::<i32>(3).unwrap(), vec![0; 3]);
        assert_eq!(alloc_filled(2, true).unwrap(), vec![true, true]);
    }
}
