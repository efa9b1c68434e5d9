use std::path::PathBuf;

/// Errors raised while planning or writing a synthetic world.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot describe a world.
    #[error("invalid synth config: `{field}` {reason}")]
    Config { field: &'static str, reason: String },
    /// A configuration file could not be read or parsed.
    #[error("cannot load synth config `{}`", path.display())]
    ConfigFile {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file under `--names-from` is missing or unreadable.
    #[error("cannot read names from `{}`", path.display())]
    Names {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A list, `lists.toml` or `prefixes.csv` could not be written.
    #[error("cannot write `{}`", path.display())]
    Lists {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The lists must be local files, and the root is not a local path.
    #[error(
        "the storage root `{root}` is not a local folder, so the lists need a local `lists_dir`\n\
         hint: pass `--lists-dir <DIR>`"
    )]
    ListsDirRequired { root: String },
    /// Writing a dataset or a COF file failed.
    #[error("writing `{dataset}` failed")]
    Dataset {
        dataset: String,
        #[source]
        source: pdnsrep_records::Error,
    },
    /// Writing a COF file to the object store failed.
    #[error("cannot write COF file `{location}`")]
    Cof {
        location: String,
        #[source]
        source: object_store::Error,
    },
    /// A generator thread panicked or was cancelled.
    #[error("generator shard {shard} did not finish: {reason}")]
    Worker { shard: usize, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
