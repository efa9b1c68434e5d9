//! `pdnsrep synth`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use pdnsrep_records::Root;
use pdnsrep_synth::{Format, OutputOptions, SynthConfig, SynthSummary};

use super::UsageError;

#[derive(Debug, Args)]
pub(crate) struct SynthArgs {
    /// Storage root: a local folder, file://, memory://, s3://bucket/prefix, gs://, az://.
    #[arg(long, default_value = "pdnsrep-data", env = "PDNSREP_ROOT")]
    pub out: String,
    /// World name: writes `raw/<name>` (or `cof/<name>`) and `truth/<name>`.
    #[arg(long, default_value = "synth")]
    pub name: String,
    /// About how many records to generate (default: the config's, 378 M for the paper world).
    #[arg(long)]
    pub records: Option<u64>,
    /// Seed: the same seed and config give the same bytes.
    #[arg(long)]
    pub seed: Option<u64>,
    /// A TOML config (see `SynthConfig`); flags override its values.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Take real names from a folder laid out like the shared data folder.
    #[arg(long)]
    pub names_from: Option<PathBuf>,
    /// Raw record format.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: FormatArg,
    /// Where the lists, `lists.toml` and `prefixes.csv` go (default `<out>/lists/<name>`;
    /// required when `--out` is not a local folder).
    #[arg(long)]
    pub lists_dir: Option<PathBuf>,
    /// Print the world's distributions (class mix, records per domain and IP, query counts,
    /// TTLs per role).
    #[arg(long)]
    pub stats: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    Parquet,
    Cof,
}

pub(crate) async fn run(args: SynthArgs) -> anyhow::Result<u8> {
    let mut cfg = match &args.config {
        Some(path) => SynthConfig::from_toml_file(path).map_err(usage)?,
        None => SynthConfig::default(),
    };
    if let Some(records) = args.records {
        cfg.records = records;
    }
    if let Some(seed) = args.seed {
        cfg.seed = seed;
    }
    cfg.validate().map_err(usage)?;
    let root = Root::parse(&args.out)?;
    if args.lists_dir.is_none() && !root.url().starts_with("file://") {
        return Err(usage(pdnsrep_synth::Error::ListsDirRequired {
            root: root.url().to_string(),
        }));
    }
    let options = OutputOptions {
        lists_dir: args.lists_dir.clone(),
        format: match args.format {
            FormatArg::Parquet => Format::Parquet,
            FormatArg::Cof => Format::Cof,
        },
        names_from: args.names_from.clone(),
    };
    let summary = pdnsrep_synth::generate(&root, &args.name, &cfg, &options)
        .await
        .with_context(|| format!("generating world `{}` under `{}`", args.name, root.url()))?;
    print_summary(&summary, args.json, args.stats)?;
    Ok(0)
}

/// Config mistakes are the user's to fix: exit code 2, with the whole chain in the message.
fn usage(e: pdnsrep_synth::Error) -> anyhow::Error {
    UsageError(format!("{:#}", anyhow::Error::from(e))).into()
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_summary(s: &SynthSummary, json: bool, stats: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!(
        "generated {} records ({} entities) into {} and {}, lists in {}",
        s.records,
        s.entities,
        s.raw,
        s.truth,
        s.lists_dir.display()
    );
    println!(
        "  {} parts, {:.1} MB, {:.1} s, {:.0} records/s",
        s.parts,
        s.bytes as f64 / 1e6,
        s.seconds,
        s.records_per_second
    );
    let mix = |shares: &[pdnsrep_synth::Share]| {
        shares
            .iter()
            .map(|x| format!("{} {:.2}%", x.key, x.share * 100.0))
            .collect::<Vec<_>>()
    };
    println!("  truth:  {}", mix(&s.classes).join(", "));
    println!("  listed: {}", mix(&s.listed).join(", "));
    if !stats {
        return Ok(());
    }
    println!("  list precision {:.4}", s.list_precision);
    println!(
        "  rule `nb_domain_queries < 10` balanced accuracy {:.3}",
        s.rule_balanced_accuracy
    );
    println!("  rrtypes: {}", mix(&s.rrtypes).join(", "));
    println!("  roles:");
    for r in &s.roles {
        println!(
            "    {:<24} {:>10} entities {:>12} records {:>6.2}%",
            r.role,
            r.entities,
            r.records,
            r.share * 100.0
        );
    }
    let q = |label: &str, q: &pdnsrep_synth::Quantiles| {
        println!(
            "  {label:<26} n {:>10} mean {:>9.1} p10 {:>6} p50 {:>6} p90 {:>7} p99 {:>8} max {:>9}",
            q.n, q.mean, q.p10, q.p50, q.p90, q.p99, q.max
        );
    };
    q("records per domain", &s.records_per_domain);
    q("records per IP (sampled)", &s.records_per_ip);
    q("queries per record", &s.queries_per_record);
    q("queries per owner name", &s.queries_per_owner);
    println!("  min TTL by role:");
    for (role, quantiles) in &s.min_ttl_by_role {
        q(&format!("  {role}"), quantiles);
    }
    Ok(())
}
