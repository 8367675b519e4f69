//! `shuffle`: TensorFlow's buffer semantics, each element exactly once per epoch,
//! seeded reproducibility, reshuffling per epoch, and the distribution of the sample.
#![allow(clippy::unwrap_used)]
mod common;

use common::ints;
use tf_data::Dataset;

fn range(n: i64) -> Dataset {
    Dataset::range(0, n, 1).unwrap()
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

#[test]
fn every_element_exactly_once_per_epoch() {
    for buffer in [1, 2, 7, 100, 1000] {
        let ds = range(100).shuffle(buffer, Some(3), true).unwrap();
        for _ in 0..3 {
            assert_eq!(
                sorted(ints(&ds)),
                (0..100).collect::<Vec<_>>(),
                "buffer {buffer}"
            );
        }
    }
}

#[test]
fn buffer_of_one_keeps_the_order() {
    let ds = range(50).shuffle(1, Some(9), true).unwrap();
    assert_eq!(ints(&ds), (0..50).collect::<Vec<_>>());
}

#[test]
fn an_output_comes_from_the_buffer_window() {
    // With a buffer of b, the k-th output is one of the first k + b inputs, and once an
    // input has been buffered it is still eligible: output k >= ... is always < k + b.
    for b in [2usize, 5, 10] {
        for seed in 0..20 {
            let out = ints(&range(60).shuffle(b, Some(seed), false).unwrap());
            for (k, &v) in out.iter().enumerate() {
                assert!(
                    (v as usize) < k + b,
                    "buffer {b} seed {seed}: output {k} is {v}"
                );
            }
        }
    }
}

#[test]
fn same_seed_same_order_and_different_seeds_differ() {
    let a = ints(&range(100).shuffle(100, Some(42), true).unwrap());
    let b = ints(&range(100).shuffle(100, Some(42), true).unwrap());
    let c = ints(&range(100).shuffle(100, Some(43), true).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, (0..100).collect::<Vec<_>>());
}

#[test]
fn reshuffle_each_iteration_changes_the_order_reproducibly() {
    let ds = range(100).shuffle(100, Some(5), true).unwrap();
    let e1 = ints(&ds);
    let e2 = ints(&ds);
    assert_ne!(
        e1, e2,
        "reshuffle_each_iteration must give a new order each epoch"
    );
    // Another dataset with the same seed replays the same sequence of epochs.
    let again = range(100).shuffle(100, Some(5), true).unwrap();
    assert_eq!(ints(&again), e1);
    assert_eq!(ints(&again), e2);
    // Under repeat, each pass is an epoch of the shuffle.
    let rep = ints(&range(100).shuffle(100, Some(5), true).unwrap().repeat(2));
    assert_eq!(&rep[..100], &e1[..]);
    assert_eq!(&rep[100..], &e2[..]);
}

#[test]
fn without_reshuffle_every_epoch_repeats_the_order() {
    for seed in [Some(11), None] {
        let ds = range(100).shuffle(30, seed, false).unwrap();
        let e1 = ints(&ds);
        assert_eq!(ints(&ds), e1);
        let rep = ints(&ds.repeat(3));
        assert_eq!(&rep[..100], &e1[..]);
        assert_eq!(&rep[200..], &e1[..]);
    }
}

#[test]
fn unseeded_shuffles_differ_between_datasets() {
    let a = ints(&range(200).shuffle(200, None, true).unwrap());
    let b = ints(&range(200).shuffle(200, None, true).unwrap());
    assert_ne!(a, b);
}

#[test]
fn full_buffer_gives_uniform_positions() {
    // Where does element 0 land in a full-buffer shuffle of 5? Uniform: 1/5 each.
    let n = 4000;
    let mut counts = [0u32; 5];
    for seed in 0..n {
        let out = ints(&range(5).shuffle(5, Some(seed), false).unwrap());
        let pos = out.iter().position(|&v| v == 0).unwrap();
        counts[pos] += 1;
    }
    let expected = n as f64 / 5.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    // 4 degrees of freedom: P(chi2 > 18.5) < 0.001.
    assert!(chi2 < 18.5, "positions {counts:?} (chi2 {chi2})");
}

#[test]
fn small_buffer_first_draw_distribution() {
    // buffer 2 over [0, 1, 2]: the first output is 0 or 1 with probability 1/2 each,
    // never 2 (it is not in the buffer yet) -- TensorFlow's fill-then-sample order.
    let n = 4000;
    let mut counts = [0u32; 3];
    for seed in 0..n {
        let out = ints(&range(3).shuffle(2, Some(seed), false).unwrap());
        counts[out[0] as usize] += 1;
    }
    assert_eq!(counts[2], 0);
    let half = n as f64 / 2.0;
    for c in &counts[..2] {
        assert!(
            (*c as f64 - half).abs() < 4.0 * (half * 0.5).sqrt(),
            "{counts:?}"
        );
    }
}

#[test]
fn take_after_shuffle_pulls_only_what_it_needs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let ds = range(1000)
        .map(move |x| {
            p.fetch_add(1, Ordering::SeqCst);
            Ok(x)
        })
        .shuffle(10, Some(1), true)
        .unwrap()
        .take(1);
    pulled.store(0, Ordering::SeqCst); // ignore the trace call of map
    assert_eq!(ints(&ds).len(), 1);
    assert_eq!(pulled.load(Ordering::SeqCst), 10);
}

#[test]
fn zero_buffer_is_an_error() {
    let err = range(3).shuffle(0, None, true).unwrap_err();
    assert!(err.to_string().contains("buffer_size"), "{err}");
}
