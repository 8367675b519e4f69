//! NumPy `.npy` and `.npz` files (`np.save`, `np.savez`, `np.savez_compressed`) and
//! datasets of their slices along the first axis (what
//! `Dataset.from_tensor_slices(np.load(path))` gives in TensorFlow).
//!
//! The `.npy` decoding itself is tf-core's ([`Tensor::read_npy`],
//! [`Tensor::from_npy_bytes`]), which treats every byte as hostile; `.npz` archives are
//! read with the `zip` crate, each member bounded by its declared size.

use crate::dataset::Dataset;
use crate::element::Element;
use crate::formats::compression::read_bounded;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use tf_core::{Error, Result, Tensor};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// Reads one `.npy` file (tf-core's [`Tensor::read_npy`]).
///
/// Errors name the file on I/O failure or malformed content.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    Tensor::read_npy(path)
}

/// Writes one `.npy` file (tf-core's [`Tensor::write_npy`]).
pub fn write_npy(path: impl AsRef<Path>, tensor: &Tensor) -> Result<()> {
    tensor.write_npy(path)
}

fn npz_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::format(format!("read_npz {}", path.display()), msg.to_string())
}

/// Reads every array of an `.npz` archive (stored or deflated members), in archive
/// order, named without the `.npy` suffix.
///
/// Errors name the file and the member: I/O failure, a malformed archive, a member
/// that is not `.npy`, a bad CRC, or malformed `.npy` content.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let file =
        File::open(path).map_err(|e| Error::io(format!("read_npz {}", path.display()), e))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| npz_err(path, e))?;
    let mut out = Vec::with_capacity(zip.len());
    let mut buf = Vec::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).map_err(|e| npz_err(path, e))?;
        let name = member.name().map_err(|e| npz_err(path, e))?.into_owned();
        let Some(key) = name.strip_suffix(".npy") else {
            return Err(npz_err(
                path,
                format!("member '{name}' is not an .npy file"),
            ));
        };
        let key = key.to_string();
        let size = member.size();
        // Reads at most the declared size (+1 to detect a lie); the zip reader checks
        // the CRC when the member ends.
        let n = read_bounded(&mut member, size.saturating_add(1), &mut buf)
            .map_err(|e| npz_err(path, format!("member '{name}': {e}")))?;
        if n != size {
            return Err(npz_err(
                path,
                format!("member '{name}' declares {size} bytes but holds {n}"),
            ));
        }
        let t = Tensor::from_npy_bytes(&buf)
            .map_err(|e| npz_err(path, format!("member '{name}': {e}")))?;
        out.push((key, t));
    }
    Ok(out)
}

/// Writes arrays to an `.npz` archive (`np.savez`, or `np.savez_compressed` when
/// `compressed`); each is stored as `<name>.npy`.
///
/// Errors on duplicate names, arrays NumPy cannot hold (bfloat16) and I/O failure.
pub fn write_npz(
    path: impl AsRef<Path>,
    arrays: &[(&str, &Tensor)],
    compressed: bool,
) -> Result<()> {
    let path = path.as_ref();
    let ctx = || format!("write_npz {}", path.display());
    let io = |e: std::io::Error| Error::io(ctx(), e);
    let zerr = |e: zip::result::ZipError| Error::format(ctx(), e.to_string());
    let mut seen = std::collections::HashSet::new();
    for (name, _) in arrays {
        if !seen.insert(*name) {
            return Err(Error::invalid(
                "write_npz",
                format!("array name '{name}' appears twice"),
            ));
        }
    }
    let file = File::create(path).map_err(io)?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let method = if compressed {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    for (name, t) in arrays {
        let bytes = t.to_npy_bytes()?;
        let opts = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(format!("{name}.npy"), opts).map_err(zerr)?;
        zip.write_all(&bytes).map_err(io)?;
    }
    let mut w = zip.finish().map_err(zerr)?;
    w.flush().map_err(io)
}

/// A dataset of the rows (slices along axis 0) of an `.npy` array.
///
/// Errors when the file cannot be read or holds a rank-0 array.
pub fn npy_dataset(path: impl AsRef<Path>) -> Result<Dataset> {
    let t = read_npy(path)?;
    Dataset::from_tensor_slices(Element::Tensor(t))
}

/// A dataset of the rows of the arrays of an `.npz` archive: each element maps the
/// array names (`keys`, or all arrays when `None`) to their slices along axis 0.
///
/// Errors when the archive cannot be read, a key is missing, or the arrays' first
/// dimensions differ.
pub fn npz_dataset(path: impl AsRef<Path>, keys: Option<&[&str]>) -> Result<Dataset> {
    let path = path.as_ref();
    let mut arrays: BTreeMap<String, Element> = read_npz(path)?
        .into_iter()
        .map(|(k, t)| (k, Element::Tensor(t)))
        .collect();
    if let Some(keys) = keys {
        let mut picked = BTreeMap::new();
        for &k in keys {
            let v = arrays.remove(k).ok_or_else(|| {
                Error::invalid(
                    "NpzDataset",
                    format!("{} has no array '{k}'", path.display()),
                )
            })?;
            picked.insert(k.to_string(), v);
        }
        arrays = picked;
    }
    Dataset::from_tensor_slices(Element::Map(arrays))
}
