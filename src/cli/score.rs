//! `pdnsrep score`: every record, domain and address of a dataset scored by a published model.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use pdnsrep_features::{ReputationOptions, aggregate_reputation};
use pdnsrep_records::Root;
use pdnsrep_registry::{Reference, Registry};
use pdnsrep_train::{FeatureSource, RunDir, write_predictions};

use super::UsageError;
use super::registry::RegistryArg;
use super::train::BackendArg;

#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    /// The model: `<name>@<alias>`, `<name>@v<N>` or `<name>` (the latest version).
    #[arg(long)]
    pub model: String,
    /// Storage root of the feature dataset to score (default: the one the model was trained on).
    #[arg(long, requires = "dataset")]
    pub features: Option<String>,
    /// A feature dataset computed by the model's featurizer (default: its training dataset).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Where the scores go (default: the root of the labelled records behind the features).
    #[arg(long)]
    pub out: Option<String>,
    /// Prefix of the output datasets: `<prefix>/records`, `<prefix>/domains`, `<prefix>/ips`
    /// (default: `scores/<model name>`).
    #[arg(long)]
    pub out_dataset: Option<String>,
    /// Domains and addresses with fewer records get `insufficient_evidence`.
    #[arg(long, default_value_t = 3)]
    pub min_evidence: u64,
    /// Also write every record as passive DNS COF NDJSON with the verdict added (a local file
    /// in an existing folder).
    #[arg(long)]
    pub cof: Option<PathBuf>,
    /// The backend to compute on (`--features wgpu` or `cuda` builds add the GPU ones).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: ScoreArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    if let Some(cof) = &args.cof {
        let text = cof.to_string_lossy();
        let parent = cof.parent().filter(|p| !p.as_os_str().is_empty());
        if text.contains("://") || parent.is_some_and(|p| !p.is_dir()) {
            return Err(UsageError(format!(
                "`--cof {text}` must be a local file in an existing folder"
            ))
            .into());
        }
    }
    let registry = Registry::open(&args.registry.registry)?;
    let reference = Reference::parse(&args.model)?;
    let loaded = registry.load(&reference, args.backend.into()).await?;
    let version = loaded.verified.version;
    let model = format!("{}@v{version}", reference.model);
    let (root, dataset) = match (&args.features, &args.dataset) {
        (Some(root), Some(dataset)) => (Root::parse(root)?, dataset.clone()),
        (None, Some(dataset)) => (Root::parse(&loaded.info.features_root)?, dataset.clone()),
        _ => (
            Root::parse(&loaded.info.features_root)?,
            loaded.info.dataset.clone(),
        ),
    };
    let source = FeatureSource::open(&root, &dataset).await?;
    if source.spec.digest != loaded.info.featurizer_digest && !loaded.featurizer_is_first_pass() {
        return Err(UsageError(format!(
            "`{model}` is a later pass: it scores only the features it was trained on (its \
             neighbour counts come from an earlier pass's predictions); scoring other data \
             through its earlier passes is not built yet"
        ))
        .into());
    }
    let (labelled_root, labelled) = pdnsrep_sweep::passes::labelled_input(&source)?;
    let out = match &args.out {
        Some(url) => Root::parse(url)?,
        None => labelled_root.clone(),
    };
    let prefix = args
        .out_dataset
        .clone()
        .unwrap_or_else(|| format!("scores/{}", reference.model));
    let records = format!("{prefix}/records");
    let version_dir = RunDir::open(&registry.version_url(&reference.model, version))?;
    let splits = ["train", "valid", "test", "unlabelled"];
    let predicted = write_predictions(
        &loaded.predictor,
        &version_dir,
        &loaded.info,
        &source,
        &splits,
        &out,
        &records,
    )
    .await?;
    let options = ReputationOptions {
        min_evidence: args.min_evidence,
        model: model.clone(),
        memory_limit: None,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        part_rows: 256 * 1024,
    };
    let domains = format!("{prefix}/domains");
    let ips = format!("{prefix}/ips");
    let reputation = aggregate_reputation(
        (&out, &records),
        (&labelled_root, &labelled),
        &out,
        (&domains, &ips),
        args.cof.as_deref(),
        &options,
    )
    .await?;
    let rows: u64 = predicted.rows_by_split.values().sum();
    let seconds = started.elapsed().as_secs_f64();
    let summary = serde_json::json!({
        "model": model,
        "records": out.display(&records),
        "domains": out.display(&domains),
        "ips": out.display(&ips),
        "rows": rows,
        "rows_by_split": predicted.rows_by_split,
        "predicted": predicted.predicted,
        "reputation": reputation,
        "seconds": seconds,
        "records_per_s": rows as f64 / seconds.max(1e-9),
    });
    print_summary(&summary, args.json)?;
    Ok(0)
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_summary(s: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let r = &s["reputation"];
    println!(
        "scored {} records with {} in {:.1} s ({:.0} records/s)",
        s["rows"],
        s["model"].as_str().unwrap_or("?"),
        s["seconds"].as_f64().unwrap_or(0.0),
        s["records_per_s"].as_f64().unwrap_or(0.0)
    );
    println!("  records: {}", s["records"].as_str().unwrap_or("?"));
    println!(
        "  domains: {} ({} with insufficient evidence) → {}",
        r["domains"],
        r["domains_insufficient"],
        s["domains"].as_str().unwrap_or("?")
    );
    println!(
        "  ips:     {} ({} with insufficient evidence) → {}",
        r["ips"],
        r["ips_insufficient"],
        s["ips"].as_str().unwrap_or("?")
    );
    println!("  domains by reputation: {}", r["domains_by_reputation"]);
    println!("  ips by reputation:     {}", r["ips_by_reputation"]);
    if let Some(lines) = r["cof_lines"].as_u64() {
        println!("  COF lines: {lines}");
    }
    Ok(())
}
