//! Images: JPEG/PNG decoding to uint8 `[height, width, channels]` tensors
//! (`tf.io.decode_image` / `decode_jpeg` / `decode_png`, via the `image` crate),
//! `tf.image.resize` (bilinear and nearest, TensorFlow 2's half-pixel centers),
//! `convert_image_dtype` to float and `per_image_standardization`, and a dataset of
//! image files.
//!
//! Decoding differences from TensorFlow: JPEG pixels come from another decoder
//! (zune-jpeg, not libjpeg-turbo) and may differ by a few levels; 16-bit PNGs are
//! reduced to 8 bits by keeping the high byte, as `decode_png(dtype=uint8)` does.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use image::{DynamicImage, ImageReader};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tf_core::op::TensorSpec;
use tf_core::{DType, Element as _, Error, PartialShape, Result, Tensor};

const DECODE: &str = "DecodeImage";

/// Interleaved 8-bit samples with `c` channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
fn samples(img: DynamicImage) -> (u32, u32, usize, Vec<u8>) {
    let (w, h) = (img.width(), img.height());
    let hi = |v: Vec<u16>| v.into_iter().map(|x| (x >> 8) as u8).collect::<Vec<u8>>();
    match img {
        DynamicImage::ImageLuma8(b) => (w, h, 1, b.into_raw()),
        DynamicImage::ImageLumaA8(b) => (w, h, 2, b.into_raw()),
        DynamicImage::ImageRgb8(b) => (w, h, 3, b.into_raw()),
        DynamicImage::ImageRgba8(b) => (w, h, 4, b.into_raw()),
        DynamicImage::ImageLuma16(b) => (w, h, 1, hi(b.into_raw())),
        DynamicImage::ImageLumaA16(b) => (w, h, 2, hi(b.into_raw())),
        DynamicImage::ImageRgb16(b) => (w, h, 3, hi(b.into_raw())),
        DynamicImage::ImageRgba16(b) => (w, h, 4, hi(b.into_raw())),
        DynamicImage::ImageRgb32F(_) => (w, h, 3, img.to_rgb8().into_raw()),
        other => (w, h, 4, other.to_rgba8().into_raw()),
    }
}

/// ITU-R BT.601 luma in libjpeg's fixed point (what JPEG grayscale decoding gives).
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 32768) >> 16) as u8
}

/// Converts interleaved samples from `from` to `to` channels.
fn convert_channels(data: Vec<u8>, from: usize, to: usize) -> Vec<u8> {
    if from == to {
        return data;
    }
    let mut out = Vec::with_capacity(data.len() / from * to);
    for px in data.chunks_exact(from) {
        let (rgb, alpha) = match from {
            1 => ([px[0]; 3], 255),
            2 => ([px[0]; 3], px[1]),
            3 => ([px[0], px[1], px[2]], 255),
            _ => ([px[0], px[1], px[2]], px[3]),
        };
        match to {
            1 if from <= 2 => out.push(px[0]),
            1 => out.push(luma(rgb[0], rgb[1], rgb[2])),
            3 => out.extend_from_slice(&rgb),
            _ => {
                out.extend_from_slice(&rgb);
                out.push(alpha);
            }
        }
    }
    out
}

/// Decodes a JPEG or PNG image (the format is detected from the bytes) into a uint8
/// tensor `[height, width, channels]`. `channels` 0 keeps the file's channels (1 gray,
/// 2 gray+alpha, 3 RGB, 4 RGBA); 1, 3 or 4 converts (gray to RGB replicates, RGB to
/// gray uses BT.601 luma, alpha is dropped or set to 255).
///
/// Errors on unknown formats, corrupt data and `channels` other than 0, 1, 3, 4; the
/// decoder's default memory limits apply (512 MiB).
pub fn decode_image(bytes: &[u8], channels: usize) -> Result<Tensor> {
    if !matches!(channels, 0 | 1 | 3 | 4) {
        return Err(Error::invalid(
            DECODE,
            format!("channels must be 0, 1, 3 or 4, got {channels}"),
        ));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::invalid(DECODE, format!("cannot read the image header: {e}")))?;
    if reader.format().is_none() {
        return Err(Error::invalid(
            DECODE,
            "unknown image format (expected JPEG or PNG)",
        ));
    }
    let img = reader
        .decode()
        .map_err(|e| Error::invalid(DECODE, format!("cannot decode the image: {e}")))?;
    let (w, h, c, data) = samples(img);
    let to = if channels == 0 { c } else { channels };
    Tensor::from_host_vec(convert_channels(data, c, to), [h as usize, w as usize, to])
}

/// Reads and decodes an image file; see [`decode_image`]. Errors name the file.
pub fn read_image(path: impl AsRef<Path>, channels: usize) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("read_image {}", path.display()), e))?;
    decode_image(&bytes, channels)
        .map_err(|e| Error::invalid(DECODE, format!("{}: {e}", path.display())))
}

/// How [`resize`] interpolates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResizeMethod {
    /// Bilinear (`tf.image.ResizeMethod.BILINEAR`); the result is float32.
    Bilinear,
    /// Nearest neighbour (`NEAREST_NEIGHBOR`); the result keeps the input dtype.
    Nearest,
}

/// `[batch, height, width, channels]` of a rank-3 or rank-4 image tensor.
fn image_dims(op: &str, t: &Tensor) -> Result<[usize; 4]> {
    match *t.dims() {
        [h, w, c] => Ok([1, h, w, c]),
        [b, h, w, c] => Ok([b, h, w, c]),
        _ => Err(Error::invalid(
            op.to_string(),
            format!(
                "images must have shape [height, width, channels] or [batch, height, width, channels], got {}",
                t.shape()
            ),
        )),
    }
}

/// The elements as f32 (row-major), whatever the real dtype.
fn to_f32_vec(op: &str, t: &Tensor) -> Result<Vec<f32>> {
    match t.dtype() {
        DType::F32 => t.to_vec::<f32>(),
        DType::Bool => Err(Error::invalid(op.to_string(), "images cannot be bool")),
        d => {
            tf_core::with_dtype!(d, T => Ok(t.to_vec::<T>()?.into_iter().map(|x| x.to_f64() as f32).collect()))
        }
    }
}

/// Source coordinates and weights of TensorFlow's half-pixel-centers bilinear resize.
fn bilinear_weights(out: usize, input: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / out as f32;
    (0..out)
        .map(|i| {
            let x = (i as f32 + 0.5) * scale - 0.5;
            let f = x.floor();
            let lower = (f.max(0.0) as usize).min(input - 1);
            let upper = (x.ceil().max(0.0) as usize).min(input - 1);
            (lower, upper, x - f)
        })
        .collect()
}

/// Source index of TensorFlow's half-pixel-centers nearest-neighbour resize.
fn nearest_index(out: usize, input: usize) -> Vec<usize> {
    let scale = input as f32 / out as f32;
    (0..out)
        .map(|i| (((i as f32 + 0.5) * scale).floor().max(0.0) as usize).min(input - 1))
        .collect()
}

/// `tf.image.resize(images, size, method)` without antialiasing: images `[h, w, c]` or
/// `[b, h, w, c]` of any real dtype to `size = [new_h, new_w]`, with TensorFlow 2's
/// half-pixel centers. Bilinear returns float32; nearest keeps the dtype.
///
/// Errors on other ranks, bool images, a zero target size, or an empty input image.
pub fn resize(images: &Tensor, size: [usize; 2], method: ResizeMethod) -> Result<Tensor> {
    const OP: &str = "ResizeImage";
    let [b, h, w, c] = image_dims(OP, images)?;
    let [oh, ow] = size;
    if oh == 0 || ow == 0 {
        return Err(Error::invalid(
            OP,
            format!("target size must be positive, got {size:?}"),
        ));
    }
    if h == 0 || w == 0 {
        return Err(Error::invalid(
            OP,
            format!("cannot resize an empty image of shape {}", images.shape()),
        ));
    }
    let mut out_dims = vec![oh, ow, c];
    if images.rank() == 4 {
        out_dims.insert(0, b);
    }
    match method {
        ResizeMethod::Nearest => {
            let (ys, xs) = (nearest_index(oh, h), nearest_index(ow, w));
            let src = images.contiguous_host()?;
            tf_core::with_dtype!(src.dtype(), T => {
                let v = src.as_slice::<T>()?;
                let mut out = Vec::with_capacity(b * oh * ow * c);
                for n in 0..b {
                    for &y in &ys {
                        for &x in &xs {
                            let at = ((n * h + y) * w + x) * c;
                            out.extend_from_slice(&v[at..at + c]);
                        }
                    }
                }
                Tensor::from_host_vec(out, out_dims)
            })
        }
        ResizeMethod::Bilinear => {
            let v = to_f32_vec(OP, images)?;
            let (ys, xs) = (bilinear_weights(oh, h), bilinear_weights(ow, w));
            let mut out = Vec::with_capacity(b * oh * ow * c);
            for n in 0..b {
                let img = &v[n * h * w * c..(n + 1) * h * w * c];
                for &(y0, y1, dy) in &ys {
                    for &(x0, x1, dx) in &xs {
                        for k in 0..c {
                            let p = |y: usize, x: usize| img[(y * w + x) * c + k];
                            let top = p(y0, x0) + (p(y0, x1) - p(y0, x0)) * dx;
                            let bottom = p(y1, x0) + (p(y1, x1) - p(y1, x0)) * dx;
                            out.push(top + (bottom - top) * dy);
                        }
                    }
                }
            }
            Tensor::from_host_vec(out, out_dims)
        }
    }
}

/// `tf.image.convert_image_dtype(image, tf.float32)`: integer images scaled to [0, 1]
/// (uint8 by 1/255, int8 by 1/127, int32 by 1/2147483647, int64 by 1/(2^63-1)),
/// float images cast to float32 unchanged.
///
/// Errors for bool tensors.
pub fn image_to_float(image: &Tensor) -> Result<Tensor> {
    const OP: &str = "ConvertImageDtype";
    let scale = match image.dtype() {
        DType::U8 => 1.0f32 / 255.0,
        DType::I8 => 1.0f32 / 127.0,
        DType::I32 => 1.0f32 / 2_147_483_647.0,
        DType::I64 => 1.0f32 / 9_223_372_036_854_775_807.0,
        DType::F32 => return image.contiguous_host(),
        DType::Bool => return Err(Error::invalid(OP, "cannot convert a bool image")),
        _ => 1.0,
    };
    let v: Vec<f32> = to_f32_vec(OP, image)?
        .into_iter()
        .map(|x| x * scale)
        .collect();
    Tensor::from_host_vec(v, image.shape().clone())
}

/// `tf.image.per_image_standardization`: each image (the last three dimensions) minus
/// its mean, divided by `max(stddev, 1/sqrt(pixels))`; float32 out.
///
/// Errors on ranks below 3 and bool tensors.
pub fn per_image_standardization(images: &Tensor) -> Result<Tensor> {
    const OP: &str = "PerImageStandardization";
    if images.rank() < 3 {
        return Err(Error::invalid(
            OP,
            format!(
                "images must have rank >= 3 ([..., height, width, channels]), got {}",
                images.shape()
            ),
        ));
    }
    let dims = images.dims();
    let per: usize = dims[dims.len() - 3..].iter().product();
    let mut v = to_f32_vec(OP, images)?;
    if per > 0 {
        let min_std = 1.0 / (per as f64).sqrt();
        for img in v.chunks_exact_mut(per) {
            let mean = img.iter().map(|&x| f64::from(x)).sum::<f64>() / per as f64;
            let var = img
                .iter()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum::<f64>()
                / per as f64;
            let (mean, std) = (mean as f32, var.sqrt().max(min_std) as f32);
            for x in img {
                *x = (*x - mean) / std;
            }
        }
    }
    Tensor::from_host_vec(v, images.shape().clone())
}

/// Images decoded from files, one uint8 `[h, w, c]` tensor per file, or float32
/// `[new_h, new_w, c]` when [`ImageFileDataset::resize`] is set (TensorFlow's
/// `list_files(...).map(read_file).map(decode_image).map(resize)`).
///
/// A file that cannot be read or decoded is an error element naming it.
#[derive(Clone, Debug)]
pub struct ImageFileDataset {
    files: Arc<[PathBuf]>,
    channels: usize,
    resize: Option<([usize; 2], ResizeMethod)>,
}

impl ImageFileDataset {
    /// A dataset of `files` decoded with their own channel count.
    pub fn new<I, P>(files: I) -> ImageFileDataset
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        ImageFileDataset {
            files: files
                .into_iter()
                .map(|p| p.as_ref().to_path_buf())
                .collect(),
            channels: 0,
            resize: None,
        }
    }

    /// Decodes to this many channels (0 keeps each file's; 1, 3 or 4 convert).
    pub fn channels(mut self, channels: usize) -> Self {
        self.channels = channels;
        self
    }

    /// Resizes every image to `size` with `method`.
    pub fn resize(mut self, size: [usize; 2], method: ResizeMethod) -> Self {
        self.resize = Some((size, method));
        self
    }

    /// Wraps the source in a [`Dataset`].
    pub fn build(self) -> Dataset {
        Dataset::new(self)
    }
}

impl From<ImageFileDataset> for Dataset {
    fn from(s: ImageFileDataset) -> Dataset {
        Dataset::new(s)
    }
}

impl DatasetSource for ImageFileDataset {
    fn iter(&self) -> Result<ElementIter> {
        let me = self.clone();
        Ok(Box::new((0..self.files.len()).map(move |i| {
            let img = read_image(&me.files[i], me.channels)?;
            Ok(Element::Tensor(match me.resize {
                Some((size, method)) => resize(&img, size, method)?,
                None => img,
            }))
        })))
    }

    fn cardinality(&self) -> Cardinality {
        Cardinality::Finite(self.files.len() as u64)
    }

    fn element_spec(&self) -> ElementSpec {
        let c = (self.channels != 0).then_some(self.channels);
        let (dtype, shape) = match self.resize {
            Some(([h, w], ResizeMethod::Bilinear)) => (DType::F32, [Some(h), Some(w), c]),
            Some(([h, w], ResizeMethod::Nearest)) => (DType::U8, [Some(h), Some(w), c]),
            None => (DType::U8, [None, None, c]),
        };
        ElementSpec::Tensor(TensorSpec::new(dtype, PartialShape::new(&shape)))
    }

    fn name(&self) -> &'static str {
        "ImageFile"
    }
}
