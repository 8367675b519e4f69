//! TensorFlow's seeding model: a global seed per context, op-level seeds, and the
//! per-kernel generator state that makes repeated calls give a sequence.
//!
//! # Design
//!
//! Seeds are resolved in two places, as in TensorFlow:
//!
//! 1. **When a random op is called** (the public function, like TF's Python layer),
//!    [`get_seed`] turns the optional op seed and the context's global seed into the
//!    pair of attributes `seed`/`seed2` that the op carries (`tf.compat.v1.get_seed`):
//!    * neither set: `(0, 0)`, which the kernel reads as "nondeterministic";
//!    * global only: the op seed is drawn from a Mersenne Twister seeded with the global
//!      seed (Python's `random.Random(seed).randint(0, 2**31 - 1)`, exactly what TF's
//!      eager context does), so a program's sequence of random ops is reproducible;
//!    * op only: TensorFlow's default global seed, 87654321;
//!    * both: both. Seeds are reduced modulo `2**31 - 1` and `(0, 0)` becomes
//!      `(0, 2**31 - 1)`, like TF.
//! 2. **When the kernel runs**, it looks up its generator in the context's *kernel
//!    table*, keyed by (op name, dtype, seed, seed2), exactly the attributes that key
//!    TensorFlow's eager kernel cache. A new entry starts at `Philox(seed, seed2)` (for
//!    `(0, 0)`, at seeds from OS entropy); each call takes the current position and
//!    skips past what it may use, so calling the same op with the same seeds yields
//!    A1, A2, ...
//!
//! [`set_random_seed`] sets the global seed, restarts the op-seed counter and clears
//! the kernel table, so running the same program again gives the same numbers.
//!
//! Under tracing, the attributes are resolved once when the function is traced and
//! stored in the graph node; every execution of the node runs the kernel, which
//! advances the kernel table entry, so a traced function gives new numbers on every
//! call (TensorFlow's behaviour), and reproducibly so after `set_random_seed`.
//! Unlike a TensorFlow graph, two nodes with identical seeds share one generator (they
//! would need the same explicit op seed; seeds drawn from the global seed differ).
//!
//! Like TensorFlow's kernel cache, the kernel table gains one small entry per distinct
//! seed pair: with a global seed and no op seeds, every call adds one (its op seed is
//! new). [`set_random_seed`] and [`clear_random_seed`] empty it.
//!
//! The context is per thread: each thread is its own eager context with its own global
//! seed, counter and kernel table. `set_random_seed` on one thread does not affect
//! random ops run on another, and tests running in parallel do not disturb each other.

use super::philox::Philox;
use crate::dtype::DType;
use std::cell::RefCell;
use std::collections::HashMap;

/// TensorFlow's `DEFAULT_GRAPH_SEED`, used when only an op seed is given.
pub const DEFAULT_GRAPH_SEED: i64 = 87_654_321;

/// `2**31 - 1`: TensorFlow reduces seeds modulo this value.
const MAXINT32: u64 = (1 << 31) - 1;

/// Key of a kernel's generator: op name, dtype, seed, seed2.
type KernelKey = (&'static str, DType, i64, i64);

#[derive(Default)]
struct RandomContext {
    global_seed: Option<u64>,
    op_seeds: Option<Mt19937>,
    kernels: HashMap<KernelKey, Philox>,
}

thread_local! {
    static CONTEXT: RefCell<RandomContext> = RefCell::new(RandomContext::default());
}

/// Sets the global random seed of the current thread's context
/// (`tf.random.set_seed`): random ops called afterwards without an op seed get op seeds
/// from a counter seeded by it, and every random kernel restarts its sequence, so the
/// same program run again produces the same numbers.
///
/// ```
/// use tf_core::{DType, ops};
/// ops::set_random_seed(1234);
/// let a1 = ops::random_uniform(&[3], 0.0, 1.0, DType::F32, None)?;
/// let a2 = ops::random_uniform(&[3], 0.0, 1.0, DType::F32, None)?;
/// ops::set_random_seed(1234);
/// assert_eq!(ops::random_uniform(&[3], 0.0, 1.0, DType::F32, None)?.to_vec::<f32>()?, a1.to_vec::<f32>()?);
/// assert_eq!(ops::random_uniform(&[3], 0.0, 1.0, DType::F32, None)?.to_vec::<f32>()?, a2.to_vec::<f32>()?);
/// # Ok::<(), tf_core::Error>(())
/// ```
pub fn set_random_seed(seed: u64) {
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        c.global_seed = Some(seed);
        c.op_seeds = Some(Mt19937::from_python_int(seed));
        c.kernels.clear();
    });
}

/// Clears the global seed of the current thread's context and its kernel table: random
/// ops without an op seed become nondeterministic again (a fresh eager context).
pub fn clear_random_seed() {
    CONTEXT.with(|c| *c.borrow_mut() = RandomContext::default());
}

/// The global seed of the current thread's context, if one was set.
pub fn global_random_seed() -> Option<u64> {
    CONTEXT.with(|c| c.borrow().global_seed)
}

/// Resolves an op seed against the context's global seed into the `(seed, seed2)`
/// attributes of a random op (`tf.compat.v1.random.get_seed`); see the module docs.
/// `(0, 0)` means nondeterministic. Draws one op seed from the counter when only the
/// global seed is set.
pub fn get_seed(op_seed: Option<u64>) -> (i64, i64) {
    let truncate = |s: u64| (s % MAXINT32) as i64;
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        let c = &mut *c;
        let seeds = match (c.global_seed, op_seed) {
            (Some(g), Some(o)) => (truncate(g), truncate(o)),
            (Some(g), None) => {
                let mt = c
                    .op_seeds
                    .get_or_insert_with(|| Mt19937::from_python_int(g));
                (truncate(g), truncate(mt.randint_maxint32()))
            }
            (None, Some(o)) => (DEFAULT_GRAPH_SEED, truncate(o)),
            (None, None) => return (0, 0),
        };
        // (0, 0) would read as "nondeterministic" in the kernel.
        if seeds == (0, 0) {
            (0, MAXINT32 as i64)
        } else {
            seeds
        }
    })
}

/// The generator for one kernel call that may use up to `groups` Philox outputs
/// (skipping the kernel's state by `groups * 256`, TensorFlow's `ReserveRandomOutputs`),
/// and advances the kernel's state past them.
pub(crate) fn reserve(
    op: &'static str,
    dtype: DType,
    seed: i64,
    seed2: i64,
    outputs: u64,
) -> Philox {
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        let rng = c
            .kernels
            .entry((op, dtype, seed, seed2))
            .or_insert_with(|| {
                if seed == 0 && seed2 == 0 {
                    Philox::new(rand::random::<u64>(), rand::random::<u64>())
                } else {
                    Philox::new(seed as u64, seed2 as u64)
                }
            });
        let start = *rng;
        rng.skip(outputs.wrapping_mul(256));
        start
    })
}

/// MT19937 as Python's `random.Random` uses it, to draw op seeds exactly as
/// TensorFlow's eager context does (`random.Random(global_seed).randint(0, 2**31 - 1)`).
struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Default for Mt19937 {
    fn default() -> Self {
        Mt19937::from_python_int(0)
    }
}

impl Mt19937 {
    fn init_genrand(s: u32) -> Mt19937 {
        let mut state = [0u32; 624];
        state[0] = s;
        for i in 1..624 {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624 }
    }

    /// `random.Random(seed)` for a non-negative int: `init_by_array` with the seed's
    /// 32-bit words, least significant first.
    fn from_python_int(seed: u64) -> Mt19937 {
        let key: &[u32] = &if seed >> 32 == 0 {
            vec![seed as u32]
        } else {
            vec![seed as u32, (seed >> 32) as u32]
        };
        let mut mt = Mt19937::init_genrand(19_650_218);
        let mt_s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            mt_s[i] = (mt_s[i] ^ (mt_s[i - 1] ^ (mt_s[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                mt_s[0] = mt_s[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            mt_s[i] = (mt_s[i] ^ (mt_s[i - 1] ^ (mt_s[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                mt_s[0] = mt_s[623];
                i = 1;
            }
        }
        mt_s[0] = 0x8000_0000;
        mt
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.state[(k + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.state[k] = v;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `randint(0, 2**31 - 1)`: `getrandbits(32)` until below `2**31`.
    fn randint_maxint32(&mut self) -> u64 {
        loop {
            let r = self.next_u32();
            if r < 1 << 31 {
                return u64::from(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_seeds_follow_python_random() {
        // Python 3.11: r = random.Random(1234); [r.randint(0, 2**31 - 1) for _ in range(3)]
        let mut mt = Mt19937::from_python_int(1234);
        let v: Vec<u64> = (0..3).map(|_| mt.randint_maxint32()).collect();
        assert_eq!(v, vec![1_892_932_127, 501_869_158, 32_175_636]);
    }

    #[test]
    fn seed_resolution_rules() {
        clear_random_seed();
        assert_eq!(get_seed(None), (0, 0));
        assert_eq!(get_seed(Some(5)), (DEFAULT_GRAPH_SEED, 5));
        set_random_seed(1234);
        assert_eq!(get_seed(Some(7)), (1234, 7));
        assert_eq!(get_seed(None), (1234, 1_892_932_127));
        assert_eq!(get_seed(None), (1234, 501_869_158));
        set_random_seed((1 << 31) - 1);
        assert_eq!(get_seed(Some(0)), (0, (1 << 31) - 1));
        clear_random_seed();
        assert_eq!(global_random_seed(), None);
    }
}
