//! `pdnsrep ingest`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use pdnsrep_ingest::formats::PassiveDnsFields;
use pdnsrep_ingest::{Format, IngestOptions, IngestSummary, Progress};
use pdnsrep_records::Root;

use super::progress::{Reporter, Sample};

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Files or folders to read (`-` for stdin); `.gz` and `.zst` are decompressed.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Storage root: a local folder, file://, memory://, s3://bucket/prefix, gs://, az://.
    #[arg(long, default_value = "pdnsrep-data", env = "PDNSREP_ROOT")]
    pub out: String,
    /// Dataset name under the root.
    #[arg(long, default_value = "raw/default")]
    pub dataset: String,
    /// Input format: auto, cof, dnsdb, mnemonic, passivedns, passivedns-json, zeek-tsv or
    /// zeek-json; `auto` detects it per input from the first lines.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub format: FormatArg,
    /// Stop at the first bad line or incomplete stream instead of skipping and counting.
    #[arg(long)]
    pub strict: bool,
    /// Field letters of passivedns text logs (its `-f` option).
    #[arg(long, default_value = "SMcsCQTAtn")]
    pub passivedns_fields: PassiveDnsFields,
    /// Sensor name for records whose format carries none.
    #[arg(long)]
    pub sensor: Option<String>,
    /// Output partitions (`bucket=NN`), by a stable hash of the record key.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub buckets: u16,
    /// Memory for the merge map, in MiB, before it spills to disk.
    #[arg(long, default_value_t = 2048)]
    pub memory_mib: usize,
    /// Parser threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where spill files go (default: the system temporary folder).
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Seconds an unlisted part must be old before a commit deletes it. Younger ones may belong
    /// to a concurrent ingest of the same dataset; older ones are orphans of killed runs.
    #[arg(long, default_value_t = 3600)]
    pub orphan_grace: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FormatArg(Option<Format>);

fn parse_format(s: &str) -> Result<FormatArg, String> {
    if s == "auto" {
        Ok(FormatArg(None))
    } else {
        s.parse().map(|f| FormatArg(Some(f)))
    }
}

pub(crate) async fn run(args: IngestArgs, quiet: bool) -> anyhow::Result<u8> {
    let root = Root::parse(&args.out)?;
    let mut options = IngestOptions {
        format: args.format.0,
        strict: args.strict,
        passivedns_fields: args.passivedns_fields,
        sensor: args.sensor,
        buckets: usize::from(args.buckets),
        memory_budget: args.memory_mib << 20,
        spill_dir: args.spill_dir,
        orphan_grace: std::time::Duration::from_secs(args.orphan_grace),
        ..IngestOptions::default()
    };
    if let Some(threads) = args.threads {
        options.threads = threads.max(1);
    }
    let progress = Arc::new(Progress::default());
    let watcher = spawn_progress(progress.clone(), quiet);
    let result =
        pdnsrep_ingest::ingest(&args.inputs, &root, &args.dataset, &options, progress).await;
    watcher.abort();
    let (summary, _manifest) = result.context("ingest failed")?;
    print_summary(&summary, args.json)?;
    Ok(0)
}

fn spawn_progress(progress: Arc<Progress>, quiet: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reporter = Reporter::new("records", quiet);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            reporter.update(Sample {
                done_bytes: progress.bytes_read.load(Ordering::Relaxed),
                total_bytes: progress.bytes_total.load(Ordering::Relaxed),
                items: progress.records.load(Ordering::Relaxed),
            });
            if progress.records_written.load(Ordering::Relaxed) > 0 {
                reporter.finish();
                return;
            }
        }
    })
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_summary(s: &IngestSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!("ingested into {}", s.dataset);
    for input in &s.inputs {
        println!(
            "  {} [{}]: {} lines, {} observations, {} rejected, {} without answer",
            input.path,
            input.format,
            input.lines,
            input.observations,
            input.rejected,
            input.no_answer
        );
        for w in &input.warnings {
            println!("    warning: {w}");
        }
    }
    println!(
        "records: {} read, {} merged, {} written ({} parts, {} bytes, {} spills) in {:.1}s",
        s.observations, s.merged, s.records_written, s.parts, s.bytes_written, s.spills, s.seconds
    );
    if s.rejected > 0 {
        println!("rejected: {} lines", s.rejected);
        for (reason, n) in &s.rejects_by_reason {
            println!("  {n:>10}  {reason}");
        }
        for r in &s.first_rejects {
            println!("  e.g. {r}");
        }
        if let Some(file) = &s.rejects_file {
            println!("  all rejects: {file}");
        }
        if s.rejects_not_kept > 0 {
            println!(
                "  ({} more rejects counted but not kept)",
                s.rejects_not_kept
            );
        }
    }
    Ok(())
}
