//! Image decoding, resizing and normalization against TensorFlow 2.21's outputs
//! (`formats_expected.json`, written by `tests/fixtures/make_fixtures.py`), plus hostile
//! bytes.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use tf_core::{DType, Tensor};
use tf_data::formats::{
    ImageFileDataset, ResizeMethod, decode_image, image_to_float, per_image_standardization,
    read_image, resize,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("formats_expected.json")).unwrap())
        .unwrap()
}

fn nums(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn small_image() -> Tensor {
    let e = expected();
    let v: Vec<u8> = nums(&e["image"]["values"])
        .into_iter()
        .map(|x| x as u8)
        .collect();
    Tensor::from_vec(v, [5, 7, 3]).unwrap()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn resize_matches_tensorflow() {
    let e = expected();
    let img = small_image();
    for (key, want) in e["resized"].as_object().unwrap() {
        let (method, size) = key.split_once('_').unwrap();
        let (h, w) = size.split_once('x').unwrap();
        let size = [h.parse().unwrap(), w.parse().unwrap()];
        let m = if method == "bilinear" {
            ResizeMethod::Bilinear
        } else {
            ResizeMethod::Nearest
        };
        let out = resize(&img, size, m).unwrap();
        assert_eq!(out.dims(), &[size[0], size[1], 3], "{key}");
        let dtype = if want["dtype"] == "float32" {
            DType::F32
        } else {
            DType::U8
        };
        assert_eq!(out.dtype(), dtype, "{key}");
        assert_close(
            &out.to_f64_vec().unwrap(),
            &nums(&want["values"]),
            1e-5,
            key,
        );
    }
    // A batch of two images resizes each.
    let two = Tensor::from_vec(
        [
            small_image().to_vec::<u8>().unwrap(),
            small_image().to_vec::<u8>().unwrap(),
        ]
        .concat(),
        [2, 5, 7, 3],
    )
    .unwrap();
    let out = resize(&two, [3, 4], ResizeMethod::Bilinear).unwrap();
    assert_eq!(out.dims(), &[2, 3, 4, 3]);
    let v = out.to_vec::<f32>().unwrap();
    assert_eq!(v[..36], v[36..]);
    assert_close(
        &v[..36].iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        &nums(&e["resized"]["bilinear_3x4"]["values"]),
        1e-5,
        "batch",
    );
    // Errors.
    assert!(resize(&img, [0, 3], ResizeMethod::Bilinear).is_err());
    assert!(
        resize(
            &Tensor::from_vec(vec![1u8; 4], [4]).unwrap(),
            [2, 2],
            ResizeMethod::Nearest
        )
        .is_err()
    );
    assert!(
        resize(
            &Tensor::zeros([0, 3, 1], DType::F32).unwrap(),
            [2, 2],
            ResizeMethod::Bilinear
        )
        .is_err()
    );
}

#[test]
fn normalizations_match_tensorflow() {
    let e = expected();
    let img = small_image();
    let s = per_image_standardization(&img).unwrap();
    assert_eq!(s.dtype(), DType::F32);
    assert_close(
        &s.to_f64_vec().unwrap(),
        &nums(&e["per_image_standardization"]),
        1e-5,
        "standardization",
    );
    let c = per_image_standardization(&Tensor::fill([2, 3, 1], 9u8).unwrap()).unwrap();
    assert_close(
        &c.to_f64_vec().unwrap(),
        &nums(&e["per_image_standardization_constant"]),
        0.0,
        "constant",
    );
    let f = image_to_float(&img).unwrap();
    assert_eq!(f.dtype(), DType::F32);
    assert_close(
        &f.to_f64_vec().unwrap(),
        &nums(&e["convert_image_dtype"]),
        1e-7,
        "convert_image_dtype",
    );
    assert!(
        per_image_standardization(&Tensor::from_vec(vec![1.0f32; 4], [2, 2]).unwrap()).is_err()
    );
    // Batched standardization normalizes each image on its own.
    let two = Tensor::from_vec(
        [vec![0.0f32; 3], vec![1.0, 2.0, 3.0]].concat(),
        [2, 1, 3, 1],
    )
    .unwrap();
    let v = per_image_standardization(&two)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(v[..3], [0.0, 0.0, 0.0]);
    assert!((v[3] + 1.224_744_9).abs() < 1e-5 && v[4].abs() < 1e-6);
}

#[test]
fn png_decoding_matches_tensorflow() {
    let e = &expected()["png"];
    let rgba = read_image(fixture("small_rgba.png"), 0).unwrap();
    assert_eq!(
        (rgba.dtype(), rgba.dims()),
        (DType::U8, &[4usize, 6, 4][..])
    );
    let as_f = |t: &Tensor| t.to_f64_vec().unwrap();
    assert_eq!(as_f(&rgba), nums(&e["rgba"]));
    assert_eq!(
        as_f(&read_image(fixture("small_rgba.png"), 3).unwrap()),
        nums(&e["rgba_as_rgb"])
    );
    let g = read_image(fixture("small_gray16.png"), 0).unwrap();
    assert_eq!(g.dims(), &[3, 5, 1]);
    assert_eq!(as_f(&g), nums(&e["gray16_as_uint8"]));
    assert_eq!(
        as_f(&read_image(fixture("small_gray16.png"), 3).unwrap()),
        nums(&e["gray16_as_rgb"])
    );
    let four = read_image(fixture("small_gray16.png"), 4).unwrap();
    assert_eq!(four.dims(), &[3, 5, 4]);
    assert_eq!(
        four.to_vec::<u8>().unwrap()[..8],
        [0, 0, 0, 255, 16, 16, 16, 255]
    );
}

#[test]
fn jpeg_decoding_close_to_tensorflow() {
    // Different JPEG decoders differ by a few levels per pixel; compare statistics and
    // a bilinear thumbnail (which averages the differences out).
    let e = &expected()["flower"];
    let img = read_image(fixture("flower.jpg"), 3).unwrap();
    assert_eq!(img.dims(), &[427, 640, 3]);
    let v = img.to_vec::<u8>().unwrap();
    // Against libjpeg's accurate IDCT closely, and TensorFlow's default (fast IDCT)
    // loosely.
    let (accurate, fast) = (
        nums(&e["accurate_mean_per_channel"]),
        nums(&e["mean_per_channel"]),
    );
    for ch in 0..3 {
        let mean = v
            .iter()
            .skip(ch)
            .step_by(3)
            .map(|&x| f64::from(x))
            .sum::<f64>()
            / (427.0 * 640.0);
        assert!(
            (mean - accurate[ch]).abs() < 0.1,
            "channel {ch}: {mean} vs {}",
            accurate[ch]
        );
        assert!(
            (mean - fast[ch]).abs() < 2.0,
            "channel {ch}: {mean} vs {}",
            fast[ch]
        );
    }
    let thumb = resize(&img, [32, 48], ResizeMethod::Bilinear)
        .unwrap()
        .to_f64_vec()
        .unwrap();
    for (key, mad_tol, max_tol) in [
        ("accurate_resized_32x48", 0.5, 6.0),
        ("resized_32x48", 2.0, 16.0),
    ] {
        let want = nums(&e[key]);
        let mad = thumb
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / want.len() as f64;
        let max = thumb
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            mad < mad_tol && max < max_tol,
            "{key}: mean abs diff {mad}, max {max}"
        );
    }
    let gray = read_image(fixture("flower.jpg"), 1).unwrap();
    assert_eq!(gray.dims(), &[427, 640, 1]);
    let gm = gray.to_f64_vec().unwrap().iter().sum::<f64>() / (427.0 * 640.0);
    let want_gray = e["gray_mean"].as_f64().unwrap();
    assert!(
        (gm - want_gray).abs() < 1.0,
        "gray mean {gm} vs {want_gray}"
    );
}

#[test]
fn image_file_dataset() {
    let files = [fixture("small_rgba.png"), fixture("small_gray16.png")];
    let ds = ImageFileDataset::new(&files).channels(3).build();
    let imgs = ds.collect().unwrap();
    assert_eq!(imgs[0].tensor().unwrap().dims(), &[4, 6, 3]);
    assert_eq!(imgs[1].tensor().unwrap().dims(), &[3, 5, 3]);
    assert_eq!(
        ds.element_spec().to_string(),
        "TensorSpec(shape=[?,?,3], dtype=uint8)"
    );
    let ds = ImageFileDataset::new(&files)
        .channels(1)
        .resize([8, 8], ResizeMethod::Bilinear)
        .build();
    for img in ds.collect().unwrap() {
        let t = img.tensor().unwrap();
        assert_eq!((t.dtype(), t.dims()), (DType::F32, &[8usize, 8, 1][..]));
    }
    let e = ImageFileDataset::new([fixture("table.csv")])
        .build()
        .collect()
        .unwrap_err()
        .to_string();
    assert!(e.contains("table.csv"), "{e}");
}

#[test]
fn hostile_image_bytes_are_errors() {
    let png = std::fs::read(fixture("small_rgba.png")).unwrap();
    let jpg = std::fs::read(fixture("flower.jpg")).unwrap();
    assert!(decode_image(b"", 0).is_err());
    assert!(decode_image(b"not an image at all", 0).is_err());
    assert!(decode_image(&png, 2).is_err());
    for cut in [8, 20, png.len() / 2, png.len() - 13] {
        assert!(decode_image(&png[..cut], 0).is_err(), "png cut at {cut}");
    }
    assert!(decode_image(&jpg[..100], 0).is_err());
    // A PNG header claiming a 2^31 x 2^31 image is refused without allocating it.
    let mut huge = png.clone();
    huge[16..20].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    huge[20..24].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    assert!(decode_image(&huge, 0).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_images_never_panic(pos in 0usize..2000, val in any::<u8>(), which in 0usize..2) {
        let mut b = std::fs::read(fixture(if which == 0 { "small_rgba.png" } else { "flower.jpg" })).unwrap();
        let p = if which == 0 { pos % b.len() } else { pos };
        b[p] = val;
        if let Ok(t) = decode_image(&b, 0) {
            prop_assert_eq!(t.rank(), 3);
        }
    }

    #[test]
    fn resize_to_same_size_is_identity(h in 1usize..6, w in 1usize..6, c in 1usize..4) {
        let v: Vec<f32> = (0..h * w * c).map(|i| (i * 7 % 13) as f32).collect();
        let t = Tensor::from_vec(v.clone(), [h, w, c]).unwrap();
        prop_assert_eq!(resize(&t, [h, w], ResizeMethod::Bilinear).unwrap().to_vec::<f32>().unwrap(), v.clone());
        prop_assert_eq!(resize(&t, [h, w], ResizeMethod::Nearest).unwrap().to_vec::<f32>().unwrap(), v);
    }
}
