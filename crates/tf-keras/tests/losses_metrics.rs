//! Losses and metrics against values computed by hand from Keras's definitions.

#![allow(clippy::unwrap_used)]

use tf_core::{DType, Tensor};
use tf_keras::losses::{
    BinaryCrossentropy, CategoricalCrossentropy, Huber, KLDivergence, Loss, MeanAbsoluteError,
    MeanSquaredError, SparseCategoricalCrossentropy,
};
use tf_keras::metrics::{self, Metric};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn scalar(x: &Tensor) -> f64 {
    tf_core::ops::cast(x, DType::F64)
        .unwrap()
        .scalar::<f64>()
        .unwrap()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
}

fn log_softmax(row: &[f64]) -> Vec<f64> {
    let m = row.iter().cloned().fold(f64::MIN, f64::max);
    let lse = row.iter().map(|x| (x - m).exp()).sum::<f64>().ln() + m;
    row.iter().map(|x| x - lse).collect()
}

const LOGITS: [f32; 6] = [2.0, 1.0, 0.1, 0.5, 2.5, -1.0];

#[test]
fn sparse_categorical_crossentropy() {
    let logits = t(&LOGITS, &[2, 3]);
    let labels = Tensor::from_vec(vec![0i64, 2], [2]).unwrap();
    let r0 = log_softmax(&[2.0, 1.0, 0.1]);
    let r1 = log_softmax(&[0.5, 2.5, -1.0]);
    let want = -(r0[0] + r1[2]) / 2.0;
    let l = SparseCategoricalCrossentropy::new(true)
        .compute(&labels, &logits, None)
        .unwrap();
    close(scalar(&l), want);
    // Probabilities: log of clipped probabilities, renormalized by the softmax.
    let probs = tf_core::ops::softmax(&logits, -1).unwrap();
    let l = SparseCategoricalCrossentropy::new(false)
        .compute(&labels, &probs, None)
        .unwrap();
    close(scalar(&l), want);
    // Sample weights: sum(l * w) / n.
    let w = t(&[1.0, 3.0], &[2]);
    let l = SparseCategoricalCrossentropy::new(true)
        .compute(&labels, &logits, Some(&w))
        .unwrap();
    close(scalar(&l), -(r0[0] + 3.0 * r1[2]) / 2.0);
    // [batch, 1] float labels work too.
    let labels_f = t(&[0.0, 2.0], &[2, 1]);
    let l = SparseCategoricalCrossentropy::new(true)
        .compute(&labels_f, &logits, None)
        .unwrap();
    close(scalar(&l), want);
}

#[test]
fn categorical_crossentropy_with_smoothing() {
    let logits = t(&LOGITS, &[2, 3]);
    let onehot = t(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0], &[2, 3]);
    let s = 0.3;
    let r = [
        log_softmax(&[2.0, 1.0, 0.1]),
        log_softmax(&[0.5, 2.5, -1.0]),
    ];
    let mut want = 0.0;
    for (i, row) in r.iter().enumerate() {
        for j in 0..3 {
            let y = if (i == 0 && j == 0) || (i == 1 && j == 2) {
                1.0
            } else {
                0.0
            };
            want -= (y * (1.0 - s) + s / 3.0) * row[j];
        }
    }
    let l = CategoricalCrossentropy::new(true)
        .label_smoothing(s)
        .compute(&onehot, &logits, None)
        .unwrap();
    close(scalar(&l), want / 2.0);
}

#[test]
fn binary_crossentropy_logits_and_probs() {
    let x = [0.3f64, -1.2, 2.0, 0.0];
    let y = [1.0f64, 0.0, 1.0, 0.0];
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let want: f64 = x
        .iter()
        .zip(&y)
        .map(|(&x, &y)| -(y * sig(x).ln() + (1.0 - y) * (1.0 - sig(x)).ln()))
        .sum::<f64>()
        / 4.0;
    let xt = t(&x.map(|v| v as f32), &[4, 1]);
    let yt = t(&y.map(|v| v as f32), &[4, 1]);
    close(
        scalar(
            &BinaryCrossentropy::new(true)
                .compute(&yt, &xt, None)
                .unwrap(),
        ),
        want,
    );
    let p = tf_core::ops::sigmoid(&xt).unwrap();
    close(
        scalar(
            &BinaryCrossentropy::new(false)
                .compute(&yt, &p, None)
                .unwrap(),
        ),
        want,
    );
}

#[test]
fn regression_losses() {
    let p = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let y = t(&[1.5, 2.0, 0.0, 4.5], &[2, 2]);
    // per-sample means over the last axis, then the batch mean
    close(
        scalar(&MeanSquaredError::new().compute(&y, &p, None).unwrap()),
        ((0.25 + 0.0) / 2.0 + (9.0 + 0.25) / 2.0) / 2.0,
    );
    close(
        scalar(&MeanAbsoluteError::new().compute(&y, &p, None).unwrap()),
        ((0.5 + 0.0) / 2.0 + (3.0 + 0.5) / 2.0) / 2.0,
    );
    let h = |e: f64| if e <= 1.0 { 0.5 * e * e } else { e - 0.5 };
    close(
        scalar(&Huber::new(1.0).compute(&y, &p, None).unwrap()),
        ((h(0.5) + h(0.0)) / 2.0 + (h(3.0) + h(0.5)) / 2.0) / 2.0,
    );
    let yt = t(&[0.2, 0.8], &[1, 2]);
    let pt = t(&[0.5, 0.5], &[1, 2]);
    close(
        scalar(&KLDivergence::new().compute(&yt, &pt, None).unwrap()),
        0.2 * (0.2f64 / 0.5).ln() + 0.8 * (0.8f64 / 0.5).ln(),
    );
}

#[test]
fn loss_shape_mismatch_is_an_error() {
    let err = MeanSquaredError::new()
        .compute(&t(&[1.0, 2.0, 3.0], &[3]), &t(&[1.0, 2.0], &[2]), None)
        .unwrap_err();
    assert!(err.to_string().contains("MeanSquaredError"), "{err}");
}

#[test]
fn accuracy_metrics_accumulate() {
    let mut m = metrics::get("accuracy").unwrap();
    let logits = t(&LOGITS, &[2, 3]);
    // batch 1: argmax = [0, 1]; labels [0, 2] -> 1/2
    m.update_state(
        &Tensor::from_vec(vec![0i64, 2], [2]).unwrap(),
        &logits,
        None,
    )
    .unwrap();
    close(m.result().unwrap(), 0.5);
    // batch 2: labels [0, 1] -> 2/2; total 3/4
    m.update_state(
        &Tensor::from_vec(vec![0i32, 1], [2]).unwrap(),
        &logits,
        None,
    )
    .unwrap();
    close(m.result().unwrap(), 0.75);
    m.reset_state().unwrap();
    close(m.result().unwrap(), 0.0);
    // one-hot targets pick categorical accuracy
    let mut c = metrics::get("accuracy").unwrap();
    c.update_state(&t(&[0.0, 0.0, 1.0, 0.0, 1.0, 0.0], &[2, 3]), &logits, None)
        .unwrap();
    close(c.result().unwrap(), 0.5);
    // binary accuracy with a threshold
    let mut b = metrics::binary_accuracy(0.5).unwrap();
    b.update_state(
        &t(&[1.0, 0.0, 1.0], &[3, 1]),
        &t(&[0.9, 0.6, 0.2], &[3, 1]),
        None,
    )
    .unwrap();
    close(b.result().unwrap(), 1.0 / 3.0);
    // weighted
    let mut w = metrics::sparse_categorical_accuracy().unwrap();
    w.update_state(
        &Tensor::from_vec(vec![0i64, 2], [2]).unwrap(),
        &logits,
        Some(&t(&[3.0, 1.0], &[2])),
    )
    .unwrap();
    close(w.result().unwrap(), 0.75);
}

#[test]
fn top_k_precision_recall_auc() {
    let scores = t(&[0.1, 0.5, 0.4, 0.7, 0.2, 0.1], &[2, 3]);
    let mut k = metrics::sparse_top_k_categorical_accuracy(2).unwrap();
    k.update_state(
        &Tensor::from_vec(vec![2i64, 2], [2]).unwrap(),
        &scores,
        None,
    )
    .unwrap();
    close(k.result().unwrap(), 0.5);

    let y = t(&[1.0, 0.0, 1.0, 1.0, 0.0], &[5]);
    let p = t(&[0.9, 0.8, 0.3, 0.6, 0.1], &[5]);
    let mut pr = metrics::precision(0.5).unwrap();
    pr.update_state(&y, &p, None).unwrap();
    close(pr.result().unwrap(), 2.0 / 3.0);
    let mut rc = metrics::recall(0.5).unwrap();
    rc.update_state(&y, &p, None).unwrap();
    close(rc.result().unwrap(), 2.0 / 3.0);

    // AUC of a perfect ranking is 1, of this ranking 4/6 (two inverted pairs out of 6).
    let mut auc = metrics::Auc::new(200).unwrap();
    auc.update_state(&y, &p, None).unwrap();
    let a = auc.result().unwrap();
    assert!((a - 4.0 / 6.0).abs() < 0.01, "{a}");
    let mut perfect = metrics::Auc::new(200).unwrap();
    perfect
        .update_state(&t(&[0.0, 1.0], &[2]), &t(&[0.2, 0.9], &[2]), None)
        .unwrap();
    assert!((perfect.result().unwrap() - 1.0).abs() < 1e-6);
}

#[test]
fn unknown_metric_is_named() {
    let err = metrics::get("f7_score").err().unwrap().to_string();
    assert!(err.contains("f7_score"), "{err}");
}
