//! `pdnsrep train` with `passes.count > 1`: the paper's multi-pass training.
//!
//! ```text
//! <run>/pass-1/                 a training run on the given features
//! <run>/pass-1/predictions/     its probabilities for every record
//! <run>/pass-2/features/        features with neighbour counts from those probabilities
//! <run>/pass-2/                 a training run on them, and so on
//! <run>/passes.json             per pass: where its features came from, its best validation F1
//! ```
//!
//! Every stage is skipped when its output is already committed, and a pass whose training was
//! cut off is resumed from its checkpoint, so `--resume` continues a killed multi-pass run.

use anyhow::Context as _;
use pdnsrep_features::{FeatureOptions, Neighbours, compute_features};
use pdnsrep_records::{Root, read_manifest};
use pdnsrep_train::{
    Backend, FeatureSource, Predictor, RunConfig, RunDir, TrainRequest, TrainSummary,
    write_predictions,
};
use serde::Serialize;

use super::UsageError;
use super::train::TrainProgress;

const PREDICTIONS: &str = "predictions";
const FEATURES: &str = "features";

/// One finished pass, as `passes.json` lists it.
#[derive(Debug, Serialize)]
struct PassRecord {
    pass: u32,
    run: String,
    features: String,
    best_valid_macro_f1: Option<f64>,
    steps: u64,
}

/// Trains `config.passes.count` passes into sub-folders of `run`.
pub(crate) async fn train_passes(
    features: Root,
    dataset: String,
    run: &str,
    config: Option<RunConfig>,
    resume: bool,
    backend: Backend,
    quiet: bool,
) -> anyhow::Result<TrainSummary> {
    let top = RunDir::open(run)?;
    let saved: Option<RunConfig> = top.get_json("passes-config.json").await?;
    let config = match (saved, config, resume) {
        (Some(_), _, false) => {
            return Err(UsageError(format!(
                "`{run}` already holds a multi-pass run; pass `--resume` to continue it"
            ))
            .into());
        }
        (Some(saved), Some(given), true) if saved != given => {
            return Err(UsageError(
                "the given config differs from the one the run was started with".into(),
            )
            .into());
        }
        (Some(saved), _, true) => saved,
        (None, Some(given), _) => given,
        (None, None, _) => {
            return Err(UsageError(format!("nothing to resume in `{run}`")).into());
        }
    };
    let first = FeatureSource::open(&features, &dataset).await?;
    let (labelled_root, labelled) = labelled_input(&first)?;
    // Saved once the inputs are known to be usable, so a failed start can simply be rerun.
    top.put_json("passes-config.json", &config).await?;
    let mut records = Vec::new();
    let mut last = None;
    for pass in 1..=config.passes.count {
        let dir = RunDir::open(&format!("{}/pass-{pass}", run.trim_end_matches('/')))?;
        let (root, name) = if pass == 1 {
            (features.clone(), dataset.clone())
        } else {
            let previous =
                RunDir::open(&format!("{}/pass-{}", run.trim_end_matches('/'), pass - 1))?;
            predict_once(&previous, backend).await?;
            features_once(&labelled_root, &labelled, &first, &previous, &dir, &config).await?;
            (dir.root.clone(), FEATURES.to_string())
        };
        let started = dir.get("config.toml").await?.is_some();
        let mut progress = TrainProgress::new(quiet);
        let summary = pdnsrep_train::train(
            TrainRequest {
                features: root.clone(),
                dataset: name.clone(),
                run: dir.clone(),
                config: Some(config.clone()),
                resume: started,
                backend,
                stop_after_steps: None,
            },
            &mut progress,
        )
        .await
        .with_context(|| format!("training pass {pass} into `{}`", dir.url()))?;
        progress.finish();
        tracing::info!(
            pass,
            best_valid_macro_f1 = ?summary.best_valid_macro_f1,
            "pass finished"
        );
        records.push(PassRecord {
            pass,
            run: dir.url().to_string(),
            features: root.display(&name),
            best_valid_macro_f1: summary.best_valid_macro_f1,
            steps: summary.steps,
        });
        top.put_json("passes.json", &records).await?;
        last = Some(summary);
    }
    last.context("no pass ran")
}

/// The labelled dataset a feature dataset was computed from: its root and name.
fn labelled_input(source: &FeatureSource) -> anyhow::Result<(Root, String)> {
    let dataset = source.spec.source_dataset.clone();
    let input = source
        .manifest
        .inputs
        .first()
        .context("the feature dataset does not name its labelled input")?;
    let root = input
        .path
        .strip_suffix(&format!("/{dataset}"))
        .with_context(|| format!("cannot tell the root of `{}`", input.path))?;
    Ok((Root::parse(root)?, dataset))
}

/// Writes `<pass>/predictions` unless it is already committed.
async fn predict_once(pass: &RunDir, backend: Backend) -> anyhow::Result<()> {
    if read_manifest(&pass.root, PREDICTIONS).await.is_ok() {
        return Ok(());
    }
    let (predictor, _, info) = Predictor::load(pass, backend).await?;
    let source = FeatureSource::open(&Root::parse(&info.features_root)?, &info.dataset).await?;
    let splits = ["train", "valid", "test", "unlabelled"];
    write_predictions(
        &predictor,
        pass,
        &info,
        &source,
        &splits,
        &pass.root,
        PREDICTIONS,
    )
    .await?;
    Ok(())
}

/// Writes `<pass>/features` from the labelled records and the previous pass's predictions,
/// with the first pass's feature settings, unless it is already committed.
async fn features_once(
    labelled_root: &Root,
    labelled: &str,
    first: &FeatureSource,
    previous: &RunDir,
    pass: &RunDir,
    config: &RunConfig,
) -> anyhow::Result<()> {
    if read_manifest(&pass.root, FEATURES).await.is_ok() {
        return Ok(());
    }
    let defaults = FeatureOptions::default();
    let settings = &first.spec.settings;
    let options = FeatureOptions {
        neighbours: Neighbours::Predictions {
            root: previous.root.clone(),
            dataset: PREDICTIONS.into(),
            threshold: config.passes.threshold,
        },
        min_count: settings["min_count"].as_u64().unwrap_or(defaults.min_count),
        max_vocab: settings["max_vocab"]
            .as_u64()
            .map_or(defaults.max_vocab, |v| v as usize),
        char_length: first.spec.chars.length,
        memory_limit: config
            .passes
            .feature_memory_mib
            .map(|mib| (mib as usize).saturating_mul(1 << 20)),
        ..defaults
    };
    compute_features(labelled_root, labelled, &pass.root, FEATURES, &options).await?;
    Ok(())
}
