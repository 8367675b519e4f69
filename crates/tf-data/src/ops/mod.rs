//! Transformations: each module adds its methods to [`Dataset`](crate::Dataset) and
//! implements [`DatasetSource`](crate::DatasetSource) for its stage.

mod batch;
mod cache;
mod cache_codec;
mod concatenate;
mod enumerate;
mod filter;
mod interleave;
mod map;
mod padded_batch;
mod parallel_map;
mod prefetch;
mod rebatch;
mod repeat;
mod shard;
mod shuffle;
mod take_skip;
mod unbatch;
mod window;
mod zip;

pub use cache::CACHE_FILE_MAGIC;
pub use interleave::InterleaveOptions;
pub use map::MapOptions;
pub use padded_batch::PaddedShapes;
pub(crate) use prefetch::PrefetchIter;
