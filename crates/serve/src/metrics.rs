//! Prometheus metrics of the service.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteStatus {
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Route {
    pub route: String,
}

/// Every metric, registered once.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub registry: Registry,
    pub requests: Family<RouteStatus, Counter>,
    pub latency: Family<Route, Histogram>,
    pub records_scored: Counter,
    pub model_version: Gauge,
    pub swaps: Counter,
    pub swap_failures: Counter,
    pub snapshot_records: Gauge,
    pub snapshot_bytes: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pdnsrep");
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = Family::<Route, Histogram>::new_with_constructor(|| {
            // 50 µs to ~6.5 s.
            Histogram::new(exponential_buckets(0.00005, 2.0, 18))
        });
        let metrics = Metrics {
            requests,
            latency,
            records_scored: Counter::default(),
            model_version: Gauge::default(),
            swaps: Counter::default(),
            swap_failures: Counter::default(),
            snapshot_records: Gauge::default(),
            snapshot_bytes: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            metrics.latency.clone(),
        );
        registry.register(
            "records_scored",
            "Posted records scored",
            metrics.records_scored.clone(),
        );
        registry.register(
            "model_version",
            "Version of the model being served",
            metrics.model_version.clone(),
        );
        registry.register(
            "model_swaps",
            "Times a moved alias was loaded and swapped in",
            metrics.swaps.clone(),
        );
        registry.register(
            "model_swap_failures",
            "Times a moved alias could not be loaded (the old version kept serving)",
            metrics.swap_failures.clone(),
        );
        registry.register(
            "snapshot_records",
            "Records in the scored snapshot",
            metrics.snapshot_records.clone(),
        );
        registry.register(
            "snapshot_bytes",
            "Approximate memory held by the snapshot",
            metrics.snapshot_bytes.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
