//! Philox4x32-10, the counter-based generator TensorFlow's random kernels use
//! (`tensorflow/core/lib/random/philox_random.h`), and the distributions that turn its
//! 32-bit words into numbers exactly as TensorFlow does (`random_distributions.h`).
//!
//! A generator is a 128-bit counter and a 64-bit key. Each call of [`Philox::next`]
//! returns four words and advances the counter by one, and [`Philox::skip`] jumps
//! ahead, so any position of the stream can be reached in O(1): this is what makes the
//! output of the random kernels independent of how the work is split among threads.

/// Philox4x32 with 10 rounds: a 128-bit counter and a 64-bit key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Philox {
    counter: [u32; 4],
    key: [u32; 2],
}

const W32A: u32 = 0x9E37_79B9;
const W32B: u32 = 0xBB67_AE85;
const M4X32A: u32 = 0xD251_1F53;
const M4X32B: u32 = 0xCD9E_8D57;

impl Philox {
    /// TensorFlow's `PhiloxRandom(seed_lo, seed_hi)`: the key is `seed_lo`, the upper
    /// half of the counter is `seed_hi`.
    pub fn new(seed_lo: u64, seed_hi: u64) -> Philox {
        Philox {
            counter: [0, 0, seed_hi as u32, (seed_hi >> 32) as u32],
            key: [seed_lo as u32, (seed_lo >> 32) as u32],
        }
    }

    /// Advances the 128-bit counter by `count` (each unit is one call of `next`).
    pub fn skip(&mut self, count: u64) {
        let lo = count as u32;
        let mut hi = (count >> 32) as u32;
        let (c0, carry0) = self.counter[0].overflowing_add(lo);
        self.counter[0] = c0;
        if carry0 {
            hi = hi.wrapping_add(1);
        }
        let (c1, carry1) = self.counter[1].overflowing_add(hi);
        self.counter[1] = c1;
        // TensorFlow carries only when the add wrapped (`counter_[1] < count_hi`); a
        // count_hi that itself wrapped to 0 above cannot carry, exactly as there.
        if carry1 {
            self.counter[2] = self.counter[2].wrapping_add(1);
            if self.counter[2] == 0 {
                self.counter[3] = self.counter[3].wrapping_add(1);
            }
        }
    }

    /// The next four words.
    #[inline(always)]
    pub fn next(&mut self) -> [u32; 4] {
        let out = block(self.counter, self.key);
        self.skip_one();
        out
    }

    /// The next 16 outputs (as 16 calls of [`next`](Self::next)), computed lane-parallel
    /// so the compiler vectorizes the rounds.
    #[inline(always)]
    pub fn next16(&mut self) -> [[u32; 4]; 16] {
        if self.counter[0] > u32::MAX - 16 {
            return std::array::from_fn(|_| self.next());
        }
        let mut c0: [u32; 16] = std::array::from_fn(|i| self.counter[0] + i as u32);
        let mut c1 = [self.counter[1]; 16];
        let mut c2 = [self.counter[2]; 16];
        let mut c3 = [self.counter[3]; 16];
        let mut key = self.key;
        for round in 0..10 {
            if round > 0 {
                key[0] = key[0].wrapping_add(W32A);
                key[1] = key[1].wrapping_add(W32B);
            }
            for i in 0..16 {
                let p0 = u64::from(M4X32A) * u64::from(c0[i]);
                let p1 = u64::from(M4X32B) * u64::from(c2[i]);
                let n0 = (p1 >> 32) as u32 ^ c1[i] ^ key[0];
                let n2 = (p0 >> 32) as u32 ^ c3[i] ^ key[1];
                c0[i] = n0;
                c1[i] = p1 as u32;
                c2[i] = n2;
                c3[i] = p0 as u32;
            }
        }
        self.counter[0] += 16;
        std::array::from_fn(|i| [c0[i], c1[i], c2[i], c3[i]])
    }

    #[inline(always)]
    fn skip_one(&mut self) {
        self.counter[0] = self.counter[0].wrapping_add(1);
        if self.counter[0] == 0 {
            self.counter[1] = self.counter[1].wrapping_add(1);
            if self.counter[1] == 0 {
                self.counter[2] = self.counter[2].wrapping_add(1);
                if self.counter[2] == 0 {
                    self.counter[3] = self.counter[3].wrapping_add(1);
                }
            }
        }
    }
}

#[inline(always)]
fn mul_hi_lo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// The ten Philox rounds on one counter.
#[inline(always)]
fn block(mut ctr: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            key[0] = key[0].wrapping_add(W32A);
            key[1] = key[1].wrapping_add(W32B);
        }
        let (hi0, lo0) = mul_hi_lo(M4X32A, ctr[0]);
        let (hi1, lo1) = mul_hi_lo(M4X32B, ctr[2]);
        ctr = [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0];
    }
    ctr
}

/// Reads single words off a generator, four per Philox call (TensorFlow's
/// `SingleSampleAdapter`, used by distributions that consume a variable number of words).
pub struct SingleSamples<'a> {
    rng: &'a mut Philox,
    buf: [u32; 4],
    used: usize,
}

impl<'a> SingleSamples<'a> {
    /// An adapter starting at `rng`'s current position.
    pub fn new(rng: &'a mut Philox) -> SingleSamples<'a> {
        SingleSamples {
            rng,
            buf: [0; 4],
            used: 4,
        }
    }

    /// The next word.
    #[inline(always)]
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.buf = self.rng.next();
            self.used = 0;
        }
        let v = self.buf[self.used];
        self.used += 1;
        v
    }
}

/// A uniform float in `[0, 1)` from 23 random mantissa bits (`Uint32ToFloat`).
#[inline(always)]
pub fn u32_to_f32(x: u32) -> f32 {
    f32::from_bits((x & 0x7f_ffff) | 0x3f80_0000) - 1.0
}

/// A uniform double in `[0, 1)` from 52 random mantissa bits (`Uint64ToDouble`).
#[inline(always)]
pub fn u64_to_f64(x0: u32, x1: u32) -> f64 {
    let man = (u64::from(x0 & 0xf_ffff) << 32) | u64::from(x1);
    f64::from_bits((1023u64 << 52) | man) - 1.0
}

/// A uniform half in `[0, 1)` from 10 random bits (`Uint16ToHalf`).
#[inline(always)]
pub fn u16_to_f16(x: u32) -> half::f16 {
    let v = half::f16::from_bits((15u16 << 10) | (x as u16 & 0x3ff));
    // Exact in f32: both operands and the difference are representable.
    half::f16::from_f32(v.to_f32() - 1.0)
}

/// A uniform bfloat16 in `[0, 1)` from 7 random bits (`Uint16ToGfloat16`).
#[inline(always)]
pub fn u16_to_bf16(x: u32) -> half::bf16 {
    let v = half::bf16::from_bits((127u16 << 7) | (x as u16 & 0x7f));
    half::bf16::from_f32(v.to_f32() - 1.0)
}

/// Box-Muller on two words: two standard normal floats (`BoxMullerFloat`: sine first).
#[inline(always)]
pub fn box_muller_f32(x0: u32, x1: u32) -> (f32, f32) {
    let u1 = u32_to_f32(x0).max(1.0e-7);
    let v1 = 2.0 * std::f32::consts::PI * u32_to_f32(x1);
    let u2 = (-2.0 * u1.ln()).sqrt();
    let (s, c) = v1.sin_cos();
    (s * u2, c * u2)
}

/// Box-Muller on four words: two standard normal doubles (`BoxMullerDouble`).
#[inline(always)]
pub fn box_muller_f64(x: [u32; 4]) -> (f64, f64) {
    let u1 = u64_to_f64(x[0], x[1]).max(1.0e-7);
    let v1 = 2.0 * std::f64::consts::PI * u64_to_f64(x[2], x[3]);
    let u2 = (-2.0 * u1.ln()).sqrt();
    let (s, c) = v1.sin_cos();
    (s * u2, c * u2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_vectors() {
        // Random123's published known-answer tests for philox4x32-10.
        let kat = |ctr: [u32; 4], key: [u32; 2]| block(ctr, key);
        assert_eq!(
            kat([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            kat([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            kat(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn skip_matches_repeated_next() {
        let mut a = Philox::new(7, u64::MAX - 3);
        a.counter[0] = u32::MAX - 2;
        a.counter[1] = u32::MAX;
        let mut b = a;
        for _ in 0..5 {
            a.next();
        }
        b.skip(5);
        assert_eq!(a, b);
        let mut c = Philox::new(1, 2);
        c.skip(1 << 33);
        assert_eq!(c.counter, [0, 2, 2, 0]);
    }

    #[test]
    fn next16_matches_next() {
        for start in [
            0u32,
            5,
            u32::MAX - 20,
            u32::MAX - 16,
            u32::MAX - 15,
            u32::MAX,
        ] {
            let mut a = Philox::new(0x1234_5678_9abc, 42);
            a.counter[0] = start;
            a.counter[1] = u32::MAX;
            let mut b = a;
            let block = a.next16();
            for (k, w) in block.iter().enumerate() {
                assert_eq!(*w, b.next(), "start {start}, lane {k}");
            }
            assert_eq!(a, b);
        }
    }

    #[test]
    fn conversions_stay_in_unit_interval() {
        for x in [0u32, 1, 0x7f_ffff, u32::MAX, 0x1234_5678] {
            let f = u32_to_f32(x);
            assert!((0.0..1.0).contains(&f));
            let d = u64_to_f64(x, !x);
            assert!((0.0..1.0).contains(&d));
            assert!((0.0..1.0).contains(&u16_to_f16(x).to_f32()));
            assert!((0.0..1.0).contains(&u16_to_bf16(x).to_f32()));
        }
        assert_eq!(u32_to_f32(u32::MAX), 1.0 - f32::EPSILON);
        let (a, b) = box_muller_f32(0, 0);
        assert!(a.is_finite() && b.is_finite());
    }
}
