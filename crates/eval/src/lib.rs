//! Evaluates reputation models the way Lison & Mavroeidis (2017, section 5) report them:
//! per-class precision, recall and F1, accuracy and macro-F1, plus ranking metrics the paper
//! leaves out (PR-AUC, ROC-AUC and the true positive rate at a false positive rate budget).
//!
//! Hard predictions go through [`evaluate_labels`]; class probabilities held in memory go
//! through [`evaluate_scores`], which computes the ranking metrics exactly by sorting. For
//! datasets too large for that, an [`Accumulator`] takes rows one at a time and keeps only
//! the confusion matrix and fixed-resolution score histograms, from which it computes the same
//! [`Evaluation`] within a documented resolution error, and [`PrCurve`]s for plotting. An
//! [`Evaluation`] renders as Markdown ([`Evaluation::to_markdown`]), several line up as the
//! paper's comparison table ([`paper_table`]), and [`plot`] draws them as SVG.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod accumulator;
mod error;
mod metrics;
pub mod plot;
mod ranking;
mod report;

pub use accumulator::{Accumulator, DEFAULT_BITS, MAX_BITS};
pub use error::{Error, Result};
pub use metrics::{
    ClassMetrics, DEFAULT_FPR_TARGETS, Evaluation, OperatingPoint, evaluate_labels,
    evaluate_scores, pr_curves_exact,
};
pub use ranking::{PrCurve, PrPoint, average_precision_exact, roc_auc_exact, tpr_at_fpr_exact};
pub use report::paper_table;
