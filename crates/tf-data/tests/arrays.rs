//! `.npy`/`.npz` and IDX files and the datasets of their rows: round trips, files made
//! independently (NumPy-format bytes written by hand, IDX by `make_fixtures.py`), and
//! hostile inputs.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use tf_core::{DType, Tensor};
use tf_data::formats::idx::{read_idx_from, to_idx_bytes};
use tf_data::formats::{
    idx_dataset, npy_dataset, npz_dataset, read_idx, read_npz, write_idx, write_npz,
};
use tf_data::{Cardinality, Element};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tf-data-arrays-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn idx_fixture_mnist_pair() {
    let x = read_idx(fixture("tiny-images.idx3-ubyte")).unwrap();
    assert_eq!((x.dtype(), x.dims()), (DType::U8, &[3usize, 2, 4][..]));
    let want: Vec<u8> = (0..24u32).map(|i| (i * 9 % 256) as u8).collect();
    assert_eq!(x.to_vec::<u8>().unwrap(), want);
    let ds = idx_dataset(
        fixture("tiny-images.idx3-ubyte"),
        Some(&fixture("tiny-labels.idx1-ubyte")),
    )
    .unwrap();
    assert_eq!(ds.cardinality(), Cardinality::Finite(3));
    assert_eq!(
        ds.element_spec().to_string(),
        "(TensorSpec(shape=[2,4], dtype=uint8), TensorSpec(shape=[], dtype=uint8))"
    );
    let rows = ds.collect().unwrap();
    assert_eq!(
        rows[1]
            .get(0)
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<u8>()
            .unwrap(),
        want[8..16]
    );
    let labels: Vec<u8> = rows
        .iter()
        .map(|r| r.get(1).unwrap().tensor().unwrap().scalar::<u8>().unwrap())
        .collect();
    assert_eq!(labels, [7, 0, 9]);
    // Gzip-compressed IDX (how MNIST is distributed) is detected.
    let d = tmpdir("idxgz");
    let raw = std::fs::read(fixture("tiny-images.idx3-ubyte")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    std::fs::write(d.join("x.gz"), gz.finish().unwrap()).unwrap();
    assert_eq!(
        read_idx(d.join("x.gz")).unwrap().to_vec::<u8>().unwrap(),
        want
    );
    // Mismatched first dimensions.
    std::fs::write(d.join("l2"), [0u8, 0, 8, 1, 0, 0, 0, 2, 1, 2]).unwrap();
    let e = idx_dataset(fixture("tiny-images.idx3-ubyte"), Some(&d.join("l2")))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("same batch size"), "{e}");
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn idx_every_dtype_big_endian() {
    // Hand-built files: header then big-endian values.
    let cases: Vec<(u8, Vec<u8>, Vec<f64>)> = vec![
        (0x08, vec![0, 255], vec![0.0, 255.0]),
        (0x09, vec![0x80, 0x7f], vec![-128.0, 127.0]),
        (0x0B, vec![0xff, 0xfe, 0x01, 0x00], vec![-2.0, 256.0]),
        (
            0x0C,
            vec![0xff, 0xff, 0xff, 0xfd, 0, 0, 1, 0],
            vec![-3.0, 256.0],
        ),
        (
            0x0D,
            [1.5f32.to_be_bytes(), (-2.0f32).to_be_bytes()].concat(),
            vec![1.5, -2.0],
        ),
        (
            0x0E,
            [0.1f64.to_be_bytes(), 1e300f64.to_be_bytes()].concat(),
            vec![0.1, 1e300],
        ),
    ];
    for (code, data, want) in cases {
        let bytes = [&[0, 0, code, 1, 0, 0, 0, 2][..], &data].concat();
        let t = read_idx_from(&bytes[..], "case").unwrap();
        assert_eq!(t.dims(), &[2]);
        assert_eq!(t.to_f64_vec().unwrap(), want, "type {code:#x}");
        let expect_dtype = match code {
            0x08 => DType::U8,
            0x09 => DType::I8,
            0x0B | 0x0C => DType::I32,
            0x0D => DType::F32,
            _ => DType::F64,
        };
        assert_eq!(t.dtype(), expect_dtype);
        if code != 0x0B {
            assert_eq!(
                to_idx_bytes(&t).unwrap(),
                bytes,
                "type {code:#x} writes back the same bytes"
            );
        }
    }
    // Rank 0 (one value) and zero-size dimensions.
    let t = read_idx_from(&[0u8, 0, 8, 0, 42][..], "r0").unwrap();
    assert_eq!((t.rank(), t.scalar::<u8>().unwrap()), (0, 42));
    let t = read_idx_from(&[0u8, 0, 0x0D, 2, 0, 0, 0, 0, 0, 0, 0, 5][..], "z").unwrap();
    assert_eq!(t.dims(), &[0, 5]);
    // Round trip through a file.
    let d = tmpdir("idxrt");
    let t = Tensor::from_vec((0..12).map(|i| i as f32 * 0.5).collect::<Vec<_>>(), [3, 4]).unwrap();
    write_idx(d.join("t.idx"), &t).unwrap();
    assert_eq!(
        read_idx(d.join("t.idx")).unwrap().to_vec::<f32>().unwrap(),
        t.to_vec::<f32>().unwrap()
    );
    assert!(write_idx(d.join("b.idx"), &Tensor::from_vec(vec![true], [1]).unwrap()).is_err());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn idx_hostile_headers() {
    for (bad, what) in [
        (vec![], "truncated"),
        (vec![1, 0, 8, 1], "not an IDX file"),
        (vec![0, 0, 0x07, 1, 0, 0, 0, 1, 0], "unknown IDX type"),
        (vec![0, 0, 8, 2, 0, 0, 0], "truncated header"),
        (vec![0, 0, 8, 1, 0, 0, 0, 3, 1, 2], "truncated data"),
        (vec![0, 0, 8, 1, 0, 0, 0, 1, 1, 2], "unexpected bytes"),
        // 2^32-1 cubed elements overflow; 4 x 2^32-1 floats are absent.
        (
            vec![
                0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
            ],
            "too large",
        ),
        (
            vec![0, 0, 0x0E, 2, 255, 255, 255, 255, 0, 0, 0, 4, 1],
            "truncated data",
        ),
    ] {
        let e = read_idx_from(&bad[..], "hostile.idx")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hostile.idx") && e.contains(what),
            "{bad:?}: {e}"
        );
    }
}

/// A minimal `.npy` (version 1.0) written by hand, as NumPy lays it out.
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    let hlen = total - 10;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(hlen as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// A stored (uncompressed) zip archive of `(name, bytes)` members, written by hand.
fn stored_zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let crc = crc32(data);
        let offset = out.len() as u32;
        let head = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u32.to_le_bytes()); // time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&[0u8; 8]); // comment len, disk, int attr, ext attr lo
                h.extend_from_slice(&[0u8; 2]);
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(head(0x0403_4b50, false));
        out.extend_from_slice(data);
        central.extend(head(0x0201_4b50, true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn npz_written_by_hand_is_read() {
    let d = tmpdir("npz");
    let x: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let y: Vec<u8> = [10i64, 20, 30]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let zip = stored_zip(&[
        ("x.npy", npy_bytes("<f4", "(3, 2)", &x)),
        ("y.npy", npy_bytes("<i8", "(3,)", &y)),
    ]);
    std::fs::write(d.join("a.npz"), &zip).unwrap();
    let arrays = read_npz(d.join("a.npz")).unwrap();
    assert_eq!(arrays.len(), 2);
    assert_eq!(arrays[0].0, "x");
    assert_eq!(arrays[0].1.dims(), &[3, 2]);
    assert_eq!(arrays[1].1.to_vec::<i64>().unwrap(), vec![10, 20, 30]);
    let ds = npz_dataset(d.join("a.npz"), None).unwrap();
    assert_eq!(ds.cardinality(), Cardinality::Finite(3));
    assert_eq!(
        ds.element_spec().to_string(),
        "{'x': TensorSpec(shape=[2], dtype=float32), 'y': TensorSpec(shape=[], dtype=int64)}"
    );
    let rows = ds.collect().unwrap();
    assert_eq!(
        rows[2]
            .field("x")
            .unwrap()
            .tensor()
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![5.0, 6.0]
    );
    assert_eq!(
        rows[2]
            .field("y")
            .unwrap()
            .tensor()
            .unwrap()
            .scalar::<i64>()
            .unwrap(),
        30
    );
    let only_y = npz_dataset(d.join("a.npz"), Some(&["y"]))
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(only_y[0].map().unwrap().len(), 1);
    assert!(
        npz_dataset(d.join("a.npz"), Some(&["z"]))
            .err()
            .unwrap()
            .to_string()
            .contains("'z'")
    );
    // Hostile: a flipped data byte fails the CRC; a member that is not .npy; truncation;
    // mismatched first dimensions.
    let mut bad = zip.clone();
    bad[80] ^= 0xff;
    std::fs::write(d.join("crc.npz"), &bad).unwrap();
    assert!(read_npz(d.join("crc.npz")).is_err());
    std::fs::write(d.join("name.npz"), stored_zip(&[("x.txt", b"hi".to_vec())])).unwrap();
    assert!(
        read_npz(d.join("name.npz"))
            .unwrap_err()
            .to_string()
            .contains("x.txt")
    );
    for cut in [0, 10, zip.len() / 2, zip.len() - 1] {
        std::fs::write(d.join("cut.npz"), &zip[..cut]).unwrap();
        let e = read_npz(d.join("cut.npz")).unwrap_err().to_string();
        assert!(e.contains("cut.npz"), "{e}");
    }
    let z = stored_zip(&[
        ("x.npy", npy_bytes("<f4", "(3, 2)", &x)),
        ("y.npy", npy_bytes("<i8", "(2,)", &y[..16])),
    ]);
    std::fs::write(d.join("dims.npz"), z).unwrap();
    assert!(
        npz_dataset(d.join("dims.npz"), None)
            .err()
            .unwrap()
            .to_string()
            .contains("same batch size")
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn npz_and_npy_round_trip() {
    let d = tmpdir("npzrt");
    let a = Tensor::from_vec((0..24).map(|i| i as f64).collect::<Vec<_>>(), [4, 3, 2]).unwrap();
    let b = Tensor::from_vec(vec![1u8, 2, 3, 4], [4]).unwrap();
    for compressed in [false, true] {
        let p = d.join(format!("rt{compressed}.npz"));
        write_npz(&p, &[("a", &a), ("b", &b)], compressed).unwrap();
        let back = read_npz(&p).unwrap();
        assert_eq!(
            back[0].1.to_vec::<f64>().unwrap(),
            a.to_vec::<f64>().unwrap()
        );
        assert_eq!(back[1].1.to_vec::<u8>().unwrap(), vec![1, 2, 3, 4]);
    }
    assert!(write_npz(d.join("dup.npz"), &[("a", &a), ("a", &b)], false).is_err());
    a.write_npy(d.join("a.npy")).unwrap();
    let ds = npy_dataset(d.join("a.npy")).unwrap();
    let rows = ds.collect().unwrap();
    assert_eq!(rows.len(), 4);
    match &rows[3] {
        Element::Tensor(t) => assert_eq!(
            t.to_vec::<f64>().unwrap(),
            (18..24).map(f64::from).collect::<Vec<_>>()
        ),
        other => panic!("{other:?}"),
    }
    Tensor::from_scalar(1.0f32)
        .write_npy(d.join("s.npy"))
        .unwrap();
    assert!(
        npy_dataset(d.join("s.npy"))
            .err()
            .unwrap()
            .to_string()
            .contains("non-scalar")
    );
    std::fs::remove_dir_all(d).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_idx_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), code in prop_oneof![Just(8u8), Just(9), Just(0x0b), Just(0x0c), Just(0x0d), Just(0x0e)], rank in 0u8..4) {
        let mut b = vec![0, 0, code, rank];
        b.extend_from_slice(&bytes);
        if let Ok(t) = read_idx_from(&b[..], "p") {
            prop_assert_eq!(t.rank(), rank as usize);
        }
    }

    #[test]
    fn mutated_npz_never_panics(pos in 0usize..400, val in any::<u8>()) {
        let x: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut zip = stored_zip(&[("x.npy", npy_bytes("<f4", "(2,)", &x))]);
        let p = pos % zip.len();
        zip[p] = val;
        let d = tmpdir(&format!("mut{p}"));
        std::fs::write(d.join("m.npz"), &zip).unwrap();
        let _ = read_npz(d.join("m.npz"));
        std::fs::remove_dir_all(d).unwrap();
    }
}
