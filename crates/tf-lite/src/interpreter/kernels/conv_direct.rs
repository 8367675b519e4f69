//! Direct CONV_2D for windows with few inputs (`k_h·k_w·in_c` ≤ [`MAX_DIRECT_K`], typically
//! a first layer on 1- or 3-channel images): per output pixel, accumulate each window
//! value times a row of weights over all output channels. An im2col row of 9 values makes
//! a poor matrix product; this loop vectorizes over the output channels instead.

use super::conv::{Geometry, Requant};
use super::{Io, Kernel};
use crate::error::Result;

/// Largest window size (`k_h·k_w·in_c`) sent to the direct kernels.
pub(crate) const MAX_DIRECT_K: usize = 32;

/// `[window position·in_c + ic][cout]` from `[cout][k_h][k_w][in_c]` weights.
pub(crate) fn transpose_weights<T: Copy + Default>(w: &[T], cout: usize, k: usize) -> Vec<T> {
    let mut t = vec![T::default(); k * cout];
    for o in 0..cout {
        for p in 0..k {
            t[p * cout + o] = w[o * k + p];
        }
    }
    t
}

pub(crate) struct DirectF32 {
    pub g: Geometry,
    pub cout: usize,
    pub wt: Vec<f32>,
    pub bias: Vec<f32>,
    pub lo: f32,
    pub hi: f32,
    pub avx2: bool,
}

#[inline(always)]
fn direct_f32_body(k: &DirectF32, x: &[f32], out: &mut [f32]) {
    let g = &k.g;
    let n = k.cout;
    let mut o = 0;
    for b in 0..g.batch {
        let img = &x[b * g.in_h * g.in_w * g.in_c..];
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let acc = &mut out[o..o + n];
                acc.copy_from_slice(&k.bias[..n]);
                for ky in 0..g.k_h {
                    let Some(iy) = g.iy(oy, ky) else { continue };
                    for kx in 0..g.k_w {
                        let Some(ix) = g.ix(ox, kx) else { continue };
                        let px = &img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        let base = (ky * g.k_w + kx) * g.in_c;
                        for (ic, &xv) in px.iter().enumerate() {
                            let w = &k.wt[(base + ic) * n..][..n];
                            for (a, &wv) in acc.iter_mut().zip(w) {
                                *a += xv * wv;
                            }
                        }
                    }
                }
                for a in acc.iter_mut() {
                    *a = a.clamp(k.lo, k.hi);
                }
                o += n;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn direct_f32_avx2(k: &DirectF32, x: &[f32], out: &mut [f32]) {
    direct_f32_body(k, x, out);
}

impl Kernel for DirectF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<f32>(0)?;
        let out = io.output::<f32>(0)?;
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: AVX2 and FMA were detected when the kernel was prepared.
            unsafe { direct_f32_avx2(self, x, out) };
            return Ok(());
        }
        direct_f32_body(self, x, out);
        Ok(())
    }
}

pub(crate) struct DirectI8 {
    pub g: Geometry,
    pub cout: usize,
    /// Transposed weights widened to int32.
    pub wt: Vec<i32>,
    /// Requantization with the plain bias (padding is skipped, so no weight-sum term).
    pub rq: Requant,
    pub in_zp: i32,
    pub avx2: bool,
}

#[inline(always)]
fn direct_i8_body(k: &DirectI8, x: &[i8], out: &mut [i8], acc: &mut [i32]) {
    let g = &k.g;
    let n = k.cout;
    let acc = &mut acc[..n];
    let mut o = 0;
    for b in 0..g.batch {
        let img = &x[b * g.in_h * g.in_w * g.in_c..];
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                acc.fill(0);
                for ky in 0..g.k_h {
                    let Some(iy) = g.iy(oy, ky) else { continue };
                    for kx in 0..g.k_w {
                        let Some(ix) = g.ix(ox, kx) else { continue };
                        let px = &img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        let base = (ky * g.k_w + kx) * g.in_c;
                        for (ic, &xv) in px.iter().enumerate() {
                            let xv = i32::from(xv) - k.in_zp;
                            let w = &k.wt[(base + ic) * n..][..n];
                            for (a, &wv) in acc.iter_mut().zip(w) {
                                *a = a.wrapping_add(xv.wrapping_mul(wv));
                            }
                        }
                    }
                }
                k.rq.row.apply_row(acc, &mut out[o..o + n]);
                o += n;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn direct_i8_avx2(k: &DirectI8, x: &[i8], out: &mut [i8], acc: &mut [i32]) {
    direct_i8_body(k, x, out, acc);
}

impl Kernel for DirectI8 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let x = io.input::<i8>(0)?;
        let out = io.output::<i8>(0)?;
        let acc = io.scratch::<i32>()?;
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: AVX2 was detected when the kernel was prepared.
            unsafe { direct_i8_avx2(self, x, out, acc) };
            return Ok(());
        }
        direct_i8_body(self, x, out, acc);
        Ok(())
    }
}

/// Whether the CPU has AVX2 and FMA (the direct kernels' fast build).
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
