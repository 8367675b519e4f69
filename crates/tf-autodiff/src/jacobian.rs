//! Jacobians: every partial derivative of a target with respect to a source, computed
//! with one backward pass per target element (or per non-batch target element for
//! [`GradientTape::batch_jacobian`]).

use crate::backward::{Source, Sources, backward};
use crate::tape::{GradientTape, UnconnectedGradients};
use tf_core::{DType, Error, Result, Tensor, ops};

/// A one-hot seed of `dims` with a 1 at flat position `i` (and `j` of each batch row
/// for batch jacobians), in `dtype`.
fn seed(dims: &[usize], dtype: DType, ones: impl Iterator<Item = usize>) -> Result<Tensor> {
    let n: usize = dims.iter().product();
    let mut v = vec![0.0f64; n];
    for k in ones {
        v[k] = 1.0;
    }
    ops::cast(&Tensor::from_vec(v, dims.to_vec())?, dtype)
}

fn require_known(op: &'static str, t: &Tensor, what: &str) -> Result<()> {
    if !t.shape().is_fully_defined() {
        return Err(Error::invalid(
            op,
            format!(
                "the {what}'s shape {} must be fully known",
                t.partial_shape()
            ),
        ));
    }
    Ok(())
}

impl GradientTape {
    /// The jacobian of `target` with respect to `source`: shape `target.shape +
    /// source.shape`, entry `[i..., j...] = d target[i...] / d source[j...]`.
    ///
    /// `None` when the target does not depend on the source (or zeros with
    /// [`UnconnectedGradients::Zero`]). Shapes must be fully known. Uses the tape like
    /// `gradient` does (a second use of a non-persistent tape is an error).
    pub fn jacobian<'s>(
        &self,
        target: &Tensor,
        source: impl Into<Source<'s>>,
    ) -> Result<Option<Tensor>> {
        self.jacobian_with(target, source, UnconnectedGradients::None)
    }

    /// [`jacobian`](Self::jacobian) with the treatment of an unconnected source.
    pub fn jacobian_with<'s>(
        &self,
        target: &Tensor,
        source: impl Into<Source<'s>>,
        unconnected: UnconnectedGradients,
    ) -> Result<Option<Tensor>> {
        const OP: &str = "GradientTape::jacobian";
        self.begin_use(OP)?;
        let source = source.into();
        require_known(OP, target, "target")?;
        let sources = Sources(vec![source]);
        let (src_dims, src_dtype) = match source {
            Source::Tensor(t) => (t.dims().to_vec(), t.dtype()),
            Source::Variable(v) => (v.shape().dims().to_vec(), v.dtype()),
        };
        let mut rows = Vec::with_capacity(target.num_elements());
        let mut connected = false;
        for i in 0..target.num_elements() {
            let s = seed(target.dims(), target.dtype(), std::iter::once(i))?;
            let g = backward(
                &self.inner,
                target,
                Some(&s),
                &sources,
                UnconnectedGradients::None,
            )?;
            match g.into_iter().next().flatten() {
                Some(g) => {
                    connected = true;
                    rows.push(g);
                }
                None => rows.push(Tensor::zeros(src_dims.clone(), src_dtype)?),
            }
        }
        if !connected && unconnected == UnconnectedGradients::None {
            return Ok(None);
        }
        let mut dims: Vec<i64> = target.dims().iter().map(|&d| d as i64).collect();
        dims.extend(src_dims.iter().map(|&d| d as i64));
        if rows.is_empty() {
            return Ok(Some(Tensor::zeros(
                dims.iter().map(|&d| d as usize).collect::<Vec<_>>(),
                src_dtype,
            )?));
        }
        Ok(Some(ops::reshape(&ops::stack(&rows, 0)?, &dims)?))
    }

    /// The jacobian of each example of a batch: `target` is `[b, y...]`, `source` is
    /// `[b, x...]`, the result `[b, y..., x...]` with entry `[k, i..., j...] =
    /// d target[k, i...] / d source[k, j...]`. Assumes examples are independent (as
    /// TensorFlow's `batch_jacobian` does).
    pub fn batch_jacobian(&self, target: &Tensor, source: &Tensor) -> Result<Option<Tensor>> {
        const OP: &str = "GradientTape::batch_jacobian";
        self.begin_use(OP)?;
        require_known(OP, target, "target")?;
        require_known(OP, source, "source")?;
        if target.rank() == 0 || source.rank() == 0 || target.dims()[0] != source.dims()[0] {
            return Err(Error::invalid(
                OP,
                format!(
                    "target {} and source {} must both be batched with the same first dimension",
                    target.shape(),
                    source.shape()
                ),
            ));
        }
        let b = target.dims()[0];
        let per_example: usize = target.dims()[1..].iter().product();
        let sources = Sources(vec![Source::Tensor(source)]);
        let mut cols = Vec::with_capacity(per_example);
        let mut connected = false;
        for j in 0..per_example {
            let s = seed(
                target.dims(),
                target.dtype(),
                (0..b).map(|k| k * per_example + j),
            )?;
            let g = backward(
                &self.inner,
                target,
                Some(&s),
                &sources,
                UnconnectedGradients::None,
            )?;
            match g.into_iter().next().flatten() {
                Some(g) => {
                    connected = true;
                    cols.push(g);
                }
                None => cols.push(Tensor::zeros(source.shape().clone(), source.dtype())?),
            }
        }
        if !connected {
            return Ok(None);
        }
        let mut dims: Vec<i64> = target.dims().iter().map(|&d| d as i64).collect();
        dims.extend(source.dims()[1..].iter().map(|&d| d as i64));
        if cols.is_empty() {
            return Ok(Some(Tensor::zeros(
                dims.iter().map(|&d| d as usize).collect::<Vec<_>>(),
                source.dtype(),
            )?));
        }
        // Each column is [b, x...]; stacking on axis 1 gives [b, y_flat, x...].
        Ok(Some(ops::reshape(&ops::stack(&cols, 1)?, &dims)?))
    }
}
