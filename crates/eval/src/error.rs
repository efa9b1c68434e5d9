use std::path::PathBuf;

/// Errors raised while validating evaluation input or writing reports and plots.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is nothing to evaluate: no classes, or no rows.
    #[error("empty input: {what}")]
    Empty { what: &'static str },
    /// Two inputs that pair up row by row have different lengths.
    #[error("length mismatch: {left} has {left_len} rows but {right} has {right_len}")]
    LengthMismatch {
        left: &'static str,
        left_len: usize,
        right: &'static str,
        right_len: usize,
    },
    /// A class index is not below the number of classes.
    #[error("row {row}: {what} label {value} is out of range (there are {classes} classes)")]
    LabelOutOfRange {
        row: u64,
        what: &'static str,
        value: u8,
        classes: usize,
    },
    /// A probability row does not hold one score per class.
    #[error("row {row}: probability row has {width} scores but there are {classes} classes")]
    RowWidth {
        row: u64,
        width: usize,
        classes: usize,
    },
    /// A score is NaN, so it cannot be ranked.
    #[error("row {row}: score for class `{class}` is NaN")]
    NanScore { row: u64, class: String },
    /// A score is not a probability.
    #[error("row {row}: score {value} for class `{class}` is outside [0, 1]")]
    ScoreRange { row: u64, class: String, value: f32 },
    /// The class list cannot be used.
    #[error("bad classes: {reason}")]
    Classes { reason: String },
    /// An accumulator setting cannot be used.
    #[error("bad evaluation settings: {reason}")]
    Settings { reason: String },
    /// An accumulator saw rows with scores and rows with only a predicted label; AUCs over
    /// the scored part alone would silently describe a different population.
    #[error(
        "row {row}: cannot mix scored rows (`push`) and label-only rows (`push_label`) in one \
         accumulator"
    )]
    MixedInput { row: u64 },
    /// Two accumulators with different classes, targets or resolution cannot be merged.
    #[error("cannot merge accumulators: {reason}")]
    Merge { reason: String },
    /// Writing an output file failed.
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Plotters failed while drawing a figure.
    #[error("cannot draw `{}`", path.display())]
    Plot {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
