//! `pdnsrep eval`.

use anyhow::Context as _;
use clap::Args;
use pdnsrep_eval::plot::CurvePoint;
use pdnsrep_eval::{Accumulator, DEFAULT_FPR_TARGETS, Evaluation};
use pdnsrep_records::Root;
use pdnsrep_records::features::CLASSES;
use pdnsrep_train::{Predictor, RunDir, predict_split};

use super::UsageError;
use super::train::BackendArg;

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Folder of a finished training run.
    #[arg(long)]
    pub run: String,
    /// The split to evaluate.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Evaluate on another feature dataset (same featurizer) under this root instead of the
    /// one the run was trained on; needs `--dataset`.
    #[arg(long, requires = "dataset")]
    pub features: Option<String>,
    /// A feature dataset to evaluate instead of the run's own (report under
    /// `eval/<dataset>-<split>/`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// The backend to compute on (`--features wgpu` or `cuda` builds add the GPU ones).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Exit with code 1 when the macro-F1 is below this value (between 0 and 1).
    #[arg(long, value_parser = unit_interval)]
    pub min_macro_f1: Option<f64>,
    /// Print the evaluation as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: EvalArgs) -> anyhow::Result<u8> {
    if !["train", "valid", "test"].contains(&args.split.as_str()) {
        return Err(UsageError(format!(
            "`--split` must be train, valid or test (labelled splits), not `{}`",
            args.split
        ))
        .into());
    }
    let run = RunDir::open(&args.run)?;
    let (predictor, config, info) = Predictor::load(&run, args.backend.into()).await?;
    let other = match (&args.features, &args.dataset) {
        (Some(root), Some(dataset)) => Some((Root::parse(root)?, dataset.clone())),
        (None, Some(dataset)) => Some((Root::parse(&info.features_root)?, dataset.clone())),
        _ => None,
    };
    let features = other.as_ref().map(|(r, d)| (r, d.as_str()));
    let predictions = predict_split(&predictor, &info, features, &args.split, 4096)
        .await
        .with_context(|| format!("predicting split `{}`", args.split))?;
    if predictions.labels.is_empty() {
        return Err(UsageError(format!("split `{}` has no labelled rows", args.split)).into());
    }
    let mut acc = Accumulator::new(&CLASSES, &DEFAULT_FPR_TARGETS)?;
    acc.push_rows(&predictions.labels, &predictions.probs)?;
    let evaluation = acc.finish()?;
    let model = match &config.model {
        pdnsrep_model::ModelConfig::Rule(_) => "rule".to_string(),
        pdnsrep_model::ModelConfig::Network(n) => format!(
            "network ({} hidden, chars {:?})",
            n.hidden.len(),
            n.chars.kind
        ),
    };
    let dataset = args.dataset.clone().unwrap_or_else(|| info.dataset.clone());
    let title = format!("{model} on `{dataset}` split `{}`", args.split);
    // The run's own test split goes to `eval/`; any other dataset or split to a folder of its
    // own, so one evaluation never overwrites another.
    let folder = if other.is_none() && args.split == "test" {
        "eval".to_string()
    } else {
        format!("eval/{}-{}", dataset.replace('/', "_"), args.split)
    };
    let mut record = serde_json::to_value(&evaluation)?;
    if let Some(object) = record.as_object_mut() {
        object.insert("dataset".into(), dataset.clone().into());
        object.insert("split".into(), args.split.clone().into());
    }
    let curves = training_curves(&run).await?;
    write_report(&run, &folder, &evaluation, &record, &acc, &title, &curves).await?;
    print_evaluation(&evaluation, &record, &title, args.json)?;
    match args.min_macro_f1 {
        Some(min) if evaluation.macro_f1 < min => {
            tracing::error!(
                "gate failed: macro-F1 {:.4} is below --min-macro-f1 {min}",
                evaluation.macro_f1
            );
            Ok(1)
        }
        _ => Ok(0),
    }
}

fn unit_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not a number between 0 and 1")),
    }
}

/// Loss and validation macro-F1 per epoch from the run's `metrics.jsonl`.
async fn training_curves(run: &RunDir) -> anyhow::Result<Vec<CurvePoint>> {
    let Some(bytes) = run.get("metrics.jsonl").await? else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8_lossy(&bytes);
    let points = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["kind"] == "epoch")
        .filter_map(|v| {
            let r = &v["report"];
            Some(CurvePoint {
                step: r["step"].as_u64()?,
                epoch: u32::try_from(r["epoch"].as_u64()?).ok()?,
                train_loss: r["train_loss"].as_f64()?,
                valid_macro_f1: r["valid_macro_f1"].as_f64(),
            })
        })
        .collect();
    Ok(points)
}

/// `report.md`, `eval.json` and the SVG figures, into `folder` of the run.
async fn write_report(
    run: &RunDir,
    folder: &str,
    evaluation: &Evaluation,
    record: &serde_json::Value,
    acc: &Accumulator,
    title: &str,
    curves: &[CurvePoint],
) -> anyhow::Result<()> {
    run.put(
        &format!("{folder}/report.md"),
        evaluation.to_markdown(title).into_bytes().into(),
    )
    .await?;
    run.put_json(&format!("{folder}/eval.json"), record).await?;
    let dir = tempfile::tempdir().context("creating a folder for the figures")?;
    let curves = (!curves.is_empty()).then_some(curves);
    for path in pdnsrep_eval::plot::write_plots(dir.path(), evaluation, curves, &acc.pr_curves())? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("figure.svg")
            .to_string();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        run.put(&format!("{folder}/{name}"), bytes.into()).await?;
    }
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "the evaluation is the command's output"
)]
fn print_evaluation(
    evaluation: &Evaluation,
    record: &serde_json::Value,
    title: &str,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(record)?);
    } else {
        print!("{}", evaluation.to_markdown(title));
    }
    Ok(())
}
