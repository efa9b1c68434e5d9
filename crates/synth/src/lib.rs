//! A synthetic passive DNS world with known ground truth, shaped like the reference data of
//! Lison & Mavroeidis (2017): mnemonic's 378 M records, of which the lists label 122 M benign,
//! 9 M malicious and 201 K sinkhole, the rest unlabelled.
//!
//! [`generate`] plans the world from a [`SynthConfig`] (how many entities of each role make up
//! the record mix), builds its address space (autonomous systems with prefixes and countries),
//! then makes entities shard by shard in parallel. Each entity is a registered domain with its
//! planted role (ranked top site, CDN customer, shared hosting, parked, fast flux, bulletproof,
//! DGA family, taken down and sinkholed, ...) and the records it leaves. The output under a
//! [`Root`]:
//!
//! - `raw/<name>`: the records, as `pdnsrep ingest` writes them (or COF files under
//!   `cof/<name>` with [`Format::Cof`]);
//! - `truth/<name>`: class, role and list verdict of every record, same buckets and order;
//! - a lists folder: `lists.toml` with the top, block, CIDR and sinkhole lists that describe
//!   the world's known part, plus `prefixes.csv` for geolocation.
//!
//! The same seed and config give the same bytes, whatever the thread count.

mod config;
mod domain;
mod error;
mod geo;
mod lists;
mod names;
mod output;
mod rng;
mod stats;

use std::path::{Path, PathBuf};
use std::time::Instant;

use pdnsrep_records::{DatasetWriter, InputEntry, Root, schema::record_schema};
use rayon::prelude::*;
use serde::Serialize;

pub use config::{Difficulty, Known, Mix, SynthConfig};
pub use domain::Class;
pub use error::{Error, Result};
pub use lists::ListCounts;
pub use names::NameSource;
pub use output::{Format, truth_schema};
pub use stats::Quantiles;

use crate::domain::{Ctx, Role, entity};
use crate::geo::Geo;
use crate::output::{RawSink, ShardOut, Sink, generate_shard};
use crate::stats::Stats;

/// Where and how to write, beyond the world itself.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// The folder for the lists; defaults to `<root>/lists/<name>` for local roots.
    pub lists_dir: Option<PathBuf>,
    pub format: Format,
    /// A folder laid out like the shared data folder, for real names.
    pub names_from: Option<PathBuf>,
}

/// What a world turned out to be.
#[derive(Debug, Clone, Serialize)]
pub struct SynthSummary {
    pub name: String,
    pub seed: u64,
    pub format: Format,
    pub records: u64,
    pub entities: u64,
    pub raw: String,
    pub truth: String,
    pub lists_dir: PathBuf,
    pub parts: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    /// Records by truth class.
    pub classes: Vec<Share>,
    /// Records by the class the lists give (`unlabelled` when none).
    pub listed: Vec<Share>,
    /// How well the lists agree with the truth on the records they label.
    pub list_precision: f64,
    pub roles: Vec<RoleShare>,
    pub rrtypes: Vec<Share>,
    pub records_per_domain: Quantiles,
    /// Over a hash sample of the addresses.
    pub records_per_ip: Quantiles,
    pub queries_per_record: Quantiles,
    pub queries_per_owner: Quantiles,
    /// Minimum TTLs of A and AAAA records by role.
    pub min_ttl_by_role: Vec<(String, Quantiles)>,
    /// Balanced accuracy of `nb_domain_queries < 10 => malicious` on the labelled benign and
    /// malicious records (the paper reports 0.54 for this rule).
    pub rule_balanced_accuracy: f64,
    pub list_counts: ListCounts,
}

/// A count and its share of all records.
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    pub key: String,
    pub records: u64,
    pub share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleShare {
    pub role: String,
    pub entities: u64,
    pub records: u64,
    pub share: f64,
}

/// Entities sampled per role to learn its mean record count when planning.
const PLAN_SAMPLE: u64 = 1500;

/// Generates the world `name` under `root`.
pub async fn generate(
    root: &Root,
    name: &str,
    cfg: &SynthConfig,
    options: &OutputOptions,
) -> Result<SynthSummary> {
    cfg.validate()?;
    let started = Instant::now();
    let lists_dir = lists_dir(root, name, options)?;
    std::fs::create_dir_all(&lists_dir).map_err(|source| Error::Lists {
        path: lists_dir.clone(),
        source,
    })?;
    let names = options
        .names_from
        .as_deref()
        .map(NameSource::load)
        .transpose()?;
    let ctx = std::sync::Arc::new(plan(cfg, names)?);
    let shards = cfg.records.div_ceil(cfg.shard_records);
    let ip_sample = (cfg.records / 2_000_000).max(1);
    tracing::info!(
        name,
        records = cfg.records,
        shards,
        "generating synthetic world"
    );

    let raw_dataset = format!("raw/{name}");
    let truth_dataset = format!("truth/{name}");
    let raw = match options.format {
        Format::Parquet => RawSink::Parquet(DatasetWriter::new(root, &raw_dataset, "raw-records")),
        Format::Cof => RawSink::Cof {
            root: root.clone(),
            prefix: format!("cof/{name}"),
            files: Vec::new(),
        },
    };
    let mut sink = Sink {
        raw,
        truth: DatasetWriter::new(root, &truth_dataset, "synth-truth"),
        raw_dataset: raw_dataset.clone(),
        truth_dataset: truth_dataset.clone(),
        pending: (0..cfg.buckets).map(|_| Vec::new()).collect(),
        next_part: vec![0; usize::from(cfg.buckets)],
        part_rows: cfg.part_rows,
        roles: ctx.role_names(),
        bytes: 0,
    };
    let mut block = lists::ListFile::create(&lists_dir, lists::BLOCK)?;
    let (stats, allow_noise) =
        run_shards(&ctx, shards, cfg.buckets, ip_sample, &mut sink, &mut block).await?;
    sink.finish().await?;
    let block_lines = block.finish()?;
    let mut list_counts = lists::write_static(&ctx, &lists_dir, &allow_noise)?;
    list_counts.block_domains = block_lines;
    std::fs::write(lists_dir.join("synth.toml"), cfg.to_toml()).map_err(|source| Error::Lists {
        path: lists_dir.join("synth.toml"),
        source,
    })?;

    let seconds = started.elapsed().as_secs_f64();
    let summary = summarize(
        &ctx,
        cfg,
        name,
        options,
        &stats,
        &sink,
        lists_dir,
        list_counts,
        seconds,
    );
    commit(cfg, sink, &summary).await?;
    Ok(summary)
}

fn lists_dir(root: &Root, name: &str, options: &OutputOptions) -> Result<PathBuf> {
    if let Some(dir) = &options.lists_dir {
        return Ok(dir.clone());
    }
    match root.url().strip_prefix("file://") {
        Some(path) => Ok(Path::new(path).join("lists").join(name)),
        None => Err(Error::ListsDirRequired {
            root: root.url().to_string(),
        }),
    }
}

/// Decides how many entities of each role make up the requested record mix.
fn plan(cfg: &SynthConfig, names: Option<NameSource>) -> Result<Ctx> {
    let start = cfg.start_secs()?;
    let end = start + i64::from(cfg.days) * 86_400;
    let families = match &names {
        Some(n) if !n.dga.is_empty() => n.dga.iter().map(|(f, _)| f.clone()).collect(),
        _ => (0..names::family_count())
            .map(|f| names::family_name(f).to_string())
            .collect(),
    };
    let mut ctx = Ctx {
        seed: cfg.seed,
        start,
        end,
        geo: Geo::build(cfg.seed, cfg.records),
        names,
        counts: [PLAN_SAMPLE; 11],
        offsets: std::array::from_fn(|i| i as u64 * PLAN_SAMPLE),
        known: cfg.known.clone(),
        difficulty: cfg.difficulty.clone(),
        families,
        noise_block: 0.0,
        noise_allow: 0.0,
    };
    let shares = cfg.mix.shares();
    let total: f64 = shares.iter().sum();
    let means: Vec<f64> = Role::ALL
        .par_iter()
        .map(|role| {
            let rows: usize = (0..PLAN_SAMPLE)
                .map(|i| entity(&ctx, *role, i).rows.len())
                .sum();
            rows as f64 / PLAN_SAMPLE as f64
        })
        .collect();
    let mut offset = 0;
    for (i, share) in shares.iter().enumerate() {
        let want = cfg.records as f64 * share / total / means[i].max(1.0);
        ctx.counts[i] = if *share > 0.0 {
            want.round().max(1.0) as u64
        } else {
            0
        };
        ctx.offsets[i] = offset;
        offset += ctx.counts[i];
    }
    let listed_malicious: f64 =
        ctx.counts[6..].iter().sum::<u64>() as f64 * cfg.known.malicious_domains;
    let benign_unranked = ctx.counts[1..6].iter().sum::<u64>().max(1) as f64;
    let malicious_unlisted = ctx.counts[6..].iter().sum::<u64>() as f64 - listed_malicious;
    let noise = cfg.difficulty.label_noise;
    ctx.noise_block = (noise * listed_malicious / benign_unranked).min(1.0);
    ctx.noise_allow = (noise * ctx.counts[0] as f64 / malicious_unlisted.max(1.0)).min(1.0);
    tracing::debug!(counts = ?ctx.counts, means = ?means, "planned entities per role");
    Ok(ctx)
}

/// Generates shards a window at a time on rayon and feeds them to the sink in shard order.
async fn run_shards(
    ctx: &std::sync::Arc<Ctx>,
    shards: u64,
    buckets: u16,
    ip_sample: u64,
    sink: &mut Sink,
    block: &mut lists::ListFile,
) -> Result<(Stats, Vec<String>)> {
    let window = (rayon::current_num_threads() as u64 * 2).max(2);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ShardOut>(window as usize);
    let producer_ctx = ctx.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut next = 0;
        while next < shards {
            let upto = (next + window).min(shards);
            let outs: Vec<ShardOut> = (next..upto)
                .into_par_iter()
                .map(|s| generate_shard(&producer_ctx, s, shards, buckets, ip_sample))
                .collect();
            for out in outs {
                if tx.blocking_send(out).is_err() {
                    return;
                }
            }
            next = upto;
        }
    });
    let mut stats = Stats::default();
    let mut allow_noise = Vec::new();
    let mut done = 0;
    while let Some(mut out) = rx.recv().await {
        for name in &out.block {
            block.line(name)?;
        }
        allow_noise.append(&mut out.allow_noise);
        stats.merge(&out.stats);
        sink.absorb(&mut out).await?;
        done += 1;
        if done % 64 == 0 {
            tracing::info!(
                shards_done = done,
                shards,
                records = stats.records,
                "synth progress"
            );
        }
    }
    producer.await.map_err(|e| Error::Worker {
        shard: done as usize,
        reason: e.to_string(),
    })?;
    if done != shards {
        return Err(Error::Worker {
            shard: done as usize,
            reason: "the generator stopped early".into(),
        });
    }
    Ok((stats, allow_noise))
}

#[expect(
    clippy::too_many_arguments,
    reason = "a one-off assembly of the summary"
)]
fn summarize(
    ctx: &Ctx,
    cfg: &SynthConfig,
    name: &str,
    options: &OutputOptions,
    stats: &Stats,
    sink: &Sink,
    lists_dir: PathBuf,
    list_counts: ListCounts,
    seconds: f64,
) -> SynthSummary {
    let n = stats.records.max(1) as f64;
    let share = |key: &str, records: u64| Share {
        key: key.into(),
        records,
        share: records as f64 / n,
    };
    let roles = ctx.role_names();
    let role_shares = (0..stats.records_by_role.len())
        .filter(|&i| stats.entities_by_role[i] > 0)
        .map(|i| RoleShare {
            role: format!(
                "{}{}",
                roles[i],
                if (7..=11).contains(&i) || i >= 12 {
                    " (malicious)"
                } else {
                    ""
                }
            ),
            entities: stats.entities_by_role[i],
            records: stats.records_by_role[i],
            share: stats.records_by_role[i] as f64 / n,
        })
        .collect();
    let labelled: u64 = stats.by_listed[..3].iter().sum();
    let agree: u64 = (0..3).map(|c| stats.truth_vs_listed[c][c]).sum();
    let raw = match options.format {
        Format::Parquet => format!("raw/{name}"),
        Format::Cof => format!("cof/{name}"),
    };
    SynthSummary {
        name: name.to_string(),
        seed: cfg.seed,
        format: options.format,
        records: stats.records,
        entities: stats.entities_by_role.iter().sum(),
        raw,
        truth: format!("truth/{name}"),
        lists_dir,
        parts: sink.next_part.iter().sum::<usize>() as u64,
        bytes: sink.bytes,
        seconds,
        records_per_second: stats.records as f64 / seconds.max(1e-9),
        classes: Class::ALL
            .iter()
            .map(|c| share(c.as_str(), stats.by_class[c.index()]))
            .collect(),
        listed: ["benign", "malicious", "sinkhole", "unlabelled"]
            .iter()
            .zip(stats.by_listed)
            .map(|(k, v)| share(k, v))
            .collect(),
        list_precision: agree as f64 / labelled.max(1) as f64,
        roles: role_shares,
        rrtypes: stats
            .rrtypes
            .iter()
            .map(|(t, v)| share(&pdnsrep_records::RrType(*t).to_string(), *v))
            .collect(),
        records_per_domain: stats.records_per_domain.summary(),
        records_per_ip: stats.records_per_ip(),
        queries_per_record: stats.queries_per_record.summary(),
        queries_per_owner: stats.queries_per_owner.summary(),
        min_ttl_by_role: (0..stats.ttl_by_role.len())
            .filter(|&i| stats.ttl_by_role[i].summary().n > 0)
            .map(|i| (roles[i].clone(), stats.ttl_by_role[i].summary()))
            .collect(),
        rule_balanced_accuracy: stats.rule_balanced_accuracy(),
        list_counts,
    }
}

/// Commits the truth (and, for Parquet, the raw dataset) with the summary in the manifests.
async fn commit(cfg: &SynthConfig, sink: Sink, summary: &SynthSummary) -> Result<()> {
    let stats = serde_json::json!({ "synth": summary, "config": cfg });
    let input = vec![InputEntry {
        path: format!("synth:seed={}", cfg.seed),
        bytes: 0,
        format: "synth".into(),
    }];
    let err = |dataset: String| move |source| Error::Dataset { dataset, source };
    if let RawSink::Parquet(writer) = sink.raw {
        writer
            .commit(&record_schema(), input.clone(), stats.clone())
            .await
            .map_err(err(sink.raw_dataset.clone()))?;
    }
    sink.truth
        .commit(&truth_schema(), input, stats)
        .await
        .map_err(err(sink.truth_dataset.clone()))?;
    Ok(())
}
