use thiserror::Error;

/// Why a feature run failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a dataset failed.
    #[error(transparent)]
    Records(#[from] pdnsrep_records::Error),
    /// The input is not a labelled record dataset this build understands.
    #[error("`{dataset}` is not a labelled record dataset: {reason}")]
    InputSchema { dataset: String, reason: String },
    /// The predictions dataset for soft neighbour counts is unusable.
    #[error("predictions dataset `{dataset}`: {reason}")]
    Predictions { dataset: String, reason: String },
    /// An option is out of range.
    #[error("invalid option `{option}`: {reason}")]
    Option {
        option: &'static str,
        reason: String,
    },
    /// The query engine failed (out of memory or temporary disk, a bad plan).
    #[error("query engine failed while {stage}{}", memory_hint(source))]
    Engine {
        stage: &'static str,
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A temporary file could not be written or read.
    #[error("temporary file `{path}`")]
    Temp {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The intermediate table could not be encoded or decoded.
    #[error("intermediate table `{path}`")]
    Intermediate {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A batch did not have the expected layout (a bug, or a plan that changed).
    #[error("unexpected column layout: {0}")]
    Layout(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to do when the engine's pool ran out: the option users have, not the engine's setting.
fn memory_hint(source: &datafusion::error::DataFusionError) -> &'static str {
    if source.to_string().contains("Resources exhausted")
        || source.to_string().contains("memory pool")
    {
        " (its memory pool ran out: raise `--memory`, or lower `--threads`; see docs/features.md)"
    } else {
        ""
    }
}

impl Error {
    pub(crate) fn engine(
        stage: &'static str,
    ) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
        move |source| Error::Engine { stage, source }
    }
}
