//! `pdnsrep dga`: the names-only DGA detector.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use pdnsrep_train::dga::{self, DetectionReport};
use pdnsrep_train::{
    Batch, Predictor, RunConfig, RunDir, TrainRequest, TrainSummary, predict_split,
};

use super::UsageError;
use super::train::BackendArg;

/// The dataset of names inside the run folder.
const DATASET: &str = "data/dga";
/// The false positive rate at which the true positive rate is reported.
const FPR_TARGET: f64 = 1e-2;
const DEFAULT_CONFIG: &str = include_str!("../../configs/models/dga.toml");

#[derive(Debug, Args)]
pub(crate) struct DgaArgs {
    #[command(subcommand)]
    pub command: DgaCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DgaCommand {
    /// Train a detector of generated names from lists of benign and DGA names.
    Train(DgaTrainArgs),
    /// Print `name,probability` (of being generated) for each name of a file or stdin.
    Score(DgaScoreArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DgaTrainArgs {
    /// Lists of benign names: one per line, `rank,name` or CSV with the name as first dotted
    /// field; `#` comments; `.gz` allowed. In labelled mixes (`class,family,domain`), rows
    /// tagged `dga` or `malicious` are left to `--dga`.
    #[arg(long, num_args = 1.., required_unless_present = "resume")]
    pub benign: Vec<PathBuf>,
    /// Lists of DGA names, same formats; rows tagged `legit` or `benign` are left to
    /// `--benign`.
    #[arg(long, num_args = 1.., required_unless_present = "resume")]
    pub dga: Vec<PathBuf>,
    /// Folder of the run (any storage root); the names dataset is written inside it.
    #[arg(long)]
    pub run: String,
    /// Run config (default: the shipped `configs/models/dga.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Names kept per class, sampled by hash.
    #[arg(long, default_value_t = 50_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_per_class: usize,
    /// Continue the run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// The backend to compute on (`--features wgpu` or `cuda` builds add the GPU ones).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DgaScoreArgs {
    /// Folder of a trained DGA run.
    #[arg(long)]
    pub run: String,
    /// File of names (same formats as the training lists), or `-` for stdin.
    pub names: PathBuf,
    /// The backend to compute on (`--features wgpu` or `cuda` builds add the GPU ones).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
}

pub(crate) async fn run(args: DgaArgs, quiet: bool) -> anyhow::Result<u8> {
    match args.command {
        DgaCommand::Train(args) => train(args, quiet).await,
        DgaCommand::Score(args) => score(args).await,
    }
}

#[derive(Debug, serde::Serialize)]
struct DgaSummary {
    dataset: Option<dga::DgaDatasetStats>,
    lists: Vec<dga::ListStats>,
    training: TrainSummary,
    test: DetectionReport,
}

async fn train(args: DgaTrainArgs, quiet: bool) -> anyhow::Result<u8> {
    let config = match &args.config {
        Some(path) => RunConfig::from_path(path)?,
        None => RunConfig::from_toml(DEFAULT_CONFIG)?,
    };
    match &config.model {
        pdnsrep_model::ModelConfig::Network(net)
            if net.chars.kind != pdnsrep_model::CharEncoderKind::None => {}
        _ => {
            return Err(UsageError(
                "a DGA run needs a network with a character encoder (`[model.chars]`, as in \
                 configs/models/dga.toml): names are its only input"
                    .into(),
            )
            .into());
        }
    }
    let run = RunDir::open(&args.run)?;
    let (mut lists, mut dataset) = (Vec::new(), None);
    if !args.resume {
        if run.get("config.toml").await?.is_some() {
            return Err(UsageError(format!(
                "`{}` already holds a run; pass `--resume` or choose another `--run`",
                args.run
            ))
            .into());
        }
        let (benign, dga_names) = (
            read_lists(&args.benign, dga::NameClass::Benign, &mut lists)?,
            read_lists(&args.dga, dga::NameClass::Dga, &mut lists)?,
        );
        let stats = dga::write_dataset(&run.root, DATASET, benign, dga_names, args.max_per_class)
            .await
            .context("writing the names dataset")?;
        tracing::info!(?stats, "names dataset written");
        dataset = Some(stats);
    }
    let request = TrainRequest {
        features: run.root.clone(),
        dataset: DATASET.into(),
        run: run.clone(),
        config: (!args.resume || args.config.is_some()).then_some(config),
        resume: args.resume,
        backend: args.backend.into(),
        stop_after_steps: None,
        warm_start: None,
    };
    let mut progress = super::train::TrainProgress::new(quiet);
    let training = pdnsrep_train::train(request, &mut progress).await?;
    progress.finish();
    let (predictor, _, info) = Predictor::load(&run, args.backend.into()).await?;
    let test = predict_split(&predictor, &info, Some((&run.root, DATASET)), "test", 4096).await?;
    let scores: Vec<f32> = test.probs.chunks_exact(3).map(|p| p[1]).collect();
    let report = dga::detection_report(&test.labels, &scores, FPR_TARGET);
    run.put_json("eval/dga.json", &report).await?;
    print_train(
        &DgaSummary {
            dataset,
            lists,
            training,
            test: report,
        },
        args.json,
    )?;
    Ok(0)
}

fn read_lists(
    paths: &[PathBuf],
    class: dga::NameClass,
    stats: &mut Vec<dga::ListStats>,
) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for path in paths {
        let (mut n, s) = dga::read_names(path, class).map_err(|e| {
            // The I/O reason lives in the error's source; say it.
            let reason = std::error::Error::source(&e).map_or(String::new(), |s| format!(": {s}"));
            UsageError(format!("{e}{reason}"))
        })?;
        if n.is_empty() {
            return Err(UsageError(format!("`{}` holds no names", path.display())).into());
        }
        names.append(&mut n);
        stats.push(s);
    }
    Ok(names)
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_train(s: &DgaSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    for l in &s.lists {
        println!(
            "list:         {}: {} names from {} lines, {} skipped, {} of the other class",
            l.path, l.names, l.lines, l.skipped, l.other_class
        );
    }
    if let Some(d) = &s.dataset {
        println!(
            "names:        {} benign, {} dga ({} on both lists, dropped); {} train / {} valid / {} test",
            d.benign, d.dga, d.conflicting, d.train, d.valid, d.test
        );
    }
    let t = &s.training;
    println!(
        "training:     {} after {} steps, {:.0} samples/s",
        t.stop_reason, t.steps, t.samples_per_s
    );
    let r = &s.test;
    println!(
        "test:         F1 {:.4} (precision {:.4}, recall {:.4}) on {} names, {} dga",
        r.f1, r.precision, r.recall, r.rows, r.positives
    );
    println!(
        "operating:    TPR {:.4} at FPR ≤ {} (threshold {:.4})",
        r.tpr_at_fpr, r.fpr_target, r.threshold_at_fpr
    );
    Ok(())
}

async fn score(args: DgaScoreArgs) -> anyhow::Result<u8> {
    let run = RunDir::open(&args.run)?;
    let (predictor, _, info) = Predictor::load(&run, args.backend.into()).await?;
    if info.input_shape.numeric + info.input_shape.categorical.len() > 0 {
        return Err(UsageError(format!("`{}` is not a names-only (DGA) run", args.run)).into());
    }
    let reader: Box<dyn BufRead> = if args.names.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.names)
            .map_err(|e| UsageError(format!("cannot open `{}`: {e}", args.names.display())))?;
        Box::new(std::io::BufReader::new(file))
    };
    let source = args.names.display().to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut pending = Vec::new();
    let (mut skipped, mut first_skipped) = (0u64, None);
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| UsageError(format!("{source}: line {}: {e}", number + 1)))?;
        match dga::parse_line(&line) {
            Some(name) => pending.push(name),
            None if line.trim().is_empty() || line.trim_start().starts_with('#') => {}
            None => {
                skipped += 1;
                first_skipped.get_or_insert((number + 1, line));
            }
        }
        if pending.len() == 4096 {
            write_scores(&predictor, &mut pending, &mut out)?;
        }
    }
    write_scores(&predictor, &mut pending, &mut out)?;
    out.flush()?;
    if let Some((line, text)) = first_skipped {
        let shown: String = text.chars().take(80).collect();
        tracing::warn!(
            "{source}: {skipped} lines are not domain names and were not scored (first: line \
             {line}, `{shown}`)"
        );
    }
    Ok(0)
}

fn write_scores(
    predictor: &Predictor,
    names: &mut Vec<String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let batch = Batch {
        inputs: dga::encode_names(names),
        labels: Vec::new(),
        domain_queries: vec![0; names.len()],
    };
    let probs = predictor.predict(&batch)?;
    for (name, p) in names.iter().zip(probs.chunks_exact(3)) {
        writeln!(out, "{name},{:.6}", p[1])?;
    }
    names.clear();
    Ok(())
}
