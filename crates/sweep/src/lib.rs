//! Multi-pass training and hyperparameter sweeps (Lison & Mavroeidis 2017, section 4.3 and
//! Table II).
//!
//! [`passes`] holds the stages between two passes: the previous model predicts every record,
//! and the neighbour features are recomputed from its probabilities. A [`Sweep`] expands a
//! sweep file into trials; [`run_sweep`] trains them as a tree of passes (trials that differ
//! only in their pass count share their first passes), keeps all its state under the sweep's
//! folder on any object store so a killed sweep resumes where it stopped, and writes the
//! paper's table for each dataset as Markdown and as a self-contained HTML page.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
pub mod passes;
mod report;
mod runner;
mod spec;

pub use error::{Error, Result};
pub use report::{Best, PassRow, Report, Row};
pub use runner::{Node, NodeResult, Plan, PlannedTrial, SweepOutcome, SweepRequest, run_sweep};
pub use spec::{DEFAULT_LABEL, MAX_TRIALS, Selector, Sweep, Trial};
