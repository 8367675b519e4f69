//! Helpers shared by the thread-group tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::rc::Rc;
use tf_distribute::{
    CollectiveOptions, LocalGroup, MultiWorkerMirroredStrategy, ReplicaContext, Strategy,
};

/// Runs `f` on `n` threads, each inside a replica context of its own member of a
/// [`LocalGroup`] whose collectives use `options`; returns the results by rank.
pub fn replicas_with<R: Send + 'static>(
    n: usize,
    options: CollectiveOptions,
    f: impl Fn(&ReplicaContext) -> R + Send + Sync + 'static,
) -> Vec<R> {
    let f = std::sync::Arc::new(f);
    let hs: Vec<_> = LocalGroup::new(n)
        .unwrap()
        .into_iter()
        .map(|c| {
            let f = f.clone();
            let options = options.clone();
            std::thread::spawn(move || {
                let s: Rc<dyn Strategy> = Rc::new(
                    MultiWorkerMirroredStrategy::with_communicator(Box::new(c))
                        .with_options(options),
                );
                let guard = ReplicaContext::enter(s);
                f(guard.context())
            })
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).collect()
}

/// [`replicas_with`] the default options.
pub fn replicas<R: Send + 'static>(
    n: usize,
    f: impl Fn(&ReplicaContext) -> R + Send + Sync + 'static,
) -> Vec<R> {
    replicas_with(n, CollectiveOptions::default(), f)
}
