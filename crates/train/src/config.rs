//! The run config: one TOML file with a `[model]` and a `[train]` table, saved into every run.

use std::path::Path;

use pdnsrep_model::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything a training run is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub passes: PassConfig,
}

/// Multi-pass training (the paper's second pass): after pass k, the model predicts every
/// record, neighbour features are recomputed from those probabilities, and pass k+1 trains
/// from scratch on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassConfig {
    /// Passes in all; 1 trains once on the given features.
    pub count: u32,
    /// Hard neighbour votes: a class counts when its probability reaches this; soft counts
    /// (summed probabilities) when absent.
    pub threshold: Option<f64>,
    /// The query engine's memory pool (MiB) for recomputing features between passes; past it,
    /// the engine spills. Unlimited when absent, which large datasets cannot afford.
    pub feature_memory_mib: Option<u64>,
    /// Pass k+1 starts from pass k's final weights instead of a fresh initialization.
    pub warm_start: bool,
    /// Stop before pass k+1 (k ≥ 2) when less than this share of all records changed their
    /// most probable class from pass k−1 to pass k: the predictions have settled.
    pub min_change: Option<f64>,
}

impl Default for PassConfig {
    fn default() -> Self {
        PassConfig {
            count: 1,
            threshold: None,
            feature_memory_mib: None,
            warm_start: false,
            min_change: None,
        }
    }
}

/// The optimizer, schedule, stopping and checkpoint settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub seed: u64,
    pub batch_size: usize,
    pub epochs: u64,
    /// Stop after this many optimizer steps in all, whatever the epoch.
    pub max_steps: Option<u64>,
    pub learning_rate: f64,
    /// Decoupled weight decay; above zero, AdamW replaces Adam.
    pub weight_decay: f64,
    pub warmup_steps: u64,
    pub schedule: Schedule,
    /// The cosine schedule ends at this fraction of the peak rate.
    pub min_lr_fraction: f64,
    pub class_weights: ClassWeights,
    /// Epochs without a better validation macro-F1 before stopping; 0 never stops early.
    pub patience: u64,
    /// Steps between checkpoints (one is also written at the end of every epoch).
    pub checkpoint_every: u64,
    /// Steps between lines of `metrics.jsonl`.
    pub log_every: u64,
    /// Rows in the shuffle buffer.
    pub shuffle_buffer: usize,
    /// Decoder threads of the loader.
    pub workers: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 0,
            batch_size: 512,
            epochs: 10,
            max_steps: None,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            warmup_steps: 100,
            schedule: Schedule::Cosine,
            min_lr_fraction: 0.05,
            class_weights: ClassWeights::Balanced,
            patience: 3,
            checkpoint_every: 1000,
            log_every: 50,
            shuffle_buffer: 65_536,
            workers: 2,
        }
    }
}

/// The learning-rate schedule after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    Cosine,
}

/// How classes are weighted in the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeights {
    /// Every class weighs 1.
    None,
    /// `n / (k · n_c)` from the training label counts (sklearn's "balanced"), so rare classes
    /// such as sinkholes are not drowned out.
    Balanced,
    /// One weight per class, in class order.
    Explicit(Vec<f64>),
}

impl RunConfig {
    /// Reads and checks a TOML config file.
    pub fn from_path(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::Config { reason, .. } => Error::Config {
                path: Some(path.display().to_string()),
                reason,
            },
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<RunConfig> {
        let config: RunConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: None,
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::Config { path: None, reason };
        if let ModelConfig::Network(net) = &self.model {
            net.validate().map_err(bad)?;
        }
        let t = &self.train;
        if t.batch_size == 0 || t.epochs == 0 {
            return Err(bad("`batch_size` and `epochs` must be positive".into()));
        }
        let positive_lr = t.learning_rate.is_finite() && t.learning_rate > 0.0;
        if !positive_lr || t.weight_decay.is_nan() || t.weight_decay < 0.0 {
            return Err(bad(format!(
                "`learning_rate` must be positive and `weight_decay` ≥ 0, not {} and {}",
                t.learning_rate, t.weight_decay
            )));
        }
        if t.checkpoint_every == 0 || t.log_every == 0 {
            return Err(bad(
                "`checkpoint_every` and `log_every` must be positive".into()
            ));
        }
        let p = &self.passes;
        if !(1..=8).contains(&p.count) {
            return Err(bad(format!(
                "`passes.count` must be 1 to 8, not {}",
                p.count
            )));
        }
        if p.threshold.is_some_and(|t| !(t > 0.0 && t <= 1.0)) {
            return Err(bad("`passes.threshold` must be in (0, 1]".into()));
        }
        if p.min_change.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            return Err(bad("`passes.min_change` must be in [0, 1]".into()));
        }
        if p.feature_memory_mib.is_some_and(|m| m < 64) {
            return Err(bad("`passes.feature_memory_mib` must be at least 64".into()));
        }
        if p.count > 1 && matches!(self.model, ModelConfig::Rule(_)) {
            return Err(bad(
                "the rule has no probabilities to feed a second pass".into()
            ));
        }
        if let ClassWeights::Explicit(w) = &t.class_weights
            && (w.len() != pdnsrep_records::features::CLASSES.len() || w.iter().any(|x| *x < 0.0))
        {
            return Err(bad(
                "`class_weights` needs one non-negative weight per class".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/models");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                RunConfig::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 7, "only {seen} configs in {}", dir.display());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = RunConfig::from_toml("[model]\nkind = \"network\"\nhiden = [3]\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `hiden`"), "{err}");
        let err = RunConfig::from_toml("[model]\nkind = \"network\"\ndropout = 1.5\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid run config: `dropout` must be in [0, 1), got 1.5"
        );
    }
}
