//! The stages between two passes, shared by `pdnsrep train` (a chain of passes) and sweeps (a
//! tree of them): the previous pass predicts every record, then the features are recomputed
//! with neighbour counts from those probabilities. Each stage is skipped when its output is
//! already committed, so a killed run repeats none of them.

use std::collections::HashMap;

use arrow::array::AsArray as _;
use arrow::datatypes::{Float32Type, UInt16Type};
use pdnsrep_features::{FeatureOptions, Neighbours, compute_features};
use pdnsrep_records::features::CLASSES;
use pdnsrep_records::{Manifest, PartEntry, Root, read_manifest, read_part};
use pdnsrep_train::{
    Backend, Error as TrainError, FeatureSource, Predictor, RunDir, write_predictions,
};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The dataset of a pass's probabilities, inside its run folder.
pub const PREDICTIONS: &str = "predictions";
/// The dataset of a later pass's features, inside its run folder.
pub const FEATURES: &str = "features";

/// How features are recomputed for a later pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NextPass {
    /// Hard votes at this probability; soft counts when absent.
    pub threshold: Option<f64>,
    /// The query engine's memory pool in MiB; unlimited when absent.
    pub feature_memory_mib: Option<u64>,
}

/// The labelled dataset a feature dataset was computed from: its root and name.
pub fn labelled_input(source: &FeatureSource) -> Result<(Root, String)> {
    let dataset = source.spec.source_dataset.clone();
    let input = source.manifest.inputs.first().ok_or_else(|| {
        TrainError::Input("the feature dataset does not name its labelled input".into())
    })?;
    let root = input
        .path
        .strip_suffix(&format!("/{dataset}"))
        .ok_or_else(|| TrainError::Input(format!("cannot tell the root of `{}`", input.path)))?;
    Ok((Root::parse(root)?, dataset))
}

/// Writes `<pass>/predictions` for every split unless it is already committed.
pub async fn predict_once(pass: &RunDir, backend: Backend) -> Result<()> {
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

/// Writes `<next>/features` from the labelled records behind `first` (the first pass's
/// features, whose settings it reuses) and the predictions of `previous`, unless it is
/// already committed.
pub async fn features_once(
    first: &FeatureSource,
    previous: &RunDir,
    next: &RunDir,
    how: NextPass,
) -> Result<()> {
    if read_manifest(&next.root, FEATURES).await.is_ok() {
        return Ok(());
    }
    let (labelled_root, labelled) = labelled_input(first)?;
    let defaults = FeatureOptions::default();
    let settings = &first.spec.settings;
    let options = FeatureOptions {
        neighbours: Neighbours::Predictions {
            root: previous.root.clone(),
            dataset: PREDICTIONS.into(),
            threshold: how.threshold,
        },
        min_count: settings["min_count"].as_u64().unwrap_or(defaults.min_count),
        max_vocab: settings["max_vocab"]
            .as_u64()
            .map_or(defaults.max_vocab, |v| v as usize),
        char_length: first.spec.chars.length,
        memory_limit: how
            .feature_memory_mib
            .map(|mib| (mib as usize).saturating_mul(1 << 20)),
        ..defaults
    };
    compute_features(&labelled_root, &labelled, &next.root, FEATURES, &options).await?;
    Ok(())
}

/// How much the predicted classes moved from one pass to the next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Records compared: every record of every split.
    pub rows: u64,
    /// Records whose most probable class differs.
    pub changed: u64,
}

impl Change {
    pub fn share(&self) -> f64 {
        self.changed as f64 / self.rows.max(1) as f64
    }
}

/// Compares the predictions of two passes record by record. Both come from feature datasets
/// of the same labelled records, so their parts and rows line up; a key that does not is an
/// error rather than a silent mismatch.
pub async fn prediction_change(previous: &RunDir, next: &RunDir) -> Result<Change> {
    let a = read_manifest(&previous.root, PREDICTIONS).await?;
    let b = read_manifest(&next.root, PREDICTIONS).await?;
    let misaligned = |reason: String| {
        TrainError::Input(format!(
            "predictions of `{}` and `{}` do not line up: {reason}",
            previous.url(),
            next.url()
        ))
    };
    if a.parts.len() != b.parts.len() || a.rows != b.rows {
        return Err(misaligned(format!(
            "{} rows in {} parts against {} rows in {} parts",
            a.rows,
            a.parts.len(),
            b.rows,
            b.parts.len()
        ))
        .into());
    }
    let mut change = Change {
        rows: 0,
        changed: 0,
    };
    for (pa, pb) in a.parts.iter().zip(&b.parts) {
        let ra = PartRows::read(&previous.root, &a, pa).await?;
        let rb = PartRows::read(&next.root, &b, pb).await?;
        if ra.keys != rb.keys {
            return Err(misaligned(format!("part `{}` holds other records", pa.path)).into());
        }
        change.rows += ra.classes.len() as u64;
        let changed = ra.classes.iter().zip(&rb.classes).filter(|(x, y)| x != y);
        change.changed += changed.count() as u64;
    }
    Ok(change)
}

/// One part of a predictions dataset: record keys and most probable classes.
struct PartRows {
    keys: Vec<(String, u16, String)>,
    classes: Vec<u8>,
    unlabelled: Vec<bool>,
}

impl PartRows {
    async fn read(root: &Root, manifest: &Manifest, part: &PartEntry) -> Result<PartRows> {
        let mut rows = PartRows {
            keys: Vec::new(),
            classes: Vec::new(),
            unlabelled: Vec::new(),
        };
        let bad = |what: &str| {
            TrainError::Input(format!(
                "predictions part `{}`: no usable `{what}` column",
                part.path
            ))
        };
        for batch in read_part(root, manifest, part).await? {
            let column = |name: &str| batch.column_by_name(name).ok_or_else(|| bad(name));
            let name = column("name")?
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("name"))?;
            let rrtype = column("rrtype")?
                .as_primitive_opt::<UInt16Type>()
                .ok_or_else(|| bad("rrtype"))?;
            let rdata = column("rdata")?
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("rdata"))?;
            let split = column("split")?
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("split"))?;
            let probs: Vec<_> = CLASSES
                .iter()
                .map(|c| {
                    let name = format!("p_{c}");
                    column(&name)?
                        .as_primitive_opt::<Float32Type>()
                        .ok_or_else(|| bad(&name))
                })
                .collect::<std::result::Result<_, _>>()?;
            for i in 0..batch.num_rows() {
                rows.keys
                    .push((name.value(i).into(), rrtype.value(i), rdata.value(i).into()));
                let mut best = 0;
                for (c, p) in probs.iter().enumerate() {
                    if p.value(i) > probs[best].value(i) {
                        best = c;
                    }
                }
                rows.classes.push(best as u8);
                rows.unlabelled.push(split.value(i) == "unlabelled");
            }
        }
        Ok(rows)
    }
}

/// The truth class of every record of a synthetic world's `truth/<name>` dataset, by key, as
/// an index into the classes. Held in memory: synthetic worlds are test-sized.
pub async fn read_truth(root: &Root, dataset: &str) -> Result<HashMap<(String, u16, String), u8>> {
    let manifest = read_manifest(root, dataset).await?;
    let bad = |what: &str| {
        TrainError::Input(format!(
            "truth dataset `{dataset}`: no usable `{what}` column"
        ))
    };
    let mut truth = HashMap::new();
    for part in &manifest.parts {
        for batch in read_part(root, &manifest, part).await? {
            let column = |name: &str| batch.column_by_name(name).ok_or_else(|| bad(name));
            let name = column("name")?
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("name"))?;
            let rrtype = column("rrtype")?
                .as_primitive_opt::<UInt16Type>()
                .ok_or_else(|| bad("rrtype"))?;
            let rdata = column("rdata")?
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("rdata"))?;
            let class = column("class")?
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("class"))?;
            for i in 0..batch.num_rows() {
                let Some(c) = CLASSES.iter().position(|c| *c == class.value(i)) else {
                    return Err(TrainError::Input(format!(
                        "truth dataset `{dataset}`: unknown class `{}`",
                        class.value(i)
                    ))
                    .into());
                };
                let key = (
                    name.value(i).to_string(),
                    rrtype.value(i),
                    rdata.value(i).to_string(),
                );
                truth.insert(key, c as u8);
            }
        }
    }
    Ok(truth)
}

/// The confusion (`[true][predicted]`) of the unlabelled records in a pass's predictions
/// against the truth, and how many of them the truth lacks.
pub async fn unlisted_confusion(
    pass: &RunDir,
    truth: &HashMap<(String, u16, String), u8>,
) -> Result<(Vec<Vec<u64>>, u64)> {
    let manifest = read_manifest(&pass.root, PREDICTIONS).await?;
    let mut confusion = vec![vec![0u64; CLASSES.len()]; CLASSES.len()];
    let mut missing = 0;
    for part in &manifest.parts {
        let rows = PartRows::read(&pass.root, &manifest, part).await?;
        let unlabelled = rows.unlabelled.iter();
        for ((key, predicted), unlabelled) in rows.keys.iter().zip(&rows.classes).zip(unlabelled) {
            if !unlabelled {
                continue;
            }
            match truth.get(key) {
                Some(&t) => confusion[t as usize][*predicted as usize] += 1,
                None => missing += 1,
            }
        }
    }
    Ok((confusion, missing))
}
