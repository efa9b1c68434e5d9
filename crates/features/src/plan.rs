//! The aggregation plan: per-name, per-registered-domain, per-IP and per-prefix aggregates and
//! neighbour counts, joined back to every record, in DataFusion SQL.
//!
//! DataFusion spills aggregations, sorts and sort-merge joins to disk under its memory pool, so
//! the plan scales past memory. Two habits keep it inside the pool: distinct counts run over
//! 64-bit hashes rather than strings (string distinct sets live outside the pool), and under a
//! memory limit the sort-merge join replaces the hash join, which cannot spill.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, UInt64Array};
use arrow::datatypes::DataType;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryPool, TrackConsumersPool, UnboundedMemoryPool,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use pdnsrep_records::Root;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};

/// Fixed-point scale of neighbour label mass: probabilities are summed as integers so that
/// sums do not depend on the order rows arrive in, and feature bytes stay reproducible.
pub(crate) const MASS_SCALE: f64 = 1_000_000.0;

/// The object store URL the input root is registered under inside the session.
const INPUT_STORE: &str = "pdnsrep-in://root";
const PREDICTIONS_STORE: &str = "pdnsrep-pred://root";

/// Where neighbour label mass comes from.
#[derive(Debug, Clone)]
pub(crate) enum Mass {
    /// Labels of training records, one-hot.
    Labels,
    /// Training labels, and class probabilities for every other record; `threshold` turns
    /// probabilities into hard votes.
    Predictions { threshold: Option<f64> },
}

/// Engine settings.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    pub memory_limit: Option<usize>,
    pub temp_dir: std::path::PathBuf,
    pub threads: usize,
}

pub(crate) fn session(engine: &Engine) -> Result<SessionContext> {
    let pool: Arc<dyn MemoryPool> = match engine.memory_limit {
        // Tracking names the largest consumers in "resources exhausted" errors.
        Some(limit) => Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(limit),
            std::num::NonZeroUsize::new(5).unwrap_or(std::num::NonZeroUsize::MIN),
        )),
        None => Arc::new(UnboundedMemoryPool::default()),
    };
    let disk = DiskManagerBuilder::default()
        .with_mode(DiskManagerMode::Directories(vec![engine.temp_dir.clone()]));
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(pool)
        .with_disk_manager_builder(disk)
        .build_arc()
        .map_err(Error::engine("setting up the session"))?;
    let mut config = SessionConfig::new()
        .with_target_partitions(engine.threads.max(1))
        .with_batch_size(batch_rows(engine))
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
    if let Some(limit) = engine.memory_limit {
        // Every sort (about nine per partition) reserves this much up front for merging its
        // spills; the default (10 MiB each) would take all of a small pool before any work.
        let per_partition = limit / (64 * engine.threads.max(1));
        config = config
            .set_bool("datafusion.optimizer.prefer_hash_join", false)
            .set_usize(
                "datafusion.execution.sort_spill_reservation_bytes",
                per_partition.min(10 << 20),
            );
    }
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    register_udfs(&ctx);
    Ok(ctx)
}

/// Rows per engine batch. Every partition runs about a dozen spilling operators (a sort on each
/// side of four joins, four aggregations, the final sort), and each must hold a couple of
/// batches of ~500-byte rows: small pools get small batches so each operator's share fits.
fn batch_rows(engine: &Engine) -> usize {
    match engine.memory_limit {
        None => 8192,
        Some(limit) => (limit / (engine.threads.max(1) * 16 * 1024)).clamp(256, 8192),
    }
}

/// Registers `root`'s store and the given parts as table `name`.
pub(crate) async fn register_parts(
    ctx: &SessionContext,
    table: &str,
    root: &Root,
    files: &[String],
) -> Result<()> {
    let store_url = if table == "labelled" {
        INPUT_STORE
    } else {
        PREDICTIONS_STORE
    };
    let url = ObjectStoreUrl::parse(store_url).map_err(Error::engine("registering the store"))?;
    ctx.register_object_store(url.as_ref(), root.store().clone());
    let paths: Vec<String> = files
        .iter()
        .map(|f| format!("{store_url}/{}", root.path(f)))
        .collect();
    let frame = ctx
        .read_parquet(paths, ParquetReadOptions::default())
        .await
        .map_err(Error::engine("opening the input parts"))?;
    ctx.register_table(table, frame.into_view())
        .map_err(Error::engine("registering the input"))?;
    Ok(())
}

fn register_udfs(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "h64",
        vec![DataType::Utf8],
        DataType::UInt64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let strings: &StringArray = arrays[0].as_string();
            let out: UInt64Array = strings
                .iter()
                .map(|s| s.map(|s| xxh3_64(s.as_bytes())))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    for (name, prefix) in [("ip_h", false), ("ip_prefix_h", true)] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::FixedSizeBinary(16)],
            DataType::UInt64,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let ips = arrays[0].as_fixed_size_binary();
                let out: UInt64Array = (0..ips.len())
                    .map(|i| {
                        (!ips.is_null(i)).then(|| {
                            let mut bytes: [u8; 16] = ips.value(i).try_into().unwrap_or([0; 16]);
                            if prefix {
                                mask_prefix(&mut bytes);
                            }
                            xxh3_64(&bytes)
                        })
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }),
        ));
    }
}

/// Keeps the network part of an address: /24 for IPv4 (stored IPv4-mapped), /48 for IPv6.
pub fn mask_prefix(bytes: &mut [u8; 16]) {
    let v4 = bytes[..10].iter().all(|b| *b == 0) && bytes[10] == 0xff && bytes[11] == 0xff;
    let keep = if v4 { 15 } else { 6 };
    bytes[keep..].fill(0);
}

fn mass(mass: &Mass, class: &str, column: &str) -> String {
    let one = MASS_SCALE as i64;
    let train = format!("CASE WHEN l.label = '{class}' THEN {one} ELSE 0 END");
    match mass {
        Mass::Labels => {
            format!("CASE WHEN l.split = 'train' THEN {train} ELSE 0 END")
        }
        Mass::Predictions { threshold } => {
            let predicted = match threshold {
                Some(t) => format!("CASE WHEN p.{column} >= {t} THEN {one} ELSE 0 END"),
                None => format!("CAST(p.{column} * {MASS_SCALE:.1} + 0.5 AS BIGINT)"),
            };
            format!(
                "CASE WHEN l.split = 'train' AND l.label IS NOT NULL THEN {train} \
                 ELSE COALESCE({predicted}, 0) END"
            )
        }
    }
}

/// The query producing one row per record: key, split, label, raw categorical values and every
/// numeric feature before transformation, ordered by split and key.
pub(crate) fn feature_sql(neighbours: &Mass) -> String {
    let join = match neighbours {
        Mass::Labels => String::new(),
        Mass::Predictions { .. } => "LEFT JOIN predictions p ON l.name = p.name \
             AND l.rrtype = p.rrtype AND l.rdata = p.rdata"
            .to_string(),
    };
    // Rows whose neighbour mass should come from a prediction, and those that found none.
    let (needs, missing) = match neighbours {
        Mass::Labels => ("0".to_string(), "0".to_string()),
        Mass::Predictions { .. } => {
            let needs = "NOT (l.split = 'train' AND l.label IS NOT NULL)";
            (
                format!("CASE WHEN {needs} THEN 1 ELSE 0 END"),
                format!("CASE WHEN {needs} AND p.name IS NULL THEN 1 ELSE 0 END"),
            )
        }
    };
    let vb = mass(neighbours, "benign", "p_benign");
    let vm = mass(neighbours, "malicious", "p_malicious");
    let vs = mass(neighbours, "sinkhole", "p_sinkhole");
    format!(
        "WITH base AS (
  SELECT l.name, l.rrtype, l.rdata, l.split, l.label,
    l.tld, l.country, CAST(l.asn AS VARCHAR) AS asn_code, l.isp, CAST(l.rrtype AS VARCHAR) AS rrtype_code,
    h64(l.name) AS name_h, h64(COALESCE(l.registered_domain, l.name)) AS rd_h,
    h64(COALESCE(l.tld, '')) AS tld_h, h64(l.country) AS country_h, l.asn,
    ip_h(l.ip) AS ip_h, ip_prefix_h(l.ip) AS pfx_h,
    CAST(l.first_seen AS BIGINT) AS fs, CAST(l.last_seen AS BIGINT) AS ls,
    CAST(l.count AS BIGINT) AS cnt, l.min_ttl, l.max_ttl, l.name_rank, l.domain_rank,
    {vb} AS vb, {vm} AS vm, {vs} AS vs,
    CAST({needs} AS INT) AS prediction_needed, CAST({missing} AS INT) AS prediction_missing
  FROM labelled l {join}
),
name_agg AS (
  SELECT name_h, SUM(cnt) AS q, COUNT(*) AS n, MAX(ls) - MIN(fs) AS life,
    COUNT(DISTINCT ip_h) AS ips, COUNT(DISTINCT country_h) AS ctry, COUNT(DISTINCT asn) AS asns,
    COUNT(DISTINCT max_ttl) AS ttls, SUM(vb) AS vb, SUM(vm) AS vm, SUM(vs) AS vs
  FROM base GROUP BY name_h
),
rd_agg AS (
  SELECT rd_h, SUM(cnt) AS q, COUNT(*) AS n, COUNT(DISTINCT name_h) AS names,
    MAX(ls) - MIN(fs) AS life, COUNT(DISTINCT ip_h) AS ips, COUNT(DISTINCT country_h) AS ctry,
    COUNT(DISTINCT asn) AS asns, COUNT(DISTINCT max_ttl) AS ttls
  FROM base GROUP BY rd_h
),
ip_agg AS (
  SELECT ip_h, SUM(cnt) AS q, COUNT(*) AS n, COUNT(DISTINCT name_h) AS names,
    COUNT(DISTINCT rd_h) AS doms, COUNT(DISTINCT tld_h) AS tlds, MAX(ls) - MIN(fs) AS life,
    SUM(vb) AS vb, SUM(vm) AS vm, SUM(vs) AS vs
  FROM base WHERE ip_h IS NOT NULL GROUP BY ip_h
),
pfx_agg AS (
  SELECT pfx_h, SUM(cnt) AS q, COUNT(DISTINCT ip_h) AS ips, COUNT(DISTINCT name_h) AS names,
    COUNT(DISTINCT rd_h) AS doms, COUNT(DISTINCT tld_h) AS tlds, MAX(ls) - MIN(fs) AS life
  FROM base WHERE pfx_h IS NOT NULL GROUP BY pfx_h
)
SELECT b.name, b.rrtype, b.rdata, b.split, b.label, CAST(na.q AS BIGINT) AS domain_queries,
  b.tld, b.country, b.asn_code, b.isp, b.rrtype_code,
  b.prediction_needed, b.prediction_missing,
  {numeric}
FROM base b
  JOIN name_agg na ON b.name_h = na.name_h
  JOIN rd_agg ra ON b.rd_h = ra.rd_h
  LEFT JOIN ip_agg ia ON b.ip_h = ia.ip_h
  LEFT JOIN pfx_agg pa ON b.pfx_h = pa.pfx_h
ORDER BY b.split, b.name, b.rrtype, b.rdata",
        numeric = numeric_select()
    )
}

/// `<expression> AS <feature>` for every numeric feature, in [`crate::NUMERIC`] order.
fn numeric_select() -> String {
    crate::NUMERIC
        .iter()
        .map(|f| format!("CAST({} AS DOUBLE) AS {}", numeric_expr(f.name), f.name))
        .collect::<Vec<_>>()
        .join(",\n  ")
}

fn neighbour(agg: &str, class: &str, fraction: bool) -> String {
    let v = match class {
        "benign" => "vb",
        "malicious" => "vm",
        _ => "vs",
    };
    let others = format!("CAST({agg}.{v} - b.{v} AS DOUBLE) / {MASS_SCALE:.1}");
    let count = if agg == "ia" {
        format!("COALESCE({others}, 0)")
    } else {
        others
    };
    if fraction {
        format!("CASE WHEN {agg}.n > 1 THEN {count} / CAST({agg}.n - 1 AS DOUBLE) ELSE 0 END")
    } else {
        count
    }
}

fn numeric_expr(name: &str) -> String {
    let seconds = |e: &str| format!("CAST({e} AS DOUBLE) / 1000.0");
    let or_zero = |e: &str| format!("COALESCE({e}, 0)");
    if let Some(rest) = name.strip_prefix("name_nb_") {
        return neighbour("na", rest, false);
    }
    if let Some(rest) = name.strip_prefix("name_frac_") {
        return neighbour("na", rest, true);
    }
    if let Some(rest) = name.strip_prefix("ip_nb_") {
        return neighbour("ia", rest, false);
    }
    if let Some(rest) = name.strip_prefix("ip_frac_") {
        return neighbour("ia", rest, true);
    }
    match name {
        "lifespan_s" => seconds("b.ls - b.fs"),
        "count" => "b.cnt".into(),
        "min_ttl" => or_zero("b.min_ttl"),
        "max_ttl" => or_zero("b.max_ttl"),
        "ttl_spread" => or_zero("CAST(b.max_ttl AS BIGINT) - CAST(b.min_ttl AS BIGINT)"),
        "ttl_missing" => "CASE WHEN b.max_ttl IS NULL THEN 1 ELSE 0 END".into(),
        "name_queries" => "na.q".into(),
        "name_records" => "na.n".into(),
        "name_lifespan_s" => seconds("na.life"),
        "name_ips" => "na.ips".into(),
        "name_countries" => "na.ctry".into(),
        "name_asns" => "na.asns".into(),
        "name_ttls" => "na.ttls".into(),
        "rd_queries" => "ra.q".into(),
        "rd_records" => "ra.n".into(),
        "rd_names" => "ra.names".into(),
        "rd_lifespan_s" => seconds("ra.life"),
        "rd_ips" => "ra.ips".into(),
        "rd_countries" => "ra.ctry".into(),
        "rd_asns" => "ra.asns".into(),
        "rd_ttls" => "ra.ttls".into(),
        "has_ip" => "CASE WHEN b.ip_h IS NULL THEN 0 ELSE 1 END".into(),
        "ip_queries" => or_zero("ia.q"),
        "ip_records" => or_zero("ia.n"),
        "ip_names" => or_zero("ia.names"),
        "ip_domains" => or_zero("ia.doms"),
        "ip_tlds" => or_zero("ia.tlds"),
        "ip_lifespan_s" => or_zero(&seconds("ia.life")),
        "prefix_queries" => or_zero("pa.q"),
        "prefix_ips" => or_zero("pa.ips"),
        "prefix_names" => or_zero("pa.names"),
        "prefix_domains" => or_zero("pa.doms"),
        "prefix_tlds" => or_zero("pa.tlds"),
        "prefix_lifespan_s" => or_zero(&seconds("pa.life")),
        "name_rank" => or_zero("b.name_rank"),
        "name_rank_missing" => "CASE WHEN b.name_rank IS NULL THEN 1 ELSE 0 END".into(),
        "domain_rank" => or_zero("b.domain_rank"),
        "domain_rank_missing" => "CASE WHEN b.domain_rank IS NULL THEN 1 ELSE 0 END".into(),
        other => unreachable!("numeric feature `{other}` has no expression"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_keep_24_bits_of_v4_and_48_of_v6() {
        let mut v4 = [0u8; 16];
        v4[10] = 0xff;
        v4[11] = 0xff;
        v4[12..].copy_from_slice(&[192, 0, 2, 77]);
        mask_prefix(&mut v4);
        assert_eq!(&v4[12..], &[192, 0, 2, 0]);
        let mut v6 = [0x20u8; 16];
        mask_prefix(&mut v6);
        assert_eq!(&v6[..6], &[0x20; 6]);
        assert!(v6[6..].iter().all(|b| *b == 0));
    }

    #[test]
    fn every_numeric_feature_has_an_expression() {
        for f in crate::NUMERIC {
            let expr = numeric_expr(f.name);
            assert!(!expr.is_empty());
        }
        let sql = feature_sql(&Mass::Predictions { threshold: None });
        assert!(sql.contains("LEFT JOIN predictions p"));
        assert!(!feature_sql(&Mass::Labels).contains("predictions"));
    }
}
