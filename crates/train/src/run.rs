//! The run folder on an object store, and its checkpoints.
//!
//! ```text
//! <run>/config.toml            the run config, as trained
//! <run>/run.json               inputs (features root, dataset, featurizer digest), shapes, status
//! <run>/metrics.jsonl          one line per logged step and per epoch
//! <run>/checkpoints/step-N/    model.bpk, optim.bpk, state.json
//! <run>/checkpoint.json        names the latest complete checkpoint; written last
//! <run>/best/model.bpk         weights of the best validation epoch so far
//! <run>/model/                 the final model: model.bpk or rule.json, config.toml, info.json
//! <run>/eval/                  reports of `pdnsrep eval`
//! ```
//!
//! A checkpoint becomes current only when `checkpoint.json` is replaced, in one put (atomic on
//! every object store), after all its files are written: a process killed in the middle leaves
//! the previous checkpoint current and some unreferenced files, which the next checkpoint
//! removes.

use std::collections::BTreeMap;

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};
use pdnsrep_model::InputShape;
use pdnsrep_records::Root;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::RunConfig;
use crate::error::{Error, Result};

pub(crate) const CHECKPOINT_FILE: &str = "checkpoint.json";
pub(crate) const RUN_FILE: &str = "run.json";
pub(crate) const CONFIG_FILE: &str = "config.toml";
pub(crate) const METRICS_FILE: &str = "metrics.jsonl";

/// Where a pass stands: the rows consumed in `epoch` are all a resume needs to replay the loader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: u64,
    /// Optimizer steps taken so far, over all epochs.
    pub step: u64,
    /// Rows of `epoch` already trained on.
    pub rows: u64,
}

/// Everything besides the weights and the optimizer that a resume restores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub cursor: Cursor,
    pub best_macro_f1: Option<f64>,
    pub best_epoch: Option<u64>,
    /// SHA-256 of `best/model.bpk`, checked before it becomes the final model.
    #[serde(default)]
    pub best_sha256: Option<String>,
    /// Epochs since the best one.
    pub stale_epochs: u64,
    pub finished: bool,
    /// Why training ended, once it has.
    pub stop_reason: Option<String>,
}

/// What `checkpoint.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointPointer {
    pub dir: String,
    pub step: u64,
    /// SHA-256 of each weight file of the checkpoint, checked when it is read back.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
}

/// The SHA-256 of some bytes, in hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a run was trained on and with, for evaluation and scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub features_root: String,
    pub dataset: String,
    pub featurizer_digest: String,
    pub input_shape: InputShape,
    pub classes: Vec<String>,
    pub class_weights: Vec<f64>,
    pub train_rows: u64,
    pub created_at: String,
    pub tool_version: String,
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: Root,
}

impl RunDir {
    pub fn open(url: &str) -> Result<RunDir> {
        Ok(RunDir {
            root: Root::parse(url)?,
        })
    }

    pub fn url(&self) -> &str {
        self.root.url()
    }

    pub async fn put(&self, relative: &str, bytes: Bytes) -> Result<()> {
        let path = self.root.path(relative);
        self.root
            .store()
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| Error::Store {
                location: self.root.display(relative),
                source: e,
            })?;
        Ok(())
    }

    /// The object's bytes, or `None` when it does not exist.
    pub async fn get(&self, relative: &str) -> Result<Option<Bytes>> {
        let path = self.root.path(relative);
        let store_err = |e| Error::Store {
            location: self.root.display(relative),
            source: e,
        };
        match self.root.store().get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(store_err)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    /// The object's bytes; a missing object is an error naming what it is for.
    pub async fn require(&self, relative: &str, what: &str) -> Result<Bytes> {
        self.get(relative).await?.ok_or_else(|| Error::Run {
            run: self.url().to_string(),
            reason: format!("no `{relative}` ({what})"),
        })
    }

    pub async fn put_json<T: Serialize>(&self, relative: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Encoding {
            action: "encode",
            location: self.root.display(relative),
            reason: e.to_string(),
        })?;
        self.put(relative, Bytes::from(bytes)).await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, relative: &str) -> Result<Option<T>> {
        let Some(bytes) = self.get(relative).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Encoding {
                action: "decode",
                location: self.root.display(relative),
                reason: e.to_string(),
            })
    }

    pub async fn config(&self) -> Result<RunConfig> {
        let bytes = self.require(CONFIG_FILE, "the run config").await?;
        let text = String::from_utf8_lossy(&bytes);
        RunConfig::from_toml(&text).map_err(|e| Error::Run {
            run: self.url().to_string(),
            reason: format!("`{CONFIG_FILE}`: {e}"),
        })
    }

    pub async fn info(&self) -> Result<RunInfo> {
        self.get_json(RUN_FILE).await?.ok_or_else(|| Error::Run {
            run: self.url().to_string(),
            reason: format!("no `{RUN_FILE}`: not a training run"),
        })
    }

    /// Removes every object under `prefix` except those under `keep`.
    pub async fn remove_except(&self, prefix: &str, keep: &str) -> Result<()> {
        use futures::TryStreamExt;
        let path = self.root.path(prefix);
        let keep = self.root.path(keep);
        let store_err = |e| Error::Store {
            location: self.root.display(prefix),
            source: e,
        };
        let listed: Vec<_> = self
            .root
            .store()
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(store_err)?;
        for meta in listed {
            if meta.location.prefix_match(&keep).is_none() {
                self.root
                    .store()
                    .delete(&meta.location)
                    .await
                    .map_err(store_err)?;
            }
        }
        Ok(())
    }
}

/// The files of one checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub model: Bytes,
    pub optimizer: Bytes,
    pub state: TrainState,
}

impl RunDir {
    /// Writes a checkpoint and makes it current; older checkpoints are removed afterwards.
    pub async fn write_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let dir = format!("checkpoints/step-{:010}", checkpoint.state.cursor.step);
        self.put(&format!("{dir}/model.bpk"), checkpoint.model.clone())
            .await?;
        self.put(&format!("{dir}/optim.bpk"), checkpoint.optimizer.clone())
            .await?;
        self.put_json(&format!("{dir}/state.json"), &checkpoint.state)
            .await?;
        let pointer = CheckpointPointer {
            dir: dir.clone(),
            step: checkpoint.state.cursor.step,
            sha256: BTreeMap::from([
                ("model.bpk".to_string(), sha256_hex(&checkpoint.model)),
                ("optim.bpk".to_string(), sha256_hex(&checkpoint.optimizer)),
            ]),
        };
        self.put_json(CHECKPOINT_FILE, &pointer).await?;
        self.remove_except("checkpoints", &dir).await
    }

    /// The current checkpoint, if any.
    pub async fn read_checkpoint(&self) -> Result<Option<Checkpoint>> {
        let Some(pointer) = self.get_json::<CheckpointPointer>(CHECKPOINT_FILE).await? else {
            return Ok(None);
        };
        let dir = &pointer.dir;
        let model = self
            .require(&format!("{dir}/model.bpk"), "checkpoint weights")
            .await?;
        let optimizer = self
            .require(&format!("{dir}/optim.bpk"), "checkpoint optimizer state")
            .await?;
        for (name, bytes) in [("model.bpk", &model), ("optim.bpk", &optimizer)] {
            let expected = pointer.sha256.get(name).map(String::as_str);
            self.verify(&format!("{dir}/{name}"), bytes, expected)?;
        }
        let state = self
            .get_json::<TrainState>(&format!("{dir}/state.json"))
            .await?
            .ok_or_else(|| Error::Run {
                run: self.url().to_string(),
                reason: format!("checkpoint `{dir}` has no state.json"),
            })?;
        Ok(Some(Checkpoint {
            model,
            optimizer,
            state,
        }))
    }
}

impl RunDir {
    /// Refuses `bytes` read from `relative` when they do not hash to `expected`.
    pub(crate) fn verify(
        &self,
        relative: &str,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<()> {
        let Some(expected) = expected else {
            return Err(Error::Run {
                run: self.url().to_string(),
                reason: format!("no SHA-256 is recorded for `{relative}`"),
            });
        };
        let actual = sha256_hex(bytes);
        if actual != expected {
            return Err(Error::Run {
                run: self.url().to_string(),
                reason: format!(
                    "`{relative}` is corrupt or was changed: it hashes to {actual}, {expected} was \
                     recorded"
                ),
            });
        }
        Ok(())
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
