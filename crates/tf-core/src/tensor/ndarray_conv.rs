//! Conversion between [`Tensor`] and `ndarray` arrays.
//!
//! [`Tensor::from_ndarray`] accepts any layout (standard layout is taken without a
//! copy; others are copied in logical row-major order); [`Tensor::to_ndarray`] copies
//! into a standard-layout `ArrayD`; [`Tensor::ndarray_view`] borrows a host tensor's
//! storage with its strides, without copying.

use super::Tensor;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::shape::Shape;
use ndarray::{Array, ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn, ShapeBuilder};

impl Tensor {
    /// A host tensor holding the elements of `array` in logical (row-major) order, with
    /// the array's shape. Standard-layout arrays are moved without copying; any other
    /// layout (Fortran order, strided, negative strides) is copied.
    ///
    /// ```
    /// use ndarray::{ArrayD, IxDyn};
    /// use tf_core::Tensor;
    /// let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).collect::<Vec<i32>>()).unwrap();
    /// let t = Tensor::from_ndarray(a.t().to_owned())?;
    /// assert_eq!(t.dims(), &[3, 2]);
    /// assert_eq!(t.to_vec::<i32>()?, vec![0, 3, 1, 4, 2, 5]);
    /// assert_eq!(t.to_ndarray::<i32>()?, a.t());
    /// # Ok::<(), tf_core::Error>(())
    /// ```
    ///
    /// Errors when the shape is too large for a tensor.
    pub fn from_ndarray<T: Element, D: Dimension>(array: Array<T, D>) -> Result<Tensor> {
        let shape = Shape::new(array.shape());
        let n = array.len();
        let data = if array.is_standard_layout() {
            match array.into_raw_vec_and_offset() {
                (v, Some(0)) if v.len() == n => v,
                (mut v, Some(o)) if o + n <= v.len() => {
                    v.truncate(o + n);
                    v.drain(..o);
                    v
                }
                _ => Vec::new(),
            }
        } else {
            array.iter().copied().collect()
        };
        Tensor::from_host_vec(data, shape)
    }

    /// A host tensor copying the elements of an array view (any layout), row-major.
    ///
    /// Errors when the shape is too large for a tensor.
    pub fn from_ndarray_view<T: Element, D: Dimension>(
        array: ArrayView<'_, T, D>,
    ) -> Result<Tensor> {
        let shape = Shape::new(array.shape());
        let data: Vec<T> = match array.as_slice() {
            Some(s) => s.to_vec(),
            None => array.iter().copied().collect(),
        };
        Tensor::from_host_vec(data, shape)
    }

    /// The elements as a standard-layout `ArrayD<T>` (a copy; works for tensors on any
    /// device).
    ///
    /// Errors when `T` is not the tensor's dtype (cast first) or the tensor is symbolic.
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
        let v = self.to_vec::<T>()?;
        ArrayD::from_shape_vec(IxDyn(self.dims()), v)
            .map_err(|e| Error::invalid("Tensor::to_ndarray", e.to_string()))
    }

    /// A zero-copy `ndarray` view of a host tensor's storage with the tensor's shape and
    /// strides (broadcast dimensions have stride 0).
    ///
    /// Errors when `T` is not the dtype or the tensor is not on the host.
    pub fn ndarray_view<T: Element>(&self) -> Result<ArrayViewD<'_, T>> {
        let v = self.strided::<T>()?;
        let data = v.data.get(v.offset..).unwrap_or(&[]);
        let shape = IxDyn(v.dims).strides(IxDyn(v.strides));
        ArrayView::from_shape(shape, data)
            .map_err(|e| Error::invalid("Tensor::ndarray_view", e.to_string()))
    }
}

impl<T: Element, D: Dimension> TryFrom<Array<T, D>> for Tensor {
    type Error = Error;
    /// Same as [`Tensor::from_ndarray`].
    fn try_from(array: Array<T, D>) -> Result<Tensor> {
        Tensor::from_ndarray(array)
    }
}

impl<T: Element> TryFrom<&Tensor> for ArrayD<T> {
    type Error = Error;
    /// Same as [`Tensor::to_ndarray`].
    fn try_from(t: &Tensor) -> Result<ArrayD<T>> {
        t.to_ndarray()
    }
}
