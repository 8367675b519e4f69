//! `tf.sparse.to_dense` for the sparse components a variable-length feature parses to.

use super::types::Feature;
use crate::element::{ByteString, Element, StringTensor};
use std::sync::Arc;
use tf_core::{Error, Result, Shape, Tensor};

/// `tf.sparse.to_dense` for the sparse components a variable-length feature parses to
/// (a map element with `indices` int64 `[n, rank]`, `values` `[n]` and `dense_shape`
/// int64 `[rank]`): a dense tensor of `dense_shape`, `default` (a value of the values'
/// type: `Feature::Float`, `Feature::Int64` or `Feature::Bytes` with one entry) where
/// no value is given.
///
/// Errors when the element is not such a map, an index is out of bounds, or the
/// default's type differs from the values'.
pub fn sparse_to_dense(sparse: &Element, default: &Feature) -> Result<Element> {
    const OP: &str = "SparseToDense";
    let bad = |m: String| Error::invalid(OP, m);
    let idx = sparse.field("indices")?.tensor()?.to_vec::<i64>()?;
    let shape_t = sparse.field("dense_shape")?.tensor()?;
    let shape: Vec<usize> = shape_t
        .to_vec::<i64>()?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| bad(format!("negative dense_shape entry {d}"))))
        .collect::<Result<_>>()?;
    let rank = shape.len();
    let total = Shape::new(&shape)
        .checked_num_elements()
        .ok_or_else(|| bad(format!("dense_shape {shape:?} is too large")))?;
    let values = sparse.field("values")?;
    let n = match values {
        Element::Tensor(t) => t.num_elements(),
        Element::Strings(s) => s.values().len(),
        other => return Err(bad(format!("values is {}", other.kind()))),
    };
    if idx.len() != n * rank {
        return Err(bad(format!(
            "{} index entries for {n} values of rank {rank}",
            idx.len()
        )));
    }
    let mut flat = Vec::with_capacity(n);
    for (k, ix) in idx.chunks(rank.max(1)).take(n).enumerate() {
        let mut at = 0usize;
        for (d, (&i, &dim)) in ix.iter().zip(&shape).enumerate() {
            let i = usize::try_from(i)
                .ok()
                .filter(|&i| i < dim)
                .ok_or_else(|| {
                    bad(format!(
                        "index {i} of value {k} is out of bounds for dimension {d} of size {dim}"
                    ))
                })?;
            at = at * dim + i;
        }
        flat.push(at);
    }
    let shape = Shape::from(shape);
    Ok(match (values, default) {
        (Element::Tensor(t), Feature::Float(d))
            if t.dtype() == tf_core::DType::F32 && d.len() == 1 =>
        {
            let mut out = vec![d[0]; total];
            for (&at, v) in flat.iter().zip(t.to_vec::<f32>()?) {
                out[at] = v;
            }
            Element::Tensor(Tensor::from_host_vec(out, shape)?)
        }
        (Element::Tensor(t), Feature::Int64(d))
            if t.dtype() == tf_core::DType::I64 && d.len() == 1 =>
        {
            let mut out = vec![d[0]; total];
            for (&at, v) in flat.iter().zip(t.to_vec::<i64>()?) {
                out[at] = v;
            }
            Element::Tensor(Tensor::from_host_vec(out, shape)?)
        }
        (Element::Strings(s), Feature::Bytes(d)) if d.len() == 1 => {
            let fill: ByteString = Arc::from(d[0].as_slice());
            let mut out = vec![fill; total];
            for (&at, v) in flat.iter().zip(s.values()) {
                out[at] = v.clone();
            }
            Element::Strings(StringTensor::new(out, shape)?)
        }
        _ => {
            return Err(bad(format!(
                "default must be one value of the values' type; got a {} with {} values for {}",
                default.kind_name(),
                default.len(),
                values.kind()
            )));
        }
    })
}
