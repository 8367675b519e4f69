//! `cache`: in memory and to a file that a later run reuses; only complete, error-free
//! epochs are committed; damaged or foreign cache files are errors naming the file.
#![allow(clippy::unwrap_used)]
mod common;

use common::{strings, to_json, values};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tf_core::{Error, Tensor, bf16};
use tf_data::{CACHE_FILE_MAGIC, Dataset, Element};

fn temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tf-data-cache-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// range(n) mapped through a counter of how many elements the input produced.
fn counted(n: i64, counter: &Arc<AtomicUsize>) -> Dataset {
    let c = counter.clone();
    let ds = Dataset::range(0, n, 1).unwrap().map(move |x| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(x)
    });
    counter.store(0, Ordering::SeqCst); // ignore the trace call
    ds
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn memory_cache_replays_the_first_epoch() {
    let calls = Arc::new(AtomicUsize::new(0));
    let ds = counted(10, &calls).cache("");
    let first = values(&ds);
    assert_eq!(calls.load(Ordering::SeqCst), 10);
    assert_eq!(values(&ds), first);
    assert_eq!(values(&ds.repeat(3)).len(), 30);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        10,
        "later epochs must not run the input"
    );
}

#[test]
fn a_partial_epoch_is_not_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let ds = counted(10, &calls).cache("");
    assert_eq!(values(&ds.take(3)).len(), 3);
    // Not committed: the next epoch runs the input again and sees all 10 elements.
    assert_eq!(values(&ds).len(), 10);
    assert_eq!(calls.load(Ordering::SeqCst), 3 + 10);
    assert_eq!(values(&ds).len(), 10);
    assert_eq!(calls.load(Ordering::SeqCst), 13);
}

#[test]
fn an_epoch_with_errors_is_not_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fail = Arc::new(AtomicUsize::new(1));
    let f2 = fail.clone();
    let ds = Dataset::range(0, 5, 1)
        .unwrap()
        .map(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            if x.tensor()?.scalar::<i64>()? == 2 && f2.load(Ordering::SeqCst) == 1 {
                return Err(Error::invalid("Flaky", "transient failure"));
            }
            Ok(x)
        })
        .cache("");
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert!(items[2].is_err());
    fail.store(0, Ordering::SeqCst);
    assert_eq!(
        values(&ds).len(),
        5,
        "the failed epoch must not have been cached"
    );
}

fn rich_element(i: i64) -> Element {
    let mut m = BTreeMap::new();
    m.insert(
        "image".to_string(),
        Element::Tensor(Tensor::from_vec(vec![i as f32, 0.5, -1.0, 2.0], [2, 2]).unwrap()),
    );
    m.insert("label".to_string(), Element::Tensor(Tensor::from_scalar(i)));
    m.insert(
        "mask".to_string(),
        Element::Tensor(Tensor::from_vec(vec![true, i % 2 == 0], [2]).unwrap()),
    );
    m.insert(
        "half".to_string(),
        Element::Tensor(Tensor::from_scalar(bf16::from_f32(i as f32))),
    );
    m.insert("name".to_string(), Element::Strings(strings(&["a", "bc"])));
    Element::from((
        Element::Map(m),
        Tensor::from_vec(Vec::<f64>::new(), [0, 3]).unwrap(),
    ))
}

fn rich(n: i64, counter: &Arc<AtomicUsize>) -> Dataset {
    let c = counter.clone();
    let ds = Dataset::range(0, n, 1).unwrap().map(move |x| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(rich_element(x.tensor()?.scalar::<i64>()?))
    });
    counter.store(0, Ordering::SeqCst);
    ds
}

#[test]
fn file_cache_is_reused_by_a_later_run() {
    let path = temp_path("train.cache");
    let calls = Arc::new(AtomicUsize::new(0));
    let ds = rich(6, &calls).cache(&path);
    let first = values(&ds);
    assert_eq!(first.len(), 6);
    assert_eq!(first[3], to_json(&rich_element(3)));
    assert!(path.exists());
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..16], CACHE_FILE_MAGIC);
    // Only the cache file remains (no temporary file).
    assert_eq!(
        files_in(path.parent().unwrap()),
        vec!["train.cache".to_string()]
    );

    // "A later run": a new pipeline object over the same file does not run its input.
    let calls2 = Arc::new(AtomicUsize::new(0));
    let ds2 = rich(6, &calls2).cache(&path);
    assert_eq!(values(&ds2), first);
    assert_eq!(values(&ds2), first);
    assert_eq!(calls2.load(Ordering::SeqCst), 0);
}

#[test]
fn an_interrupted_file_cache_leaves_nothing_behind() {
    let path = temp_path("partial.cache");
    let calls = Arc::new(AtomicUsize::new(0));
    let ds = rich(10, &calls).cache(&path);
    {
        let mut it = ds.iter().unwrap();
        it.next().unwrap().unwrap();
        it.next().unwrap().unwrap();
    }
    assert!(!path.exists(), "a partial cache must not be committed");
    assert!(
        files_in(path.parent().unwrap()).is_empty(),
        "temporary file left behind"
    );
    assert_eq!(values(&ds).len(), 10);
    assert!(path.exists());
}

#[test]
fn damaged_cache_files_are_errors_naming_the_file() {
    let path = temp_path("damaged.cache");
    let calls = Arc::new(AtomicUsize::new(0));
    let ds = rich(4, &calls).cache(&path);
    values(&ds);
    let good = std::fs::read(&path).unwrap();

    // A flipped byte inside a record: checksum mismatch at that record's offset.
    let mut bad = good.clone();
    let at = good.len() / 2;
    bad[at] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let err = ds.collect().unwrap_err().to_string();
    assert!(
        err.contains("damaged.cache") && err.contains("at byte"),
        "{err}"
    );

    // Truncated: reported, never a short epoch.
    std::fs::write(&path, &good[..good.len() - 20]).unwrap();
    let items: Vec<_> = ds.iter().unwrap().collect();
    let last = items.last().unwrap();
    assert!(last.is_err(), "a truncated cache must end with an error");
    assert!(
        last.as_ref()
            .unwrap_err()
            .to_string()
            .contains("damaged.cache")
    );

    // Not a cache file at all.
    std::fs::write(&path, b"hello world, this is not a cache").unwrap();
    let err = ds.iter().err().unwrap().to_string();
    assert!(err.contains("bad magic"), "{err}");

    // A cache written for other elements.
    std::fs::write(&path, &good).unwrap();
    let other = Dataset::range(0, 4, 1).unwrap().cache(&path);
    let err = other.iter().err().unwrap().to_string();
    assert!(err.contains("spec"), "{err}");
}

#[test]
fn nested_datasets_cannot_be_cached_to_a_file() {
    let path = temp_path("windows.cache");
    let ds = Dataset::range(0, 4, 1)
        .unwrap()
        .window(2, None, 1, false)
        .unwrap()
        .cache(&path);
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("cannot be cached")
    );
    assert!(!path.exists());
}
