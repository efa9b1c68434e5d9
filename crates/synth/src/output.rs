//! Shards of entities generated in parallel, and the ordered sink that turns them into parts.
//!
//! Shards run on rayon a window at a time and are consumed strictly in shard order, so every
//! bucket receives the same rows in the same order whatever the thread count; a bucket becomes
//! a part each time it holds `part_rows` rows. Memory in flight is one window of shards plus
//! one partly filled part per bucket.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt16Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};
use pdnsrep_records::{DatasetWriter, Root, schema::records_to_batch};
use serde::Serialize;

use crate::domain::{Ctx, Role, Row, entity};
use crate::error::{Error, Result};
use crate::stats::Stats;

/// What one shard produced.
#[derive(Debug, Default)]
pub(crate) struct ShardOut {
    pub buckets: Vec<Vec<Row>>,
    pub block: Vec<String>,
    pub allow_noise: Vec<String>,
    pub stats: Stats,
}

/// The raw records' format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A `raw-records` dataset, as `pdnsrep ingest` writes.
    #[default]
    Parquet,
    /// Passive DNS Common Output Format NDJSON files, as a sensor export would give.
    Cof,
}

/// Makes every entity of shard `shard`: the entities of each role whose index is congruent to
/// the shard number.
pub(crate) fn generate_shard(
    ctx: &Ctx,
    shard: u64,
    shards: u64,
    buckets: u16,
    ip_sample: u64,
) -> ShardOut {
    let mut out = ShardOut {
        buckets: (0..buckets).map(|_| Vec::new()).collect(),
        ..ShardOut::default()
    };
    for (ri, role) in Role::ALL.iter().enumerate() {
        let mut index = shard;
        while index < ctx.counts[ri] {
            let e = entity(ctx, *role, index);
            out.stats.add_entity(&e.rows, ip_sample);
            out.block.extend(e.block);
            out.allow_noise.extend(e.allow_noise);
            for row in e.rows {
                let r = &row.record;
                let bucket =
                    pdnsrep_records::bucket_of(&r.name, r.rrtype, &r.rdata, usize::from(buckets));
                out.buckets[bucket].push(row);
            }
            index += shards;
        }
    }
    out
}

static TRUTH_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("rrtype", DataType::UInt16, false),
        Field::new("rdata", DataType::Utf8, false),
        Field::new("class", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("listed", DataType::Utf8, true),
    ]))
});

/// The schema of `truth/<name>`: one row per raw record, in the same bucket and order.
///
/// | column | notes |
/// |---|---|
/// | `name`, `rrtype`, `rdata` | the record's key |
/// | `class` | `benign`, `malicious` or `sinkhole` |
/// | `role` | the planted role: `top`, `cdn`, `shared`, `plain`, `parked`, `dynamic`, `shortlived`, `compromised`, `fastflux`, `bulletproof`, `dga:<family>`, `sinkholed` |
/// | `listed` | the class the world's lists give the record, null when none does |
pub fn truth_schema() -> SchemaRef {
    TRUTH_SCHEMA.clone()
}

fn truth_batch(rows: &[Row], roles: &[String]) -> Result<RecordBatch> {
    let n = rows.len();
    let mut name = StringBuilder::with_capacity(n, n * 20);
    let mut rrtype = UInt16Builder::with_capacity(n);
    let mut rdata = StringBuilder::with_capacity(n, n * 16);
    let mut class = StringBuilder::with_capacity(n, n * 8);
    let mut role = StringBuilder::with_capacity(n, n * 8);
    let mut listed = StringBuilder::with_capacity(n, n * 4);
    for r in rows {
        name.append_value(&r.record.name);
        rrtype.append_value(r.record.rrtype.0);
        rdata.append_value(&r.record.rdata);
        class.append_value(r.class.as_str());
        role.append_value(&roles[r.role as usize]);
        listed.append_option(r.listed.map(|c| c.as_str()));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(name.finish()),
        Arc::new(rrtype.finish()),
        Arc::new(rdata.finish()),
        Arc::new(class.finish()),
        Arc::new(role.finish()),
        Arc::new(listed.finish()),
    ];
    RecordBatch::try_new(truth_schema(), columns).map_err(|e| Error::Dataset {
        dataset: "truth".into(),
        source: pdnsrep_records::Error::Schema {
            reason: e.to_string(),
        },
    })
}

/// One line of Passive DNS Common Output Format (draft-dulaunoy-dnsop-passive-dns-cof), times
/// in seconds.
#[derive(Serialize)]
struct CofLine<'a> {
    rrname: &'a str,
    rrtype: String,
    rdata: &'a str,
    time_first: i64,
    time_last: i64,
    count: u64,
    sensor_id: &'a str,
}

fn cof_bytes(rows: &[Row]) -> Bytes {
    let mut out = Vec::with_capacity(rows.len() * 160);
    for r in rows {
        let line = CofLine {
            rrname: &r.record.name,
            rrtype: r.record.rrtype.to_string(),
            rdata: &r.record.rdata,
            time_first: r.record.first_seen / 1000,
            time_last: r.record.last_seen / 1000,
            count: r.record.count,
            sensor_id: r.record.sensor.as_deref().unwrap_or(""),
        };
        // Serializing plain strings and integers cannot fail.
        if serde_json::to_writer(&mut out, &line).is_ok() {
            out.push(b'\n');
        }
    }
    Bytes::from(out)
}

/// Where raw rows go.
#[derive(Debug)]
pub(crate) enum RawSink {
    Parquet(DatasetWriter),
    Cof {
        root: Root,
        prefix: String,
        files: Vec<String>,
    },
}

/// Buffers rows per bucket and writes parts in a deterministic order.
#[derive(Debug)]
pub(crate) struct Sink {
    pub raw: RawSink,
    pub truth: DatasetWriter,
    pub raw_dataset: String,
    pub truth_dataset: String,
    pub pending: Vec<Vec<Row>>,
    pub next_part: Vec<usize>,
    pub part_rows: usize,
    pub roles: Vec<String>,
    pub bytes: u64,
}

impl Sink {
    pub(crate) async fn absorb(&mut self, shard: &mut ShardOut) -> Result<()> {
        for (b, rows) in shard.buckets.iter_mut().enumerate() {
            self.pending[b].append(rows);
            while self.pending[b].len() >= self.part_rows {
                let rest = self.pending[b].split_off(self.part_rows);
                let full = std::mem::replace(&mut self.pending[b], rest);
                self.flush(b, full).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn finish(&mut self) -> Result<()> {
        for b in 0..self.pending.len() {
            let rows = std::mem::take(&mut self.pending[b]);
            if !rows.is_empty() {
                self.flush(b, rows).await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self, bucket: usize, rows: Vec<Row>) -> Result<()> {
        let partition = format!("bucket={bucket:02}");
        let raw_err = |dataset: &str| {
            let dataset = dataset.to_string();
            move |source| Error::Dataset { dataset, source }
        };
        match &mut self.raw {
            RawSink::Parquet(writer) => {
                let records: Vec<_> = rows.iter().map(|r| r.record.clone()).collect();
                let batch = records_to_batch(&records).map_err(raw_err(&self.raw_dataset))?;
                let part = writer
                    .write_part(&partition, &[batch])
                    .await
                    .map_err(raw_err(&self.raw_dataset))?;
                self.bytes += part.bytes;
            }
            RawSink::Cof {
                root,
                prefix,
                files,
            } => {
                let relative = format!(
                    "{prefix}/{partition}/part-{:05}.jsonl",
                    self.next_part[bucket]
                );
                let bytes = cof_bytes(&rows);
                self.bytes += bytes.len() as u64;
                let path = root.path(&relative);
                root.store()
                    .put(&path, PutPayload::from_bytes(bytes))
                    .await
                    .map_err(|source| Error::Cof {
                        location: root.display(&relative),
                        source,
                    })?;
                files.push(relative);
            }
        }
        self.next_part[bucket] += 1;
        let batch = truth_batch(&rows, &self.roles)?;
        self.truth
            .write_part(&partition, &[batch])
            .await
            .map_err(raw_err(&self.truth_dataset))?;
        Ok(())
    }
}
