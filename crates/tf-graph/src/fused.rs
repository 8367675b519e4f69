//! Fused elementwise chains: several elementwise ops evaluated block by block, so each
//! input element is read from memory once and the result written once, while the
//! intermediates of a block stay in cache.
//!
//! Each step runs the op's own registered kernel on a block-sized view, so a fused chain
//! computes exactly what the unfused ops compute (same kernels, same rounding), for every
//! dtype those kernels support.

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Mutex;
use tf_core::kernels::parallel::{PAR_CHUNK, fill_vec};
use tf_core::op::{Attrs, OpCall, OpDef, TensorSpec, execute_eager};
use tf_core::{Error, Result, Shape, Tensor, with_dtype};

/// Ops the elementwise-fusion pass may put in a chain: one output element depends only
/// on the same element of each input (or on a scalar).
pub const FUSABLE_OPS: &[&str] = &[
    "AddV2",
    "Sub",
    "Mul",
    "RealDiv",
    "Maximum",
    "Minimum",
    "SquaredDifference",
    "Pow",
    "Neg",
    "Abs",
    "Square",
    "Reciprocal",
    "Exp",
    "Expm1",
    "Log",
    "Log1p",
    "Sqrt",
    "Rsqrt",
    "Sin",
    "Cos",
    "Tanh",
    "Sigmoid",
    "Erf",
    "Erfc",
    "Relu",
    "Relu6",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Softplus",
    "Softsign",
    "Gelu",
    "Silu",
    "Cast",
    "ClipByValue",
    "SelectV2",
];

/// An operand of a fused step: an input of the fused node or an earlier step's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// Input `k` of the fused node.
    Input(usize),
    /// The result of step `k`.
    Step(usize),
}

/// One op of a fused chain.
#[derive(Clone, Debug)]
pub struct FusedStep {
    /// The elementwise op.
    pub op: &'static OpDef,
    /// Its attributes.
    pub attrs: Attrs,
    /// Its operands.
    pub args: Vec<Operand>,
}

/// A fused chain: steps in order; the last step's result is the node's output.
#[derive(Clone, Debug)]
pub struct ElementwiseProgram {
    /// The steps.
    pub steps: Vec<FusedStep>,
    /// Number of inputs of the fused node.
    pub num_inputs: usize,
    /// The output's dtype and shape.
    pub output: TensorSpec,
}

impl fmt::Display for ElementwiseProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, s) in self.steps.iter().enumerate() {
            if k > 0 {
                f.write_str(" → ")?;
            }
            f.write_str(s.op.name)?;
        }
        Ok(())
    }
}

/// Elements per block: a multiple of every SIMD width, small enough that a block of
/// every intermediate stays in L2.
const BLOCK: usize = PAR_CHUNK;

impl ElementwiseProgram {
    /// Evaluates the steps on whole tensors (the reference the blocked path must match).
    fn run_unblocked(&self, inputs: &[Tensor]) -> Result<Tensor> {
        let mut results: Vec<Tensor> = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            let args: Vec<Tensor> = s
                .args
                .iter()
                .map(|a| match *a {
                    Operand::Input(k) => inputs[k].clone(),
                    Operand::Step(k) => results[k].clone(),
                })
                .collect();
            let mut out = execute_eager(&OpCall::new(s.op, &args, &s.attrs))?;
            if out.is_empty() {
                return Err(Error::precondition(
                    s.op.name,
                    "fused step produced no output",
                ));
            }
            results.push(out.swap_remove(0));
        }
        results
            .pop()
            .ok_or_else(|| Error::precondition("_FusedElementwise", "empty fused program"))
    }

    /// Runs the chain on `inputs` (each either of the output's shape or a single
    /// element). Falls back to whole-tensor evaluation when shapes do not allow blocking.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Tensor> {
        if inputs.len() != self.num_inputs {
            return Err(Error::invalid(
                "_FusedElementwise",
                format!("expected {} inputs, got {}", self.num_inputs, inputs.len()),
            ));
        }
        let full: Option<&Shape> = inputs
            .iter()
            .find(|t| t.num_elements() != 1)
            .map(|t| t.shape());
        let Some(full) = full.cloned() else {
            return self.run_unblocked(inputs);
        };
        let n = full.num_elements();
        let blockable = n >= 2 * BLOCK
            && inputs
                .iter()
                .all(|t| t.num_elements() == 1 || t.dims() == full.dims())
            && inputs.iter().all(|t| !t.is_symbolic());
        if !blockable {
            return self.run_unblocked(inputs);
        }
        // Flat contiguous inputs; scalars stay as they are (they broadcast).
        let flat: Vec<Tensor> = inputs
            .iter()
            .map(|t| {
                if t.num_elements() == 1 {
                    Ok(t.clone())
                } else {
                    let c = t.contiguous()?;
                    let shape = Shape::new(&[n]);
                    let strides = shape.contiguous_strides();
                    c.view("_FusedElementwise", shape, strides, c.offset())
                }
            })
            .collect::<Result<_>>()?;
        let dtype = self.output.dtype;
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let out = with_dtype!(dtype, T => {
            let data = fill_vec::<T>(n, |start, chunk: &mut [MaybeUninit<T>]| {
                let done = chunk_run::<T>(self, &flat, start, chunk);
                if let Err(e) = done {
                    for c in chunk.iter_mut() {
                        c.write(T::default());
                    }
                    let mut f = failure.lock().unwrap_or_else(|e| e.into_inner());
                    f.get_or_insert(e);
                }
            })?;
            Tensor::from_host_vec(data, full.clone())?
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        Ok(out)
    }
}

/// Runs the program on elements `start..start + chunk.len()` (split further into
/// [`BLOCK`]-sized pieces) and writes the result into `chunk`.
fn chunk_run<T: tf_core::Element>(
    p: &ElementwiseProgram,
    flat: &[Tensor],
    start: usize,
    chunk: &mut [MaybeUninit<T>],
) -> Result<()> {
    let mut offset = 0;
    while offset < chunk.len() {
        let len = BLOCK.min(chunk.len() - offset);
        let at = start + offset;
        let block: Vec<Tensor> = flat
            .iter()
            .map(|t| {
                if t.num_elements() == 1 {
                    Ok(t.clone())
                } else {
                    let shape = Shape::new(&[len]);
                    let strides = shape.contiguous_strides();
                    t.view("_FusedElementwise", shape, strides, t.offset() + at)
                }
            })
            .collect::<Result<_>>()?;
        let r = p.run_unblocked(&block)?;
        let src = r.host_data::<T>()?;
        if src.len() != len {
            return Err(Error::precondition(
                "_FusedElementwise",
                format!("block result has {} elements, expected {len}", src.len()),
            ));
        }
        for (d, &s) in chunk[offset..offset + len].iter_mut().zip(src.iter()) {
            d.write(s);
        }
        offset += len;
    }
    Ok(())
}
