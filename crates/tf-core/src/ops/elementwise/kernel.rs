//! Generic elementwise kernels: unary, binary and ternary maps over any views with
//! NumPy broadcasting. Contiguous operands take straight slice loops; everything else
//! walks rows of a coalesced broadcast layout. Loops run through
//! [`simd::dispatch`](crate::kernels::simd::dispatch) (AVX-512 where available) and in
//! parallel above [`PAR_THRESHOLD`](crate::kernels::parallel::PAR_THRESHOLD) elements.

use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::kernels::parallel;
use crate::kernels::simd::{self, BinaryFn, BindLeft, BindRight, Kernel, UnaryFn};
use crate::shape::{Dims, Shape, Strides, broadcast_strides};
use crate::tensor::{StridedView, Tensor};
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// `out[i] = f(x[i])` over a tensor of any layout.
pub fn unary_map<T: Element, O: Element>(
    x: &Tensor,
    f: impl Fn(T) -> O + Send + Sync + Copy,
) -> Result<Tensor> {
    unary_map_fn(x, f)
}

/// [`unary_map`] taking a [`UnaryFn`] (e.g. the math types of
/// [`kernels::math`](crate::kernels::math), which always inline into the SIMD loop).
pub fn unary_map_fn<T: Element, O: Element>(x: &Tensor, f: impl UnaryFn<T, O>) -> Result<Tensor> {
    let v = x.strided::<T>()?;
    let n = v.len();
    let out = match v.as_contiguous() {
        Some(src) => fill_vec(n, |s, chunk| {
            run::<T, O, _>(ContiguousUnary {
                src: &src[s..s + chunk.len()],
                dst: chunk,
                f,
            })
        })?,
        None => {
            let walk = Walk::new(v.dims, [v.strides], [v.offset]);
            fill_vec(n, |s, chunk| {
                run::<T, O, _>(UnaryWalk {
                    walk: &walk,
                    x: v.data,
                    start: s,
                    dst: chunk,
                    f,
                })
            })?
        }
    };
    Tensor::from_host_vec(out, x.shape().clone())
}

/// `out = f(a, b)` with NumPy broadcasting to `out_shape` (already inferred).
pub fn binary_map<T: Element, O: Element>(
    a: &Tensor,
    b: &Tensor,
    out_shape: &Shape,
    f: impl Fn(T, T) -> O + Send + Sync + Copy,
) -> Result<Tensor> {
    binary_map_fn(a, b, out_shape, f)
}

/// [`binary_map`] taking a [`BinaryFn`], with operands of possibly different types.
pub fn binary_map_fn<A: Element, B: Element, O: Element>(
    a: &Tensor,
    b: &Tensor,
    out_shape: &Shape,
    f: impl BinaryFn<A, B, O>,
) -> Result<Tensor> {
    let av = a.strided::<A>()?;
    let bv = b.strided::<B>()?;
    let n = out_shape.num_elements();
    if let (Some(x), Some(y)) = (av.as_contiguous(), bv.as_contiguous())
        && x.len() == n
        && y.len() == n
    {
        let out = fill_vec(n, |s, c| {
            run::<A, O, _>(ContiguousBinary {
                a: &x[s..s + c.len()],
                b: &y[s..s + c.len()],
                dst: c,
                f,
            })
        })?;
        return Tensor::from_host_vec(out, out_shape.clone());
    }
    let sa = broadcast_strides(av.dims, av.strides, out_shape);
    let sb = broadcast_strides(bv.dims, bv.strides, out_shape);
    let walk = Walk::new(out_shape, [&sa, &sb], [av.offset, bv.offset]);
    let out = fill_vec(n, |s, chunk| {
        run::<A, O, _>(BinaryWalk {
            walk: &walk,
            a: av.data,
            b: bv.data,
            start: s,
            dst: chunk,
            f,
        })
    })?;
    Tensor::from_host_vec(out, out_shape.clone())
}

/// A per-element function of three operands (select, clip).
pub trait TernaryFn<A, B, C, T>: Copy + Send + Sync {
    /// The function.
    fn apply(&self, a: A, b: B, c: C) -> T;
}

impl<A, B, C, T, F: Fn(A, B, C) -> T + Copy + Send + Sync> TernaryFn<A, B, C, T> for F {
    #[inline(always)]
    fn apply(&self, a: A, b: B, c: C) -> T {
        self(a, b, c)
    }
}

/// `out = f(a, b, c)` with all three operands broadcast to `out_shape`.
pub fn ternary_map<A: Element, B: Element, C: Element, O: Element>(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    out_shape: &Shape,
    f: impl TernaryFn<A, B, C, O>,
) -> Result<Tensor> {
    let (av, bv, cv) = (a.strided::<A>()?, b.strided::<B>()?, c.strided::<C>()?);
    let n = out_shape.num_elements();
    let sa = broadcast_strides(av.dims, av.strides, out_shape);
    let sb = broadcast_strides(bv.dims, bv.strides, out_shape);
    let sc = broadcast_strides(cv.dims, cv.strides, out_shape);
    let walk = Walk::new(
        out_shape,
        [&sa, &sb, &sc],
        [av.offset, bv.offset, cv.offset],
    );
    let out = fill_vec(n, |s, chunk| {
        run::<B, O, _>(TernaryWalk {
            walk: &walk,
            data: (av.data, bv.data, cv.data),
            start: s,
            dst: chunk,
            f,
        })
    })?;
    Tensor::from_host_vec(out, out_shape.clone())
}

/// `out = f(x)` where `f` maps whole contiguous blocks (`f(src, dst)` must write every
/// element of `dst`, which has `src.len()` slots). Non-contiguous inputs are copied
/// first.
pub fn block_map<T: Element, O: Element>(
    x: &Tensor,
    f: impl Fn(&[T], &mut [MaybeUninit<O>]) + Sync,
) -> Result<Tensor> {
    let v = x.strided::<T>()?;
    let owned;
    let src = match v.as_contiguous() {
        Some(s) => s,
        None => {
            owned = v.to_vec();
            &owned[..]
        }
    };
    let out = fill_vec(src.len(), |s, chunk| f(&src[s..s + chunk.len()], chunk))?;
    Tensor::from_host_vec(out, x.shape().clone())
}

/// [`parallel::fill_vec`] through a `dyn` closure: the parallel machinery is then
/// compiled once per output type instead of once per kernel (a large share of build
/// time); one indirect call per chunk of thousands of elements costs nothing.
fn fill_vec<T: Element>(
    n: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Result<Vec<T>> {
    fill_dyn(n, &fill)
}

fn fill_dyn<T: Element>(
    n: usize,
    fill: &(dyn Fn(usize, &mut [MaybeUninit<T>]) + Sync),
) -> Result<Vec<T>> {
    parallel::fill_vec(n, fill)
}

/// Whether loops over this dtype are compiled for several instruction sets (AVX-512,
/// AVX2, baseline). Only the float types whose kernels are compute-heavy or hot get
/// the extra copies; the rest run the baseline build (still SSE-vectorized), which
/// keeps the number of compiled loop variants, and so build times, in check.
const fn multiversioned(d: DType) -> bool {
    matches!(d, DType::F32 | DType::BF16)
}

/// Runs `kernel` through [`simd::dispatch`] when input type `I` or output type `O` is
/// [`multiversioned`], else directly (decided at compile time, so the unused variants
/// are never built).
#[inline(always)]
fn run<I: Element, O: Element, K: Kernel>(kernel: K) -> K::Output {
    if const { multiversioned(I::DTYPE) || multiversioned(O::DTYPE) } {
        simd::dispatch(kernel)
    } else {
        kernel.run()
    }
}

struct ContiguousUnary<'a, S, T, F> {
    src: &'a [S],
    dst: &'a mut [MaybeUninit<T>],
    f: F,
}

impl<S: Copy, T, F: UnaryFn<S, T>> Kernel for ContiguousUnary<'_, S, T, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        simd::map_loop(self.src, self.dst, self.f);
    }
}

struct ContiguousBinary<'a, A, B, T, F> {
    a: &'a [A],
    b: &'a [B],
    dst: &'a mut [MaybeUninit<T>],
    f: F,
}

impl<A: Copy, B: Copy, T, F: BinaryFn<A, B, T>> Kernel for ContiguousBinary<'_, A, B, T, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        simd::zip_loop(self.a, self.b, self.dst, self.f);
    }
}

/// Operands' strides over a coalesced broadcast layout: `outer` dimensions walked by an
/// odometer, then rows of `inner` elements.
struct Walk<const K: usize> {
    outer: Dims,
    outer_strides: [Strides; K],
    inner: usize,
    inner_strides: [usize; K],
    bases: [usize; K],
}

impl<const K: usize> Walk<K> {
    /// Plans a walk over `dims` where operand `k` has `strides[k]` (already broadcast:
    /// one per dimension, 0 where broadcast). Size-1 dimensions are dropped and
    /// adjacent dimensions that every operand steps through uniformly are merged, so a
    /// broadcast bias or scalar becomes one long row.
    fn new(dims: &[usize], strides: [&[usize]; K], bases: [usize; K]) -> Walk<K> {
        let mut merged: Dims = SmallVec::new();
        let mut ms: [Strides; K] = std::array::from_fn(|_| SmallVec::new());
        for (i, &d) in dims.iter().enumerate() {
            if d == 1 {
                continue;
            }
            let mergeable = match merged.last() {
                Some(_) => (0..K).all(|k| {
                    let last = ms[k].len() - 1;
                    ms[k][last] == strides[k][i].wrapping_mul(d)
                }),
                None => false,
            };
            if mergeable {
                let last = merged.len() - 1;
                merged[last] *= d;
                for k in 0..K {
                    let l = ms[k].len() - 1;
                    ms[k][l] = strides[k][i];
                }
            } else {
                merged.push(d);
                for k in 0..K {
                    ms[k].push(strides[k][i]);
                }
            }
        }
        let inner = merged.pop().unwrap_or(1);
        let inner_strides = std::array::from_fn(|k| ms[k].pop().unwrap_or(0));
        Walk {
            outer: merged,
            outer_strides: ms,
            inner,
            inner_strides,
            bases,
        }
    }

    /// Calls `row(offsets, dst_segment)` for output elements `start..start + dst.len()`,
    /// split at row ends; `offsets[k]` is operand `k`'s offset for the segment's first
    /// element (subsequent elements step by `inner_strides[k]`).
    #[inline(always)]
    fn rows<O>(
        &self,
        start: usize,
        dst: &mut [MaybeUninit<O>],
        mut row: impl FnMut([usize; K], &mut [MaybeUninit<O>]),
    ) {
        if dst.is_empty() {
            return; // also covers zero-size dimensions
        }
        let inner = self.inner.max(1);
        let rank = self.outer.len();
        let mut idx: SmallVec<[usize; 6]> = SmallVec::from_elem(0, rank);
        let mut rem = start / inner;
        for ax in (0..rank).rev() {
            idx[ax] = rem % self.outer[ax];
            rem /= self.outer[ax];
        }
        let mut col = start % inner;
        let mut offs = self.bases;
        for k in 0..K {
            for ax in 0..rank {
                offs[k] += idx[ax] * self.outer_strides[k][ax];
            }
        }
        let mut pos = 0;
        while pos < dst.len() {
            let len = (inner - col).min(dst.len() - pos);
            let at: [usize; K] = std::array::from_fn(|k| offs[k] + col * self.inner_strides[k]);
            row(at, &mut dst[pos..pos + len]);
            pos += len;
            col = 0;
            if pos == dst.len() {
                break;
            }
            for ax in (0..rank).rev() {
                idx[ax] += 1;
                for k in 0..K {
                    offs[k] += self.outer_strides[k][ax];
                }
                if idx[ax] < self.outer[ax] {
                    break;
                }
                for k in 0..K {
                    offs[k] -= self.outer_strides[k][ax] * self.outer[ax];
                }
                idx[ax] = 0;
            }
        }
    }
}

/// `dst[j] = f(src[off + j * stride])`.
#[inline(always)]
fn map_row<S: Copy, T: Copy>(
    src: &[S],
    off: usize,
    stride: usize,
    dst: &mut [MaybeUninit<T>],
    f: impl UnaryFn<S, T>,
) {
    match stride {
        1 => simd::map_loop(&src[off..off + dst.len()], dst, f),
        0 => {
            let y = f.apply(src[off]);
            for d in dst {
                d.write(y);
            }
        }
        _ => {
            for (j, d) in dst.iter_mut().enumerate() {
                d.write(f.apply(src[off + j * stride]));
            }
        }
    }
}

struct UnaryWalk<'a, S, T, F> {
    walk: &'a Walk<1>,
    x: &'a [S],
    start: usize,
    dst: &'a mut [MaybeUninit<T>],
    f: F,
}

impl<S: Copy, T: Copy, F: UnaryFn<S, T>> Kernel for UnaryWalk<'_, S, T, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let (x, f, stride) = (self.x, self.f, self.walk.inner_strides[0]);
        self.walk
            .rows(self.start, self.dst, |[o], d| map_row(x, o, stride, d, f));
    }
}

struct BinaryWalk<'a, A, B, T, F> {
    walk: &'a Walk<2>,
    a: &'a [A],
    b: &'a [B],
    start: usize,
    dst: &'a mut [MaybeUninit<T>],
    f: F,
}

impl<A: Copy + Send + Sync, B: Copy + Send + Sync, T: Copy, F: BinaryFn<A, B, T>> Kernel
    for BinaryWalk<'_, A, B, T, F>
{
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let (a, b, f) = (self.a, self.b, self.f);
        let [sa, sb] = self.walk.inner_strides;
        self.walk.rows(self.start, self.dst, |[oa, ob], d| {
            let n = d.len();
            match (sa, sb) {
                (1, 1) => simd::zip_loop(&a[oa..oa + n], &b[ob..ob + n], d, f),
                (_, 0) => map_row(a, oa, sa, d, BindRight(f, b[ob])),
                (0, _) => map_row(b, ob, sb, d, BindLeft(f, a[oa])),
                _ => {
                    for (j, slot) in d.iter_mut().enumerate() {
                        slot.write(f.apply(a[oa + j * sa], b[ob + j * sb]));
                    }
                }
            }
        });
    }
}

struct TernaryWalk<'a, A, B, C, T, F> {
    walk: &'a Walk<3>,
    data: (&'a [A], &'a [B], &'a [C]),
    start: usize,
    dst: &'a mut [MaybeUninit<T>],
    f: F,
}

impl<A: Copy, B: Copy, C: Copy, T, F: TernaryFn<A, B, C, T>> Kernel
    for TernaryWalk<'_, A, B, C, T, F>
{
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let ((a, b, c), f) = (self.data, self.f);
        let [sa, sb, sc] = self.walk.inner_strides;
        self.walk.rows(self.start, self.dst, |[oa, ob, oc], d| {
            let n = d.len();
            if (sa, sb, sc) == (1, 1, 1) {
                let rows = a[oa..oa + n].iter().zip(&b[ob..ob + n]).zip(&c[oc..oc + n]);
                for (slot, ((&x, &y), &z)) in d.iter_mut().zip(rows) {
                    slot.write(f.apply(x, y, z));
                }
            } else {
                for (j, slot) in d.iter_mut().enumerate() {
                    slot.write(f.apply(a[oa + j * sa], b[ob + j * sb], c[oc + j * sc]));
                }
            }
        });
    }
}

/// Whether any element of `x` satisfies `pred` (any layout).
pub(crate) fn any_element<T: Element>(x: &Tensor, pred: impl Fn(T) -> bool) -> Result<bool> {
    let v: StridedView<'_, T> = x.strided::<T>()?;
    if let Some(s) = v.as_contiguous() {
        return Ok(s.iter().any(|&e| pred(e)));
    }
    let mut found = false;
    v.for_each_row(|row| {
        if !found {
            found = row.into_iter().any(&pred);
        }
    });
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_merges_uniform_dimensions() {
        // [2,3,4] contiguous + broadcast scalar: one row of 24.
        let w = Walk::new(&[2, 3, 4], [&[12, 4, 1], &[0, 0, 0]], [0, 0]);
        assert_eq!((w.outer.len(), w.inner), (0, 24));
        assert_eq!(w.inner_strides, [1, 0]);
        // Bias over the last axis: rows of 4, b restarts each row.
        let w = Walk::new(&[2, 3, 4], [&[12, 4, 1], &[0, 0, 1]], [0, 5]);
        assert_eq!((w.outer.as_slice(), w.inner), (&[6][..], 4));
        assert_eq!(w.outer_strides[1].as_slice(), &[0]);
        let mut seen = Vec::new();
        let mut dst = vec![MaybeUninit::<u8>::uninit(); 7];
        w.rows(3, &mut dst, |o, d| seen.push((o, d.len())));
        assert_eq!(seen, vec![([3, 8], 1), ([4, 5], 4), ([8, 5], 2)]);
        // Rank 0.
        let w = Walk::<1>::new(&[], [&[]], [3]);
        assert_eq!((w.inner, w.inner_strides), (1, [0]));
    }
}
