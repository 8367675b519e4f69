//! Operator overloads on `&Tensor` (`+ - * /` and unary `-`, returning `Result<Tensor>`;
//! owned `Tensor` operands work too, so results chain after `?`) and the math methods of
//! [`Tensor`] (`x.exp()`, `x.pow(&y)`, ...).
//!
//! ```
//! use tf_core::{DType, Tensor};
//! let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3])?;
//! let b = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], [3])?;
//! let c: Tensor = ((&a + &b)? * 2.0)?; // scalars are cast to the tensor's dtype
//! assert_eq!(c.to_vec::<f32>()?, vec![22.0, 44.0, 66.0]);
//! let i = Tensor::from_vec(vec![3i32, 4], [2])?;
//! assert_eq!((&i / 2i32)?.dtype(), DType::F64); // `/` is true division, like TF's truediv
//! assert_eq!((-&a)?.to_vec::<f32>()?, vec![-1.0, -2.0, -3.0]);
//! # Ok::<(), tf_core::Error>(())
//! ```

use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::tensor::Tensor;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// A Rust number usable as the right-hand side of a tensor operator (`&x * 2.0`). Since
/// f32, f64, i32 and i64 all qualify, an unsuffixed literal needs the result type to be
/// known (`let y: Tensor = (&x * 2.0)?;`), or a suffix when chaining
/// (`(&x * 2.0f32)?.exp()`). It
/// becomes a scalar tensor of the left operand's dtype, converted with `tf.cast`
/// semantics (so `&int_tensor + 1.7` adds 1, and `&bool_tensor + 1` is a dtype error
/// from the op), and then broadcasts.
pub trait ScalarOperand: Copy {
    /// The value as a rank-0 tensor of `dtype`.
    fn to_scalar_tensor(self, dtype: DType) -> Tensor;
}

impl ScalarOperand for f32 {
    fn to_scalar_tensor(self, dtype: DType) -> Tensor {
        crate::with_dtype!(dtype, T => Tensor::from_scalar(self.cast::<T>()))
    }
}

impl ScalarOperand for f64 {
    fn to_scalar_tensor(self, dtype: DType) -> Tensor {
        crate::with_dtype!(dtype, T => Tensor::from_scalar(self.cast::<T>()))
    }
}

impl ScalarOperand for i32 {
    fn to_scalar_tensor(self, dtype: DType) -> Tensor {
        crate::with_dtype!(dtype, T => Tensor::from_scalar(self.cast::<T>()))
    }
}

impl ScalarOperand for i64 {
    fn to_scalar_tensor(self, dtype: DType) -> Tensor {
        crate::with_dtype!(dtype, T => Tensor::from_scalar(self.cast::<T>()))
    }
}

macro_rules! binary_operator {
    ($Trait:ident, $method:ident, $f:path) => {
        impl $Trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            /// The op with broadcasting; see the function of the same meaning in `ops`.
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                $f(self, rhs)
            }
        }
        impl $Trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            /// The op with broadcasting.
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                $f(self, &rhs)
            }
        }
        impl $Trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            /// The op with broadcasting.
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                $f(&self, rhs)
            }
        }
        impl $Trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            /// The op with broadcasting.
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                $f(&self, &rhs)
            }
        }
        binary_operator!(@scalar $Trait, $method, $f, f32, f64, i32, i64);
    };
    (@scalar $Trait:ident, $method:ident, $f:path, $($s:ty),*) => {$(
        impl $Trait<$s> for &Tensor {
            type Output = Result<Tensor>;
            /// The op with a scalar cast to the tensor's dtype (see [`ScalarOperand`]).
            fn $method(self, rhs: $s) -> Result<Tensor> {
                $f(self, &rhs.to_scalar_tensor(self.dtype()))
            }
        }
        impl $Trait<$s> for Tensor {
            type Output = Result<Tensor>;
            /// The op with a scalar cast to the tensor's dtype (see [`ScalarOperand`]).
            fn $method(self, rhs: $s) -> Result<Tensor> {
                $f(&self, &rhs.to_scalar_tensor(self.dtype()))
            }
        }
    )*};
}

binary_operator!(Add, add, super::add);
binary_operator!(Sub, sub, super::sub);
binary_operator!(Mul, mul, super::mul);
binary_operator!(Div, div, super::div);

impl Neg for &Tensor {
    type Output = Result<Tensor>;
    /// `tf.negative` (signed dtypes).
    fn neg(self) -> Result<Tensor> {
        super::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Result<Tensor>;
    /// `tf.negative` (signed dtypes).
    fn neg(self) -> Result<Tensor> {
        super::neg(&self)
    }
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self) -> Result<Tensor> {
            super::$name(self)
        }
    )*};
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self, other: &Tensor) -> Result<Tensor> {
            super::$name(self, other)
        }
    )*};
}

/// Math methods, each the `ops` function of the same name (same dtype rules and errors).
impl Tensor {
    unary_methods! {
        /// [`ops::abs`](crate::ops::abs).
        abs;
        /// [`ops::sign`](crate::ops::sign).
        sign;
        /// [`ops::square`](crate::ops::square).
        square;
        /// [`ops::reciprocal`](crate::ops::reciprocal).
        reciprocal;
        /// [`ops::round`](crate::ops::round) (half to even).
        round;
        /// [`ops::floor`](crate::ops::floor).
        floor;
        /// [`ops::ceil`](crate::ops::ceil).
        ceil;
        /// [`ops::exp`](crate::ops::exp).
        exp;
        /// [`ops::expm1`](crate::ops::expm1).
        expm1;
        /// [`ops::log`](crate::ops::log).
        log;
        /// [`ops::log1p`](crate::ops::log1p).
        log1p;
        /// [`ops::sqrt`](crate::ops::sqrt).
        sqrt;
        /// [`ops::rsqrt`](crate::ops::rsqrt).
        rsqrt;
        /// [`ops::sin`](crate::ops::sin).
        sin;
        /// [`ops::cos`](crate::ops::cos).
        cos;
        /// [`ops::tanh`](crate::ops::tanh).
        tanh;
        /// [`ops::sigmoid`](crate::ops::sigmoid).
        sigmoid;
        /// [`ops::erf`](crate::ops::erf).
        erf;
        /// [`ops::erfc`](crate::ops::erfc).
        erfc;
        /// [`ops::relu`](crate::ops::relu).
        relu;
        /// [`ops::relu6`](crate::ops::relu6).
        relu6;
        /// [`ops::elu`](crate::ops::elu).
        elu;
        /// [`ops::selu`](crate::ops::selu).
        selu;
        /// [`ops::softplus`](crate::ops::softplus).
        softplus;
        /// [`ops::softsign`](crate::ops::softsign).
        softsign;
        /// [`ops::silu`](crate::ops::silu).
        silu;
        /// [`ops::is_nan`](crate::ops::is_nan).
        is_nan;
        /// [`ops::is_finite`](crate::ops::is_finite).
        is_finite;
        /// [`ops::logical_not`](crate::ops::logical_not).
        logical_not;
    }

    binary_methods! {
        /// [`ops::pow`](crate::ops::pow).
        pow;
        /// [`ops::maximum`](crate::ops::maximum).
        maximum;
        /// [`ops::minimum`](crate::ops::minimum).
        minimum;
        /// [`ops::squared_difference`](crate::ops::squared_difference).
        squared_difference;
        /// [`ops::floor_div`](crate::ops::floor_div).
        floor_div;
        /// [`ops::floor_mod`](crate::ops::floor_mod).
        floor_mod;
        /// [`ops::equal`](crate::ops::equal).
        equal;
        /// [`ops::not_equal`](crate::ops::not_equal).
        not_equal;
        /// [`ops::less`](crate::ops::less).
        less;
        /// [`ops::less_equal`](crate::ops::less_equal).
        less_equal;
        /// [`ops::greater`](crate::ops::greater).
        greater;
        /// [`ops::greater_equal`](crate::ops::greater_equal).
        greater_equal;
        /// [`ops::logical_and`](crate::ops::logical_and).
        logical_and;
        /// [`ops::logical_or`](crate::ops::logical_or).
        logical_or;
    }

    /// [`ops::leaky_relu`](crate::ops::leaky_relu).
    pub fn leaky_relu(&self, alpha: f64) -> Result<Tensor> {
        super::leaky_relu(self, alpha)
    }

    /// [`ops::gelu`](crate::ops::gelu).
    pub fn gelu(&self, approximate: bool) -> Result<Tensor> {
        super::gelu(self, approximate)
    }

    /// [`ops::cast`](crate::ops::cast): `tf.cast(self, dtype)`.
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        super::cast(self, dtype)
    }

    /// [`ops::clip_by_value`](crate::ops::clip_by_value) with scalar bounds cast to this
    /// tensor's dtype (see [`ScalarOperand`]).
    pub fn clip_by_value(
        &self,
        min: impl ScalarOperand,
        max: impl ScalarOperand,
    ) -> Result<Tensor> {
        let dt = self.dtype();
        super::clip_by_value(self, &min.to_scalar_tensor(dt), &max.to_scalar_tensor(dt))
    }
}
