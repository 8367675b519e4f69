//! `cache`: the first complete epoch is recorded (in memory, or in a file that later
//! runs reuse) and later epochs replay it without running the input again.
//!
//! A cache is committed only when an epoch completes without errors: an epoch
//! abandoned half way (the iterator dropped, `take` before it) leaves no partial cache.
//! The file is written under a temporary name and renamed into place at the end, so
//! a crash never leaves a truncated cache that a later run would trust.

use super::cache_codec::{self, Cursor, RECORD, TRAILER, checksum};
use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use crate::util::lock;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tf_core::{Error, Result};

pub use super::cache_codec::CACHE_FILE_MAGIC;

const OP: &str = "CacheDataset";

/// Records larger than this are treated as corruption (no element is this big).
const MAX_RECORD: u64 = 1 << 40;

type MemoryCache = Arc<Mutex<Option<Arc<Vec<Element>>>>>;

enum Store {
    Memory(MemoryCache),
    File(PathBuf),
}

struct Cache {
    input: Dataset,
    store: Store,
}

impl DatasetSource for Cache {
    fn iter(&self) -> Result<ElementIter> {
        match &self.store {
            Store::Memory(cache) => {
                if let Some(v) = lock(cache).clone() {
                    return Ok(Box::new(
                        (0..v.len()).filter_map(move |i| v.get(i).cloned().map(Ok)),
                    ));
                }
                Ok(Box::new(MemoryWriter {
                    input: self.input.iter()?,
                    buffer: Vec::new(),
                    clean: true,
                    cache: cache.clone(),
                }))
            }
            Store::File(path) => {
                let spec = self.input.element_spec().to_string();
                match File::open(path) {
                    Ok(f) => Ok(Box::new(FileReader::open(path.clone(), f, &spec)?)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Box::new(
                        FileWriter::create(path.clone(), self.input.iter()?, &spec)?,
                    )),
                    Err(e) => Err(Error::io(format!("{OP}: opening {}", path.display()), e)),
                }
            }
        }
    }
    fn cardinality(&self) -> Cardinality {
        self.input.cardinality()
    }
    fn element_spec(&self) -> ElementSpec {
        self.input.element_spec()
    }
    fn name(&self) -> &'static str {
        "Cache"
    }
}

/// First epoch of a memory cache: passes elements through and keeps copies.
struct MemoryWriter {
    input: ElementIter,
    buffer: Vec<Element>,
    clean: bool,
    cache: MemoryCache,
}

impl Iterator for MemoryWriter {
    type Item = Result<Element>;
    fn next(&mut self) -> Option<Result<Element>> {
        match self.input.next() {
            Some(Ok(e)) => {
                if self.clean {
                    self.buffer.push(e.clone());
                }
                Some(Ok(e))
            }
            Some(Err(e)) => {
                self.clean = false;
                self.buffer = Vec::new();
                Some(Err(e))
            }
            None => {
                if self.clean {
                    let mut c = lock(&self.cache);
                    if c.is_none() {
                        *c = Some(Arc::new(std::mem::take(&mut self.buffer)));
                    }
                    self.clean = false;
                }
                None
            }
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// First epoch of a file cache: passes elements through and writes them to a
/// temporary file that is renamed to the cache path when the epoch completes.
struct FileWriter {
    path: PathBuf,
    temp: PathBuf,
    input: ElementIter,
    out: Option<BufWriter<File>>,
    count: u64,
    scratch: Vec<u8>,
}

impl FileWriter {
    fn create(path: PathBuf, input: ElementIter, spec: &str) -> Result<FileWriter> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".tmp-{}-{n}", std::process::id()));
        let temp = PathBuf::from(name);
        let file = File::create(&temp)
            .map_err(|e| Error::io(format!("{OP}: creating {}", temp.display()), e))?;
        let mut out = BufWriter::new(file);
        cache_codec::write_header(&mut out, spec)
            .map_err(|e| Error::io(format!("{OP}: writing {}", temp.display()), e))?;
        Ok(FileWriter {
            path,
            temp,
            input,
            out: Some(out),
            count: 0,
            scratch: Vec::new(),
        })
    }

    /// Abandons the cache (the temporary file is removed).
    fn abandon(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }

    fn write(&mut self, e: &Element) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        self.scratch.clear();
        cache_codec::encode(e, &mut self.scratch)?;
        cache_codec::write_record(out, &self.scratch)
            .map_err(|err| Error::io(format!("{OP}: writing {}", self.temp.display()), err))?;
        self.count += 1;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        let ctx = || format!("{OP}: writing {}", self.temp.display());
        cache_codec::write_trailer(&mut out, self.count).map_err(|e| Error::io(ctx(), e))?;
        out.flush().map_err(|e| Error::io(ctx(), e))?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(ctx(), e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(ctx(), e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&self.temp);
            Error::io(
                format!(
                    "{OP}: renaming {} to {}",
                    self.temp.display(),
                    self.path.display()
                ),
                e,
            )
        })
    }
}

impl Iterator for FileWriter {
    type Item = Result<Element>;
    fn next(&mut self) -> Option<Result<Element>> {
        match self.input.next() {
            Some(Ok(e)) => {
                if let Err(err) = self.write(&e) {
                    self.abandon();
                    return Some(Err(err));
                }
                Some(Ok(e))
            }
            Some(Err(e)) => {
                // An epoch with errors is not a faithful cache.
                self.abandon();
                Some(Err(e))
            }
            None => match self.commit() {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// Later epochs of a file cache: streams the records back, checking each.
struct FileReader {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
    len: u64,
    count: u64,
    done: bool,
    payload: Vec<u8>,
}

impl FileReader {
    fn open(path: PathBuf, file: File, spec: &str) -> Result<FileReader> {
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("{OP}: reading {}", path.display()), e))?
            .len();
        let mut r = FileReader {
            path,
            reader: BufReader::new(file),
            offset: 0,
            len,
            count: 0,
            done: false,
            payload: Vec::new(),
        };
        let mut magic = [0u8; 16];
        r.read(&mut magic)?;
        if &magic != CACHE_FILE_MAGIC {
            return Err(r.corrupt(0, "not a tf-data cache file (bad magic)"));
        }
        let spec_len = u64::from(u32::from_le_bytes(r.array()?));
        if spec_len > r.len - r.offset {
            return Err(r.corrupt(16, "header truncated"));
        }
        let mut stored = vec![0u8; spec_len as usize];
        r.read(&mut stored)?;
        if stored != spec.as_bytes() {
            return Err(Error::invalid(
                OP,
                format!(
                    "cache file {} holds elements of spec {} but the dataset's elements are {spec}; delete the file to rebuild the cache",
                    r.path.display(),
                    String::from_utf8_lossy(&stored)
                ),
            ));
        }
        Ok(r)
    }

    fn corrupt(&self, offset: u64, message: impl Into<String>) -> Error {
        Error::format(
            format!("{OP}: cache file {} at byte {offset}", self.path.display()),
            message,
        )
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        let at = self.offset;
        if (buf.len() as u64) > self.len - self.offset.min(self.len) {
            return Err(self.corrupt(at, "file truncated"));
        }
        self.reader.read_exact(buf).map_err(|e| {
            Error::io(
                format!("{OP}: reading {} at byte {at}", self.path.display()),
                e,
            )
        })?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.read(&mut b)?;
        Ok(b)
    }

    fn next_element(&mut self) -> Result<Option<Element>> {
        let start = self.offset;
        let [tag] = self.array::<1>()?;
        match tag {
            RECORD => {
                let len = u64::from_le_bytes(self.array()?);
                if len > MAX_RECORD || len > self.len - self.offset {
                    return Err(
                        self.corrupt(start, format!("record length {len} exceeds the file"))
                    );
                }
                let mut payload = std::mem::take(&mut self.payload);
                payload.resize(len as usize, 0);
                self.read(&mut payload)?;
                let sum = u64::from_le_bytes(self.array()?);
                if sum != checksum(&payload) {
                    return Err(self.corrupt(start, "record checksum mismatch"));
                }
                let mut cur = Cursor::new(&payload);
                let e = cur.element(0).map_err(|m| self.corrupt(start, m))?;
                if !cur.at_end() {
                    return Err(self.corrupt(start, "record has trailing bytes"));
                }
                self.payload = payload;
                self.count += 1;
                Ok(Some(e))
            }
            TRAILER => {
                let count = self.array::<8>()?;
                let sum = u64::from_le_bytes(self.array()?);
                if sum != checksum(&count) || u64::from_le_bytes(count) != self.count {
                    return Err(self.corrupt(start, "trailer does not match the records"));
                }
                if self.offset != self.len {
                    return Err(self.corrupt(self.offset, "bytes after the trailer"));
                }
                Ok(None)
            }
            t => Err(self.corrupt(start, format!("unknown record tag {t}"))),
        }
    }
}

impl Iterator for FileReader {
    type Item = Result<Element>;
    fn next(&mut self) -> Option<Result<Element>> {
        if self.done {
            return None;
        }
        match self.next_element() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                // A damaged file ends the epoch after reporting where.
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Dataset {
    /// `Dataset.cache(filename)`: the first complete epoch is recorded and later
    /// epochs replay it. An empty `filename` caches in memory (for the life of this
    /// dataset); otherwise the elements go to that file, which later epochs — and
    /// later runs of the program — read instead of running the input. The cache is
    /// committed only when an epoch ends without errors (a file atomically, by
    /// rename), so an interrupted epoch never leaves a partial cache.
    ///
    /// A cache file written for a different element spec, or damaged, is an error
    /// naming the file (and byte offset). Nested datasets cannot be cached to a file.
    pub fn cache(&self, filename: impl AsRef<Path>) -> Dataset {
        let path = filename.as_ref();
        let store = if path.as_os_str().is_empty() {
            Store::Memory(Arc::new(Mutex::new(None)))
        } else {
            Store::File(path.to_path_buf())
        };
        Dataset::new(Cache {
            input: self.clone(),
            store,
        })
    }
}
