/// Errors of building, saving and loading models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model config that cannot be used.
    #[error("invalid model config: {0}")]
    Config(String),
    /// A config file that cannot be parsed.
    #[error("cannot read model config `{path}`: {reason}")]
    ConfigFile { path: String, reason: String },
    /// Saved weights that do not fit the network they are loaded into.
    #[error("cannot load weights: {0}")]
    Load(String),
    /// Weights that cannot be serialized.
    #[error("cannot save weights: {0}")]
    Save(String),
    /// A tensor could not be read back from the device.
    #[error("tensor read-back failed: {0}")]
    Tensor(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
