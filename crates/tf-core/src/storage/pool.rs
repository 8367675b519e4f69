//! A bounded pool of large host buffers, reused by size.
//!
//! Fresh multi-megabyte allocations come from the OS as untouched pages, and the first
//! write to each page faults: for a training step that allocates the same activation
//! shapes every iteration, that costs as much as the arithmetic. Buffers of at least
//! [`MIN_POOLED_BYTES`] are therefore returned here when their last tensor drops, and an
//! allocation of exactly the same (dtype, capacity) takes one back. The pool holds at
//! most [`pool_limit`] bytes (default 1 GiB, change it with [`set_pool_limit`]); what
//! does not fit is freed.

use super::HostBuffer;
use crate::dtype::{DType, Element};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Buffers smaller than this are left to the system allocator (they do not fault).
pub const MIN_POOLED_BYTES: usize = 256 << 10;

/// At most this many idle buffers are kept per (dtype, capacity).
const MAX_PER_SIZE: usize = 16;

static LIMIT: AtomicUsize = AtomicUsize::new(1 << 30);

#[derive(Default)]
struct Pool {
    idle: HashMap<(DType, usize), Vec<HostBuffer>>,
    bytes: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// The most bytes the pool keeps idle.
pub fn pool_limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// Sets the most bytes the pool keeps idle; 0 turns pooling off. Frees what no longer
/// fits.
pub fn set_pool_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
    if bytes == 0 {
        release_pooled_memory();
    }
}

/// Bytes currently held idle.
pub fn pooled_bytes() -> usize {
    POOL.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(0, |p| p.bytes)
}

/// Frees every idle buffer.
pub fn release_pooled_memory() {
    let idle: Vec<HostBuffer> = {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(p) => {
                p.bytes = 0;
                p.idle.drain().flat_map(|(_, v)| v).collect()
            }
            None => Vec::new(),
        }
    };
    idle.into_iter().for_each(HostBuffer::free);
}

/// Keeps `buf` for reuse if it fits, otherwise frees it.
pub(crate) fn recycle(buf: HostBuffer) {
    let bytes = buf.byte_capacity();
    let limit = pool_limit();
    let rejected = {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pool = guard.get_or_insert_with(Pool::default);
        let key = (buf.dtype(), bytes / buf.dtype().size_of());
        let slot = pool.idle.entry(key).or_default();
        if pool.bytes + bytes <= limit && slot.len() < MAX_PER_SIZE {
            slot.push(buf);
            pool.bytes += bytes;
            None
        } else {
            Some(buf)
        }
    };
    if let Some(b) = rejected {
        b.free();
    }
}

/// An empty vector with capacity exactly `n` from the pool, if one is idle.
pub(crate) fn take<T: Element>(n: usize) -> Option<Vec<T>> {
    if n * std::mem::size_of::<T>() < MIN_POOLED_BYTES {
        return None;
    }
    let mut buf = {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pool = guard.as_mut()?;
        let slot = pool.idle.get_mut(&(T::DTYPE, n))?;
        let buf = slot.pop()?;
        pool.bytes -= n * std::mem::size_of::<T>();
        buf
    };
    let v = T::vec_mut(&mut buf).map(std::mem::take);
    // `buf` is now an empty vector of its variant: dropping it recycles nothing.
    drop(buf);
    v.map(|mut v| {
        v.clear();
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_reused_and_small_ones_are_not() {
        let n = MIN_POOLED_BYTES / 4 + 13; // a size no other test uses
        let v: Vec<f32> = Vec::with_capacity(n);
        let ptr = v.as_ptr();
        drop(HostBuffer::F32(v));
        let again = take::<f32>(n).expect("pooled");
        assert_eq!(again.as_ptr(), ptr);
        assert_eq!(again.capacity(), n);
        assert!(again.is_empty());
        assert!(take::<f32>(n).is_none());
        drop(HostBuffer::I8(Vec::with_capacity(16)));
        assert!(take::<i8>(16).is_none());
    }
}
