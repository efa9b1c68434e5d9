//! The ingest driver: a reader thread per input feeding parser workers, merge shards, then the
//! dataset writer.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use pdnsrep_records::schema::{record_schema, records_to_batch};
use pdnsrep_records::{DatasetWriter, InputEntry, Manifest, Record, Root};
use serde::Serialize;

use crate::error::{Error, LineError, Reject, Result};
use crate::formats::{
    self, Format, LineContext, LineNote, PassiveDnsFields, SafEvent, ZeekHeaderBuilder,
};
use crate::input::{self, Source};
use crate::merge::ShardedMerger;

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// `None` detects the format of each input from its first lines.
    pub format: Option<Format>,
    /// Stop at the first bad line (and at truncated streams) instead of skipping.
    pub strict: bool,
    pub passivedns_fields: PassiveDnsFields,
    /// Stamped on records whose format names no sensor.
    pub sensor: Option<String>,
    /// Output partitions (`bucket=NN`); also the spill fan-out.
    pub buckets: usize,
    /// Bytes the merge map may use before spilling to disk.
    pub memory_budget: usize,
    /// Parser threads.
    pub threads: usize,
    /// Rows per Parquet part at most.
    pub max_rows_per_part: usize,
    /// Where spill files go (the system temporary folder by default).
    pub spill_dir: Option<PathBuf>,
    /// Rejects kept for the rejects file; past it they are still counted.
    pub max_kept_rejects: usize,
    /// Unlisted objects younger than this survive a commit: they may belong to a concurrent
    /// ingest of the same dataset. Older ones are orphans of killed runs and are removed.
    pub orphan_grace: std::time::Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            strict: false,
            passivedns_fields: PassiveDnsFields::default(),
            sensor: None,
            buckets: 16,
            memory_budget: 2 << 30,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_rows_per_part: 1 << 20,
            spill_dir: None,
            max_kept_rejects: 1_000_000,
            orphan_grace: pdnsrep_records::DEFAULT_ORPHAN_GRACE,
        }
    }
}

/// Live counters for progress displays.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_read: Arc<AtomicU64>,
    pub bytes_total: AtomicU64,
    pub lines: AtomicU64,
    pub records: AtomicU64,
    pub rejected: AtomicU64,
    pub records_written: AtomicU64,
}

/// What one input contributed.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    pub path: String,
    pub format: String,
    pub bytes: u64,
    pub lines: u64,
    pub observations: u64,
    pub rejected: u64,
    pub no_answer: u64,
    /// Problems with the input as a whole, such as a truncated SAF stream.
    pub warnings: Vec<String>,
}

/// The end-of-run report.
#[derive(Debug, Clone, Serialize)]
pub struct IngestSummary {
    pub dataset: String,
    pub inputs: Vec<InputSummary>,
    pub lines_read: u64,
    /// Observations parsed from the inputs (one per answer).
    pub observations: u64,
    /// Observations folded into an existing record.
    pub merged: u64,
    pub records_written: u64,
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// Lines that carry no record by design (unanswered or failed queries).
    pub no_answer: u64,
    /// Where the rejects were kept, when there were any.
    pub rejects_file: Option<String>,
    /// Rejects counted but not kept because `max_kept_rejects` was reached.
    pub rejects_not_kept: u64,
    pub first_rejects: Vec<Reject>,
    pub parts: usize,
    pub bytes_written: u64,
    pub spills: u64,
    pub seconds: f64,
}

enum Work {
    Lines {
        input: usize,
        path: Arc<str>,
        first_line: u64,
        text: String,
        ctx: LineContext,
        format: Format,
    },
}

enum Outcome {
    Parsed {
        input: usize,
        /// Records grouped by merge shard.
        records: Vec<Vec<Record>>,
        rejects: Vec<Reject>,
        lines: u64,
        no_answer: u64,
        saf: Vec<(u64, SafEvent)>,
    },
    InputDone {
        input: usize,
        format: Format,
    },
    Empty {
        input: usize,
    },
    Warning {
        input: usize,
        warning: String,
    },
    Failed(Error),
}

/// Reads every input, merges observations into records and commits them as `dataset` under
/// `root`.
pub async fn ingest(
    inputs: &[PathBuf],
    root: &Root,
    dataset: &str,
    options: &IngestOptions,
    progress: Arc<Progress>,
) -> Result<(IngestSummary, Manifest)> {
    let started = Instant::now();
    pdnsrep_records::check_dataset_name(dataset)?;
    if let Some(dir) = options.spill_dir.as_ref().filter(|d| !d.is_dir()) {
        return Err(Error::Read {
            path: dir.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "spill folder does not exist",
            ),
        });
    }
    let sources = input::expand(inputs)?;
    let detected = detect_all(&sources, options)?;
    progress
        .bytes_total
        .store(sources.iter().map(Source::size).sum(), Ordering::Relaxed);
    let opts = options.clone();
    let prog = progress.clone();
    let srcs = sources.clone();
    let merged =
        tokio::task::spawn_blocking(move || parse_and_merge(&srcs, &detected, &opts, &prog))
            .await
            .map_err(|e| Error::Worker(e.to_string()))??;
    let (merger, mut state) = merged;

    let mut writer =
        DatasetWriter::new(root, dataset, "raw-records").with_orphan_grace(options.orphan_grace);
    let handle = tokio::runtime::Handle::current();
    let opts = options.clone();
    let prog = progress.clone();
    let (writer_back, written) = tokio::task::spawn_blocking(move || {
        let written = write_buckets(merger, &mut writer, &opts, &prog, &handle);
        (writer, written)
    })
    .await
    .map_err(|e| Error::Worker(e.to_string()))?;
    let mut writer = writer_back;
    let (records_written, spills) = written?;

    state
        .rejects
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let rejects_file = if state.rejects.is_empty() {
        None
    } else {
        let mut body = Vec::new();
        for r in &state.rejects {
            serde_json::to_writer(&mut body, r).map_err(|e| Error::Worker(e.to_string()))?;
            body.push(b'\n');
        }
        writer
            .write_sidecar(
                "rejects.jsonl",
                Bytes::from(body),
                state.rejects.len() as u64,
            )
            .await?;
        Some(format!(
            "{}/{}/_{}-rejects.jsonl",
            root.url(),
            dataset.trim_matches('/'),
            writer.run_id()
        ))
    };

    let observations: u64 = state.inputs.iter().map(|i| i.observations).sum();
    let mut summary = IngestSummary {
        dataset: root.display(dataset),
        lines_read: state.inputs.iter().map(|i| i.lines).sum(),
        observations,
        merged: observations - records_written,
        records_written,
        rejected: state.inputs.iter().map(|i| i.rejected).sum(),
        rejects_by_reason: state.by_reason,
        no_answer: state.inputs.iter().map(|i| i.no_answer).sum(),
        rejects_file,
        rejects_not_kept: state.not_kept,
        first_rejects: state.rejects.iter().take(5).cloned().collect(),
        parts: 0,
        bytes_written: 0,
        spills,
        seconds: 0.0,
        inputs: state.inputs,
    };
    let inputs: Vec<InputEntry> = summary
        .inputs
        .iter()
        .map(|i| InputEntry {
            path: i.path.clone(),
            bytes: i.bytes,
            format: i.format.clone(),
        })
        .collect();
    let stats = serde_json::json!({
        "lines_read": summary.lines_read,
        "observations": summary.observations,
        "merged": summary.merged,
        "records_written": summary.records_written,
        "rejected": summary.rejected,
        "rejects_by_reason": summary.rejects_by_reason,
        "no_answer": summary.no_answer,
        "warnings": summary.inputs.iter().flat_map(|i| i.warnings.iter().map(move |w| format!("{}: {w}", i.path))).collect::<Vec<_>>(),
        "buckets": options.buckets,
    });
    let manifest = writer.commit(&record_schema(), inputs, stats).await?;
    summary.parts = manifest.parts.len();
    summary.bytes_written = manifest.bytes;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok((summary, manifest))
}

#[derive(Default)]
struct MergeState {
    inputs: Vec<InputSummary>,
    rejects: Vec<Reject>,
    by_reason: BTreeMap<String, u64>,
    not_kept: u64,
    saf: Vec<Vec<(u64, SafEvent)>>,
}

fn parse_and_merge(
    sources: &[Source],
    detected: &[Detected],
    options: &IngestOptions,
    progress: &Progress,
) -> Result<(ShardedMerger, MergeState)> {
    let merger = ShardedMerger::new(
        merge_shards(options),
        options.buckets,
        options.memory_budget,
        options.spill_dir.clone(),
    );
    let mut state = MergeState {
        inputs: sources
            .iter()
            .map(|s| InputSummary {
                path: s.display(),
                format: String::new(),
                bytes: s.size(),
                lines: 0,
                observations: 0,
                rejected: 0,
                no_answer: 0,
                warnings: Vec::new(),
            })
            .collect(),
        saf: vec![Vec::new(); sources.len()],
        ..MergeState::default()
    };
    let workers = options.threads.max(1);
    let (work_tx, work_rx) = sync_channel::<Work>(workers * 2);
    let (out_tx, out_rx) = sync_channel::<Outcome>(workers * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (shards, buckets) = (merger.shards(), options.buckets);
    let result = std::thread::scope(|scope| {
        for _ in 0..workers {
            let rx = work_rx.clone();
            let tx = out_tx.clone();
            scope.spawn(move || parse_worker(&rx, &tx, shards, buckets));
        }
        let reader_tx = out_tx.clone();
        scope
            .spawn(move || read_inputs(sources, detected, options, progress, &work_tx, &reader_tx));
        drop(out_tx);
        drop(work_rx);
        let merged = merge_outcomes(&out_rx, &merger, &mut state, options, progress);
        // Dropping the receiver unblocks and stops the reader and workers on an early error.
        drop(out_rx);
        merged
    });
    result?;
    finish_saf(&mut state, options)?;
    Ok((merger, state))
}

/// Merge shards: one per parser thread, up to eight. With a single shard the merge was the
/// serial bottleneck (ingest used 1.3 of 2 cores).
fn merge_shards(options: &IngestOptions) -> usize {
    options.threads.clamp(1, 8)
}

fn merge_outcomes(
    rx: &Receiver<Outcome>,
    merger: &ShardedMerger,
    state: &mut MergeState,
    options: &IngestOptions,
    progress: &Progress,
) -> Result<()> {
    for outcome in rx {
        match outcome {
            Outcome::Failed(e) => return Err(e),
            Outcome::InputDone { input, format } => {
                state.inputs[input].format = format.name().to_string()
            }
            Outcome::Warning { input, warning } => state.inputs[input].warnings.push(warning),
            Outcome::Empty { input } => {
                state.inputs[input].format = "empty".to_string();
                state.inputs[input]
                    .warnings
                    .push("empty input: nothing to read".to_string());
            }
            Outcome::Parsed {
                input,
                records,
                rejects,
                lines,
                no_answer,
                saf,
            } => {
                let count: u64 = records.iter().map(|r| r.len() as u64).sum();
                let summary = &mut state.inputs[input];
                summary.lines += lines;
                summary.no_answer += no_answer;
                summary.observations += count;
                summary.rejected += rejects.len() as u64;
                progress.lines.fetch_add(lines, Ordering::Relaxed);
                progress.records.fetch_add(count, Ordering::Relaxed);
                progress
                    .rejected
                    .fetch_add(rejects.len() as u64, Ordering::Relaxed);
                state.saf[input].extend(saf);
                if options.strict {
                    if let Some(first) = rejects.into_iter().min_by_key(|r| r.line) {
                        return Err(Error::BadLine(first));
                    }
                } else {
                    keep_rejects(state, rejects, options.max_kept_rejects);
                }
                for (shard, records) in records.into_iter().enumerate() {
                    if !records.is_empty() {
                        merger.push(shard, records)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn keep_rejects(state: &mut MergeState, rejects: Vec<Reject>, max_kept: usize) {
    for reject in rejects {
        let category = LineError {
            field: reject.field.clone(),
            reason: reject.reason.clone(),
        }
        .category();
        *state.by_reason.entry(category).or_default() += 1;
        if state.rejects.len() < max_kept {
            state.rejects.push(reject);
        } else {
            state.not_kept += 1;
        }
    }
}

/// Turns SAF framing into warnings (or, with `--strict`, errors). A DNSDB v2 answer is whole
/// only when every `begin` is closed by `succeeded` and every object lies inside a stream.
fn finish_saf(state: &mut MergeState, options: &IngestOptions) -> Result<()> {
    for (input, events) in state.saf.iter_mut().enumerate() {
        if events.is_empty() {
            continue;
        }
        events.sort_by_key(|(line, _)| *line);
        let warnings = saf_warnings(events);
        let path = state.inputs[input].path.clone();
        if let (true, Some(first)) = (options.strict, warnings.first()) {
            return Err(Error::Incomplete {
                path,
                reason: first.clone(),
            });
        }
        for warning in warnings {
            tracing::warn!(%path, "{warning}");
            state.inputs[input].warnings.push(warning);
        }
    }
    Ok(())
}

fn saf_warnings(events: &[(u64, SafEvent)]) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut open: Option<u64> = None;
    let mut stray_objects = 0u64;
    let truncated = |begin: u64| {
        format!("truncated: the stream begun at line {begin} ended without `succeeded`")
    };
    for &(line, event) in events {
        match (open, event) {
            (None, SafEvent::Begin) => open = Some(line),
            (Some(begin), SafEvent::Begin) => {
                warnings.push(truncated(begin));
                open = Some(line);
            }
            (Some(_), SafEvent::Object | SafEvent::Ongoing) => {}
            (Some(_), SafEvent::Succeeded) => open = None,
            (Some(_), SafEvent::Limited) => {
                warnings.push(format!(
                    "the server limited the result at line {line} (`limited`): more records exist"
                ));
                open = None;
            }
            (Some(_), SafEvent::Failed) => {
                warnings.push(format!(
                    "the server reported failure at line {line} (`failed`)"
                ));
                open = None;
            }
            (None, SafEvent::Object) => stray_objects += 1,
            (None, _) => warnings.push(format!("SAF condition at line {line} outside any stream")),
        }
    }
    if let Some(begin) = open {
        warnings.push(truncated(begin));
    }
    if stray_objects > 0 {
        warnings.push(format!(
            "{stray_objects} objects outside a `begin`…`succeeded` stream"
        ));
    }
    warnings
}

/// Splits records by merge shard. Done by the parser threads, so that hashing keys for routing
/// runs in parallel rather than on the thread that feeds the merge shards.
fn shard_records(records: Vec<Record>, shards: usize, buckets: usize) -> Vec<Vec<Record>> {
    let mut out: Vec<Vec<Record>> = (0..shards).map(|_| Vec::new()).collect();
    for record in records {
        out[ShardedMerger::shard_of(&record, buckets, shards)].push(record);
    }
    out
}

fn parse_worker(
    rx: &Mutex<Receiver<Work>>,
    tx: &SyncSender<Outcome>,
    shards: usize,
    buckets: usize,
) {
    loop {
        let work = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(work) => work,
                Err(_) => return,
            }
        };
        let Work::Lines {
            input,
            path,
            first_line,
            text,
            ctx,
            format,
        } = work;
        let mut records = Vec::new();
        let mut rejects = Vec::new();
        let mut saf = Vec::new();
        let mut no_answer = 0;
        let mut lines = 0;
        for (i, line) in text.lines().enumerate() {
            lines += 1;
            let line_no = first_line + i as u64;
            match formats::parse_line(format, &ctx, line, &mut records) {
                Ok(LineNote::None) => {}
                Ok(LineNote::NoAnswer) => no_answer += 1,
                Ok(LineNote::Saf(cond)) => saf.push((line_no, cond)),
                Err(e) => rejects.push(reject(path.to_string(), line_no, e, line)),
            }
        }
        let outcome = Outcome::Parsed {
            input,
            records: shard_records(records, shards, buckets),
            rejects,
            lines,
            no_answer,
            saf,
        };
        if tx.send(outcome).is_err() {
            return;
        }
    }
}

fn reject(file: String, line: u64, e: LineError, text: &str) -> Reject {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Reject {
        file,
        line,
        field: e.field,
        reason: e.reason,
        text: text[..end].to_string(),
    }
}

const CHUNK_BYTES: usize = 1 << 20;

fn read_inputs(
    sources: &[Source],
    detected: &[Detected],
    options: &IngestOptions,
    progress: &Progress,
    work: &SyncSender<Work>,
    out: &SyncSender<Outcome>,
) {
    for (i, source) in sources.iter().enumerate() {
        let format = match detected[i] {
            Detected::Empty => {
                let _ = out.send(Outcome::Empty { input: i });
                continue;
            }
            Detected::Format(f) => Some(f),
            Detected::Later => None,
        };
        if let Err(e) = read_one(i, source, format, options, progress, work, out) {
            let _ = out.send(Outcome::Failed(e));
            return;
        }
    }
}

fn read_one(
    input: usize,
    source: &Source,
    format: Option<Format>,
    options: &IngestOptions,
    progress: &Progress,
    work: &SyncSender<Work>,
    out: &SyncSender<Outcome>,
) -> Result<()> {
    let path = source.display();
    let mut reader = input::open(source, progress.bytes_read.clone())?;
    let format = match format {
        Some(f) => f,
        None => match sniff(&mut reader, &path)? {
            Some(f) => f,
            None => {
                let _ = out.send(Outcome::Empty { input });
                return Ok(());
            }
        },
    };
    let _ = out.send(Outcome::InputDone { input, format });
    if format == Format::Mnemonic {
        return read_document(input, &path, reader, options, out);
    }
    let mut ctx = LineContext {
        zeek: None,
        passivedns: Arc::new(options.passivedns_fields.clone()),
        sensor: options.sensor.clone(),
    };
    let mut zeek = ZeekHeaderBuilder::default();
    let mut chunk = Chunker {
        input,
        path: Arc::from(path.as_str()),
        format,
        work,
        text: String::with_capacity(CHUNK_BYTES + 4096),
        first_line: 1,
    };
    let mut line_no = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut header_rejects = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::ReadAt {
                path: PathBuf::from(&path),
                line: line_no + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = match std::str::from_utf8(&buf) {
            Ok(line) => line,
            Err(e) => {
                let lossy = String::from_utf8_lossy(&buf).into_owned();
                let err = LineError::whole(format!("not UTF-8 (byte {})", e.valid_up_to()));
                header_rejects.push(reject(path.clone(), line_no, err, lossy.trim_end()));
                flush_rejects(input, &mut header_rejects, out);
                // Keep the chunk's line numbering aligned with the file.
                chunk.text.push('\n');
                continue;
            }
        };
        if format == Format::ZeekTsv && line.starts_with('#') {
            match zeek.line(line.trim_end_matches(['\r', '\n'])) {
                Ok(Some(header)) => {
                    chunk.send(line_no, &ctx)?;
                    ctx.zeek = Some(Arc::new(header));
                }
                Ok(None) => {}
                Err(e) => {
                    header_rejects.push(reject(path.clone(), line_no, e, line.trim_end()));
                    flush_rejects(input, &mut header_rejects, out);
                }
            }
            // Header lines are consumed here; a blank line keeps the chunk's numbering.
            chunk.text.push('\n');
            continue;
        }
        chunk.text.push_str(line);
        if !line.ends_with('\n') {
            chunk.text.push('\n');
        }
        if chunk.text.len() >= CHUNK_BYTES {
            chunk.send(line_no + 1, &ctx)?;
        }
    }
    chunk.send(line_no + 1, &ctx)
}

fn flush_rejects(input: usize, rejects: &mut Vec<Reject>, out: &SyncSender<Outcome>) {
    let outcome = Outcome::Parsed {
        input,
        records: Vec::new(),
        rejects: std::mem::take(rejects),
        lines: 0,
        no_answer: 0,
        saf: Vec::new(),
    };
    let _ = out.send(outcome);
}

/// Buffers the lines of one input into chunks for the parser workers.
struct Chunker<'a> {
    input: usize,
    path: Arc<str>,
    format: Format,
    work: &'a SyncSender<Work>,
    text: String,
    /// The file line number of the buffer's first line.
    first_line: u64,
}

impl Chunker<'_> {
    /// Hands the buffered lines to a worker; `next_line` is where the next chunk starts.
    fn send(&mut self, next_line: u64, ctx: &LineContext) -> Result<()> {
        if !self.text.is_empty() {
            let text = std::mem::replace(&mut self.text, String::with_capacity(CHUNK_BYTES + 4096));
            let job = Work::Lines {
                input: self.input,
                path: self.path.clone(),
                first_line: self.first_line,
                text,
                ctx: ctx.clone(),
                format: self.format,
            };
            self.work
                .send(job)
                .map_err(|_| Error::Worker("parser workers stopped".into()))?;
        }
        self.first_line = next_line;
        Ok(())
    }
}

/// What is known of an input's format before reading it.
#[derive(Debug, Clone, Copy)]
enum Detected {
    Format(Format),
    /// Nothing to read.
    Empty,
    /// Stdin: detected when its turn comes, since sniffing would consume it.
    Later,
}

/// Opens every file input before any work starts, so that an unreadable or unrecognised file
/// stops the run at once rather than after the inputs before it were parsed.
fn detect_all(sources: &[Source], options: &IngestOptions) -> Result<Vec<Detected>> {
    let mut detected = Vec::with_capacity(sources.len());
    let mut unknown = Vec::new();
    for source in sources {
        if *source == Source::Stdin {
            detected.push(options.format.map_or(Detected::Later, Detected::Format));
            continue;
        }
        let mut reader = input::open(source, Arc::new(AtomicU64::new(0)))?;
        let path = source.display();
        let empty = reader
            .fill_buf()
            .map_err(|source| Error::Read {
                path: PathBuf::from(&path),
                source,
            })?
            .is_empty();
        detected.push(match (empty, options.format) {
            (true, _) => Detected::Empty,
            (false, Some(f)) => Detected::Format(f),
            (false, None) => match sniff(&mut reader, &path)? {
                Some(f) => Detected::Format(f),
                None => {
                    unknown.push(path);
                    Detected::Empty
                }
            },
        });
    }
    if !unknown.is_empty() {
        let shown: Vec<_> = unknown.iter().take(5).map(|p| format!("`{p}`")).collect();
        let more = unknown.len().saturating_sub(shown.len());
        return Err(Error::UnknownFormat {
            path: if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            },
            reason:
                "no known format matches the first lines (pass `--format`, or leave such files out)"
                    .into(),
        });
    }
    Ok(detected)
}

/// The format of an input from its first lines; `None` for an input with no content.
fn sniff(reader: &mut Box<dyn BufRead + Send>, path: &str) -> Result<Option<Format>> {
    let head = reader.fill_buf().map_err(|source| Error::Read {
        path: PathBuf::from(path),
        source,
    })?;
    if head.is_empty() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(64 * 1024)]);
    let lines: Vec<&str> = text.lines().take(20).collect();
    Format::detect(&lines)
        .map(Some)
        .ok_or_else(|| Error::UnknownFormat {
            path: format!("`{path}`"),
            reason: "no known format matches its first lines (pass `--format`)".into(),
        })
}

fn read_document(
    input: usize,
    path: &str,
    mut reader: Box<dyn BufRead + Send>,
    options: &IngestOptions,
    out: &SyncSender<Outcome>,
) -> Result<()> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            path: PathBuf::from(path),
            source,
        })?;
    // A JSON document cannot be split at a bad byte the way a line format can: replace the
    // bytes, so that the element holding them is rejected by the name and value checks, and
    // say so.
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let bad = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let lines = bad.lines().filter(|l| l.contains('\u{fffd}')).count();
            let _ = out.send(Outcome::Warning {
                input,
                warning: format!("{lines} lines held bytes that are not UTF-8; they were replaced"),
            });
            bad
        }
    };
    let ctx = LineContext {
        sensor: options.sensor.clone(),
        ..LineContext::default()
    };
    let mut records = Vec::new();
    let mut rejects = Vec::new();
    formats::parse_mnemonic(&text, &ctx, |line, result| match result {
        Ok(mut recs) => records.append(&mut recs),
        Err(e) => {
            let text_line = text.lines().nth(line as usize - 1).unwrap_or("");
            rejects.push(reject(path.to_string(), line, e, text_line.trim()));
        }
    });
    let lines = text.lines().count() as u64;
    let _ = out.send(Outcome::Parsed {
        input,
        records: shard_records(records, merge_shards(options), options.buckets),
        rejects,
        lines,
        no_answer: 0,
        saf: Vec::new(),
    });
    Ok(())
}

fn write_buckets(
    merger: ShardedMerger,
    writer: &mut DatasetWriter,
    options: &IngestOptions,
    progress: &Progress,
    handle: &tokio::runtime::Handle,
) -> Result<(u64, u64)> {
    let width = options.buckets.saturating_sub(1).to_string().len().max(2);
    let mut merged = merger.finish()?;
    let mut written = 0u64;
    while let Some((bucket, records)) = merged.next_bucket()? {
        for part in records.chunks(options.max_rows_per_part.max(1)) {
            let batches = part
                .chunks(64 * 1024)
                .map(records_to_batch)
                .collect::<pdnsrep_records::Result<Vec<_>>>()?;
            handle.block_on(writer.write_part(&format!("bucket={bucket:0width$}"), &batches))?;
            written += part.len() as u64;
            progress
                .records_written
                .fetch_add(part.len() as u64, Ordering::Relaxed);
        }
    }
    Ok((written, merged.spills()))
}
