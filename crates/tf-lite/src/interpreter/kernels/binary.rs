//! Broadcasting binary operators: ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM in float32;
//! ADD, SUB, MUL, MAXIMUM, MINIMUM in int8 with TensorFlow Lite's fixed-point
//! requantization.

use super::{Io, Kernel, PrepareCtx, Prepared, activation_range_f32};
use crate::error::Result;
use crate::format::{self, ActivationFunctionType, BuiltinOperator, BuiltinOptions, TensorType};
use crate::interpreter::quant::{Multiplier, activation_range_i8};

/// Broadcast iteration plan: output shape and each operand's element strides (0 on
/// broadcast axes), all padded to the same rank (at least 1).
#[derive(Clone, Debug)]
pub(crate) struct Broadcast {
    shape: Vec<usize>,
    sa: Vec<usize>,
    sb: Vec<usize>,
    /// Both operands have the output's shape: a flat loop.
    same: bool,
}

impl Broadcast {
    pub(crate) fn new(ctx: &PrepareCtx<'_>, a: &[usize], b: &[usize]) -> Result<Broadcast> {
        let rank = a.len().max(b.len()).max(1);
        let pad = |s: &[usize]| {
            let mut v = vec![1; rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (pa, pb) = (pad(a), pad(b));
        let mut shape = Vec::with_capacity(rank);
        for (&x, &y) in pa.iter().zip(&pb) {
            if x != y && x != 1 && y != 1 {
                return Err(ctx.err(format!("shapes {a:?} and {b:?} do not broadcast")));
            }
            shape.push(if x == 1 { y } else { x });
        }
        let strides = |p: &[usize]| {
            let mut s = vec![0; rank];
            let mut acc = 1;
            for d in (0..rank).rev() {
                s[d] = if p[d] == 1 { 0 } else { acc };
                acc *= p[d];
            }
            s
        };
        let same = pa == shape && pb == shape;
        Ok(Broadcast {
            sa: strides(&pa),
            sb: strides(&pb),
            shape,
            same,
        })
    }

    pub(crate) fn out_shape(&self) -> Vec<usize> {
        self.shape.clone()
    }

    /// Calls `f(out, ia, ib, len, step_a, step_b)` for each run along the last axis.
    #[inline(always)]
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, usize)) {
        let total: usize = self.shape.iter().product();
        if total == 0 {
            return;
        }
        if self.same {
            f(0, 0, 0, total, 1, 1);
            return;
        }
        let r = self.shape.len();
        let inner = self.shape[r - 1];
        let (ia_step, ib_step) = (self.sa[r - 1], self.sb[r - 1]);
        let mut idx = [0usize; 8];
        let outer = total / inner;
        let (mut ia, mut ib) = (0usize, 0usize);
        for row in 0..outer {
            f(row * inner, ia, ib, inner, ia_step, ib_step);
            // Advance the odometer over the outer axes.
            for d in (0..r - 1).rev() {
                idx[d] += 1;
                ia += self.sa[d];
                ib += self.sb[d];
                if idx[d] < self.shape[d] {
                    break;
                }
                ia -= self.sa[d] * self.shape[d];
                ib -= self.sb[d] * self.shape[d];
                idx[d] = 0;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

struct BinaryF32 {
    op: Op,
    bc: Broadcast,
    lo: f32,
    hi: f32,
}

#[inline(always)]
fn apply_f32(op: Op, x: f32, y: f32) -> f32 {
    match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => x / y,
        Op::Max => x.max(y),
        Op::Min => x.min(y),
    }
}

impl Kernel for BinaryF32 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let a = io.input::<f32>(0)?;
        let b = io.input::<f32>(1)?;
        let out = io.output::<f32>(0)?;
        let (op, lo, hi) = (self.op, self.lo, self.hi);
        self.bc.for_each_row(|o, ia, ib, len, sa, sb| {
            let dst = &mut out[o..o + len];
            match (sa, sb) {
                (1, 1) => {
                    for ((d, &x), &y) in dst.iter_mut().zip(&a[ia..ia + len]).zip(&b[ib..ib + len])
                    {
                        *d = apply_f32(op, x, y).clamp(lo, hi);
                    }
                }
                (1, 0) => {
                    let y = b[ib];
                    for (d, &x) in dst.iter_mut().zip(&a[ia..ia + len]) {
                        *d = apply_f32(op, x, y).clamp(lo, hi);
                    }
                }
                (0, 1) => {
                    let x = a[ia];
                    for (d, &y) in dst.iter_mut().zip(&b[ib..ib + len]) {
                        *d = apply_f32(op, x, y).clamp(lo, hi);
                    }
                }
                _ => {
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = apply_f32(op, a[ia + j * sa], b[ib + j * sb]).clamp(lo, hi);
                    }
                }
            }
        });
        Ok(())
    }
}

/// Int8 requantization of one binary op.
#[derive(Clone, Copy, Debug)]
enum QuantOp {
    /// ADD/SUB: both inputs rescaled to a common scale with 20 bits of headroom.
    AddSub {
        m1: Multiplier,
        m2: Multiplier,
        out: Multiplier,
    },
    /// MUL: `(x1 − z1)(x2 − z2)` scaled by `s1·s2/so`.
    Mul { out: Multiplier },
    /// MAXIMUM/MINIMUM on identically quantized operands.
    MaxMin { max: bool },
}

struct BinaryI8 {
    q: QuantOp,
    bc: Broadcast,
    z1: i32,
    z2: i32,
    zo: i32,
    lo: i32,
    hi: i32,
}

const LEFT_SHIFT: i32 = 20;

impl BinaryI8 {
    #[inline(always)]
    fn apply(&self, x: i8, y: i8) -> i8 {
        let (x, y) = (i32::from(x), i32::from(y));
        let v = match self.q {
            QuantOp::AddSub { m1, m2, out } => {
                let a = m1.apply((x - self.z1) << LEFT_SHIFT);
                let b = m2.apply((y - self.z2) << LEFT_SHIFT);
                out.apply(a.wrapping_add(b)).saturating_add(self.zo)
            }
            QuantOp::Mul { out } => out
                .apply((x - self.z1) * (y - self.z2))
                .saturating_add(self.zo),
            QuantOp::MaxMin { max } => {
                if max {
                    x.max(y)
                } else {
                    x.min(y)
                }
            }
        };
        v.clamp(self.lo, self.hi) as i8
    }
}

impl Kernel for BinaryI8 {
    fn run(&self, io: &mut Io<'_>) -> Result<()> {
        let a = io.input::<i8>(0)?;
        let b = io.input::<i8>(1)?;
        let out = io.output::<i8>(0)?;
        self.bc.for_each_row(|o, ia, ib, len, sa, sb| {
            for (j, d) in out[o..o + len].iter_mut().enumerate() {
                *d = self.apply(a[ia + j * sa], b[ib + j * sb]);
            }
        });
        Ok(())
    }
}

pub(crate) fn prepare(ctx: &mut PrepareCtx<'_>) -> Result<Prepared> {
    use BuiltinOperator as B;
    let op = match ctx.op {
        B::ADD => Op::Add,
        B::SUB => Op::Sub,
        B::MUL => Op::Mul,
        B::DIV => Op::Div,
        B::MAXIMUM => Op::Max,
        _ => Op::Min,
    };
    let act = match ctx.options {
        BuiltinOptions::AddOptions(o) => o.fused_activation_function,
        BuiltinOptions::SubOptions(o) => o.fused_activation_function,
        BuiltinOptions::MulOptions(o) => o.fused_activation_function,
        BuiltinOptions::DivOptions(o) => o.fused_activation_function,
        _ => ActivationFunctionType::NONE,
    };
    let a = ctx.input(0)?.clone();
    let b = ctx.input(1)?.clone();
    if a.ty != b.ty {
        return Err(ctx.err(format!(
            "operand types differ: {} vs {}",
            format::type_name(a.ty),
            format::type_name(b.ty)
        )));
    }
    let bc = Broadcast::new(ctx, &a.shape, &b.shape)?;
    if bc.shape.len() > 8 {
        return Err(ctx.unsupported(format!("rank {} broadcasting", bc.shape.len())));
    }
    let out_shape = if a.shape.is_empty() && b.shape.is_empty() {
        vec![]
    } else {
        bc.out_shape()
    };
    ctx.set_output_shape(0, out_shape)?;
    match a.ty {
        TensorType::FLOAT32 => {
            ctx.expect_output_type(0, TensorType::FLOAT32)?;
            let (lo, hi) = activation_range_f32(ctx, act)?;
            Prepared::new(BinaryF32 { op, bc, lo, hi })
        }
        TensorType::INT8 => {
            ctx.expect_output_type(0, TensorType::INT8)?;
            let who = ctx.who();
            let (s1, z1) = a.qparams(&who)?;
            let (s2, z2) = b.qparams(&who)?;
            let (so, zo) = ctx.output(0)?.qparams(&who)?;
            let (s1, s2, sod) = (f64::from(s1), f64::from(s2), f64::from(so));
            let q = match op {
                Op::Add | Op::Sub => {
                    let twice_max = 2.0 * s1.max(s2);
                    let sign = if op == Op::Sub { -1.0 } else { 1.0 };
                    QuantOp::AddSub {
                        m1: Multiplier::new(s1 / twice_max),
                        m2: negate(Multiplier::new(s2 / twice_max), sign < 0.0),
                        out: Multiplier::new(twice_max / (f64::from(1 << LEFT_SHIFT) * sod)),
                    }
                }
                Op::Mul => QuantOp::Mul {
                    out: Multiplier::new(s1 * s2 / sod),
                },
                Op::Max | Op::Min => {
                    if (s1, z1) != (sod, zo) || (s2, z2) != (sod, zo) {
                        return Err(ctx.unsupported(
                            "int8 MAXIMUM/MINIMUM with operands quantized unlike the output",
                        ));
                    }
                    QuantOp::MaxMin { max: op == Op::Max }
                }
                Op::Div => return Err(ctx.unsupported("int8 DIV")),
            };
            let (lo, hi) = activation_range_i8(act, so, zo);
            Prepared::new(BinaryI8 {
                q,
                bc,
                z1,
                z2,
                zo,
                lo,
                hi,
            })
        }
        ty => Err(ctx.unsupported(format!("operand type {}", format::type_name(ty)))),
    }
}

/// TensorFlow Lite's SUB reuses ADD's kernel with the second multiplier negated.
fn negate(m: Multiplier, neg: bool) -> Multiplier {
    if neg {
        Multiplier {
            m: m.m.wrapping_neg(),
            shift: m.shift,
        }
    } else {
        m
    }
}
