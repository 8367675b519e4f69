//! `fit` / `evaluate` / `predict` on tf-data `Dataset`s against the same calls on
//! tensors (same batches in the same order give the same weights, losses and outputs),
//! sample weights from the third tuple component, multi-input tuples, and errors.

#![allow(clippy::unwrap_used)]

use tf_core::{DType, Tensor, ops};
use tf_data::{Dataset, Element};
use tf_keras::layers::{Concatenate, Dense, Input};
use tf_keras::losses::SparseCategoricalCrossentropy;
use tf_keras::optimizers::Adam;
use tf_keras::{Activation, FitOptions, LayerExt, Model, Sequential, Verbose};

fn data(n: usize) -> (Tensor, Tensor) {
    let x = ops::random_uniform(&[n, 6], -1.0, 1.0, DType::F32, Some(4)).unwrap();
    let y = ops::random_uniform_int(&[n], 0, 3, DType::I64, Some(5)).unwrap();
    (x, y)
}

fn model() -> Model {
    let mut m = Sequential::new();
    m.add(Input::new(&[6])).unwrap();
    m.add(Dense::new(8).activation(Activation::Tanh)).unwrap();
    m.add(Dense::new(3)).unwrap();
    m
}

fn compile(m: &mut Model) {
    m.compile(
        Adam::new(0.01).unwrap(),
        SparseCategoricalCrossentropy::new(true),
        &["accuracy"],
    )
    .unwrap();
}

fn pair(x: &Tensor, y: &Tensor) -> Element {
    Element::Tuple(vec![x.clone().into(), y.clone().into()])
}

fn close(a: &Tensor, b: &Tensor, tol: f32) {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() <= tol, "{p} vs {q}");
    }
}

#[test]
fn fit_evaluate_predict_on_dataset_match_tensors() {
    ops::set_random_seed(2);
    let (x, y) = data(45); // batches of 10: 4 full + 5
    let mut on_tensors = model();
    let mut on_dataset = model();
    on_dataset
        .set_weights(&on_tensors.get_weights().unwrap())
        .unwrap();
    compile(&mut on_tensors);
    compile(&mut on_dataset);
    let opts = || FitOptions::new().epochs(3).verbose(Verbose::Silent);
    let h1 = on_tensors
        .fit(&x, &y, opts().batch_size(10).shuffle(false))
        .unwrap();
    let ds = Dataset::from_tensor_slices(pair(&x, &y))
        .unwrap()
        .batch(10, false)
        .unwrap();
    let h2 = on_dataset.fit_dataset(&ds, opts()).unwrap();
    let (l1, l2) = (h1.get("loss").unwrap(), h2.get("loss").unwrap());
    assert_eq!(l1.len(), 3);
    for (a, b) in l1.iter().zip(l2) {
        assert!((a - b).abs() < 1e-6, "{l1:?} vs {l2:?}");
    }
    for (a, b) in on_tensors
        .get_weights()
        .unwrap()
        .iter()
        .zip(&on_dataset.get_weights().unwrap())
    {
        close(a, b, 1e-6);
    }
    let e1 = on_tensors.evaluate(&x, &y, 10).unwrap();
    let e2 = on_dataset.evaluate_dataset(&ds).unwrap();
    for k in ["loss", "accuracy"] {
        assert!((e1.get(k).unwrap() - e2.get(k).unwrap()).abs() < 1e-6);
    }
    let p1 = on_tensors.predict(&x, 10).unwrap();
    let p2 = on_dataset.predict_dataset(&ds).unwrap();
    assert_eq!(p2.len(), 1);
    close(&p1, &p2[0], 1e-6);
    // x-only elements predict too.
    let xs = Dataset::from_tensor_slices(x.clone())
        .unwrap()
        .batch(7, false)
        .unwrap();
    close(&p1, &on_dataset.predict_dataset(&xs).unwrap()[0], 1e-6);
}

#[test]
fn dataset_sample_weights_and_validation() {
    ops::set_random_seed(3);
    let (x, y) = data(20);
    let w = Tensor::from_vec((0..20).map(|i| (i % 3) as f32).collect(), [20]).unwrap();
    let mut a = model();
    let mut b = model();
    b.set_weights(&a.get_weights().unwrap()).unwrap();
    compile(&mut a);
    compile(&mut b);
    let opts = || FitOptions::new().epochs(2).verbose(Verbose::Silent);
    a.fit(
        &x,
        &y,
        opts().batch_size(5).shuffle(false).sample_weight(&w),
    )
    .unwrap();
    let ds = Dataset::from_tensor_slices(Element::Tuple(vec![
        x.clone().into(),
        y.clone().into(),
        w.clone().into(),
    ]))
    .unwrap()
    .batch(5, false)
    .unwrap();
    let val = Dataset::from_tensor_slices(pair(&x, &y))
        .unwrap()
        .batch(8, false)
        .unwrap();
    let h = b.fit_dataset(&ds, opts().validation_dataset(&val)).unwrap();
    assert_eq!(h.get("val_loss").unwrap().len(), 2);
    for (p, q) in a
        .get_weights()
        .unwrap()
        .iter()
        .zip(&b.get_weights().unwrap())
    {
        close(p, q, 1e-6);
    }
}

#[test]
fn multi_input_dataset() {
    ops::set_random_seed(4);
    let (x, y) = data(12);
    let x2 = ops::random_uniform(&[12, 2], 0.0, 1.0, DType::F32, Some(9)).unwrap();
    let a = Input::tensor(&[6]);
    let b = Input::tensor(&[2]);
    let h = Concatenate::new(-1).apply(&[&a, &b]).unwrap();
    let out = Dense::new(3).apply(&[&h]).unwrap();
    let mut m = Model::new(&[a, b], &[out]).unwrap();
    compile(&mut m);
    let ds = Dataset::from_tensor_slices(Element::Tuple(vec![
        Element::Tuple(vec![x.clone().into(), x2.clone().into()]),
        y.into(),
    ]))
    .unwrap()
    .batch(4, false)
    .unwrap();
    let hist = m
        .fit_dataset(&ds, FitOptions::new().epochs(2).verbose(Verbose::Silent))
        .unwrap();
    assert!(hist.get("loss").unwrap()[1].is_finite());
    let p = m.predict_dataset(&ds).unwrap();
    assert_eq!(p[0].dims(), &[12, 3]);
}

#[test]
fn dataset_errors_are_clear() {
    let (x, y) = data(8);
    let mut m = model();
    compile(&mut m);
    let xs_only = Dataset::from_tensor_slices(x.clone())
        .unwrap()
        .batch(4, false)
        .unwrap();
    let e = m
        .fit_dataset(&xs_only, FitOptions::new().verbose(Verbose::Silent))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no targets"), "{e}");
    let ds = Dataset::from_tensor_slices(pair(&x, &y))
        .unwrap()
        .batch(4, false)
        .unwrap();
    let e = m
        .fit_dataset(&ds.repeat(None), FitOptions::new().verbose(Verbose::Silent))
        .unwrap_err()
        .to_string();
    assert!(e.contains("infinite"), "{e}");
    let e = m
        .fit_dataset(
            &ds,
            FitOptions::new()
                .validation_split(0.2)
                .verbose(Verbose::Silent),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("validation_split"), "{e}");
}
