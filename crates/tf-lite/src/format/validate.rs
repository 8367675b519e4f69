//! Consistency checks of a decoded [`Model`]: every index a file holds is in range.

use super::{Model, type_size};
use crate::error::{Error, Result};

/// Copies the data of buffers stored after the flatbuffer (`offset > 1`, `size`: how models
/// over 2 GiB keep their weights) into `Buffer::data`, checking that it lies inside `bytes`.
pub(super) fn resolve_external_buffers(model: &mut Model, bytes: &[u8]) -> Result<()> {
    for (i, b) in model.buffers.iter_mut().flatten().enumerate() {
        if b.offset <= 1 {
            continue;
        }
        if b.data.as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(Error::format(format!(
                "buffer {i} has both inline data and an external offset"
            )));
        }
        let start = usize::try_from(b.offset).ok();
        let len = usize::try_from(b.size).ok();
        let data = start
            .zip(len)
            .and_then(|(s, n)| Some(s..s.checked_add(n)?))
            .and_then(|r| bytes.get(r))
            .ok_or_else(|| {
                Error::format(format!(
                    "buffer {i}: external data at offset {} size {} lies outside the {}-byte file",
                    b.offset,
                    b.size,
                    bytes.len()
                ))
            })?;
        b.data = Some(data.to_vec());
        b.offset = 0;
        b.size = 0;
    }
    Ok(())
}

fn check_index(what: impl FnOnce() -> String, index: i64, len: usize) -> Result<usize> {
    usize::try_from(index)
        .ok()
        .filter(|&i| i < len)
        .ok_or_else(|| Error::format(format!("{} {index} out of range [0, {len})", what())))
}

/// Checks that every index in the model is in range and that constant tensors' buffers
/// hold exactly the bytes their shape and type need.
pub(super) fn validate(model: &Model) -> Result<()> {
    let buffers = model.buffers.as_deref().unwrap_or_default();
    if let Some(b0) = buffers.first()
        && b0.data.as_ref().is_some_and(|d| !d.is_empty())
    {
        return Err(Error::format("buffer 0 must be the empty sentinel"));
    }
    let n_codes = model.operator_codes.as_ref().map_or(0, Vec::len);
    let subgraphs = model.subgraphs.as_deref().unwrap_or_default();
    for (si, sg) in subgraphs.iter().enumerate() {
        let tensors = sg.tensors.as_deref().unwrap_or_default();
        let nt = tensors.len();
        for (ti, t) in tensors.iter().enumerate() {
            let ctx = || format!("subgraph {si} tensor {ti}");
            let shape = t.shape.as_deref().unwrap_or_default();
            if let Some(d) = shape.iter().find(|&&d| d < 0) {
                return Err(Error::format(format!(
                    "{}: negative dimension {d} in shape {shape:?}",
                    ctx()
                )));
            }
            if buffers.is_empty() && t.buffer == 0 {
                continue;
            }
            let bi = check_index(
                || format!("{}: buffer", ctx()),
                t.buffer.into(),
                buffers.len(),
            )?;
            let data = buffers[bi].data.as_deref().unwrap_or_default();
            if bi == 0 || data.is_empty() {
                continue;
            }
            if let Some(size) = type_size(t.type_) {
                let want = shape
                    .iter()
                    .try_fold(size, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?));
                if want != Some(data.len()) {
                    return Err(Error::format(format!(
                        "{}: buffer {bi} holds {} bytes but shape {shape:?} of {} needs {}",
                        ctx(),
                        data.len(),
                        super::type_name(t.type_),
                        want.map_or_else(|| "too many".to_string(), |w| w.to_string())
                    )));
                }
            }
        }
        for (what, list) in [("input", &sg.inputs), ("output", &sg.outputs)] {
            for &i in list.as_deref().unwrap_or_default() {
                check_index(|| format!("subgraph {si} {what}"), i.into(), nt)?;
            }
        }
        for (oi, op) in sg.operators.iter().flatten().enumerate() {
            let ctx = || format!("subgraph {si} operator {oi}");
            check_index(
                || format!("{}: opcode index", ctx()),
                op.opcode_index.into(),
                n_codes,
            )?;
            for &i in op.inputs.as_deref().unwrap_or_default() {
                if i != -1 {
                    check_index(|| format!("{}: input tensor", ctx()), i.into(), nt)?;
                }
            }
            for &i in op.outputs.as_deref().unwrap_or_default() {
                check_index(|| format!("{}: output tensor", ctx()), i.into(), nt)?;
            }
        }
    }
    for (i, sig) in model.signature_defs.iter().flatten().enumerate() {
        let sg = check_index(
            || format!("signature {i}: subgraph"),
            sig.subgraph_index.into(),
            subgraphs.len(),
        )?;
        let nt = subgraphs[sg].tensors.as_ref().map_or(0, Vec::len);
        for m in sig.inputs.iter().chain(sig.outputs.iter()).flatten() {
            check_index(
                || format!("signature {i}: tensor"),
                m.tensor_index.into(),
                nt,
            )?;
        }
    }
    for (i, m) in model.metadata.iter().flatten().enumerate() {
        check_index(
            || format!("metadata {i}: buffer"),
            m.buffer.into(),
            buffers.len(),
        )?;
    }
    for &b in model.metadata_buffer.as_deref().unwrap_or_default() {
        check_index(
            || "metadata_buffer entry".to_string(),
            b.into(),
            buffers.len(),
        )?;
    }
    Ok(())
}
