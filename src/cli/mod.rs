//! Command-line parsing and dispatch.
//!
//! Exit codes: 0 success; 1 the run finished but a gate failed (`eval --min-macro-f1`); 2 bad
//! usage, input or configuration; 3 a runtime failure (storage, I/O, an internal error).

mod dga;
mod eval;
mod features;
mod ingest;
mod label;
mod passes;
mod predict;
mod progress;
mod registry;
mod score;
mod serve;
mod sweep;
mod synth;
mod train;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};

pub(crate) const EXIT_INPUT: u8 = 2;
pub(crate) const EXIT_RUNTIME: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "pdnsrep", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success, 1 a gate failed, 2 bad usage, input or \
                        configuration, 3 runtime failure (storage, I/O)."
)]
pub(crate) struct Cli {
    /// More log output (-v: debug, -vv: trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read passive DNS files and write them as a merged, partitioned record dataset.
    Ingest(ingest::IngestArgs),
    /// Generate a synthetic passive DNS world with its label lists and ground truth.
    Synth(synth::SynthArgs),
    /// Label, enrich and split a raw record dataset from threat-intelligence and top lists.
    Label(label::LabelArgs),
    /// Compute model features (aggregates, neighbour counts, vocabularies, name symbols) from a
    /// labelled dataset, out of core, with the featurizer spec that scoring reuses.
    Features(features::FeaturesArgs),
    /// Train a reputation model (rule, logistic regression, MLP) on a feature dataset.
    Train(train::TrainArgs),
    /// Evaluate a trained run on a split: report.md, eval.json and figures under `<run>/eval`.
    Eval(eval::EvalArgs),
    /// Write a run's class probabilities for every record of a feature dataset, keyed by
    /// record: the input of a second pass (`features --predictions`).
    Predict(predict::PredictArgs),
    /// The names-only detector of algorithmically generated domains.
    Dga(dga::DgaArgs),
    /// Train a grid (and random samples) of configs as one resumable tree of passes, and
    /// write the paper's table for each dataset (`report.md`, `report.html`).
    Sweep(sweep::SweepArgs),
    /// Publish a finished run, or a sweep's best trial, as the next immutable version of a
    /// model in a registry.
    Publish(registry::PublishArgs),
    /// List, show, diff, verify and promote published model versions.
    Registry(registry::RegistryArgs),
    /// Score every record of a dataset with a published model, and aggregate domain- and
    /// IP-level reputation with its evidence (Parquet, and COF NDJSON with `--cof`).
    Score(score::ScoreArgs),
    /// Serve reputation over HTTP: lookups of domains and addresses, scoring of posted
    /// records, health, metrics; follows a model alias and swaps versions without downtime.
    Serve(serve::ServeArgs),
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Ingest(args) => ingest::run(args, cli.quiet).await,
        Command::Synth(args) => synth::run(args).await,
        Command::Label(args) => label::run(args).await,
        Command::Features(args) => features::run(args).await,
        Command::Train(args) => train::run(args, cli.quiet).await,
        Command::Eval(args) => eval::run(args).await,
        Command::Predict(args) => predict::run(args).await,
        Command::Dga(args) => dga::run(args, cli.quiet).await,
        Command::Sweep(args) => sweep::run(args).await,
        Command::Publish(args) => registry::publish(args).await,
        Command::Registry(args) => registry::run(args).await,
        Command::Score(args) => score::run(args).await,
        Command::Serve(args) => serve::run(args).await,
    }
}

pub(crate) fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Errors caused by what the user gave us map to 2; everything else to 3.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(err) = cause.downcast_ref::<pdnsrep_ingest::Error>() {
            return match err {
                pdnsrep_ingest::Error::BadLine(_)
                | pdnsrep_ingest::Error::Duplicate(_)
                | pdnsrep_ingest::Error::ReadAt { .. }
                | pdnsrep_ingest::Error::Incomplete { .. }
                | pdnsrep_ingest::Error::UnknownFormat { .. }
                | pdnsrep_ingest::Error::NoInput
                | pdnsrep_ingest::Error::Read { .. } => EXIT_INPUT,
                pdnsrep_ingest::Error::Records(inner) => records_exit_code(inner),
                _ => EXIT_RUNTIME,
            };
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_records::Error>() {
            return records_exit_code(err);
        }
        if let Some(pdnsrep_label::Error::Records(err)) =
            cause.downcast_ref::<pdnsrep_label::Error>()
        {
            return records_exit_code(err);
        }
        if let Some(pdnsrep_features::Error::Records(err)) =
            cause.downcast_ref::<pdnsrep_features::Error>()
        {
            return records_exit_code(err);
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_synth::Error>() {
            return match err {
                pdnsrep_synth::Error::Names { .. }
                | pdnsrep_synth::Error::Config { .. }
                | pdnsrep_synth::Error::ConfigFile { .. }
                | pdnsrep_synth::Error::ListsDirRequired { .. } => EXIT_INPUT,
                pdnsrep_synth::Error::Dataset { source, .. } => records_exit_code(source),
                _ => EXIT_RUNTIME,
            };
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_registry::Error>() {
            return if err.is_input() {
                EXIT_INPUT
            } else {
                EXIT_RUNTIME
            };
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_serve::Error>() {
            return if err.is_input() {
                EXIT_INPUT
            } else {
                EXIT_RUNTIME
            };
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_sweep::Error>() {
            return if err.is_input() {
                EXIT_INPUT
            } else {
                EXIT_RUNTIME
            };
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_train::Error>() {
            return if err.is_input() {
                EXIT_INPUT
            } else {
                EXIT_RUNTIME
            };
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_model::Error>() {
            return match err {
                pdnsrep_model::Error::Config(_) | pdnsrep_model::Error::ConfigFile { .. } => {
                    EXIT_INPUT
                }
                _ => EXIT_RUNTIME,
            };
        }
        if let Some(err) = cause.downcast_ref::<pdnsrep_eval::Error>() {
            tracing::debug!(%err, "evaluation failed");
            return EXIT_RUNTIME;
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return EXIT_INPUT;
        }
    }
    EXIT_RUNTIME
}

fn records_exit_code(err: &pdnsrep_records::Error) -> u8 {
    match err {
        pdnsrep_records::Error::InvalidRoot { .. }
        | pdnsrep_records::Error::InvalidDataset { .. }
        | pdnsrep_records::Error::DatasetNotFound { .. }
        | pdnsrep_records::Error::WouldReplace { .. } => EXIT_INPUT,
        _ => EXIT_RUNTIME,
    }
}

/// Where a stage writes: `--out` (default: the input root) and `--out-dataset` (default:
/// `<stage>/<last component of the input dataset>`).
pub(crate) fn output_of(
    root_in: &pdnsrep_records::Root,
    out: Option<&str>,
    out_dataset: Option<&str>,
    input: &str,
    stage: &str,
) -> anyhow::Result<(pdnsrep_records::Root, String)> {
    let root = match out {
        Some(url) => pdnsrep_records::Root::parse(url)?,
        None => root_in.clone(),
    };
    let dataset = match out_dataset {
        Some(name) => name.to_string(),
        None => {
            let name = input
                .trim_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("records");
            format!("{stage}/{name}")
        }
    };
    Ok((root, dataset))
}

/// A mistake in the arguments that clap cannot catch (for example a bad value combination).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

#[expect(
    clippy::print_stderr,
    reason = "the binary owns stderr for the final error"
)]
pub(crate) fn report_error(e: &anyhow::Error) {
    eprintln!("error: {e:#}");
}
