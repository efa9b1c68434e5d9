/// Errors of the reputation service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The snapshot's data cannot be read as records.
    #[error("cannot read the snapshot at `{location}`: {reason}")]
    Snapshot { location: String, reason: String },
    /// The model needs something real-time scoring does not provide.
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot listen on `{address}`")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] pdnsrep_registry::Error),
    #[error(transparent)]
    Train(#[from] pdnsrep_train::Error),
    #[error(transparent)]
    Records(#[from] pdnsrep_records::Error),
    #[error(transparent)]
    Label(#[from] pdnsrep_label::Error),
    #[error(transparent)]
    Sweep(#[from] pdnsrep_sweep::Error),
}

impl Error {
    /// True when the user's input is at fault rather than storage or the machine.
    pub fn is_input(&self) -> bool {
        match self {
            Error::Snapshot { .. } | Error::Unsupported(_) => true,
            Error::Registry(e) => e.is_input(),
            Error::Train(e) => e.is_input(),
            Error::Label(_) => true,
            Error::Sweep(e) => e.is_input(),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
