//! Running a sweep: its trials' passes form a tree of training runs, each trained once.
//!
//! ```text
//! <sweep>/sweep.json              the expanded trials and the passes each one ends at
//! <sweep>/nodes/<id>/             one pass: a training run (checkpoints, model, metrics)
//! <sweep>/nodes/<id>/features/    its features, for passes after the first
//! <sweep>/nodes/<id>/predictions/ its probabilities, once a later pass needs them
//! <sweep>/nodes/<id>/node.json    written last: its summary and validation/test evaluations
//! <sweep>/results.json, report.md, report.html
//! ```
//!
//! A pass's id hashes the dataset and the config that trains it (the first pass) or its
//! parent's id, its number and its neighbour settings (later ones), so trials that differ only
//! in their pass count share their common passes, and a rerun of the same sweep, or of an
//! edited one, finds every pass that is already done. A pass without `node.json` is resumed
//! from its last checkpoint.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use object_store::{ObjectStore as _, ObjectStoreExt as _};
use pdnsrep_eval::{Accumulator, DEFAULT_FPR_TARGETS, Evaluation};
use pdnsrep_records::features::CLASSES;
use pdnsrep_records::{Root, read_manifest};
use pdnsrep_train::{
    Backend, FeatureSource, PassConfig, Predictor, Quiet, RunConfig, RunDir, TrainRequest,
    predict_split,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::passes::{FEATURES, NextPass, features_once, predict_once, prediction_change};
use crate::report::{self, Report};
use crate::spec::{Sweep, Trial, hash_json};

/// One pass of the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub pass: u32,
    pub parent: Option<String>,
    pub dataset: String,
    /// The config the pass trains with (its `passes` table reset: a node is one pass).
    pub config: RunConfig,
    pub next: NextPassRecord,
    /// A trial it belongs to, for messages.
    pub trial: String,
}

/// [`NextPass`] as saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NextPassRecord {
    pub threshold: Option<f64>,
    pub feature_memory_mib: Option<u64>,
    pub warm_start: bool,
    pub min_change: Option<f64>,
}

/// What a finished pass wrote to `node.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeResult {
    pub id: String,
    pub pass: u32,
    pub steps: u64,
    pub epochs: u64,
    pub best_valid_macro_f1: Option<f64>,
    pub train_seconds: f64,
    /// Set when the pass was not trained because the one before it changed the predicted
    /// class of fewer records than `passes.min_change`: that share. The evaluations are then
    /// the previous pass's.
    pub settled: Option<f64>,
    pub valid: Option<Evaluation>,
    pub test: Option<Evaluation>,
    /// With the sweep's `truth`: the unlabelled records against the ground truth.
    #[serde(default)]
    pub unlisted: Option<Evaluation>,
}

/// A trial with the passes it ends at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedTrial {
    #[serde(flatten)]
    pub trial: Trial,
    /// Node ids from the first pass to the last.
    pub chain: Vec<String>,
}

/// The expanded sweep as `sweep.json` holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub select: String,
    pub datasets: BTreeMap<String, String>,
    pub trials: Vec<PlannedTrial>,
    pub nodes: Vec<Node>,
}

impl Plan {
    /// The tree of `sweep`'s passes. `versions` maps each dataset to what identifies the data
    /// it holds (its manifest's run id), so a dataset rewritten under the same name trains new
    /// passes instead of reusing stale ones.
    pub fn new(sweep: &Sweep, versions: &BTreeMap<String, String>, backend: Backend) -> Plan {
        // Backends agree only to rounding, so a pass trained on another one is another pass.
        let backend = format!("{backend:?}").to_lowercase();
        let mut nodes: Vec<Node> = Vec::new();
        let mut trials = Vec::new();
        for trial in &sweep.trials {
            let mut chain = Vec::new();
            let mut parent: Option<String> = None;
            let passes = &trial.config.passes;
            let single = RunConfig {
                passes: PassConfig::default(),
                ..trial.config.clone()
            };
            for pass in 1..=passes.count {
                let id = match &parent {
                    None => hash_json(&serde_json::json!({
                        "dataset": trial.dataset,
                        "version": versions.get(&trial.dataset),
                        "backend": backend,
                        "config": single,
                    })),
                    Some(parent) => hash_json(&serde_json::json!({
                        "parent": parent, "pass": pass, "threshold": passes.threshold,
                        "warm_start": passes.warm_start, "min_change": passes.min_change,
                    })),
                };
                if !nodes.iter().any(|n| n.id == id) {
                    nodes.push(Node {
                        id: id.clone(),
                        pass,
                        parent: parent.clone(),
                        dataset: trial.dataset.clone(),
                        config: single.clone(),
                        next: NextPassRecord {
                            threshold: passes.threshold,
                            feature_memory_mib: passes.feature_memory_mib,
                            warm_start: passes.warm_start,
                            min_change: passes.min_change,
                        },
                        trial: format!("{} [{}]", trial.name, trial.label),
                    });
                }
                chain.push(id.clone());
                parent = Some(id);
            }
            trials.push(PlannedTrial {
                trial: trial.clone(),
                chain,
            });
        }
        Plan {
            name: sweep.name.clone(),
            select: sweep.select.to_string(),
            datasets: sweep.datasets.clone(),
            trials,
            nodes,
        }
    }

    /// Passes trained in all versus passes the trials would train one by one.
    pub fn reuse(&self) -> (usize, usize) {
        let separate = self.trials.iter().map(|t| t.chain.len()).sum();
        (self.nodes.len(), separate)
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SweepRequest {
    pub sweep: Sweep,
    /// The storage root of the sweep's feature datasets.
    pub features: Root,
    /// The sweep's folder (any storage root).
    pub out: RunDir,
    pub backend: Backend,
    /// Overrides the file's `concurrency`.
    pub concurrency: Option<usize>,
}

/// How a sweep run went.
#[derive(Debug, Clone, Serialize)]
pub struct SweepOutcome {
    pub sweep: String,
    pub trials: usize,
    /// Passes in the tree, and passes the trials would need trained separately.
    pub nodes: usize,
    pub separate_passes: usize,
    /// Passes found finished when this run started.
    pub already_done: usize,
    /// Passes this run trained (or finished training).
    pub trained: usize,
    pub failed: Vec<String>,
    /// The best trial of each dataset.
    pub best: Vec<report::Best>,
    pub report_md: String,
    pub report_html: String,
}

struct Context {
    features: Root,
    out: RunDir,
    backend: Backend,
    /// Held while a pass writes the predictions its children need: two children of one
    /// parent must not write them at once.
    locks: HashMap<String, Arc<Mutex<()>>>,
    /// Each later pass's parent.
    parents: HashMap<String, String>,
}

impl Context {
    fn node_dir(&self, id: &str) -> Result<RunDir> {
        Ok(RunDir::open(
            &self.out.root.display(&format!("nodes/{id}")),
        )?)
    }
}

/// Runs every pass that is not finished, at most `concurrency` at once, then writes the
/// report. A failed pass fails its trials (and the passes after it) but not the others; the
/// error comes after the report is written.
pub async fn run_sweep(req: SweepRequest) -> Result<SweepOutcome> {
    // Every dataset is checked before anything trains.
    let mut versions = BTreeMap::new();
    for (label, dataset) in &req.sweep.datasets {
        let bad = |reason: String| Error::Spec {
            path: format!("sweep `{}`", req.sweep.name),
            reason: format!(
                "`datasets.{label}` (`{}`): {reason}",
                req.features.display(dataset)
            ),
        };
        let manifest = match read_manifest(&req.features, dataset).await {
            Ok(m) => m,
            Err(pdnsrep_records::Error::DatasetNotFound { .. }) => {
                return Err(bad("no such dataset (no `_manifest.json`)".into()));
            }
            Err(e) => return Err(e.into()),
        };
        if manifest.kind != "features" {
            return Err(bad(format!(
                "holds `{}`, not features (run `pdnsrep features` on it first)",
                manifest.kind
            )));
        }
        versions.insert(dataset.clone(), manifest.run_id);
    }
    if let Some(truth) = &req.sweep.truth
        && read_manifest(&req.features, truth).await.is_err()
    {
        return Err(Error::Spec {
            path: format!("sweep `{}`", req.sweep.name),
            reason: format!(
                "`truth` (`{}`): no such dataset",
                req.features.display(truth)
            ),
        });
    }
    for note in &req.sweep.notes {
        tracing::warn!("{note}");
    }
    let plan = Plan::new(&req.sweep, &versions, req.backend);
    let lock = Lock::take(&req.out).await?;
    req.out.put_json("sweep.json", &plan).await?;
    let limit = req.concurrency.unwrap_or(req.sweep.concurrency).max(1);
    let locks = plan
        .nodes
        .iter()
        .filter_map(|n| n.parent.clone())
        .map(|p| (p, Arc::new(Mutex::new(()))))
        .collect();
    let ctx = Arc::new(Context {
        features: req.features.clone(),
        out: req.out.clone(),
        backend: req.backend,
        locks,
        parents: plan
            .nodes
            .iter()
            .filter_map(|n| Some((n.id.clone(), n.parent.clone()?)))
            .collect(),
    });
    let mut done: HashMap<String, NodeResult> = HashMap::new();
    for node in &plan.nodes {
        match ctx
            .node_dir(&node.id)?
            .get_json::<NodeResult>("node.json")
            .await
        {
            Ok(Some(result)) => {
                done.insert(node.id.clone(), result);
            }
            Ok(None) => {}
            // An unreadable result is not trusted: the pass is evaluated again (its training
            // resumes from what is there).
            Err(e) => tracing::warn!("{e}; pass {} is redone", node.id),
        }
    }
    let already_done = done.len();
    let (nodes, separate_passes) = plan.reuse();
    tracing::info!(
        trials = plan.trials.len(),
        passes = nodes,
        separate_passes,
        already_done,
        concurrency = limit,
        "sweep `{}`",
        plan.name
    );
    let mut failed: HashMap<String, String> = HashMap::new();
    let mut running: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<(String, Result<NodeResult>)> = JoinSet::new();
    let handle = tokio::runtime::Handle::current();
    loop {
        for node in &plan.nodes {
            if done.contains_key(&node.id) || failed.contains_key(&node.id) {
                continue;
            }
            if let Some(parent) = node.parent.as_ref().filter(|p| failed.contains_key(*p)) {
                failed.insert(node.id.clone(), format!("pass {parent} before it failed"));
                continue;
            }
            let ready = node.parent.as_ref().is_none_or(|p| done.contains_key(p));
            if !ready || running.contains(&node.id) || running.len() >= limit {
                continue;
            }
            running.insert(node.id.clone());
            let (ctx, node, handle) = (ctx.clone(), node.clone(), handle.clone());
            // Training is compute bound and its future is not `Send`: each pass gets a
            // blocking thread that drives it on the shared runtime.
            tasks.spawn_blocking(move || {
                let id = node.id.clone();
                let result = handle.block_on(run_node(&ctx, &node));
                (id, result)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (id, result) = joined.map_err(|e| Error::Worker(e.to_string()))?;
        running.remove(&id);
        match result {
            Ok(result) => {
                done.insert(id, result);
            }
            Err(e) => {
                let text = chain(&e);
                tracing::error!("{text}");
                failed.insert(id, text);
            }
        }
    }
    if let Some(truth) = &req.sweep.truth {
        score_unlisted(&ctx, &plan, &mut done, truth).await?;
    }
    let trained = done.len() - already_done;
    let report = Report::build(&plan, &done, &failed, &req.sweep.select);
    let (md, html) = (report.markdown(), report.html()?);
    req.out.put_json("results.json", &report.rows).await?;
    req.out.put_json("best.json", &report.best).await?;
    req.out
        .put("report.md", md.clone().into_bytes().into())
        .await?;
    req.out.put("report.html", html.into_bytes().into()).await?;
    lock.release().await;
    let failed_trials: Vec<String> = plan
        .trials
        .iter()
        .filter(|t| t.chain.iter().any(|id| failed.contains_key(id)))
        .map(|t| format!("{} [{}]", t.trial.name, t.trial.label))
        .collect();
    let outcome = SweepOutcome {
        sweep: plan.name.clone(),
        trials: plan.trials.len(),
        nodes,
        separate_passes,
        already_done,
        trained,
        failed: failed_trials,
        best: report.best.clone(),
        report_md: req.out.root.display("report.md"),
        report_html: req.out.root.display("report.html"),
    };
    if !outcome.failed.is_empty() {
        return Err(Error::TrialsFailed {
            failed: outcome.failed.len(),
            trials: outcome.trials,
        });
    }
    Ok(outcome)
}

/// `_lock.json` in the sweep folder while a sweep runs there: two sweeps on one folder would
/// train the same passes into the same runs. A lock left by a killed sweep on this machine
/// (its process is gone) is taken over; one from another machine must be removed by hand.
struct Lock {
    dir: RunDir,
}

#[derive(Debug, Serialize, Deserialize)]
struct LockRecord {
    host: String,
    pid: u32,
    since_unix_s: u64,
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

impl Lock {
    const FILE: &'static str = "_lock.json";

    async fn take(dir: &RunDir) -> Result<Lock> {
        let record = LockRecord {
            host: host_name(),
            pid: std::process::id(),
            since_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
        let path = dir.root.path(Lock::FILE);
        for _ in 0..2 {
            let options = object_store::PutOptions {
                mode: object_store::PutMode::Create,
                ..object_store::PutOptions::default()
            };
            let put = dir
                .root
                .store()
                .put_opts(&path, bytes.clone().into(), options)
                .await;
            match put {
                Ok(_) => return Ok(Lock { dir: dir.clone() }),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let holder: Option<LockRecord> = dir.get_json(Lock::FILE).await.ok().flatten();
                    let stale = holder.as_ref().is_some_and(|h| {
                        h.host == record.host
                            && !std::path::Path::new(&format!("/proc/{}", h.pid)).exists()
                    });
                    if !stale {
                        let who = holder.map_or_else(
                            || "another sweep".to_string(),
                            |h| format!("process {} on `{}`", h.pid, h.host),
                        );
                        return Err(Error::State {
                            sweep: dir.url().to_string(),
                            reason: format!(
                                "{who} is running a sweep in this folder; wait for it, or delete \
                                 `{}` if it is dead",
                                dir.root.display(Lock::FILE)
                            ),
                        });
                    }
                    tracing::warn!("taking over the lock of a sweep that died");
                    let _ = dir.root.store().delete(&path).await;
                }
                // A store without create-only writes: run without a lock.
                Err(object_store::Error::NotImplemented { .. }) => {
                    return Ok(Lock { dir: dir.clone() });
                }
                Err(e) => {
                    return Err(pdnsrep_train::Error::Store {
                        location: dir.root.display(Lock::FILE),
                        source: e,
                    }
                    .into());
                }
            }
        }
        Err(Error::State {
            sweep: dir.url().to_string(),
            reason: "could not take the sweep's lock".into(),
        })
    }

    async fn release(self) {
        let path = self.dir.root.path(Lock::FILE);
        let _ = self.dir.root.store().delete(&path).await;
    }
}

/// The error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Trains (or resumes) one pass, evaluates it, and commits `node.json`.
async fn run_node(ctx: &Context, node: &Node) -> Result<NodeResult> {
    let wrap = |e: Error| Error::Node {
        trial: node.trial.clone(),
        pass: node.pass,
        source: Box::new(e),
    };
    let dir = ctx.node_dir(&node.id)?;
    let (root, dataset, warm_start) = match &node.parent {
        None => (ctx.features.clone(), node.dataset.clone(), None),
        Some(parent) => {
            let previous = ctx.node_dir(parent)?;
            if let Some(result) = settled(ctx, node, &previous).await.map_err(wrap)? {
                dir.put_json("node.json", &result).await?;
                return Ok(result);
            }
            {
                let _guard = lock(ctx, Some(parent)).await;
                predict_once(&previous, ctx.backend).await.map_err(wrap)?;
            }
            let first = FeatureSource::open(&ctx.features, &node.dataset)
                .await
                .map_err(|e| wrap(e.into()))?;
            let how = NextPass {
                threshold: node.next.threshold,
                feature_memory_mib: node.next.feature_memory_mib,
            };
            features_once(&first, &previous, &dir, how)
                .await
                .map_err(wrap)?;
            let warm = node.next.warm_start.then_some(previous);
            (dir.root.clone(), FEATURES.to_string(), warm)
        }
    };
    let started = Instant::now();
    let resume = dir.get("config.toml").await?.is_some();
    let verb = if resume { "resuming" } else { "training" };
    tracing::info!(pass = node.pass, id = %node.id, "{verb} {}", node.trial);
    let summary = pdnsrep_train::train(
        TrainRequest {
            features: root,
            dataset,
            run: dir.clone(),
            config: Some(node.config.clone()),
            resume,
            backend: ctx.backend,
            stop_after_steps: None,
            warm_start,
        },
        &mut Quiet,
    )
    .await
    .map_err(|e| wrap(e.into()))?;
    let valid = evaluate(&dir, ctx.backend, "valid").await.map_err(wrap)?;
    let test = evaluate(&dir, ctx.backend, "test").await.map_err(wrap)?;
    let result = NodeResult {
        id: node.id.clone(),
        pass: node.pass,
        steps: summary.steps,
        epochs: summary.epochs,
        best_valid_macro_f1: summary.best_valid_macro_f1,
        train_seconds: started.elapsed().as_secs_f64(),
        settled: None,
        unlisted: None,
        valid,
        test,
    };
    dir.put_json("node.json", &result).await?;
    tracing::info!(
        pass = node.pass,
        id = %node.id,
        test_macro_f1 = ?result.test.as_ref().map(|e| e.macro_f1),
        "finished {}",
        node.trial
    );
    Ok(result)
}

/// Scores the unlabelled records of every finished pass against a synthetic world's truth,
/// once per pass (the result is kept in its `node.json`).
async fn score_unlisted(
    ctx: &Context,
    plan: &Plan,
    done: &mut HashMap<String, NodeResult>,
    truth: &str,
) -> Result<()> {
    let pending: Vec<&Node> = plan
        .nodes
        .iter()
        .filter(|n| done.get(&n.id).is_some_and(|r| r.unlisted.is_none()))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let truth = crate::passes::read_truth(&ctx.features, truth).await?;
    for node in pending {
        let dir = ctx.node_dir(&node.id)?;
        let Some(result) = done.get(&node.id).cloned() else {
            continue;
        };
        let scored = match result.settled {
            // A settled pass stands in for its parent, whose model it would have retrained.
            Some(_) => node
                .parent
                .as_ref()
                .and_then(|p| done.get(p))
                .and_then(|p| p.unlisted.clone()),
            None => {
                predict_once(&dir, ctx.backend).await?;
                let (confusion, missing) = crate::passes::unlisted_confusion(&dir, &truth).await?;
                if missing > 0 {
                    tracing::warn!(
                        "{missing} unlabelled records of pass {} have no truth",
                        node.id
                    );
                }
                Evaluation::from_confusion(&CLASSES, confusion).ok()
            }
        };
        let updated = NodeResult {
            unlisted: scored,
            ..result
        };
        dir.put_json("node.json", &updated).await?;
        done.insert(node.id.clone(), updated);
    }
    Ok(())
}

/// For a pass ≥ 2 with `min_change`: the result that stands in for training it when the
/// predictions have settled, that is when its parent already settled, or (from pass 3) when
/// its parent changed the predicted class of fewer records than `min_change` from the
/// grandparent. The stand-in carries the parent's evaluations.
async fn settled(ctx: &Context, node: &Node, previous: &RunDir) -> Result<Option<NodeResult>> {
    let Some(min) = node.next.min_change else {
        return Ok(None);
    };
    let parent: NodeResult = previous
        .get_json("node.json")
        .await?
        .ok_or_else(|| Error::Worker(format!("pass `{}` is not finished", previous.url())))?;
    let stand_in = |share: f64| NodeResult {
        id: node.id.clone(),
        pass: node.pass,
        steps: 0,
        epochs: 0,
        train_seconds: 0.0,
        settled: Some(share),
        ..parent.clone()
    };
    if let Some(share) = parent.settled {
        return Ok(Some(stand_in(share)));
    }
    let grandparent = node.parent.as_ref().and_then(|p| ctx.parents.get(p));
    let Some(grandparent) = grandparent else {
        return Ok(None);
    };
    {
        let _guard = lock(ctx, node.parent.as_deref()).await;
        predict_once(previous, ctx.backend).await?;
    }
    let change = prediction_change(&ctx.node_dir(grandparent)?, previous).await?;
    if change.share() >= min {
        return Ok(None);
    }
    tracing::info!(
        pass = node.pass,
        changed = format!("{:.4}", change.share()),
        "predictions settled: {} ends at pass {}",
        node.trial,
        node.pass - 1
    );
    Ok(Some(stand_in(change.share())))
}

/// Holds the lock of a parent's predictions, if it has children.
async fn lock<'a>(
    ctx: &'a Context,
    parent: Option<&str>,
) -> Option<tokio::sync::MutexGuard<'a, ()>> {
    match parent.and_then(|p| ctx.locks.get(p)) {
        Some(lock) => Some(lock.lock().await),
        None => None,
    }
}

/// The run's final model on one split; `None` when the split has no labelled rows.
async fn evaluate(run: &RunDir, backend: Backend, split: &str) -> Result<Option<Evaluation>> {
    let (predictor, _, info) = Predictor::load(run, backend).await?;
    let predictions = predict_split(&predictor, &info, None, split, 4096).await?;
    if predictions.labels.is_empty() {
        return Ok(None);
    }
    let mut acc = Accumulator::new(&CLASSES, &DEFAULT_FPR_TARGETS)?;
    acc.push_rows(&predictions.labels, &predictions.probs)?;
    Ok(Some(acc.finish()?))
}
