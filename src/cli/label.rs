//! `pdnsrep label`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use pdnsrep_label::{EnrichConfig, LabelSummary, ListsConfig, SplitConfig, SplitMethod};
use pdnsrep_records::Root;

use super::UsageError;

#[derive(Debug, Args)]
pub(crate) struct LabelArgs {
    /// Storage root of the raw records: a local folder, file://, memory://, s3://, gs://, az://.
    #[arg(long = "in", default_value = "pdnsrep-data", env = "PDNSREP_ROOT")]
    pub input: String,
    /// Raw record dataset under the input root.
    #[arg(long, default_value = "raw/default")]
    pub dataset: String,
    /// Storage root of the labelled dataset (default: the input root).
    #[arg(long)]
    pub out: Option<String>,
    /// Labelled dataset under the output root (default: `labelled/<name of --dataset>`).
    #[arg(long)]
    pub out_dataset: Option<String>,
    /// The label sources (`docs/lists.md`).
    #[arg(long)]
    pub lists: PathBuf,
    /// MaxMind databases (City, Country, Enterprise, ASN, ISP; the type is read from each
    /// file), consulted in the order given.
    #[arg(long, num_args = 1..)]
    pub mmdb: Vec<PathBuf>,
    /// `prefix,country_code,family` CSV used where no database gives a country.
    #[arg(long)]
    pub prefixes: Option<PathBuf>,
    /// Public Suffix List file (default: the list compiled into the binary).
    #[arg(long)]
    pub psl: Option<PathBuf>,
    /// How labelled records are split (`docs/lists.md`, "Splits").
    #[arg(long, value_enum, default_value = "random")]
    pub split: SplitArg,
    /// Train, valid and test fractions, comma separated.
    #[arg(long, default_value = "0.8,0.1,0.1")]
    pub fractions: String,
    /// Seed of the split assignment: the same seed and input give the same splits.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SplitArg {
    /// Each record by a seeded hash.
    Random,
    /// Whole groups of records linked by registered domain or answer /24 (v4) or /48 (v6).
    Grouped,
    /// Whole registered domains; shared addresses may cross splits.
    GroupedDomain,
    /// By first seen: earliest to train, then valid, then test.
    Temporal,
}

pub(crate) async fn run(args: LabelArgs) -> anyhow::Result<u8> {
    let split = SplitConfig {
        method: match args.split {
            SplitArg::Random => SplitMethod::Random,
            SplitArg::Grouped => SplitMethod::Grouped,
            SplitArg::GroupedDomain => SplitMethod::GroupedDomain,
            SplitArg::Temporal => SplitMethod::Temporal,
        },
        fractions: SplitConfig::parse_fractions(&args.fractions).map_err(usage)?,
        seed: args.seed,
    };
    split.validate().map_err(usage)?;
    let lists = ListsConfig::from_path(&args.lists).map_err(usage)?;
    let enrich = EnrichConfig {
        psl: args.psl,
        mmdb: args.mmdb,
        prefixes: args.prefixes,
    };
    let root_in = Root::parse(&args.input)?;
    let (root_out, output) = super::output_of(
        &root_in,
        args.out.as_deref(),
        args.out_dataset.as_deref(),
        &args.dataset,
        "labelled",
    )?;
    // Fail on a missing input before spending seconds loading the lists.
    pdnsrep_records::read_manifest(&root_in, &args.dataset).await?;
    let summary = pdnsrep_label::label_dataset(
        &root_in,
        &args.dataset,
        &root_out,
        &output,
        &lists,
        &enrich,
        &split,
    )
    .await
    .map_err(|e| match e {
        // Lists and enrichment files are the user's input: a bad one is exit code 2.
        pdnsrep_label::Error::Records(_)
        | pdnsrep_label::Error::Worker { .. }
        | pdnsrep_label::Error::Arrow { .. } => e.into(),
        other => usage(other),
    })
    .with_context(|| format!("labelling `{}` under `{}`", args.dataset, root_in.url()))?;
    print_summary(&summary, args.json)?;
    Ok(0)
}

fn usage(e: pdnsrep_label::Error) -> anyhow::Error {
    UsageError(format!("{:#}", anyhow::Error::from(e))).into()
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_summary(s: &LabelSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
    } else {
        print!("{s}");
    }
    Ok(())
}
