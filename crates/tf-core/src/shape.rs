//! Shapes: [`Shape`] (known dimensions, what every eager tensor has), [`PartialShape`]
//! (dimensions that may be unknown, what shape inference works on so tracing can share
//! it) and NumPy/TensorFlow broadcasting.

use crate::error::{Error, Result};
use smallvec::SmallVec;
use std::fmt;
use std::ops::Deref;

/// Inline storage for dimension lists: no heap allocation up to rank 6.
pub type Dims = SmallVec<[usize; 6]>;

/// Strides in elements (not bytes), one per dimension. 0 marks a broadcast dimension.
pub type Strides = SmallVec<[usize; 6]>;

/// The shape of a tensor: its dimension sizes, outermost first.
///
/// Eager tensors always have fully known shapes. A symbolic tensor made while tracing
/// may have unknown dimensions, which read as [`Shape::UNKNOWN`] here; use
/// `Tensor::partial_shape` when handling symbolic tensors.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Dims);

impl Shape {
    /// Sentinel for a dimension unknown while tracing.
    pub const UNKNOWN: usize = usize::MAX;

    /// A shape with the given dimensions.
    pub fn new(dims: &[usize]) -> Shape {
        Shape(SmallVec::from_slice(dims))
    }

    /// The rank-0 shape of a scalar.
    pub fn scalar() -> Shape {
        Shape(SmallVec::new())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Product of the dimensions (1 for a scalar). Saturates on overflow; shapes of real
    /// tensors are checked at construction and never overflow.
    pub fn num_elements(&self) -> usize {
        self.0
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX)
    }

    /// Product of the dimensions, or `None` on overflow or unknown dimensions.
    pub fn checked_num_elements(&self) -> Option<usize> {
        let mut n = 1usize;
        for &d in &self.0 {
            if d == Self::UNKNOWN {
                return None;
            }
            n = n.checked_mul(d)?;
        }
        // Element counts must also fit an isize byte offset for the widest dtype.
        (n <= (isize::MAX as usize) / 8).then_some(n)
    }

    /// Whether every dimension is known.
    pub fn is_fully_defined(&self) -> bool {
        !self.0.contains(&Self::UNKNOWN)
    }

    /// Row-major (C order) strides for this shape.
    pub fn contiguous_strides(&self) -> Strides {
        contiguous_strides(&self.0)
    }

    /// Resolves a possibly negative `axis` against this rank (`-1` is the last axis).
    pub fn axis(&self, op: &'static str, axis: i64) -> Result<usize> {
        normalize_axis(op, axis, self.rank())
    }

    /// Consumes the shape, returning its dimension vector.
    pub fn into_dims(self) -> Dims {
        self.0
    }
}

impl Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.0
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Shape {
        Shape::new(d)
    }
}
impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Shape {
        Shape(SmallVec::from_vec(d))
    }
}
impl From<Dims> for Shape {
    fn from(d: Dims) -> Shape {
        Shape(d)
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Shape {
        Shape::new(&d)
    }
}
impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Shape {
        s.clone()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if *d == Self::UNKNOWN {
                f.write_str("?")?
            } else {
                write!(f, "{d}")?
            }
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A shape whose rank is known but whose dimensions may not be (`None`), as during
/// tracing with an input signature like `[None, 784]`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PartialShape(SmallVec<[Option<usize>; 6]>);

impl PartialShape {
    /// A partial shape from optional dimensions.
    pub fn new(dims: &[Option<usize>]) -> PartialShape {
        PartialShape(SmallVec::from_slice(dims))
    }

    /// A fully known partial shape.
    pub fn known(dims: &[usize]) -> PartialShape {
        PartialShape(
            dims.iter()
                .map(|&d| (d != Shape::UNKNOWN).then_some(d))
                .collect(),
        )
    }

    /// A rank-0 shape.
    pub fn scalar() -> PartialShape {
        PartialShape(SmallVec::new())
    }

    /// The dimensions (`None` = unknown).
    pub fn dims(&self) -> &[Option<usize>] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The fully known shape, if every dimension is known.
    pub fn to_shape(&self) -> Option<Shape> {
        self.0.iter().copied().collect::<Option<Dims>>().map(Shape)
    }

    /// The shape with unknown dimensions as [`Shape::UNKNOWN`].
    pub fn to_shape_lossy(&self) -> Shape {
        Shape(self.0.iter().map(|d| d.unwrap_or(Shape::UNKNOWN)).collect())
    }

    /// Whether every dimension is known.
    pub fn is_fully_defined(&self) -> bool {
        self.0.iter().all(Option::is_some)
    }

    /// Product of the dimensions if all are known.
    pub fn num_elements(&self) -> Option<usize> {
        self.to_shape().and_then(|s| s.checked_num_elements())
    }

    /// Whether a concrete shape matches (same rank; known dimensions equal).
    pub fn is_compatible_with(&self, shape: &[usize]) -> bool {
        self.rank() == shape.len()
            && self
                .0
                .iter()
                .zip(shape)
                .all(|(p, &d)| p.is_none_or(|p| p == d))
    }

    /// Resolves a possibly negative axis against this rank.
    pub fn axis(&self, op: &'static str, axis: i64) -> Result<usize> {
        normalize_axis(op, axis, self.rank())
    }

    /// Appends a dimension.
    pub fn push(&mut self, d: Option<usize>) {
        self.0.push(d);
    }
}

impl Deref for PartialShape {
    type Target = [Option<usize>];
    fn deref(&self) -> &[Option<usize>] {
        &self.0
    }
}

impl From<&Shape> for PartialShape {
    fn from(s: &Shape) -> PartialShape {
        PartialShape::known(s)
    }
}
impl From<Shape> for PartialShape {
    fn from(s: Shape) -> PartialShape {
        PartialShape::known(&s)
    }
}
impl From<&[usize]> for PartialShape {
    fn from(s: &[usize]) -> PartialShape {
        PartialShape::known(s)
    }
}
impl<const N: usize> From<[usize; N]> for PartialShape {
    fn from(s: [usize; N]) -> PartialShape {
        PartialShape::known(&s)
    }
}
impl From<Vec<Option<usize>>> for PartialShape {
    fn from(d: Vec<Option<usize>>) -> PartialShape {
        PartialShape(SmallVec::from_vec(d))
    }
}
impl FromIterator<Option<usize>> for PartialShape {
    fn from_iter<I: IntoIterator<Item = Option<usize>>>(iter: I) -> PartialShape {
        PartialShape(iter.into_iter().collect())
    }
}

impl fmt::Display for PartialShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_shape_lossy(), f)
    }
}
impl fmt::Debug for PartialShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Row-major strides for `dims`.
pub fn contiguous_strides(dims: &[usize]) -> Strides {
    let mut strides: Strides = SmallVec::from_elem(1, dims.len());
    let mut acc = 1usize;
    for i in (0..dims.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(dims[i]);
    }
    strides
}

/// Resolves a possibly negative axis (`-1` = last) against `rank`.
///
/// Errors with `OutOfRange` naming `op` when the axis is outside `[-rank, rank)`.
pub fn normalize_axis(op: &'static str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(Error::out_of_range(
            op,
            format!(
                "axis {axis} is out of range for a tensor of rank {rank} (expected [{}, {rank}))",
                -r
            ),
        ));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// Broadcasts two known shapes with NumPy/TensorFlow rules (align trailing dimensions;
/// each pair must be equal or contain a 1).
///
/// Errors name `op` and both shapes: `AddV2: incompatible shapes for broadcasting: [2,3] vs [4]`.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let rank = a.len().max(b.len());
    let mut out: Dims = SmallVec::with_capacity(rank);
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        let d = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::invalid(
                op,
                format!(
                    "incompatible shapes for broadcasting: {} vs {}",
                    Shape::new(a),
                    Shape::new(b)
                ),
            ));
        };
        out.push(d);
    }
    Ok(Shape(out))
}

/// Broadcasting over partial shapes: an unknown dimension against 1 stays unknown, against
/// a known `n > 1` becomes `n` (as TensorFlow's shape inference assumes).
pub fn broadcast_partial(
    op: &'static str,
    a: &PartialShape,
    b: &PartialShape,
) -> Result<PartialShape> {
    let rank = a.rank().max(b.rank());
    let mut out = PartialShape(SmallVec::with_capacity(rank));
    for i in 0..rank {
        let da = if i + a.rank() >= rank {
            a.0[i + a.rank() - rank]
        } else {
            Some(1)
        };
        let db = if i + b.rank() >= rank {
            b.0[i + b.rank() - rank]
        } else {
            Some(1)
        };
        let d = match (da, db) {
            (Some(x), Some(y)) if x == y || y == 1 => Some(x),
            (Some(1), Some(y)) => Some(y),
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    op,
                    format!("incompatible shapes for broadcasting: {a} vs {b}"),
                ));
            }
            (Some(1), None) | (None, Some(1)) | (None, None) => None,
            (Some(x), None) | (None, Some(x)) => Some(x),
        };
        out.0.push(d);
    }
    Ok(out)
}

/// Strides that read a tensor of shape `dims` (with `strides`) as if broadcast to
/// `target`: broadcast dimensions get stride 0. `dims` must broadcast to `target`.
pub fn broadcast_strides(dims: &[usize], strides: &[usize], target: &[usize]) -> Strides {
    let offset = target.len() - dims.len();
    let mut out: Strides = SmallVec::from_elem(0, target.len());
    for i in 0..dims.len() {
        out[offset + i] = if dims[i] == 1 && target[offset + i] != 1 {
            0
        } else {
            strides[i]
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_and_counts() {
        let s = Shape::from([2, 3, 4]);
        assert_eq!(s.to_string(), "[2,3,4]");
        assert_eq!(s.num_elements(), 24);
        assert_eq!(Shape::scalar().num_elements(), 1);
        assert_eq!(s.contiguous_strides().as_slice(), &[12, 4, 1]);
        assert_eq!(
            Shape::from([usize::MAX / 2, 4]).checked_num_elements(),
            None
        );
        let p = PartialShape::new(&[None, Some(784)]);
        assert_eq!(p.to_string(), "[?,784]");
        assert!(p.is_compatible_with(&[32, 784]));
        assert!(!p.is_compatible_with(&[32, 10]));
        assert_eq!(p.to_shape(), None);
    }

    #[test]
    fn axes() {
        assert_eq!(normalize_axis("Op", -1, 3).unwrap(), 2);
        assert_eq!(normalize_axis("Op", 0, 3).unwrap(), 0);
        let e = normalize_axis("Sum", 3, 3).unwrap_err().to_string();
        assert!(e.contains("Sum") && e.contains("axis 3"), "{e}");
        assert!(normalize_axis("Sum", -4, 3).is_err());
        assert!(normalize_axis("Sum", 0, 0).is_err());
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shapes("Add", &[2, 1, 3], &[4, 1]).unwrap().dims(),
            &[2, 4, 3]
        );
        assert_eq!(broadcast_shapes("Add", &[], &[5]).unwrap().dims(), &[5]);
        assert_eq!(
            broadcast_shapes("Add", &[0, 1], &[1, 7]).unwrap().dims(),
            &[0, 7]
        );
        let e = broadcast_shapes("AddV2", &[2, 3], &[4])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "AddV2: incompatible shapes for broadcasting: [2,3] vs [4]"
        );
        let p = broadcast_partial(
            "Add",
            &PartialShape::new(&[None, Some(1)]),
            &PartialShape::new(&[Some(1), Some(5)]),
        )
        .unwrap();
        assert_eq!(p.dims(), &[None, Some(5)]);
        assert_eq!(
            broadcast_strides(&[3, 1], &[1, 1], &[2, 3, 4]).as_slice(),
            &[0, 1, 0]
        );
    }

    fn dims_strategy() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0usize..4, 0..5)
    }

    proptest! {
        #[test]
        fn broadcast_is_symmetric_and_matches_partial(a in dims_strategy(), b in dims_strategy()) {
            let ab = broadcast_shapes("Op", &a, &b);
            let ba = broadcast_shapes("Op", &b, &a);
            prop_assert_eq!(ab.is_ok(), ba.is_ok());
            let pab = broadcast_partial("Op", &PartialShape::known(&a), &PartialShape::known(&b));
            prop_assert_eq!(ab.is_ok(), pab.is_ok());
            if let (Ok(x), Ok(y), Ok(p)) = (ab, ba, pab) {
                prop_assert_eq!(&x, &y);
                prop_assert_eq!(p.to_shape().unwrap(), x.clone());
                // Every input dimension is 1 or equals the output's.
                for s in [&a, &b] {
                    let off = x.rank() - s.len();
                    for (i, &d) in s.iter().enumerate() {
                        prop_assert!(d == 1 || d == x[off + i]);
                    }
                }
            }
        }

        #[test]
        fn unknown_dims_never_contradict(a in dims_strategy(), b in dims_strategy(), mask in any::<u8>()) {
            // Hiding dims never turns a valid broadcast into an error, and every dim the
            // partial result still knows agrees with the fully known result.
            let full = broadcast_shapes("Op", &a, &b);
            let hide = |v: &Vec<usize>, shift: u32| -> PartialShape {
                v.iter().enumerate().map(|(i, &d)| if mask >> ((i as u32 + shift) % 8) & 1 == 1 { None } else { Some(d) }).collect()
            };
            let p = broadcast_partial("Op", &hide(&a, 0), &hide(&b, 3));
            if let Ok(full) = full {
                let p = p.unwrap();
                prop_assert!(p.is_compatible_with(&full), "{} vs {}", p, full);
            }
        }
    }
}
