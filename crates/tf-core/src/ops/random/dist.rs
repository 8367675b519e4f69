//! Distributions over Philox output groups, and the parallel fill that is independent
//! of the thread count.
//!
//! As in TensorFlow's `FillPhiloxRandom`, the output is a sequence of *groups* (4
//! floats or 2 doubles per Philox call); group `g` is produced by the kernel's
//! generator skipped by `g` calls (or by `g * 256 * group / 4` for distributions that
//! consume a variable number of words, like the truncated normal). The value of every
//! element is therefore a function of its index alone: the output is the same whatever
//! the split into parallel chunks, and identical to TensorFlow's for the same seeds.

use super::philox::{
    Philox, SingleSamples, box_muller_f32, box_muller_f64, u16_to_bf16, u16_to_f16, u32_to_f32,
    u64_to_f64,
};
use crate::dtype::Element;
use crate::kernels::parallel::{PAR_CHUNK, fill_vec};
use half::{bf16, f16};
use std::mem::MaybeUninit;

/// A distribution producing `GROUP` values per group.
pub(crate) trait Dist: Sync {
    /// Element type.
    type T: Element;
    /// Values per group (divides [`PAR_CHUNK`]).
    const GROUP: usize;
    /// Whether one group consumes a variable number of words (then each group starts
    /// from its own reserved region of the stream).
    const VARIABLE: bool = false;
    /// Writes one group (or its first `out.len()` values, for the last partial group)
    /// from one Philox output (fixed-consumption distributions).
    fn group(&self, words: [u32; 4], out: &mut [MaybeUninit<Self::T>]);
    /// Writes one group reading as many words from `rng` as it needs (the variable
    /// distributions override this; the others use one output).
    #[inline(always)]
    fn group_from(&self, rng: &mut Philox, out: &mut [MaybeUninit<Self::T>]) {
        self.group(rng.next(), out)
    }
}

/// Fills consecutive groups of a fixed-consumption distribution from `rng`, 16 Philox
/// outputs at a time.
#[inline(always)]
fn fill_fixed_generic<D: Dist>(mut rng: Philox, chunk: &mut [MaybeUninit<D::T>], dist: &D) {
    let mut groups = chunk.chunks_mut(D::GROUP);
    loop {
        for w in rng.next16() {
            match groups.next() {
                Some(out) => dist.group(w, out),
                None => return,
            }
        }
    }
}

/// [`fill_fixed_generic`] compiled for the best vector extension the CPU has.
fn fill_fixed<D: Dist>(rng: Philox, chunk: &mut [MaybeUninit<D::T>], dist: &D) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
        unsafe fn avx512<D: Dist>(rng: Philox, chunk: &mut [MaybeUninit<D::T>], dist: &D) {
            fill_fixed_generic(rng, chunk, dist)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<D: Dist>(rng: Philox, chunk: &mut [MaybeUninit<D::T>], dist: &D) {
            fill_fixed_generic(rng, chunk, dist)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU supports the features `avx512` is compiled for.
            return unsafe { avx512(rng, chunk, dist) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features `avx2` is compiled for.
            return unsafe { avx2(rng, chunk, dist) };
        }
    }
    fill_fixed_generic(rng, chunk, dist)
}

/// Fills `n` values from `dist`, starting at generator `base`, in parallel chunks above
/// the size threshold; the result does not depend on the chunking.
pub(crate) fn fill<D: Dist>(n: usize, base: Philox, dist: &D) -> crate::error::Result<Vec<D::T>> {
    debug_assert_eq!(PAR_CHUNK % D::GROUP, 0);
    let words_per_group = (D::GROUP * 256 / 4) as u64;
    fill_vec(n, |start, chunk| {
        let first_group = (start / D::GROUP) as u64;
        if !D::VARIABLE {
            let mut rng = base;
            rng.skip(first_group);
            return fill_fixed(rng, chunk, dist);
        }
        for (k, out) in chunk.chunks_mut(D::GROUP).enumerate() {
            let mut rng = base;
            rng.skip((first_group + k as u64).wrapping_mul(words_per_group));
            dist.group_from(&mut rng, out);
        }
    })
}

#[inline(always)]
pub(crate) fn write_group<T: Copy, const N: usize>(vals: [T; N], out: &mut [MaybeUninit<T>]) {
    for (o, v) in out.iter_mut().zip(vals) {
        o.write(v);
    }
}

/// Element arithmetic in the element's own precision (half types round after every
/// operation, as Eigen's half arithmetic does), for the affine maps TensorFlow's Python
/// layer applies after the raw kernels.
pub(crate) trait RandFloat: Element {
    /// `a * b + c`, rounded after the product and after the sum (not fused).
    fn mul_add_rounded(a: Self, b: Self, c: Self) -> Self;
    /// `a - b`.
    fn sub(a: Self, b: Self) -> Self;
}

impl RandFloat for f32 {
    #[inline(always)]
    fn mul_add_rounded(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
}
impl RandFloat for f64 {
    #[inline(always)]
    fn mul_add_rounded(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
    #[inline(always)]
    fn sub(a: f64, b: f64) -> f64 {
        a - b
    }
}
macro_rules! rand_half {
    ($t:ty) => {
        impl RandFloat for $t {
            #[inline(always)]
            fn mul_add_rounded(a: $t, b: $t, c: $t) -> $t {
                let p = <$t>::from_f32(a.to_f32() * b.to_f32());
                <$t>::from_f32(p.to_f32() + c.to_f32())
            }
            #[inline(always)]
            fn sub(a: $t, b: $t) -> $t {
                <$t>::from_f32(a.to_f32() - b.to_f32())
            }
        }
    };
}
rand_half!(f16);
rand_half!(bf16);

/// Per-type raw samplers: uniform `[0, 1)` groups and standard normal groups, bit for
/// bit TensorFlow's `UniformDistribution` / `NormalDistribution` /
/// `TruncatedNormalDistribution`. Each returns one group in the first `GROUP` slots.
pub(crate) trait Sampler: RandFloat {
    /// Values per group (4, or 2 for f64).
    const GROUP: usize;
    /// Uniform `[0, 1)` group from one Philox output.
    fn uniform(w: [u32; 4]) -> [Self; 4];
    /// Standard normal group from one Philox output.
    fn normal(w: [u32; 4]) -> [Self; 4];
    /// Standard normal group truncated to `(-2, 2)`, from single words.
    fn truncated(rng: &mut SingleSamples<'_>) -> [Self; 4];
}

/// Rejection loop shared by the float-based truncated normals: Box-Muller pairs in
/// f32, keeping values with `|x| < 2`.
#[inline(always)]
fn truncated_f32(rng: &mut SingleSamples<'_>) -> [f32; 4] {
    let mut res = [0.0f32; 4];
    let mut idx = 0;
    loop {
        let (a, b) = box_muller_f32(rng.next_u32(), rng.next_u32());
        for v in [a, b] {
            if v.abs() < 2.0 {
                res[idx] = v;
                idx += 1;
                if idx == 4 {
                    return res;
                }
            }
        }
    }
}

#[inline(always)]
fn normal_f32(s: [u32; 4]) -> [f32; 4] {
    let (a, b) = box_muller_f32(s[0], s[1]);
    let (c, d) = box_muller_f32(s[2], s[3]);
    [a, b, c, d]
}

impl Sampler for f32 {
    const GROUP: usize = 4;
    #[inline(always)]
    fn uniform(w: [u32; 4]) -> [f32; 4] {
        w.map(u32_to_f32)
    }
    #[inline(always)]
    fn normal(w: [u32; 4]) -> [f32; 4] {
        normal_f32(w)
    }
    #[inline(always)]
    fn truncated(rng: &mut SingleSamples<'_>) -> [f32; 4] {
        truncated_f32(rng)
    }
}

macro_rules! sampler_half {
    ($t:ty, $conv:path) => {
        impl Sampler for $t {
            const GROUP: usize = 4;
            #[inline(always)]
            fn uniform(w: [u32; 4]) -> [$t; 4] {
                w.map($conv)
            }
            #[inline(always)]
            fn normal(w: [u32; 4]) -> [$t; 4] {
                normal_f32(w).map(<$t>::from_f32)
            }
            #[inline(always)]
            fn truncated(rng: &mut SingleSamples<'_>) -> [$t; 4] {
                truncated_f32(rng).map(<$t>::from_f32)
            }
        }
    };
}
sampler_half!(f16, u16_to_f16);
sampler_half!(bf16, u16_to_bf16);

impl Sampler for f64 {
    const GROUP: usize = 2;
    #[inline(always)]
    fn uniform(s: [u32; 4]) -> [f64; 4] {
        [u64_to_f64(s[0], s[1]), u64_to_f64(s[2], s[3]), 0.0, 0.0]
    }
    #[inline(always)]
    fn normal(w: [u32; 4]) -> [f64; 4] {
        let (a, b) = box_muller_f64(w);
        [a, b, 0.0, 0.0]
    }
    #[inline(always)]
    fn truncated(rng: &mut SingleSamples<'_>) -> [f64; 4] {
        let mut res = [0.0f64; 4];
        let mut idx = 0;
        loop {
            let w = [
                rng.next_u32(),
                rng.next_u32(),
                rng.next_u32(),
                rng.next_u32(),
            ];
            let (a, b) = box_muller_f64(w);
            for v in [a, b] {
                if v.abs() < 2.0 {
                    res[idx] = v;
                    idx += 1;
                    if idx == 2 {
                        return res;
                    }
                }
            }
        }
    }
}

/// `u * (max - min) + min` for `u` uniform in `[0, 1)` (RandomUniform plus the affine
/// map of `tf.random.uniform`).
pub(crate) struct Uniform<T> {
    /// Lower bound.
    pub min: T,
    /// `max - min`, in `T`.
    pub range: T,
}

impl<T: Sampler> Dist for Uniform<T> {
    type T = T;
    const GROUP: usize = T::GROUP;
    #[inline(always)]
    fn group(&self, w: [u32; 4], out: &mut [MaybeUninit<T>]) {
        let u = T::uniform(w);
        write_group(u.map(|u| T::mul_add_rounded(u, self.range, self.min)), out);
    }
}

/// `z * stddev + mean` for standard normal `z`, optionally truncated to two standard
/// deviations (TruncatedNormal).
pub(crate) struct Normal<T> {
    /// Mean.
    pub mean: T,
    /// Standard deviation.
    pub stddev: T,
}

/// The plain normal distribution (fixed words per group).
pub(crate) struct NormalDist<T>(pub Normal<T>);
/// The truncated normal distribution (variable words per group).
pub(crate) struct TruncatedDist<T>(pub Normal<T>);

impl<T: Sampler> Dist for NormalDist<T> {
    type T = T;
    const GROUP: usize = T::GROUP;
    #[inline(always)]
    fn group(&self, w: [u32; 4], out: &mut [MaybeUninit<T>]) {
        let z = T::normal(w);
        write_group(
            z.map(|z| T::mul_add_rounded(z, self.0.stddev, self.0.mean)),
            out,
        );
    }
}

impl<T: Sampler> Dist for TruncatedDist<T> {
    type T = T;
    const GROUP: usize = T::GROUP;
    const VARIABLE: bool = true;
    #[inline(always)]
    fn group(&self, w: [u32; 4], out: &mut [MaybeUninit<T>]) {
        // Not used by `fill` (variable consumption goes through `group_from`); defined
        // for completeness as a group from a generator keyed by the words.
        let mut rng = Philox::new(
            u64::from(w[0]) | (u64::from(w[1]) << 32),
            u64::from(w[2]) | (u64::from(w[3]) << 32),
        );
        self.group_from(&mut rng, out)
    }
    #[inline(always)]
    fn group_from(&self, rng: &mut Philox, out: &mut [MaybeUninit<T>]) {
        let z = T::truncated(&mut SingleSamples::new(rng));
        write_group(
            z.map(|z| T::mul_add_rounded(z, self.0.stddev, self.0.mean)),
            out,
        );
    }
}
/// Integers uniform in `[lo, hi)` (TensorFlow's `UniformDistribution<_, int32/int64>`:
/// `lo + bits % (hi - lo)`).
pub(crate) struct UniformInt<T> {
    /// Lower bound.
    pub lo: T,
    /// `hi - lo` as unsigned.
    pub range: u64,
}

impl Dist for UniformInt<i32> {
    type T = i32;
    const GROUP: usize = 4;
    #[inline(always)]
    fn group(&self, s: [u32; 4], out: &mut [MaybeUninit<i32>]) {
        let range = self.range as u32;
        write_group(s.map(|x| self.lo.wrapping_add((x % range) as i32)), out);
    }
}

impl Dist for UniformInt<i64> {
    type T = i64;
    const GROUP: usize = 2;
    #[inline(always)]
    fn group(&self, s: [u32; 4], out: &mut [MaybeUninit<i64>]) {
        let bits = |a: u32, b: u32| u64::from(a) | (u64::from(b) << 32);
        let v = [bits(s[0], s[1]), bits(s[2], s[3])];
        write_group(
            v.map(|x| self.lo.wrapping_add((x % self.range) as i64)),
            out,
        );
    }
}
