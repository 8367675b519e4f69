//! The layout engine shared by every reduction: from any view and any set of reduced
//! axes to one accumulator per output.
//!
//! A [`Plan`] drops size-1 dimensions, orders the rest by input stride (outermost in
//! memory first; the reduction order is free, outputs keep their row-major position
//! through per-dimension output strides) and merges neighbours that are both reduced or
//! both kept and contiguous with each other. What is left decides the inner loop:
//!
//! - innermost dimension reduced ("row" reductions, full reductions): each output folds
//!   contiguous runs with the reducer's vectorized multi-accumulator `run`;
//! - innermost dimension kept ("column" reductions): whole rows of consecutive outputs
//!   are folded at once with the reducer's vectorized `cols`;
//! - anything else (strided or transposed views): the same loops with strided steps.
//!
//! Above [`PAR_THRESHOLD`] elements the work is split with rayon either along a kept
//! dimension (disjoint output chunks) or along a reduced dimension (private
//! accumulators merged in chunk order). Chunk boundaries depend only on sizes, never on
//! the thread count, so results are deterministic. Inner loops run under
//! [`pulp::Arch::dispatch`], so the compiler vectorizes them for AVX2/AVX-512 when the
//! CPU has it.

use super::num::Compute;
use super::reducer::Reducer;
use crate::kernels::parallel::PAR_THRESHOLD;
use rayon::prelude::*;
use smallvec::{SmallVec, smallvec};

/// One dimension of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dim {
    /// Extent.
    pub n: usize,
    /// Input stride (elements).
    pub is: usize,
    /// Output stride (0 for reduced dimensions).
    pub os: usize,
    /// Whether the dimension is reduced.
    pub red: bool,
}

/// A reduction's canonical layout.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Dimensions, outermost in memory first, size-1 ones dropped, neighbours merged.
    pub dims: SmallVec<[Dim; 6]>,
    /// Offset of the first input element.
    pub offset: usize,
    /// Number of outputs.
    pub n_out: usize,
    /// Number of input elements folded into each output.
    pub n_red: usize,
}

/// Sort key putting broadcast (stride-0) dimensions outermost.
fn stride_key(is: usize) -> usize {
    if is == 0 { usize::MAX } else { is }
}

impl Plan {
    /// The plan for a view (`dims`, `strides`, `offset`) reduced over the axes marked in
    /// `reduced` (same length as `dims`).
    pub fn new(dims: &[usize], strides: &[usize], offset: usize, reduced: &[bool]) -> Plan {
        let mut out: SmallVec<[Dim; 6]> = SmallVec::new();
        let mut os = 1usize;
        let (mut n_out, mut n_red) = (1usize, 1usize);
        for i in (0..dims.len()).rev() {
            let n = dims[i];
            let red = reduced[i];
            if red {
                n_red *= n;
            } else {
                n_out *= n;
            }
            if n != 1 {
                out.push(Dim {
                    n,
                    is: strides[i],
                    os: if red { 0 } else { os },
                    red,
                });
            }
            if !red {
                os = os.saturating_mul(n);
            }
        }
        out.reverse();
        // Outermost in memory first; stable, so equal strides keep their axis order.
        out.sort_by_key(|d| std::cmp::Reverse(stride_key(d.is)));
        let mut merged: SmallVec<[Dim; 6]> = SmallVec::new();
        for d in out {
            if let Some(last) = merged.last_mut()
                && last.red == d.red
                && last.is == d.is.wrapping_mul(d.n)
                && (d.red || last.os == d.os.wrapping_mul(d.n))
            {
                last.n *= d.n;
                last.is = d.is;
                last.os = d.os;
                continue;
            }
            merged.push(d);
        }
        Plan {
            dims: merged,
            offset,
            n_out,
            n_red,
        }
    }
}

/// Folds the view `data` (from `plan.offset`) into one accumulator per output, in
/// row-major output order.
pub(crate) fn reduce<T: Compute, R: Reducer<T>>(r: &R, data: &[T], plan: &Plan) -> Vec<R::Acc> {
    let mut acc = vec![r.init(); plan.n_out];
    if plan.n_out == 0 || plan.n_red == 0 {
        return acc;
    }
    let work = plan.n_out.saturating_mul(plan.n_red);
    if work < PAR_THRESHOLD || rayon::current_num_threads() < 2 {
        simd_run(r, data, &plan.dims, plan.offset, &mut acc, 0);
        return acc;
    }
    match split(plan, work) {
        Split::Kept { k, units } => {
            let dim = plan.dims[k];
            acc.par_chunks_mut(units * dim.os)
                .enumerate()
                .for_each(|(c, chunk)| {
                    let first = c * units;
                    let mut dims = plan.dims.clone();
                    dims[k].n = chunk.len() / dim.os;
                    let off = plan.offset + first * dim.is;
                    simd_run(r, data, &dims, off, chunk, first * dim.os);
                });
        }
        Split::Reduced { k, units } => {
            let dim = plan.dims[k];
            let tasks = dim.n.div_ceil(units);
            let parts: Vec<Vec<R::Acc>> = (0..tasks)
                .into_par_iter()
                .map(|c| {
                    let first = c * units;
                    let mut dims = plan.dims.clone();
                    dims[k].n = units.min(dim.n - first);
                    let mut part = vec![r.init(); plan.n_out];
                    simd_run(r, data, &dims, plan.offset + first * dim.is, &mut part, 0);
                    part
                })
                .collect();
            for part in &parts {
                for (a, &p) in acc.iter_mut().zip(part) {
                    *a = r.merge(*a, p);
                }
            }
        }
        Split::None => simd_run(r, data, &plan.dims, plan.offset, &mut acc, 0),
    }
    acc
}

/// How a large reduction is split across threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    /// `units` indices of kept dimension `k` per task (disjoint output chunks).
    Kept { k: usize, units: usize },
    /// `units` indices of reduced dimension `k` per task (merged partials).
    Reduced { k: usize, units: usize },
    /// Sequential.
    None,
}

/// Elements of input per parallel task.
const TASK_WORK: usize = 1 << 16;
/// A kept split whose dimension is innermost keeps at least this many outputs per task
/// (the vectorized row length).
const MIN_ROW: usize = 256;
/// Enough tasks to keep a typical machine busy.
const ENOUGH_TASKS: usize = 16;

fn split(plan: &Plan, work: usize) -> Split {
    let units_for = |n: usize| TASK_WORK.div_ceil((work / n).max(1)).max(1);
    let wanted = work.div_ceil(TASK_WORK).min(ENOUGH_TASKS);
    // Kept split along the outermost output dimension (its chunks are contiguous).
    let kept = plan
        .dims
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.red)
        .max_by_key(|(_, d)| d.os)
        .map(|(k, d)| {
            let mut units = units_for(d.n);
            if k + 1 == plan.dims.len() {
                units = units.max(MIN_ROW);
            }
            (k, units, d.n.div_ceil(units))
        });
    // Reduced split along the outermost reduced dimension in memory.
    let reduced = plan
        .dims
        .iter()
        .enumerate()
        .find(|(_, d)| d.red)
        .map(|(k, d)| {
            let units = units_for(d.n);
            (k, units, d.n.div_ceil(units))
        })
        // Merging the partials must stay cheap next to the work itself.
        .filter(|&(_, _, tasks)| plan.n_out.saturating_mul(tasks) <= work / 8);
    let tasks_kept = kept.map_or(0, |k| k.2);
    let tasks_red = reduced.map_or(0, |r| r.2);
    match (kept, reduced) {
        (Some((k, units, t)), _) if t >= wanted => Split::Kept { k, units },
        (_, Some((k, units, t))) if t > tasks_kept && t >= 2 => Split::Reduced { k, units },
        (Some((k, units, t)), _) if t >= 2 && t >= tasks_red => Split::Kept { k, units },
        _ => Split::None,
    }
}

/// [`run_seq`] compiled for the best instruction set of this CPU.
fn simd_run<T: Compute, R: Reducer<T>>(
    r: &R,
    data: &[T],
    dims: &[Dim],
    off: usize,
    acc: &mut [R::Acc],
    o_base: usize,
) {
    pulp::Arch::new().dispatch(SeqRun {
        r,
        data,
        dims,
        off,
        acc,
        o_base,
    });
}

/// The arguments of [`run_seq`], run inside a SIMD-enabled context.
struct SeqRun<'a, T: Compute, R: Reducer<T>> {
    r: &'a R,
    data: &'a [T],
    dims: &'a [Dim],
    off: usize,
    acc: &'a mut [R::Acc],
    o_base: usize,
}

impl<T: Compute, R: Reducer<T>> pulp::WithSimd for SeqRun<'_, T, R> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        run_seq(
            self.r,
            self.data,
            self.dims,
            self.off,
            self.acc,
            self.o_base,
        )
    }
}

/// Folds the sub-problem `dims` (input from `off`) into `acc`, whose element 0 is output
/// `o_base`. Every dimension has extent >= 1.
#[inline(always)]
fn run_seq<T: Compute, R: Reducer<T>>(
    r: &R,
    data: &[T],
    dims: &[Dim],
    off: usize,
    acc: &mut [R::Acc],
    o_base: usize,
) {
    let Some((last, outer)) = dims.split_last() else {
        acc[0] = r.step(acc[0], data[off].to_c(), o_base);
        return;
    };
    let mut idx: SmallVec<[usize; 8]> = smallvec![0; outer.len()];
    let (mut io, mut oo) = (off, 0usize);
    loop {
        if last.red {
            acc[oo] = fold_line(r, acc[oo], data, io, last.n, last.is, o_base + oo);
        } else {
            fold_cols_line(
                r,
                &mut acc[oo..],
                last.os,
                data,
                io,
                last.n,
                last.is,
                o_base + oo,
            );
        }
        // Odometer over the outer dimensions.
        let mut k = outer.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            io += outer[k].is;
            oo += outer[k].os;
            if idx[k] < outer[k].n {
                break;
            }
            io -= outer[k].is * outer[k].n;
            oo -= outer[k].os * outer[k].n;
            idx[k] = 0;
        }
    }
}

/// Folds `n` elements from `start` (step `stride`) into one accumulator.
#[inline(always)]
fn fold_line<T: Compute, R: Reducer<T>>(
    r: &R,
    acc: R::Acc,
    data: &[T],
    start: usize,
    n: usize,
    stride: usize,
    o: usize,
) -> R::Acc {
    let mut a = acc;
    if stride == 1 {
        T::chunks_c(&data[start..start + n], |c| a = r.run(a, c, o));
    } else {
        let mut p = start;
        for _ in 0..n {
            a = r.step(a, data[p].to_c(), o);
            p += stride;
        }
    }
    a
}

/// Folds `n` elements from `start` (step `stride`) into `n` outputs `acc[j * os]`.
#[inline(always)]
fn fold_cols_line<T: Compute, R: Reducer<T>>(
    r: &R,
    acc: &mut [R::Acc],
    os: usize,
    data: &[T],
    start: usize,
    n: usize,
    stride: usize,
    o: usize,
) {
    if stride == 1 && os == 1 {
        let mut j = 0;
        T::chunks_c(&data[start..start + n], |c| {
            r.cols(&mut acc[j..j + c.len()], c, o + j);
            j += c.len();
        });
    } else {
        let (mut p, mut q) = (start, 0usize);
        for _ in 0..n {
            acc[q] = r.step(acc[q], data[p].to_c(), o + q);
            p += stride;
            q += os;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_merge_contiguous_runs() {
        // [4, 5, 6] contiguous, reduce axes 1 and 2: one row reduction of 30.
        let p = Plan::new(&[4, 5, 6], &[30, 6, 1], 0, &[false, true, true]);
        assert_eq!(p.dims.len(), 2);
        assert_eq!(
            p.dims[1],
            Dim {
                n: 30,
                is: 1,
                os: 0,
                red: true
            }
        );
        assert_eq!((p.n_out, p.n_red), (4, 30));
        // Transposed [3, 2] view of a [2, 3] buffer, reduce axis 0: rows in memory.
        let p = Plan::new(&[3, 2], &[1, 3], 0, &[true, false]);
        assert_eq!(p.dims[0].is, 3);
        assert!(!p.dims[0].red);
        assert!(p.dims[1].red);
        // Size-1 and fully reduced.
        let p = Plan::new(&[1, 8, 1], &[8, 1, 1], 2, &[true, true, false]);
        assert_eq!(p.dims.len(), 1);
        assert_eq!((p.n_out, p.n_red, p.offset), (1, 8, 2));
    }

    #[test]
    fn large_splits_are_chosen_by_shape() {
        let rows = Plan::new(&[4096, 1024], &[1024, 1], 0, &[false, true]);
        assert!(matches!(split(&rows, 1 << 22), Split::Kept { k: 0, .. }));
        let cols = Plan::new(&[4096, 1024], &[1024, 1], 0, &[true, false]);
        assert!(matches!(split(&cols, 1 << 22), Split::Reduced { k: 0, .. }));
        let all = Plan::new(&[1 << 22], &[1], 0, &[true]);
        assert!(matches!(split(&all, 1 << 22), Split::Reduced { .. }));
    }
}
