//! `.npy` I/O: files written by real NumPy (TensorFlow's fixtures and small files for
//! every dtype, Fortran order and big-endian), round trips for every dtype, and hostile
//! bytes (truncation, flipped bytes, lying headers) that must give errors, never panics.

#![allow(clippy::unwrap_used, clippy::excessive_precision)]

mod common;

use common::*;
use tf_core::{DType, Tensor, bf16, f16};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn sum(t: &Tensor) -> f64 {
    t.to_f64_vec().unwrap().iter().sum()
}

#[test]
fn reads_tensorflow_fixtures() {
    // Values checked with NumPy 2.4 (np.load).
    let mlp = Tensor::read_npy(fixture("mlp_input.npy")).unwrap();
    assert_eq!((mlp.dtype(), mlp.dims()), (DType::F32, &[4, 64][..]));
    let v = mlp.to_vec::<f32>().unwrap();
    assert_eq!(
        &v[..4],
        &[0.945_413_47, 0.023_897_111, 0.202_348_23, 0.058_071_792]
    );
    assert_eq!(&v[254..], &[0.772_323_25, 0.568_142_9]);
    assert!((sum(&mlp) - 134.20796477794647).abs() < 1e-9);

    let cnn = Tensor::read_npy(fixture("cnn_input.npy")).unwrap();
    assert_eq!((cnn.dtype(), cnn.dims()), (DType::F32, &[4, 28, 28, 1][..]));
    assert_eq!(cnn.to_vec::<f32>().unwrap()[0], 0.859_133_7);
    assert!((sum(&cnn) - 1553.2915682196617).abs() < 1e-7);

    let q = Tensor::read_npy(fixture("mlp_int8_input_b1.npy")).unwrap();
    assert_eq!((q.dtype(), q.dims()), (DType::I8, &[1, 64][..]));
    let v = q.to_vec::<i8>().unwrap();
    assert_eq!(&v[..4], &[113, -122, -76, -113]);
    assert_eq!(&v[62..], &[70, -70]);
    assert_eq!(sum(&q), 119.0);

    let out = Tensor::read_npy(fixture("cnn_keras_output.npy")).unwrap();
    assert_eq!((out.dtype(), out.dims()), (DType::F32, &[4, 10][..]));
    let v = out.to_vec::<f32>().unwrap();
    assert_eq!(&v[..2], &[-0.967_350_1, -0.239_408_63]);
    assert!((sum(&out) - -24.091395701281726).abs() < 1e-9);

    // Re-encoding and decoding reproduces the values.
    for t in [&mlp, &cnn, &q, &out] {
        let back = Tensor::from_npy_bytes(&t.to_npy_bytes().unwrap()).unwrap();
        assert_eq!(back.dims(), t.dims());
        assert_eq!(back.to_f64_vec().unwrap(), t.to_f64_vec().unwrap());
    }
}

#[test]
fn reads_numpy_files_of_every_dtype_order_and_endianness() {
    let f16s = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
    // np.array([[1, -2.5, 0.1], [65504, -0.0, inf]], float16)
    let t = Tensor::read_npy(fixture("np_f16_2x3.npy")).unwrap();
    assert_eq!(t.dims(), &[2, 3]);
    assert_eq!(
        t.to_vec::<f16>().unwrap(),
        f16s(&[1.0, -2.5, 0.1, 65504.0, -0.0, f32::INFINITY])
    );
    // np.asfortranarray(np.arange(6.0).reshape(3, 2))
    let t = Tensor::read_npy(fixture("np_f64_fortran_3x2.npy")).unwrap();
    assert_eq!(t.dims(), &[3, 2]);
    assert_eq!(
        t.to_vec::<f64>().unwrap(),
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    // np.array([1.5, -2.0, 3e10], '>f4')
    let t = Tensor::read_npy(fixture("np_f32_be.npy")).unwrap();
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.5, -2.0, 3e10]);
    // np.array([[1, -2], [2**40, -2**62]], '>i8')
    let t = Tensor::read_npy(fixture("np_i64_be_2x2.npy")).unwrap();
    assert_eq!(t.to_vec::<i64>().unwrap(), vec![1, -2, 1 << 40, -(1 << 62)]);
    // np.asfortranarray(np.arange(12, dtype=int32).reshape(2, 3, 2) - 5)
    let t = Tensor::read_npy(fixture("np_i32_fortran_2x3x2.npy")).unwrap();
    assert_eq!(t.dims(), &[2, 3, 2]);
    assert_eq!(t.to_vec::<i32>().unwrap(), (-5..7).collect::<Vec<i32>>());
    // np.array([0, 7, 255], uint8)
    let t = Tensor::read_npy(fixture("np_u8.npy")).unwrap();
    assert_eq!(t.to_vec::<u8>().unwrap(), vec![0, 7, 255]);
    // np.array([[True, False], [False, True]])
    let t = Tensor::read_npy(fixture("np_bool_2x2.npy")).unwrap();
    assert_eq!(t.to_vec::<bool>().unwrap(), vec![true, false, false, true]);
    // np.float32(3.25): a scalar
    let t = Tensor::read_npy(fixture("np_f32_scalar.npy")).unwrap();
    assert_eq!((t.rank(), t.scalar::<f32>().unwrap()), (0, 3.25));
    // np.zeros((2, 0, 3), int32)
    let t = Tensor::read_npy(fixture("np_i32_empty_2x0x3.npy")).unwrap();
    assert_eq!((t.dtype(), t.dims()), (DType::I32, &[2, 0, 3][..]));
    // np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], '>f2'))
    let t = Tensor::read_npy(fixture("np_f16_fortran_be_2x3.npy")).unwrap();
    assert_eq!(t.dims(), &[2, 3]);
    assert_eq!(
        t.to_vec::<f16>().unwrap(),
        f16s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    // int16 is not a dtype of ours.
    let e = Tensor::read_npy(fixture("np_i16.npy"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("np_i16.npy") && e.contains("<i2"), "{e}");
}

#[test]
fn float16_files_are_byte_identical_to_numpy() {
    let numpy = fixture_bytes("np_f16_2x3.npy");
    let t = Tensor::from_npy_bytes(&numpy).unwrap();
    assert_eq!(t.to_npy_bytes().unwrap(), numpy);
}

#[test]
fn every_dtype_round_trips_in_every_layout() {
    let mut r = rng(5);
    let dir = std::env::temp_dir().join(format!("tf_core_npy_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for dtype in ALL_DTYPES {
        for dims in [
            vec![],
            vec![0],
            vec![5],
            vec![2, 3],
            vec![2, 0, 3],
            vec![3, 1, 4],
        ] {
            let t = random_tensor(&mut r, dtype, &dims);
            for (k, x) in layouts(&t).iter().enumerate() {
                if dtype == DType::BF16 {
                    let e = x.to_npy_bytes().unwrap_err().to_string();
                    assert!(
                        e.contains("bfloat16") && e.contains("cast to float32"),
                        "{e}"
                    );
                    continue;
                }
                let bytes = x.to_npy_bytes().unwrap();
                assert_eq!(bytes.len() % 64, (dtype.size_of() * t.num_elements()) % 64);
                let back = Tensor::from_npy_bytes(&bytes).unwrap();
                assert_eq!(back.dtype(), dtype);
                assert_eq!(back.dims(), &dims[..]);
                assert_eq!(
                    back.to_f64_vec().unwrap(),
                    t.to_f64_vec().unwrap(),
                    "{dtype} {dims:?} layout {k}"
                );
                let path = dir.join(format!("{dtype}_{k}.npy"));
                x.write_npy(&path).unwrap();
                let file = Tensor::read_npy(&path).unwrap();
                assert_eq!(file.to_f64_vec().unwrap(), t.to_f64_vec().unwrap());
            }
        }
    }
    // Values at the edges of each type survive.
    let edge = Tensor::vector(&[i64::MIN, i64::MAX, 0]);
    let back = Tensor::from_npy_bytes(&edge.to_npy_bytes().unwrap()).unwrap();
    assert_eq!(back.to_vec::<i64>().unwrap(), vec![i64::MIN, i64::MAX, 0]);
    let nan = Tensor::vector(&[f32::NAN, f32::NEG_INFINITY, -0.0]);
    let back = Tensor::from_npy_bytes(&nan.to_npy_bytes().unwrap())
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(back[0].is_nan() && back[1] == f32::NEG_INFINITY && back[2].is_sign_negative());
    let e = Tensor::vector(&[bf16::ONE])
        .write_npy(dir.join("b.npy"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cast to float32 first"), "{e}");
    let missing = dir.join("missing.npy");
    let e = Tensor::read_npy(&missing).unwrap_err().to_string();
    assert!(e.contains("missing.npy"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An `.npy` file with a hand-written header dict (version 1.0) followed by `data`.
fn npy_with(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut h = dict.as_bytes().to_vec();
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

fn bytes_err(b: &[u8]) -> String {
    let e = Tensor::from_npy_bytes(b).unwrap_err().to_string();
    assert!(e.starts_with("npy bytes"), "{e}");
    e
}

#[test]
fn hostile_headers_are_errors() {
    let ok = npy_with(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &[0; 8],
    );
    assert_eq!(Tensor::from_npy_bytes(&ok).unwrap().dims(), &[2]);
    assert!(bytes_err(b"").contains("magic"));
    assert!(bytes_err(b"\x93NUMPX\x01\x00").contains("magic"));
    assert!(bytes_err(b"\x93NUMPY\x09\x00\x10\x00").contains("version 9.0"));
    assert!(bytes_err(b"\x93NUMPY\x01\x00\x10").contains("truncated"));
    // A header length pointing past the end, and one beyond the limit (format 2.0).
    assert!(bytes_err(b"\x93NUMPY\x01\x00\xff\xff{").contains("truncated"));
    assert!(bytes_err(b"\x93NUMPY\x02\x00\xff\xff\xff\xff{").contains("limit"));
    // A shape that claims far more data than present: an error, no allocation.
    let e = bytes_err(&npy_with(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }",
        &[0; 16],
    ));
    assert!(
        e.contains("truncated data") && e.contains("1000000000000"),
        "{e}"
    );
    // Element counts that overflow, even with a zero dimension.
    let e = bytes_err(&npy_with(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4611686018427387904), }",
        &[],
    ));
    assert!(e.contains("too large"), "{e}");
    let e = bytes_err(&npy_with(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &[0; 9],
    ));
    assert!(e.contains("1 extra bytes"), "{e}");
    let e = bytes_err(&npy_with(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &[0; 7],
    ));
    assert!(e.contains("needs 8 bytes, found 7"), "{e}");
    let e = bytes_err(&npy_with(
        "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    ));
    assert!(e.contains("unsupported dtype descriptor"), "{e}");
    let e = bytes_err(&npy_with(
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
        &[0; 4],
    ));
    assert!(e.contains("bad header dict"), "{e}");
    let e = bytes_err(&npy_with("{'descr': '<f4', 'fortran_order': False}", &[]));
    assert!(e.contains("missing the key 'shape'"), "{e}");
    let e = bytes_err(&npy_with(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
        &[0; 4],
    ));
    assert!(e.contains("unexpected header key 'x'"), "{e}");
    let e = bytes_err(&npy_with(
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
        &[1, 2],
    ));
    assert!(e.contains("bool"), "{e}");
    let deep = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': {}",
        "(".repeat(5000)
    );
    bytes_err(&npy_with(&deep, &[]));
    let mut no_newline = npy_with(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
        &[0; 4],
    );
    let hl = u16::from_le_bytes([no_newline[8], no_newline[9]]) as usize;
    no_newline[10 + hl - 1] = b' ';
    assert!(bytes_err(&no_newline).contains("newline"));
}

/// Every truncation and many byte flips of valid files give an error or a valid
/// tensor, never a panic (and never a huge allocation).
#[test]
fn corrupted_files_never_panic() {
    let mut files = vec![
        fixture_bytes("np_f16_fortran_be_2x3.npy"),
        fixture_bytes("np_bool_2x2.npy"),
        fixture_bytes("np_f64_fortran_3x2.npy"),
        fixture_bytes("np_f32_scalar.npy"),
        fixture_bytes("mlp_int8_input_b1.npy"),
    ];
    files.push(Tensor::vector(&[1i64, 2, 3]).to_npy_bytes().unwrap());
    let mut r = rng(9);
    let mut outcomes = [0usize; 2];
    for file in &files {
        for len in 0..file.len() {
            let res = Tensor::from_npy_bytes(&file[..len]);
            assert!(res.is_err(), "truncation to {len} bytes was accepted");
        }
        for pos in 0..file.len() {
            for flip in [0x01u8, 0x80, 0xff, 0x20] {
                let mut b = file.clone();
                b[pos] ^= flip;
                if let Ok(t) = Tensor::from_npy_bytes(&b) {
                    // Whatever was accepted is a consistent tensor.
                    assert_eq!(t.to_f64_vec().unwrap().len(), t.num_elements());
                    outcomes[0] += 1;
                } else {
                    outcomes[1] += 1;
                }
            }
        }
        for _ in 0..300 {
            let mut b = file.clone();
            for _ in 0..rand::Rng::random_range(&mut r, 1..6) {
                let p = rand::Rng::random_range(&mut r, 0..b.len());
                b[p] = rand::Rng::random(&mut r);
            }
            if let Ok(t) = Tensor::from_npy_bytes(&b) {
                assert_eq!(t.to_f64_vec().unwrap().len(), t.num_elements());
            }
        }
    }
    // Both outcomes occur: flipping data bytes keeps files valid, header bytes do not.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
