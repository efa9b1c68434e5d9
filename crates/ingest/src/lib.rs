//! Ingest: read passive DNS in the formats users have, merge it into canonical records, and
//! write a record dataset.
//!
//! Data flows in three steps:
//!
//! 1. [`input`] opens files, folders or stdin and undoes gzip/zstd compression by magic bytes;
//! 2. [`formats`] recognises the format from the first lines ([`Format::detect`]) and turns each
//!    line (or, for mnemonic, each response document) into [`Record`]s, or into a [`LineError`]
//!    that names the field and the reason;
//! 3. [`Merger`] folds records with equal keys together under a memory budget, spilling
//!    hash-partitioned runs to disk when the budget is exceeded, and hands back one sorted
//!    bucket at a time for [`ingest`] to write as a Parquet part.
//!
//! [`Record`]: pdnsrep_records::Record

mod error;
pub mod formats;
pub mod input;
mod merge;
mod run;

pub use error::{Error, LineError, Reject, Result};
pub use formats::Format;
pub use merge::{Merger, MergerStats, ShardedBuckets, ShardedMerger};
pub use run::{IngestOptions, IngestSummary, Progress, ingest};
