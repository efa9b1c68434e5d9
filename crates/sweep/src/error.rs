/// Errors of multi-pass runs and sweeps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sweep file is unusable.
    #[error("sweep `{path}`: {reason}")]
    Spec { path: String, reason: String },
    /// The sweep folder holds something that does not fit.
    #[error("sweep `{sweep}`: {reason}")]
    State { sweep: String, reason: String },
    /// A trial's training, prediction or feature stage failed.
    #[error("trial `{trial}`, pass {pass}")]
    Node {
        trial: String,
        pass: u32,
        #[source]
        source: Box<Error>,
    },
    /// Some trials failed; the others finished and are in the report.
    #[error("{failed} of {trials} trials failed (see the log and the report)")]
    TrialsFailed { failed: usize, trials: usize },
    #[error(transparent)]
    Train(#[from] pdnsrep_train::Error),
    #[error(transparent)]
    Features(#[from] pdnsrep_features::Error),
    #[error(transparent)]
    Eval(#[from] pdnsrep_eval::Error),
    #[error(transparent)]
    Records(#[from] pdnsrep_records::Error),
    /// A worker task panicked or was cancelled.
    #[error("worker: {0}")]
    Worker(String),
}

impl Error {
    /// True when the user's input or config is at fault rather than storage or the machine.
    pub fn is_input(&self) -> bool {
        match self {
            Error::Spec { .. } | Error::State { .. } => true,
            Error::Train(e) => e.is_input(),
            Error::Node { source, .. } => source.is_input(),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
