use std::path::PathBuf;

/// Errors raised while loading label sources and enrichment data, or labelling a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file could not be read.
    #[error("cannot read `{}`", path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A lists TOML file is not valid TOML or does not follow the schema in `docs/lists.md`.
    #[error("bad lists config `{}`", path.display())]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    /// A lists config parsed but holds values that cannot be used.
    #[error("bad lists config `{}`: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    /// A list file could not be opened or read.
    #[error("cannot read list `{source_name}` from `{}`", path.display())]
    ListRead {
        source_name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A list loaded without a single usable entry. Labelling with a partial set of lists
    /// would silently shift the label balance, so the run stops instead.
    #[error(
        "list `{source_name}` (`{}`) has no valid entries ({malformed} malformed lines{})",
        path.display(),
        first_issue.as_ref().map(|i| format!(", first: {i}")).unwrap_or_default()
    )]
    ListEmpty {
        source_name: String,
        path: PathBuf,
        malformed: u64,
        first_issue: Option<String>,
    },
    /// A Public Suffix List file could not be used.
    #[error("bad public suffix list `{}`: {reason}", path.display())]
    Psl { path: PathBuf, reason: String },
    /// A MaxMind database could not be opened or read.
    #[error("bad MaxMind database `{}`", path.display())]
    Mmdb {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    /// A MaxMind database holds none of the fields that enrichment uses.
    #[error(
        "MaxMind database `{}` has type `{database_type}`, which carries no country, ASN, ISP \
         or organisation (use City, Country, Enterprise, ASN or ISP databases)",
        path.display()
    )]
    MmdbType {
        path: PathBuf,
        database_type: String,
    },
    /// A line of the prefix-to-country table is malformed.
    #[error("bad prefix table `{}` line {line}: {reason}", path.display())]
    Prefixes {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// The split settings are unusable.
    #[error("bad split settings: {reason}")]
    Split { reason: String },
    /// The input dataset does not hold raw records.
    #[error("dataset `{dataset}` does not hold raw records: {reason}")]
    InputSchema { dataset: String, reason: String },
    /// Reading or writing a dataset failed.
    #[error(transparent)]
    Records(#[from] pdnsrep_records::Error),
    /// Arrow failed while building the labelled batches.
    #[error("arrow error while {context}")]
    Arrow {
        context: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A blocking worker task panicked or was cancelled.
    #[error("labelling worker failed: {reason}")]
    Worker { reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn arrow(context: &'static str) -> impl Fn(arrow::error::ArrowError) -> Error {
        move |source| Error::Arrow { context, source }
    }
}
