//! Copy kernels shared by the array ops: outputs built from a strided input through
//! per-dimension offset tables (reverse, tile, mirror pad, negative-stride slices),
//! block gathers (gather, gather_nd), row concatenation (concat, stack), and reading
//! index tensors.

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::kernels::parallel::fill_vec;
use crate::op::KernelContext;
use crate::shape::Shape;
use crate::tensor::Tensor;
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// Copies `src` into `dst` (same length).
#[inline(always)]
fn write_slice<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        d.write(s);
    }
}

/// The row-major output of shape `dims` whose element `[i0, .., ik]` is
/// `data[base + tables[0][i0] + ... + tables[k][ik]]`.
///
/// Every table `d` has `dims[d]` entries, and every sum must be a valid index of
/// `data` (callers derive tables from validated indices). Parallel for large outputs.
pub(crate) fn gather_tables<T: Element>(
    data: &[T],
    base: usize,
    dims: &[usize],
    tables: &[Vec<usize>],
) -> Result<Vec<T>> {
    let n: usize = dims.iter().product();
    let rank = dims.len();
    if rank == 0 {
        return Ok(vec![data[base]]);
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let inner = dims[rank - 1];
    let inner_t = &tables[rank - 1];
    let runs = runs_of(inner_t);
    fill_vec(n, |start, chunk| {
        let outer = rank - 1;
        let mut idx: SmallVec<[usize; 6]> = SmallVec::from_elem(0, outer);
        let mut rem = start / inner;
        let mut col = start % inner;
        for d in (0..outer).rev() {
            idx[d] = rem % dims[d];
            rem /= dims[d];
        }
        let mut off = base;
        for d in 0..outer {
            off += tables[d][idx[d]];
        }
        let mut pos = 0;
        while pos < chunk.len() {
            let take = (inner - col).min(chunk.len() - pos);
            let dst = &mut chunk[pos..pos + take];
            if take == inner {
                // A whole row: copy run by run.
                for r in &runs {
                    let d = &mut dst[r.col..r.col + r.len];
                    let s = off + r.first;
                    match r.dir {
                        Dir::Forward => write_slice(d, &data[s..s + r.len]),
                        Dir::Backward => {
                            let src = &data[s + 1 - r.len..s + 1];
                            for (slot, &v) in d.iter_mut().zip(src.iter().rev()) {
                                slot.write(v);
                            }
                        }
                        Dir::Scattered => {
                            for (slot, &t) in d.iter_mut().zip(&inner_t[r.col..r.col + r.len]) {
                                slot.write(data[off + t]);
                            }
                        }
                    }
                }
            } else {
                for (slot, &t) in dst.iter_mut().zip(&inner_t[col..col + take]) {
                    slot.write(data[off + t]);
                }
            }
            pos += take;
            col = 0;
            if pos < chunk.len() {
                // Advance the outer odometer by one row.
                let mut d = outer;
                while d > 0 {
                    d -= 1;
                    off -= tables[d][idx[d]];
                    idx[d] += 1;
                    if idx[d] < dims[d] {
                        off += tables[d][idx[d]];
                        break;
                    }
                    idx[d] = 0;
                    off += tables[d][0];
                }
            }
        }
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dir {
    /// Consecutive increasing offsets.
    Forward,
    /// Consecutive decreasing offsets.
    Backward,
    /// Anything else (one element per entry).
    Scattered,
}

/// A stretch of an inner offset table copied in one go: `len` entries from column
/// `col`, the first reading offset `first`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    col: usize,
    len: usize,
    first: usize,
    dir: Dir,
}

/// Splits a table into forward runs (`t[i+1] = t[i] + 1`), backward runs
/// (`t[i+1] = t[i] - 1`) and scattered stretches, so rows copy with slice copies.
fn runs_of(t: &[usize]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let mut j = i + 1;
        let dir = match t.get(i + 1) {
            Some(&n) if n == t[i] + 1 => Dir::Forward,
            Some(&n) if n + 1 == t[i] => Dir::Backward,
            _ => Dir::Scattered,
        };
        match dir {
            Dir::Forward => {
                while j < t.len() && t[j] == t[j - 1] + 1 {
                    j += 1;
                }
            }
            Dir::Backward => {
                while j < t.len() && t[j] + 1 == t[j - 1] {
                    j += 1;
                }
            }
            Dir::Scattered => {
                // Extend until the next two entries start a run.
                while j < t.len()
                    && !(j + 1 < t.len() && (t[j + 1] == t[j] + 1 || t[j + 1] + 1 == t[j]))
                {
                    j += 1;
                }
            }
        }
        runs.push(Run {
            col: i,
            len: j - i,
            first: t[i],
            dir,
        });
        i = j;
    }
    runs
}

/// `nblocks` blocks of `block` elements each, block `q` copied from
/// `src[start(q)..start(q) + block]`. Parallel for large outputs.
pub(crate) fn gather_blocks<T: Element>(
    src: &[T],
    nblocks: usize,
    block: usize,
    start: impl Fn(usize) -> usize + Sync,
) -> Result<Vec<T>> {
    let n = nblocks * block;
    if n == 0 {
        return Ok(Vec::new());
    }
    fill_vec(n, |first, chunk| {
        let mut q = first / block;
        let mut j = first % block;
        let mut pos = 0;
        while pos < chunk.len() {
            let take = (block - j).min(chunk.len() - pos);
            let s = start(q) + j;
            write_slice(&mut chunk[pos..pos + take], &src[s..s + take]);
            pos += take;
            j = 0;
            q += 1;
        }
    })
}

/// Concatenates rows: for each of `outer` rows, part `k` contributes
/// `parts[k][o * blocks[k]..(o + 1) * blocks[k]]` (concat and stack).
pub(crate) fn concat_rows<T: Element>(
    parts: &[&[T]],
    blocks: &[usize],
    outer: usize,
) -> Result<Vec<T>> {
    let row: usize = blocks.iter().sum();
    let n = outer * row;
    if n == 0 {
        return Ok(Vec::new());
    }
    // prefix[k] = where part k starts within a row.
    let mut prefix = Vec::with_capacity(blocks.len() + 1);
    let mut acc = 0;
    prefix.push(0);
    for &b in blocks {
        acc += b;
        prefix.push(acc);
    }
    fill_vec(n, |first, chunk| {
        let mut o = first / row;
        let mut r = first % row;
        let mut pos = 0;
        while pos < chunk.len() {
            // The part holding row position r (skipping empty parts).
            let k = prefix.partition_point(|&p| p <= r) - 1;
            let within = r - prefix[k];
            let take = (blocks[k] - within).min(chunk.len() - pos);
            let s = o * blocks[k] + within;
            write_slice(&mut chunk[pos..pos + take], &parts[k][s..s + take]);
            pos += take;
            r += take;
            if r == row {
                r = 0;
                o += 1;
            }
        }
    })
}

/// The shape of output `i` for a kernel about to allocate it: errors (instead of
/// failing to allocate) when its element count overflows what a tensor can hold.
pub(crate) fn alloc_shape(ctx: &KernelContext<'_>, i: usize) -> Result<Shape> {
    let shape = ctx.out_shape(i)?;
    if shape.checked_num_elements().is_none() {
        return Err(Error::invalid(
            ctx.name(),
            format!("output shape {shape} has too many elements"),
        ));
    }
    Ok(shape)
}

/// A `shape` attribute (ScatterNd, StridedSliceGrad) as a [`Shape`]: errors on a
/// negative dimension or an element count that overflows.
pub(crate) fn shape_attr(op: &'static str, shape: &[i64]) -> Result<Shape> {
    let dims = shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                Error::invalid(op, format!("shape {shape:?} has a negative dimension"))
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let s = Shape::from(dims);
    if s.checked_num_elements().is_none() {
        return Err(Error::invalid(op, format!("shape {s} is too large")));
    }
    Ok(s)
}

/// The values of an int32 or int64 index tensor as i64, row-major.
pub(crate) fn index_values(op: &'static str, what: &str, t: &Tensor) -> Result<Vec<i64>> {
    match t.dtype() {
        DType::I64 => Ok(t.host_data::<i64>()?.into_owned()),
        DType::I32 => Ok(t
            .host_data::<i32>()?
            .iter()
            .map(|&i| i64::from(i))
            .collect()),
        DType::U8 => Ok(t.host_data::<u8>()?.iter().map(|&i| i64::from(i)).collect()),
        other => Err(Error::invalid(
            op,
            format!("{what} must be int32 or int64, got {other}"),
        )),
    }
}

/// Formats the multi-index of flat position `flat` in `dims` as `[i,j,k]` (TensorFlow's
/// style for naming a bad index).
pub(crate) fn multi_index(flat: usize, dims: &[usize]) -> String {
    let mut idx = vec![0usize; dims.len()];
    let mut rem = flat;
    for d in (0..dims.len()).rev() {
        if dims[d] > 0 {
            idx[d] = rem % dims[d];
            rem /= dims[d];
        }
    }
    let parts: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_walk_rows_across_chunks() {
        let data: Vec<i32> = (0..12).collect();
        // Reverse both axes of a 3x4 matrix.
        let t0: Vec<usize> = (0..3).rev().map(|i| i * 4).collect();
        let t1: Vec<usize> = (0..4).rev().collect();
        let out = gather_tables(&data, 0, &[3, 4], &[t0, t1]).unwrap();
        assert_eq!(out, (0..12).rev().collect::<Vec<_>>());
        assert_eq!(gather_tables(&data, 5, &[], &[]).unwrap(), vec![5]);
        assert!(
            gather_tables(&data, 0, &[2, 0], &[vec![0, 1], vec![]])
                .unwrap()
                .is_empty()
        );
        // Large enough to be split in parallel chunks that start mid-row.
        let big: Vec<i32> = (0..70_000).collect();
        let rows = 7usize;
        let cols = 10_000usize;
        let t0: Vec<usize> = (0..rows).map(|i| i * cols).collect();
        let t1: Vec<usize> = (0..cols).collect();
        assert_eq!(
            gather_tables(&big, 0, &[rows, cols], &[t0.clone(), t1]).unwrap(),
            big
        );
        let rev: Vec<usize> = (0..cols).rev().collect();
        let want: Vec<i32> = big
            .chunks(cols)
            .flat_map(|r| r.iter().rev().copied())
            .collect();
        assert_eq!(
            gather_tables(&big, 0, &[rows, cols], &[t0, rev]).unwrap(),
            want
        );
    }

    #[test]
    fn runs_split_tables() {
        let t = [5, 6, 7, 3, 2, 1, 9, 11, 13, 0, 1];
        let r = runs_of(&t);
        let got: Vec<(usize, usize, usize, Dir)> =
            r.iter().map(|r| (r.col, r.len, r.first, r.dir)).collect();
        assert_eq!(
            got,
            vec![
                (0, 3, 5, Dir::Forward),
                (3, 3, 3, Dir::Backward),
                (6, 3, 9, Dir::Scattered),
                (9, 2, 0, Dir::Forward),
            ]
        );
        assert_eq!(
            runs_of(&[4]),
            vec![Run {
                col: 0,
                len: 1,
                first: 4,
                dir: Dir::Scattered
            }]
        );
        assert!(runs_of(&[]).is_empty());
        // Mixed tables gather the same as element by element.
        let data: Vec<i32> = (0..100).collect();
        let inner: Vec<usize> = t.to_vec();
        let outer: Vec<usize> = vec![0, 50, 20];
        let out = gather_tables(&data, 3, &[3, t.len()], &[outer.clone(), inner.clone()]).unwrap();
        let want: Vec<i32> = outer
            .iter()
            .flat_map(|&o| inner.iter().map(move |&i| (3 + o + i) as i32))
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn blocks_and_rows() {
        let src: Vec<u8> = (0..10).collect();
        assert_eq!(
            gather_blocks(&src, 3, 2, |q| [8, 0, 4][q]).unwrap(),
            vec![8, 9, 0, 1, 4, 5]
        );
        let a = [1, 2, 3, 4];
        let b: [i32; 0] = [];
        let c = [9, 9];
        assert_eq!(
            concat_rows(&[&a, &b, &c], &[2, 0, 1], 2).unwrap(),
            vec![1, 2, 9, 3, 4, 9]
        );
        assert_eq!(multi_index(5, &[2, 3]), "[1,2]");
    }
}
