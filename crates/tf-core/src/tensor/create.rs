//! Constructors: from data, constants, ranges, identity matrices.
//!
//! Constructors make host (CPU) tensors; ops under a [`with_device`](crate::with_device)
//! scope copy them to the scoped device when they run there (soft placement).

use super::Tensor;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::kernels::alloc::alloc_filled;
use crate::shape::Shape;

impl Tensor {
    /// A tensor owning `data` (row-major) with `shape`.
    ///
    /// Errors when the element count does not match the shape.
    ///
    /// ```
    /// use tf_core::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    /// assert_eq!(t.dims(), &[2, 3]);
    /// assert!(Tensor::from_vec(vec![1.0f32; 5], [2, 3]).is_err());
    /// ```
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::from_host_vec(data, shape)
    }

    /// A tensor copying `data` (row-major) with `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::from_host_vec(data.to_vec(), shape)
    }

    /// A rank-0 tensor holding `value` (`tf.constant(3.0)`).
    pub fn from_scalar<T: Element>(value: T) -> Tensor {
        Tensor::from_host_buffer(T::into_buffer(vec![value]), Shape::scalar())
    }

    /// A rank-1 tensor copying `data`.
    pub fn vector<T: Element>(data: &[T]) -> Tensor {
        Tensor::from_host_buffer(T::into_buffer(data.to_vec()), Shape::new(&[data.len()]))
    }

    /// A tensor of `shape` and `dtype` filled with zeros (`false` for bool).
    pub fn zeros(shape: impl Into<Shape>, dtype: DType) -> Result<Tensor> {
        let shape = shape.into();
        super::check_shape("Zeros", &shape)?;
        Ok(Tensor::from_host_buffer(
            crate::with_dtype!(dtype, T => T::into_buffer(crate::kernels::alloc::alloc_zeroed::<T>(shape.num_elements())?)),
            shape,
        ))
    }

    /// A tensor of `shape` and `dtype` filled with ones (`true` for bool).
    pub fn ones(shape: impl Into<Shape>, dtype: DType) -> Result<Tensor> {
        let shape = shape.into();
        super::check_shape("Ones", &shape)?;
        let n = shape.num_elements();
        Ok(
            crate::with_dtype!(dtype, T => Tensor::from_host_buffer(T::into_buffer(alloc_filled(n, T::ONE)?), shape)),
        )
    }

    /// A tensor of `shape` with every element `value` (`tf.fill`).
    pub fn fill<T: Element>(shape: impl Into<Shape>, value: T) -> Result<Tensor> {
        let shape = shape.into();
        super::check_shape("Fill", &shape)?;
        let n = shape.num_elements();
        Ok(Tensor::from_host_buffer(
            T::into_buffer(alloc_filled(n, value)?),
            shape,
        ))
    }

    /// `[start, start + delta, ...]` up to but excluding `limit` (`tf.range`), in
    /// `dtype` (a numeric dtype). Integer dtypes require integral arguments.
    ///
    /// Errors like TensorFlow: zero delta, or a limit on the wrong side of start.
    ///
    /// ```
    /// use tf_core::{DType, Tensor};
    /// let r = Tensor::range(0.0, 5.0, 2.0, DType::I32).unwrap();
    /// assert_eq!(r.to_vec::<i32>().unwrap(), vec![0, 2, 4]);
    /// ```
    pub fn range(start: f64, limit: f64, delta: f64, dtype: DType) -> Result<Tensor> {
        const OP: &str = "Range";
        if !dtype.is_numeric() {
            return Err(Error::invalid(OP, format!("dtype {dtype} is not numeric")));
        }
        if !(start.is_finite() && limit.is_finite() && delta.is_finite()) {
            return Err(Error::invalid(OP, "start, limit and delta must be finite"));
        }
        if delta == 0.0 {
            return Err(Error::invalid(OP, "Requires delta != 0"));
        }
        if delta > 0.0 && start > limit {
            return Err(Error::invalid(
                OP,
                format!("Requires start <= limit when delta > 0: {start}/{limit}"),
            ));
        }
        if delta < 0.0 && start < limit {
            return Err(Error::invalid(
                OP,
                format!("Requires start >= limit when delta < 0: {start}/{limit}"),
            ));
        }
        if dtype.is_int() && (start.fract() != 0.0 || limit.fract() != 0.0 || delta.fract() != 0.0)
        {
            return Err(Error::invalid(
                OP,
                format!("{dtype} range needs integral start, limit and delta"),
            ));
        }
        let count = ((limit - start) / delta).ceil();
        if count > (1u64 << 40) as f64 {
            return Err(Error::invalid(
                OP,
                format!("range of {count} elements is too large"),
            ));
        }
        let n = count.max(0.0) as usize;
        Ok(crate::with_dtype!(dtype, T => {
            let v: Vec<T> = (0..n).map(|i| T::from_f64(start + i as f64 * delta)).collect();
            Tensor::from_host_buffer(T::into_buffer(v), Shape::new(&[n]))
        }))
    }

    /// `num` evenly spaced values from `start` to `stop` inclusive (`tf.linspace`), in a
    /// float dtype.
    ///
    /// Errors when `num` is 0 or the dtype is not a float.
    pub fn linspace(start: f64, stop: f64, num: usize, dtype: DType) -> Result<Tensor> {
        const OP: &str = "LinSpace";
        if !dtype.is_float() {
            return Err(Error::invalid(
                OP,
                format!("dtype {dtype} is not a float dtype"),
            ));
        }
        if num == 0 {
            return Err(Error::invalid(OP, "Requires num > 0: 0"));
        }
        let step = if num > 1 {
            (stop - start) / (num - 1) as f64
        } else {
            0.0
        };
        Ok(crate::with_dtype!(dtype, T => {
            let v: Vec<T> = (0..num)
                .map(|i| T::from_f64(if i + 1 == num && num > 1 { stop } else { start + i as f64 * step }))
                .collect();
            Tensor::from_host_buffer(T::into_buffer(v), Shape::new(&[num]))
        }))
    }

    /// A `rows × cols` matrix with ones on the diagonal (`tf.eye`); `cols` defaults to
    /// `rows`.
    pub fn eye(rows: usize, cols: Option<usize>, dtype: DType) -> Result<Tensor> {
        let cols = cols.unwrap_or(rows);
        let shape = Shape::new(&[rows, cols]);
        super::check_shape("Eye", &shape)?;
        Ok(crate::with_dtype!(dtype, T => {
            let mut v = vec![T::ZERO; rows * cols];
            for i in 0..rows.min(cols) {
                v[i * cols + i] = T::ONE;
            }
            Tensor::from_host_buffer(T::into_buffer(v), shape)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    #[test]
    fn constants() {
        let z = Tensor::zeros([2, 0, 3], DType::F32).unwrap();
        assert_eq!(z.num_elements(), 0);
        assert_eq!(
            Tensor::ones([2], DType::Bool)
                .unwrap()
                .to_vec::<bool>()
                .unwrap(),
            vec![true, true]
        );
        assert_eq!(
            Tensor::fill([3], 7i64).unwrap().to_vec::<i64>().unwrap(),
            vec![7; 3]
        );
        assert_eq!(Tensor::from_scalar(2.5f64).scalar::<f64>().unwrap(), 2.5);
        assert!(Tensor::zeros([usize::MAX, 2], DType::F32).is_err());
        let e = Tensor::from_vec(vec![1i32; 5], [2, 3])
            .unwrap_err()
            .to_string();
        assert!(e.contains("5 elements") && e.contains("[2,3]"), "{e}");
    }

    #[test]
    fn ranges_follow_tf() {
        assert_eq!(
            Tensor::range(3.0, 18.0, 3.0, DType::I64)
                .unwrap()
                .to_vec::<i64>()
                .unwrap(),
            vec![3, 6, 9, 12, 15]
        );
        assert_eq!(
            Tensor::range(3.0, 1.0, -0.5, DType::F32)
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            vec![3.0, 2.5, 2.0, 1.5]
        );
        assert_eq!(
            Tensor::range(0.0, 0.0, 1.0, DType::F32)
                .unwrap()
                .num_elements(),
            0
        );
        assert!(
            Tensor::range(0.0, 1.0, 0.0, DType::F32)
                .unwrap_err()
                .to_string()
                .contains("delta")
        );
        assert!(
            Tensor::range(5.0, 1.0, 1.0, DType::I32)
                .unwrap_err()
                .to_string()
                .contains("start <= limit")
        );
        assert!(Tensor::range(0.0, 1.5, 1.0, DType::I32).is_err());
        assert!(Tensor::range(0.0, 1.0, 1.0, DType::Bool).is_err());
        let l = Tensor::linspace(10.0, 12.0, 3, DType::F32).unwrap();
        assert_eq!(l.to_vec::<f32>().unwrap(), vec![10.0, 11.0, 12.0]);
        assert_eq!(
            Tensor::linspace(1.0, 5.0, 1, DType::F64)
                .unwrap()
                .to_vec::<f64>()
                .unwrap(),
            vec![1.0]
        );
        assert!(Tensor::linspace(0.0, 1.0, 0, DType::F32).is_err());
        assert!(Tensor::linspace(0.0, 1.0, 3, DType::I32).is_err());
        let b = Tensor::linspace(0.0, 1.0, 2, DType::BF16).unwrap();
        assert_eq!(b.to_vec::<bf16>().unwrap()[1], bf16::ONE);
    }

    #[test]
    fn eye() {
        let e = Tensor::eye(2, Some(3), DType::I32).unwrap();
        assert_eq!(e.to_vec::<i32>().unwrap(), vec![1, 0, 0, 0, 1, 0]);
        assert_eq!(Tensor::eye(3, None, DType::F32).unwrap().dims(), &[3, 3]);
    }
}
