//! Reading several files as one stream: one after another, or `num_parallel_reads` at a
//! time on background threads, interleaved deterministically like TensorFlow's
//! `interleave(cycle_length=num_parallel_reads, block_length=1, deterministic=True)`.

use crate::dataset::ElementIter;
use crate::element::Element;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use tf_core::Result;

/// Opens one file as a stream of elements.
pub(crate) type OpenFile = Arc<dyn Fn(&Path) -> Result<ElementIter> + Send + Sync>;

/// Elements a background reader sends at once.
const CHUNK: usize = 64;
/// Chunks a background reader may run ahead of the consumer.
const CHUNKS_AHEAD: usize = 4;

/// The elements of `files`, each opened with `open`, either in file order
/// (`parallel <= 1`) or interleaved from `parallel` files read concurrently.
///
/// An error opening or reading a file is yielded in its place in the stream; that file
/// then ends and the next one is read.
pub(crate) fn read_files(files: Arc<[PathBuf]>, open: OpenFile, parallel: usize) -> ElementIter {
    if parallel <= 1 || files.len() <= 1 {
        Box::new(Sequential {
            files,
            next_file: 0,
            current: None,
            open,
        })
    } else {
        let mut p = Parallel {
            files,
            next_file: 0,
            slots: (0..parallel).map(|_| None).collect(),
            cycle: 0,
            open,
        };
        p.fill_slots();
        Box::new(p)
    }
}

struct Sequential {
    files: Arc<[PathBuf]>,
    next_file: usize,
    current: Option<ElementIter>,
    open: OpenFile,
}

impl Iterator for Sequential {
    type Item = Result<Element>;

    fn next(&mut self) -> Option<Result<Element>> {
        loop {
            if let Some(it) = &mut self.current {
                match it.next() {
                    Some(Ok(e)) => return Some(Ok(e)),
                    Some(Err(e)) => {
                        self.current = None;
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            let path = self.files.get(self.next_file)?;
            self.next_file += 1;
            match (self.open)(path) {
                Ok(it) => self.current = Some(it),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// One file being read on a background thread.
struct Slot {
    rx: Receiver<Vec<Result<Element>>>,
    ready: VecDeque<Result<Element>>,
}

impl Slot {
    /// The next element, `None` when the file is done.
    fn next(&mut self) -> Option<Result<Element>> {
        if self.ready.is_empty() {
            // A disconnected channel means the reader finished (or died).
            self.ready = self.rx.recv().ok()?.into();
        }
        self.ready.pop_front()
    }
}

struct Parallel {
    files: Arc<[PathBuf]>,
    next_file: usize,
    slots: Vec<Option<Slot>>,
    cycle: usize,
    open: OpenFile,
}

/// Reads `path` on the calling (background) thread, sending chunks of elements until
/// the file ends, it fails, or the consumer hangs up.
fn pump(path: &Path, open: &OpenFile, tx: &SyncSender<Vec<Result<Element>>>) {
    let mut it = match open(path) {
        Ok(it) => it,
        Err(e) => {
            let _ = tx.send(vec![Err(e)]);
            return;
        }
    };
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        match it.next() {
            Some(Ok(e)) => {
                chunk.push(Ok(e));
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    if tx.send(full).is_err() {
                        return;
                    }
                }
            }
            Some(Err(e)) => {
                chunk.push(Err(e));
                break;
            }
            None => break,
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
}

impl Parallel {
    fn spawn(&self, path: PathBuf) -> Slot {
        let (tx, rx) = sync_channel(CHUNKS_AHEAD);
        let open = Arc::clone(&self.open);
        let spawned = std::thread::Builder::new()
            .name("tf-data-file-reader".into())
            .spawn(move || pump(&path, &open, &tx));
        let ready = match spawned {
            Ok(_) => VecDeque::new(),
            Err(e) => VecDeque::from([Err(tf_core::Error::io(
                "parallel file reader: cannot start a thread",
                e,
            ))]),
        };
        Slot { rx, ready }
    }

    fn fill_slots(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].is_none() && self.next_file < self.files.len() {
                let path = self.files[self.next_file].clone();
                self.next_file += 1;
                self.slots[i] = Some(self.spawn(path));
            }
        }
    }
}

impl Iterator for Parallel {
    type Item = Result<Element>;

    fn next(&mut self) -> Option<Result<Element>> {
        let n = self.slots.len();
        loop {
            if self.next_file >= self.files.len() && self.slots.iter().all(Option::is_none) {
                return None;
            }
            let i = self.cycle;
            match &mut self.slots[i] {
                Some(slot) => match slot.next() {
                    Some(item) => {
                        self.cycle = (i + 1) % n;
                        return Some(item);
                    }
                    None => {
                        // The file is done: its slot takes the next file right away
                        // (the order equals refilling when the cycle comes back).
                        self.slots[i] = None;
                        if self.next_file < self.files.len() {
                            let path = self.files[self.next_file].clone();
                            self.next_file += 1;
                            self.slots[i] = Some(self.spawn(path));
                        }
                        self.cycle = (i + 1) % n;
                    }
                },
                None => self.cycle = (i + 1) % n,
            }
        }
    }
}
