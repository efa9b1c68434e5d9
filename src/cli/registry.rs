//! `pdnsrep publish` and `pdnsrep registry`.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use pdnsrep_registry::{Reference, Registry};
use pdnsrep_train::RunDir;

use super::UsageError;
use super::train::BackendArg;

#[derive(Debug, Args)]
pub(crate) struct RegistryArg {
    /// The registry: a folder or object-store URL (with `pdnsrep registry`, give it before the
    /// subcommand).
    #[arg(
        long,
        default_value = "pdnsrep-data/registry",
        env = "PDNSREP_REGISTRY"
    )]
    pub registry: String,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    /// The model's name in the registry (lowercase letters, digits, `-`, `_`, `.`).
    #[arg(long)]
    pub model: String,
    /// A finished training run (`pdnsrep train --run`, or a pass of a multi-pass run); or
    /// give `--sweep`.
    #[arg(long, conflicts_with = "sweep")]
    pub run: Option<String>,
    /// A sweep folder: publishes its best trial, or `--trial`.
    #[arg(long)]
    pub sweep: Option<String>,
    /// The sweep trial to publish, by name or id (default: the sweep's best).
    #[arg(long, requires = "sweep")]
    pub trial: Option<String>,
    /// The dataset label (split mode) of the trial, or whose best trial to publish.
    #[arg(long, requires = "sweep")]
    pub label: Option<String>,
    /// Rows in the golden batch replayed on every load.
    #[arg(long, default_value_t = 32)]
    pub golden_rows: usize,
    /// The backend to compute on (`--features wgpu` or `cuda` builds add the GPU ones).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(subcommand)]
    pub command: RegistryCommand,
    /// Print JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// Every version of a model (or of every model), with its state and aliases.
    List {
        /// A model name; every model when absent.
        model: Option<String>,
    },
    /// A version's metrics, lineage and files.
    Show {
        /// `<model>` (its latest version), `<model>@v<N>` or `<model>@<alias>`.
        reference: String,
    },
    /// Two versions side by side: metrics and config differences.
    Diff {
        /// The first version (`<model>[@v<N>|@<alias>]`).
        a: String,
        /// The second version.
        b: String,
    },
    /// Checks every file's SHA-256 and replays the golden batch on `--backend`.
    Verify {
        /// `<model>[@v<N>|@<alias>]`.
        reference: String,
        #[arg(long, value_enum, default_value = "flex")]
        backend: BackendArg,
    },
    /// Points an alias (`production`, `candidate`, …) at a version.
    Promote {
        /// The version to point at: `<model>@v<N>` (or another alias or the latest).
        reference: String,
        /// The alias to move, for example `production` or `candidate`.
        #[arg(long)]
        alias: String,
    },
}

/// The run folder of a sweep's trial: its last pass.
async fn sweep_trial(
    sweep: &str,
    trial: Option<&str>,
    label: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let dir = RunDir::open(sweep)?;
    let rows: Vec<pdnsrep_sweep::Row> = dir
        .get_json("results.json")
        .await?
        .ok_or_else(|| UsageError(format!("`{sweep}` holds no sweep results (results.json)")))?;
    let best: Vec<pdnsrep_sweep::Best> = dir.get_json("best.json").await?.unwrap_or_default();
    let chosen: Vec<&pdnsrep_sweep::Row> = match trial {
        Some(t) => rows
            .iter()
            .filter(|r| (r.trial == t || r.id == t) && label.is_none_or(|l| r.label == l))
            .collect(),
        None => {
            let labels: Vec<&str> = best.iter().map(|b| b.label.as_str()).collect();
            if let Some(l) = label
                && !rows.iter().any(|r| r.label == l)
            {
                let mut known: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
                known.dedup();
                return Err(UsageError(format!(
                    "`{sweep}` has no dataset `{l}` (it has {})",
                    known.join(", ")
                ))
                .into());
            }
            let best = match (label, best.as_slice()) {
                (Some(l), _) => best.iter().find(|b| b.label == l),
                (None, [one]) => Some(one),
                (None, []) => None,
                (None, _) => {
                    return Err(UsageError(format!(
                        "`{sweep}` ran on several datasets ({}); pick one with --label",
                        labels.join(", ")
                    ))
                    .into());
                }
            };
            let best = best.ok_or_else(|| {
                UsageError(format!(
                    "`{sweep}` has no best trial{}; name one with --trial",
                    label.map(|l| format!(" on `{l}`")).unwrap_or_default()
                ))
            })?;
            rows.iter().filter(|r| r.id == best.id).collect()
        }
    };
    let row = match chosen.as_slice() {
        [one] => *one,
        [] => {
            return Err(
                UsageError(format!("no trial `{}` in `{sweep}`", trial.unwrap_or("?"))).into(),
            );
        }
        _ => {
            return Err(UsageError(format!(
                "trial `{}` exists on several datasets; pick one with --label",
                trial.unwrap_or("?")
            ))
            .into());
        }
    };
    let last = row
        .passes
        .iter()
        .rev()
        .find(|p| p.settled.is_none())
        .ok_or_else(|| {
            UsageError(format!(
                "trial `{}` has not finished ({})",
                row.trial, row.status
            ))
        })?;
    let run = format!("{}/nodes/{}", dir.url().trim_end_matches('/'), last.node);
    let note = format!(
        "sweep `{sweep}`, trial `{}` on `{}` ({}), pass {}",
        row.trial,
        row.label,
        row.settings.join(", "),
        last.pass
    );
    Ok((run, note))
}

pub(crate) async fn publish(args: PublishArgs) -> anyhow::Result<u8> {
    let registry = Registry::open(&args.registry.registry)?;
    let (run, note) = match (&args.run, &args.sweep) {
        (Some(run), _) => (run.clone(), None::<String>),
        (None, Some(sweep)) => {
            let (run, note) =
                sweep_trial(sweep, args.trial.as_deref(), args.label.as_deref()).await?;
            (run, Some(note))
        }
        (None, None) => {
            return Err(UsageError(
                "what to publish: `--run <RUN>` (a finished run) or `--sweep <DIR>` (its best trial)"
                    .into(),
            )
            .into());
        }
    };
    let published = registry
        .publish(
            &args.model,
            &RunDir::open(&run)?,
            note.clone(),
            args.backend.into(),
            args.golden_rows,
        )
        .await?;
    if args.json {
        print_out(&serde_json::to_string_pretty(&published)?);
    } else {
        print_out(&format!(
            "published {}@v{} ({} files and artifact.json, {} bytes) at {}\n  from {}\n",
            published.model,
            published.version,
            published.files - 1,
            published.bytes,
            published.location,
            note.as_deref().unwrap_or(&run)
        ));
    }
    Ok(0)
}

#[expect(
    clippy::print_stdout,
    reason = "the registry's answers are the command's output"
)]
fn print_out(text: &str) {
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
}

pub(crate) async fn run(args: RegistryArgs) -> anyhow::Result<u8> {
    let registry = Registry::open(&args.registry.registry)?;
    match args.command {
        RegistryCommand::List { model } => {
            let rows = registry.list(model.as_deref()).await?;
            if args.json {
                print_out(&serde_json::to_string_pretty(&rows)?);
                return Ok(0);
            }
            let mut out =
                String::from("model\tversion\tstate\tcreated\ttest macro-F1\taliases\tkind\n");
            for r in &rows {
                let _ = writeln!(
                    out,
                    "{}\tv{}\t{}\t{}\t{}\t{}\t{}",
                    r.model,
                    r.version,
                    r.state,
                    r.created_at.as_deref().unwrap_or("-"),
                    r.test_macro_f1
                        .map_or_else(|| "-".into(), |f| format!("{f:.4}")),
                    r.aliases.join(","),
                    r.kind.as_deref().unwrap_or("-")
                );
            }
            print_out(&out);
        }
        RegistryCommand::Show { reference } => {
            let r = Reference::parse(&reference)?;
            let version = registry.resolve(&r).await?;
            let (artifact, evals, lineage) = registry.details(&r.model, version).await?;
            let aliases: Vec<String> = registry
                .aliases(&r.model)
                .await?
                .into_iter()
                .filter(|a| a.version == version)
                .map(|a| a.alias)
                .collect();
            if args.json {
                let value = serde_json::json!({
                    "artifact": artifact, "evaluations": evals, "lineage": lineage, "aliases": aliases,
                });
                print_out(&serde_json::to_string_pretty(&value)?);
                return Ok(0);
            }
            print_out(&show_text(&artifact, &evals, &lineage, &aliases));
        }
        RegistryCommand::Diff { a, b } => {
            let (ra, rb) = (Reference::parse(&a)?, Reference::parse(&b)?);
            let (va, vb) = (registry.resolve(&ra).await?, registry.resolve(&rb).await?);
            let (aa, ea, la) = registry.details(&ra.model, va).await?;
            let (ab, eb, lb) = registry.details(&rb.model, vb).await?;
            let (ca, cb) = (
                registry.config(&ra.model, va).await?,
                registry.config(&rb.model, vb).await?,
            );
            print_out(&diff_text((&aa, &ea, &la, &ca), (&ab, &eb, &lb, &cb)));
        }
        RegistryCommand::Verify { reference, backend } => {
            let r = Reference::parse(&reference)?;
            let loaded = registry.load(&r, backend.into()).await?;
            let v = &loaded.verified;
            if args.json {
                print_out(&serde_json::to_string_pretty(v)?);
            } else {
                print_out(&format!(
                    "{}@v{}: {} files match their SHA-256; the golden batch ({} rows) reproduces \
                     on {} within {:e} (max difference {:.1e})\n",
                    v.model,
                    v.version,
                    v.files,
                    v.golden_rows,
                    v.backend,
                    pdnsrep_registry::GOLDEN_TOLERANCE,
                    v.golden_max_diff
                ));
            }
        }
        RegistryCommand::Promote { reference, alias } => {
            let r = Reference::parse(&reference)?;
            let record = registry.promote(&r, &alias).await?;
            if args.json {
                print_out(&serde_json::to_string_pretty(&record)?);
            } else {
                let from = record
                    .previous
                    .map_or_else(|| "nothing".into(), |p| format!("v{p}"));
                print_out(&format!(
                    "{}@{} → v{} (was {from})\n",
                    r.model, record.alias, record.version
                ));
            }
        }
    }
    Ok(0)
}

fn metric_lines(out: &mut String, name: &str, e: Option<&pdnsrep_eval::Evaluation>) {
    let Some(e) = e else {
        let _ = writeln!(out, "  {name}: none");
        return;
    };
    let _ = writeln!(
        out,
        "  {name}: {} rows, accuracy {:.4}, macro-F1 {:.4}",
        e.n, e.accuracy, e.macro_f1
    );
    for m in &e.per_class {
        let tpr: Vec<String> = m
            .tpr_at_fpr
            .iter()
            .map(|p| format!("TPR {:.3} @ FPR ≤ {}", p.tpr, p.max_fpr))
            .collect();
        let _ = writeln!(
            out,
            "    {:<10} P {:.3} R {:.3} F1 {:.3} (n={}) {}",
            m.class,
            m.precision,
            m.recall,
            m.f1,
            m.support,
            tpr.join(", ")
        );
    }
}

fn show_text(
    a: &pdnsrep_registry::Artifact,
    evals: &pdnsrep_registry::Evaluations,
    lineage: &pdnsrep_registry::Lineage,
    aliases: &[String],
) -> String {
    let mut out = format!("{}@v{} ({})\n", a.model, a.version, a.kind);
    let _ = writeln!(
        out,
        "  published {} by pdnsrep {}{}",
        a.created_at,
        a.tool_version,
        a.git_commit
            .as_deref()
            .map(|c| format!(" (commit {c})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  aliases: {}",
        if aliases.is_empty() {
            "none".into()
        } else {
            aliases.join(", ")
        }
    );
    let _ = writeln!(out, "  from run {}", a.source_run);
    if let Some(note) = &a.source_note {
        let _ = writeln!(out, "  ({note})");
    }
    out.push_str("metrics\n");
    metric_lines(&mut out, "valid", evals.valid.as_ref());
    metric_lines(&mut out, "test", evals.test.as_ref());
    out.push_str("lineage\n");
    let _ = writeln!(
        out,
        "  features {} (run {}, {} rows, manifest sha256 {}, featurizer {})",
        lineage.features,
        lineage.features_run_id,
        lineage.features_rows,
        &lineage.features_manifest_sha256[..lineage.features_manifest_sha256.len().min(16)],
        &lineage.featurizer_digest[..lineage.featurizer_digest.len().min(16)]
    );
    let _ = writeln!(
        out,
        "  labelled {} (run {})",
        lineage.labelled, lineage.labelled_run_id
    );
    if lineage.passes.is_empty() {
        out.push_str("  neighbour features from training labels (a first pass)\n");
    }
    let this_pass = lineage.passes.len() + 1;
    for (i, p) in lineage.passes.iter().enumerate() {
        let votes = p
            .threshold
            .map_or_else(|| "soft counts".into(), |t| format!("votes at {t}"));
        let _ = writeln!(
            out,
            "  neighbour features of pass {} from pass {}'s predictions {} ({votes}); pass {} is \
             {} trained on {}",
            this_pass - i,
            this_pass - i - 1,
            p.predictions,
            this_pass - i - 1,
            p.model_run,
            p.model_features
        );
    }
    let _ = writeln!(out, "files ({})", a.files.len());
    for f in &a.files {
        let _ = writeln!(
            out,
            "  {:<18} {:>10} bytes  sha256 {}",
            f.path, f.bytes, f.sha256
        );
    }
    out
}

type Side<'a> = (
    &'a pdnsrep_registry::Artifact,
    &'a pdnsrep_registry::Evaluations,
    &'a pdnsrep_registry::Lineage,
    &'a String,
);

fn diff_text(a: Side<'_>, b: Side<'_>) -> String {
    let name = |x: &pdnsrep_registry::Artifact| format!("{}@v{}", x.model, x.version);
    let mut out = format!("{:<28} {:>14} {:>14}\n", "", name(a.0), name(b.0));
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.4}"));
    let mut line = |label: &str, x: Option<f64>, y: Option<f64>| {
        let delta = match (x, y) {
            (Some(x), Some(y)) => format!("{:+.4}", y - x),
            _ => String::new(),
        };
        let _ = writeln!(out, "{label:<28} {:>14} {:>14} {delta:>9}", fmt(x), fmt(y));
    };
    for (split, ea, eb) in [
        ("valid", &a.1.valid, &b.1.valid),
        ("test", &a.1.test, &b.1.test),
    ] {
        line(
            &format!("{split} accuracy"),
            ea.as_ref().map(|e| e.accuracy),
            eb.as_ref().map(|e| e.accuracy),
        );
        line(
            &format!("{split} macro-F1"),
            ea.as_ref().map(|e| e.macro_f1),
            eb.as_ref().map(|e| e.macro_f1),
        );
        for class in pdnsrep_records::features::CLASSES {
            let f1 = |e: &Option<pdnsrep_eval::Evaluation>| {
                e.as_ref()
                    .and_then(|e| e.per_class.iter().find(|m| m.class == class))
                    .map(|m| m.f1)
            };
            line(&format!("{split} {class} F1"), f1(ea), f1(eb));
        }
    }
    let _ = writeln!(
        out,
        "{:<28} {:>14} {:>14}",
        "passes",
        a.2.passes.len() + 1,
        b.2.passes.len() + 1
    );
    if a.2.features != b.2.features || a.2.features_run_id != b.2.features_run_id {
        let _ = writeln!(
            out,
            "features differ: {} ({}) vs {} ({})",
            a.2.features, a.2.features_run_id, b.2.features, b.2.features_run_id
        );
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.3.lines().collect(), b.3.lines().collect());
    let removed: Vec<&&str> = la.iter().filter(|l| !lb.contains(l)).collect();
    let added: Vec<&&str> = lb.iter().filter(|l| !la.contains(l)).collect();
    if removed.is_empty() && added.is_empty() {
        out.push_str(
            "run configs are identical (each version is one pass; the lineage holds the passes)\n",
        );
    } else {
        out.push_str("config lines\n");
        for l in removed {
            let _ = writeln!(out, "  - {l}");
        }
        for l in added {
            let _ = writeln!(out, "  + {l}");
        }
    }
    out
}
