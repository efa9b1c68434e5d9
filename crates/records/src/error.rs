use std::fmt;

/// Errors raised while reading or writing datasets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The root URL could not be understood or the store could not be built.
    #[error("invalid storage root `{url}`: {reason}")]
    InvalidRoot { url: String, reason: String },
    /// The object store failed.
    #[error("object store error at `{location}`")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    /// A dataset name that cannot be used as a path under a root.
    #[error("invalid dataset name `{name}`: {reason}")]
    InvalidDataset { name: String, reason: String },
    /// A dataset has no manifest: it was never committed, or a writer died before committing.
    #[error("dataset `{dataset}` not found under `{root}` (no `_manifest.json`)")]
    DatasetNotFound { root: String, dataset: String },
    /// Writing a dataset would replace one it must not: its own input, or a dataset of
    /// another kind.
    #[error("refusing to write `{dataset}`: {reason}")]
    WouldReplace { dataset: String, reason: String },
    /// A manifest could not be parsed, or describes a schema this build does not read.
    #[error("bad manifest `{location}`: {reason}")]
    BadManifest { location: String, reason: String },
    /// A part's bytes do not match the hash its manifest records.
    #[error("part `{location}` does not match its manifest: {reason}")]
    CorruptPart { location: String, reason: String },
    /// Arrow failed to build or read a batch.
    #[error("arrow error in {context}")]
    Arrow {
        context: Context,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Parquet failed to encode or decode a part.
    #[error("parquet error in `{location}`")]
    Parquet {
        location: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A batch does not follow the record schema.
    #[error("batch does not follow the record schema: {reason}")]
    Schema { reason: String },
}

/// What was being done when an Arrow error happened.
#[derive(Debug, Clone)]
pub struct Context(pub String);

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn store(location: impl fmt::Display, source: object_store::Error) -> Self {
        Error::Store {
            location: location.to_string(),
            source,
        }
    }

    /// True when the error says that the dataset was never committed.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::DatasetNotFound { .. })
    }
}
