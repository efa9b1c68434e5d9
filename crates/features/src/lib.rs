//! The feature pipeline: labelled record datasets in, model-ready feature datasets and a
//! featurizer spec out.
//!
//! [`compute_features`] runs in three steps:
//!
//! 1. **Aggregate** ([`plan`]): one DataFusion query computes per-name, per-registered-domain,
//!    per-IP and per-prefix aggregates and the neighbour label counts, joins them back to every
//!    record and sorts the result by split and record key into a local temporary Parquet file.
//!    DataFusion spills under its memory pool, so this step is out of core.
//! 2. **Fit**: one streamed pass over the training split's rows builds the categorical
//!    vocabularies and the numeric scalers.
//! 3. **Encode**: a second streamed pass transforms and standardizes the numeric features, maps
//!    categorical values to codes, encodes owner names as symbol sequences and writes
//!    `split=<name>` parts plus the [`FeaturizerSpec`] as a dataset sidecar.
//!
//! Neighbour counts only see labels a model may train on: those of training records, never the
//! record's own, never those of validation or test records. In later passes the counts come from
//! a predictions dataset (soft counts, see [`Neighbours`]).
//!
//! [`FeaturizerSpec`]: pdnsrep_records::features::FeaturizerSpec

mod encode;
mod error;
mod plan;
mod reputation;
mod run;

pub use error::{Error, Result};
pub use plan::mask_prefix;
pub use reputation::{ReputationOptions, ReputationSummary, aggregate_reputation};
pub use run::{FeatureOptions, FeatureSummary, Neighbours, PREDICTION_COLUMNS, compute_features};

use pdnsrep_records::features::Transform;

/// One numeric feature: its name (the column of the intermediate table), its transform, and
/// whether its scaler is fit on training data.
///
/// Neighbour features are not fit: their scale is fixed so that a training label changes
/// nothing but the neighbour features of the records that share its name or IP.
#[derive(Debug, Clone, Copy)]
pub struct NumericDef {
    pub name: &'static str,
    pub transform: Transform,
    pub fit: bool,
}

const fn counted(name: &'static str) -> NumericDef {
    NumericDef {
        name,
        transform: Transform::Log1p,
        fit: true,
    }
}

const fn flag(name: &'static str) -> NumericDef {
    NumericDef {
        name,
        transform: Transform::Identity,
        fit: true,
    }
}

const fn neighbour(name: &'static str, transform: Transform) -> NumericDef {
    NumericDef {
        name,
        transform,
        fit: false,
    }
}

/// The numeric features, in the order of the `numeric` column.
pub const NUMERIC: &[NumericDef] = &[
    // The record itself.
    counted("lifespan_s"),
    counted("count"),
    counted("min_ttl"),
    counted("max_ttl"),
    counted("ttl_spread"),
    flag("ttl_missing"),
    // Every record of the owner name.
    counted("name_queries"),
    counted("name_records"),
    counted("name_lifespan_s"),
    counted("name_ips"),
    counted("name_countries"),
    counted("name_asns"),
    counted("name_ttls"),
    // Every record under the registered domain.
    counted("rd_queries"),
    counted("rd_records"),
    counted("rd_names"),
    counted("rd_lifespan_s"),
    counted("rd_ips"),
    counted("rd_countries"),
    counted("rd_asns"),
    counted("rd_ttls"),
    // Every record answering with the same IP, then the same /24 or /48.
    flag("has_ip"),
    counted("ip_queries"),
    counted("ip_records"),
    counted("ip_names"),
    counted("ip_domains"),
    counted("ip_tlds"),
    counted("ip_lifespan_s"),
    counted("prefix_queries"),
    counted("prefix_ips"),
    counted("prefix_names"),
    counted("prefix_domains"),
    counted("prefix_tlds"),
    counted("prefix_lifespan_s"),
    // Top-list ranks.
    counted("name_rank"),
    flag("name_rank_missing"),
    counted("domain_rank"),
    flag("domain_rank_missing"),
    // Other records sharing the owner name, then the IP, by visible reputation.
    neighbour("name_nb_benign", Transform::Log1p),
    neighbour("name_nb_malicious", Transform::Log1p),
    neighbour("name_nb_sinkhole", Transform::Log1p),
    neighbour("name_frac_benign", Transform::Identity),
    neighbour("name_frac_malicious", Transform::Identity),
    neighbour("name_frac_sinkhole", Transform::Identity),
    neighbour("ip_nb_benign", Transform::Log1p),
    neighbour("ip_nb_malicious", Transform::Log1p),
    neighbour("ip_nb_sinkhole", Transform::Log1p),
    neighbour("ip_frac_benign", Transform::Identity),
    neighbour("ip_frac_malicious", Transform::Identity),
    neighbour("ip_frac_sinkhole", Transform::Identity),
];

/// The categorical features: (feature name, column of the intermediate table).
pub const CATEGORICAL: &[(&str, &str)] = &[
    ("tld", "tld"),
    ("country", "country"),
    ("asn", "asn_code"),
    ("isp", "isp"),
    ("rrtype", "rrtype_code"),
];

/// The aggregation query `compute_features` runs, for inspection and for anchors that run
/// the same aggregations in another engine. It reads table `labelled` (and `predictions` when
/// `from_predictions`) and calls three functions: `h64(text)`, `ip_h(ip16)` and
/// `ip_prefix_h(ip16)`, 64-bit hashes of a string, of a 16-byte address and of its /24 (IPv4,
/// stored IPv4-mapped) or /48 (IPv6) network.
pub fn aggregation_sql(from_predictions: bool) -> String {
    let mass = if from_predictions {
        plan::Mass::Predictions { threshold: None }
    } else {
        plan::Mass::Labels
    };
    plan::feature_sql(&mass)
}

/// Whether a numeric feature is a neighbour count or fraction.
pub fn is_neighbour_feature(name: &str) -> bool {
    name.contains("_nb_") || name.contains("_frac_")
}
