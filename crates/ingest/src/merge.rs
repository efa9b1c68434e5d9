//! The memory-bounded merge of observations into records.
//!
//! Observations fold into an in-memory hash table keyed by name, type and rdata until the map's estimated
//! size passes the budget. Then the whole map is written out as one sorted run per hash
//! bucket (Arrow IPC files in a temporary folder) and cleared. At the end each bucket's runs
//! are read back and merged on their own, so peak memory is the budget or one bucket's
//! distinct keys, whichever is larger, not the input size. Because [`Record::merge`] is
//! associative and commutative, how observations were split across runs cannot change the
//! result, and sorting each bucket by key makes the output independent of input order.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use hashbrown::HashTable;
use pdnsrep_records::schema::{batch_to_records, record_schema, records_to_batch};
use pdnsrep_records::{Record, RrType, bucket_of};

use crate::error::{Error, Result};

/// Table overhead per record beyond its strings' bytes: the record itself (three `String`
/// headers, times, counts, TTLs), the slot's control byte and the load-factor slack, rounded
/// up.
const ENTRY_OVERHEAD: usize = 160;

/// Counters describing a merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergerStats {
    /// Observations pushed in.
    pub observations: u64,
    /// Times the map was written out to disk.
    pub spills: u64,
    /// Records written to spill files in total.
    pub spilled_records: u64,
}

/// Folds observations into records under a memory budget.
#[derive(Debug)]
pub struct Merger {
    table: HashTable<Record>,
    hasher: ahash::RandomState,
    approx_bytes: usize,
    budget: usize,
    buckets: usize,
    spill_root: Option<PathBuf>,
    spill: Option<Spill>,
    stats: MergerStats,
}

struct Spill {
    _dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
    writers: Vec<Option<StreamWriter<BufWriter<File>>>>,
}

impl Merger {
    /// A merger with `buckets` output buckets that spills past `budget` bytes, into
    /// `spill_root` (the system temporary folder when `None`).
    pub fn new(buckets: usize, budget: usize, spill_root: Option<PathBuf>) -> Merger {
        Merger {
            table: HashTable::new(),
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
            approx_bytes: 0,
            budget: budget.max(1 << 20),
            buckets: buckets.max(1),
            spill_root,
            spill: None,
            stats: MergerStats::default(),
        }
    }

    pub fn stats(&self) -> MergerStats {
        self.stats
    }

    pub fn buckets(&self) -> usize {
        self.buckets
    }

    /// Folds one observation in.
    pub fn push(&mut self, record: Record) -> Result<()> {
        self.stats.observations += 1;
        let added = insert_or_merge(&mut self.table, &self.hasher, record);
        if added > 0 {
            self.approx_bytes += added;
            if self.approx_bytes > self.budget {
                self.spill_map()?;
            }
        }
        Ok(())
    }

    fn spill_map(&mut self) -> Result<()> {
        if self.spill.is_none() {
            self.spill = Some(Spill::create(self.spill_root.as_deref(), self.buckets)?);
        }
        let buckets = self.take_buckets();
        let spill = self
            .spill
            .as_mut()
            .ok_or_else(|| Error::Worker("spill vanished".into()))?;
        for (i, records) in buckets.into_iter().enumerate() {
            if records.is_empty() {
                continue;
            }
            self.stats.spilled_records += records.len() as u64;
            spill.append(i, &records)?;
        }
        self.stats.spills += 1;
        tracing::debug!(spills = self.stats.spills, "merge map spilled to disk");
        Ok(())
    }

    /// Empties the map into per-bucket record lists, each sorted by key.
    fn take_buckets(&mut self) -> Vec<Vec<Record>> {
        let mut buckets: Vec<Vec<Record>> = vec![Vec::new(); self.buckets];
        for record in self.table.drain() {
            let b = bucket_of(&record.name, record.rrtype, &record.rdata, self.buckets);
            buckets[b].push(record);
        }
        self.approx_bytes = 0;
        for bucket in &mut buckets {
            sort_by_key(bucket);
        }
        buckets
    }

    /// Ends the merge and returns the buckets for reading.
    pub fn finish(mut self) -> Result<MergedBuckets> {
        let stats = self.stats;
        if self.spill.is_none() {
            let buckets = self.take_buckets();
            return Ok(MergedBuckets {
                state: State::Memory(buckets.into_iter().enumerate()),
                stats,
            });
        }
        self.spill_map()?;
        let mut spill = self
            .spill
            .take()
            .ok_or_else(|| Error::Worker("spill vanished".into()))?;
        spill.close()?;
        Ok(MergedBuckets {
            state: State::Disk { spill, next: 0 },
            stats: self.stats,
        })
    }
}

fn key_hash(hasher: &ahash::RandomState, name: &str, rrtype: RrType, rdata: &str) -> u64 {
    hasher.hash_one((name, rrtype, rdata))
}

/// Merges `record` into the entry with the same key, or inserts it. Returns the estimated
/// bytes added (zero on a merge).
fn insert_or_merge(
    table: &mut HashTable<Record>,
    hasher: &ahash::RandomState,
    record: Record,
) -> usize {
    let hash = key_hash(hasher, &record.name, record.rrtype, &record.rdata);
    let same_key =
        |r: &Record| r.rrtype == record.rrtype && r.name == record.name && r.rdata == record.rdata;
    if let Some(existing) = table.find_mut(hash, same_key) {
        existing.merge(&record);
        return 0;
    }
    let added = record.name.len()
        + record.rdata.len()
        + record.sensor.as_ref().map_or(0, String::len)
        + ENTRY_OVERHEAD;
    table.insert_unique(hash, record, |r| {
        key_hash(hasher, &r.name, r.rrtype, &r.rdata)
    });
    added
}

fn sort_by_key(records: &mut [Record]) {
    records.sort_unstable_by(|a, b| {
        (a.name.as_str(), a.rrtype, a.rdata.as_str()).cmp(&(
            b.name.as_str(),
            b.rrtype,
            b.rdata.as_str(),
        ))
    });
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spill")
            .field("paths", &self.paths.len())
            .finish()
    }
}

impl Spill {
    fn create(root: Option<&Path>, buckets: usize) -> Result<Spill> {
        let dir = match root {
            Some(r) => tempfile::Builder::new()
                .prefix("pdnsrep-spill-")
                .tempdir_in(r),
            None => tempfile::Builder::new().prefix("pdnsrep-spill-").tempdir(),
        }
        .map_err(Error::Spill)?;
        let paths = (0..buckets)
            .map(|i| dir.path().join(format!("bucket-{i:04}.arrows")))
            .collect();
        Ok(Spill {
            _dir: dir,
            paths,
            writers: (0..buckets).map(|_| None).collect(),
        })
    }

    fn append(&mut self, bucket: usize, records: &[Record]) -> Result<()> {
        if self.writers[bucket].is_none() {
            let file = File::create(&self.paths[bucket]).map_err(Error::Spill)?;
            let writer =
                StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), &record_schema())
                    .map_err(Error::SpillArrow)?;
            self.writers[bucket] = Some(writer);
        }
        let writer = self.writers[bucket]
            .as_mut()
            .ok_or_else(|| Error::Worker("spill writer vanished".into()))?;
        for chunk in records.chunks(64 * 1024) {
            let batch = records_to_batch(chunk)?;
            writer.write(&batch).map_err(Error::SpillArrow)?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        for writer in self.writers.iter_mut().flatten() {
            writer.finish().map_err(Error::SpillArrow)?;
        }
        self.writers.clear();
        Ok(())
    }

    fn read_bucket(&self, bucket: usize) -> Result<Vec<Record>> {
        let path = &self.paths[bucket];
        if !path.exists() {
            return Ok(Vec::new());
        }
        let file = File::open(path).map_err(Error::Spill)?;
        let reader = StreamReader::try_new(BufReader::with_capacity(1 << 20, file), None)
            .map_err(Error::SpillArrow)?;
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut table = HashTable::new();
        for batch in reader {
            for record in batch_to_records(&batch.map_err(Error::SpillArrow)?)? {
                insert_or_merge(&mut table, &hasher, record);
            }
        }
        let mut records: Vec<Record> = table.into_iter().collect();
        sort_by_key(&mut records);
        // The run is consumed; free its disk space before the next bucket grows.
        let _ = std::fs::remove_file(path);
        Ok(records)
    }
}

/// Mergers on threads of their own, each owning the buckets congruent to its index, so that
/// the merge (hashing, probing, freeing merged duplicates) runs on several cores. Callers
/// route records with [`ShardedMerger::shard_of`], ideally on their own threads.
#[derive(Debug)]
pub struct ShardedMerger {
    senders: Vec<std::sync::mpsc::SyncSender<Vec<Record>>>,
    handles: Vec<std::thread::JoinHandle<Result<Merger>>>,
    buckets: usize,
}

impl ShardedMerger {
    /// `shards` mergers sharing `budget` bytes between them.
    pub fn new(shards: usize, buckets: usize, budget: usize, spill_root: Option<PathBuf>) -> Self {
        let shards = shards.clamp(1, buckets.max(1));
        let (mut senders, mut handles) = (Vec::new(), Vec::new());
        for _ in 0..shards {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(4);
            let mut merger = Merger::new(buckets, budget / shards, spill_root.clone());
            handles.push(std::thread::spawn(move || {
                for records in rx {
                    for record in records {
                        merger.push(record)?;
                    }
                }
                Ok(merger)
            }));
            senders.push(tx);
        }
        ShardedMerger {
            senders,
            handles,
            buckets: buckets.max(1),
        }
    }

    pub fn shards(&self) -> usize {
        self.senders.len()
    }

    /// The shard that owns a record's bucket.
    pub fn shard_of(record: &Record, buckets: usize, shards: usize) -> usize {
        bucket_of(&record.name, record.rrtype, &record.rdata, buckets) % shards.max(1)
    }

    /// Hands records that all belong to `shard` to its merger.
    pub fn push(&self, shard: usize, records: Vec<Record>) -> Result<()> {
        self.senders[shard]
            .send(records)
            .map_err(|_| Error::Worker("a merge shard stopped".into()))
    }

    /// Waits for every shard and returns the merged buckets.
    pub fn finish(self) -> Result<ShardedBuckets> {
        drop(self.senders);
        let mut parts = Vec::new();
        for handle in self.handles {
            let merger = handle
                .join()
                .map_err(|_| Error::Worker("a merge shard panicked".into()))??;
            parts.push(merger.finish()?);
        }
        Ok(ShardedBuckets {
            parts,
            buckets: self.buckets,
        })
    }
}

/// The buckets of every shard, in bucket order.
#[derive(Debug)]
pub struct ShardedBuckets {
    parts: Vec<MergedBuckets>,
    buckets: usize,
}

impl ShardedBuckets {
    /// The next bucket's index and records; every shard yields every bucket index in order,
    /// only the owner with records.
    pub fn next_bucket(&mut self) -> Result<Option<(usize, Vec<Record>)>> {
        let mut out: Option<(usize, Vec<Record>)> = None;
        for part in &mut self.parts {
            if let Some((bucket, mut records)) = part.next_bucket()? {
                match &mut out {
                    Some((_, all)) => all.append(&mut records),
                    None => out = Some((bucket, records)),
                }
            }
        }
        debug_assert!(out.as_ref().is_none_or(|(b, _)| *b < self.buckets));
        Ok(out)
    }

    /// Spills over all shards.
    pub fn spills(&self) -> u64 {
        self.parts.iter().map(|p| p.stats().spills).sum()
    }
}

/// The merged records, one sorted bucket at a time.
#[derive(Debug)]
pub struct MergedBuckets {
    state: State,
    stats: MergerStats,
}

#[derive(Debug)]
enum State {
    Memory(std::iter::Enumerate<std::vec::IntoIter<Vec<Record>>>),
    Disk { spill: Spill, next: usize },
}

impl MergedBuckets {
    pub fn stats(&self) -> MergerStats {
        self.stats
    }

    /// The next bucket's index and records, in bucket order; empty buckets are included.
    pub fn next_bucket(&mut self) -> Result<Option<(usize, Vec<Record>)>> {
        match &mut self.state {
            State::Memory(iter) => Ok(iter.next()),
            State::Disk { spill, next } => {
                if *next >= spill.paths.len() {
                    return Ok(None);
                }
                let i = *next;
                *next += 1;
                Ok(Some((i, spill.read_bucket(i)?)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(name: &str, ip: &str, t: i64, count: u64) -> Record {
        Record {
            name: name.into(),
            rrtype: RrType::A,
            rdata: ip.into(),
            first_seen: t,
            last_seen: t,
            count,
            min_ttl: Some(60),
            max_ttl: Some(60),
            sensor: None,
        }
    }

    fn drain(mut merged: MergedBuckets) -> Vec<Record> {
        let mut all = Vec::new();
        while let Some((_, records)) = merged.next_bucket().unwrap() {
            all.extend(records);
        }
        all
    }

    fn world() -> Vec<Record> {
        (0..20_000u64)
            .map(|i| {
                obs(
                    &format!("host{}.example", i % 3_000),
                    &format!("192.0.2.{}", i % 7),
                    i as i64,
                    1 + i % 3,
                )
            })
            .collect()
    }

    #[test]
    fn spilling_and_in_memory_merges_agree() {
        let mut in_memory = Merger::new(8, 1 << 30, None);
        let mut spilling = Merger::new(8, 1, None);
        for r in world() {
            in_memory.push(r.clone()).unwrap();
            spilling.push(r).unwrap();
        }
        assert!(
            spilling.stats().spills > 0,
            "the tiny budget must force spills"
        );
        assert_eq!(in_memory.stats().spills, 0);
        let a = drain(in_memory.finish().unwrap());
        let b = drain(spilling.finish().unwrap());
        let keys: std::collections::HashSet<_> = world().iter().map(|r| r.key()).collect();
        assert_eq!(a.len(), keys.len());
        assert_eq!(a, b);
        let total: u64 = a.iter().map(|r| r.count).sum();
        assert_eq!(total, world().iter().map(|r| r.count).sum::<u64>());
    }

    #[test]
    fn sharded_and_single_mergers_agree_bucket_by_bucket() {
        let mut single = Merger::new(8, 1 << 30, None);
        let sharded = ShardedMerger::new(3, 8, 1, None);
        let mut by_shard: Vec<Vec<Record>> = vec![Vec::new(); 3];
        for r in world() {
            single.push(r.clone()).unwrap();
            by_shard[ShardedMerger::shard_of(&r, 8, 3)].push(r);
        }
        for (shard, records) in by_shard.into_iter().enumerate() {
            sharded.push(shard, records).unwrap();
        }
        let mut a = single.finish().unwrap();
        let mut b = sharded.finish().unwrap();
        assert!(b.spills() > 0, "the tiny budget must force spills");
        loop {
            let (x, y) = (a.next_bucket().unwrap(), b.next_bucket().unwrap());
            assert_eq!(x, y);
            if x.is_none() {
                break;
            }
        }
    }

    #[test]
    fn each_key_lands_in_its_stable_bucket() {
        let mut m = Merger::new(4, 1 << 30, None);
        for r in world() {
            m.push(r).unwrap();
        }
        let mut merged = m.finish().unwrap();
        while let Some((b, records)) = merged.next_bucket().unwrap() {
            for r in records {
                assert_eq!(bucket_of(&r.name, r.rrtype, &r.rdata, 4), b);
            }
        }
    }
}
