//! `pdnsrep sweep`.

use std::path::PathBuf;

use clap::Args;
use pdnsrep_records::Root;
use pdnsrep_sweep::{Sweep, SweepRequest, run_sweep};
use pdnsrep_train::RunDir;

use super::UsageError;
use super::train::BackendArg;

#[derive(Debug, Args)]
pub(crate) struct SweepArgs {
    /// The sweep file (`configs/sweeps/*.toml`).
    pub sweep: PathBuf,
    /// Storage root of the sweep's feature datasets.
    #[arg(long, default_value = "pdnsrep-data", env = "PDNSREP_ROOT")]
    pub features: String,
    /// The feature dataset, for a sweep file without `[datasets]`.
    #[arg(long)]
    pub dataset: Option<String>,
    /// The sweep's folder, on any storage root (default: `<features>/sweeps/<sweep name>`).
    /// Running the same command again resumes: finished passes are kept, interrupted ones
    /// continue from their last checkpoint.
    #[arg(long)]
    pub run: Option<String>,
    /// Passes trained at once (default: the file's `concurrency`, else 1).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
    /// The backend to compute on (`--features wgpu` or `cuda` builds add the GPU ones).
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Print the outcome as JSON on stdout instead of the report.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: SweepArgs) -> anyhow::Result<u8> {
    let sweep = Sweep::from_path(&args.sweep, args.dataset.as_deref())?;
    let features = Root::parse(&args.features)?;
    let run = match &args.run {
        Some(url) => url.clone(),
        None => features.display(&format!("sweeps/{}", sweep.name)),
    };
    let backend = pdnsrep_train::Backend::from(args.backend);
    backend.device()?;
    if run.starts_with("memory:") {
        return Err(UsageError(
            "a sweep reopens its passes by URL, which a `memory://` store does not survive; \
             use a folder or a bucket"
                .into(),
        )
        .into());
    }
    let out = RunDir::open(&run)?;
    let outcome = run_sweep(SweepRequest {
        sweep,
        features,
        out: out.clone(),
        backend,
        concurrency: args.concurrency.map(usize::from),
    })
    .await?;
    print_outcome(&outcome, &out, args.json).await?;
    Ok(0)
}

#[expect(clippy::print_stdout, reason = "the report is the command's output")]
async fn print_outcome(
    outcome: &pdnsrep_sweep::SweepOutcome,
    out: &RunDir,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(outcome)?);
        return Ok(());
    }
    if let Some(md) = out.get("report.md").await? {
        print!("{}", String::from_utf8_lossy(&md));
    }
    println!();
    println!(
        "{} passes trained now, {} found done; report: {} and {}",
        outcome.trained, outcome.already_done, outcome.report_md, outcome.report_html
    );
    Ok(())
}
