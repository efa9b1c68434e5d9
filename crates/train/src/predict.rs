//! Applying a trained model: load it from a run, predict batches, evaluate a split.

use burn::module::Module;
use pdnsrep_model::{Backend, Device, ModelConfig, ReputationNet, Rule};
use pdnsrep_records::Root;
use pdnsrep_records::features::CLASSES;

use crate::config::RunConfig;
use crate::data::{Batch, FeatureSource, Widths};
use crate::error::{Error, Result};
use crate::loader::{BatchStream, StreamOptions};
use crate::run::{RunDir, RunInfo};

/// A model ready to predict.
#[derive(Debug)]
pub enum Predictor {
    Rule(Rule),
    Network { net: ReputationNet, device: Device },
}

impl Predictor {
    /// The final model of a run, on `backend`.
    pub async fn load(run: &RunDir, backend: Backend) -> Result<(Predictor, RunConfig, RunInfo)> {
        let config = run.config().await?;
        let info = run.info().await?;
        let predictor = match &config.model {
            ModelConfig::Rule(_) => {
                let rule = run
                    .get_json::<Rule>("model/rule.json")
                    .await?
                    .ok_or_else(|| unfinished(run))?;
                Predictor::Rule(rule)
            }
            ModelConfig::Network(net) => {
                let bytes = run
                    .get("model/model.bpk")
                    .await?
                    .ok_or_else(|| unfinished(run))?;
                let model_info: serde_json::Value =
                    run.get_json("model/info.json").await?.unwrap_or_default();
                run.verify(
                    "model/model.bpk",
                    &bytes,
                    model_info["sha256"]["model.bpk"].as_str(),
                )?;
                let device = backend.device()?;
                let net = pdnsrep_model::load_network(net, &info.input_shape, &device, bytes)?;
                Predictor::Network {
                    net: net.valid(),
                    device,
                }
            }
        };
        Ok((predictor, config, info))
    }

    /// Class probabilities, `rows × classes` row-major; the rule gives one-hot rows.
    pub fn predict(&self, batch: &Batch) -> Result<Vec<f32>> {
        match self {
            Predictor::Rule(rule) => {
                let mut out = vec![0.0; batch.rows() * CLASSES.len()];
                for (i, &q) in batch.domain_queries.iter().enumerate() {
                    out[i * CLASSES.len() + rule.predict(q) as usize] = 1.0;
                }
                Ok(out)
            }
            Predictor::Network { net, device } => Ok(net.predict_proba(&batch.inputs, device)?),
        }
    }
}

fn unfinished(run: &RunDir) -> Error {
    Error::Run {
        run: run.url().to_string(),
        reason: "has no final model yet (training unfinished? resume it with `--resume`)".into(),
    }
}

/// The labels and predicted probabilities of every labelled row of a split, in stored order.
#[derive(Debug, Clone, Default)]
pub struct SplitPredictions {
    pub labels: Vec<u8>,
    /// `rows × classes`.
    pub probs: Vec<f32>,
}

/// Predicts every labelled row of `split` of the run's feature dataset (or of `features`
/// and `dataset` when given).
pub async fn predict_split(
    predictor: &Predictor,
    info: &RunInfo,
    features: Option<(&Root, &str)>,
    split: &str,
    batch_size: usize,
) -> Result<SplitPredictions> {
    let source = match features {
        Some((root, dataset)) => FeatureSource::open(root, dataset).await?,
        None => FeatureSource::open(&Root::parse(&info.features_root)?, &info.dataset).await?,
    };
    if source.spec.digest != info.featurizer_digest {
        return Err(Error::Input(format!(
            "the features of `{}` were computed by featurizer {}, the model was trained on {}",
            source.manifest.dataset, source.spec.digest, info.featurizer_digest
        )));
    }
    let units = source.units(split).await?;
    let stream = BatchStream::start(
        source.root.store().clone(),
        units,
        Widths::of(&source.spec),
        StreamOptions {
            batch_size,
            ..StreamOptions::default()
        },
    );
    let mut out = SplitPredictions::default();
    for batch in stream {
        let batch = batch?;
        out.probs.extend(predictor.predict(&batch)?);
        out.labels.extend_from_slice(&batch.labels);
    }
    Ok(out)
}
