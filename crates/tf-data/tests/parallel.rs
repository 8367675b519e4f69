//! Parallel map, prefetch and parallel interleave: same results as the sequential
//! forms, errors and panics delivered in place, bounded work in flight, and worker
//! threads that stop when the iterator is dropped mid-way.
#![allow(clippy::unwrap_used)]
mod common;

use common::ints;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tf_core::{DType, Error, PartialShape, Tensor};
use tf_data::{AUTOTUNE, Dataset, Element, ElementSpec, InterleaveOptions, MapOptions};

fn range(n: i64) -> Dataset {
    Dataset::range(0, n, 1).unwrap()
}

/// Some work whose duration varies with the element, so parallel workers finish out
/// of order.
fn slow_square(e: Element) -> tf_core::Result<Element> {
    let x = e.tensor()?.scalar::<i64>()?;
    let mut acc = 0u64;
    for i in 0..((x % 7) as u64 * 2000) {
        acc = acc.wrapping_add(i * i);
    }
    std::hint::black_box(acc);
    Ok(Element::Tensor(Tensor::from_scalar(x * x)))
}

#[test]
fn parallel_map_equals_serial_map() {
    let serial = ints(&range(500).map(slow_square));
    assert_eq!(serial, (0..500).map(|x| x * x).collect::<Vec<_>>());
    for n in [1, 2, 3, 8, AUTOTUNE] {
        let ds = range(500)
            .map_with(slow_square, MapOptions::new().num_parallel_calls(n))
            .unwrap();
        assert_eq!(ints(&ds), serial, "num_parallel_calls {n}");
        assert_eq!(ints(&ds), serial, "second epoch, num_parallel_calls {n}");
    }
}

#[test]
fn nondeterministic_map_yields_the_same_multiset() {
    let ds = range(300)
        .map_with(
            slow_square,
            MapOptions::new().num_parallel_calls(4).deterministic(false),
        )
        .unwrap();
    let mut got = ints(&ds);
    got.sort_unstable();
    assert_eq!(got, (0..300).map(|x| x * x).collect::<Vec<_>>());
}

fn failing(e: Element) -> tf_core::Result<Element> {
    let x = e.tensor()?.scalar::<i64>()?;
    if x % 10 == 7 {
        return Err(Error::invalid("MyFn", format!("bad value {x}")));
    }
    Ok(e)
}

fn check_errors_in_place(ds: &Dataset) {
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(items.len(), 30);
    for (i, item) in items.iter().enumerate() {
        match item {
            Ok(e) => {
                assert_ne!(i % 10, 7);
                assert_eq!(e.tensor().unwrap().scalar::<i64>().unwrap(), i as i64);
            }
            Err(err) => {
                assert_eq!(i % 10, 7);
                let msg = err.to_string();
                assert!(msg.contains("MyFn"), "{msg}");
                assert!(msg.contains(&format!("element {i}")), "{msg}");
                assert!(msg.contains(&format!("bad value {i}")), "{msg}");
                assert_eq!(err.code(), "INVALID_ARGUMENT");
            }
        }
    }
}

#[test]
fn map_errors_reach_the_consumer_with_their_index() {
    check_errors_in_place(&range(30).map(failing));
    for n in [1, 3] {
        check_errors_in_place(
            &range(30)
                .map_with(failing, MapOptions::new().num_parallel_calls(n))
                .unwrap(),
        );
    }
    // Through prefetch too.
    check_errors_in_place(&range(30).map(failing).prefetch(2).unwrap());
    // `collect` stops at the first error.
    let err = range(30).map(failing).collect().unwrap_err();
    assert!(err.to_string().contains("element 7"), "{err}");
}

#[test]
fn panics_in_user_functions_become_errors() {
    let f = |e: Element| -> tf_core::Result<Element> {
        let x = e.tensor()?.scalar::<i64>()?;
        assert!(x != 3, "boom at {x}");
        Ok(e)
    };
    for ds in [
        range(6).map(f),
        range(6)
            .map_with(f, MapOptions::new().num_parallel_calls(2))
            .unwrap(),
    ] {
        let items: Vec<_> = ds.iter().unwrap().collect();
        assert_eq!(items.len(), 6);
        let err = items[3].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("panicked") && err.contains("boom at 3"),
            "{err}"
        );
        assert!(
            items
                .iter()
                .enumerate()
                .all(|(i, r)| (i == 3) == r.is_err())
        );
    }
}

/// An endless source whose iterator records when it is dropped.
fn tracked_source(drops: Arc<AtomicUsize>) -> Dataset {
    struct Tracked {
        i: i64,
        drops: Arc<AtomicUsize>,
    }
    impl Iterator for Tracked {
        type Item = tf_core::Result<Element>;
        fn next(&mut self) -> Option<Self::Item> {
            self.i += 1;
            Some(Ok(Element::Tensor(Tensor::from_scalar(self.i))))
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
    Dataset::from_generator(
        move || Tracked {
            i: -1,
            drops: drops.clone(),
        },
        ElementSpec::tensor(DType::I64, PartialShape::scalar()),
    )
}

#[test]
fn dropping_mid_way_stops_every_worker() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pipelines: Vec<Dataset> = vec![
        tracked_source(drops.clone()).prefetch(4).unwrap(),
        tracked_source(drops.clone())
            .map_with(slow_square, MapOptions::new().num_parallel_calls(3))
            .unwrap(),
        tracked_source(drops.clone())
            .map_with(slow_square, MapOptions::new().num_parallel_calls(2))
            .unwrap()
            .prefetch(AUTOTUNE)
            .unwrap()
            .map_with(Ok, MapOptions::new().num_parallel_calls(2))
            .unwrap()
            .prefetch(1)
            .unwrap(),
        range(1_000_000)
            .interleave_with(
                {
                    let drops = drops.clone();
                    move |_| Ok(tracked_source(drops.clone()).take(1000))
                },
                InterleaveOptions::new()
                    .cycle_length(3)
                    .block_length(2)
                    .num_parallel_calls(3),
            )
            .unwrap(),
    ];
    for (k, ds) in pipelines.iter().enumerate() {
        let before = drops.load(Ordering::SeqCst);
        let start = Instant::now();
        {
            let mut it = ds.iter().unwrap();
            for _ in 0..10 {
                it.next().unwrap().unwrap();
            }
        }
        // Dropping joined the workers, so the sources are already gone.
        let dropped = drops.load(Ordering::SeqCst) - before;
        assert!(dropped >= 1, "pipeline {k}: source iterators not dropped");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pipeline {k} took too long to stop"
        );
    }
}

#[test]
fn parallel_map_bounds_work_in_flight() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let n = 2;
    let ds = range(100_000)
        .map_with(
            move |e| {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(e)
            },
            MapOptions::new().num_parallel_calls(n),
        )
        .unwrap();
    calls.store(0, Ordering::SeqCst); // ignore the trace call
    let mut it = ds.iter().unwrap();
    it.next().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let made = calls.load(Ordering::SeqCst);
    // Workers claim chunks of up to 64 cheap elements; at most 2 * n chunks are in
    // flight and as many again wait in the consumer's queue.
    assert!(
        made <= 4 * n as usize * 64,
        "{made} calls with one element consumed"
    );
    assert!(made >= 2, "workers should run ahead ({made} calls)");
}

#[test]
fn slow_functions_are_not_claimed_in_chunks() {
    // With a slow function, chunks stay at one element: at most 4n calls are made
    // while the consumer holds back.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let n = 2;
    let ds = range(1000)
        .map_with(
            move |e| {
                c.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                Ok(e)
            },
            MapOptions::new().num_parallel_calls(n),
        )
        .unwrap();
    calls.store(0, Ordering::SeqCst);
    let mut it = ds.iter().unwrap();
    it.next().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let made = calls.load(Ordering::SeqCst);
    assert!(
        made <= 4 * n as usize + 1,
        "{made} calls with one element consumed"
    );
}

#[test]
fn prefetch_keeps_order_and_errors() {
    for buffer in [0, 1, 3, AUTOTUNE] {
        assert_eq!(
            ints(&range(200).prefetch(buffer).unwrap()),
            (0..200).collect::<Vec<_>>()
        );
    }
    let err = range(3).prefetch(-2).unwrap_err();
    assert!(err.to_string().contains("buffer_size"), "{err}");
}

#[test]
fn parallel_interleave_equals_sequential() {
    let f = |x: Element| {
        let x = x.tensor()?.scalar::<i64>()?;
        Ok(Dataset::range(100 * x, 100 * x + x % 5 + 1, 1)?.map(slow_square))
    };
    let seq = ints(&range(40).interleave(f, 3, 2).unwrap());
    for calls in [1, 3, AUTOTUNE] {
        let par = range(40)
            .interleave_with(
                f,
                InterleaveOptions::new()
                    .cycle_length(3)
                    .block_length(2)
                    .num_parallel_calls(calls),
            )
            .unwrap();
        assert_eq!(ints(&par), seq);
    }
}

#[test]
fn parallel_map_passes_input_errors_in_order() {
    let ds = Dataset::from_generator(
        || {
            (0..20i64).map(|i| {
                if i == 5 {
                    Err(Error::invalid("Source", "broken record 5"))
                } else {
                    Ok(Element::Tensor(Tensor::from_scalar(i)))
                }
            })
        },
        ElementSpec::tensor(DType::I64, PartialShape::scalar()),
    )
    .map_with(slow_square, MapOptions::new().num_parallel_calls(3))
    .unwrap();
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(items.len(), 20);
    assert!(
        items[5]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("broken record 5")
    );
    for (i, r) in items.iter().enumerate().filter(|(i, _)| *i != 5) {
        let v = r
            .as_ref()
            .unwrap()
            .tensor()
            .unwrap()
            .scalar::<i64>()
            .unwrap();
        assert_eq!(v, (i * i) as i64);
    }
}
