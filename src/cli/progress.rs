//! Progress for long runs: a bar on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A sample of a job's counters, as the job reports them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub done_bytes: u64,
    pub total_bytes: u64,
    pub items: u64,
}

/// Reports progress until dropped.
#[derive(Debug)]
pub(crate) struct Reporter {
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Instant,
    what: &'static str,
}

impl Reporter {
    /// `what` names the items counted (for example "records").
    pub(crate) fn new(what: &'static str, quiet: bool) -> Reporter {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Reporter {
            bar,
            started: Instant::now(),
            last_log: Instant::now(),
            what,
        }
    }

    pub(crate) fn update(&mut self, s: Sample) {
        let rate = s.items as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        match &self.bar {
            Some(bar) => {
                bar.set_length(s.total_bytes.max(s.done_bytes));
                bar.set_position(s.done_bytes);
                bar.set_message(format!("{} {} ({:.0}/s)", s.items, self.what, rate));
            }
            None if self.last_log.elapsed() >= Duration::from_secs(10) => {
                self.last_log = Instant::now();
                tracing::info!(
                    bytes = s.done_bytes,
                    total_bytes = s.total_bytes,
                    items = s.items,
                    rate = format!("{rate:.0}/s"),
                    "progress ({})",
                    self.what
                );
            }
            None => {}
        }
    }

    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
