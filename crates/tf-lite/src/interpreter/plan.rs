//! Static memory planning: every intermediate tensor gets an offset in one arena so that
//! tensors alive at the same time never overlap (TensorFlow Lite's greedy-by-size
//! strategy: largest first, each at the lowest offset that fits).

use std::ops::Range;

/// Alignment of every tensor in the arena, in bytes.
pub(crate) const ALIGN: usize = 64;

/// A buffer to place: its size and the steps during which it is alive (inclusive).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub size: usize,
    pub first: usize,
    pub last: usize,
}

/// Round `n` up to a multiple of [`ALIGN`].
pub(crate) fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Offsets (byte ranges) for each request, and the arena size they need.
pub(crate) fn plan(requests: &[Request]) -> (Vec<Range<usize>>, usize) {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| {
        requests[b]
            .size
            .cmp(&requests[a].size)
            .then(requests[a].first.cmp(&requests[b].first))
    });
    let mut placed: Vec<(usize, Range<usize>)> = Vec::with_capacity(requests.len());
    let mut out = vec![0..0; requests.len()];
    let mut total = 0;
    for &i in &order {
        let r = requests[i];
        // Live neighbours, sorted by offset; take the first gap that fits.
        let mut busy: Vec<Range<usize>> = placed
            .iter()
            .filter(|(j, _)| {
                let q = requests[*j];
                q.first <= r.last && r.first <= q.last
            })
            .map(|(_, range)| range.clone())
            .collect();
        busy.sort_by_key(|range| range.start);
        let mut offset = 0;
        for b in &busy {
            if offset + r.size <= b.start {
                break;
            }
            offset = offset.max(align_up(b.end));
        }
        let range = offset..offset + r.size;
        total = total.max(align_up(range.end));
        out[i] = range.clone();
        placed.push((i, range));
    }
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_lifetimes_never_share_memory() {
        let reqs = [
            Request {
                size: 100,
                first: 0,
                last: 1,
            },
            Request {
                size: 200,
                first: 1,
                last: 2,
            },
            Request {
                size: 50,
                first: 2,
                last: 3,
            },
            Request {
                size: 300,
                first: 3,
                last: 4,
            },
            Request {
                size: 10,
                first: 0,
                last: 4,
            },
        ];
        let (ranges, total) = plan(&reqs);
        for i in 0..reqs.len() {
            assert!(ranges[i].end <= total);
            assert_eq!(ranges[i].start % ALIGN, 0);
            for j in 0..i {
                let live = reqs[i].first <= reqs[j].last && reqs[j].first <= reqs[i].last;
                let overlap = ranges[i].start < ranges[j].end && ranges[j].start < ranges[i].end;
                assert!(!(live && overlap), "{i} and {j} overlap: {ranges:?}");
            }
        }
        // Reuse: far less than the sum of sizes.
        assert!(total < 660, "{total}");
    }
}
