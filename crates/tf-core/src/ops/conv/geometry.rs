//! Window geometry shared by the convolutions and pools: attribute parsing
//! (`strides`, `dilations`, `padding`, `explicit_paddings`, `ksize`, `data_format`)
//! and TensorFlow's output-size arithmetic (`GetWindowedOutputSize`).

use crate::error::{Error, Result};
use crate::op::{AttrValue, InferContext};

/// The padding mode of a windowed op, as its attribute names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PadMode {
    Same,
    Valid,
    Explicit,
}

/// Parsed spatial window attributes of an NHWC op (height, width order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    pub mode: PadMode,
    /// `[[top, bottom], [left, right]]` for `EXPLICIT`, zeros otherwise.
    pub explicit: [[usize; 2]; 2],
}

/// Reads an NHWC 4-element list attribute (`strides`, `dilations`, `ksize`): positive
/// entries, 1 in the batch and depth dimensions. `None` when absent.
pub(crate) fn nhwc_list(ctx: &InferContext<'_>, name: &str) -> Result<Option<[usize; 2]>> {
    let v = match ctx.attrs.get(name) {
        None => return Ok(None),
        Some(AttrValue::Ints(v)) => v,
        Some(other) => {
            return Err(Error::invalid(
                ctx.name(),
                format!("attribute '{name}' must be a list of ints, got {other}"),
            ));
        }
    };
    if v.len() != 4 {
        return Err(Error::invalid(
            ctx.name(),
            format!(
                "{name} must have 4 elements [1, height, width, 1], got {v:?} ({} elements)",
                v.len()
            ),
        ));
    }
    if v.iter().any(|&x| x <= 0) {
        return Err(Error::invalid(
            ctx.name(),
            format!("{name} must be positive, got {v:?}"),
        ));
    }
    if v[0] != 1 || v[3] != 1 {
        return Err(Error::invalid(
            ctx.name(),
            format!("{name} in the batch and depth dimensions must be 1, got {v:?}"),
        ));
    }
    let conv = |x: i64| {
        usize::try_from(x)
            .map_err(|_| Error::invalid(ctx.name(), format!("{name} value {x} is too large")))
    };
    Ok(Some([conv(v[1])?, conv(v[2])?]))
}

/// Checks the optional `data_format` attribute: only NHWC (TensorFlow's CPU layout).
pub(crate) fn check_nhwc(ctx: &InferContext<'_>) -> Result<()> {
    match ctx.attrs.get("data_format") {
        None => Ok(()),
        Some(AttrValue::Str(s)) if s == "NHWC" => Ok(()),
        Some(other) => Err(Error::invalid(
            ctx.name(),
            format!("data_format must be \"NHWC\" (the only CPU layout), got {other}"),
        )),
    }
}

/// Parses `strides`, `padding`, `explicit_paddings` and (when `dilations_allowed`)
/// `dilations` the way TensorFlow validates them.
pub(crate) fn parse_window(ctx: &InferContext<'_>, dilations_allowed: bool) -> Result<Window> {
    check_nhwc(ctx)?;
    let strides = nhwc_list(ctx, "strides")?
        .ok_or_else(|| Error::invalid(ctx.name(), "missing attribute 'strides'"))?;
    let dilations = if dilations_allowed {
        nhwc_list(ctx, "dilations")?.unwrap_or([1, 1])
    } else {
        [1, 1]
    };
    let mode = match ctx.attrs.get("padding") {
        Some(AttrValue::Str(s)) if s == "SAME" => PadMode::Same,
        Some(AttrValue::Str(s)) if s == "VALID" => PadMode::Valid,
        Some(AttrValue::Str(s)) if s == "EXPLICIT" && dilations_allowed => PadMode::Explicit,
        Some(other) => {
            let allowed = if dilations_allowed {
                "\"SAME\", \"VALID\" or \"EXPLICIT\""
            } else {
                "\"SAME\" or \"VALID\""
            };
            return Err(Error::invalid(
                ctx.name(),
                format!("padding must be {allowed}, got {other}"),
            ));
        }
        None => return Err(Error::invalid(ctx.name(), "missing attribute 'padding'")),
    };
    let pads: &[i64] = match ctx.attrs.get("explicit_paddings") {
        None => &[],
        Some(AttrValue::Ints(v)) => v,
        Some(other) => {
            return Err(Error::invalid(
                ctx.name(),
                format!("attribute 'explicit_paddings' must be a list of ints, got {other}"),
            ));
        }
    };
    let mut explicit = [[0usize; 2]; 2];
    if mode == PadMode::Explicit {
        if pads.len() != 8 {
            return Err(Error::invalid(
                ctx.name(),
                format!(
                    "explicit_paddings must have 8 elements (before/after for N, H, W, C), got {pads:?}"
                ),
            ));
        }
        if pads.iter().any(|&p| p < 0) {
            return Err(Error::invalid(
                ctx.name(),
                format!("explicit_paddings must be non-negative, got {pads:?}"),
            ));
        }
        if pads[0] != 0 || pads[1] != 0 || pads[6] != 0 || pads[7] != 0 {
            return Err(Error::invalid(
                ctx.name(),
                format!(
                    "explicit_paddings in the batch and depth dimensions must be 0, got {pads:?}"
                ),
            ));
        }
        for (i, pair) in explicit.iter_mut().enumerate() {
            for (j, slot) in pair.iter_mut().enumerate() {
                *slot = usize::try_from(pads[2 + 2 * i + j]).map_err(|_| {
                    Error::invalid(ctx.name(), format!("explicit_paddings too large: {pads:?}"))
                })?;
            }
        }
    } else if !pads.is_empty() {
        return Err(Error::invalid(
            ctx.name(),
            format!("explicit_paddings must be empty when padding is not EXPLICIT, got {pads:?}"),
        ));
    }
    Ok(Window {
        strides,
        dilations,
        mode,
        explicit,
    })
}

/// One spatial dimension of a window: output size and padding before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dim {
    pub out: usize,
    pub pad_before: usize,
}

impl Window {
    /// TensorFlow's `GetWindowedOutputSize` for spatial axis `axis` (0 = height,
    /// 1 = width): VALID `(in - k_eff + s) / s`, EXPLICIT the same on the padded
    /// input, SAME `ceil(in / s)` with `pad_total = max((out-1)·s + k_eff - in, 0)` and
    /// `pad_before = pad_total / 2`; `k_eff = (k-1)·dilation + 1`.
    ///
    /// Errors (naming `op`) when the output size would be negative.
    pub fn dim(&self, op: &'static str, axis: usize, input: usize, k: usize) -> Result<Dim> {
        let (s, d) = (self.strides[axis] as i128, self.dilations[axis] as i128);
        let (input, k) = (input as i128, k as i128);
        let k_eff = (k - 1).max(0) * d + 1;
        let [before, after] = self.explicit[axis].map(|p| p as i128);
        let (out, pad) = match self.mode {
            PadMode::Valid => ((input - k_eff + s) / s, 0),
            PadMode::Explicit => ((input + before + after - k_eff + s) / s, before),
            PadMode::Same => {
                let out = (input + s - 1) / s;
                let needed = ((out - 1) * s + k_eff - input).max(0);
                (out, needed / 2)
            }
        };
        if out < 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "computed output size would be negative: {out} [input_size: {input}, effective_filter_size: {k_eff}, stride: {s}]"
                ),
            ));
        }
        // Every input position a window reaches, `(out-1)·s + (k-1)·d`, must fit an
        // index (huge strides or dilations from attributes).
        if (out - 1).max(0) * s + k_eff > i64::MAX as i128 {
            return Err(Error::invalid(
                op,
                format!(
                    "window geometry overflows: input_size {input}, effective_filter_size {k_eff}, stride {s}"
                ),
            ));
        }
        let conv = |x: i128| {
            usize::try_from(x).map_err(|_| Error::invalid(op, "window geometry overflows"))
        };
        Ok(Dim {
            out: conv(out)?,
            pad_before: conv(pad)?,
        })
    }

    /// [`Window::dim`] on possibly unknown sizes: the output is unknown when either is.
    pub fn partial_dim(
        &self,
        op: &'static str,
        axis: usize,
        input: Option<usize>,
        k: Option<usize>,
    ) -> Result<Option<usize>> {
        match (input, k) {
            (Some(i), Some(k)) => Ok(Some(self.dim(op, axis, i, k)?.out)),
            _ => Ok(None),
        }
    }
}

/// The full geometry of one 2-D windowed op on known shapes (NHWC input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geom {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
}

impl Geom {
    /// The geometry of a window `[kh, kw]` over input `[n, h, w, c]`.
    pub fn new(op: &'static str, win: &Window, input: [usize; 4], k: [usize; 2]) -> Result<Geom> {
        let [n, h, w, c] = input;
        let y = win.dim(op, 0, h, k[0])?;
        let x = win.dim(op, 1, w, k[1])?;
        Ok(Geom {
            n,
            h,
            w,
            c,
            kh: k[0],
            kw: k[1],
            ho: y.out,
            wo: x.out,
            sh: win.strides[0],
            sw: win.strides[1],
            dh: win.dilations[0],
            dw: win.dilations[1],
            pt: y.pad_before,
            pl: x.pad_before,
        })
    }

    /// Input row of output row `oy` and kernel row `ky`, if inside the input.
    #[inline(always)]
    pub fn in_y(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.sh + ky * self.dh)
            .checked_sub(self.pt)
            .filter(|&y| y < self.h)
    }

    /// Input column of output column `ox` and kernel column `kx`, if inside the input.
    #[inline(always)]
    pub fn in_x(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.sw + kx * self.dw)
            .checked_sub(self.pl)
            .filter(|&x| x < self.w)
    }

    /// The kernel rows `ky` whose input row for output row `oy` is inside the input
    /// (so loops never walk a huge window's padding).
    #[inline(always)]
    pub fn ky_range(&self, oy: usize) -> std::ops::Range<usize> {
        tap_range(oy * self.sh, self.pt, self.dh, self.kh, self.h)
    }

    /// The kernel columns `kx` whose input column for output column `ox` is inside.
    #[inline(always)]
    pub fn kx_range(&self, ox: usize) -> std::ops::Range<usize> {
        tap_range(ox * self.sw, self.pl, self.dw, self.kw, self.w)
    }

    /// Output pixels (`n·ho·wo`).
    pub fn pixels(&self) -> usize {
        self.n * self.ho * self.wo
    }
}

/// Taps `t` in `0..k` with `0 <= start + t·d - pad < size`.
#[inline(always)]
fn tap_range(start: usize, pad: usize, d: usize, k: usize, size: usize) -> std::ops::Range<usize> {
    // First tap: t·d >= pad - start.
    let lo = pad.saturating_sub(start).div_ceil(d);
    // Last tap + 1: t·d < size + pad - start.
    let hi = match (size + pad).checked_sub(start) {
        Some(limit) if limit > 0 => (limit - 1) / d + 1,
        _ => 0,
    };
    lo.min(k)..hi.min(k).max(lo.min(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(mode: PadMode, s: usize, d: usize) -> Window {
        Window {
            strides: [s, s],
            dilations: [d, d],
            mode,
            explicit: [[1, 2], [0, 0]],
        }
    }

    #[test]
    fn tap_ranges_match_bounds_checks() {
        for (h, k, s, d, pad) in [
            (5, 3, 1, 1, 1),
            (4, 7, 2, 1, 3),
            (6, 3, 1, 2, 2),
            (3, 2, 3, 3, 0),
        ] {
            let mode = PadMode::Explicit;
            let w = Window {
                strides: [s, s],
                dilations: [d, d],
                mode,
                explicit: [[pad, pad], [0, 0]],
            };
            let g = Geom::new("t", &w, [1, h, 1, 1], [k, 1]).unwrap();
            for oy in 0..g.ho {
                let expect: Vec<usize> = (0..k).filter(|&ky| g.in_y(oy, ky).is_some()).collect();
                assert_eq!(
                    g.ky_range(oy).collect::<Vec<_>>(),
                    expect,
                    "h{h} k{k} s{s} d{d} p{pad} oy{oy}"
                );
            }
        }
    }

    #[test]
    fn output_sizes_follow_tensorflow() {
        let same = win(PadMode::Same, 2, 1);
        assert_eq!(
            same.dim("t", 0, 5, 3).unwrap(),
            Dim {
                out: 3,
                pad_before: 1
            }
        );
        assert_eq!(
            same.dim("t", 0, 4, 3).unwrap(),
            Dim {
                out: 2,
                pad_before: 0
            }
        );
        // Kernel larger than the input with SAME.
        assert_eq!(
            win(PadMode::Same, 1, 1).dim("t", 0, 2, 5).unwrap(),
            Dim {
                out: 2,
                pad_before: 2
            }
        );
        let valid = win(PadMode::Valid, 1, 2);
        assert_eq!(valid.dim("t", 0, 7, 3).unwrap().out, 3);
        assert_eq!(valid.dim("t", 0, 5, 3).unwrap().out, 1);
        // (2 - 3 + 1) / 1 = 0: empty, not an error (as in TensorFlow).
        assert_eq!(win(PadMode::Valid, 1, 1).dim("t", 0, 2, 3).unwrap().out, 0);
        let e = win(PadMode::Valid, 1, 1)
            .dim("t", 0, 1, 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative: -2"), "{e}");
        let ex = win(PadMode::Explicit, 1, 1);
        assert_eq!(
            ex.dim("t", 0, 4, 3).unwrap(),
            Dim {
                out: 5,
                pad_before: 1
            }
        );
        assert_eq!(
            ex.dim("t", 1, 4, 3).unwrap(),
            Dim {
                out: 2,
                pad_before: 0
            }
        );
    }
}
