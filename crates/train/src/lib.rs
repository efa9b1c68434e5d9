//! Training, evaluating and applying reputation models on feature datasets.
//!
//! - [`FeatureSource`] opens a feature dataset (manifest, featurizer spec) on any object store
//!   and lists its row groups per split ([`Unit`]).
//! - [`BatchStream`] streams [`Batch`]es: row groups shuffled by (seed, epoch), decoded ahead by
//!   worker threads, rows mixed in a seeded shuffle buffer; a resume skips consumed rows.
//! - [`train`] runs the loop for a [`RunConfig`] and writes the run folder ([`RunDir`]):
//!   checkpoints, `metrics.jsonl`, the final model.
//! - [`Predictor`] loads a run's model and predicts batches; [`predict_split`] a whole split.
//! - [`write_predictions`] writes a run's class probabilities for every record, keyed by
//!   record, as a predictions dataset (for later passes and scoring).
//! - [`dga`] builds names-only datasets from domain lists for the DGA detector.

mod config;
mod data;
pub mod dga;
mod error;
mod loader;
mod metrics;
mod predict;
mod predictions;
mod run;
pub mod synthetic;
mod trainer;

pub use config::{ClassWeights, PassConfig, RunConfig, Schedule, TrainConfig};
pub use data::{Batch, Block, FeatureSource, UNLABELLED, Unit, Widths, batch_of, read_unit};
pub use error::{Error, Result};
pub use loader::{BatchStream, StreamOptions, derive_seed};
pub use metrics::{Confusion, argmax_rows};
pub use pdnsrep_model::Backend;
pub use predict::{Predictor, SplitPredictions, predict_split};
pub use predictions::{
    PREDICTIONS_KIND, PredictionsSummary, predictions_schema, write_predictions,
};
pub use run::{CheckpointPointer, Cursor, RunDir, RunInfo, TrainState};
pub use trainer::{
    EpochReport, Observer, Quiet, StepReport, TrainRequest, TrainSummary, class_weights,
    learning_rate, train,
};
