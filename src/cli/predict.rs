//! `pdnsrep predict`.

use clap::Args;
use pdnsrep_records::Root;
use pdnsrep_train::{FeatureSource, Predictor, RunDir, write_predictions};

use super::UsageError;
use super::train::BackendArg;

const SPLITS: [&str; 4] = ["train", "valid", "test", "unlabelled"];

#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// Folder of a finished training run.
    #[arg(long)]
    pub run: String,
    /// Storage root of the predictions dataset (default: the run's feature root).
    #[arg(long)]
    pub out: Option<String>,
    /// Name of the predictions dataset, for example `predictions/<name>`.
    #[arg(long)]
    pub out_dataset: String,
    /// Predict another feature dataset (same featurizer) under this root instead of the one
    /// the run was trained on; needs `--dataset`.
    #[arg(long, requires = "dataset")]
    pub features: Option<String>,
    /// A feature dataset to predict instead of the run's own.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Splits to predict (default: all four, unlabelled records included).
    #[arg(long, value_delimiter = ',')]
    pub splits: Vec<String>,
    /// The backend to compute on (`--features wgpu` or `cuda` builds add the GPU ones).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
pub(crate) async fn run(args: PredictArgs) -> anyhow::Result<u8> {
    let splits: Vec<&str> = if args.splits.is_empty() {
        SPLITS.to_vec()
    } else {
        args.splits.iter().map(String::as_str).collect()
    };
    if let Some(bad) = splits.iter().find(|s| !SPLITS.contains(s)) {
        return Err(UsageError(format!(
            "`--splits`: `{bad}` is not one of {}",
            SPLITS.join(", ")
        ))
        .into());
    }
    let run = RunDir::open(&args.run)?;
    let (predictor, _, info) = Predictor::load(&run, args.backend.into()).await?;
    let features_root = Root::parse(args.features.as_deref().unwrap_or(&info.features_root))?;
    let dataset = args.dataset.as_deref().unwrap_or(&info.dataset);
    let source = FeatureSource::open(&features_root, dataset).await?;
    let out = match &args.out {
        Some(out) => Root::parse(out)?,
        None => features_root.clone(),
    };
    let summary = write_predictions(
        &predictor,
        &run,
        &info,
        &source,
        &splits,
        &out,
        &args.out_dataset,
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(0);
    }
    println!("predictions:  {}", summary.output);
    for (split, rows) in &summary.rows_by_split {
        println!("  {split}: {rows} rows");
    }
    let predicted: Vec<String> = summary
        .predicted
        .iter()
        .map(|(class, n)| format!("{class} {n}"))
        .collect();
    println!("most probable class: {}", predicted.join(", "));
    println!("{} parts in {:.1} s", summary.parts, summary.seconds);
    Ok(0)
}
