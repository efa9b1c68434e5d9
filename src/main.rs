//! `pdnsrep`: learn and serve the reputation of domains and IP addresses from passive DNS.
//!
//! The binary only parses arguments, sets up logging and progress, and maps errors to exit
//! codes; every stage lives in a library crate under `crates/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.verbose, args.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_RUNTIME);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = cli::exit_code(&e);
            cli::report_error(&e);
            ExitCode::from(code)
        }
    }
}
