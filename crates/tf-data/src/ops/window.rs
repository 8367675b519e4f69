//! `window`: groups elements into (possibly overlapping, strided) windows, each a
//! nested dataset — per component, as TensorFlow does for tuple/map elements.

use crate::cardinality::Cardinality;
use crate::dataset::{Dataset, DatasetSource, ElementIter};
use crate::element::{Element, ElementSpec};
use crate::sources::VecSource;
use crate::util::clone_error;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tf_core::{Error, Result};

const OP: &str = "WindowDataset";

struct Window {
    input: Dataset,
    size: usize,
    shift: usize,
    stride: usize,
    drop_remainder: bool,
    spec: ElementSpec,
    /// The spec of each window's elements (the input spec).
    inner: ElementSpec,
}

struct WindowIter {
    input: Option<ElementIter>,
    buffer: VecDeque<Result<Element>>,
    size: usize,
    shift: usize,
    stride: usize,
    drop_remainder: bool,
    inner: ElementSpec,
}

impl WindowIter {
    fn target(&self) -> usize {
        (self.size - 1) * self.stride + 1
    }
}

impl Iterator for WindowIter {
    type Item = Result<Element>;
    fn next(&mut self) -> Option<Result<Element>> {
        let target = self.target();
        // Fill the buffer up to one full window.
        if let Some(input) = &mut self.input {
            while self.buffer.len() < target {
                match input.next() {
                    Some(item) => self.buffer.push_back(item),
                    None => {
                        self.input = None;
                        break;
                    }
                }
            }
        }
        if self.buffer.is_empty() || (self.drop_remainder && self.buffer.len() < target) {
            return None;
        }
        let count = 1 + (self.buffer.len() - 1) / self.stride;
        let mut elements = Vec::with_capacity(count);
        let mut error = None;
        for i in 0..count {
            match self.buffer.get(i * self.stride) {
                Some(Ok(e)) => elements.push(e.clone()),
                Some(Err(e)) => {
                    error = Some(clone_error(e));
                    break;
                }
                None => break,
            }
        }
        // Shift, discarding input beyond the buffer when the shift is larger.
        if self.shift >= self.buffer.len() {
            let extra = self.shift - self.buffer.len();
            self.buffer.clear();
            if let Some(input) = &mut self.input {
                for _ in 0..extra {
                    if input.next().is_none() {
                        self.input = None;
                        break;
                    }
                }
            }
        } else {
            self.buffer.drain(..self.shift);
        }
        if let Some(e) = error {
            return Some(Err(e));
        }
        Some(window_element(elements, &self.inner))
    }
}

/// Turns the elements of one window into TensorFlow's window value: one dataset per
/// component, in the element's structure.
fn window_element(elements: Vec<Element>, spec: &ElementSpec) -> Result<Element> {
    let Some(first) = elements.first() else {
        return Err(Error::invalid(OP, "empty window"));
    };
    match first {
        Element::Tuple(v) => {
            let k = v.len();
            let mut cols: Vec<Vec<Element>> =
                (0..k).map(|_| Vec::with_capacity(elements.len())).collect();
            for e in elements {
                let parts = e.into_tuple()?;
                if parts.len() != k {
                    return Err(Error::invalid(OP, "window elements differ in structure"));
                }
                for (c, x) in cols.iter_mut().zip(parts) {
                    c.push(x);
                }
            }
            let specs: Vec<ElementSpec> = match spec {
                ElementSpec::Tuple(s) if s.len() == k => s.clone(),
                _ => vec![ElementSpec::Unknown; k],
            };
            Ok(Element::Tuple(
                cols.into_iter()
                    .zip(&specs)
                    .map(|(c, s)| window_element(c, s))
                    .collect::<Result<_>>()?,
            ))
        }
        Element::Map(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let mut cols: Vec<Vec<Element>> = keys
                .iter()
                .map(|_| Vec::with_capacity(elements.len()))
                .collect();
            for e in elements {
                let Element::Map(m) = e else {
                    return Err(Error::invalid(OP, "window elements differ in structure"));
                };
                if !m.keys().eq(keys.iter()) {
                    return Err(Error::invalid(OP, "window elements differ in structure"));
                }
                for (c, (_, x)) in cols.iter_mut().zip(m) {
                    c.push(x);
                }
            }
            let mut out = BTreeMap::new();
            for (k, c) in keys.into_iter().zip(cols) {
                let s = match spec {
                    ElementSpec::Map(s) => s.get(&k).cloned().unwrap_or(ElementSpec::Unknown),
                    _ => ElementSpec::Unknown,
                };
                out.insert(k, window_element(c, &s)?);
            }
            Ok(Element::Map(out))
        }
        _ => {
            let spec = match spec {
                ElementSpec::Unknown => first.spec(),
                s => s.clone(),
            };
            Ok(Element::Dataset(Dataset::new(VecSource {
                elements: Arc::new(elements),
                spec,
            })))
        }
    }
}

/// The spec of window values: each leaf becomes a dataset of that leaf.
fn window_spec(spec: &ElementSpec) -> ElementSpec {
    match spec {
        ElementSpec::Tuple(v) => ElementSpec::Tuple(v.iter().map(window_spec).collect()),
        ElementSpec::Map(m) => {
            ElementSpec::Map(m.iter().map(|(k, s)| (k.clone(), window_spec(s))).collect())
        }
        ElementSpec::Unknown => ElementSpec::Unknown,
        leaf => ElementSpec::Dataset(Box::new(leaf.clone())),
    }
}

impl DatasetSource for Window {
    fn iter(&self) -> Result<ElementIter> {
        Ok(Box::new(WindowIter {
            input: Some(self.input.iter()?),
            buffer: VecDeque::new(),
            size: self.size,
            shift: self.shift,
            stride: self.stride,
            drop_remainder: self.drop_remainder,
            inner: self.inner.clone(),
        }))
    }
    fn cardinality(&self) -> Cardinality {
        let (size, shift, stride) = (self.size as u64, self.shift as u64, self.stride as u64);
        let drop_remainder = self.drop_remainder;
        self.input.cardinality().map(|n| {
            if drop_remainder {
                let target = (size - 1).saturating_mul(stride).saturating_add(1);
                if n < target {
                    0
                } else {
                    (n - target) / shift + 1
                }
            } else {
                n.div_ceil(shift)
            }
        })
    }
    fn element_spec(&self) -> ElementSpec {
        self.spec.clone()
    }
    fn name(&self) -> &'static str {
        "Window"
    }
}

impl Dataset {
    /// `Dataset.window(size, shift, stride, drop_remainder)`: windows of `size`
    /// elements taken every `stride`-th, a new window every `shift` elements (`None`:
    /// `size`, no overlap). Each window is a nested dataset (per component for
    /// tuples and maps, as in TensorFlow); batch it inside `flat_map` to get tensors.
    /// `range(7).window(3, Some(2), 1, false)` gives `[0,1,2] [2,3,4] [4,5,6] [6]`;
    /// `drop_remainder` drops the windows shorter than `size`.
    ///
    /// Errors when `size`, `shift` or `stride` is 0.
    pub fn window(
        &self,
        size: usize,
        shift: Option<usize>,
        stride: usize,
        drop_remainder: bool,
    ) -> Result<Dataset> {
        let shift = shift.unwrap_or(size);
        for (what, v) in [("size", size), ("shift", shift), ("stride", stride)] {
            if v == 0 {
                return Err(Error::invalid(
                    OP,
                    format!("Window {what} must be greater than zero"),
                ));
            }
        }
        if (size - 1)
            .checked_mul(stride)
            .and_then(|t| t.checked_add(1))
            .is_none()
        {
            return Err(Error::invalid(OP, "window size times stride overflows"));
        }
        let inner = self.element_spec();
        Ok(Dataset::new(Window {
            input: self.clone(),
            size,
            shift,
            stride,
            drop_remainder,
            spec: window_spec(&inner),
            inner,
        }))
    }
}
