//! Where a model's training data came from: the feature dataset, the labelled records behind
//! it, and, for a later pass, the chain of earlier passes whose predictions fed its neighbour
//! features.

use object_store::ObjectStoreExt as _;
use pdnsrep_records::features::NeighbourSource;
use pdnsrep_records::{MANIFEST_FILE, Root, read_manifest};
use pdnsrep_train::{FeatureSource, RunDir};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The data a model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The feature dataset's location, manifest run id, row count, and the SHA-256 of its
    /// manifest (which holds the SHA-256 of every part): the exact shards.
    pub features: String,
    pub features_run_id: String,
    pub features_rows: u64,
    pub features_manifest_sha256: String,
    pub featurizer_digest: String,
    /// The labelled dataset the features were computed from, and its run id.
    pub labelled: String,
    pub labelled_run_id: String,
    /// Earlier passes, nearest first: empty for a first pass.
    pub passes: Vec<PassLink>,
}

/// One earlier pass: its predictions fed the neighbour counts of the features after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassLink {
    pub predictions: String,
    pub predictions_run_id: String,
    /// Hard votes at this probability; soft counts when absent.
    pub threshold: Option<f64>,
    /// The training run that made the predictions, and the features it was trained on.
    pub model_run: String,
    pub model_features: String,
}

/// Passes followed at most, against cycles in hand-edited manifests.
const MAX_PASSES: usize = 16;

impl Lineage {
    /// Follows the chain from a run's feature dataset back to features computed from labels.
    pub async fn trace(features_root: &Root, dataset: &str) -> Result<Lineage> {
        let source = FeatureSource::open(features_root, dataset).await?;
        let manifest_path =
            features_root.path(&format!("{}/{MANIFEST_FILE}", source.manifest.dataset));
        let manifest_bytes = features_root
            .store()
            .get(&manifest_path)
            .await
            .map_err(|e| Error::Store {
                location: features_root.display(&format!("{dataset}/{MANIFEST_FILE}")),
                source: e,
            })?
            .bytes()
            .await
            .map_err(|e| Error::Store {
                location: features_root.display(&format!("{dataset}/{MANIFEST_FILE}")),
                source: e,
            })?;
        let labelled = source
            .manifest
            .inputs
            .first()
            .map(|i| i.path.clone())
            .unwrap_or_default();
        let mut lineage = Lineage {
            features: features_root.display(dataset),
            features_run_id: source.manifest.run_id.clone(),
            features_rows: source.manifest.rows,
            features_manifest_sha256: hex::encode(Sha256::digest(&manifest_bytes)),
            featurizer_digest: source.spec.digest.clone(),
            labelled,
            labelled_run_id: source.spec.source_run_id.clone(),
            passes: Vec::new(),
        };
        let mut current = source;
        while let NeighbourSource::Predictions {
            dataset,
            run_id,
            threshold,
        } = current.spec.neighbours.clone()
        {
            if lineage.passes.len() >= MAX_PASSES {
                break;
            }
            let location = current.manifest.stats["neighbours"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let broken = |reason: String| Error::Source {
                run: lineage.features.clone(),
                reason: format!("its pass lineage is broken: {reason}"),
            };
            let root = location
                .strip_suffix(&format!("/{dataset}"))
                .ok_or_else(|| broken(format!("cannot locate predictions `{dataset}`")))?;
            let root = Root::parse(root)?;
            let predictions = read_manifest(&root, &dataset).await?;
            if predictions.run_id != run_id {
                return Err(broken(format!(
                    "`{location}` was rewritten since the features were computed (run {} now, {run_id} then)",
                    predictions.run_id
                )));
            }
            let model_run = predictions
                .inputs
                .get(1)
                .map(|i| i.path.clone())
                .ok_or_else(|| broken(format!("`{location}` does not name its model run")))?;
            let run = RunDir::open(&model_run)?;
            let info = run.info().await?;
            let model_root = Root::parse(&info.features_root)?;
            lineage.passes.push(PassLink {
                predictions: location,
                predictions_run_id: run_id,
                threshold,
                model_run,
                model_features: model_root.display(&info.dataset),
            });
            current = FeatureSource::open(&model_root, &info.dataset).await?;
        }
        Ok(lineage)
    }
}
