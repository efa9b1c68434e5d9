//! `synth <out> <records> [seed] [parquet|cof]`: generates a world and prints its summary as
//! JSON, without the CLI (for benchmarks of this crate alone).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use pdnsrep_records::Root;
use pdnsrep_synth::{Format, OutputOptions, SynthConfig, generate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: synth <out> <records> [seed] [parquet|cof]");
        std::process::exit(2);
    }
    let cfg = SynthConfig {
        records: args[2].parse()?,
        seed: args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1),
        ..SynthConfig::default()
    };
    let format = if args.get(4).is_some_and(|f| f == "cof") {
        Format::Cof
    } else {
        Format::Parquet
    };
    let root = Root::parse(&args[1])?;
    let options = OutputOptions {
        format,
        ..OutputOptions::default()
    };
    let summary = generate(&root, "bench", &cfg, &options).await?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
