//! The training loop: streamed batches, weighted cross-entropy, Adam/AdamW, a warm-up plus
//! cosine schedule, early stopping on validation macro-F1, and checkpoints a killed run resumes
//! from to the same weights.
//!
//! Every source of randomness is a function of (seed, epoch, step): initial weights of the seed,
//! the loader's order of (seed, epoch), dropout masks of (seed, epoch, step). Resuming therefore
//! needs only the weights, the optimizer state and a [`Cursor`].

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor, TensorData};
use bytes::Bytes;
use pdnsrep_model::{Backend, Device, InputShape, ModelConfig, NetworkConfig, ReputationNet, Rule};
use pdnsrep_records::Root;
use pdnsrep_records::features::CLASSES;

use crate::config::{ClassWeights, RunConfig, Schedule, TrainConfig};
use crate::data::{Batch, FeatureSource, Unit, Widths};
use crate::error::{Error, Result};
use crate::loader::{BatchStream, StreamOptions, derive_seed};
use crate::metrics::{Confusion, argmax_rows};
use crate::predict::Predictor;
use crate::run::{
    CONFIG_FILE, Checkpoint, Cursor, METRICS_FILE, RUN_FILE, RunDir, RunInfo, TrainState,
    now_rfc3339, sha256_hex,
};

const TAG_DROPOUT: u64 = 3;

/// What to train, on what, and where.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub features: Root,
    pub dataset: String,
    pub run: RunDir,
    /// Required for a new run; on `resume` the run's saved config is used and this one, if
    /// given, must match it.
    pub config: Option<RunConfig>,
    pub resume: bool,
    pub backend: Backend,
    /// Return after this many steps in this call, without a final checkpoint, as a kill would:
    /// lets tests interrupt a run at a chosen point.
    pub stop_after_steps: Option<u64>,
    /// A new run starts from this finished run's final weights (same model config and input
    /// shape) instead of a fresh initialization: a warm-started later pass.
    pub warm_start: Option<RunDir>,
}

/// One logged step, for progress displays.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StepReport {
    pub epoch: u64,
    pub step: u64,
    /// Steps the run will take at most (epochs × steps per epoch, or `max_steps`).
    pub total_steps: u64,
    pub loss: f32,
    pub learning_rate: f64,
    /// Training samples per second in this process so far.
    pub samples_per_s: f64,
}

/// The end of one epoch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochReport {
    pub epoch: u64,
    pub step: u64,
    pub train_loss: f64,
    pub valid_macro_f1: Option<f64>,
    pub valid_accuracy: Option<f64>,
    pub improved: bool,
}

/// Receives progress; the CLI draws it, tests ignore it.
pub trait Observer {
    fn step(&mut self, _report: &StepReport) {}
    fn epoch(&mut self, _report: &EpochReport) {}
}

/// Ignores progress.
#[derive(Debug, Default)]
pub struct Quiet;
impl Observer for Quiet {}

/// How a training run ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    pub run: String,
    pub model: String,
    pub steps: u64,
    pub epochs: u64,
    pub train_rows: u64,
    pub best_epoch: Option<u64>,
    pub best_valid_macro_f1: Option<f64>,
    /// `finished`, `early_stopped`, `max_steps`, or `interrupted` (tests only).
    pub stop_reason: String,
    pub resumed_from_step: Option<u64>,
    pub samples_per_s: f64,
    pub seconds: f64,
    /// The fitted threshold of a rule run.
    pub rule_threshold: Option<u64>,
}

/// Trains, or resumes, one run.
pub async fn train(req: TrainRequest, observer: &mut dyn Observer) -> Result<TrainSummary> {
    let started = Instant::now();
    let config = resolve_config(&req).await?;
    let source = FeatureSource::open(&req.features, &req.dataset).await?;
    let units = source.units("train").await?;
    if units.is_empty() {
        return Err(Error::Input(format!(
            "dataset `{}` has no `split=train` rows",
            req.dataset
        )));
    }
    match &config.model {
        ModelConfig::Rule(rule) => {
            train_rule(&req, &config, &source, units, rule.threshold, started).await
        }
        ModelConfig::Network(net) => {
            let mut session = Session::start(&req, &config, net, &source, units).await?;
            session.run(&req, observer, started).await
        }
    }
}

async fn resolve_config(req: &TrainRequest) -> Result<RunConfig> {
    let saved = req.run.get(CONFIG_FILE).await?;
    let bad = |reason: String| Error::Run {
        run: req.run.url().to_string(),
        reason,
    };
    match (req.resume, saved, &req.config) {
        (false, Some(_), _) => Err(bad(
            "already holds a run; pass `--resume` to continue it, or choose another `--run`".into(),
        )),
        (false, None, Some(config)) => Ok(config.clone()),
        (false, None, None) => Err(bad("a new run needs a config".into())),
        (true, None, _) => Err(bad("nothing to resume: no `config.toml`".into())),
        (true, Some(_), given) => {
            let saved = req.run.config().await?;
            if let Some(given) = given
                && given != &saved
            {
                return Err(bad(
                    "the given config differs from the one the run was started with".into(),
                ));
            }
            Ok(saved)
        }
    }
}

fn stream_options(train: &TrainConfig, epoch: u64, skip_rows: u64, shuffle: bool) -> StreamOptions {
    StreamOptions {
        batch_size: train.batch_size,
        shuffle_buffer: if shuffle {
            train.shuffle_buffer.max(1)
        } else {
            0
        },
        seed: train.seed,
        epoch,
        skip_rows,
        workers: train.workers,
        prefetch: 2,
        labelled_only: true,
    }
}

/// Label counts per class over the training split.
fn count_labels(source: &FeatureSource, units: &[Unit], train: &TrainConfig) -> Result<Vec<u64>> {
    let widths = Widths::of(&source.spec);
    let stream = BatchStream::start(
        source.root.store().clone(),
        units.to_vec(),
        widths,
        stream_options(train, 0, 0, false),
    );
    let mut counts = vec![0u64; CLASSES.len()];
    for batch in stream {
        for &label in &batch?.labels {
            let slot = counts.get_mut(label as usize).ok_or_else(|| {
                Error::Input(format!(
                    "label {label} is not a class index (0..{})",
                    CLASSES.len()
                ))
            })?;
            *slot += 1;
        }
    }
    Ok(counts)
}

/// The loss weight of each class.
pub fn class_weights(mode: &ClassWeights, counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    match mode {
        ClassWeights::None => vec![1.0; counts.len()],
        ClassWeights::Explicit(w) => w.clone(),
        ClassWeights::Balanced => counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    1.0
                } else {
                    n as f64 / (present as f64 * c as f64)
                }
            })
            .collect(),
    }
}

/// The learning rate at `step`: linear warm-up, then constant or cosine decay.
pub fn learning_rate(train: &TrainConfig, step: u64, total_steps: u64) -> f64 {
    let peak = train.learning_rate;
    if step < train.warmup_steps {
        return peak * (step + 1) as f64 / train.warmup_steps as f64;
    }
    match train.schedule {
        Schedule::Constant => peak,
        Schedule::Cosine => {
            let span = total_steps.saturating_sub(train.warmup_steps).max(1) as f64;
            let progress = ((step - train.warmup_steps) as f64 / span).min(1.0);
            let floor = peak * train.min_lr_fraction;
            floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// The final weights of the finished run `from`, checked against its hash, for a run with the
/// same model config and input shape.
async fn warm_weights(
    from: &RunDir,
    config: &RunConfig,
    shape: &InputShape,
    device: &Device,
) -> Result<ReputationNet> {
    let refuse = |reason: String| Error::Run {
        run: from.url().to_string(),
        reason: format!("cannot warm-start from it: {reason}"),
    };
    let ModelConfig::Network(net) = &config.model else {
        return Err(refuse("only networks can be warm-started".into()));
    };
    if from.config().await?.model != config.model {
        return Err(refuse("its model config differs".into()));
    }
    if &from.info().await?.input_shape != shape {
        return Err(refuse("its input shape differs".into()));
    }
    let bytes = from.require("model/model.bpk", "the final weights").await?;
    let info: serde_json::Value = from.get_json("model/info.json").await?.unwrap_or_default();
    from.verify(
        "model/model.bpk",
        &bytes,
        info["sha256"]["model.bpk"].as_str(),
    )?;
    Ok(pdnsrep_model::load_network(net, shape, device, bytes)?)
}

async fn write_run_files(
    req: &TrainRequest,
    config: &RunConfig,
    source: &FeatureSource,
    weights: &[f64],
    train_rows: u64,
) -> Result<()> {
    let info = RunInfo {
        features_root: source.root.url().to_string(),
        dataset: source.manifest.dataset.clone(),
        featurizer_digest: source.spec.digest.clone(),
        input_shape: InputShape::from_spec(&source.spec),
        classes: source.spec.classes.clone(),
        class_weights: weights.to_vec(),
        train_rows,
        created_at: now_rfc3339(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    req.run.put_json(RUN_FILE, &info).await?;
    req.run
        .put(CONFIG_FILE, Bytes::from(config.to_toml()))
        .await
}

async fn train_rule(
    req: &TrainRequest,
    config: &RunConfig,
    source: &FeatureSource,
    units: Vec<Unit>,
    fixed: Option<u64>,
    started: Instant,
) -> Result<TrainSummary> {
    let stream = BatchStream::start(
        source.root.store().clone(),
        units,
        Widths::of(&source.spec),
        stream_options(&config.train, 0, 0, false),
    );
    let (mut queries, mut labels) = (Vec::new(), Vec::new());
    for batch in stream {
        let batch = batch?;
        queries.extend_from_slice(&batch.domain_queries);
        labels.extend_from_slice(&batch.labels);
    }
    let rule = match fixed {
        Some(threshold) => Rule { threshold },
        None => Rule::fit(&queries, &labels),
    };
    write_run_files(req, config, source, &[1.0; 3], labels.len() as u64).await?;
    req.run.put_json("model/rule.json", &rule).await?;
    req.run
        .put("model/config.toml", Bytes::from(config.to_toml()))
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(TrainSummary {
        run: req.run.url().to_string(),
        model: "rule".into(),
        steps: 0,
        epochs: 1,
        train_rows: labels.len() as u64,
        best_epoch: None,
        best_valid_macro_f1: None,
        stop_reason: "finished".into(),
        resumed_from_step: None,
        samples_per_s: labels.len() as f64 / seconds.max(1e-9),
        seconds,
        rule_threshold: Some(rule.threshold),
    })
}

/// The state of a network run between steps.
struct Session {
    config: RunConfig,
    net_config: NetworkConfig,
    source: FeatureSource,
    units: Vec<Unit>,
    valid_units: Vec<Unit>,
    device: Device,
    model: Option<ReputationNet>,
    optim: ModuleOptimizer,
    state: TrainState,
    weights: Vec<f32>,
    train_rows: u64,
    total_steps: u64,
    metrics: Vec<String>,
    resumed_from: Option<u64>,
}

impl Session {
    async fn start(
        req: &TrainRequest,
        config: &RunConfig,
        net: &NetworkConfig,
        source: &FeatureSource,
        units: Vec<Unit>,
    ) -> Result<Session> {
        let train = &config.train;
        let counts = count_labels(source, &units, train)?;
        let train_rows: u64 = counts.iter().sum();
        if train_rows == 0 {
            return Err(Error::Input(
                "the training split has no labelled rows".into(),
            ));
        }
        let weights = class_weights(&train.class_weights, &counts);
        let device = req.backend.device()?.autodiff();
        let shape = InputShape::from_spec(&source.spec);
        let mut optim = match train.weight_decay {
            wd if wd > 0.0 => AdamWConfig::new()
                .with_weight_decay(wd as f32)
                .with_epsilon(1e-8)
                .init(),
            _ => AdamConfig::new().with_epsilon(1e-8).init(),
        };
        let checkpoint = if req.resume {
            req.run.read_checkpoint().await?
        } else {
            None
        };
        let (model, state, metrics) = match checkpoint {
            Some(cp) => {
                let model = pdnsrep_model::load_network(net, &shape, &device, cp.model)?;
                optim = optim
                    .from_bytes(burn::tensor::Bytes::from_bytes_vec(cp.optimizer.to_vec()))
                    .map_err(|e| Error::Run {
                        run: req.run.url().to_string(),
                        reason: format!("optimizer state: {e:?}"),
                    })?;
                let metrics = read_metrics(&req.run, cp.state.cursor.step).await?;
                (model, cp.state, metrics)
            }
            None => {
                let model = match &req.warm_start {
                    Some(from) => warm_weights(from, config, &shape, &device).await?,
                    None => pdnsrep_model::init_network(net, &shape, &device, train.seed)?,
                };
                write_run_files(req, config, source, &weights, train_rows).await?;
                (model, TrainState::default(), Vec::new())
            }
        };
        let steps_per_epoch = train_rows.div_ceil(train.batch_size as u64);
        let total_steps = train
            .max_steps
            .unwrap_or(u64::MAX)
            .min(steps_per_epoch * train.epochs);
        let resumed_from = req.resume.then_some(state.cursor.step);
        Ok(Session {
            config: config.clone(),
            net_config: net.clone(),
            valid_units: source.units("valid").await?,
            source: source.clone(),
            units,
            device,
            model: Some(model),
            optim,
            state,
            weights: weights.iter().map(|&w| w as f32).collect(),
            train_rows,
            total_steps,
            metrics,
            resumed_from,
        })
    }

    async fn run(
        &mut self,
        req: &TrainRequest,
        observer: &mut dyn Observer,
        started: Instant,
    ) -> Result<TrainSummary> {
        let mut samples = 0u64;
        let mut steps_here = 0u64;
        while !self.state.finished {
            let epoch = self.state.cursor.epoch;
            let options = stream_options(&self.config.train, epoch, self.state.cursor.rows, true);
            let stream = BatchStream::start(
                self.source.root.store().clone(),
                self.units.clone(),
                Widths::of(&self.source.spec),
                options,
            );
            let mut loss_sum = 0.0f64;
            let mut loss_rows = 0u64;
            for batch in stream {
                let batch = batch?;
                let loss = self.step(&batch)?;
                loss_sum += f64::from(loss) * batch.rows() as f64;
                loss_rows += batch.rows() as u64;
                samples += batch.rows() as u64;
                steps_here += 1;
                let c = self.state.cursor;
                let report = StepReport {
                    epoch,
                    step: c.step,
                    total_steps: self.total_steps,
                    loss,
                    learning_rate: learning_rate(&self.config.train, c.step - 1, self.total_steps),
                    samples_per_s: samples as f64 / started.elapsed().as_secs_f64().max(1e-9),
                };
                observer.step(&report);
                if c.step.is_multiple_of(self.config.train.log_every) {
                    self.log_line(serde_json::json!({"kind": "step", "report": report}));
                }
                if req.stop_after_steps.is_some_and(|n| steps_here >= n) {
                    return Ok(self.summary(req, "interrupted", samples, started));
                }
                if c.step.is_multiple_of(self.config.train.checkpoint_every) {
                    self.checkpoint(req).await?;
                }
                if c.step >= self.total_steps {
                    break;
                }
            }
            self.end_epoch(req, observer, loss_sum / loss_rows.max(1) as f64)
                .await?;
        }
        let reason = self
            .state
            .stop_reason
            .clone()
            .unwrap_or_else(|| "finished".into());
        Ok(self.summary(req, &reason, samples, started))
    }

    /// One optimizer step; returns the batch loss.
    fn step(&mut self, batch: &Batch) -> Result<f32> {
        let c = &mut self.state.cursor;
        let lr = learning_rate(&self.config.train, c.step, self.total_steps);
        let seed = derive_seed(self.config.train.seed, c.epoch, TAG_DROPOUT ^ (c.step << 8));
        let model = self
            .model
            .take()
            .ok_or_else(|| Error::Loader("model lost".into()))?;
        let rows = batch.rows();
        let (targets, weights): (Vec<i32>, Vec<f32>) = batch
            .labels
            .iter()
            .map(|&l| {
                (
                    i32::from(l),
                    self.weights.get(l as usize).copied().unwrap_or(0.0),
                )
            })
            .unzip();
        let total: f32 = weights.iter().sum::<f32>().max(1e-12);
        let device = &self.device;
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [rows, 1]), device);
        let weights = Tensor::<1>::from_data(TensorData::new(weights, [rows]), device);
        let picked = model
            .log_proba(&batch.inputs, device, Some(seed))
            .gather(1, targets)
            .squeeze_dim::<1>(1);
        let loss = (picked * weights).sum().div_scalar(-total);
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(lr, model, grads));
        c.step += 1;
        c.rows += rows as u64;
        Ok(value)
    }

    fn model(&self) -> Result<&ReputationNet> {
        self.model
            .as_ref()
            .ok_or_else(|| Error::Loader("model lost".into()))
    }

    async fn end_epoch(
        &mut self,
        req: &TrainRequest,
        observer: &mut dyn Observer,
        train_loss: f64,
    ) -> Result<()> {
        let epoch = self.state.cursor.epoch;
        let valid = self.validate()?;
        let improved = match (valid.as_ref(), self.state.best_macro_f1) {
            (None, _) | (Some(_), None) => true,
            (Some(c), Some(best)) => c.macro_f1() > best,
        };
        if improved {
            self.state.best_macro_f1 = valid.as_ref().map(Confusion::macro_f1);
            self.state.best_epoch = Some(epoch);
            self.state.stale_epochs = 0;
            let bytes = pdnsrep_model::save_weights(self.model()?)?;
            self.state.best_sha256 = Some(sha256_hex(&bytes));
            req.run.put("best/model.bpk", bytes).await?;
        } else {
            self.state.stale_epochs += 1;
        }
        let report = EpochReport {
            epoch,
            step: self.state.cursor.step,
            train_loss,
            valid_macro_f1: valid.as_ref().map(Confusion::macro_f1),
            valid_accuracy: valid.as_ref().map(Confusion::accuracy),
            improved,
        };
        observer.epoch(&report);
        self.log_line(serde_json::json!({"kind": "epoch", "report": report}));
        let train = &self.config.train;
        let patience_out = train.patience > 0 && self.state.stale_epochs >= train.patience;
        self.state.stop_reason = if self.state.cursor.step >= self.total_steps {
            Some(
                if train.max_steps.is_some_and(|m| m <= self.state.cursor.step) {
                    "max_steps".into()
                } else {
                    "finished".into()
                },
            )
        } else if patience_out {
            Some("early_stopped".into())
        } else if epoch + 1 >= train.epochs {
            Some("finished".into())
        } else {
            None
        };
        self.state.cursor = Cursor {
            epoch: epoch + 1,
            step: self.state.cursor.step,
            rows: 0,
        };
        if self.state.stop_reason.is_some() {
            self.state.finished = true;
            self.write_final_model(req).await?;
        }
        self.checkpoint(req).await
    }

    /// The confusion matrix on the validation split, or `None` when it is empty.
    fn validate(&self) -> Result<Option<Confusion>> {
        if self.valid_units.is_empty() {
            return Ok(None);
        }
        let predictor = Predictor::Network {
            net: self.model()?.valid(),
            device: self.device.clone().without_autodiff(),
        };
        let stream = BatchStream::start(
            self.source.root.store().clone(),
            self.valid_units.clone(),
            Widths::of(&self.source.spec),
            stream_options(&self.config.train, 0, 0, false),
        );
        let mut confusion = Confusion::new(CLASSES.len());
        for batch in stream {
            let batch = batch?;
            let predicted = argmax_rows(&predictor.predict(&batch)?, CLASSES.len());
            for (&t, p) in batch.labels.iter().zip(predicted) {
                confusion.push(t, p);
            }
        }
        Ok((confusion.total() > 0).then_some(confusion))
    }

    async fn write_final_model(&self, req: &TrainRequest) -> Result<()> {
        let weights = match req.run.get("best/model.bpk").await? {
            Some(best) => {
                req.run
                    .verify("best/model.bpk", &best, self.state.best_sha256.as_deref())?;
                best
            }
            None => pdnsrep_model::save_weights(self.model()?)?,
        };
        let sha256 = sha256_hex(&weights);
        req.run.put("model/model.bpk", weights).await?;
        req.run
            .put("model/config.toml", Bytes::from(self.config.to_toml()))
            .await?;
        let info = serde_json::json!({
            "featurizer_digest": self.source.spec.digest,
            "best_epoch": self.state.best_epoch,
            "best_valid_macro_f1": self.state.best_macro_f1,
            "steps": self.state.cursor.step,
            "stop_reason": self.state.stop_reason,
            "network": self.net_config,
            "sha256": {"model.bpk": sha256},
        });
        req.run.put_json("model/info.json", &info).await
    }

    async fn checkpoint(&mut self, req: &TrainRequest) -> Result<()> {
        let model = pdnsrep_model::save_weights(self.model()?)?;
        let optimizer = self.optim.into_bytes().map_err(|e| Error::Encoding {
            action: "encode",
            location: req.run.root.display("checkpoints"),
            reason: format!("optimizer state: {e:?}"),
        })?;
        let optimizer = Bytes::copy_from_slice(&optimizer);
        req.run
            .write_checkpoint(&Checkpoint {
                model,
                optimizer,
                state: self.state.clone(),
            })
            .await?;
        let mut body = self.metrics.join("\n");
        body.push('\n');
        req.run.put(METRICS_FILE, Bytes::from(body)).await
    }

    fn log_line(&mut self, value: serde_json::Value) {
        self.metrics.push(value.to_string());
    }

    fn summary(
        &self,
        req: &TrainRequest,
        reason: &str,
        samples: u64,
        started: Instant,
    ) -> TrainSummary {
        let seconds = started.elapsed().as_secs_f64();
        TrainSummary {
            run: req.run.url().to_string(),
            model: "network".into(),
            steps: self.state.cursor.step,
            epochs: self.state.cursor.epoch,
            train_rows: self.train_rows,
            best_epoch: self.state.best_epoch,
            best_valid_macro_f1: self.state.best_macro_f1,
            stop_reason: reason.to_string(),
            resumed_from_step: self.resumed_from,
            samples_per_s: samples as f64 / seconds.max(1e-9),
            seconds,
            rule_threshold: None,
        }
    }
}

/// The lines of `metrics.jsonl` logged up to `step`: lines logged after the checkpoint are
/// logged again by the resumed run.
async fn read_metrics(run: &RunDir, step: u64) -> Result<Vec<String>> {
    let Some(bytes) = run.get(METRICS_FILE).await? else {
        return Ok(Vec::new());
    };
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["report"]["step"].as_u64())
                .is_some_and(|s| s <= step)
        })
        .map(str::to_string)
        .collect())
}
