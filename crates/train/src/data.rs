//! Feature datasets as the trainer sees them: the spec, and the row groups of each split.

use std::sync::Arc;

use arrow::array::{Array, AsArray, FixedSizeListArray, RecordBatch};
use arrow::datatypes::{Float32Type, Int32Type, UInt8Type, UInt64Type};
use futures::TryStreamExt;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use pdnsrep_model::Inputs;
use pdnsrep_records::features::{FEATURIZER_FILE, FeaturizerSpec};
use pdnsrep_records::{Manifest, Root, read_manifest};

use crate::error::{Error, Result};

/// Marks a row without a label in [`Block::labels`].
pub const UNLABELLED: u8 = u8::MAX;

/// The columns the trainer reads; names, rdata and the split column are skipped.
const COLUMNS: [&str; 5] = ["label", "domain_queries", "numeric", "categorical", "chars"];

/// One Parquet row group: the unit that is shuffled, fetched and decoded as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Object path of the part.
    pub path: object_store::path::Path,
    pub size: u64,
    pub row_group: usize,
    pub rows: u64,
}

/// An opened feature dataset.
#[derive(Debug, Clone)]
pub struct FeatureSource {
    pub root: Root,
    pub manifest: Manifest,
    pub spec: FeaturizerSpec,
}

impl FeatureSource {
    /// Reads the manifest and the featurizer spec of `dataset`.
    pub async fn open(root: &Root, dataset: &str) -> Result<FeatureSource> {
        let manifest = read_manifest(root, dataset).await?;
        if manifest.kind != "features" {
            return Err(Error::Input(format!(
                "dataset `{dataset}` holds `{}`, not features",
                manifest.kind
            )));
        }
        let sidecar = manifest
            .sidecars
            .iter()
            .find(|s| s.path.ends_with(FEATURIZER_FILE))
            .ok_or_else(|| {
                Error::Input(format!(
                    "dataset `{dataset}` has no `{FEATURIZER_FILE}` sidecar"
                ))
            })?;
        let relative = format!("{}/{}", manifest.dataset, sidecar.path);
        let bytes = get(root, &root.path(&relative)).await?;
        let spec = FeaturizerSpec::from_json(&bytes)
            .map_err(|e| Error::Input(format!("{}: {e}", root.display(&relative))))?;
        Ok(FeatureSource {
            root: root.clone(),
            manifest,
            spec,
        })
    }

    /// The row groups of `split`, in manifest order.
    pub async fn units(&self, split: &str) -> Result<Vec<Unit>> {
        let prefix = format!("split={split}/");
        let mut units = Vec::new();
        for part in self
            .manifest
            .parts
            .iter()
            .filter(|p| p.path.starts_with(&prefix))
        {
            let path = self
                .root
                .path(&format!("{}/{}", self.manifest.dataset, part.path));
            let builder = open_part(self.root.store(), &path, part.bytes).await?;
            for (i, rg) in builder.metadata().row_groups().iter().enumerate() {
                units.push(Unit {
                    path: path.clone(),
                    size: part.bytes,
                    row_group: i,
                    rows: rg.num_rows() as u64,
                });
            }
        }
        Ok(units)
    }
}

async fn get(root: &Root, path: &object_store::path::Path) -> Result<bytes::Bytes> {
    let store_err = |e| Error::Store {
        location: path.to_string(),
        source: e,
    };
    root.store()
        .get_opts(path, Default::default())
        .await
        .map_err(store_err)?
        .bytes()
        .await
        .map_err(store_err)
}

#[expect(
    deprecated,
    reason = "parquet 59 deprecates `ParquetObjectReader` without a released replacement that \
              reads ranges of an object_store object; TODO(parquet ≥ 60): move to its successor"
)]
async fn open_part(
    store: &Arc<dyn ObjectStore>,
    path: &object_store::path::Path,
    size: u64,
) -> Result<ParquetRecordBatchStreamBuilder<parquet::arrow::async_reader::ParquetObjectReader>> {
    let reader =
        parquet::arrow::async_reader::ParquetObjectReader::new(store.clone(), path.clone())
            .with_file_size(size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| Error::Parquet {
            location: path.to_string(),
            source: e,
        })
}

/// The decoded rows of one unit, column by column.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub rows: usize,
    pub labels: Vec<u8>,
    pub domain_queries: Vec<u64>,
    pub numeric: Vec<f32>,
    pub categorical: Vec<i32>,
    pub chars: Vec<u8>,
    pub widths: Widths,
}

/// Values per row of the list columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Widths {
    pub numeric: usize,
    pub categorical: usize,
    pub chars: usize,
}

impl Widths {
    pub fn of(spec: &FeaturizerSpec) -> Widths {
        Widths {
            numeric: spec.numeric.len(),
            categorical: spec.categorical.len(),
            chars: spec.chars.length,
        }
    }
}

/// Fetches and decodes one unit, keeping only labelled rows when `labelled_only`.
pub async fn read_unit(
    store: &Arc<dyn ObjectStore>,
    unit: &Unit,
    widths: Widths,
    labelled_only: bool,
) -> Result<Block> {
    let builder = open_part(store, &unit.path, unit.size).await?;
    let schema = builder.parquet_schema();
    let arrow_schema = builder.schema().clone();
    let roots: Vec<usize> = COLUMNS
        .iter()
        .map(|c| arrow_schema.index_of(c))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Input(format!("`{}`: {e}", unit.path)))?;
    let mask = ProjectionMask::roots(schema, roots);
    let parquet_err = |e| Error::Parquet {
        location: unit.path.to_string(),
        source: e,
    };
    let batches: Vec<RecordBatch> = builder
        .with_projection(mask)
        .with_row_groups(vec![unit.row_group])
        .with_batch_size(64 * 1024)
        .build()
        .map_err(parquet_err)?
        .try_collect()
        .await
        .map_err(parquet_err)?;
    let mut block = Block {
        widths,
        ..Block::default()
    };
    for batch in &batches {
        append(&mut block, batch, labelled_only)
            .map_err(|reason| Error::Input(format!("`{}`: {reason}", unit.path)))?;
    }
    Ok(block)
}

/// Every column of one unit's rows, as stored (keys included), for writing predictions.
pub(crate) async fn read_unit_batches(
    store: &Arc<dyn ObjectStore>,
    unit: &Unit,
) -> Result<Vec<RecordBatch>> {
    let builder = open_part(store, &unit.path, unit.size).await?;
    let parquet_err = |e| Error::Parquet {
        location: unit.path.to_string(),
        source: e,
    };
    builder
        .with_row_groups(vec![unit.row_group])
        .with_batch_size(16 * 1024)
        .build()
        .map_err(parquet_err)?
        .try_collect()
        .await
        .map_err(parquet_err)
}

/// The model inputs of every row of `batch` (a feature dataset batch), labelled or not.
pub fn batch_of(batch: &RecordBatch, widths: Widths) -> Result<Batch, String> {
    let mut block = Block {
        widths,
        ..Block::default()
    };
    append(&mut block, batch, false)?;
    Ok(Batch {
        inputs: Inputs {
            rows: block.rows,
            numeric: block.numeric,
            categorical: block.categorical,
            chars: block.chars,
        },
        labels: block.labels,
        domain_queries: block.domain_queries,
    })
}

fn append(block: &mut Block, batch: &RecordBatch, labelled_only: bool) -> Result<(), String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column `{name}`"))
    };
    let labels = column("label")?
        .as_primitive_opt::<UInt8Type>()
        .ok_or("`label` is not UInt8")?;
    let queries = column("domain_queries")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or("`domain_queries` is not UInt64")?;
    let numeric = list(column("numeric")?, block.widths.numeric, "numeric")?;
    let categorical = list(
        column("categorical")?,
        block.widths.categorical,
        "categorical",
    )?;
    let chars = list(column("chars")?, block.widths.chars, "chars")?;
    let numeric = numeric.values().as_primitive::<Float32Type>().values();
    let categorical = categorical.values().as_primitive::<Int32Type>().values();
    let chars = chars.values().as_primitive::<UInt8Type>().values();
    let w = block.widths;
    for row in 0..batch.num_rows() {
        let label = if labels.is_null(row) {
            UNLABELLED
        } else {
            labels.value(row)
        };
        if labelled_only && label == UNLABELLED {
            continue;
        }
        block.rows += 1;
        block.labels.push(label);
        block.domain_queries.push(queries.value(row));
        block
            .numeric
            .extend_from_slice(&numeric[row * w.numeric..(row + 1) * w.numeric]);
        block
            .categorical
            .extend_from_slice(&categorical[row * w.categorical..(row + 1) * w.categorical]);
        block
            .chars
            .extend_from_slice(&chars[row * w.chars..(row + 1) * w.chars]);
    }
    Ok(())
}

fn list<'a>(
    array: &'a Arc<dyn Array>,
    width: usize,
    name: &str,
) -> Result<&'a FixedSizeListArray, String> {
    let list = array
        .as_fixed_size_list_opt()
        .ok_or_else(|| format!("`{name}` is not a fixed-size list"))?;
    if list.value_length() as usize != width {
        return Err(format!(
            "`{name}` holds {} values per row, the featurizer spec says {width}",
            list.value_length()
        ));
    }
    Ok(list)
}

/// A batch of rows ready for the model, with the targets and the rule's input.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub inputs: Inputs,
    pub labels: Vec<u8>,
    pub domain_queries: Vec<u64>,
}

impl Batch {
    pub fn with_capacity(rows: usize, w: Widths) -> Batch {
        Batch {
            inputs: Inputs {
                rows: 0,
                numeric: Vec::with_capacity(rows * w.numeric),
                categorical: Vec::with_capacity(rows * w.categorical),
                chars: Vec::with_capacity(rows * w.chars),
            },
            labels: Vec::with_capacity(rows),
            domain_queries: Vec::with_capacity(rows),
        }
    }

    /// Appends row `row` of `block`.
    pub fn push(&mut self, block: &Block, row: usize) {
        let w = block.widths;
        self.inputs.rows += 1;
        self.inputs
            .numeric
            .extend_from_slice(&block.numeric[row * w.numeric..(row + 1) * w.numeric]);
        self.inputs
            .categorical
            .extend_from_slice(&block.categorical[row * w.categorical..(row + 1) * w.categorical]);
        self.inputs
            .chars
            .extend_from_slice(&block.chars[row * w.chars..(row + 1) * w.chars]);
        self.labels.push(block.labels[row]);
        self.domain_queries.push(block.domain_queries[row]);
    }

    pub fn rows(&self) -> usize {
        self.inputs.rows
    }
}
