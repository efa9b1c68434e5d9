use std::path::PathBuf;

use serde::Serialize;

/// Why one line (or document element) could not become a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The field at fault, when one is; `None` for lines that are not parseable at all.
    pub field: Option<String>,
    pub reason: String,
}

impl LineError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> LineError {
        LineError {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    pub fn whole(reason: impl Into<String>) -> LineError {
        LineError {
            field: None,
            reason: reason.into(),
        }
    }

    /// A short, stable category for counting rejects by reason: the field plus the reason up
    /// to its first `: `, with quoted values replaced by `…` and numbers by `N`.
    pub fn category(&self) -> String {
        let mut reason = String::with_capacity(self.reason.len());
        for (i, piece) in self.reason.split('`').enumerate() {
            if i % 2 == 1 {
                reason.push_str("`…`");
                continue;
            }
            // Counts and offsets vary from line to line; one category per kind of fault.
            // Only free-standing numbers: `IPv4` and `A2` keep their digits.
            let mut prev: Option<char> = None;
            let mut in_number = false;
            for c in piece.chars() {
                let starts_number =
                    c.is_ascii_digit() && !prev.is_some_and(|p| p.is_alphanumeric());
                if c.is_ascii_digit() && (in_number || starts_number) {
                    if !in_number {
                        reason.push('N');
                    }
                    in_number = true;
                } else {
                    in_number = false;
                    reason.push(c);
                }
                prev = Some(c);
            }
        }
        let reason = reason.split(": ").next().unwrap_or("").trim();
        match &self.field {
            Some(field) => format!("{field}: {reason}"),
            None => reason.to_string(),
        }
    }
}

/// A rejected line as kept in the rejects file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
    /// The start of the offending line, for eyeballing.
    pub text: String,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Errors that stop an ingest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{}` after line {line}", path.display())]
    ReadAt {
        path: PathBuf,
        line: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot tell the format of {path}: {reason}")]
    UnknownFormat { path: String, reason: String },
    /// `--strict` turns the first bad line into this error.
    #[error("{0}")]
    BadLine(Reject),
    /// A stream ended in a way that says data is missing (for example a DNSDB SAF stream
    /// without its `succeeded` terminator), and `--strict` was given.
    #[error("`{path}` is incomplete: {reason}")]
    Incomplete { path: String, reason: String },
    #[error("no input given")]
    NoInput,
    #[error("`{0}` is given more than once")]
    Duplicate(String),
    #[error("spill file error")]
    Spill(#[source] std::io::Error),
    #[error("spill encoding error")]
    SpillArrow(#[source] arrow::error::ArrowError),
    #[error(transparent)]
    Records(#[from] pdnsrep_records::Error),
    #[error("ingest worker failed: {0}")]
    Worker(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
