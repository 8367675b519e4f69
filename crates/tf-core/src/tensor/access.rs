//! Reading a tensor's elements: typed vectors, scalars, borrowed contiguous slices and
//! [`StridedView`]s for kernels that walk arbitrary views.

use super::{Data, Tensor, symbolic_error};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::kernels::strided::for_each_offsets;
use crate::storage::HostBuffer;
use std::borrow::Cow;

/// A typed, read-only window on a host tensor's storage: the whole buffer plus the
/// view's offset, dimensions and strides. Kernels use it to read views without copying.
#[derive(Clone, Copy, Debug)]
pub struct StridedView<'a, T> {
    /// The whole storage buffer.
    pub data: &'a [T],
    /// Offset of element `[0, 0, ...]`.
    pub offset: usize,
    /// Dimensions of the view.
    pub dims: &'a [usize],
    /// Strides of the view, in elements.
    pub strides: &'a [usize],
}

impl<'a, T: Copy> StridedView<'a, T> {
    /// Number of elements in the view.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the view has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as one row-major slice, when the view is contiguous.
    pub fn as_contiguous(&self) -> Option<&'a [T]> {
        let mut expected = 1usize;
        for (&d, &s) in self.dims.iter().zip(self.strides).rev() {
            if d != 1 && s != expected {
                return None;
            }
            expected *= d;
        }
        self.data.get(self.offset..self.offset + self.len())
    }

    /// Calls `f(row)` for every innermost row, in row-major order, where `row` yields
    /// the row's elements (a rank-0 view is one row of one element).
    pub fn for_each_row(&self, mut f: impl FnMut(RowIter<'a, T>)) {
        let n = self.len();
        if n == 0 {
            return;
        }
        let rank = self.dims.len();
        if rank == 0 {
            f(RowIter {
                data: self.data,
                pos: self.offset,
                stride: 1,
                left: 1,
            });
            return;
        }
        let inner = self.dims[rank - 1];
        let inner_stride = self.strides[rank - 1];
        for_each_offsets(
            &self.dims[..rank - 1],
            [&self.strides[..rank - 1]],
            [self.offset],
            |[base]| {
                f(RowIter {
                    data: self.data,
                    pos: base,
                    stride: inner_stride,
                    left: inner,
                });
            },
        );
    }

    /// Copies the view's elements into a new row-major vector.
    pub fn to_vec(&self) -> Vec<T> {
        if let Some(s) = self.as_contiguous() {
            return s.to_vec();
        }
        let mut out = Vec::with_capacity(self.len());
        self.for_each_row(|row| out.extend(row));
        out
    }
}

/// The elements of one innermost row of a [`StridedView`].
#[derive(Clone, Debug)]
pub struct RowIter<'a, T> {
    data: &'a [T],
    pos: usize,
    stride: usize,
    left: usize,
}

impl<T: Copy> Iterator for RowIter<'_, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        let v = self.data[self.pos];
        self.left -= 1;
        self.pos += self.stride;
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}
impl<T: Copy> ExactSizeIterator for RowIter<'_, T> {}

impl Tensor {
    fn check_dtype<T: Element>(&self, op: &'static str) -> Result<()> {
        if self.dtype() != T::DTYPE {
            return Err(Error::invalid(
                op,
                format!("tensor has dtype {}, requested {}", self.dtype(), T::DTYPE),
            ));
        }
        Ok(())
    }

    /// A strided view of a host tensor's elements.
    ///
    /// Errors when `T` is not the tensor's dtype or the tensor is not on the host.
    pub fn strided<T: Element>(&self) -> Result<StridedView<'_, T>> {
        self.check_dtype::<T>("Tensor::strided")?;
        let data = match &self.0.data {
            Data::Host(h) => T::slice(h)
                .ok_or_else(|| Error::precondition("Tensor::strided", "storage dtype mismatch"))?,
            Data::Device(_) => {
                return Err(Error::precondition(
                    "Tensor::strided",
                    format!("tensor is on {}; call to_host() first", self.device()),
                ));
            }
            Data::Symbolic(_) => return Err(symbolic_error("Tensor::strided")),
        };
        Ok(StridedView {
            data,
            offset: self.offset(),
            dims: self.dims(),
            strides: self.strides(),
        })
    }

    /// The elements in row-major order: borrowed when the host tensor is contiguous,
    /// copied otherwise.
    ///
    /// Errors when `T` is not the tensor's dtype or the tensor is not on the host.
    pub fn host_data<T: Element>(&self) -> Result<Cow<'_, [T]>> {
        let v = self.strided::<T>()?;
        Ok(match v.as_contiguous() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(v.to_vec()),
        })
    }

    /// The elements as a borrowed row-major slice; errors unless the tensor is a
    /// contiguous host tensor of dtype `T`.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        self.strided::<T>()?.as_contiguous().ok_or_else(|| {
            Error::precondition(
                "Tensor::as_slice",
                "tensor is a non-contiguous view; use host_data() or to_vec()",
            )
        })
    }

    /// The elements as a new vector in row-major order (copied from any device).
    ///
    /// Errors when `T` is not the tensor's dtype (cast first) or the tensor is symbolic.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.check_dtype::<T>("Tensor::to_vec")?;
        let host = self.to_host()?;
        Ok(host.strided::<T>()?.to_vec())
    }

    /// The single element of a tensor with exactly one element (any rank).
    pub fn scalar<T: Element>(&self) -> Result<T> {
        if self.num_elements() != 1 {
            return Err(Error::invalid(
                "Tensor::scalar",
                format!(
                    "tensor of shape {} has {} elements, expected exactly 1",
                    self.shape(),
                    self.num_elements()
                ),
            ));
        }
        self.check_dtype::<T>("Tensor::scalar")?;
        let host = self.to_host()?;
        let v = host.strided::<T>()?;
        Ok(v.data[v.offset])
    }

    /// The elements converted to f64 in row-major order, whatever the dtype (for
    /// printing, tests and tooling; not a fast path).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        let host = self.to_host()?;
        crate::with_dtype!(self.dtype(), T => {
            Ok(host.strided::<T>()?.to_vec().into_iter().map(Element::to_f64).collect())
        })
    }

    /// A contiguous copy of the viewed elements as a new host buffer.
    pub(crate) fn host_buffer_copy(&self) -> Result<HostBuffer> {
        let dtype: DType = self.dtype();
        crate::with_dtype!(dtype, T => Ok(T::into_buffer(self.strided::<T>()?.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_rows() {
        let data: Vec<i32> = (0..12).collect();
        // Transposed view of a 3x4 matrix: dims [4,3], strides [1,4].
        let v = StridedView {
            data: &data,
            offset: 0,
            dims: &[4, 3],
            strides: &[1, 4],
        };
        assert!(v.as_contiguous().is_none());
        assert_eq!(v.to_vec(), vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
        let c = StridedView {
            data: &data,
            offset: 2,
            dims: &[2, 5],
            strides: &[5, 1],
        };
        assert_eq!(c.as_contiguous().unwrap(), &data[2..12]);
    }
}
