//! Publishing, listing, verifying and promoting versions.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt as _;
use object_store::{ObjectStoreExt as _, PutMode, PutOptions, PutPayload};
use pdnsrep_eval::{Accumulator, DEFAULT_FPR_TARGETS, Evaluation};
use pdnsrep_model::{Backend, Inputs};
use pdnsrep_records::Root;
use pdnsrep_records::features::{CLASSES, FeaturizerSpec};
use pdnsrep_train::{
    Batch, BatchStream, FeatureSource, Predictor, RunConfig, RunDir, RunInfo, StreamOptions,
    Widths, predict_split,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::lineage::Lineage;

const ARTIFACT: &str = "artifact.json";
const CLAIM: &str = "_claim.json";
const FORMAT_VERSION: u32 = 1;
/// The largest difference from the golden probabilities a load accepts: float kernels differ
/// between backends in the last bits, a changed model or featurizer by far more.
pub const GOLDEN_TOLERANCE: f32 = 1e-4;

/// A registry under a storage root.
#[derive(Debug, Clone)]
pub struct Registry {
    root: Root,
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// `artifact.json`: what a version is and the hash of every file in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub format_version: u32,
    pub model: String,
    pub version: u32,
    pub created_at: String,
    pub tool_version: String,
    /// The git commit the publishing binary was built from, when it was built from a checkout.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// The run it was published from, and a free-form note of where that run came from (a
    /// sweep's trial, for example).
    pub source_run: String,
    pub source_note: Option<String>,
    /// `rule` or a network summary, for listings.
    pub kind: String,
    pub test_macro_f1: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub files: Vec<FileEntry>,
}

/// `golden.json`: a few rows of features and the probabilities the model gave them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Golden {
    pub rows: usize,
    pub numeric: Vec<f32>,
    pub categorical: Vec<i32>,
    pub chars: Vec<u8>,
    pub domain_queries: Vec<u64>,
    /// `rows × classes`.
    pub expected: Vec<f32>,
    pub tolerance: f32,
    /// The backend that computed `expected`.
    pub backend: String,
}

/// An alias and the version it points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    pub alias: String,
    pub version: u32,
    pub promoted_at: String,
    /// The version it pointed at before, if any.
    pub previous: Option<u32>,
}

/// `model@v3`, `model@production` or `model` (the latest version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub model: String,
    pub at: At,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Latest,
    Version(u32),
    Alias(String),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference> {
        let (model, at) = match text.split_once('@') {
            None => (text, At::Latest),
            Some((model, v)) => {
                let at = match v.strip_prefix('v').map(str::parse::<u32>) {
                    Some(Ok(n)) => At::Version(n),
                    _ => {
                        check_name(v, "alias")?;
                        At::Alias(v.to_string())
                    }
                };
                (model, at)
            }
        };
        check_name(model, "model")?;
        Ok(Reference {
            model: model.to_string(),
            at,
        })
    }
}

/// Model and alias names: lowercase letters, digits, `-`, `_` and `.`, starting with a letter
/// or digit, at most 64 characters; a version-like alias (`v3`) is refused.
pub fn check_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    let version_like = what == "alias"
        && name
            .strip_prefix('v')
            .is_some_and(|n| n.parse::<u32>().is_ok());
    if !ok || version_like || name == "aliases" {
        return Err(Error::Usage(format!(
            "`{name}` is not a valid {what} name (lowercase letters, digits, `-`, `_`, `.`; \
             not `aliases` or `v<N>`)"
        )));
    }
    Ok(())
}

/// What `publish` did.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub model: String,
    pub version: u32,
    pub location: String,
    pub files: usize,
    pub bytes: u64,
    /// Version numbers found taken by another publisher while claiming one.
    pub lost_races: u32,
}

/// One line of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRow {
    pub model: String,
    pub version: u32,
    /// `published`, or `incomplete` for a claimed number whose publish never finished.
    pub state: String,
    pub created_at: Option<String>,
    pub kind: Option<String>,
    pub test_macro_f1: Option<f64>,
    pub aliases: Vec<String>,
}

/// What `verify` checked.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub model: String,
    pub version: u32,
    pub files: usize,
    pub golden_rows: usize,
    pub golden_max_diff: f32,
    pub backend: String,
}

/// A verified version, ready to predict.
#[derive(Debug)]
pub struct Loaded {
    pub artifact: Artifact,
    pub predictor: Predictor,
    pub config: RunConfig,
    pub info: RunInfo,
    pub featurizer: FeaturizerSpec,
    pub verified: Verified,
}

impl Loaded {
    /// True when the model's neighbour features come from training labels, so any dataset its
    /// featurizer encodes can be scored; false for a later pass, whose neighbour features come
    /// from an earlier pass's predictions.
    pub fn featurizer_is_first_pass(&self) -> bool {
        matches!(
            self.featurizer.neighbours,
            pdnsrep_records::features::NeighbourSource::Labels
        )
    }
}

/// The evaluations a version carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluations {
    pub valid: Option<Evaluation>,
    pub test: Option<Evaluation>,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Registry {
    pub fn open(url: &str) -> Result<Registry> {
        Ok(Registry {
            root: Root::parse(url)?,
        })
    }

    pub fn url(&self) -> &str {
        self.root.url()
    }

    /// The location of a version's folder.
    pub fn version_url(&self, model: &str, version: u32) -> String {
        self.location(&format!("{model}/v{version}"))
    }

    fn location(&self, relative: &str) -> String {
        self.root.display(relative)
    }

    fn store_err(&self, relative: &str) -> impl Fn(object_store::Error) -> Error + '_ {
        let location = self.location(relative);
        move |source| Error::Store {
            location: location.clone(),
            source,
        }
    }

    async fn get(&self, relative: &str) -> Result<Option<Bytes>> {
        let path = self.root.path(relative);
        match self.root.store().get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(self.store_err(relative))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_err(relative)(e)),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, relative: &str) -> Result<Option<T>> {
        let Some(bytes) = self.get(relative).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Encoding {
                action: "decode",
                location: self.location(relative),
                reason: e.to_string(),
            })
    }

    async fn put(&self, relative: &str, bytes: Bytes, mode: PutMode) -> Result<()> {
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        self.root
            .store()
            .put_opts(
                &self.root.path(relative),
                PutPayload::from_bytes(bytes),
                options,
            )
            .await
            .map_err(self.store_err(relative))?;
        Ok(())
    }

    fn to_json<T: Serialize>(&self, relative: &str, value: &T) -> Result<Bytes> {
        serde_json::to_vec_pretty(value)
            .map(Bytes::from)
            .map_err(|e| Error::Encoding {
                action: "encode",
                location: self.location(relative),
                reason: e.to_string(),
            })
    }

    /// Version numbers with anything under them (claimed or published), ascending.
    async fn numbers(&self, model: &str) -> Result<Vec<u32>> {
        let prefix = self.root.path(model);
        let listed = self
            .root
            .store()
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(self.store_err(model))?;
        let mut numbers: Vec<u32> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename()?.strip_prefix('v')?.parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Models with at least one version folder, sorted.
    pub async fn models(&self) -> Result<Vec<String>> {
        let listed = self
            .root
            .store()
            .list_with_delimiter(Some(&self.root.path("")))
            .await
            .map_err(self.store_err(""))?;
        let mut models: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        models.sort();
        Ok(models)
    }

    /// Publishes the finished run `run` as the next version of `model`.
    pub async fn publish(
        &self,
        model: &str,
        run: &RunDir,
        note: Option<String>,
        backend: Backend,
        golden_rows: usize,
    ) -> Result<Published> {
        check_name(model, "model")?;
        let source_err = |reason: String| Error::Source {
            run: run.url().to_string(),
            reason,
        };
        // Everything is read and checked before a version number is claimed.
        let (predictor, config, info) = Predictor::load(run, backend).await?;
        let features_root = Root::parse(&info.features_root)?;
        let source = FeatureSource::open(&features_root, &info.dataset).await?;
        if source.spec.digest != info.featurizer_digest {
            return Err(source_err(format!(
                "its feature dataset `{}` was rewritten since training (featurizer {} now, {} then)",
                info.dataset, source.spec.digest, info.featurizer_digest
            )));
        }
        let lineage = Lineage::trace(&features_root, &info.dataset).await?;
        let evaluations = Evaluations {
            valid: evaluate(&predictor, &info, "valid").await?,
            test: evaluate(&predictor, &info, "test").await?,
        };
        let golden = golden_batch(&predictor, &source, backend, golden_rows).await?;
        let mut files: Vec<(String, Bytes)> = Vec::new();
        for relative in ["config.toml", "run.json"] {
            files.push((
                relative.into(),
                run.require(relative, "part of the run").await?,
            ));
        }
        for relative in [
            "model/model.bpk",
            "model/info.json",
            "model/rule.json",
            "model/config.toml",
        ] {
            if let Some(bytes) = run.get(relative).await? {
                files.push((relative.into(), bytes));
            }
        }
        files.push((
            "featurizer.json".into(),
            self.to_json("featurizer.json", &source.spec)?,
        ));
        files.push(("eval.json".into(), self.to_json("eval.json", &evaluations)?));
        files.push((
            "lineage.json".into(),
            self.to_json("lineage.json", &lineage)?,
        ));
        files.push(("golden.json".into(), self.to_json("golden.json", &golden)?));

        let (version, lost_races) = self.claim(model, run.url()).await?;
        let dir = format!("{model}/v{version}");
        let mut entries = Vec::new();
        for (relative, bytes) in &files {
            self.put(&format!("{dir}/{relative}"), bytes.clone(), PutMode::Create)
                .await?;
            entries.push(FileEntry {
                path: relative.clone(),
                bytes: bytes.len() as u64,
                sha256: sha256(bytes),
            });
        }
        let kind = match &config.model {
            pdnsrep_model::ModelConfig::Rule(_) => "rule".to_string(),
            pdnsrep_model::ModelConfig::Network(n) => format!(
                "network, hidden {:?}, chars {}, pass {}",
                n.hidden,
                format!("{:?}", n.chars.kind).to_lowercase(),
                lineage.passes.len() + 1
            ),
        };
        let artifact = Artifact {
            format_version: FORMAT_VERSION,
            model: model.to_string(),
            version,
            created_at: now(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: Some(env!("PDNSREP_GIT_COMMIT").to_string()).filter(|c| !c.is_empty()),
            source_run: run.url().to_string(),
            source_note: note,
            kind,
            test_macro_f1: evaluations.test.as_ref().map(|e| e.macro_f1),
            test_accuracy: evaluations.test.as_ref().map(|e| e.accuracy),
            files: entries,
        };
        let manifest = self.to_json(ARTIFACT, &artifact)?;
        self.put(&format!("{dir}/{ARTIFACT}"), manifest, PutMode::Create)
            .await?;
        Ok(Published {
            model: model.to_string(),
            version,
            location: self.location(&dir),
            files: files.len() + 1,
            bytes: files.iter().map(|(_, b)| b.len() as u64).sum(),
            lost_races,
        })
    }

    /// Claims the lowest free version number above every existing one with a create-only put.
    async fn claim(&self, model: &str, source: &str) -> Result<(u32, u32)> {
        let mut next = self.numbers(model).await?.last().map_or(1, |n| n + 1);
        let mut lost = 0;
        loop {
            let relative = format!("{model}/v{next}/{CLAIM}");
            let body = serde_json::json!({
                "source_run": source,
                "claimed_at": now(),
                "pid": std::process::id(),
            });
            let bytes = self.to_json(&relative, &body)?;
            match self.put(&relative, bytes, PutMode::Create).await {
                Ok(()) => return Ok((next, lost)),
                Err(Error::Store {
                    source: object_store::Error::AlreadyExists { .. },
                    ..
                }) => {
                    lost += 1;
                    next += 1;
                }
                Err(Error::Store {
                    source: object_store::Error::NotImplemented { .. },
                    location,
                }) => {
                    return Err(Error::Usage(format!(
                        "`{location}`: this store does not do create-only writes, which versions \
                         need; for S3 set AWS_CONDITIONAL_PUT=etag"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The version number a reference names.
    pub async fn resolve(&self, r: &Reference) -> Result<u32> {
        match &r.at {
            At::Version(n) => Ok(*n),
            At::Alias(alias) => {
                let relative = format!("{}/aliases/{alias}.json", r.model);
                let found: Option<Alias> = self.get_json(&relative).await?;
                found.map(|a| a.version).ok_or_else(|| {
                    Error::NotFound(format!("model `{}` has no alias `{alias}`", r.model))
                })
            }
            At::Latest => {
                for n in self.numbers(&r.model).await?.into_iter().rev() {
                    if self
                        .get(&format!("{}/v{n}/{ARTIFACT}", r.model))
                        .await?
                        .is_some()
                    {
                        return Ok(n);
                    }
                }
                Err(Error::NotFound(format!(
                    "model `{}` has no published version in `{}`",
                    r.model,
                    self.url()
                )))
            }
        }
    }

    /// A version's `artifact.json`.
    pub async fn artifact(&self, model: &str, version: u32) -> Result<Artifact> {
        self.get_json(&format!("{model}/v{version}/{ARTIFACT}"))
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "`{model}@v{version}` is not published in `{}`",
                    self.url()
                ))
            })
    }

    /// A file of a version, checked against its manifest entry.
    async fn checked(&self, artifact: &Artifact, entry: &FileEntry) -> Result<Bytes> {
        let relative = format!("{}/v{}/{}", artifact.model, artifact.version, entry.path);
        let name = format!("{}@v{}", artifact.model, artifact.version);
        let bytes = self.get(&relative).await?.ok_or_else(|| Error::Integrity {
            artifact: name.clone(),
            reason: format!("`{}` is missing", self.location(&relative)),
        })?;
        let actual = sha256(&bytes);
        if actual != entry.sha256 || bytes.len() as u64 != entry.bytes {
            return Err(Error::Integrity {
                artifact: name,
                reason: format!(
                    "`{}` was changed: it hashes to {actual} ({} bytes), the artifact records {} \
                     ({} bytes)",
                    self.location(&relative),
                    bytes.len(),
                    entry.sha256,
                    entry.bytes
                ),
            });
        }
        Ok(bytes)
    }

    /// Loads a version on `backend`: checks every file, then replays the golden batch.
    pub async fn load(&self, r: &Reference, backend: Backend) -> Result<Loaded> {
        let version = self.resolve(r).await?;
        let artifact = self.artifact(&r.model, version).await?;
        let mut files = BTreeMap::new();
        for entry in &artifact.files {
            files.insert(entry.path.clone(), self.checked(&artifact, entry).await?);
        }
        let name = format!("{}@v{version}", r.model);
        let file = |path: &str| {
            files.get(path).ok_or_else(|| Error::Integrity {
                artifact: name.clone(),
                reason: format!("the artifact lists no `{path}`"),
            })
        };
        let decode = |path: &str, e: serde_json::Error| Error::Encoding {
            action: "decode",
            location: format!("{name}/{path}"),
            reason: e.to_string(),
        };
        let featurizer: FeaturizerSpec = serde_json::from_slice(file("featurizer.json")?)
            .map_err(|e| decode("featurizer.json", e))?;
        let golden: Golden =
            serde_json::from_slice(file("golden.json")?).map_err(|e| decode("golden.json", e))?;
        // The version folder is laid out like a run, so the run loader reads it as one.
        let dir = RunDir {
            root: Root::parse(&self.location(&format!("{}/v{version}", r.model)))?,
        };
        let (predictor, config, info) = Predictor::load(&dir, backend).await?;
        if info.featurizer_digest != featurizer.digest {
            return Err(Error::Integrity {
                artifact: name,
                reason: "the model and the featurizer spec disagree".into(),
            });
        }
        let diff = replay(&predictor, &golden)?;
        if diff > golden.tolerance {
            return Err(Error::Integrity {
                artifact: name,
                reason: format!(
                    "the golden batch does not reproduce on {backend:?}: probabilities differ by \
                     up to {diff:e} (tolerance {:e}, computed on {})",
                    golden.tolerance, golden.backend
                ),
            });
        }
        let verified = Verified {
            model: r.model.clone(),
            version,
            files: artifact.files.len(),
            golden_rows: golden.rows,
            golden_max_diff: diff,
            backend: format!("{backend:?}").to_lowercase(),
        };
        Ok(Loaded {
            artifact,
            predictor,
            config,
            info,
            featurizer,
            verified,
        })
    }

    /// Every version of `model` (or of every model), with aliases.
    pub async fn list(&self, model: Option<&str>) -> Result<Vec<VersionRow>> {
        let models = match model {
            Some(m) => {
                check_name(m, "model")?;
                if self.numbers(m).await?.is_empty() {
                    return Err(Error::NotFound(format!(
                        "no model `{m}` in `{}`",
                        self.url()
                    )));
                }
                vec![m.to_string()]
            }
            None => self.models().await?,
        };
        let mut rows = Vec::new();
        for model in models {
            let aliases = self.aliases(&model).await?;
            for n in self.numbers(&model).await? {
                let artifact: Option<Artifact> =
                    self.get_json(&format!("{model}/v{n}/{ARTIFACT}")).await?;
                rows.push(VersionRow {
                    model: model.clone(),
                    version: n,
                    state: if artifact.is_some() {
                        "published"
                    } else {
                        "incomplete"
                    }
                    .into(),
                    created_at: artifact.as_ref().map(|a| a.created_at.clone()),
                    kind: artifact.as_ref().map(|a| a.kind.clone()),
                    test_macro_f1: artifact.as_ref().and_then(|a| a.test_macro_f1),
                    aliases: aliases
                        .iter()
                        .filter(|a| a.version == n)
                        .map(|a| a.alias.clone())
                        .collect(),
                });
            }
        }
        Ok(rows)
    }

    /// The aliases of a model.
    pub async fn aliases(&self, model: &str) -> Result<Vec<Alias>> {
        let prefix = self.root.path(&format!("{model}/aliases"));
        let listed: Vec<_> = self
            .root
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(self.store_err(model))?;
        let mut out = Vec::new();
        for meta in listed {
            let Some(name) = meta
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".json"))
            else {
                continue;
            };
            if let Some(alias) = self
                .get_json::<Alias>(&format!("{model}/aliases/{name}.json"))
                .await?
            {
                out.push(alias);
            }
        }
        out.sort_by(|a, b| a.alias.cmp(&b.alias));
        Ok(out)
    }

    /// Points `alias` at a published version (one atomic put).
    pub async fn promote(&self, r: &Reference, alias: &str) -> Result<Alias> {
        check_name(alias, "alias")?;
        let version = self.resolve(r).await?;
        self.artifact(&r.model, version).await?;
        let relative = format!("{}/aliases/{alias}.json", r.model);
        let previous: Option<Alias> = self.get_json(&relative).await?;
        let record = Alias {
            alias: alias.to_string(),
            version,
            promoted_at: now(),
            previous: previous.map(|p| p.version),
        };
        let bytes = self.to_json(&relative, &record)?;
        self.put(&relative, bytes, PutMode::Overwrite).await?;
        Ok(record)
    }

    /// A version's evaluations and lineage, as published.
    pub async fn details(
        &self,
        model: &str,
        version: u32,
    ) -> Result<(Artifact, Evaluations, Lineage)> {
        let artifact = self.artifact(model, version).await?;
        let mut evaluations = None;
        let mut lineage = None;
        for entry in &artifact.files {
            match entry.path.as_str() {
                "eval.json" => {
                    let bytes = self.checked(&artifact, entry).await?;
                    evaluations = serde_json::from_slice(&bytes).ok();
                }
                "lineage.json" => {
                    let bytes = self.checked(&artifact, entry).await?;
                    lineage = serde_json::from_slice(&bytes).ok();
                }
                _ => {}
            }
        }
        let missing = |what: &str| Error::Integrity {
            artifact: format!("{model}@v{version}"),
            reason: format!("no readable `{what}`"),
        };
        Ok((
            artifact,
            evaluations.ok_or_else(|| missing("eval.json"))?,
            lineage.ok_or_else(|| missing("lineage.json"))?,
        ))
    }

    /// A version's run config, as published.
    pub async fn config(&self, model: &str, version: u32) -> Result<String> {
        let artifact = self.artifact(model, version).await?;
        let entry = artifact
            .files
            .iter()
            .find(|f| f.path == "config.toml")
            .ok_or_else(|| Error::Integrity {
                artifact: format!("{model}@v{version}"),
                reason: "no `config.toml`".into(),
            })?;
        let bytes = self.checked(&artifact, entry).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The model on one split; `None` when it has no labelled rows.
async fn evaluate(
    predictor: &Predictor,
    info: &RunInfo,
    split: &str,
) -> Result<Option<Evaluation>> {
    let predictions = predict_split(predictor, info, None, split, 4096).await?;
    if predictions.labels.is_empty() {
        return Ok(None);
    }
    let mut acc = Accumulator::new(&CLASSES, &DEFAULT_FPR_TARGETS)?;
    acc.push_rows(&predictions.labels, &predictions.probs)?;
    Ok(Some(acc.finish()?))
}

/// The first `rows` rows of the test split (else of any split) and their probabilities.
async fn golden_batch(
    predictor: &Predictor,
    source: &FeatureSource,
    backend: Backend,
    rows: usize,
) -> Result<Golden> {
    let mut units = source.units("test").await?;
    if units.is_empty() {
        units = source.units("valid").await?;
    }
    if units.is_empty() {
        units = source.units("train").await?;
    }
    let mut stream = BatchStream::start(
        source.root.store().clone(),
        units,
        Widths::of(&source.spec),
        StreamOptions {
            batch_size: rows.max(1),
            ..StreamOptions::default()
        },
    );
    let batch = match stream.next() {
        Some(batch) => batch?,
        None => {
            return Err(Error::Source {
                run: source.root.display(&source.manifest.dataset),
                reason: "no labelled rows for a golden batch".into(),
            });
        }
    };
    let expected = predictor.predict(&batch)?;
    Ok(Golden {
        rows: batch.rows(),
        numeric: batch.inputs.numeric,
        categorical: batch.inputs.categorical,
        chars: batch.inputs.chars,
        domain_queries: batch.domain_queries,
        expected,
        tolerance: GOLDEN_TOLERANCE,
        backend: format!("{backend:?}").to_lowercase(),
    })
}

/// The largest absolute difference between the model's probabilities and the golden ones.
fn replay(predictor: &Predictor, golden: &Golden) -> Result<f32> {
    let batch = Batch {
        inputs: Inputs {
            rows: golden.rows,
            numeric: golden.numeric.clone(),
            categorical: golden.categorical.clone(),
            chars: golden.chars.clone(),
        },
        labels: vec![0; golden.rows],
        domain_queries: golden.domain_queries.clone(),
    };
    let probs = predictor.predict(&batch)?;
    Ok(max_difference(&probs, &golden.expected))
}

/// The largest difference between two sets of probabilities; infinite when their lengths
/// differ or any value is not finite (`f32::max` would let a NaN through).
fn max_difference(got: &[f32], expected: &[f32]) -> f32 {
    if got.len() != expected.len() || got.iter().chain(expected).any(|p| !p.is_finite()) {
        return f32::INFINITY;
    }
    got.iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_output_never_reproduces_a_golden_batch() {
        assert!((max_difference(&[0.2, 0.8], &[0.25, 0.75]) - 0.05).abs() < 1e-6);
        assert_eq!(max_difference(&[f32::NAN, 0.8], &[0.2, 0.8]), f32::INFINITY);
        assert_eq!(max_difference(&[0.2, 0.8], &[0.2]), f32::INFINITY);
    }

    #[test]
    fn references_and_names() {
        assert_eq!(Reference::parse("rep@v3").unwrap().at, At::Version(3));
        assert_eq!(
            Reference::parse("rep@production").unwrap().at,
            At::Alias("production".into())
        );
        assert_eq!(Reference::parse("rep").unwrap().at, At::Latest);
        for bad in ["", "Rep", "a/b", "-x", "aliases", "rep@", "rep@Prod"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        assert!(check_name("v2", "alias").is_err());
        assert!(check_name("v2", "model").is_ok());
    }

    #[tokio::test]
    async fn racing_claims_get_distinct_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path().to_str().unwrap()).unwrap();
        // Every claimer lists the folder before any has claimed, so all start at v1 and all
        // but one lose at least one race.
        let claims = (0..8).map(|i| {
            let registry = registry.clone();
            async move { registry.claim("m", &format!("run-{i}")).await.unwrap() }
        });
        let results = futures::future::join_all(claims).await;
        let mut numbers: Vec<u32> = results.iter().map(|r| r.0).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
        let lost: u32 = results.iter().map(|r| r.1).sum();
        assert!(lost > 0, "no claim collided: the test did not race");
    }
}
