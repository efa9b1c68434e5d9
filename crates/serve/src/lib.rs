//! The real-time side of scoring: `pdnsrep serve`.
//!
//! A [`Server`] loads a published model by alias or version (verified against its artifact
//! manifest and golden batch), reads the labelled records behind its training features as a
//! [`Snapshot`], and scores every one of them. It then answers over HTTP:
//!
//! - lookups of a domain or an address: the verdict over its records (the rule `pdnsrep score`
//!   uses, with the evidence count and `insufficient_evidence`), the records, the neighbouring
//!   records most likely malicious, and the features that weighed most;
//! - posted passive DNS records (COF field names), featurized by [`OnlineFeaturizer`] against
//!   the snapshot exactly as the batch feature plan would have featurized them;
//! - health, readiness, Prometheus metrics and an OpenAPI document.
//!
//! When the alias moves, a watcher loads the new version beside the old one and swaps it in
//! atomically ([`arc_swap`]); requests in flight finish on the version they started with.

mod active;
mod error;
mod metrics;
mod online;
mod server;
mod snapshot;

pub use active::{
    Active, Enrichment, Probabilities, ServeSettings, SnapshotSource, Verdict, verdict,
};
pub use error::{Error, Result};
pub use online::{OnlineFeaturizer, Row};
pub use server::{OPENAPI, ROUTES, ServeConfig, Server};
pub use snapshot::{MassSource, SnapRecord, Snapshot, Split, read_labelled};
