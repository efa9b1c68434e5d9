//! `pdnsrep serve`: the real-time reputation service.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use pdnsrep_label::{EnrichConfig, ListsConfig};
use pdnsrep_registry::Reference;
use pdnsrep_serve::{Enrichment, ServeConfig, ServeSettings, Server, SnapshotSource};

use super::UsageError;
use super::registry::RegistryArg;
use super::train::BackendArg;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub registry: RegistryArg,
    /// The model: `<name>@<alias>` (followed when the alias moves), `<name>@v<N>` or `<name>`
    /// (the latest version, followed too).
    #[arg(long)]
    pub model: String,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Storage root of the labelled records to serve (default: the records behind the model's
    /// training features).
    #[arg(long, requires = "dataset")]
    pub snapshot: Option<String>,
    /// The labelled dataset under `--snapshot`.
    #[arg(long, requires = "snapshot")]
    pub dataset: Option<String>,
    /// MaxMind databases for posted records' addresses (country, AS, ISP), in order.
    #[arg(long)]
    pub mmdb: Vec<PathBuf>,
    /// A `prefix,country_code,family` table, where no database gave a country.
    #[arg(long)]
    pub prefixes: Option<PathBuf>,
    /// A Public Suffix List file (default: the compiled-in copy).
    #[arg(long)]
    pub psl: Option<PathBuf>,
    /// The `lists.toml` the records were labelled with: gives posted names their top-list
    /// ranks (without it, ranks come from snapshot records of the same name or domain).
    #[arg(long)]
    pub lists: Option<PathBuf>,
    /// Domains and addresses with fewer records get `insufficient_evidence`.
    #[arg(long, default_value_t = 3)]
    pub min_evidence: u64,
    /// Seconds between checks of the alias; 0 never checks.
    #[arg(long, default_value_t = 10.0)]
    pub poll_seconds: f64,
    /// Largest request body, in KiB.
    #[arg(long, default_value_t = 1024)]
    pub max_body_kib: usize,
    /// Most records in one `POST /v1/score`.
    #[arg(long, default_value_t = 1000)]
    pub max_records: usize,
    /// Longest time a request may take, in seconds (then 503).
    #[arg(long, default_value_t = 10.0)]
    pub timeout_seconds: f64,
    /// The backend to compute on.
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: BackendArg,
    /// Print the listening line as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let usage = |m: String| UsageError(m);
    let seconds = |name: &str, v: f64, zero_ok: bool| {
        if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) && v < 1e6 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(usage(format!(
                "`--{name} {v}` must be a positive number of seconds below 1000000"
            )))
        }
    };
    if args.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(usage(format!(
            "`--listen {}` is not an address and port such as 127.0.0.1:8080",
            args.listen
        ))
        .into());
    }
    // Serving only reads: a local folder that does not exist is a typo, not a place to create.
    for (flag, location) in [
        ("--registry", Some(&args.registry.registry)),
        ("--snapshot", args.snapshot.as_ref()),
    ] {
        if let Some(location) = location
            && !location.contains("://")
            && !std::path::Path::new(location).is_dir()
        {
            return Err(usage(format!("`{flag} {location}`: no such folder")).into());
        }
    }
    let poll = seconds("poll-seconds", args.poll_seconds, true)?;
    let timeout = seconds("timeout-seconds", args.timeout_seconds, false)?;
    if args.max_records == 0 || args.max_body_kib == 0 {
        return Err(usage("`--max-records` and `--max-body-kib` must be at least 1".into()).into());
    }
    let lists = args
        .lists
        .as_deref()
        .map(ListsConfig::from_path)
        .transpose()
        .map_err(|e| usage(e.to_string()))?;
    let enrich = EnrichConfig {
        psl: args.psl,
        mmdb: args.mmdb,
        prefixes: args.prefixes,
    };
    let enrichment = Enrichment::load(&enrich, lists.as_ref())?;
    let config = ServeConfig {
        listen: args.listen,
        registry: args.registry.registry,
        reference: Reference::parse(&args.model)?,
        settings: ServeSettings {
            min_evidence: args.min_evidence,
            backend: args.backend.into(),
            snapshot: SnapshotSource {
                labelled: args.snapshot.zip(args.dataset),
            },
        },
        poll: (!poll.is_zero()).then_some(poll),
        max_body: args.max_body_kib * 1024,
        max_records: args.max_records,
        timeout,
    };
    let server = Server::start(config, enrichment).await?;
    announce(&server, args.json)?;
    server.run(shutdown()).await?;
    tracing::info!("stopped");
    Ok(0)
}

#[expect(
    clippy::print_stdout,
    reason = "the listening line is the command's output"
)]
fn announce(server: &Server, json: bool) -> anyhow::Result<()> {
    let address = server.local_addr()?;
    if json {
        let line = serde_json::json!({ "listening": format!("http://{address}"), "model": server.model() });
        println!("{line}");
    } else {
        println!("listening on http://{address} ({})", server.model());
    }
    std::io::stdout().flush()?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
