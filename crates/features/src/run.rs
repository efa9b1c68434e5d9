//! The `features` driver: aggregate with DataFusion into a local intermediate table, fit on
//! the training split, encode and write the feature dataset.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use bytes::Bytes;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use pdnsrep_records::features::{
    CLASSES, CharEncoding, FEATURIZER_FILE, FEATURIZER_VERSION, FeaturizerSpec, NeighbourSource,
};
use pdnsrep_records::schema::describe;
use pdnsrep_records::{DatasetWriter, InputEntry, Manifest, Root, check_output, read_manifest};
use serde::Serialize;

use crate::encode::{Encoder, Fitter};
use crate::error::{Error, Result};
use crate::plan::{self, Engine, Mass};

/// The columns a predictions dataset must have: the record key and one probability per class.
pub const PREDICTION_COLUMNS: [&str; 6] = [
    "name",
    "rrtype",
    "rdata",
    "p_benign",
    "p_malicious",
    "p_sinkhole",
];

/// The engine named in featurizer specs.
const ENGINE: &str = "datafusion 55.2";

/// Where neighbour counts come from.
#[derive(Debug, Clone)]
pub enum Neighbours {
    /// Labels of training records.
    Labels,
    /// A predictions dataset ([`PREDICTION_COLUMNS`]) for every record that is not a labelled
    /// training record; `threshold` turns probabilities into hard votes (a class counts when
    /// its probability reaches it), otherwise counts are soft.
    Predictions {
        root: Root,
        dataset: String,
        threshold: Option<f64>,
    },
}

/// Settings of a feature run.
#[derive(Debug, Clone)]
pub struct FeatureOptions {
    pub neighbours: Neighbours,
    /// Categorical values seen fewer times in training rows fall into the out-of-vocabulary code.
    pub min_count: u64,
    /// At most this many values per categorical vocabulary, the most frequent kept.
    pub max_vocab: usize,
    /// Symbols per encoded owner name.
    pub char_length: usize,
    /// The query engine's memory pool; past it, aggregations, sorts and joins spill to disk.
    /// `None` runs without a limit (and with hash joins).
    pub memory_limit: Option<usize>,
    /// Where spill files and the intermediate table go (a fresh folder inside it, removed at the
    /// end); the system temporary folder by default.
    pub temp_dir: Option<PathBuf>,
    /// Query engine partitions; the number of CPUs by default.
    pub threads: usize,
    /// Rows per output part.
    pub part_rows: usize,
    pub orphan_grace: Duration,
}

impl Default for FeatureOptions {
    fn default() -> FeatureOptions {
        FeatureOptions {
            neighbours: Neighbours::Labels,
            min_count: 10,
            max_vocab: 10_000,
            char_length: 64,
            memory_limit: None,
            temp_dir: None,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            part_rows: 256 * 1024,
            orphan_grace: pdnsrep_records::DEFAULT_ORPHAN_GRACE,
        }
    }
}

impl FeatureOptions {
    fn validate(&self) -> Result<()> {
        let bad = |option, reason: &str| {
            Err(Error::Option {
                option,
                reason: reason.to_string(),
            })
        };
        if !(1..=255).contains(&self.char_length) {
            return bad("char_length", "must be between 1 and 255");
        }
        if self.part_rows == 0 {
            return bad("part_rows", "must be positive");
        }
        if self.min_count == 0 {
            return bad("min_count", "must be at least 1");
        }
        if let Neighbours::Predictions {
            threshold: Some(t), ..
        } = &self.neighbours
            && !(*t > 0.0 && *t <= 1.0)
        {
            return bad("threshold", "must be in (0, 1]");
        }
        if self.memory_limit.is_some_and(|m| m < 64 << 20) {
            return bad(
                "memory_limit",
                "below 64 MiB the aggregation plan cannot run (allow ~96 MiB per thread)",
            );
        }
        Ok(())
    }
}

/// How well a predictions dataset covered the records that take their mass from it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PredictionCoverage {
    pub needed: u64,
    pub missing: u64,
}

/// What a feature run did.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureSummary {
    pub output: String,
    pub rows: u64,
    pub rows_by_split: BTreeMap<String, u64>,
    pub labelled_by_split: BTreeMap<String, u64>,
    pub numeric_features: usize,
    pub vocabularies: BTreeMap<String, usize>,
    pub char_length: usize,
    pub neighbours: String,
    pub spec_digest: String,
    pub engine: String,
    pub memory_limit: Option<usize>,
    pub spill_count: usize,
    pub spilled_bytes: usize,
    /// With `--predictions`: how many records needed a prediction and how many found none.
    pub predictions: Option<PredictionCoverage>,
    /// The process's peak resident memory, from the kernel, when known.
    pub peak_rss_bytes: Option<u64>,
    pub aggregate_s: f64,
    pub fit_s: f64,
    pub encode_s: f64,
    pub elapsed_s: f64,
    pub parts: usize,
}

/// Computes the feature dataset `output` under `root_out` from the labelled dataset `input`
/// under `root_in`.
pub async fn compute_features(
    root_in: &Root,
    input: &str,
    root_out: &Root,
    output: &str,
    options: &FeatureOptions,
) -> Result<FeatureSummary> {
    options.validate()?;
    pdnsrep_records::check_dataset_name(output)?;
    let started = Instant::now();
    let manifest = read_manifest(root_in, input).await?;
    check_input(root_in, input, &manifest)?;
    let mut reads = Vec::new();
    if root_in.url() == root_out.url() {
        reads.push(input);
    }
    if let Neighbours::Predictions { root, dataset, .. } = &options.neighbours
        && root.url() == root_out.url()
    {
        reads.push(dataset.as_str());
    }
    check_output(root_out, output, "features", &reads).await?;
    let base = options.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let temp = tempfile::Builder::new()
        .prefix("pdnsrep-features-")
        .tempdir_in(&base)
        .map_err(|source| Error::Temp {
            path: base.display().to_string(),
            source,
        })?;
    let table = temp.path().join("intermediate.parquet");
    let engine = Engine {
        memory_limit: options.memory_limit,
        temp_dir: temp.path().to_path_buf(),
        threads: options.threads,
    };
    let (mass, source) = neighbour_setup(options).await?;
    let spill = aggregate(root_in, &manifest, options, &engine, &mass, &table).await?;
    let aggregate_s = started.elapsed().as_secs_f64();

    let fitting = Instant::now();
    let fit_table = table.clone();
    let fitter = blocking(move || {
        let mut fitter = Fitter::new();
        for batch in read_table(&fit_table)? {
            fitter.push(&batch?)?;
        }
        Ok(fitter)
    })
    .await?;
    let coverage = match &options.neighbours {
        Neighbours::Labels => None,
        Neighbours::Predictions { root, dataset, .. } => {
            let (needed, missing) = (fitter.predictions_needed, fitter.predictions_missing);
            if needed > 0 && missing == needed {
                return Err(Error::Predictions {
                    dataset: root.display(dataset),
                    reason: format!(
                        "it has a prediction for none of the {needed} records that need one \
                         (predictions of another dataset?)"
                    ),
                });
            }
            if missing > 0 {
                tracing::warn!(
                    "{missing} of {needed} records have no prediction in {}: their neighbour \
                     mass counts as unknown",
                    root.display(dataset)
                );
            }
            Some(PredictionCoverage { needed, missing })
        }
    };
    let (numeric, categorical) = fitter.finish(options.min_count, options.max_vocab);
    let spec = FeaturizerSpec {
        format_version: FEATURIZER_VERSION,
        engine: ENGINE.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source_dataset: input.trim_matches('/').to_string(),
        source_run_id: manifest.run_id.clone(),
        neighbours: source,
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        numeric,
        categorical,
        chars: CharEncoding::standard(options.char_length),
        settings: serde_json::json!({
            "min_count": options.min_count,
            "max_vocab": options.max_vocab,
        }),
        digest: String::new(),
    }
    .seal();
    let fit_s = fitting.elapsed().as_secs_f64();

    let encoding = Instant::now();
    let mut writer =
        DatasetWriter::new(root_out, output, "features").with_orphan_grace(options.orphan_grace);
    let tally = encode(&table, &spec, &mut writer, options.part_rows).await?;
    drop(temp);
    let encode_s = encoding.elapsed().as_secs_f64();

    let summary = FeatureSummary {
        output: root_out.display(output),
        rows: tally.rows.values().sum(),
        rows_by_split: tally.rows,
        labelled_by_split: tally.labelled,
        numeric_features: spec.numeric.len(),
        vocabularies: spec
            .categorical
            .iter()
            .map(|c| (c.name.clone(), c.vocab.len()))
            .collect(),
        char_length: spec.chars.length,
        neighbours: match &options.neighbours {
            Neighbours::Labels => "labels".to_string(),
            Neighbours::Predictions { root, dataset, .. } => root.display(dataset),
        },
        spec_digest: spec.digest.clone(),
        engine: ENGINE.to_string(),
        memory_limit: options.memory_limit,
        predictions: coverage,
        spill_count: spill.0,
        spilled_bytes: spill.1,
        peak_rss_bytes: peak_rss(),
        aggregate_s,
        fit_s,
        encode_s,
        elapsed_s: started.elapsed().as_secs_f64(),
        parts: tally.parts,
    };
    writer
        .write_sidecar(FEATURIZER_FILE, Bytes::from(spec.to_json()), 0)
        .await?;
    let inputs = vec![InputEntry {
        path: root_in.display(input),
        bytes: manifest.bytes,
        format: format!("labelled-records@{}", manifest.run_id),
    }];
    let stats = serde_json::to_value(&summary).unwrap_or_default();
    writer.commit(&spec.schema(), inputs, stats).await?;
    Ok(summary)
}

fn check_input(root: &Root, input: &str, manifest: &Manifest) -> Result<()> {
    let expected = describe(&pdnsrep_label::schema::labelled_schema());
    if manifest.schema != expected {
        return Err(Error::InputSchema {
            dataset: root.display(input),
            reason: format!(
                "columns [{}]; run `pdnsrep label` on raw records first",
                manifest.schema.join(", ")
            ),
        });
    }
    if manifest.parts.is_empty() {
        return Err(Error::InputSchema {
            dataset: root.display(input),
            reason: "it holds no records".to_string(),
        });
    }
    Ok(())
}

async fn neighbour_setup(options: &FeatureOptions) -> Result<(Mass, NeighbourSource)> {
    match &options.neighbours {
        Neighbours::Labels => Ok((Mass::Labels, NeighbourSource::Labels)),
        Neighbours::Predictions {
            root,
            dataset,
            threshold,
        } => {
            let manifest = read_manifest(root, dataset).await?;
            let missing: Vec<&str> = PREDICTION_COLUMNS
                .iter()
                .filter(|c| {
                    !manifest
                        .schema
                        .iter()
                        .any(|s| s.split(':').next() == Some(**c))
                })
                .copied()
                .collect();
            if !missing.is_empty() || manifest.parts.is_empty() {
                return Err(Error::Predictions {
                    dataset: root.display(dataset),
                    reason: if missing.is_empty() {
                        "it holds no predictions".to_string()
                    } else {
                        format!("missing columns {}", missing.join(", "))
                    },
                });
            }
            let source = NeighbourSource::Predictions {
                dataset: dataset.clone(),
                run_id: manifest.run_id.clone(),
                threshold: *threshold,
            };
            Ok((
                Mass::Predictions {
                    threshold: *threshold,
                },
                source,
            ))
        }
    }
}

/// Runs the aggregation plan into `table`; returns (spill count, spilled bytes).
async fn aggregate(
    root: &Root,
    manifest: &Manifest,
    options: &FeatureOptions,
    engine: &Engine,
    mass: &Mass,
    table: &Path,
) -> Result<(usize, usize)> {
    let ctx = plan::session(engine)?;
    let files = part_files(manifest);
    plan::register_parts(&ctx, "labelled", root, &files).await?;
    if let Neighbours::Predictions {
        root: proot,
        dataset,
        ..
    } = &options.neighbours
    {
        let manifest = read_manifest(proot, dataset).await?;
        plan::register_parts(&ctx, "predictions", proot, &part_files(&manifest)).await?;
    }
    let frame = ctx
        .sql(&plan::feature_sql(mass))
        .await
        .map_err(Error::engine("planning the aggregation"))?;
    let physical = frame
        .create_physical_plan()
        .await
        .map_err(Error::engine("planning the aggregation"))?;
    let mut stream = execute_stream(physical.clone(), ctx.task_ctx())
        .map_err(Error::engine("starting the aggregation"))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
    let path = table.to_path_buf();
    let schema = stream.schema();
    let writing = tokio::task::spawn_blocking(move || write_table(&path, schema, rx));
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::engine("aggregating"))?;
        if tx.send(batch).is_err() {
            break;
        }
    }
    drop(tx);
    writing
        .await
        .map_err(|e| Error::Layout(format!("intermediate writer panicked: {e}")))??;
    Ok(spills(physical.as_ref()))
}

fn part_files(manifest: &Manifest) -> Vec<String> {
    manifest
        .parts
        .iter()
        .map(|p| format!("{}/{}", manifest.dataset, p.path))
        .collect()
}

fn spills(plan: &dyn ExecutionPlan) -> (usize, usize) {
    let own = plan.metrics().map_or((0, 0), |m| {
        (m.spill_count().unwrap_or(0), m.spilled_bytes().unwrap_or(0))
    });
    plan.children().iter().fold(own, |acc, child| {
        let (c, b) = spills(child.as_ref());
        (acc.0 + c, acc.1 + b)
    })
}

fn write_table(
    path: &Path,
    schema: arrow::datatypes::SchemaRef,
    rx: std::sync::mpsc::Receiver<RecordBatch>,
) -> Result<()> {
    let location = path.display().to_string();
    let file = File::create(path).map_err(|source| Error::Temp {
        path: location.clone(),
        source,
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(64 * 1024))
        .build();
    let err = |source| Error::Intermediate {
        path: location.clone(),
        source,
    };
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(err)?;
    for batch in rx {
        writer.write(&batch).map_err(err)?;
    }
    writer.close().map_err(err)?;
    Ok(())
}

fn read_table(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let location = path.display().to_string();
    let file = File::open(path).map_err(|source| Error::Temp {
        path: location.clone(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|source| Error::Intermediate {
            path: location.clone(),
            source,
        })?;
    Ok(reader.map(move |b| b.map_err(|e| Error::Layout(format!("{location}: {e}")))))
}

#[derive(Debug, Default)]
struct Tally {
    rows: BTreeMap<String, u64>,
    labelled: BTreeMap<String, u64>,
    parts: usize,
}

/// Encodes the intermediate table on a blocking thread and writes parts of `part_rows` rows per
/// split as they fill. The table is sorted by split, so each split's parts are written in turn.
async fn encode(
    table: &Path,
    spec: &FeaturizerSpec,
    writer: &mut DatasetWriter,
    part_rows: usize,
) -> Result<Tally> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(8);
    let (path, encoder) = (table.to_path_buf(), Encoder::new(spec.clone()));
    let producing = tokio::task::spawn_blocking(move || {
        let batches = match read_table(&path) {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        for batch in batches {
            let encoded = batch.and_then(|b| encoder.encode(&b));
            let failed = encoded.is_err();
            if tx.blocking_send(encoded).is_err() || failed {
                return;
            }
        }
    });
    let mut tally = Tally::default();
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_split = String::new();
    let mut pending_rows = 0;
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        for (split, slice) in split_runs(&batch) {
            if split != pending_split || pending_rows >= part_rows {
                flush(writer, &pending_split, &mut pending, &mut tally).await?;
                pending_split = split;
                pending_rows = 0;
            }
            pending_rows += slice.num_rows();
            count(&slice, &pending_split, &mut tally);
            pending.push(slice);
        }
    }
    flush(writer, &pending_split, &mut pending, &mut tally).await?;
    producing
        .await
        .map_err(|e| Error::Layout(format!("encoder panicked: {e}")))?;
    Ok(tally)
}

/// Cuts a batch into runs of one split each (batches are sorted by split).
fn split_runs(batch: &RecordBatch) -> Vec<(String, RecordBatch)> {
    let Some(splits) = batch.column_by_name("split") else {
        return Vec::new();
    };
    let splits = splits.as_string::<i32>();
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=batch.num_rows() {
        if i == batch.num_rows() || splits.value(i) != splits.value(start) {
            runs.push((
                splits.value(start).to_string(),
                batch.slice(start, i - start),
            ));
            start = i;
        }
    }
    runs
}

fn count(slice: &RecordBatch, split: &str, tally: &mut Tally) {
    *tally.rows.entry(split.to_string()).or_default() += slice.num_rows() as u64;
    let labelled = slice
        .column_by_name("label")
        .map_or(0, |l| l.len() - l.null_count());
    *tally.labelled.entry(split.to_string()).or_default() += labelled as u64;
}

async fn flush(
    writer: &mut DatasetWriter,
    split: &str,
    pending: &mut Vec<RecordBatch>,
    tally: &mut Tally,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    writer
        .write_part(&format!("split={split}"), pending)
        .await?;
    pending.clear();
    tally.parts += 1;
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Layout(format!("worker panicked: {e}")))?
}

/// The process's peak resident set (`VmHWM`), on Linux.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_out_of_range_are_refused_with_the_option_named() {
        let options = FeatureOptions {
            char_length: 0,
            ..FeatureOptions::default()
        };
        let err = options.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid option `char_length`: must be between 1 and 255"
        );
        let options = FeatureOptions {
            memory_limit: Some(1 << 20),
            ..FeatureOptions::default()
        };
        assert!(
            options
                .validate()
                .unwrap_err()
                .to_string()
                .contains("memory_limit")
        );
    }
}
