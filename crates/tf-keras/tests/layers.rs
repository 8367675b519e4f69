//! Layer forward passes against hand-computed references (naive loops in f64).

#![allow(clippy::unwrap_used)]

use tf_core::{DType, PartialShape, Tensor, ops};
use tf_keras::initializers::Initializer;
use tf_keras::layers::*;
use tf_keras::{Activation, LayerExt, Model, Sequential};

fn t(v: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape).unwrap()
}

fn vals(x: &Tensor) -> Vec<f32> {
    x.to_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

fn seq(v: usize, scale: f32) -> Vec<f32> {
    (0..v)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * scale)
        .collect()
}

/// A partial shape from dims where -1 means unknown.
fn ps(dims: &[i64]) -> PartialShape {
    dims.iter()
        .map(|&d| if d < 0 { None } else { Some(d as usize) })
        .collect()
}

fn built<L: Layer>(mut l: L, shape: &[i64]) -> L {
    ensure_built(&mut l, &[ps(shape)]).unwrap();
    l
}

#[test]
fn dense_forward_matches_hand_computation() {
    let d = built(Dense::new(2).activation(Activation::Relu), &[-1, 3]);
    let k = seq(6, 0.1);
    let b = [0.05f32, -0.3];
    d.kernel().unwrap().assign(&t(k.clone(), &[3, 2])).unwrap();
    d.bias().unwrap().assign(&t(b.to_vec(), &[2])).unwrap();
    let x = seq(6, 0.5);
    let y = d.call(&[t(x.clone(), &[2, 3])], false).unwrap();
    let mut want = vec![];
    for r in 0..2 {
        for c in 0..2 {
            let s: f32 = (0..3).map(|i| x[r * 3 + i] * k[i * 2 + c]).sum::<f32>() + b[c];
            want.push(s.max(0.0));
        }
    }
    close(&vals(&y), &want, 1e-6);
    // rank-3 input: applied on the last axis
    let y3 = d.call(&[t(x, &[1, 2, 3])], false).unwrap();
    assert_eq!(y3.dims(), &[1, 2, 2]);
    close(&vals(&y3), &want, 1e-6);
    // weights: trainable kernel then bias, named after the layer
    let w = d.weights();
    assert_eq!(w.len(), 2);
    assert!(w[0].name().ends_with("/kernel"), "{}", w[0].name());
    // wrong input width is an error naming the layer
    assert!(d.call(&[t(vec![0.0; 4], &[1, 4])], false).is_err());
}

#[test]
fn conv2d_matches_naive_convolution() {
    let c = built(Conv2D::new(2, &[2, 2]), &[-1, 3, 3, 1]);
    let k = seq(8, 0.2);
    c.weights()[0].assign(&t(k.clone(), &[2, 2, 1, 2])).unwrap();
    c.weights()[1].assign(&t(vec![0.1, -0.1], &[2])).unwrap();
    let x = seq(9, 1.0);
    let y = c.call(&[t(x.clone(), &[1, 3, 3, 1])], false).unwrap();
    assert_eq!(y.dims(), &[1, 2, 2, 2]);
    let mut want = vec![];
    for oy in 0..2 {
        for ox in 0..2 {
            for f in 0..2 {
                let mut s = if f == 0 { 0.1 } else { -0.1 };
                for ky in 0..2 {
                    for kx in 0..2 {
                        s += x[(oy + ky) * 3 + ox + kx] * k[(ky * 2 + kx) * 2 + f];
                    }
                }
                want.push(s);
            }
        }
    }
    close(&vals(&y), &want, 1e-5);
    assert_eq!(
        c.compute_output_shape(&[ps(&[-1, 3, 3, 1])]).unwrap(),
        PartialShape::new(&[None, Some(2), Some(2), Some(2)])
    );
}

#[test]
fn conv1d_same_and_causal() {
    let c = built(
        Conv1D::new(1, 3)
            .padding(tf_keras::layers::ConvPadding::Causal)
            .use_bias(false),
        &[-1, 4, 1],
    );
    c.weights()[0]
        .assign(&t(vec![1.0, 2.0, 3.0], &[3, 1, 1]))
        .unwrap();
    let y = c
        .call(&[t(vec![1.0, 1.0, 1.0, 1.0], &[1, 4, 1])], false)
        .unwrap();
    // causal: out[t] = 1*x[t-2] + 2*x[t-1] + 3*x[t]
    close(&vals(&y), &[3.0, 5.0, 6.0, 6.0], 1e-6);
}

#[test]
fn pooling_layers() {
    let x = t((0..16).map(|v| v as f32).collect(), &[1, 4, 4, 1]);
    let m = MaxPooling2D::new([2, 2]);
    close(
        &vals(&m.call(std::slice::from_ref(&x), false).unwrap()),
        &[5.0, 7.0, 13.0, 15.0],
        0.0,
    );
    let a = AveragePooling2D::new([2, 2]);
    close(
        &vals(&a.call(std::slice::from_ref(&x), false).unwrap()),
        &[2.5, 4.5, 10.5, 12.5],
        1e-6,
    );
    let g = GlobalAveragePooling2D::new();
    close(
        &vals(&g.call(std::slice::from_ref(&x), false).unwrap()),
        &[7.5],
        1e-6,
    );
    let gm = GlobalMaxPooling2D::new().keepdims(true);
    let y = gm.call(std::slice::from_ref(&x), false).unwrap();
    assert_eq!(y.dims(), &[1, 1, 1, 1]);
    close(&vals(&y), &[15.0], 0.0);
}

#[test]
fn batch_norm_training_and_inference() {
    let bn = built(BatchNormalization::new().momentum(0.5), &[-1, 2]);
    let x = t(vec![1.0, 10.0, 3.0, 20.0], &[2, 2]);
    let y = bn.call(std::slice::from_ref(&x), true).unwrap();
    // batch mean [2, 15], variance [1, 25]
    let n = |v: f32, m: f32, var: f32| (v - m) / (var + 1e-3).sqrt();
    close(
        &vals(&y),
        &[
            n(1.0, 2.0, 1.0),
            n(10.0, 15.0, 25.0),
            n(3.0, 2.0, 1.0),
            n(20.0, 15.0, 25.0),
        ],
        1e-5,
    );
    // moving stats: 0.5 * init + 0.5 * batch
    close(&vals(&bn.moving_mean().unwrap().value()), &[1.0, 7.5], 1e-6);
    close(
        &vals(&bn.moving_variance().unwrap().value()),
        &[1.0, 13.0],
        1e-6,
    );
    // inference uses the moving stats
    let yi = bn.call(std::slice::from_ref(&x), false).unwrap();
    close(
        &vals(&yi),
        &[
            n(1.0, 1.0, 1.0),
            n(10.0, 7.5, 13.0),
            n(3.0, 1.0, 1.0),
            n(20.0, 7.5, 13.0),
        ],
        1e-5,
    );
    // weights: gamma, beta trainable; moving stats not
    assert_eq!(bn.trainable_weights().len(), 2);
    assert_eq!(bn.non_trainable_weights().len(), 2);
}

#[test]
fn layer_norm_per_sample() {
    let ln = built(LayerNormalization::new(), &[-1, 3]);
    let y = ln
        .call(&[t(vec![1.0, 2.0, 3.0, 0.0, 0.0, 6.0], &[2, 3])], false)
        .unwrap();
    let row = |r: [f32; 3]| {
        let m = r.iter().sum::<f32>() / 3.0;
        let v = r.iter().map(|x| (x - m).powi(2)).sum::<f32>() / 3.0;
        r.map(|x| (x - m) / (v + 1e-3).sqrt())
    };
    let mut want = row([1.0, 2.0, 3.0]).to_vec();
    want.extend(row([0.0, 0.0, 6.0]));
    close(&vals(&y), &want, 1e-5);
}

#[test]
fn dropout_only_in_training() {
    let d = Dropout::new(0.5).seed(3);
    let x = Tensor::ones([1000], DType::F32).unwrap();
    assert_eq!(
        vals(&d.call(std::slice::from_ref(&x), false).unwrap()),
        vec![1.0; 1000]
    );
    let y = vals(&d.call(std::slice::from_ref(&x), true).unwrap());
    assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
    let kept = y.iter().filter(|&&v| v == 2.0).count();
    assert!((400..600).contains(&kept), "{kept}");
    assert!(Dropout::new(1.5).call(&[x], true).is_err());
}

#[test]
fn reshaping_layers() {
    let x = t((0..12).map(|v| v as f32).collect(), &[2, 3, 2]);
    let f = Flatten::new()
        .call(std::slice::from_ref(&x), false)
        .unwrap();
    assert_eq!(f.dims(), &[2, 6]);
    let r = Reshape::new(&[2, -1])
        .call(std::slice::from_ref(&x), false)
        .unwrap();
    assert_eq!(r.dims(), &[2, 2, 3]);
    let p = Permute::new(&[2, 1])
        .call(std::slice::from_ref(&x), false)
        .unwrap();
    assert_eq!(p.dims(), &[2, 2, 3]);
    close(&vals(&p)[..6], &[0.0, 2.0, 4.0, 1.0, 3.0, 5.0], 0.0);
    let z = ZeroPadding2D::new([[1, 0], [0, 1]])
        .call(&[t(vec![1.0; 4], &[1, 2, 2, 1])], false)
        .unwrap();
    assert_eq!(z.dims(), &[1, 3, 3, 1]);
    close(
        &vals(&z),
        &[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0],
        0.0,
    );
}

#[test]
fn embedding_and_merges() {
    let e = built(Embedding::new(4, 2), &[-1, 3]);
    e.embeddings()
        .unwrap()
        .assign(&t(vec![0.0, 0.1, 1.0, 1.1, 2.0, 2.1, 3.0, 3.1], &[4, 2]))
        .unwrap();
    let y = e
        .call(
            &[Tensor::from_vec(vec![3i64, 0, 1], [1, 3]).unwrap()],
            false,
        )
        .unwrap();
    assert_eq!(y.dims(), &[1, 3, 2]);
    close(&vals(&y), &[3.0, 3.1, 0.0, 0.1, 1.0, 1.1], 0.0);
    assert!(
        e.call(&[Tensor::from_vec(vec![7i64], [1, 1]).unwrap()], false)
            .is_err()
    );

    let a = t(vec![1.0, 2.0], &[1, 2]);
    let b = t(vec![3.0, 4.0], &[1, 2]);
    close(
        &vals(&Add::new().call(&[a.clone(), b.clone()], false).unwrap()),
        &[4.0, 6.0],
        0.0,
    );
    close(
        &vals(
            &Multiply::new()
                .call(&[a.clone(), b.clone()], false)
                .unwrap(),
        ),
        &[3.0, 8.0],
        0.0,
    );
    close(
        &vals(&Concatenate::new(-1).call(&[a.clone(), b], false).unwrap()),
        &[1.0, 2.0, 3.0, 4.0],
        0.0,
    );
    assert!(Add::new().call(&[a], false).is_err());
}

#[test]
fn activation_layers() {
    let x = t(vec![-2.0, -0.5, 0.5, 7.0], &[4]);
    close(
        &vals(
            &ReLU::new()
                .max_value(6.0)
                .call(std::slice::from_ref(&x), false)
                .unwrap(),
        ),
        &[0.0, 0.0, 0.5, 6.0],
        0.0,
    );
    close(
        &vals(
            &ReLU::new()
                .negative_slope(0.1)
                .threshold(0.0)
                .call(std::slice::from_ref(&x), false)
                .unwrap(),
        ),
        &[-0.2, -0.05, 0.5, 7.0],
        1e-6,
    );
    close(
        &vals(
            &Rescaling::new(0.5, 1.0)
                .call(std::slice::from_ref(&x), false)
                .unwrap(),
        ),
        &[0.0, 0.75, 1.25, 4.5],
        1e-6,
    );
    let s = Softmax::new(-1)
        .call(&[t(vec![0.0, 0.0], &[1, 2])], false)
        .unwrap();
    close(&vals(&s), &[0.5, 0.5], 1e-6);
    let a = ActivationLayer::new(Activation::from_name("tanh").unwrap());
    close(
        &vals(&a.call(&[t(vec![0.0], &[1])], false).unwrap()),
        &[0.0],
        0.0,
    );
    assert!(Activation::from_name("frobnicate").is_err());
}

#[test]
fn initializers_follow_keras_fans() {
    let w = Initializer::GlorotUniform(Some(1))
        .initialize(&[100, 50], DType::F32)
        .unwrap();
    let limit = (6.0f32 / 150.0).sqrt();
    assert!(vals(&w).iter().all(|v| v.abs() <= limit));
    let he = Initializer::HeNormal(Some(2))
        .initialize(&[3, 3, 64, 32], DType::F32)
        .unwrap();
    let v = vals(&he);
    let std = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    let want = (2.0f32 / (9.0 * 64.0)).sqrt();
    assert!((std - want).abs() / want < 0.05, "{std} vs {want}");
    let o = Initializer::Orthogonal {
        gain: 1.0,
        seed: Some(3),
    }
    .initialize(&[6, 4], DType::F32)
    .unwrap();
    let qtq = ops::matmul_transposed(&o, &o, true, false).unwrap();
    let eye = Tensor::eye(4, None, DType::F32).unwrap();
    close(&vals(&qtq), &vals(&eye), 1e-5);
    assert_eq!(
        vals(
            &Initializer::Constant(0.5)
                .initialize(&[2], DType::F32)
                .unwrap()
        ),
        vec![0.5, 0.5]
    );
}

#[test]
fn functional_model_with_shared_layer() {
    let a = Input::tensor(&[2]);
    let b = Input::tensor(&[2]);
    let shared = tf_keras::LayerRef::new(
        Dense::new(2)
            .use_bias(false)
            .kernel_initializer(Initializer::Ones),
    );
    let ha = shared.apply(&[&a]).unwrap();
    let hb = shared.apply(&[&b]).unwrap();
    let sum = Add::new().apply(&[&ha, &hb]).unwrap();
    let out = Dense::new(1)
        .use_bias(false)
        .kernel_initializer(Initializer::Constant(2.0))
        .apply(&[&sum])
        .unwrap();
    let mut model = Model::new(&[a, b], &[out]).unwrap();
    assert_eq!(model.count_params().unwrap(), 4 + 2);
    let y = model
        .call(
            &[t(vec![1.0, 2.0], &[1, 2]), t(vec![3.0, 4.0], &[1, 2])],
            false,
        )
        .unwrap();
    // shared: [3, 3] and [7, 7]; sum [10, 10]; out 2 * 20 = 40
    close(&vals(&y[0]), &[40.0], 1e-5);
    assert_eq!(model.layers().len(), 5); // two inputs, shared dense, add, dense
    let summary = model.summary_string().unwrap();
    assert!(summary.contains("Connected to"), "{summary}");
    assert!(summary.contains("(Add)"), "{summary}");
}

#[test]
fn graph_disconnected_is_an_error() {
    let a = Input::tensor(&[2]);
    let b = Input::tensor(&[2]);
    let s = Add::new().apply(&[&a, &b]).unwrap();
    let err = Model::new(&[a], &[s]).err().unwrap().to_string();
    assert!(err.contains("disconnected"), "{err}");
}

#[test]
fn sequential_summary_matches_keras_table() {
    tf_keras::clear_session();
    let mut m = Sequential::named("sequential");
    m.add(Input::new(&[64])).unwrap();
    m.add(Dense::new(128).activation(Activation::Relu).name("dense"))
        .unwrap();
    m.add(Dropout::new(0.1).name("dropout")).unwrap();
    m.add(Dense::new(10).name("dense_1")).unwrap();
    // Keras 3.15's output for the same model.
    let want = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 128)            │         8,320 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 128)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         1,290 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 9,610 (37.54 KB)
 Trainable params: 9,610 (37.54 KB)
 Non-trainable params: 0 (0.00 B)
";
    assert_eq!(m.summary_string().unwrap(), want);
}
