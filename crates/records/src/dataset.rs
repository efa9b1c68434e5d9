//! Datasets on an object store: Parquet parts plus a manifest that makes them visible.
//!
//! A writer puts parts under names unique to its run (`<dataset>/<partition>/part-<run>-<n>`),
//! then commits by writing `<dataset>/_manifest.json` in one atomic put. Readers trust only the
//! manifest, so parts of a run that died before committing are invisible.
//!
//! After a commit the writer removes the parts of the version it replaced, and objects that no
//! manifest lists once they are older than a grace period (orphans of killed runs). Younger
//! unlisted objects may belong to a concurrent writer of the same dataset and are left alone:
//! deleting them would let that writer commit a manifest naming parts that no longer exist.
//! Concurrent writers therefore never corrupt a dataset; the last commit wins.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::schema::describe;
use crate::store::Root;

/// The manifest's file name inside a dataset folder.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// Bumped whenever the record layout changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// How old an object that no manifest lists must be before a commit removes it.
pub const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// Rows per Parquet row group: large enough for good compression, small enough for streaming
/// readers to shuffle at row-group granularity.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The description of a committed dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// What the dataset holds, for example `raw-records`.
    pub kind: String,
    /// The dataset's path under the root.
    pub dataset: String,
    pub run_id: String,
    pub created_at: String,
    pub tool_version: String,
    /// `name:type` per column, `?` marking nullable ones.
    pub schema: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub parts: Vec<PartEntry>,
    pub inputs: Vec<InputEntry>,
    /// Files written beside the parts (rejects, reports), relative to the dataset.
    #[serde(default)]
    pub sidecars: Vec<PartEntry>,
    /// Stage-specific counters and settings.
    #[serde(default)]
    pub stats: serde_json::Value,
}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Relative to the dataset folder.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// One input a dataset was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEntry {
    pub path: String,
    pub bytes: u64,
    pub format: String,
}

/// Writes the parts of one dataset version and commits them.
#[derive(Debug)]
pub struct DatasetWriter {
    root: Root,
    dataset: String,
    kind: String,
    run_id: String,
    parts: Vec<PartEntry>,
    sidecars: Vec<PartEntry>,
    next_part: usize,
    orphan_grace: Duration,
}

impl DatasetWriter {
    /// Starts a new version of `dataset` (a slash-separated path under the root). Nothing is
    /// visible until [`DatasetWriter::commit`].
    pub fn new(root: &Root, dataset: &str, kind: &str) -> DatasetWriter {
        DatasetWriter {
            root: root.clone(),
            dataset: dataset.trim_matches('/').to_string(),
            kind: kind.to_string(),
            run_id: new_run_id(),
            parts: Vec::new(),
            sidecars: Vec::new(),
            next_part: 0,
            orphan_grace: DEFAULT_ORPHAN_GRACE,
        }
    }

    /// Sets how old unlisted objects must be before a commit removes them (see the module
    /// documentation); zero removes every unlisted object, which is safe only when no other
    /// writer works on the same dataset.
    pub fn with_orphan_grace(mut self, grace: Duration) -> DatasetWriter {
        self.orphan_grace = grace;
        self
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Encodes `batches` as one zstd Parquet part in `partition` (a Hive-style folder such as
    /// `bucket=07`, or empty) and uploads it.
    pub async fn write_part(
        &mut self,
        partition: &str,
        batches: &[RecordBatch],
    ) -> Result<PartEntry> {
        let Some(first) = batches.first() else {
            return Err(Error::Schema {
                reason: "a part needs at least one batch".into(),
            });
        };
        let relative = match partition {
            "" => format!("part-{}-{:05}.parquet", self.run_id, self.next_part),
            p => format!("{p}/part-{}-{:05}.parquet", self.run_id, self.next_part),
        };
        self.next_part += 1;
        let location = self.root.display(&format!("{}/{relative}", self.dataset));
        let bytes = encode_parquet(first.schema(), batches, &location)?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let entry = self.put(relative, bytes, rows).await?;
        self.parts.push(entry.clone());
        Ok(entry)
    }

    /// Uploads a file that belongs with the dataset (for example the rejects of an ingest).
    pub async fn write_sidecar(&mut self, name: &str, bytes: Bytes, rows: u64) -> Result<()> {
        let entry = self
            .put(format!("_{}-{name}", self.run_id), bytes, rows)
            .await?;
        self.sidecars.push(entry);
        Ok(())
    }

    async fn put(&self, relative: String, bytes: Bytes, rows: u64) -> Result<PartEntry> {
        let path = self.root.path(&format!("{}/{relative}", self.dataset));
        let entry = PartEntry {
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: bytes.len() as u64,
            rows,
            path: relative,
        };
        self.root
            .store()
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| Error::store(&path, e))?;
        Ok(entry)
    }

    /// Makes this version visible by writing its manifest, then removes every object under the
    /// dataset that the manifest does not list (earlier versions, orphans of killed runs).
    pub async fn commit(
        self,
        schema: &arrow::datatypes::Schema,
        inputs: Vec<InputEntry>,
        stats: serde_json::Value,
    ) -> Result<Manifest> {
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            kind: self.kind,
            dataset: self.dataset.clone(),
            run_id: self.run_id,
            created_at: now_rfc3339(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            schema: describe(schema),
            rows: self.parts.iter().map(|p| p.rows).sum(),
            bytes: self.parts.iter().map(|p| p.bytes).sum(),
            parts: self.parts,
            inputs,
            sidecars: self.sidecars,
            stats,
        };
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::BadManifest {
            location: self.root.display(&self.dataset),
            reason: e.to_string(),
        })?;
        let previous = match read_manifest(&self.root, &self.dataset).await {
            Ok(m) => Some(m),
            Err(Error::DatasetNotFound { .. } | Error::BadManifest { .. }) => None,
            Err(e) => return Err(e),
        };
        let path = self.root.path(&format!("{}/{MANIFEST_FILE}", self.dataset));
        self.root
            .store()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|e| Error::store(&path, e))?;
        remove_unlisted(&self.root, &manifest, previous.as_ref(), self.orphan_grace).await?;
        Ok(manifest)
    }
}

fn object_paths(root: &Root, manifest: &Manifest) -> std::collections::HashSet<String> {
    manifest
        .parts
        .iter()
        .chain(&manifest.sidecars)
        .map(|p| {
            root.path(&format!("{}/{}", manifest.dataset, p.path))
                .to_string()
        })
        .collect()
}

async fn remove_unlisted(
    root: &Root,
    manifest: &Manifest,
    previous: Option<&Manifest>,
    grace: Duration,
) -> Result<()> {
    let mut keep = object_paths(root, manifest);
    keep.insert(
        root.path(&format!("{}/{MANIFEST_FILE}", manifest.dataset))
            .to_string(),
    );
    let replaced = previous.map(|p| object_paths(root, p)).unwrap_or_default();
    let cutoff_ms = SystemTime::now()
        .checked_sub(grace)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    let prefix = root.path(&manifest.dataset);
    let listed: Vec<_> = root
        .store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::store(&prefix, e))?;
    for meta in listed {
        let location = meta.location.as_ref();
        let stale = replaced.contains(location)
            || (grace.is_zero() || meta.last_modified.timestamp_millis() < cutoff_ms);
        if stale && !keep.contains(location) && !is_nested_dataset(&meta.location, &prefix) {
            tracing::debug!(location = %meta.location, "removing object not in the manifest");
            root.store()
                .delete(&meta.location)
                .await
                .map_err(|e| Error::store(&meta.location, e))?;
        }
    }
    Ok(())
}

/// Objects under a folder that is a dataset of its own (holding a manifest) are not ours to
/// delete. Dataset names nest only through Hive partitions of the form `key=value`, so any
/// other subfolder is treated as foreign.
fn is_nested_dataset(
    location: &object_store::path::Path,
    prefix: &object_store::path::Path,
) -> bool {
    let Some(mut rest) = location.prefix_match(prefix) else {
        return false;
    };
    match rest.next() {
        Some(first) => {
            let first = first.as_ref().to_string();
            let is_file = location.parts().count() == prefix.parts().count() + 1;
            !is_file && !first.contains('=')
        }
        None => false,
    }
}

/// Checks a dataset name: slash-separated segments of letters, digits, `.`, `_`, `-` and `=`,
/// none empty, `.` or `..`, and none starting with `_` (reserved for manifests and sidecars).
pub fn check_dataset_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidDataset {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("empty name"));
    }
    if name.starts_with('/') {
        return Err(invalid(
            "names are relative to the root; drop the leading `/`",
        ));
    }
    for segment in name.trim_end_matches('/').split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(invalid("empty, `.` or `..` path segment"));
        }
        if segment.starts_with('_') {
            return Err(invalid("segments starting with `_` are reserved"));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-=".contains(*c)))
        {
            return Err(invalid(&format!("character {c:?} is not allowed")));
        }
    }
    Ok(())
}

/// Checks that committing a `kind` dataset as `dataset` under `root` replaces nothing it must
/// not: none of `inputs` (datasets under the same root that the writer reads) and no existing
/// dataset of another kind. Replacing an earlier dataset of the same kind stays allowed.
pub async fn check_output(root: &Root, dataset: &str, kind: &str, inputs: &[&str]) -> Result<()> {
    let name = dataset.trim_matches('/');
    let refuse = |reason: String| Error::WouldReplace {
        dataset: root.display(name),
        reason,
    };
    if inputs.iter().any(|i| i.trim_matches('/') == name) {
        return Err(refuse(
            "it is this command's input; choose another output name".into(),
        ));
    }
    match read_manifest(root, name).await {
        Ok(existing) if existing.kind != kind => Err(refuse(format!(
            "it holds a `{}` dataset, which a `{kind}` dataset would replace; choose another \
             name or delete it first",
            existing.kind
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads the manifest of a committed dataset.
pub async fn read_manifest(root: &Root, dataset: &str) -> Result<Manifest> {
    let dataset = dataset.trim_matches('/');
    let path = root.path(&format!("{dataset}/{MANIFEST_FILE}"));
    let bytes = match root.store().get(&path).await {
        Ok(result) => result.bytes().await.map_err(|e| Error::store(&path, e))?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Error::DatasetNotFound {
                root: root.url().to_string(),
                dataset: dataset.to_string(),
            });
        }
        Err(e) => return Err(Error::store(&path, e)),
    };
    let location = root.display(&format!("{dataset}/{MANIFEST_FILE}"));
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::BadManifest {
        location: location.clone(),
        reason: e.to_string(),
    })?;
    if manifest.schema_version != SCHEMA_VERSION {
        return Err(Error::BadManifest {
            location,
            reason: format!(
                "schema version {} (this build reads {SCHEMA_VERSION})",
                manifest.schema_version
            ),
        });
    }
    Ok(manifest)
}

/// Fetches one part, checks it against the manifest's hash and decodes it.
pub async fn read_part(
    root: &Root,
    manifest: &Manifest,
    part: &PartEntry,
) -> Result<Vec<RecordBatch>> {
    let relative = format!("{}/{}", manifest.dataset, part.path);
    let path = root.path(&relative);
    let location = root.display(&relative);
    let bytes = root
        .store()
        .get(&path)
        .await
        .map_err(|e| Error::store(&path, e))?
        .bytes()
        .await
        .map_err(|e| Error::store(&path, e))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if digest != part.sha256 {
        return Err(Error::CorruptPart {
            location,
            reason: format!("sha256 {digest}, manifest says {}", part.sha256),
        });
    }
    let parquet_err = |source| Error::Parquet {
        location: location.clone(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(parquet_err)?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(parquet_err)?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| Error::Arrow {
            context: crate::error::Context(location.clone()),
            source,
        })
}

fn encode_parquet(
    schema: arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
    location: &str,
) -> Result<Bytes> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("pdnsrep {}", env!("CARGO_PKG_VERSION")))
        .build();
    let parquet_err = |source| Error::Parquet {
        location: location.to_string(),
        source,
    };
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, schema, Some(props)).map_err(parquet_err)?;
    for batch in batches {
        writer.write(batch).map_err(parquet_err)?;
    }
    writer.close().map_err(parquet_err)?;
    Ok(Bytes::from(buffer))
}

/// A run id that sorts by time and differs between concurrent writers.
fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let salt = xxhash_rust::xxh3::xxh3_64(
        format!(
            "{}:{}:{:?}",
            now.as_nanos(),
            std::process::id(),
            std::thread::current().id()
        )
        .as_bytes(),
    );
    format!(
        "{}{:06x}",
        format_compact(now.as_secs() as i64),
        salt & 0xff_ffff
    )
}

fn format_compact(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
