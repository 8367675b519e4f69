//! Block-aligned parallel output filling for kernels whose outputs come in independent
//! blocks (one outer index of an `(outer, n, inner)` layout: scans, sorts, argmax).

use crate::kernels::parallel::PAR_THRESHOLD;
use rayon::prelude::*;

/// Elements of work per parallel task.
const TASK_WORK: usize = 1 << 15;

/// Blocks per task so that a task does about [`TASK_WORK`] work.
fn blocks_per_task(work_per_block: usize) -> usize {
    (TASK_WORK / work_per_block.max(1)).max(1)
}

fn parallel(n_blocks: usize, work_per_block: usize) -> bool {
    n_blocks > 1
        && n_blocks.saturating_mul(work_per_block) >= PAR_THRESHOLD
        && rayon::current_num_threads() > 1
}

/// A vector of `n_blocks * block` elements (initially `fill`), where
/// `f(first_block, chunk)` computes whole blocks `first_block..` into `chunk`; chunks
/// run in parallel when the total work (`work_per_block` per block) is large.
pub(crate) fn fill_blocks<T: Clone + Send + Sync>(
    fill: T,
    n_blocks: usize,
    block: usize,
    work_per_block: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut out = vec![fill; n_blocks * block];
    if out.is_empty() {
        return out;
    }
    if parallel(n_blocks, work_per_block) {
        let per = blocks_per_task(work_per_block);
        out.par_chunks_mut(per * block)
            .enumerate()
            .for_each(|(c, chunk)| f(c * per, chunk));
    } else {
        f(0, &mut out);
    }
    out
}

/// [`fill_blocks`] for two outputs filled together (values and indices): blocks of
/// `block_a` and `block_b` elements.
pub(crate) fn fill_blocks2<A: Clone + Send + Sync, B: Clone + Send + Sync>(
    fill: (A, B),
    n_blocks: usize,
    (block_a, block_b): (usize, usize),
    work_per_block: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) -> (Vec<A>, Vec<B>) {
    let mut a = vec![fill.0; n_blocks * block_a];
    let mut b = vec![fill.1; n_blocks * block_b];
    if a.is_empty() && b.is_empty() {
        return (a, b);
    }
    if parallel(n_blocks, work_per_block) && block_a > 0 && block_b > 0 {
        let per = blocks_per_task(work_per_block);
        a.par_chunks_mut(per * block_a)
            .zip(b.par_chunks_mut(per * block_b))
            .enumerate()
            .for_each(|(c, (ca, cb))| f(c * per, ca, cb));
    } else {
        f(0, &mut a, &mut b);
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_filled_once_each() {
        for (n, block) in [(0, 3), (5, 0), (3, 4), (PAR_THRESHOLD, 2)] {
            let v = fill_blocks(0usize, n, block, 64, |first, chunk| {
                for (k, c) in chunk.chunks_mut(block).enumerate() {
                    c.fill(first + k + 1);
                }
            });
            assert_eq!(v.len(), n * block);
            for (i, &x) in v.iter().enumerate() {
                assert_eq!(x, i / block + 1);
            }
        }
    }
}
