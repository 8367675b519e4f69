//! Sources: datasets built from values in memory, ranges and generators.

mod elements;
mod generator;
mod range;
mod tensor_slices;

pub(crate) use elements::{SpecOnly, VecSource};
