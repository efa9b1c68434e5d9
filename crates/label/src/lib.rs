//! Labels passive DNS records from threat-intelligence and top lists, enriches them, and
//! splits them for training (Lison & Mavroeidis 2017, section 4).
//!
//! A [`ListsConfig`] (the `lists.toml` of `docs/lists.md`) names the label sources; each is
//! read by a line parser for its format ([`lists`]) into one [`LabelIndex`] of names, addresses
//! and CIDRs. An [`Enricher`] holds the Public Suffix List ([`SuffixList`]), MaxMind databases
//! and a prefix-to-country table. [`label_dataset`] streams a raw record dataset through both,
//! picks each record's label by precedence with provenance, assigns a split
//! ([`SplitConfig`]) and writes `split=<name>/part-*.parquet` with the [`schema`] of labelled
//! records, returning a [`LabelSummary`] that the manifest also keeps.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod enrich;
mod error;
mod index;
pub mod lists;
mod pipeline;
mod psl;
pub mod schema;
mod split;
mod summary;

pub use config::{AppliesTo, Format, Kind, Label, ListsConfig, MatchMode, SourceConfig, Window};
pub use enrich::{EnrichConfig, Enricher, IpInfo, Mmdb, PrefixTable};
pub use error::{Error, Result};
pub use index::{Decision, Hit, LabelIndex, Matched, RecordView, SourceInfo};
pub use pipeline::{Labeller, label_dataset, label_with};
pub use psl::{SuffixList, tld};
pub use split::{
    Split, SplitAssigner, SplitConfig, SplitGroups, SplitMethod, SplitPlanner, SplitWarning,
    domain_key, network_key, record_hash, split_warnings,
};
pub use summary::{
    ConflictExample, ConflictSummary, EnrichmentSummary, HitRate, LabelSummary, SourceSummary,
};

#[cfg(test)]
pub(crate) mod test_data {
    use std::path::PathBuf;

    /// The shared public data set beside the checkout (`../shared/data`). Tests that need it
    /// fail with this message rather than skipping, so a missing checkout is noticed.
    pub(crate) fn shared_data() -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        assert!(
            dir.join("SOURCES.md").is_file(),
            "shared test data not found at `{}`: check out `shared/` beside the repository",
            dir.display()
        );
        dir.canonicalize().unwrap()
    }
}
