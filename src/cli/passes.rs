//! `pdnsrep train` with `passes.count > 1`: the paper's multi-pass training.
//!
//! ```text
//! <run>/pass-1/                 a training run on the given features
//! <run>/pass-1/predictions/     its probabilities for every record
//! <run>/pass-2/features/        features with neighbour counts from those probabilities
//! <run>/pass-2/                 a training run on them, and so on
//! <run>/passes.json             per pass: where its features came from, its best validation
//!                               F1, the share of records whose predicted class it changed
//! ```
//!
//! `passes.warm_start` starts each later pass from the previous one's weights;
//! `passes.min_change` ends the run early once a pass changes the predicted class of fewer
//! records than that share.
//!
//! Every stage is skipped when its output is already committed, and a pass whose training was
//! cut off is resumed from its checkpoint, so `--resume` continues a killed multi-pass run.

use anyhow::Context as _;
use pdnsrep_records::Root;
use pdnsrep_sweep::passes::{FEATURES, NextPass, features_once, predict_once, prediction_change};
use pdnsrep_train::{Backend, FeatureSource, RunConfig, RunDir, TrainRequest, TrainSummary};
use serde::Serialize;

use super::UsageError;
use super::train::TrainProgress;

/// One finished pass, as `passes.json` lists it.
#[derive(Debug, Serialize)]
struct PassRecord {
    pass: u32,
    run: String,
    features: String,
    best_valid_macro_f1: Option<f64>,
    steps: u64,
    /// Share of all records whose most probable class differs from the previous pass's,
    /// known once a later pass needed this pass's predictions.
    changed_share: Option<f64>,
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
    if run.starts_with("memory:") {
        return Err(UsageError(
            "a multi-pass run reopens its passes by URL, which a `memory://` store does not \
             survive; use a folder or a bucket"
                .into(),
        )
        .into());
    }
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
    pdnsrep_sweep::passes::labelled_input(&first)?;
    // Saved once the inputs are known to be usable, so a failed start can simply be rerun.
    top.put_json("passes-config.json", &config).await?;
    let mut records: Vec<PassRecord> = Vec::new();
    let mut last = None;
    let pass_dir = |pass: u32| RunDir::open(&format!("{}/pass-{pass}", run.trim_end_matches('/')));
    for pass in 1..=config.passes.count {
        if pass > 1 {
            let previous = pass_dir(pass - 1)?;
            predict_once(&previous, backend).await?;
            if pass > 2 {
                let change = prediction_change(&pass_dir(pass - 2)?, &previous).await?;
                if let Some(record) = records.last_mut() {
                    record.changed_share = Some(change.share());
                }
                top.put_json("passes.json", &records).await?;
                if config
                    .passes
                    .min_change
                    .is_some_and(|min| change.share() < min)
                {
                    tracing::info!(
                        pass = pass - 1,
                        changed = format!("{:.4}", change.share()),
                        "predictions settled; no pass {pass}"
                    );
                    break;
                }
            }
        }
        let dir = pass_dir(pass)?;
        let (root, name, warm_start) = if pass == 1 {
            (features.clone(), dataset.clone(), None)
        } else {
            let previous = pass_dir(pass - 1)?;
            let how = NextPass {
                threshold: config.passes.threshold,
                feature_memory_mib: config.passes.feature_memory_mib,
            };
            features_once(&first, &previous, &dir, how).await?;
            let warm = config.passes.warm_start.then_some(previous);
            (dir.root.clone(), FEATURES.to_string(), warm)
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
                warm_start,
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
            changed_share: None,
        });
        top.put_json("passes.json", &records).await?;
        last = Some(summary);
    }
    last.context("no pass ran")
}
