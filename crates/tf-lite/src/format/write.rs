//! Serializing a [`Model`] to `.tflite` bytes.

use super::{MAX_MODEL_BYTES, Model, fb};
use crate::error::{Error, Result};
use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, WIPOffset};

/// A zero-size value whose only effect, pushed into a builder, is to raise the builder's
/// minimum alignment to 16 bytes, so that the finished buffer's size is a multiple of 16
/// and offsets measured from its end (how a builder aligns) are also aligned from its start.
struct Align16;

impl Push for Align16 {
    type Output = ();

    unsafe fn push(&self, _dst: &mut [u8], _written_len: usize) {}

    fn size() -> usize {
        0
    }

    fn alignment() -> PushAlignment {
        PushAlignment::new(16)
    }
}

/// Writes `data` as a `[ubyte]` vector whose first byte is 16-byte aligned in the finished
/// file (the schema's `force_align: 16`, which flatc's Rust generator does not implement).
fn aligned_bytes<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    data: &[u8],
) -> WIPOffset<flatbuffers::Vector<'a, u8>> {
    fbb.push(Align16);
    // The builder fills back to front: after the padding and the data, the space used
    // must be a multiple of 16 so the data starts on a 16-byte boundary; the length prefix
    // (4 bytes, already 4-aligned then) goes before it.
    let used = fbb.unfinished_data().len();
    let pad = (16 - (used + data.len()) % 16) % 16;
    for _ in 0..pad {
        fbb.push(0u8);
    }
    fbb.create_vector(data)
}

/// Serializes `model` as a `.tflite` flatbuffer with the `TFL3` identifier.
///
/// Buffers come last in the file (as TensorFlow's converter writes them), each one's data
/// 16-byte aligned. The model is written as given: build it with
/// [`operator_code`](super::operator_code) and an empty buffer 0 to get a file LiteRT loads.
///
/// Errors: [`Error::Format`] when the model would not fit the 2 GiB flatbuffer limit.
pub fn write_model(model: &Model) -> Result<Vec<u8>> {
    let buffers = model.buffers.as_deref().unwrap_or_default();
    let data_bytes = buffers.iter().try_fold(0usize, |acc, b| {
        acc.checked_add(b.data.as_ref().map_or(0, Vec::len))?
            .checked_add(64)
    });
    // The rest of a model is tiny next to its weights; keep a wide margin under the limit
    // that would make the builder abort.
    let data_bytes = data_bytes
        .filter(|&n| n < MAX_MODEL_BYTES - (1 << 26))
        .ok_or_else(|| Error::format("model data exceeds the 2 GiB flatbuffer limit"))?;
    let mut fbb = FlatBufferBuilder::with_capacity(data_bytes + 4096);

    let buffer_offsets: Vec<_> = buffers
        .iter()
        .map(|b| {
            let data = b
                .data
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(|d| aligned_bytes(&mut fbb, d));
            fb::Buffer::create(
                &mut fbb,
                &fb::BufferArgs {
                    data,
                    offset: b.offset,
                    size: b.size,
                },
            )
        })
        .collect();
    let buffers = model
        .buffers
        .as_ref()
        .map(|_| fbb.create_vector(&buffer_offsets));

    let operator_codes = model.operator_codes.as_ref().map(|codes| {
        let v: Vec<_> = codes.iter().map(|c| c.pack(&mut fbb)).collect();
        fbb.create_vector(&v)
    });
    let subgraphs = model.subgraphs.as_ref().map(|sgs| {
        let v: Vec<_> = sgs.iter().map(|s| s.pack(&mut fbb)).collect();
        fbb.create_vector(&v)
    });
    let description = model.description.as_deref().map(|d| fbb.create_string(d));
    let metadata_buffer = model
        .metadata_buffer
        .as_deref()
        .map(|m| fbb.create_vector(m));
    let metadata = model.metadata.as_ref().map(|ms| {
        let v: Vec<_> = ms.iter().map(|m| m.pack(&mut fbb)).collect();
        fbb.create_vector(&v)
    });
    let signature_defs = model.signature_defs.as_ref().map(|ss| {
        let v: Vec<_> = ss.iter().map(|s| s.pack(&mut fbb)).collect();
        fbb.create_vector(&v)
    });
    let root = fb::Model::create(
        &mut fbb,
        &fb::ModelArgs {
            version: model.version,
            operator_codes,
            subgraphs,
            description,
            buffers,
            metadata_buffer,
            metadata,
            signature_defs,
        },
    );
    fb::finish_model_buffer(&mut fbb, root);
    Ok(fbb.finished_data().to_vec())
}

#[cfg(test)]
mod tests {
    use super::super::{Buffer, read_model};
    use super::*;

    #[test]
    fn buffer_data_is_16_byte_aligned() {
        for lens in [[0usize, 1, 3], [5, 17, 32], [15, 16, 1]] {
            let mut model = Model {
                version: 3,
                ..Default::default()
            };
            let mut bufs = vec![Buffer::default()];
            for (i, &n) in lens.iter().enumerate() {
                bufs.push(Buffer {
                    data: Some((0..n).map(|x| (x + i) as u8).collect()),
                    ..Default::default()
                });
            }
            model.buffers = Some(bufs.clone());
            model.description = Some("odd-length string".into());
            let bytes = write_model(&model).unwrap();
            let root = fb::root_as_model(&bytes).unwrap();
            for b in root.buffers().unwrap().iter() {
                if let Some(d) = b.data() {
                    let off = d.bytes().as_ptr() as usize - bytes.as_ptr() as usize;
                    assert_eq!(off % 16, 0, "data of {} bytes at {off}", d.len());
                }
            }
            let back = read_model(&bytes).unwrap();
            let got: Vec<_> = back
                .buffers
                .unwrap()
                .into_iter()
                .map(|b| b.data.unwrap_or_default())
                .collect();
            let want: Vec<_> = bufs
                .into_iter()
                .map(|b| b.data.unwrap_or_default())
                .collect();
            assert_eq!(got, want);
        }
    }
}
