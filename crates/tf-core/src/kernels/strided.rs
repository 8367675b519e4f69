//! Walking several strided operands in lockstep (broadcasting binary ops, copies of
//! views): an odometer over the outer dimensions yielding one base offset per operand.

/// Calls `f(offsets)` for every index of the outer dimensions `dims` in row-major order;
/// `offsets[k] = bases[k] + sum(index[i] * strides[k][i])`. Nothing runs if a
/// dimension is 0; a rank-0 `dims` runs once.
pub fn for_each_offsets<const K: usize>(
    dims: &[usize],
    strides: [&[usize]; K],
    bases: [usize; K],
    mut f: impl FnMut([usize; K]),
) {
    if dims.contains(&0) {
        return;
    }
    let rank = dims.len();
    let mut index = vec![0usize; rank];
    let mut offs = bases;
    loop {
        f(offs);
        let mut axis = rank;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            for k in 0..K {
                offs[k] += strides[k][axis];
            }
            if index[axis] < dims[axis] {
                break;
            }
            for k in 0..K {
                offs[k] -= strides[k][axis] * dims[axis];
            }
            index[axis] = 0;
        }
    }
}

/// Splits `dims` into (outer dims, inner length) for row-wise loops: the innermost
/// dimension is the row (a rank-0 shape is one row of one element).
pub fn split_rows(dims: &[usize]) -> (&[usize], usize) {
    match dims.split_last() {
        Some((&inner, outer)) => (outer, inner),
        None => (&[], 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockstep_offsets() {
        let mut seen = Vec::new();
        // a: [2,3] contiguous; b: broadcast along axis 0.
        for_each_offsets(&[2, 3], [&[3, 1], &[0, 1]], [0, 10], |o| seen.push(o));
        assert_eq!(
            seen,
            vec![[0, 10], [1, 11], [2, 12], [3, 10], [4, 11], [5, 12]]
        );
        let mut n = 0;
        for_each_offsets(&[], [&[]], [4], |o| {
            assert_eq!(o, [4]);
            n += 1
        });
        assert_eq!(n, 1);
    }
}
