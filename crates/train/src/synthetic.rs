//! Small synthetic feature datasets with a known structure, for tests and benchmarks.
//!
//! Every row has a standardized log query count `x0`, two more numeric features `x1`, `x2`, a
//! small categorical feature (code 1 marks a sinkhole operator), a large noisy one (hashed by
//! the network) and a random name. The label is:
//!
//! - sinkhole when the small categorical is 1 (about 10 % of rows);
//! - otherwise malicious when `-x0 + 1.5·sign(x1·x2) > 0`, benign else.
//!
//! The rule sees only the query count, so it can neither find sinkholes nor the interaction;
//! logistic regression finds the sinkholes but not the interaction; a hidden layer finds both.
//! So accuracy should order rule < logistic regression < network.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray, UInt8Array,
    UInt16Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field};
use bytes::Bytes;
use pdnsrep_records::features::{
    CLASSES, CategoricalFeature, CharEncoding, FEATURIZER_VERSION, FeaturizerSpec, NeighbourSource,
    NumericFeature, Transform,
};
use pdnsrep_records::{DatasetWriter, Root};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::error::{Error, Result};

/// The shape of a synthetic dataset.
#[derive(Debug, Clone)]
pub struct Synthetic {
    pub rows: usize,
    /// Parts per split, so that loaders have several row groups to shuffle.
    pub parts_per_split: usize,
    /// Codes of the large categorical feature.
    pub large_vocab: usize,
    pub chars_len: usize,
    pub seed: u64,
}

impl Default for Synthetic {
    fn default() -> Self {
        Synthetic {
            rows: 4000,
            parts_per_split: 3,
            large_vocab: 10_000,
            chars_len: 16,
            seed: 7,
        }
    }
}

/// One generated row.
struct Row {
    name: String,
    split: &'static str,
    label: Option<u8>,
    queries: u64,
    numeric: [f32; 3],
    categorical: [i32; 2],
}

impl Synthetic {
    /// The featurizer spec of the generated dataset.
    pub fn spec(&self) -> FeaturizerSpec {
        let numeric = |name: &str| NumericFeature {
            name: name.into(),
            transform: Transform::Identity,
            mean: 0.0,
            std: 1.0,
        };
        let vocab = |n: usize| (1..n).map(|i| format!("v{i}")).collect();
        FeaturizerSpec {
            format_version: FEATURIZER_VERSION,
            engine: "synthetic".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            source_dataset: "synthetic".into(),
            source_run_id: format!("seed-{}", self.seed),
            neighbours: NeighbourSource::Labels,
            classes: CLASSES.iter().map(|c| c.to_string()).collect(),
            numeric: vec![numeric("log_queries"), numeric("x1"), numeric("x2")],
            categorical: vec![
                CategoricalFeature {
                    name: "operator".into(),
                    min_count: 1,
                    vocab: vocab(10),
                },
                CategoricalFeature {
                    name: "asn".into(),
                    min_count: 1,
                    vocab: vocab(self.large_vocab),
                },
            ],
            chars: CharEncoding::standard(self.chars_len),
            settings: serde_json::json!({ "rows": self.rows, "seed": self.seed }),
            digest: String::new(),
        }
        .seal()
    }

    fn row(&self, i: usize, rng: &mut Pcg64Mcg) -> Row {
        let x0: f64 = normal(rng);
        let (x1, x2): (f64, f64) = (normal(rng), normal(rng));
        let operator = if rng.random::<f64>() < 0.1 {
            1
        } else {
            rng.random_range(2..10)
        };
        let label = if operator == 1 {
            2
        } else {
            u8::from(-x0 + 1.5 * (x1 * x2).signum() > 0.0)
        };
        let split = match i % 20 {
            0..=13 => "train",
            14..=16 => "valid",
            17..=18 => "test",
            _ => "unlabelled",
        };
        let name: String = (0..rng.random_range(6..self.chars_len + 4))
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect();
        Row {
            name: format!("{name}.example"),
            split,
            label: (split != "unlabelled").then_some(label),
            queries: (x0 * 1.5 + 4.0).exp().round() as u64,
            numeric: [x0 as f32, x1 as f32, x2 as f32],
            categorical: [operator, rng.random_range(0..self.large_vocab as i32)],
        }
    }

    /// Writes the dataset with its `featurizer.json` sidecar and returns the spec.
    pub async fn write(&self, root: &Root, dataset: &str) -> Result<FeaturizerSpec> {
        let spec = self.spec();
        let mut rng = Pcg64Mcg::seed_from_u64(self.seed);
        let rows: Vec<Row> = (0..self.rows).map(|i| self.row(i, &mut rng)).collect();
        let mut writer = DatasetWriter::new(root, dataset, "features");
        for split in ["train", "valid", "test", "unlabelled"] {
            let in_split: Vec<&Row> = rows.iter().filter(|r| r.split == split).collect();
            let per_part = in_split.len().div_ceil(self.parts_per_split.max(1)).max(1);
            for chunk in in_split.chunks(per_part) {
                let batch = to_batch(chunk, &spec)?;
                writer
                    .write_part(&format!("split={split}"), &[batch])
                    .await?;
            }
        }
        writer
            .write_sidecar("featurizer.json", Bytes::from(spec.to_json()), 0)
            .await?;
        writer
            .commit(&spec.schema(), Vec::new(), serde_json::json!({}))
            .await?;
        Ok(spec)
    }
}

fn normal(rng: &mut Pcg64Mcg) -> f64 {
    // Box–Muller: enough for test data, no extra dependency.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn to_batch(rows: &[&Row], spec: &FeaturizerSpec) -> Result<RecordBatch> {
    let mut chars = Vec::new();
    for r in rows {
        spec.chars.encode_into(&r.name, &mut chars);
    }
    let n = rows.len();
    let numeric: Vec<f32> = rows.iter().flat_map(|r| r.numeric).collect();
    let categorical: Vec<i32> = rows.iter().flat_map(|r| r.categorical).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.name.as_str()),
        )),
        Arc::new(UInt16Array::from(vec![1u16; rows.len()])),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|_| "192.0.2.1"),
        )),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.split))),
        Arc::new(UInt8Array::from_iter(rows.iter().map(|r| r.label))),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.queries),
        )),
        fixed_list(
            Arc::new(Float32Array::from(numeric)),
            DataType::Float32,
            3,
            n,
        )?,
        fixed_list(
            Arc::new(Int32Array::from(categorical)),
            DataType::Int32,
            2,
            n,
        )?,
        fixed_list(
            Arc::new(UInt8Array::from(chars)),
            DataType::UInt8,
            spec.chars.length,
            n,
        )?,
    ];
    RecordBatch::try_new(spec.schema(), columns).map_err(|e| Error::Input(e.to_string()))
}

/// A `FixedSizeList` column of non-null items, as the feature schema declares them: `values`
/// as `rows` lists of `width` items each (`width` may be zero).
pub fn fixed_list(values: ArrayRef, item: DataType, width: usize, rows: usize) -> Result<ArrayRef> {
    let field = Arc::new(Field::new("item", item, false));
    FixedSizeListArray::try_new_with_length(field, width as i32, values, None, rows)
        .map(|a| Arc::new(a) as ArrayRef)
        .map_err(|e| Error::Input(e.to_string()))
}
