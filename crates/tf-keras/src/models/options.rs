//! Options of `fit`: [`FitOptions`] (Keras's keyword arguments) and [`Verbose`].

use crate::callbacks::Callback;
use std::io::IsTerminal;
use std::rc::Rc;
use tf_core::Tensor;
use tf_distribute::{AutoShardPolicy, Strategy};

/// Progress display of `fit` / `evaluate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verbose {
    /// A progress bar on a terminal, one line per epoch otherwise (Keras's "auto").
    #[default]
    Auto,
    /// Nothing.
    Silent,
    /// A live progress bar.
    ProgressBar,
    /// One line per epoch.
    OneLinePerEpoch,
}

impl Verbose {
    pub(crate) fn level(self) -> u8 {
        match self {
            Verbose::Silent => 0,
            Verbose::ProgressBar => 1,
            Verbose::OneLinePerEpoch => 2,
            Verbose::Auto => {
                if std::io::stdout().is_terminal() {
                    1
                } else {
                    2
                }
            }
        }
    }
}

/// Options of [`Model::fit`](super::Model::fit) (Keras's keyword arguments).
pub struct FitOptions {
    /// Number of epochs (default 1).
    pub epochs: usize,
    /// Samples per batch (default 32).
    pub batch_size: usize,
    /// Progress display.
    pub verbose: Verbose,
    /// Fraction of the data (taken from the end, before shuffling) held out for validation.
    pub validation_split: f64,
    /// Explicit validation inputs and targets (overrides `validation_split`).
    pub validation_data: Option<(Vec<Tensor>, Vec<Tensor>)>,
    /// Validation batches from a tf-data `Dataset` of `(x, y)` or `(x, y, sample_weight)`
    /// elements (overrides `validation_data` and `validation_split`).
    pub validation_dataset: Option<tf_data::Dataset>,
    /// Reshuffle the training samples every epoch (default true).
    pub shuffle: bool,
    /// Per-class loss weights (`(class, weight)`; other classes weigh 1).
    pub class_weight: Vec<(usize, f64)>,
    /// Per-sample loss weights `[n]`.
    pub sample_weight: Option<Tensor>,
    /// Callbacks.
    pub callbacks: Vec<Box<dyn Callback>>,
    /// The epoch to start at (for resuming).
    pub initial_epoch: usize,
    /// Seed for shuffling (default: drawn from tf-core's seeded generator).
    pub seed: Option<u64>,
    /// Data-parallel training across workers (TensorFlow's `strategy.scope()`):
    /// `batch_size` (and a dataset's batches) are global batches, split by rows between
    /// the workers, and each worker's rows again between its local replicas
    /// (`MirroredStrategy` over several devices: each replica computes its gradients
    /// under its device scope, the gradients are summed and applied once); weights are broadcast from rank 0 before the first step, gradients
    /// all-reduced every step, logs averaged over workers, the shuffle seed taken from
    /// rank 0, an epoch ends for all when one worker runs out of batches (or a global
    /// batch has fewer rows than workers), and only rank 0 shows progress and runs
    /// file-writing callbacks. Steps are traced as without a strategy (gradient graph,
    /// host all-reduce, optimizer-update graph). A dataset is sharded per
    /// [`FitOptions::auto_shard_policy`].
    pub strategy: Option<Rc<dyn Strategy>>,
    /// How `fit_dataset` under a strategy splits the dataset between workers
    /// (TensorFlow's `options.experimental_distribute.auto_shard_policy`; default
    /// `Auto`). `File` (and `Auto` when the pipeline reads a list of at least one file
    /// per worker: TFRecord / text / CSV datasets, `list_files`): each worker reads
    /// whole files, its batches split into `workers` steps so a step's global batch
    /// keeps the dataset's batch size; fewer files than workers is an error for `File`.
    /// `Data` (and `Auto` otherwise): every worker reads every global batch and trains
    /// on its rows. `Off`: every worker reads the whole dataset, its batches split like
    /// `File`'s. Shuffles inside a dataset need an explicit seed under `Data`, or the
    /// workers' rows overlap.
    pub auto_shard_policy: AutoShardPolicy,
    /// Batches per epoch (Keras's `steps_per_epoch`); the data continues where the
    /// previous epoch stopped and restarts when it runs out. Required for infinite
    /// datasets.
    pub steps_per_epoch: Option<usize>,
    /// Validation batches per epoch (Keras's `validation_steps`), from the start of
    /// the validation data each time.
    pub validation_steps: Option<usize>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            verbose: Verbose::Auto,
            validation_split: 0.0,
            validation_data: None,
            validation_dataset: None,
            shuffle: true,
            class_weight: Vec::new(),
            sample_weight: None,
            callbacks: Vec::new(),
            initial_epoch: 0,
            seed: None,
            strategy: None,
            auto_shard_policy: AutoShardPolicy::Auto,
            steps_per_epoch: None,
            validation_steps: None,
        }
    }
}

impl FitOptions {
    /// Keras's defaults.
    pub fn new() -> FitOptions {
        FitOptions::default()
    }
    /// Sets `epochs`.
    pub fn epochs(mut self, e: usize) -> Self {
        self.epochs = e;
        self
    }
    /// Sets `batch_size`.
    pub fn batch_size(mut self, b: usize) -> Self {
        self.batch_size = b;
        self
    }
    /// Sets `verbose`.
    pub fn verbose(mut self, v: Verbose) -> Self {
        self.verbose = v;
        self
    }
    /// Sets `validation_split`.
    pub fn validation_split(mut self, f: f64) -> Self {
        self.validation_split = f;
        self
    }
    /// Sets `validation_data` for a single-input, single-output model.
    pub fn validation_data(mut self, x: &Tensor, y: &Tensor) -> Self {
        self.validation_data = Some((vec![x.clone()], vec![y.clone()]));
        self
    }
    /// Validates on a batched tf-data `Dataset` after each epoch.
    pub fn validation_dataset(mut self, ds: &tf_data::Dataset) -> Self {
        self.validation_dataset = Some(ds.clone());
        self
    }
    /// Sets `shuffle`.
    pub fn shuffle(mut self, s: bool) -> Self {
        self.shuffle = s;
        self
    }
    /// Sets `class_weight`.
    pub fn class_weight(mut self, w: &[(usize, f64)]) -> Self {
        self.class_weight = w.to_vec();
        self
    }
    /// Sets `sample_weight`.
    pub fn sample_weight(mut self, w: &Tensor) -> Self {
        self.sample_weight = Some(w.clone());
        self
    }
    /// Adds a callback.
    pub fn callback(mut self, c: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(c));
        self
    }
    /// Sets `initial_epoch`.
    pub fn initial_epoch(mut self, e: usize) -> Self {
        self.initial_epoch = e;
        self
    }
    /// Sets `steps_per_epoch`.
    pub fn steps_per_epoch(mut self, n: usize) -> Self {
        self.steps_per_epoch = Some(n);
        self
    }
    /// Sets `validation_steps`.
    pub fn validation_steps(mut self, n: usize) -> Self {
        self.validation_steps = Some(n);
        self
    }
    /// Fixes the shuffling seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self
    }
    /// Sets `auto_shard_policy` (see [`FitOptions::auto_shard_policy`]).
    pub fn auto_shard_policy(mut self, policy: AutoShardPolicy) -> Self {
        self.auto_shard_policy = policy;
        self
    }
    /// Trains data-parallel under `strategy` (see [`FitOptions::strategy`]).
    pub fn strategy(mut self, strategy: Rc<dyn Strategy>) -> Self {
        self.strategy = Some(strategy);
        self
    }
}
