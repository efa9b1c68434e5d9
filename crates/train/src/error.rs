/// Errors of training, evaluation and scoring runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run config is unusable.
    #[error("invalid run config{}: {reason}", path.as_deref().map(|p| format!(" `{p}`")).unwrap_or_default())]
    Config {
        path: Option<String>,
        reason: String,
    },
    /// The input data is unusable (wrong dataset kind, schema, missing spec, empty split).
    #[error("{0}")]
    Input(String),
    /// The run folder does not hold what the command needs.
    #[error("run `{run}`: {reason}")]
    Run { run: String, reason: String },
    #[error(transparent)]
    Records(#[from] pdnsrep_records::Error),
    #[error(transparent)]
    Model(#[from] pdnsrep_model::Error),
    #[error("object store error at `{location}`")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("parquet error in `{location}`")]
    Parquet {
        location: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A decoder thread failed or stopped.
    #[error("loader: {0}")]
    Loader(String),
    /// A file of the run could not be encoded or decoded.
    #[error("cannot {action} `{location}`: {reason}")]
    Encoding {
        action: &'static str,
        location: String,
        reason: String,
    },
    #[error("cannot read `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True when the user's input or config is at fault rather than storage or the machine.
    pub fn is_input(&self) -> bool {
        match self {
            Error::Config { .. } | Error::Input(_) | Error::Run { .. } | Error::Io { .. } => true,
            Error::Records(e) => matches!(
                e,
                pdnsrep_records::Error::InvalidRoot { .. }
                    | pdnsrep_records::Error::InvalidDataset { .. }
                    | pdnsrep_records::Error::DatasetNotFound { .. }
                    | pdnsrep_records::Error::WouldReplace { .. }
            ),
            Error::Model(
                pdnsrep_model::Error::Config(_) | pdnsrep_model::Error::ConfigFile { .. },
            ) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
