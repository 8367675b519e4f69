//! The parallel map iterator: `n` worker threads pull elements from the input (one at
//! a time, under a lock, so each gets its input index), apply the function outside
//! any lock and deposit results; the consumer takes them in input order
//! (deterministic) or as they complete.
//!
//! At most `2n` elements are in flight or waiting, so memory stays bounded whatever
//! the speed of the consumer. Dropping the iterator cancels the workers and joins them
//! (each finishes at most the element it is working on). Panics in the function or the
//! input become error items, so the consumer never waits for a result that will not
//! come.

use super::map::{MapFn, apply};
use crate::dataset::ElementIter;
use crate::element::Element;
use crate::util::{catch, lock, spawn, wait};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tf_core::Result;

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
    /// Next index the consumer returns in deterministic mode.
    next: u64,
    /// Finished results by input index.
    results: BTreeMap<u64, Result<Element>>,
    /// Set once the input ended: the total number of elements.
    total: Option<u64>,
    cancelled: bool,
}

struct Shared {
    input: Mutex<Input>,
    state: Mutex<State>,
    /// Signalled when a result arrives or the input ends (the consumer waits on it).
    ready: Condvar,
    /// Signalled when the consumer takes a result or cancels (workers wait on it).
    space: Condvar,
    capacity: u64,
}

/// The consumer's handle; dropping it stops and joins the workers.
pub(crate) struct ParallelMapIter {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    deterministic: bool,
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
            }),
            ready: Condvar::new(),
            space: Condvar::new(),
            capacity: 2 * n as u64,
        });
        let mut it = ParallelMapIter {
            shared: shared.clone(),
            workers: Vec::with_capacity(n),
            deterministic,
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

fn worker(shared: &Shared, f: &MapFn) {
    loop {
        // Take a ticket: room for one more element in flight.
        {
            let mut st = lock(&shared.state);
            loop {
                if st.cancelled || st.total.is_some() {
                    return;
                }
                if st.reserved - st.delivered < shared.capacity {
                    st.reserved += 1;
                    break;
                }
                st = wait(&shared.space, st);
            }
        }
        // Pull the next input element and its index.
        let (pulled, ended) = {
            let mut input = lock(&shared.input);
            let pulled = if input.done {
                None
            } else {
                match catch("ParallelMap", || Ok(input.iter.next())) {
                    Ok(None) => {
                        input.done = true;
                        None
                    }
                    Ok(Some(item)) => Some(item),
                    Err(panicked) => {
                        // The input cannot be trusted after a panic: report the panic
                        // as this element and end the input.
                        input.done = true;
                        Some(Err(panicked))
                    }
                }
            };
            let pulled = pulled.map(|item| {
                let i = input.next_index;
                input.next_index += 1;
                (i, item)
            });
            (pulled, input.done.then_some(input.next_index))
        };
        let out = pulled.map(|(i, item)| (i, item.and_then(|e| apply(f, e, i))));
        let mut st = lock(&shared.state);
        match out {
            Some((i, r)) => {
                st.results.insert(i, r);
            }
            // Nothing pulled: give the ticket back.
            None => st.reserved -= 1,
        }
        let finished = ended.is_some();
        if let Some(total) = ended {
            st.total = Some(total);
        }
        drop(st);
        shared.ready.notify_all();
        if finished {
            shared.space.notify_all();
            return;
        }
    }
}

impl Iterator for ParallelMapIter {
    type Item = Result<Element>;
    fn next(&mut self) -> Option<Result<Element>> {
        let shared = &*self.shared;
        let mut st = lock(&shared.state);
        loop {
            let taken = if self.deterministic {
                let next = st.next;
                st.results.remove(&next)
            } else {
                st.results.pop_first().map(|(_, r)| r)
            };
            if let Some(r) = taken {
                st.next += 1;
                st.delivered += 1;
                drop(st);
                shared.space.notify_one();
                return Some(r);
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
            st = wait(&shared.ready, st);
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
