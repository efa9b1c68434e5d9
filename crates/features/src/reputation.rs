//! Domain- and IP-level reputation from record-level class probabilities: the batch side of
//! scoring. Each domain (owner name) and each answer address gets the mean probability of
//! each class over its records, the strongest single malicious and sinkhole signal, the
//! evidence behind it (records, observations, labelled records), and a reputation that says
//! `insufficient_evidence` when fewer than `min_evidence` records back it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{AsArray as _, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, UInt16Type};
use datafusion::physical_plan::execute_stream;
use futures::StreamExt as _;
use pdnsrep_records::{DatasetWriter, InputEntry, Root, RrType, check_output, read_manifest};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::plan::{self, Engine};

/// Settings of a reputation run.
#[derive(Debug, Clone)]
pub struct ReputationOptions {
    /// Fewer records than this behind a domain or address: `insufficient_evidence`.
    pub min_evidence: u64,
    /// Written into every output row and COF line: which model scored it (`name@vN`).
    pub model: String,
    pub memory_limit: Option<usize>,
    pub threads: usize,
    /// Rows per output part.
    pub part_rows: usize,
}

/// What a reputation run wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReputationSummary {
    pub domains: u64,
    pub domains_insufficient: u64,
    pub ips: u64,
    pub ips_insufficient: u64,
    /// Domains by reputation, and addresses by reputation.
    pub domains_by_reputation: std::collections::BTreeMap<String, u64>,
    pub ips_by_reputation: std::collections::BTreeMap<String, u64>,
    pub cof_lines: Option<u64>,
    pub seconds: f64,
}

/// The joined records: probabilities with the observation counts and times of the labelled
/// dataset.
const RECORDS: &str = "SELECT p.name, p.rrtype, p.rdata, p.label, \
    CAST(p.p_benign AS DOUBLE) AS p_benign, CAST(p.p_malicious AS DOUBLE) AS p_malicious, \
    CAST(p.p_sinkhole AS DOUBLE) AS p_sinkhole, CAST(l.count AS BIGINT) AS cnt, \
    CAST(l.first_seen AS BIGINT) AS first_ms, CAST(l.last_seen AS BIGINT) AS last_ms \
    FROM predictions p JOIN labelled l \
    ON p.name = l.name AND p.rrtype = l.rrtype AND p.rdata = l.rdata";

fn level_sql(key: &str, filter: &str, min_evidence: u64, model: &str) -> String {
    let model = model.replace('\'', "''");
    format!(
        "WITH r AS ({RECORDS}), g AS (
  SELECT {key} AS key, COUNT(*) AS records, SUM(cnt) AS observations,
    COUNT(label) AS labelled_records,
    AVG(p_benign) AS p_benign, AVG(p_malicious) AS p_malicious, AVG(p_sinkhole) AS p_sinkhole,
    MAX(p_malicious) AS max_p_malicious, MAX(p_sinkhole) AS max_p_sinkhole,
    MIN(first_ms) AS first_ms, MAX(last_ms) AS last_ms
  FROM r {filter} GROUP BY {key})
SELECT key, records, observations, labelled_records, p_benign, p_malicious, p_sinkhole,
  max_p_malicious, max_p_sinkhole, first_ms, last_ms,
  CASE WHEN records < {min_evidence} THEN 'insufficient_evidence'
       WHEN p_malicious >= p_benign AND p_malicious >= p_sinkhole THEN 'malicious'
       WHEN p_sinkhole >= p_benign THEN 'sinkhole'
       ELSE 'benign' END AS reputation,
  '{model}' AS model
FROM g ORDER BY key"
    )
}

/// Writes `<out>/domains` and `<out>/ips` (and, with `cof`, one COF NDJSON line per record)
/// from the predictions dataset and the labelled records it was predicted from.
pub async fn aggregate_reputation(
    predictions: (&Root, &str),
    labelled: (&Root, &str),
    out: &Root,
    datasets: (&str, &str),
    cof: Option<&Path>,
    options: &ReputationOptions,
) -> Result<ReputationSummary> {
    let started = Instant::now();
    let (domains_name, ips_name) = datasets;
    for name in [domains_name, ips_name] {
        pdnsrep_records::check_dataset_name(name)?;
        check_output(out, name, "reputation", &[]).await?;
    }
    let temp = tempfile::Builder::new()
        .prefix("pdnsrep-reputation-")
        .tempdir()
        .map_err(|source| Error::Temp {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let engine = Engine {
        memory_limit: options.memory_limit,
        temp_dir: temp.path().to_path_buf(),
        threads: options.threads,
    };
    let ctx = plan::session(&engine)?;
    let pm = read_manifest(predictions.0, predictions.1).await?;
    let lm = read_manifest(labelled.0, labelled.1).await?;
    let files = |m: &pdnsrep_records::Manifest| -> Vec<String> {
        m.parts
            .iter()
            .map(|p| format!("{}/{}", m.dataset, p.path))
            .collect()
    };
    plan::register_parts(&ctx, "labelled", labelled.0, &files(&lm)).await?;
    plan::register_parts(&ctx, "predictions", predictions.0, &files(&pm)).await?;
    let inputs = vec![
        InputEntry {
            path: predictions.0.display(predictions.1),
            bytes: pm.bytes,
            format: format!("predictions@{}", pm.run_id),
        },
        InputEntry {
            path: labelled.0.display(labelled.1),
            bytes: lm.bytes,
            format: format!("labelled-records@{}", lm.run_id),
        },
    ];
    let mut counts = Vec::new();
    for (name, key, filter) in [
        (domains_name, "name", ""),
        // A and AAAA answers: the rdata is the address.
        (ips_name, "rdata", "WHERE rrtype = 1 OR rrtype = 28"),
    ] {
        let sql = level_sql(key, filter, options.min_evidence, &options.model);
        let mut by_reputation = std::collections::BTreeMap::new();
        let (rows, insufficient) =
            write_level(&ctx, &sql, out, name, &inputs, options, &mut by_reputation).await?;
        counts.push((rows, insufficient, by_reputation));
    }
    let cof_lines = match cof {
        Some(path) => Some(write_cof(&ctx, path, options).await?),
        None => None,
    };
    Ok(ReputationSummary {
        domains: counts[0].0,
        domains_insufficient: counts[0].1,
        ips: counts[1].0,
        ips_insufficient: counts[1].1,
        ips_by_reputation: counts.pop().map(|c| c.2).unwrap_or_default(),
        domains_by_reputation: counts.pop().map(|c| c.2).unwrap_or_default(),
        cof_lines,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn write_level(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    out: &Root,
    name: &str,
    inputs: &[InputEntry],
    options: &ReputationOptions,
    by_reputation: &mut std::collections::BTreeMap<String, u64>,
) -> Result<(u64, u64)> {
    let frame = ctx
        .sql(sql)
        .await
        .map_err(Error::engine("planning the reputation query"))?;
    let physical = frame
        .create_physical_plan()
        .await
        .map_err(Error::engine("planning the reputation query"))?;
    let schema = physical.schema();
    let mut stream = execute_stream(physical, ctx.task_ctx())
        .map_err(Error::engine("starting the reputation query"))?;
    let mut writer = DatasetWriter::new(out, name, "reputation");
    let mut pending: Vec<RecordBatch> = Vec::new();
    let (mut rows, mut pending_rows, mut insufficient) = (0u64, 0usize, 0u64);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::engine("computing reputations"))?;
        let reputation = batch.column(11).as_string::<i32>();
        for value in reputation.iter().flatten() {
            *by_reputation.entry(value.to_string()).or_insert(0) += 1;
            if value == "insufficient_evidence" {
                insufficient += 1;
            }
        }
        rows += batch.num_rows() as u64;
        pending_rows += batch.num_rows();
        pending.push(batch);
        if pending_rows >= options.part_rows {
            writer.write_part("", &pending).await?;
            pending.clear();
            pending_rows = 0;
        }
    }
    if !pending.is_empty() {
        writer.write_part("", &pending).await?;
    }
    let stats = serde_json::json!({
        "rows": rows,
        "insufficient_evidence": insufficient,
        "min_evidence": options.min_evidence,
        "model": options.model,
    });
    writer.commit(&schema, inputs.to_vec(), stats).await?;
    Ok((rows, insufficient))
}

/// One passive DNS COF line per record with pdnsrep's verdict added; written beside `path`
/// under a temporary name and renamed into place.
async fn write_cof(
    ctx: &datafusion::prelude::SessionContext,
    path: &Path,
    options: &ReputationOptions,
) -> Result<u64> {
    let frame = ctx
        .sql(&format!("{RECORDS} ORDER BY p.name, p.rrtype, p.rdata"))
        .await
        .map_err(Error::engine("planning the COF export"))?;
    let mut stream = frame
        .execute_stream()
        .await
        .map_err(Error::engine("starting the COF export"))?;
    let tmp: PathBuf = path.with_extension("ndjson.tmp");
    let io = |source| Error::Temp {
        path: tmp.display().to_string(),
        source,
    };
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    let mut lines = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::engine("exporting COF"))?;
        let name = batch.column(0).as_string::<i32>();
        let rrtype = batch.column(1).as_primitive::<UInt16Type>();
        let rdata = batch.column(2).as_string::<i32>();
        let probs = [4, 5, 6].map(|i| batch.column(i).as_primitive::<Float64Type>().clone());
        let cnt = batch.column(7).as_primitive::<Int64Type>();
        let first = batch.column(8).as_primitive::<Int64Type>();
        let last = batch.column(9).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let p = [probs[0].value(i), probs[1].value(i), probs[2].value(i)];
            let best = (0..3).fold(0, |b, c| if p[c] > p[b] { c } else { b });
            let line = serde_json::json!({
                "rrname": name.value(i),
                "rrtype": RrType(rrtype.value(i)).to_string(),
                "rdata": rdata.value(i),
                "time_first": first.value(i).div_euclid(1000),
                "time_last": last.value(i).div_euclid(1000),
                "count": cnt.value(i),
                "reputation": pdnsrep_records::features::CLASSES[best],
                "p_benign": p[0],
                "p_malicious": p[1],
                "p_sinkhole": p[2],
                "model": options.model,
            });
            writeln!(out, "{line}").map_err(io)?;
            lines += 1;
        }
    }
    out.flush().map_err(io)?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|source| Error::Temp {
        path: path.display().to_string(),
        source,
    })?;
    Ok(lines)
}
