//! `pdnsrep train`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use pdnsrep_records::Root;
use pdnsrep_train::{
    Backend, EpochReport, Observer, RunConfig, RunDir, StepReport, TrainRequest, TrainSummary,
};

use super::UsageError;

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Storage root of the feature dataset: a local folder, file://, memory://, s3://, gs://, az://.
    #[arg(long, default_value = "pdnsrep-data", env = "PDNSREP_ROOT")]
    pub features: String,
    /// Feature dataset under the root.
    #[arg(long, default_value = "features/default")]
    pub dataset: String,
    /// Run config (`configs/models/*.toml`); required for a new run, optional with `--resume`
    /// (then it must match the saved one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Folder of the run (any storage root): checkpoints, metrics, the final model.
    #[arg(long)]
    pub run: String,
    /// Continue the run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum BackendArg {
    /// Burn's pure-Rust CPU backend.
    Flex,
    /// Burn's ndarray CPU backend (slower; a second implementation to cross-check against).
    Ndarray,
    /// Vulkan/Metal/WebGPU through wgpu (build with `--features wgpu`).
    Wgpu,
    /// NVIDIA CUDA (build with `--features cuda`).
    Cuda,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Flex => Backend::Flex,
            BackendArg::Ndarray => Backend::Ndarray,
            BackendArg::Wgpu => Backend::Wgpu,
            BackendArg::Cuda => Backend::Cuda,
        }
    }
}

pub(crate) async fn run(args: TrainArgs, quiet: bool) -> anyhow::Result<u8> {
    let config = match &args.config {
        Some(path) => Some(RunConfig::from_path(path)?),
        None if args.resume => None,
        None => return Err(UsageError("a new run needs `--config <model.toml>`".into()).into()),
    };
    let backend = Backend::from(args.backend);
    backend.device()?;
    let passes = match &config {
        Some(c) => c.passes.count > 1,
        // A resumed multi-pass run is recognized by its saved config.
        None => RunDir::open(&args.run)?
            .get("passes-config.json")
            .await?
            .is_some(),
    };
    if passes {
        // Each pass is logged as it ends, and listed in `<run>/passes.json`.
        let summary = super::passes::train_passes(
            Root::parse(&args.features)?,
            args.dataset.clone(),
            &args.run,
            config,
            args.resume,
            backend,
            quiet,
        )
        .await?;
        print_summary(&summary, args.json)?;
        return Ok(0);
    }
    let request = TrainRequest {
        features: Root::parse(&args.features)?,
        dataset: args.dataset.clone(),
        run: RunDir::open(&args.run)?,
        config,
        resume: args.resume,
        backend,
        stop_after_steps: None,
        warm_start: None,
    };
    let mut progress = TrainProgress::new(quiet);
    let summary = pdnsrep_train::train(request, &mut progress)
        .await
        .with_context(|| format!("training on `{}` into `{}`", args.dataset, args.run))?;
    progress.finish();
    print_summary(&summary, args.json)?;
    Ok(0)
}

/// A bar over the run's steps on a terminal; a log line every 10 s otherwise.
pub(crate) struct TrainProgress {
    bar: Option<ProgressBar>,
    last_log: Instant,
}

impl TrainProgress {
    pub(crate) fn new(quiet: bool) -> TrainProgress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} step {pos}/{len} (eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        TrainProgress {
            bar,
            last_log: Instant::now(),
        }
    }

    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for TrainProgress {
    fn step(&mut self, r: &StepReport) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(r.total_steps);
                bar.set_position(r.step);
                bar.set_message(format!(
                    "epoch {} loss {:.4} lr {:.2e} {:.0} samples/s",
                    r.epoch, r.loss, r.learning_rate, r.samples_per_s
                ));
            }
            None if self.last_log.elapsed() >= Duration::from_secs(10) => {
                self.last_log = Instant::now();
                tracing::info!(
                    epoch = r.epoch,
                    step = r.step,
                    total_steps = r.total_steps,
                    loss = format!("{:.4}", r.loss),
                    samples_per_s = format!("{:.0}", r.samples_per_s),
                    "training"
                );
            }
            None => {}
        }
    }

    fn epoch(&mut self, r: &EpochReport) {
        let f1 = r
            .valid_macro_f1
            .map_or_else(|| "n/a".to_string(), |f| format!("{f:.4}"));
        let line = format!(
            "epoch {} done at step {}: train loss {:.4}, valid macro-F1 {f1}{}",
            r.epoch,
            r.step,
            r.train_loss,
            if r.improved { " (best)" } else { "" }
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => tracing::info!("{line}"),
        }
    }
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_summary(s: &TrainSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!("run:          {}", s.run);
    println!("model:        {}", s.model);
    if let Some(t) = s.rule_threshold {
        println!("threshold:    domain_queries < {t} → malicious");
    }
    println!(
        "stopped:      {} after {} steps, {} epochs",
        s.stop_reason, s.steps, s.epochs
    );
    if let Some(step) = s.resumed_from_step {
        println!("resumed from: step {step}");
    }
    println!("train rows:   {}", s.train_rows);
    if let (Some(e), Some(f1)) = (s.best_epoch, s.best_valid_macro_f1) {
        println!("best epoch:   {e} (valid macro-F1 {f1:.4})");
    }
    println!(
        "speed:        {:.0} samples/s over {:.1} s",
        s.samples_per_s, s.seconds
    );
    Ok(())
}
