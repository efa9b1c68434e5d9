//! Predictions datasets: class probabilities for every record of a feature dataset, keyed by
//! record, for later passes (`pdnsrep features --predictions`) and for scoring.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use pdnsrep_records::features::CLASSES;
use pdnsrep_records::{DatasetWriter, InputEntry, Root, check_dataset_name, check_output};
use serde::Serialize;

use crate::data::{FeatureSource, Widths, batch_of, read_unit_batches};
use crate::error::{Error, Result};
use crate::metrics::argmax_rows;
use crate::predict::Predictor;
use crate::run::{RunDir, RunInfo};

/// The dataset kind written in predictions manifests.
pub const PREDICTIONS_KIND: &str = "predictions";

/// The columns of a predictions dataset: the record key, its split and label as the feature
/// dataset had them, and one probability per class.
pub fn predictions_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("rrtype", DataType::UInt16, false),
        Field::new("rdata", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("label", DataType::UInt8, true),
    ];
    fields.extend(
        CLASSES
            .iter()
            .map(|c| Field::new(format!("p_{c}"), DataType::Float32, false)),
    );
    Arc::new(Schema::new(fields))
}

/// What writing a predictions dataset did.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionsSummary {
    pub output: String,
    pub rows_by_split: BTreeMap<String, u64>,
    /// Rows whose most probable class is each class, over all splits.
    pub predicted: BTreeMap<String, u64>,
    pub parts: usize,
    pub seconds: f64,
}

/// Writes the class probabilities that the model of `run` gives every row of `splits` of
/// `source` as dataset `output` under `out`, one part per feature part, keys copied from the
/// features; the manifest names both inputs.
pub async fn write_predictions(
    predictor: &Predictor,
    run: &RunDir,
    info: &RunInfo,
    source: &FeatureSource,
    splits: &[&str],
    out: &Root,
    output: &str,
) -> Result<PredictionsSummary> {
    let started = std::time::Instant::now();
    check_dataset_name(output)?;
    if source.spec.digest != info.featurizer_digest {
        return Err(Error::Input(format!(
            "the features of `{}` were computed by featurizer {}, the model was trained on {}",
            source.manifest.dataset, source.spec.digest, info.featurizer_digest
        )));
    }
    let reads: Vec<&str> = if source.root.url() == out.url() {
        vec![source.manifest.dataset.as_str()]
    } else {
        Vec::new()
    };
    check_output(out, output, PREDICTIONS_KIND, &reads).await?;
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = splits.iter().find(|s| !seen.insert(**s)) {
        return Err(Error::Input(format!("split `{twice}` is listed twice")));
    }
    let widths = Widths::of(&source.spec);
    let schema = predictions_schema();
    let mut writer = DatasetWriter::new(out, output, PREDICTIONS_KIND);
    let mut rows_by_split = BTreeMap::new();
    let mut predicted: BTreeMap<String, u64> = CLASSES.iter().map(|c| (c.to_string(), 0)).collect();
    let mut parts = 0;
    for split in splits {
        let units = source.units(split).await?;
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut current = None;
        for unit in &units {
            // One output part per input part: flush when the part changes.
            if current.as_ref().is_some_and(|p| p != &unit.path) {
                parts += flush(&mut writer, split, &mut pending).await?;
            }
            current = Some(unit.path.clone());
            for batch in read_unit_batches(source.root.store(), unit).await? {
                let inputs = batch_of(&batch, widths)
                    .map_err(|reason| Error::Input(format!("`{}`: {reason}", unit.path)))?;
                let probs = predictor.predict(&inputs)?;
                for best in argmax_rows(&probs, CLASSES.len()) {
                    *predicted
                        .entry(CLASSES[best as usize].to_string())
                        .or_default() += 1;
                }
                *rows_by_split.entry(split.to_string()).or_default() += batch.num_rows() as u64;
                pending.push(output_batch(&schema, &batch, &probs)?);
            }
        }
        parts += flush(&mut writer, split, &mut pending).await?;
    }
    let summary = PredictionsSummary {
        output: out.display(output),
        rows_by_split,
        predicted,
        parts,
        seconds: started.elapsed().as_secs_f64(),
    };
    let inputs = vec![
        InputEntry {
            path: source.root.display(&source.manifest.dataset),
            bytes: source.manifest.bytes,
            format: format!("features@{}", source.manifest.run_id),
        },
        InputEntry {
            path: run.url().to_string(),
            bytes: 0,
            format: format!("model run on featurizer {}", info.featurizer_digest),
        },
    ];
    let stats = serde_json::to_value(&summary).unwrap_or_default();
    writer.commit(&schema, inputs, stats).await?;
    Ok(summary)
}

async fn flush(
    writer: &mut DatasetWriter,
    split: &str,
    pending: &mut Vec<RecordBatch>,
) -> Result<usize> {
    if pending.is_empty() {
        return Ok(0);
    }
    writer
        .write_part(&format!("split={split}"), pending)
        .await?;
    pending.clear();
    Ok(1)
}

fn output_batch(schema: &SchemaRef, features: &RecordBatch, probs: &[f32]) -> Result<RecordBatch> {
    let column = |name: &str| {
        features
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| Error::Input(format!("the feature dataset has no `{name}` column")))
    };
    let mut columns: Vec<ArrayRef> = ["name", "rrtype", "rdata", "split", "label"]
        .iter()
        .map(|c| column(c))
        .collect::<Result<_>>()?;
    for class in 0..CLASSES.len() {
        let values: Float32Array = probs
            .chunks_exact(CLASSES.len())
            .map(|row| row[class])
            .collect();
        columns.push(Arc::new(values));
    }
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::Input(format!("building predictions: {e}")))
}
