//! StridedSlice: a table of NumPy-derived cases, random ranges against Python slicing, errors.

use super::*;

struct Case {
    name: &'static str,
    src: &'static str,
    begin: &'static [i64],
    end: &'static [i64],
    strides: &'static [i64],
    masks: [i64; 5],
    dims: &'static [usize],
    values: &'static [i32],
}

#[allow(clippy::too_many_arguments)]
const fn case(
    name: &'static str,
    src: &'static str,
    begin: &'static [i64],
    end: &'static [i64],
    strides: &'static [i64],
    masks: [i64; 5],
    dims: &'static [usize],
    values: &'static [i32],
) -> Case {
    Case {
        name,
        src,
        begin,
        end,
        strides,
        masks,
        dims,
        values,
    }
}

/// `x = arange(24).reshape(2, 3, 4)`, `y = arange(10)`. Each case lists the NumPy
/// expression, the (begin, end, strides, [begin, end, ellipsis, new_axis, shrink]
/// masks) that TensorFlow's `__getitem__` produces for it, and NumPy's result.
#[rustfmt::skip]
const CASES: &[Case] = &[
    case("x[1]", "x", &[1], &[2], &[1], [0, 0, 0, 0, 1], &[3, 4], &[12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[-1]", "x", &[-1], &[0], &[1], [0, 0, 0, 0, 1], &[3, 4], &[12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[:, 1:3]", "x", &[0, 1], &[0, 3], &[1, 1], [1, 1, 0, 0, 0], &[2, 2, 4], &[4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[..., ::-1]", "x", &[0, 0], &[0, 0], &[1, -1], [2, 2, 1, 0, 0], &[2, 3, 4], &[3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16, 23, 22, 21, 20]),
    case("x[newaxis, :, 2]", "x", &[0, 0, 2], &[0, 0, 3], &[1, 1, 1], [2, 2, 0, 1, 4], &[1, 2, 4], &[8, 9, 10, 11, 20, 21, 22, 23]),
    case("x[1, ..., 1:3]", "x", &[1, 0, 1], &[2, 0, 3], &[1, 1, 1], [0, 0, 2, 0, 1], &[3, 2], &[13, 14, 17, 18, 21, 22]),
    case("x[:, -100:100]", "x", &[0, -100], &[0, 100], &[1, 1], [1, 1, 0, 0, 0], &[2, 3, 4], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[:, ::2, 3:0:-2]", "x", &[0, 0, 3], &[0, 0, 0], &[1, 2, -2], [3, 3, 0, 0, 0], &[2, 2, 2], &[3, 1, 11, 9, 15, 13, 23, 21]),
    case("x[1:, ..., newaxis]", "x", &[1, 0, 0], &[0, 0, 0], &[1, 1, 1], [0, 1, 2, 4, 0], &[1, 3, 4, 1], &[12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[..., newaxis, 1]", "x", &[0, 0, 1], &[0, 0, 2], &[1, 1, 1], [0, 0, 1, 2, 4], &[2, 3, 1], &[1, 5, 9, 13, 17, 21]),
    case("x[1, 2, 3]", "x", &[1, 2, 3], &[2, 3, 4], &[1, 1, 1], [0, 0, 0, 0, 7], &[], &[23]),
    case("x[newaxis, ..., newaxis]", "x", &[0, 0, 0], &[0, 0, 0], &[1, 1, 1], [0, 0, 2, 5, 0], &[1, 2, 3, 4, 1], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("x[..., 1, ::2]", "x", &[0, 1, 0], &[0, 2, 0], &[1, 1, 2], [0, 4, 1, 0, 2], &[2, 2], &[4, 6, 16, 18]),
    case("x[-1:, -2::-1, -3]", "x", &[-1, -2, -3], &[0, 0, -2], &[1, -1, 1], [0, 3, 0, 0, 4], &[1, 2], &[17, 13]),
    case("x[] (empty spec)", "x", &[], &[], &[], [0, 0, 0, 0, 0], &[2, 3, 4], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]),
    case("y[8:2:-3]", "y", &[8], &[2], &[-3], [0, 0, 0, 0, 0], &[2], &[8, 5]),
    case("y[-3:]", "y", &[-3], &[0], &[1], [0, 1, 0, 0, 0], &[3], &[7, 8, 9]),
    case("y[::-1]", "y", &[0], &[0], &[-1], [1, 1, 0, 0, 0], &[10], &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
    case("y[5:2]", "y", &[5], &[2], &[1], [0, 0, 0, 0, 0], &[0], &[]),
    case("y[-1:-20:-1]", "y", &[-1], &[-20], &[-1], [0, 0, 0, 0, 0], &[10], &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
    case("y[1:100:50]", "y", &[1], &[100], &[50], [0, 0, 0, 0, 0], &[1], &[1]),
    case("y[-100:3]", "y", &[-100], &[3], &[1], [0, 0, 0, 0, 0], &[3], &[0, 1, 2]),
    case("y[20:]", "y", &[20], &[0], &[1], [0, 1, 0, 0, 0], &[0], &[]),
    case("y[:-20:-2] (clamped end)", "y", &[0], &[-20], &[-2], [1, 0, 0, 0, 0], &[5], &[9, 7, 5, 3, 1]),
    case("y[..., newaxis]", "y", &[0, 0], &[0, 0], &[1, 1], [0, 0, 1, 2, 0], &[10, 1], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    case("y[7] masks beyond range ignored", "y", &[7], &[8], &[1], [12, 12, 0, 0, 1], &[], &[7]),
];

fn masks(m: [i64; 5]) -> SliceMasks {
    SliceMasks {
        begin_mask: m[0],
        end_mask: m[1],
        ellipsis_mask: m[2],
        new_axis_mask: m[3],
        shrink_axis_mask: m[4],
    }
}

#[test]
fn strided_slice_table() {
    let x = Tensor::from_vec((0..24).collect::<Vec<i32>>(), [2, 3, 4]).unwrap();
    let y = Tensor::from_vec((0..10).collect::<Vec<i32>>(), [10]).unwrap();
    for c in CASES {
        let src = if c.src == "x" { &x } else { &y };
        for (k, t) in layouts(src).iter().enumerate() {
            let out = ops::strided_slice(t, c.begin, c.end, c.strides, masks(c.masks))
                .unwrap_or_else(|e| panic!("{} layout {k}: {e}", c.name));
            assert_eq!(out.dims(), c.dims, "{} layout {k}", c.name);
            assert_eq!(
                out.to_vec::<i32>().unwrap(),
                c.values,
                "{} layout {k}",
                c.name
            );
            let positive = c.strides.iter().all(|&s| s > 0);
            if positive && out.num_elements() > 0 {
                assert!(out.shares_storage_with(t), "{} should be a view", c.name);
            }
        }
    }
}

/// Python's `slice(start, stop, step).indices(n)` followed by `range`, per dimension
/// (independent of TensorFlow's canonicalization code).
fn py_range(n: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> Vec<usize> {
    let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let norm = |v: i64| (if v < 0 { v + n } else { v }).clamp(lo, hi);
    let start = start.map_or(if step > 0 { 0 } else { n - 1 }, norm);
    let stop = stop.map_or(if step > 0 { n } else { -1 }, norm);
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

#[test]
fn strided_slice_random_ranges_match_python_slicing() {
    let mut r = rng(13);
    for case in 0..80 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = 1 + case % 3;
        let dims = random_dims(&mut r, rank, 5);
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let (mut b, mut e, mut s) = (vec![], vec![], vec![]);
        let (mut bm, mut em) = (0i64, 0i64);
        let mut ranges = Vec::new();
        for (i, &d) in dims.iter().enumerate() {
            let step = [1, 2, 3, -1, -2][r.random_range(0..5)];
            let start = r.random_bool(0.7).then(|| r.random_range(-8..8));
            let stop = r.random_bool(0.7).then(|| r.random_range(-8..8));
            b.push(start.unwrap_or(0));
            e.push(stop.unwrap_or(0));
            s.push(step);
            if start.is_none() {
                bm |= 1 << i;
            }
            if stop.is_none() {
                em |= 1 << i;
            }
            ranges.push(py_range(d as i64, start, stop, step));
        }
        let out_dims: Vec<usize> = ranges.iter().map(Vec::len).collect();
        let expected = build(&out_dims, &src, |o| {
            let idx: Vec<usize> = o.iter().zip(&ranges).map(|(&k, rg)| rg[k]).collect();
            ravel(&idx, &dims)
        });
        let m = SliceMasks {
            begin_mask: bm,
            end_mask: em,
            ..Default::default()
        };
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = ops::strided_slice(x, &b, &e, &s, m).unwrap();
            check(
                &y,
                &expected,
                &out_dims,
                &format!("{dims:?} {b:?}:{e:?}:{s:?} masks {bm} {em} layout {k}"),
            );
        }
    }
}

#[test]
fn strided_slice_errors_follow_tf() {
    let x = Tensor::from_vec((0..24).collect::<Vec<i32>>(), [2, 3, 4]).unwrap();
    let m = SliceMasks::default();
    let err = |b: &[i64], e: &[i64], s: &[i64], m: SliceMasks| {
        ops::strided_slice(&x, b, e, s, m).unwrap_err().to_string()
    };
    let e = err(&[0], &[1], &[0], m);
    assert!(
        e.contains("StridedSlice") && e.contains("strides[0] must be non-zero"),
        "{e}"
    );
    let e = err(&[0, 0], &[1], &[1, 1], m);
    assert!(e.contains("equal size"), "{e}");
    let e = err(
        &[0, 0],
        &[0, 0],
        &[1, 1],
        SliceMasks {
            ellipsis_mask: 3,
            ..m
        },
    );
    assert!(e.contains("Multiple ellipses"), "{e}");
    let e = err(
        &[5],
        &[6],
        &[1],
        SliceMasks {
            shrink_axis_mask: 1,
            ..m
        },
    );
    assert!(
        e.contains("slice index 5 of dimension 0 out of bounds"),
        "{e}"
    );
    let e = err(
        &[-3],
        &[-2],
        &[1],
        SliceMasks {
            shrink_axis_mask: 1,
            ..m
        },
    );
    assert!(e.contains("out of bounds"), "{e}");
    let e = err(
        &[1],
        &[0],
        &[-1],
        SliceMasks {
            shrink_axis_mask: 1,
            ..m
        },
    );
    assert!(e.contains("only stride 1"), "{e}");
    let e = err(&[0, 0, 0, 0], &[1, 1, 1, 1], &[1, 1, 1, 1], m);
    assert!(e.contains("Index out of range using input dim 3"), "{e}");
}

/// One entry of a NumPy index expression.
#[derive(Clone, Copy, Debug)]
pub(super) enum Entry {
    /// `start:stop:step` (`None` = omitted).
    Range(Option<i64>, Option<i64>, i64),
    /// An integer index (removes the dimension).
    Index(i64),
    /// `np.newaxis`.
    NewAxis,
    /// `...`.
    Ellipsis,
}

/// A random index expression for an input of shape `dims`, as StridedSlice's arguments
/// plus NumPy's answer (computed independently of TensorFlow's canonicalization): the
/// output shape and, for each output element in row-major order, the flat input
/// position it reads.
#[derive(Clone, Debug)]
pub(super) struct SliceSpec {
    pub entries: Vec<Entry>,
    pub begin: Vec<i64>,
    pub end: Vec<i64>,
    pub strides: Vec<i64>,
    pub masks: SliceMasks,
    pub out_dims: Vec<usize>,
    pub sources: Vec<usize>,
}

/// Ranges (positive and negative steps, omitted bounds, out-of-range bounds), integer
/// indices (negative ones too), new axes anywhere, at most one ellipsis standing for
/// any number of dimensions, and implicit trailing dimensions.
pub(super) fn random_slice_spec(r: &mut StdRng, dims: &[usize]) -> SliceSpec {
    let rank = dims.len();
    // The dimensions the ellipsis stands for (start, len), or None.
    let ellipsis = r.random_bool(0.4).then(|| {
        let start = r.random_range(0..=rank);
        (start, r.random_range(0..=rank - start))
    });
    let explicit = match ellipsis {
        Some(_) => rank,
        None => r.random_range(0..=rank),
    };
    let mut entries = Vec::new();
    for d in 0..=rank {
        if r.random_bool(0.15) {
            entries.push(Entry::NewAxis);
        }
        if let Some((s, len)) = ellipsis {
            if d == s {
                entries.push(Entry::Ellipsis);
            }
            if d >= s && d < s + len {
                continue;
            }
        }
        if d == rank || d >= explicit {
            continue;
        }
        let n = dims[d] as i64;
        if n > 0 && r.random_bool(0.25) {
            let i = r.random_range(-n..n);
            entries.push(Entry::Index(i));
        } else {
            let step = [1, 2, 3, -1, -2][r.random_range(0..5)];
            let start = r.random_bool(0.7).then(|| r.random_range(-8..8));
            let stop = r.random_bool(0.7).then(|| r.random_range(-8..8));
            entries.push(Entry::Range(start, stop, step));
        }
    }
    spec_of(entries, dims)
}

/// StridedSlice's arguments for `entries` and NumPy's result over `dims`.
pub(super) fn spec_of(entries: Vec<Entry>, dims: &[usize]) -> SliceSpec {
    let rank = dims.len();
    let consuming = entries
        .iter()
        .filter(|e| matches!(e, Entry::Range(..) | Entry::Index(_)))
        .count();
    let (mut begin, mut end, mut strides) = (vec![], vec![], vec![]);
    let mut m = SliceMasks::default();
    // Per input dimension: the indices it takes, and the output axis that walks them
    // (None for integer indices).
    let mut per_dim: Vec<(Vec<usize>, Option<usize>)> = Vec::new();
    let mut out_dims = Vec::new();
    let full = |n: usize| py_range(n as i64, None, None, 1);
    for (j, e) in entries.iter().enumerate() {
        match *e {
            Entry::Range(start, stop, step) => {
                begin.push(start.unwrap_or(0));
                end.push(stop.unwrap_or(0));
                strides.push(step);
                if start.is_none() {
                    m.begin_mask |= 1 << j;
                }
                if stop.is_none() {
                    m.end_mask |= 1 << j;
                }
                let rg = py_range(dims[per_dim.len()] as i64, start, stop, step);
                out_dims.push(rg.len());
                per_dim.push((rg, Some(out_dims.len() - 1)));
            }
            Entry::Index(i) => {
                begin.push(i);
                end.push(i + 1);
                strides.push(1);
                m.shrink_axis_mask |= 1 << j;
                let n = dims[per_dim.len()] as i64;
                per_dim.push((vec![(if i < 0 { i + n } else { i }) as usize], None));
            }
            Entry::NewAxis => {
                begin.push(0);
                end.push(0);
                strides.push(1);
                m.new_axis_mask |= 1 << j;
                out_dims.push(1);
            }
            Entry::Ellipsis => {
                begin.push(0);
                end.push(0);
                strides.push(1);
                m.ellipsis_mask |= 1 << j;
                for _ in 0..rank - consuming {
                    let rg = full(dims[per_dim.len()]);
                    out_dims.push(rg.len());
                    per_dim.push((rg, Some(out_dims.len() - 1)));
                }
            }
        }
    }
    // Dimensions not named (no ellipsis): taken whole, at the end.
    while per_dim.len() < rank {
        let rg = full(dims[per_dim.len()]);
        out_dims.push(rg.len());
        per_dim.push((rg, Some(out_dims.len() - 1)));
    }
    let n: usize = out_dims.iter().product();
    let sources = (0..n)
        .map(|i| {
            let o = unravel(i, &out_dims);
            let idx: Vec<usize> = per_dim
                .iter()
                .map(|(rg, axis)| match axis {
                    Some(a) => rg[o[*a]],
                    None => rg[0],
                })
                .collect();
            ravel(&idx, dims)
        })
        .collect();
    SliceSpec {
        entries,
        begin,
        end,
        strides,
        masks: m,
        out_dims,
        sources,
    }
}

#[test]
fn strided_slice_random_specs_match_numpy() {
    let mut r = rng(14);
    for case in 0..120 {
        let dtype = DTYPES[case % DTYPES.len()];
        let rank = case % 4;
        let dims = random_dims(&mut r, rank, 4);
        let spec = random_slice_spec(&mut r, &dims);
        let t = random_tensor(&mut r, dtype, &dims);
        let src = t.to_f64_vec().unwrap();
        let expected: Vec<f64> = spec.sources.iter().map(|&s| src[s]).collect();
        for (k, x) in layouts(&t).iter().enumerate() {
            let y = ops::strided_slice(x, &spec.begin, &spec.end, &spec.strides, spec.masks)
                .unwrap_or_else(|e| panic!("{dims:?} {:?}: {e}", spec.entries));
            check(
                &y,
                &expected,
                &spec.out_dims,
                &format!("{dims:?} {:?} layout {k}", spec.entries),
            );
        }
    }
}
