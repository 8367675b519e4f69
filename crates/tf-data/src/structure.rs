//! Element kernels shared by sources and transformations: slicing rows off the leading
//! dimension ([`Rows`], no copies: tensor rows are views) and joining elements into
//! batches ([`stack`], [`concat`]: one contiguous copy per component).

use crate::element::{ByteString, Element, StringTensor};
use std::collections::BTreeMap;
use tf_core::shape::Strides;
use tf_core::{Error, Result, Shape, Tensor, with_dtype};

/// Row access along the leading dimension of every component of an element.
pub(crate) enum Rows {
    /// A tensor: rows are views of its storage.
    Tensor {
        t: Tensor,
        row_shape: Shape,
        row_strides: Strides,
        stride0: usize,
    },
    /// A string tensor: rows share the byte strings.
    Strings { t: StringTensor, row_shape: Shape },
    /// A tuple.
    Tuple(Vec<Rows>),
    /// A map.
    Map(Vec<(String, Rows)>),
}

impl Rows {
    /// Prepares row access, returning the number of rows. Errors (naming `op`) when a
    /// component is a scalar, components disagree on the number of rows, or a
    /// component is a nested dataset or symbolic.
    pub(crate) fn new(op: &'static str, e: &Element) -> Result<(Rows, usize)> {
        let mut n = None;
        let mut comp = 0;
        let rows = Rows::build(op, e, &mut n, &mut comp)?;
        Ok((rows, n.unwrap_or(0)))
    }

    fn build(
        op: &'static str,
        e: &Element,
        n: &mut Option<usize>,
        comp: &mut usize,
    ) -> Result<Rows> {
        let mut check = |dims: &[usize]| -> Result<()> {
            let c = *comp;
            *comp += 1;
            let Some(&d) = dims.first() else {
                return Err(Error::invalid(
                    op,
                    format!(
                        "Input element must have a non-scalar value in each component; component {c} is rank-0 (a scalar)"
                    ),
                ));
            };
            match *n {
                None => *n = Some(d),
                Some(m) if m != d => {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "Input element must have the same batch size in each component: components have different first dimensions, component 0 had size {m} but component {c} had size {d}"
                        ),
                    ));
                }
                Some(_) => {}
            }
            Ok(())
        };
        Ok(match e {
            Element::Tensor(t) => {
                if t.is_symbolic() {
                    return Err(Error::precondition(
                        op,
                        "cannot slice a symbolic tensor (made while tracing)",
                    ));
                }
                check(t.dims())?;
                Rows::Tensor {
                    row_shape: Shape::new(&t.dims()[1..]),
                    row_strides: Strides::from_slice(&t.strides()[1..]),
                    stride0: t.strides()[0],
                    t: t.clone(),
                }
            }
            Element::Strings(s) => {
                check(s.shape().dims())?;
                Rows::Strings {
                    row_shape: Shape::new(&s.shape().dims()[1..]),
                    t: s.clone(),
                }
            }
            Element::Tuple(v) => Rows::Tuple(
                v.iter()
                    .map(|e| Rows::build(op, e, n, comp))
                    .collect::<Result<_>>()?,
            ),
            Element::Map(m) => Rows::Map(
                m.iter()
                    .map(|(k, e)| Ok((k.clone(), Rows::build(op, e, n, comp)?)))
                    .collect::<Result<_>>()?,
            ),
            Element::Dataset(_) => {
                return Err(Error::invalid(
                    op,
                    "elements that are datasets cannot be sliced",
                ));
            }
        })
    }

    /// Row `i` (the caller keeps `i` below the row count).
    pub(crate) fn row(&self, op: &'static str, i: usize) -> Result<Element> {
        Ok(match self {
            Rows::Tensor {
                t,
                row_shape,
                row_strides,
                stride0,
            } => Element::Tensor(t.view(
                op,
                row_shape.clone(),
                row_strides.clone(),
                t.offset() + i * stride0,
            )?),
            Rows::Strings { t, row_shape } => {
                let len = row_shape.num_elements();
                let values = t
                    .values()
                    .get(i * len..(i + 1) * len)
                    .ok_or_else(|| Error::out_of_range(op, format!("row {i} out of range")))?;
                Element::Strings(StringTensor::new(values.to_vec(), row_shape.clone())?)
            }
            Rows::Tuple(v) => {
                Element::Tuple(v.iter().map(|r| r.row(op, i)).collect::<Result<_>>()?)
            }
            Rows::Map(m) => Element::Map(
                m.iter()
                    .map(|(k, r)| Ok((k.clone(), r.row(op, i)?)))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    /// Rows `start..start + len` as one element with leading dimension `len`.
    pub(crate) fn range(&self, op: &'static str, start: usize, len: usize) -> Result<Element> {
        Ok(match self {
            Rows::Tensor {
                t,
                row_shape,
                row_strides,
                stride0,
            } => {
                let mut dims = vec![len];
                dims.extend_from_slice(row_shape);
                let mut strides = Strides::new();
                strides.push(*stride0);
                strides.extend_from_slice(row_strides);
                Element::Tensor(t.view(
                    op,
                    Shape::from(dims),
                    strides,
                    t.offset() + start * stride0,
                )?)
            }
            Rows::Strings { t, row_shape } => {
                let row = row_shape.num_elements();
                let values = t
                    .values()
                    .get(start * row..(start + len) * row)
                    .ok_or_else(|| {
                        Error::out_of_range(
                            op,
                            format!("rows {start}..{} out of range", start + len),
                        )
                    })?;
                let mut dims = vec![len];
                dims.extend_from_slice(row_shape);
                Element::Strings(StringTensor::new(values.to_vec(), dims)?)
            }
            Rows::Tuple(v) => Element::Tuple(
                v.iter()
                    .map(|r| r.range(op, start, len))
                    .collect::<Result<_>>()?,
            ),
            Rows::Map(m) => Element::Map(
                m.iter()
                    .map(|(k, r)| Ok((k.clone(), r.range(op, start, len)?)))
                    .collect::<Result<_>>()?,
            ),
        })
    }
}

/// How [`join`] combines elements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JoinMode {
    /// Equal shapes; a new leading dimension (batch).
    Stack,
    /// Equal shapes but for the leading dimension, which adds up (rebatch).
    Concat,
}

/// Stacks elements of identical structure and shapes into one with a new leading
/// dimension (`batch`). Errors name `op` and the component whose shapes or dtypes differ.
pub(crate) fn stack(op: &'static str, elems: Vec<Element>) -> Result<Element> {
    join(op, elems, JoinMode::Stack, &mut 0)
}

/// Concatenates elements along their leading dimension (`rebatch`).
pub(crate) fn concat(op: &'static str, elems: Vec<Element>) -> Result<Element> {
    join(op, elems, JoinMode::Concat, &mut 0)
}

fn structure_error(op: &'static str, first: &Element, other: &Element, i: usize) -> Error {
    Error::invalid(
        op,
        format!(
            "elements differ in structure: element 0 is {} and element {i} is {}",
            first.kind(),
            other.kind()
        ),
    )
}

fn join(
    op: &'static str,
    elems: Vec<Element>,
    mode: JoinMode,
    comp: &mut usize,
) -> Result<Element> {
    let Some(first) = elems.first() else {
        return Err(Error::invalid(op, "nothing to batch"));
    };
    match first {
        Element::Tensor(_) => {
            let first = first.clone();
            let ts = elems
                .into_iter()
                .enumerate()
                .map(|(i, e)| match e {
                    Element::Tensor(t) => Ok(t),
                    other => Err(structure_error(op, &first, &other, i)),
                })
                .collect::<Result<Vec<_>>>()?;
            let out = join_tensors(op, &ts, mode, *comp)?;
            *comp += 1;
            Ok(Element::Tensor(out))
        }
        Element::Strings(_) => {
            let first = first.clone();
            let ss = elems
                .into_iter()
                .enumerate()
                .map(|(i, e)| match e {
                    Element::Strings(s) => Ok(s),
                    other => Err(structure_error(op, &first, &other, i)),
                })
                .collect::<Result<Vec<_>>>()?;
            let out = join_strings(op, &ss, mode, *comp)?;
            *comp += 1;
            Ok(Element::Strings(out))
        }
        Element::Tuple(v) => {
            let n = v.len();
            let first = first.clone();
            let mut cols: Vec<Vec<Element>> =
                (0..n).map(|_| Vec::with_capacity(elems.len())).collect();
            for (i, e) in elems.into_iter().enumerate() {
                match e {
                    Element::Tuple(v) if v.len() == n => {
                        for (c, x) in cols.iter_mut().zip(v) {
                            c.push(x);
                        }
                    }
                    other => return Err(structure_error(op, &first, &other, i)),
                }
            }
            Ok(Element::Tuple(
                cols.into_iter()
                    .map(|c| join(op, c, mode, comp))
                    .collect::<Result<_>>()?,
            ))
        }
        Element::Map(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let first = first.clone();
            let mut cols: Vec<Vec<Element>> = keys
                .iter()
                .map(|_| Vec::with_capacity(elems.len()))
                .collect();
            for (i, e) in elems.into_iter().enumerate() {
                match e {
                    Element::Map(m) if m.len() == keys.len() && m.keys().eq(keys.iter()) => {
                        for (c, (_, x)) in cols.iter_mut().zip(m) {
                            c.push(x);
                        }
                    }
                    other => return Err(structure_error(op, &first, &other, i)),
                }
            }
            let mut out = BTreeMap::new();
            for (k, c) in keys.into_iter().zip(cols) {
                out.insert(k, join(op, c, mode, comp)?);
            }
            Ok(Element::Map(out))
        }
        Element::Dataset(_) => Err(Error::invalid(
            op,
            "elements that are datasets cannot be batched",
        )),
    }
}

/// The output shape of a join, after checking that every input agrees.
fn joined_shape(
    op: &'static str,
    shapes: &mut dyn Iterator<Item = &[usize]>,
    mode: JoinMode,
    comp: usize,
) -> Result<(Vec<usize>, usize)> {
    let Some(first) = shapes.next() else {
        return Err(Error::invalid(op, "nothing to batch"));
    };
    let first = first.to_vec();
    let mut count = 1usize;
    let mut lead = first.first().copied().unwrap_or(0);
    for (i, s) in shapes.enumerate() {
        count += 1;
        let ok = s.len() == first.len()
            && match mode {
                JoinMode::Stack => s.iter().zip(&first).all(|(a, b)| a == b),
                JoinMode::Concat => s.iter().zip(&first).skip(1).all(|(a, b)| a == b),
            };
        if !ok {
            return Err(Error::invalid(
                op,
                format!(
                    "Cannot batch tensors with different shapes in component {comp}. First element had shape {} and element {} had shape {}.",
                    Shape::new(&first),
                    i + 1,
                    Shape::new(s)
                ),
            ));
        }
        if mode == JoinMode::Concat
            && let Some(&d) = s.first()
        {
            lead = lead
                .checked_add(d)
                .ok_or_else(|| Error::invalid(op, "batch size overflows"))?;
        }
    }
    Ok(match mode {
        JoinMode::Stack => {
            let mut dims = vec![count];
            dims.extend_from_slice(&first);
            (dims, count)
        }
        JoinMode::Concat => {
            if first.is_empty() {
                return Err(Error::invalid(
                    op,
                    format!("component {comp} is a scalar and cannot be rebatched"),
                ));
            }
            let mut dims = first;
            dims[0] = lead;
            (dims, count)
        }
    })
}

fn reserve<T>(op: &'static str, n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::exhausted(op, format!("cannot allocate a batch of {n} values")))?;
    Ok(v)
}

fn join_tensors(op: &'static str, ts: &[Tensor], mode: JoinMode, comp: usize) -> Result<Tensor> {
    let dtype = ts
        .first()
        .map(Tensor::dtype)
        .ok_or_else(|| Error::invalid(op, "nothing to batch"))?;
    if let Some((i, t)) = ts.iter().enumerate().find(|(_, t)| t.dtype() != dtype) {
        return Err(Error::invalid(
            op,
            format!(
                "Cannot batch tensors with different dtypes in component {comp}. First element had dtype {dtype} and element {i} had dtype {}.",
                t.dtype()
            ),
        ));
    }
    let (dims, _) = joined_shape(op, &mut ts.iter().map(|t| t.dims()), mode, comp)?;
    let shape = Shape::from(dims);
    let total = shape
        .checked_num_elements()
        .ok_or_else(|| Error::invalid(op, format!("batch shape {shape} is too large")))?;
    with_dtype!(dtype, T => {
        // From tf-core's buffer pool: batches of the same shape reuse their memory.
        let mut out: Vec<T> = tf_core::kernels::alloc::alloc_uninit(total)?;
        let mut append = |v: tf_core::tensor::StridedView<'_, T>| match v.as_contiguous() {
            Some(s) => out.extend_from_slice(s),
            None => v.for_each_row(|row| out.extend(row)),
        };
        for t in ts {
            if t.device() == tf_core::Device::Cpu {
                append(t.strided::<T>()?);
            } else {
                append(t.to_host()?.strided::<T>()?);
            }
        }
        Tensor::from_host_vec(out, shape)
    })
}

fn join_strings(
    op: &'static str,
    ss: &[StringTensor],
    mode: JoinMode,
    comp: usize,
) -> Result<StringTensor> {
    let (dims, _) = joined_shape(op, &mut ss.iter().map(|s| s.shape().dims()), mode, comp)?;
    let total: usize = ss.iter().map(|s| s.values().len()).sum();
    let mut out: Vec<ByteString> = reserve(op, total)?;
    for s in ss {
        out.extend_from_slice(s.values());
    }
    StringTensor::new(out, dims)
}
