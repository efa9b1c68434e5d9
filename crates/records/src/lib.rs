//! The canonical passive DNS record and the datasets that hold it.
//!
//! Every input format is normalized into one [`Record`]: an owner name (lower-case ASCII, no
//! trailing dot, IDNs as A-labels), an [`RrType`], its rdata (A/AAAA parsed as IPs), first and
//! last seen, a query count, the observed TTL range and the sensor that saw it. Records that
//! share a [`RecordKey`] merge with [`Record::merge`].
//!
//! Records travel as Arrow batches ([`schema`]) and rest as Parquet parts of a dataset under a
//! [`Root`] on any object store. A dataset becomes visible only when its [`Manifest`] is
//! written ([`DatasetWriter::commit`]), so a crash never leaves a half-written dataset behind.

mod dataset;
mod error;
pub mod features;
mod name;
mod record;
mod rrtype;
pub mod schema;
mod store;

pub use dataset::{
    DEFAULT_ORPHAN_GRACE, DatasetWriter, InputEntry, MANIFEST_FILE, Manifest, PartEntry,
    SCHEMA_VERSION, check_dataset_name, check_output, read_manifest, read_part,
};
pub use error::{Error, Result};
pub use name::{NameError, normalize_name};
pub use record::{RdataError, Record, RecordKey, bucket_of, canonical_rdata, ip_to_bytes};
pub use rrtype::RrType;
pub use store::Root;
