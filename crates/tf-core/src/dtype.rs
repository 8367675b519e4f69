//! Element types: [`DType`], the [`Element`] trait that ties Rust types to dtypes, and
//! [`DTypeSet`] for the dtype rules of ops.

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor, named as TensorFlow names it (`float32`, `int64`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// 32-bit IEEE float (`tf.float32`).
    F32,
    /// 64-bit IEEE float (`tf.float64`).
    F64,
    /// 16-bit IEEE half float (`tf.float16`).
    F16,
    /// 16-bit brain float (`tf.bfloat16`).
    BF16,
    /// Signed 8-bit integer (`tf.int8`).
    I8,
    /// Unsigned 8-bit integer (`tf.uint8`).
    U8,
    /// Signed 32-bit integer (`tf.int32`).
    I32,
    /// Signed 64-bit integer (`tf.int64`).
    I64,
    /// Boolean (`tf.bool`).
    Bool,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 9] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::Bool,
    ];

    /// TensorFlow's name for the dtype (`"float32"`, `"bfloat16"`, `"bool"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
        }
    }

    /// Parses TensorFlow's dtype names (`"float32"`, `"float"`, `"half"`, `"double"`, `"int32"`, ...).
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "int8" => DType::I8,
            "uint8" => DType::U8,
            "int32" => DType::I32,
            "int64" => DType::I64,
            "bool" => DType::Bool,
            _ => return None,
        })
    }

    /// Size of one element in bytes.
    pub fn size_of(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// True for the four floating-point dtypes.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    /// True for the signed and unsigned integer dtypes.
    pub fn is_int(self) -> bool {
        matches!(self, DType::I8 | DType::U8 | DType::I32 | DType::I64)
    }

    /// True for integer dtypes with a sign.
    pub fn is_signed(self) -> bool {
        matches!(self, DType::I8 | DType::I32 | DType::I64) || self.is_float()
    }

    /// True for every dtype but `bool`.
    pub fn is_numeric(self) -> bool {
        self != DType::Bool
    }

    /// The dtype's bit in a [`DTypeSet`].
    pub const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of dtypes, used to state which dtypes an op accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DTypeSet(u16);

impl DTypeSet {
    /// The empty set.
    pub const NONE: DTypeSet = DTypeSet(0);
    /// float16, bfloat16, float32, float64.
    pub const FLOAT: DTypeSet =
        DTypeSet(DType::F32.bit() | DType::F64.bit() | DType::F16.bit() | DType::BF16.bit());
    /// int8, uint8, int32, int64.
    pub const INT: DTypeSet =
        DTypeSet(DType::I8.bit() | DType::U8.bit() | DType::I32.bit() | DType::I64.bit());
    /// Signed numbers: floats, int8, int32, int64.
    pub const SIGNED: DTypeSet =
        DTypeSet(Self::FLOAT.0 | DType::I8.bit() | DType::I32.bit() | DType::I64.bit());
    /// Floats and integers.
    pub const NUMERIC: DTypeSet = DTypeSet(Self::FLOAT.0 | Self::INT.0);
    /// bool only.
    pub const BOOL: DTypeSet = DTypeSet(DType::Bool.bit());
    /// Every dtype.
    pub const ALL: DTypeSet = DTypeSet(Self::NUMERIC.0 | DType::Bool.bit());

    /// A set holding exactly `dtypes`.
    pub const fn of(dtypes: &[DType]) -> DTypeSet {
        let mut bits = 0;
        let mut i = 0;
        while i < dtypes.len() {
            bits |= dtypes[i].bit();
            i += 1;
        }
        DTypeSet(bits)
    }

    /// Union of two sets.
    pub const fn union(self, other: DTypeSet) -> DTypeSet {
        DTypeSet(self.0 | other.0)
    }

    /// Whether `dtype` is in the set.
    pub const fn contains(self, dtype: DType) -> bool {
        self.0 & dtype.bit() != 0
    }

    /// The members, in [`DType::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = DType> {
        DType::ALL.into_iter().filter(move |d| self.contains(*d))
    }
}

impl fmt::Display for DTypeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(DType::name).collect();
        write!(f, "{{{}}}", names.join(", "))
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is the element of some [`DType`]: `f32`, `f64`, `half::f16`,
/// `half::bf16`, `i8`, `u8`, `i32`, `i64` and `bool`. Sealed.
pub trait Element:
    Copy
    + Send
    + Sync
    + Default
    + PartialEq
    + PartialOrd
    + fmt::Debug
    + 'static
    + sealed::Sealed
    + CastTarget
{
    /// The dtype of this element type.
    const DTYPE: DType;
    /// Zero (`false` for bool).
    const ZERO: Self;
    /// One (`true` for bool).
    const ONE: Self;
    /// Converts with TensorFlow's `tf.cast` semantics (float to int truncates toward
    /// zero and saturates; NaN becomes 0; anything to bool is `!= 0`).
    fn cast<U: Element>(self) -> U;
    /// The value as f64 (exact for every type but i64 beyond 2^53).
    fn to_f64(self) -> f64;
    /// The value as i64 (floats truncate toward zero, saturating).
    fn to_i64(self) -> i64;
    /// Converts from f64 with `tf.cast` semantics.
    fn from_f64(v: f64) -> Self;
    /// Converts from i64 with `tf.cast` semantics (wrapping for narrower integers).
    fn from_i64(v: i64) -> Self;
    /// The typed view of a host buffer holding this type, if it does.
    fn slice(buf: &crate::storage::HostBuffer) -> Option<&[Self]>;
    /// The typed, mutable vector of a host buffer holding this type, if it does.
    fn vec_mut(buf: &mut crate::storage::HostBuffer) -> Option<&mut Vec<Self>>;
    /// Wraps a vector into a host buffer.
    fn into_buffer(v: Vec<Self>) -> crate::storage::HostBuffer;
}

macro_rules! impl_element_common {
    ($t:ty, $dt:ident, $variant:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            const ZERO: Self = <$t as ElementConsts>::Z;
            const ONE: Self = <$t as ElementConsts>::O;
            #[inline(always)]
            fn cast<U: Element>(self) -> U {
                <U as CastFrom<$t>>::cast_from_dispatch(self)
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                <f64 as CastFrom<$t>>::cast_from_dispatch(self)
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                <i64 as CastFrom<$t>>::cast_from_dispatch(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                <$t as CastFrom<f64>>::cast_from_dispatch(v)
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                <$t as CastFrom<i64>>::cast_from_dispatch(v)
            }
            #[inline]
            fn slice(buf: &crate::storage::HostBuffer) -> Option<&[Self]> {
                match buf {
                    crate::storage::HostBuffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            #[inline]
            fn vec_mut(buf: &mut crate::storage::HostBuffer) -> Option<&mut Vec<Self>> {
                match buf {
                    crate::storage::HostBuffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            #[inline]
            fn into_buffer(v: Vec<Self>) -> crate::storage::HostBuffer {
                crate::storage::HostBuffer::$variant(v)
            }
        }
    };
}

/// Zero and one per element type (helper for the `Element` constants).
trait ElementConsts {
    const Z: Self;
    const O: Self;
}
macro_rules! consts {
    ($($t:ty => $z:expr, $o:expr;)*) => {$(
        impl ElementConsts for $t { const Z: Self = $z; const O: Self = $o; }
    )*};
}
consts! {
    f32 => 0.0, 1.0;
    f64 => 0.0, 1.0;
    f16 => f16::ZERO, f16::ONE;
    bf16 => bf16::ZERO, bf16::ONE;
    i8 => 0, 1;
    u8 => 0, 1;
    i32 => 0, 1;
    i64 => 0, 1;
    bool => false, true;
}

impl_element_common!(f32, F32, F32);
impl_element_common!(f64, F64, F64);
impl_element_common!(f16, F16, F16);
impl_element_common!(bf16, BF16, BF16);
impl_element_common!(i8, I8, I8);
impl_element_common!(u8, U8, U8);
impl_element_common!(i32, I32, I32);
impl_element_common!(i64, I64, I64);
impl_element_common!(bool, Bool, Bool);

/// Conversion from `S` with `tf.cast` semantics; implemented for every (S, D) pair of
/// element types. `cast_from_dispatch` is a static dispatch through the source type.
pub trait CastFrom<S> {
    /// Converts `v`.
    fn cast_from_dispatch(v: S) -> Self;
}

// Primitive numeric pairs: Rust's `as` already truncates toward zero, saturates and maps
// NaN to 0 for float->int, wraps for int->int, and rounds to nearest for ->float.
macro_rules! cast_prim {
    ($($s:ty),*) => {
        cast_prim!(@outer [$($s),*] [$($s),*]);
    };
    (@outer [$($s:ty),*] $all:tt) => {
        $( cast_prim!(@inner $s $all); )*
    };
    (@inner $s:ty [$($d:ty),*]) => {
        $(
            impl CastFrom<$s> for $d {
                #[inline(always)]
                fn cast_from_dispatch(v: $s) -> $d { v as $d }
            }
        )*
    };
}
cast_prim!(f32, f64, i8, u8, i32, i64);

// Half types go through f32 (exact for f16/bf16 -> f32; f32 -> half rounds to nearest even).
macro_rules! cast_half {
    ($h:ty) => {
        impl CastFrom<$h> for f32 {
            #[inline(always)]
            fn cast_from_dispatch(v: $h) -> f32 {
                v.to_f32()
            }
        }
        impl CastFrom<$h> for f64 {
            #[inline(always)]
            fn cast_from_dispatch(v: $h) -> f64 {
                v.to_f64()
            }
        }
        impl CastFrom<f32> for $h {
            #[inline(always)]
            fn cast_from_dispatch(v: f32) -> $h {
                <$h>::from_f32(v)
            }
        }
        impl CastFrom<f64> for $h {
            #[inline(always)]
            fn cast_from_dispatch(v: f64) -> $h {
                <$h>::from_f64(v)
            }
        }
        cast_half!(@ints $h, i8, u8, i32, i64);
        impl CastFrom<$h> for bool {
            #[inline(always)]
            fn cast_from_dispatch(v: $h) -> bool {
                v.to_f32() != 0.0
            }
        }
        impl CastFrom<bool> for $h {
            #[inline(always)]
            fn cast_from_dispatch(v: bool) -> $h {
                if v { <$h>::ONE } else { <$h>::ZERO }
            }
        }
    };
    (@ints $h:ty, $($i:ty),*) => {$(
        impl CastFrom<$h> for $i {
            #[inline(always)]
            fn cast_from_dispatch(v: $h) -> $i { v.to_f32() as $i }
        }
        impl CastFrom<$i> for $h {
            #[inline(always)]
            fn cast_from_dispatch(v: $i) -> $h { <$h>::from_f64(v as f64) }
        }
    )*};
}
cast_half!(f16);
cast_half!(bf16);

impl CastFrom<f16> for f16 {
    #[inline(always)]
    fn cast_from_dispatch(v: f16) -> f16 {
        v
    }
}
impl CastFrom<bf16> for bf16 {
    #[inline(always)]
    fn cast_from_dispatch(v: bf16) -> bf16 {
        v
    }
}
impl CastFrom<f16> for bf16 {
    #[inline(always)]
    fn cast_from_dispatch(v: f16) -> bf16 {
        bf16::from_f32(v.to_f32())
    }
}
impl CastFrom<bf16> for f16 {
    #[inline(always)]
    fn cast_from_dispatch(v: bf16) -> f16 {
        f16::from_f32(v.to_f32())
    }
}

macro_rules! cast_bool {
    ($($t:ty),*) => {$(
        impl CastFrom<$t> for bool {
            #[inline(always)]
            fn cast_from_dispatch(v: $t) -> bool { v != (0 as $t) }
        }
        impl CastFrom<bool> for $t {
            #[inline(always)]
            fn cast_from_dispatch(v: bool) -> $t { v as u8 as $t }
        }
    )*};
}
cast_bool!(f32, f64, i8, u8, i32, i64);
impl CastFrom<bool> for bool {
    #[inline(always)]
    fn cast_from_dispatch(v: bool) -> bool {
        v
    }
}

/// `Element` requires casting into every other element type; this blanket bound is
/// what `Element::cast` dispatches through.
pub trait CastTarget:
    CastFrom<f32>
    + CastFrom<f64>
    + CastFrom<f16>
    + CastFrom<bf16>
    + CastFrom<i8>
    + CastFrom<u8>
    + CastFrom<i32>
    + CastFrom<i64>
    + CastFrom<bool>
{
}
impl<T> CastTarget for T where
    T: CastFrom<f32>
        + CastFrom<f64>
        + CastFrom<f16>
        + CastFrom<bf16>
        + CastFrom<i8>
        + CastFrom<u8>
        + CastFrom<i32>
        + CastFrom<i64>
        + CastFrom<bool>
{
}

/// Runs `$body` with the type alias `$T` bound to the Rust element type of `$dtype`.
///
/// ```
/// use tf_core::{DType, with_dtype};
/// let size = with_dtype!(DType::F64, T => std::mem::size_of::<T>());
/// assert_eq!(size, 8);
/// ```
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::bf16;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Like [`with_dtype!`] for the numeric dtypes (all but bool); any other dtype is bound
/// to `$other` and evaluates `$fallback`.
#[macro_export]
macro_rules! with_numeric {
    ($dtype:expr, $T:ident => $body:expr, $other:ident => $fallback:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::bf16;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            #[allow(unreachable_patterns)]
            $other => $fallback,
        }
    };
}

/// Like [`with_dtype!`] for the float dtypes; any other dtype is bound to `$other` and
/// evaluates `$fallback`.
#[macro_export]
macro_rules! with_float {
    ($dtype:expr, $T:ident => $body:expr, $other:ident => $fallback:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::bf16;
                $body
            }
            #[allow(unreachable_patterns)]
            $other => $fallback,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::from_name("complex64"), None);
    }

    #[test]
    fn casts_follow_tf_cast() {
        assert_eq!((-2.7f32).cast::<i32>(), -2);
        assert_eq!(f32::NAN.cast::<i32>(), 0);
        assert_eq!(1e20f64.cast::<i32>(), i32::MAX);
        assert_eq!(300i32.cast::<u8>(), 44); // wraps like C++ static_cast
        assert!(0.5f32.cast::<bool>());
        assert!(!0i64.cast::<bool>());
        assert_eq!(true.cast::<f16>(), f16::ONE);
        assert_eq!(f16::from_f32(1.5).cast::<bf16>(), bf16::from_f32(1.5));
        assert_eq!(bf16::from_f32(-3.0).cast::<i8>(), -3);
        assert_eq!(i64::MAX.cast::<i64>(), i64::MAX);
    }

    #[test]
    fn sets() {
        assert!(DTypeSet::FLOAT.contains(DType::BF16));
        assert!(!DTypeSet::FLOAT.contains(DType::I32));
        assert!(DTypeSet::NUMERIC.contains(DType::U8));
        assert!(!DTypeSet::NUMERIC.contains(DType::Bool));
        assert_eq!(DTypeSet::ALL.iter().count(), 9);
        assert_eq!(
            DTypeSet::of(&[DType::I32, DType::I64]).to_string(),
            "{int32, int64}"
        );
    }
}
