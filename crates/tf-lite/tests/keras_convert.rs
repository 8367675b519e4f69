//! Converting tf-keras models: the `.keras` fixtures (made by Keras 3) and models built with
//! tf-keras's Sequential and functional APIs, converted in every quantization mode and run
//! by the interpreter, against tf-keras's own forward pass and Keras's saved predictions
//! (float32 within 1e-5; int8 and dynamic within the quantization error), and against
//! LiteRT's outputs for the same converted files (`fixtures/make_converted.py`: int8 within
//! one unit, dynamic-range float within 1e-5).

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests do

use tf_core::Tensor;
use tf_keras::layers::Layer as _;
use tf_keras::layers::{
    Add, BatchNormalization, Conv2D, ConvPadding, Dense, DepthwiseConv2D, Dropout, Flatten,
    GlobalAveragePooling2D, Input, LayerNormalization, MaxPooling2D,
};
use tf_keras::{Activation, LayerExt, Model, Sequential};
use tf_lite::Interpreter;
use tf_lite::convert::{ConvertOptions, Quantize, convert, layer_graph, load_keras};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn npy(name: &str) -> Tensor {
    Tensor::read_npy(fixture(name)).unwrap()
}

fn run(bytes: &[u8], x: &Tensor) -> Tensor {
    let mut it = Interpreter::from_bytes(bytes).unwrap();
    it.set_input(0, x).unwrap();
    it.invoke().unwrap();
    it.output_tensor(0).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn opts(quantize: Quantize) -> ConvertOptions {
    ConvertOptions { quantize }
}

fn int8(x: &Tensor, it: &Interpreter) -> Tensor {
    let (s, z) = it
        .input_info(0)
        .unwrap()
        .quantization
        .as_ref()
        .unwrap()
        .per_tensor();
    let q: Vec<i8> = x
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&v| ((v / s).round() as i32 + z).clamp(-128, 127) as i8)
        .collect();
    Tensor::from_vec(q, x.shape().dims().to_vec()).unwrap()
}

#[test]
fn keras_fixtures_convert_and_match_keras() {
    for name in ["mlp", "cnn"] {
        let graph = load_keras(fixture(&format!("{name}.keras"))).unwrap();
        let x = npy(&format!("{name}_input.npy"));
        let keras = npy(&format!("{name}_keras_output.npy"))
            .to_vec::<f32>()
            .unwrap();
        let scale = keras.iter().fold(1f32, |m, v| m.max(v.abs()));
        // tf-keras's own forward pass on the loaded model.
        let model = tf_keras::load_model(fixture(&format!("{name}.keras"))).unwrap();
        let ours_keras = model.forward(std::slice::from_ref(&x), false).unwrap()[0]
            .to_vec::<f32>()
            .unwrap();
        assert!(max_diff(&ours_keras, &keras) <= 1e-5 * scale, "{name}");

        let f32_bytes = convert(&graph, &opts(Quantize::None)).unwrap();
        let got = run(&f32_bytes, &x).to_vec::<f32>().unwrap();
        let d = max_diff(&got, &ours_keras);
        assert!(d <= 1e-5 * scale, "{name} float32: {d}");

        let f16 = convert(&graph, &opts(Quantize::Float16)).unwrap();
        let d = max_diff(&run(&f16, &x).to_vec::<f32>().unwrap(), &keras);
        assert!(d <= 1e-2 * scale, "{name} float16: {d}");

        let dynamic = convert(&graph, &opts(Quantize::DynamicWeights)).unwrap();
        let got = run(&dynamic, &x).to_vec::<f32>().unwrap();
        let d = max_diff(&got, &keras);
        assert!(d <= 0.05 * scale, "{name} dynamic vs Keras: {d}");
        let litert = npy(&format!("{name}_converted_dynamic_litert.npy"))
            .to_vec::<f32>()
            .unwrap();
        let d = max_diff(&got, &litert);
        assert!(d <= 1e-5 * scale, "{name} dynamic vs LiteRT: {d}");
        assert!(dynamic.len() * 2 < f32_bytes.len(), "{name}");

        // Full integer with float input/output.
        let q = convert(
            &graph,
            &opts(Quantize::Int8 {
                representative: vec![x.clone()],
                int8_io: false,
            }),
        )
        .unwrap();
        let got = run(&q, &x).to_vec::<f32>().unwrap();
        let d = max_diff(&got, &keras);
        assert!(d <= 0.05 * scale, "{name} int8 vs Keras: {d}");
        assert!(q.len() * 2 < f32_bytes.len(), "{name}");

        // Full integer with int8 input/output: LiteRT's output on the same file.
        let q = convert(
            &graph,
            &opts(Quantize::Int8 {
                representative: vec![x.clone()],
                int8_io: true,
            }),
        )
        .unwrap();
        let mut it = Interpreter::from_bytes(&q).unwrap();
        let xq = int8(&x, &it);
        assert_eq!(
            xq.to_vec::<i8>().unwrap(),
            npy(&format!("{name}_converted_int8_input.npy"))
                .to_vec::<i8>()
                .unwrap(),
            "{name}: input quantization"
        );
        it.set_input(0, &xq).unwrap();
        it.invoke().unwrap();
        let got = it.output::<i8>(0).unwrap().to_vec();
        let want = npy(&format!("{name}_converted_int8_litert.npy"))
            .to_vec::<i8>()
            .unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (i32::from(*a) - i32::from(*b)).abs() <= 1,
                "{name}: {got:?} vs {want:?}"
            );
        }
        let (s, z) = it
            .output_info(0)
            .unwrap()
            .quantization
            .as_ref()
            .unwrap()
            .per_tensor();
        // Softmax output: TFLite's fixed 1/256, -128 (the MLP) or calibrated (the CNN).
        if name == "mlp" {
            assert_eq!((s, z), (1.0 / 256.0, -128));
        }
        let deq: Vec<f32> = got.iter().map(|&v| (i32::from(v) - z) as f32 * s).collect();
        let d = max_diff(&deq, &keras);
        assert!(d <= 0.05 * scale, "{name} int8 io vs Keras: {d}");
    }
}

fn rand(n: usize, seed: u32, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            lo + (s >> 8) as f32 / (1u32 << 24) as f32 * (hi - lo)
        })
        .collect()
}

/// Gives every weight a random value (positive for moving variances) so batch norms fold
/// non-trivially.
fn randomize(model: &Model) {
    for (i, v) in model.weights().unwrap().iter().enumerate() {
        let dims = v.shape().dims().to_vec();
        let n = dims.iter().product();
        let vals = if v.name().ends_with("variance") {
            rand(n, i as u32 + 100, 0.5, 1.5)
        } else {
            rand(n, i as u32 + 100, -0.5, 0.5)
        };
        v.assign(&Tensor::from_vec(vals, dims).unwrap()).unwrap();
    }
}

fn check_model(model: &Model, x: &Tensor, int8_tol: f32) {
    let want = model.forward(std::slice::from_ref(x), false).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let graph = layer_graph(model).unwrap();
    let got = run(&convert(&graph, &opts(Quantize::None)).unwrap(), x)
        .to_vec::<f32>()
        .unwrap();
    let d = max_diff(&got, &want);
    assert!(d <= 1e-5 * scale, "float32: {d}");
    for q in [
        Quantize::DynamicWeights,
        Quantize::Int8 {
            representative: vec![x.clone()],
            int8_io: false,
        },
    ] {
        let got = run(&convert(&graph, &opts(q.clone())).unwrap(), x)
            .to_vec::<f32>()
            .unwrap();
        let d = max_diff(&got, &want);
        assert!(d <= int8_tol * scale, "{q:?}: {d} ({got:?} vs {want:?})");
    }
}

#[test]
fn sequential_cnn_with_batch_norm_and_depthwise() {
    let mut m = Sequential::new();
    m.add(tf_keras::layers::InputLayer::new(
        tf_core::PartialShape::new(&[None, Some(10), Some(10), Some(3)]),
        tf_core::DType::F32,
        None,
    ))
    .unwrap();
    m.add(Conv2D::new(16, &[3, 3]).padding(ConvPadding::Same))
        .unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(tf_keras::layers::ReLU::new()).unwrap();
    m.add(MaxPooling2D::new([2, 2])).unwrap();
    m.add(
        DepthwiseConv2D::new(&[3, 3])
            .strides(&[2, 2])
            .padding(ConvPadding::Same)
            .activation(Activation::Relu6),
    )
    .unwrap();
    m.add(Dropout::new(0.3)).unwrap();
    m.add(GlobalAveragePooling2D::new()).unwrap();
    m.add(Dense::new(4).activation(Activation::Softmax))
        .unwrap();
    randomize(&m);
    let x = Tensor::from_vec(rand(5 * 10 * 10 * 3, 7, -1.0, 1.0), [5, 10, 10, 3]).unwrap();
    check_model(&m, &x, 0.05);
}

#[test]
fn functional_residual_model() {
    let inp = Input::tensor(&[12]);
    let a = Dense::new(8)
        .activation(Activation::Relu)
        .apply(&[&inp])
        .unwrap();
    let b = Dense::new(8).apply(&[&inp]).unwrap();
    let s = Add::new().apply(&[&a, &b]).unwrap();
    let f = Flatten::new().apply(&[&s]).unwrap();
    let out = Dense::new(3)
        .activation(Activation::Tanh)
        .apply(&[&f])
        .unwrap();
    let m = Model::new(&[inp], &[out]).unwrap();
    randomize(&m);
    let x = Tensor::from_vec(rand(6 * 12, 3, -1.0, 1.0), [6, 12]).unwrap();
    check_model(&m, &x, 0.06);
}

#[test]
fn unsupported_layers_are_named() {
    let mut m = Sequential::new();
    m.add(tf_keras::layers::InputLayer::new(
        tf_core::PartialShape::new(&[None, Some(4)]),
        tf_core::DType::F32,
        None,
    ))
    .unwrap();
    m.add(Dense::new(3)).unwrap();
    let mut ln = LayerNormalization::new();
    ln.base_mut().name = "my_norm".into();
    m.add(ln).unwrap();
    let e = layer_graph(&m).unwrap_err().to_string();
    assert!(
        e.contains("my_norm") && e.contains("LayerNormalization"),
        "{e}"
    );
    // An activation without a TFLite builtin.
    let mut m = Sequential::new();
    m.add(tf_keras::layers::InputLayer::new(
        tf_core::PartialShape::new(&[None, Some(4)]),
        tf_core::DType::F32,
        None,
    ))
    .unwrap();
    let mut d = Dense::new(3).activation(Activation::Softplus);
    d.base_mut().name = "soft".into();
    m.add(d).unwrap();
    let e = layer_graph(&m).unwrap_err().to_string();
    assert!(
        e.contains("soft") && e.contains("Dense") && e.contains("softplus"),
        "{e}"
    );
    // int8 without calibration data, and calibration data of the wrong shape.
    let graph = load_keras(fixture("mlp.keras")).unwrap();
    let e = convert(
        &graph,
        &opts(Quantize::Int8 {
            representative: vec![],
            int8_io: false,
        }),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("int8") && e.contains("representative"), "{e}");
    let e = convert(
        &graph,
        &opts(Quantize::Int8 {
            representative: vec![Tensor::from_vec(vec![0f32; 10], [2, 5]).unwrap()],
            int8_io: false,
        }),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("[2, 5]"), "{e}");
}
