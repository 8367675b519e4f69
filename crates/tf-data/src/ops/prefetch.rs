//! `prefetch`: a background thread runs the input ahead of the consumer into a bounded
//! buffer. Also the engine of parallel `interleave` (one prefetching thread per open
//! cycle element).

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use crate::util::{AUTOTUNE, catch, spawn};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use tf_core::{Error, Result};

/// The buffer size `AUTOTUNE` stands for.
const AUTOTUNE_BUFFER: usize = 8;
/// Larger requests are clamped to this many elements (the channel allocates its slots
/// up front; buffering more than this buys nothing).
const MAX_BUFFER: usize = 1 << 16;

struct Prefetch {
    input: Dataset,
    buffer: usize,
}

impl DatasetSource for Prefetch {
    fn iter(&self) -> Result<ElementIter> {
        let input = self.input.iter()?;
        if self.buffer == 0 {
            return Ok(input);
        }
        Ok(Box::new(PrefetchIter::start(
            "Prefetch",
            self.buffer,
            move || Ok(input),
        )?))
    }
    fn cardinality(&self) -> Cardinality {
        self.input.cardinality()
    }
    fn element_spec(&self) -> ElementSpec {
        self.input.element_spec()
    }
    fn name(&self) -> &'static str {
        "Prefetch"
    }
}

/// Consumer side of a prefetching thread. Dropping it closes the buffer (the producer
/// stops at its next send) and joins the thread.
pub(crate) struct PrefetchIter {
    rx: Option<Receiver<Result<Element>>>,
    handle: Option<JoinHandle<()>>,
}

/// Sends, giving up when the consumer is gone.
fn send(tx: &SyncSender<Result<Element>>, item: Result<Element>) -> bool {
    match tx.try_send(item) {
        Ok(()) => true,
        Err(TrySendError::Full(item)) => tx.send(item).is_ok(),
        Err(TrySendError::Disconnected(_)) => false,
    }
}

impl PrefetchIter {
    /// Starts a thread that calls `open` (so opening files or starting upstream
    /// threads also happens in the background) and runs the iterator it returns
    /// `buffer` elements ahead.
    pub(crate) fn start(
        op: &'static str,
        buffer: usize,
        open: impl FnOnce() -> Result<ElementIter> + Send + 'static,
    ) -> Result<PrefetchIter> {
        let (tx, rx) = sync_channel(buffer.clamp(1, MAX_BUFFER));
        let handle = spawn(op, move || {
            let mut iter = match catch(op, open) {
                Ok(it) => it,
                Err(e) => {
                    send(&tx, Err(e));
                    return;
                }
            };
            loop {
                match catch(op, || Ok(iter.next())) {
                    Ok(Some(item)) => {
                        if !send(&tx, item) {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(panicked) => {
                        send(&tx, Err(panicked));
                        return;
                    }
                }
            }
        })?;
        Ok(PrefetchIter {
            rx: Some(rx),
            handle: Some(handle),
        })
    }
}

impl Iterator for PrefetchIter {
    type Item = Result<Element>;
    fn next(&mut self) -> Option<Result<Element>> {
        // A closed channel means the producer finished (all its sends arrive first).
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for PrefetchIter {
    fn drop(&mut self) {
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Dataset {
    /// `Dataset.prefetch(buffer_size)`: a background thread produces up to
    /// `buffer_size` elements ahead of the consumer ([`AUTOTUNE`] picks a small
    /// buffer; 0 disables prefetching; sizes above 65536 are clamped). Order and errors are unchanged; the thread
    /// stops when the iterator is dropped.
    ///
    /// Errors when `buffer_size` is negative other than `AUTOTUNE`.
    pub fn prefetch(&self, buffer_size: i64) -> Result<Dataset> {
        let buffer = match buffer_size {
            AUTOTUNE => AUTOTUNE_BUFFER,
            n if n >= 0 => usize::try_from(n).map_err(|_| {
                Error::invalid("PrefetchDataset", format!("buffer_size {n} is too large"))
            })?,
            n => {
                return Err(Error::invalid(
                    "PrefetchDataset",
                    format!("buffer_size must be >= 0 or AUTOTUNE (-1), got {n}"),
                ));
            }
        };
        Ok(Dataset::new(Prefetch {
            input: self.clone(),
            buffer,
        }))
    }
}
