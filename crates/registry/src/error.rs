/// Errors of the model registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model name, alias or reference is malformed.
    #[error("{0}")]
    Usage(String),
    /// No such model, version or alias.
    #[error("{0}")]
    NotFound(String),
    /// A file of a published version does not match its manifest, or the golden batch does
    /// not reproduce: the artifact must not be used.
    #[error("{artifact}: {reason}")]
    Integrity { artifact: String, reason: String },
    /// The run to publish is not usable (unfinished, no final model).
    #[error("cannot publish `{run}`: {reason}")]
    Source { run: String, reason: String },
    #[error("object store error at `{location}`")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot {action} `{location}`: {reason}")]
    Encoding {
        action: &'static str,
        location: String,
        reason: String,
    },
    #[error(transparent)]
    Train(#[from] pdnsrep_train::Error),
    #[error(transparent)]
    Records(#[from] pdnsrep_records::Error),
    #[error(transparent)]
    Eval(#[from] pdnsrep_eval::Error),
}

impl Error {
    /// True when the user's input is at fault rather than storage or the machine.
    pub fn is_input(&self) -> bool {
        match self {
            Error::Usage(_)
            | Error::NotFound(_)
            | Error::Source { .. }
            | Error::Integrity { .. } => true,
            Error::Train(e) => e.is_input(),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
