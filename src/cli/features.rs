//! `pdnsrep features`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use pdnsrep_features::{FeatureOptions, FeatureSummary, Neighbours};
use pdnsrep_records::Root;

use super::UsageError;

#[derive(Debug, Args)]
pub(crate) struct FeaturesArgs {
    /// Storage root of the labelled records: a local folder, file://, memory://, s3://, gs://,
    /// az://.
    #[arg(long = "in", default_value = "pdnsrep-data", env = "PDNSREP_ROOT")]
    pub input: String,
    /// Labelled record dataset under the input root.
    #[arg(long, default_value = "labelled/default")]
    pub dataset: String,
    /// Storage root of the feature dataset (default: the input root).
    #[arg(long)]
    pub out: Option<String>,
    /// Feature dataset under the output root (default: `features/<name of --dataset>`).
    #[arg(long)]
    pub out_dataset: Option<String>,
    /// Take neighbour counts from this predictions dataset (soft counts from class
    /// probabilities) instead of from training labels only; for second and later passes.
    #[arg(long)]
    pub predictions: Option<String>,
    /// Storage root of `--predictions` (default: the input root).
    #[arg(long, requires = "predictions")]
    pub predictions_root: Option<String>,
    /// Count a neighbour's class only when its probability reaches this value (hard counts).
    #[arg(long, requires = "predictions")]
    pub threshold: Option<f64>,
    /// Categorical values seen fewer times in training rows map to the out-of-vocabulary code.
    #[arg(long, default_value_t = 10)]
    pub min_count: u64,
    /// At most this many values per categorical vocabulary (the most frequent).
    #[arg(long, default_value_t = 10_000)]
    pub max_vocab: usize,
    /// Symbols per encoded owner name.
    #[arg(long, default_value_t = 64)]
    pub char_length: usize,
    /// Memory for the query engine, e.g. `2GiB` or `512MiB`; past it, aggregations, sorts and
    /// joins spill to `--temp-dir`. Unlimited by default.
    #[arg(long, value_parser = parse_size)]
    pub memory: Option<usize>,
    /// Folder for spill files and the intermediate table (default: the system's).
    #[arg(long)]
    pub temp_dir: Option<PathBuf>,
    /// Query engine threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the aggregation query and exit (for anchors running it in another engine).
    #[arg(long)]
    pub print_sql: bool,
}

pub(crate) async fn run(args: FeaturesArgs) -> anyhow::Result<u8> {
    if args.print_sql {
        print_sql(&pdnsrep_features::aggregation_sql(
            args.predictions.is_some(),
        ));
        return Ok(0);
    }
    let root_in = Root::parse(&args.input)?;
    let (root_out, output) = super::output_of(
        &root_in,
        args.out.as_deref(),
        args.out_dataset.as_deref(),
        &args.dataset,
        "features",
    )?;
    let neighbours = match &args.predictions {
        None => Neighbours::Labels,
        Some(dataset) => Neighbours::Predictions {
            root: match &args.predictions_root {
                Some(url) => Root::parse(url)?,
                None => root_in.clone(),
            },
            dataset: dataset.clone(),
            threshold: args.threshold,
        },
    };
    let defaults = FeatureOptions::default();
    let options = FeatureOptions {
        neighbours,
        min_count: args.min_count,
        max_vocab: args.max_vocab,
        char_length: args.char_length,
        memory_limit: args.memory,
        temp_dir: args.temp_dir.clone(),
        threads: args.threads.unwrap_or(defaults.threads),
        ..defaults
    };
    let summary =
        pdnsrep_features::compute_features(&root_in, &args.dataset, &root_out, &output, &options)
            .await
            .map_err(|e| match e {
                pdnsrep_features::Error::InputSchema { .. }
                | pdnsrep_features::Error::Predictions { .. }
                | pdnsrep_features::Error::Option { .. } => UsageError(format!("{e}")).into(),
                other => anyhow::Error::from(other),
            })
            .with_context(|| {
                format!(
                    "computing features of `{}` under `{}`",
                    args.dataset,
                    root_in.url()
                )
            })?;
    print_summary(&summary, args.json)?;
    Ok(0)
}

/// Parses `123`, `64MiB`, `2GiB`, `1.5GB` (binary and decimal units).
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 512MiB or 2GiB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB or GiB)")),
    };
    Ok((number * scale) as usize)
}

fn human_bytes(bytes: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    const MIB: f64 = 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.2} GiB", b / GIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

#[expect(clippy::print_stdout, reason = "the query is the command's output")]
fn print_sql(sql: &str) {
    println!("{sql}");
}

#[expect(clippy::print_stdout, reason = "the summary is the command's output")]
fn print_summary(s: &FeatureSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let mut out = String::new();
    writeln!(out, "features: {} records -> {}", s.rows, s.output)?;
    for (split, rows) in &s.rows_by_split {
        let labelled = s.labelled_by_split.get(split).copied().unwrap_or(0);
        writeln!(
            out,
            "  {split:<11} {rows:>12} records, {labelled:>12} labelled"
        )?;
    }
    let vocab: Vec<String> = s
        .vocabularies
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(
        out,
        "  {} numeric features, vocabularies: {}, names as {} symbols",
        s.numeric_features,
        vocab.join(", "),
        s.char_length
    )?;
    writeln!(out, "  neighbour counts from: {}", s.neighbours)?;
    if let Some(c) = &s.predictions {
        writeln!(
            out,
            "  predictions found for {} of the {} records that need one",
            c.needed - c.missing,
            c.needed
        )?;
    }
    writeln!(out, "  featurizer spec: {}", s.spec_digest)?;
    let limit = s
        .memory_limit
        .map_or("unlimited".to_string(), |m| human_bytes(m as u64));
    writeln!(
        out,
        "  engine: {}, memory {limit}, {} spills ({}), peak RSS {}",
        s.engine,
        s.spill_count,
        human_bytes(s.spilled_bytes as u64),
        s.peak_rss_bytes.map_or("unknown".to_string(), human_bytes)
    )?;
    writeln!(
        out,
        "  time: aggregate {:.1} s, fit {:.1} s, encode+write {:.1} s, total {:.1} s ({:.0} records/s)",
        s.aggregate_s,
        s.fit_s,
        s.encode_s,
        s.elapsed_s,
        s.rows as f64 / s.elapsed_s.max(1e-9)
    )?;
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(
            parse_size("3 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
    }
}
