//! Gradient bucketing: many small gradients are packed into few large all-reduce
//! buffers (fewer collectives, each near the engine's peak bandwidth), and very large
//! gradients stay alone.

use std::ops::Range;

/// The default bucket size: 25 MiB (PyTorch DDP's and Horovod's choice).
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

/// Splits tensors of `sizes` bytes, in order, into consecutive buckets of about
/// `bucket_bytes`: a bucket closes once it holds at least `bucket_bytes` (so a tensor
/// larger than a bucket gets one of its own). Empty input gives no buckets;
/// `bucket_bytes == 0` gives one bucket per tensor.
pub fn plan_buckets(sizes: &[usize], bucket_bytes: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, &s) in sizes.iter().enumerate() {
        bytes = bytes.saturating_add(s);
        if bytes >= bucket_bytes {
            out.push(start..i + 1);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The default size of the first bucket: 1 MiB (PyTorch DDP's), small so the first
/// all-reduce starts early in the backward pass.
pub const DEFAULT_FIRST_BUCKET_BYTES: usize = 1 << 20;

/// [`plan_buckets`] whose first bucket closes at `first_bucket_bytes` instead (the
/// gradients that the backward pass produces first go out early).
pub fn plan_buckets_with_first(
    sizes: &[usize],
    first_bucket_bytes: usize,
    bucket_bytes: usize,
) -> Vec<Range<usize>> {
    let Some(first_end) = plan_buckets(sizes, first_bucket_bytes)
        .first()
        .map(|r| r.end)
    else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(2);
    out.push(0..first_end);
    out.extend(
        plan_buckets(sizes.get(first_end..).unwrap_or_default(), bucket_bytes)
            .into_iter()
            .map(|r| r.start + first_end..r.end + first_end),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bucket_can_be_smaller() {
        assert!(plan_buckets_with_first(&[], 4, 10).is_empty());
        assert_eq!(
            plan_buckets_with_first(&[4, 4, 4, 4, 4, 4], 4, 10),
            vec![0..1, 1..4, 4..6]
        );
        assert_eq!(plan_buckets_with_first(&[1, 1], 4, 10), vec![0..2]);
        assert_eq!(
            plan_buckets_with_first(&[4, 4, 4], 10, 10),
            plan_buckets(&[4, 4, 4], 10)
        );
    }

    #[test]
    fn buckets_cover_in_order() {
        assert!(plan_buckets(&[], 10).is_empty());
        assert_eq!(plan_buckets(&[4, 4, 4, 4, 4], 10), vec![0..3, 3..5]);
        assert_eq!(plan_buckets(&[100, 1, 1], 10), vec![0..1, 1..3]);
        assert_eq!(plan_buckets(&[1, 2, 3], 0), vec![0..1, 1..2, 2..3]);
        assert_eq!(plan_buckets(&[1, 2, 3], usize::MAX), vec![0..3]);
        // Every index exactly once, in order.
        let sizes: Vec<usize> = (0..37).map(|i| (i * 7919) % 50).collect();
        let b = plan_buckets(&sizes, 60);
        let flat: Vec<usize> = b.iter().flat_map(|r| r.clone()).collect();
        assert_eq!(flat, (0..37).collect::<Vec<_>>());
    }
}
