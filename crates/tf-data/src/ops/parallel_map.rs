//! The parallel map iterator: `n` worker threads pull elements from the input (under a
//! lock, so each element gets its input index), apply the function outside any lock
//! and deposit results; the consumer takes them in input order (deterministic) or as
//! they complete.
//!
//! To keep synchronisation off the per-element path, a worker claims a *chunk* of
//! consecutive elements at a time, sized so that a chunk takes about
//! [`TARGET_CHUNK_TIME`] (one element when the function is slow, up to [`MAX_CHUNK`]
//! when it is cheap), and the consumer moves every ready result into a local queue in
//! one lock. Threads are woken only when someone is actually waiting.
//!
//! At most `2 * n * chunk` elements are in flight or finished, and as many again wait in
//! the consumer's queue, so memory stays bounded whatever the speed of the consumer. Dropping the iterator cancels the workers and
//! joins them (each finishes at most the chunk it is working on). Panics in the
//! function or the input become error items, so the consumer never waits for a result
//! that will not come.

use super::map::{MapFn, apply};
use crate::dataset::ElementIter;
use crate::element::Element;
use crate::util::{catch, lock, spawn, wait};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tf_core::Result;

/// The most elements a worker claims at once.
const MAX_CHUNK: usize = 64;
/// How long a chunk should take to compute.
const TARGET_CHUNK_TIME: Duration = Duration::from_micros(50);

/// The input side: the upstream iterator and the index of the next element.
struct Input {
    iter: ElementIter,
    next_index: u64,
    done: bool,
}

/// What the consumer and workers share under one lock.
struct State {
    /// Tickets taken by workers (elements being pulled, computed or waiting).
    reserved: u64,
    /// Elements handed to the consumer.
    delivered: u64,
    /// Next index the consumer takes in deterministic mode.
    next: u64,
    /// Finished results by input index.
    results: BTreeMap<u64, Result<Element>>,
    /// Set once the input ended: the total number of elements.
    total: Option<u64>,
    cancelled: bool,
    consumer_waiting: bool,
    workers_waiting: usize,
}

struct Shared {
    input: Mutex<Input>,
    state: Mutex<State>,
    /// Signalled when results arrive or the input ends (the consumer waits on it).
    ready: Condvar,
    /// Signalled when the consumer takes results or cancels (workers wait on it).
    space: Condvar,
    workers: usize,
    /// The current chunk size (shared estimate, updated by the workers).
    chunk: AtomicUsize,
}

impl Shared {
    fn capacity(&self) -> u64 {
        (2 * self.workers * self.chunk.load(Ordering::Relaxed).max(1)) as u64
    }
}

/// The consumer's handle; dropping it stops and joins the workers.
pub(crate) struct ParallelMapIter {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    deterministic: bool,
    local: VecDeque<Result<Element>>,
}

impl ParallelMapIter {
    /// Starts `n` workers over `input`.
    pub(crate) fn start(
        op: &'static str,
        input: ElementIter,
        f: MapFn,
        n: usize,
        deterministic: bool,
    ) -> Result<ParallelMapIter> {
        let n = n.max(1);
        let shared = Arc::new(Shared {
            input: Mutex::new(Input {
                iter: input,
                next_index: 0,
                done: false,
            }),
            state: Mutex::new(State {
                reserved: 0,
                delivered: 0,
                next: 0,
                results: BTreeMap::new(),
                total: None,
                cancelled: false,
                consumer_waiting: false,
                workers_waiting: 0,
            }),
            ready: Condvar::new(),
            space: Condvar::new(),
            workers: n,
            chunk: AtomicUsize::new(1),
        });
        let mut it = ParallelMapIter {
            shared: shared.clone(),
            workers: Vec::with_capacity(n),
            deterministic,
            local: VecDeque::new(),
        };
        for _ in 0..n {
            let shared = shared.clone();
            let f = f.clone();
            // On failure `it` is dropped, which stops the workers already started.
            it.workers.push(spawn(op, move || worker(&shared, &f))?);
        }
        Ok(it)
    }
}

/// Takes up to `chunk` tickets; `None` when the worker should stop.
fn reserve(shared: &Shared) -> Option<usize> {
    let mut st = lock(&shared.state);
    loop {
        if st.cancelled || st.total.is_some() {
            return None;
        }
        let in_flight = st.reserved - st.delivered;
        let capacity = shared.capacity();
        if in_flight < capacity {
            let room = (capacity - in_flight) as usize;
            let k = room.min(shared.chunk.load(Ordering::Relaxed).max(1));
            st.reserved += k as u64;
            return Some(k);
        }
        st.workers_waiting += 1;
        st = wait(&shared.space, st);
        st.workers_waiting -= 1;
    }
}

/// Pulls up to `k` input elements with their indices, and the total when the input
/// ended.
fn pull(shared: &Shared, k: usize) -> (Vec<(u64, Result<Element>)>, Option<u64>) {
    let mut input = lock(&shared.input);
    let mut items = Vec::with_capacity(k);
    while items.len() < k && !input.done {
        let item = match catch("ParallelMap", || Ok(input.iter.next())) {
            Ok(None) => {
                input.done = true;
                break;
            }
            Ok(Some(item)) => item,
            Err(panicked) => {
                // The input cannot be trusted after a panic: report the panic as this
                // element and end the input.
                input.done = true;
                Err(panicked)
            }
        };
        let i = input.next_index;
        input.next_index += 1;
        items.push((i, item));
    }
    let total = input.done.then_some(input.next_index);
    (items, total)
}

fn worker(shared: &Shared, f: &MapFn) {
    while let Some(k) = reserve(shared) {
        let (items, total) = pull(shared, k);
        let unused = k - items.len();
        let start = Instant::now();
        let n = items.len();
        let results: Vec<(u64, Result<Element>)> = items
            .into_iter()
            .map(|(i, item)| (i, item.and_then(|e| apply(f, e, i))))
            .collect();
        if n > 0 {
            // Size the next chunks so that one takes about TARGET_CHUNK_TIME.
            let per = start.elapsed().as_nanos() / n as u128;
            let want = (TARGET_CHUNK_TIME.as_nanos() / per.max(1)).clamp(1, MAX_CHUNK as u128);
            shared.chunk.store(want as usize, Ordering::Relaxed);
        }
        let mut st = lock(&shared.state);
        st.reserved -= unused as u64;
        st.results.extend(results);
        if let Some(total) = total {
            st.total = Some(total);
        }
        let wake_consumer = st.consumer_waiting;
        let wake_workers = total.is_some() && st.workers_waiting > 0;
        drop(st);
        if wake_consumer {
            shared.ready.notify_one();
        }
        if wake_workers {
            shared.space.notify_all();
        }
        if total.is_some() {
            return;
        }
    }
}

impl Iterator for ParallelMapIter {
    type Item = Result<Element>;
    fn next(&mut self) -> Option<Result<Element>> {
        if let Some(r) = self.local.pop_front() {
            return Some(r);
        }
        let shared = &*self.shared;
        let mut st = lock(&shared.state);
        loop {
            // Move every result that can be delivered now into the local queue.
            let before = self.local.len();
            if self.deterministic {
                while let Some(r) = {
                    let next = st.next;
                    st.results.remove(&next)
                } {
                    st.next += 1;
                    self.local.push_back(r);
                }
            } else {
                let ready = std::mem::take(&mut st.results);
                self.local.extend(ready.into_values());
            }
            let taken = self.local.len() - before;
            if taken > 0 {
                st.delivered += taken as u64;
                let wake = st.workers_waiting > 0;
                drop(st);
                if wake {
                    shared.space.notify_all();
                }
                return self.local.pop_front();
            }
            if let Some(total) = st.total
                && st.delivered >= total
            {
                return None;
            }
            if self.workers.iter().all(JoinHandle::is_finished) && st.results.is_empty() {
                // Every worker is gone and nothing is left to deliver.
                return None;
            }
            st.consumer_waiting = true;
            st = wait(&shared.ready, st);
            st.consumer_waiting = false;
        }
    }
}

impl Drop for ParallelMapIter {
    fn drop(&mut self) {
        lock(&self.shared.state).cancelled = true;
        self.shared.space.notify_all();
        self.shared.ready.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
