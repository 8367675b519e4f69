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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use ndarray::{Array2, Array3, s};

    #[test]
    fn any_layout_converts_in_logical_order() {
        let a = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as i32);
        let want: Vec<i32> = a.iter().copied().collect();
        // Standard layout moves the buffer.
        let t = Tensor::from_ndarray(a.clone()).unwrap();
        assert_eq!(t.dims(), &[2, 3, 4]);
        assert_eq!(t.to_vec::<i32>().unwrap(), want);
        // Fortran order, a negative-stride slice, and a sliced owned array with an offset.
        let f = Array3::from_shape_vec((2, 3, 4).f(), want.clone()).unwrap();
        assert_eq!(
            Tensor::from_ndarray(f.clone())
                .unwrap()
                .to_vec::<i32>()
                .unwrap(),
            f.iter().copied().collect::<Vec<_>>()
        );
        let rev = a.slice(s![..;-1, 1.., ..;2]);
        let t = Tensor::from_ndarray_view(rev).unwrap();
        assert_eq!(t.dims(), &[2, 2, 2]);
        assert_eq!(
            t.to_vec::<i32>().unwrap(),
            rev.iter().copied().collect::<Vec<_>>()
        );
        let mut owned = a.clone();
        owned.slice_collapse(s![1.., .., ..]);
        let t = Tensor::from_ndarray(owned.clone()).unwrap();
        assert_eq!(t.to_vec::<i32>().unwrap(), want[12..].to_vec());
        let empty = Array2::<f32>::zeros((0, 3));
        assert_eq!(Tensor::from_ndarray(empty).unwrap().dims(), &[0, 3]);
    }

    #[test]
    fn to_ndarray_and_views() {
        let t = Tensor::from_vec((0..6).map(|i| i as f64).collect::<Vec<_>>(), [2, 3]).unwrap();
        let tt = crate::ops::transpose(&t, None).unwrap();
        let a: ArrayD<f64> = (&tt).try_into().unwrap();
        assert_eq!(a.shape(), &[3, 2]);
        assert_eq!(a[[2, 1]], 5.0);
        assert!(a.is_standard_layout());
        let v = tt.ndarray_view::<f64>().unwrap();
        assert_eq!(v, a);
        let b = crate::ops::broadcast_to(&Tensor::vector(&[1u8, 2]), &[3, 2]).unwrap();
        let bv = b.ndarray_view::<u8>().unwrap();
        assert_eq!(bv.strides(), &[0, 1]);
        assert_eq!(
            bv.iter().copied().collect::<Vec<_>>(),
            vec![1, 2, 1, 2, 1, 2]
        );
        let back = Tensor::try_from(a).unwrap();
        assert_eq!(back.to_vec::<f64>().unwrap(), tt.to_vec::<f64>().unwrap());
        let e = t.to_ndarray::<f32>().unwrap_err().to_string();
        assert!(e.contains("float64") && e.contains("float32"), "{e}");
        assert!(
            Tensor::zeros([2], DType::Bool)
                .unwrap()
                .to_ndarray::<bool>()
                .is_ok()
        );
    }
}
