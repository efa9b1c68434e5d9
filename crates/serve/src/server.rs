//! The HTTP service: routes, errors, limits, metrics and the hot swap of a moved alias.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pdnsrep_records::{RrType, canonical_rdata, normalize_name};
use pdnsrep_registry::{At, Reference, Registry};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::active::{Active, Enrichment, ServeSettings, verdict, view};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, Route, RouteStatus};
use crate::snapshot::{SnapRecord, parse_ip};

/// The routes, as the OpenAPI document lists them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/model"),
    ("get", "/v1/domains/{name}"),
    ("get", "/v1/ips/{ip}"),
    ("post", "/v1/score"),
];

/// The OpenAPI 3.1 document of the service.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Everything the service is started with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: String,
    pub registry: String,
    pub reference: Reference,
    pub settings: ServeSettings,
    /// How often a moved alias is looked for; `None` never.
    pub poll: Option<Duration>,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Most records one `POST /v1/score` may carry.
    pub max_records: usize,
    /// Longest time a request may take.
    pub timeout: Duration,
}

struct AppState {
    active: ArcSwap<Active>,
    enrichment: Enrichment,
    metrics: Metrics,
    max_records: usize,
    max_body: usize,
    timeout: Duration,
    draining: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("model", &self.active.load().label())
            .finish_non_exhaustive()
    }
}

/// A service with its model loaded and its port bound, not yet answering.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    config: ServeConfig,
    registry: Registry,
}

impl Server {
    /// Binds the port (so a taken port fails before minutes of loading), then loads the model
    /// and the snapshot; connections wait in the backlog until [`Server::run`].
    pub async fn start(config: ServeConfig, enrichment: Enrichment) -> Result<Server> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|source| Error::Listen {
                address: config.listen.clone(),
                source,
            })?;
        let registry = Registry::open(&config.registry)?;
        let active = Active::load(&registry, &config.reference, &config.settings).await?;
        let metrics = Metrics::new();
        observe(&metrics, &active);
        tracing::info!(
            model = %active.label(),
            records = active.snapshot.len(),
            seconds = active.load_seconds,
            "model and snapshot loaded"
        );
        let state = Arc::new(AppState {
            active: ArcSwap::from_pointee(active),
            enrichment,
            metrics,
            max_records: config.max_records,
            max_body: config.max_body,
            timeout: config.timeout,
            draining: false.into(),
        });
        Ok(Server {
            listener,
            state,
            config,
            registry,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|source| Error::Listen {
            address: self.config.listen.clone(),
            source,
        })
    }

    /// The model being served, `<name>@v<N>`.
    pub fn model(&self) -> String {
        self.state.active.load().label()
    }

    /// Answers until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let app = router(self.state.clone(), &self.config);
        if let Some(every) = self.config.poll
            && !matches!(self.config.reference.at, At::Version(_))
        {
            let watcher = Watcher {
                registry: self.registry.clone(),
                reference: self.config.reference.clone(),
                settings: self.config.settings.clone(),
                state: self.state.clone(),
            };
            tokio::spawn(watcher.run(every));
        }
        let state = self.state.clone();
        let address = self.config.listen.clone();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                state
                    .draining
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            })
            .await
            .map_err(|source| Error::Listen { address, source })
    }
}

fn observe(metrics: &Metrics, active: &Active) {
    metrics.model_version.set(i64::from(active.version));
    metrics.snapshot_records.set(active.snapshot.len() as i64);
    metrics
        .snapshot_bytes
        .set(active.snapshot.approx_bytes() as i64);
}

/// Follows an alias: when it moves, loads the new version beside the old one and swaps it in;
/// requests in flight finish on the version they started with.
struct Watcher {
    registry: Registry,
    reference: Reference,
    settings: ServeSettings,
    state: Arc<AppState>,
}

impl Watcher {
    async fn run(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        // A version that failed to load is not tried again until the alias moves on.
        let mut failed: Option<u32> = None;
        loop {
            tick.tick().await;
            let current = self.state.active.load().version;
            let version = match self.registry.resolve(&self.reference).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot resolve the served alias");
                    continue;
                }
            };
            if version == current || failed == Some(version) {
                continue;
            }
            tracing::info!(from = current, to = version, "alias moved: loading");
            let pinned = Reference {
                model: self.reference.model.clone(),
                at: At::Version(version),
            };
            match self.load(pinned).await {
                Ok(active) => {
                    observe(&self.state.metrics, &active);
                    let label = active.label();
                    self.state.active.store(Arc::new(active));
                    self.state.metrics.swaps.inc();
                    tracing::info!(model = %label, "swapped in");
                }
                Err(e) => {
                    failed = Some(version);
                    self.state.metrics.swap_failures.inc();
                    tracing::error!(error = %e, version, "cannot load the new version: keeping the old one");
                }
            }
        }
    }

    /// Loads on a thread of its own: scoring a snapshot is CPU work that must not hold up the
    /// threads answering requests.
    async fn load(&self, reference: Reference) -> Result<Active> {
        let (registry, settings) = (self.registry.clone(), self.settings.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let result = match runtime {
                Ok(rt) => rt.block_on(Active::load(&registry, &reference, &settings)),
                Err(e) => Err(Error::Unsupported(format!("cannot start a loader: {e}"))),
            };
            let _ = tx.send(result);
        });
        rx.await
            .unwrap_or_else(|_| Err(Error::Unsupported("the loader thread died".into())))
    }
}

fn router(state: Arc<AppState>, config: &ServeConfig) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/model", get(model))
        .route("/v1/domains/{name}", get(domain))
        .route("/v1/ips/{ip}", get(ip))
        .route("/v1/score", post(score))
        .route_layer(middleware::from_fn_with_state(state.clone(), deadline))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }))
        .with_state(state)
}

/// Answers 503 (as JSON) when a request runs past `--timeout-seconds`. Work already handed to
/// a blocking thread cannot be stopped from here; the scoring loop checks the same deadline
/// between records and gives up on its own.
async fn deadline(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than {:.1} s (`--timeout-seconds`)",
                state.timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

fn count(state: &AppState, route: &str, status: StatusCode) {
    state
        .metrics
        .requests
        .get_or_create(&RouteStatus {
            route: route.to_string(),
            status: status.as_u16(),
        })
        .inc();
}

async fn track(
    State(state): State<Arc<AppState>>,
    path: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = path.as_str().to_string();
    let response = next.run(request).await;
    count(&state, &route, response.status());
    state
        .metrics
        .latency
        .get_or_create(&Route { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// An error answer: `{"error": "...", "field": "..."}` with a 4xx or 5xx status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
        }
    }

    fn bad_field(field: &str, error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: Some(field.to_string()),
        }
    }

    fn invalid(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: error.into(),
            field: Some(field.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.error, "status": self.status.as_u16() });
        if let Some(field) = self.field {
            body["field"] = Value::String(field);
        }
        (self.status, Json(body)).into_response()
    }
}

impl ApiError {
    fn from_body(r: JsonRejection, max_body: usize) -> ApiError {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than {} KiB (`--max-body-kib`)",
                    max_body / 1024
                ),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON with `content-type: application/json`",
            ),
            status => ApiError::new(status, r.body_text()),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "request failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error: {e}"),
    )
}

async fn not_found(State(state): State<Arc<AppState>>) -> ApiError {
    count(&state, "<unmatched>", StatusCode::NOT_FOUND);
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint (see /openapi.json)",
    )
}

async fn method_not_allowed(State(state): State<Arc<AppState>>) -> ApiError {
    count(
        &state,
        "<method not allowed>",
        StatusCode::METHOD_NOT_ALLOWED,
    );
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint (see /openapi.json)",
    )
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let active = state.active.load();
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    Json(json!({ "status": "ready", "model": active.label() })).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn model(State(state): State<Arc<AppState>>) -> Json<Value> {
    let a = state.active.load_full();
    let artifact = &a.loaded.artifact;
    Json(json!({
        "model": a.label(),
        "name": a.model,
        "version": a.version,
        "kind": artifact.kind,
        "created_at": artifact.created_at,
        "source_run": artifact.source_run,
        "test_macro_f1": artifact.test_macro_f1,
        "test_accuracy": artifact.test_accuracy,
        "featurizer_digest": a.loaded.featurizer.digest,
        "neighbours_from": match &a.mass {
            crate::snapshot::MassSource::Labels => "labels",
            crate::snapshot::MassSource::Predictions { .. } => "predictions",
        },
        "snapshot": {
            "location": a.snapshot_location,
            "records": a.snapshot.len(),
            "load_seconds": a.load_seconds,
        },
        "min_evidence": a.min_evidence,
        "backend": a.loaded.verified.backend,
    }))
}

const MAX_LIST: usize = 1000;

/// The limits of a lookup's lists, from `?records=N&neighbours=N&features=N` (defaults 20, 10
/// and 8, at most 1000); any other parameter is refused, with its name as the `field`.
fn lookup_limits(
    params: &[(String, String)],
) -> std::result::Result<(usize, usize, usize), ApiError> {
    let mut limits = [20, 10, 8];
    for (key, value) in params {
        let slot = match key.as_str() {
            "records" => 0,
            "neighbours" => 1,
            "features" => 2,
            _ => {
                return Err(ApiError::bad_field(
                    key,
                    format!("unknown parameter `{key}` (known: records, neighbours, features)"),
                ));
            }
        };
        limits[slot] = list_limit(key, value)?;
    }
    Ok((limits[0], limits[1], limits[2]))
}

fn list_limit(key: &str, value: &str) -> std::result::Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(v) if v <= MAX_LIST => Ok(v),
        _ => Err(ApiError::bad_field(
            key,
            format!("`{value}` is not a whole number from 0 to {MAX_LIST}"),
        )),
    }
}

/// Runs CPU work (model calls) off the threads that accept connections.
async fn compute<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, ApiError> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

async fn domain(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> std::result::Result<Json<Value>, ApiError> {
    let limits = lookup_limits(&params)?;
    let name = normalize_name(&name)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("`{name}`: {e}")))?;
    let active = state.active.load_full();
    compute(move || {
        let records: Vec<&SnapRecord> = active.snapshot.by_name(&name).collect();
        if records.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "`{name}` is not in the snapshot; POST its records to /v1/score to score them"
                ),
            ));
        }
        let ips: Vec<[u8; 16]> = records.iter().filter_map(|r| r.ip).collect();
        let neighbours: Vec<&SnapRecord> = ips
            .iter()
            .flat_map(|ip| active.snapshot.by_ip(ip))
            .filter(|r| r.name != name)
            .collect();
        let answer = lookup_answer(&active, &records, neighbours, limits)?;
        Ok(Json(with_key(answer, "domain", &name)))
    })
    .await
}

async fn ip(
    State(state): State<Arc<AppState>>,
    Path(text): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> std::result::Result<Json<Value>, ApiError> {
    let limits = lookup_limits(&params)?;
    let ip = parse_ip(&text).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{text}` is not an IPv4 or IPv6 address"),
        )
    })?;
    let active = state.active.load_full();
    compute(move || {
        let records: Vec<&SnapRecord> = active.snapshot.by_ip(&ip).collect();
        if records.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("`{text}` answers no record in the snapshot"),
            ));
        }
        let neighbours: Vec<&SnapRecord> = active
            .snapshot
            .by_prefix(&ip)
            .filter(|r| r.ip != Some(ip))
            .collect();
        let answer = lookup_answer(&active, &records, neighbours, limits)?;
        let address = records[0].rdata.clone();
        Ok(Json(with_key(answer, "ip", &address)))
    })
    .await
}

fn with_key(mut answer: Value, key: &str, value: &str) -> Value {
    answer[key] = Value::String(value.to_string());
    answer
}

/// The verdict on a set of records, the records, the neighbours most likely malicious, and
/// the features that weighed most in the decision on its most telling record.
fn lookup_answer(
    active: &Active,
    records: &[&SnapRecord],
    mut neighbours: Vec<&SnapRecord>,
    (max_records, max_neighbours, max_features): (usize, usize, usize),
) -> std::result::Result<Value, ApiError> {
    let verdict = verdict(records.iter().copied(), active.min_evidence)
        .ok_or_else(|| internal("no records"))?;
    let class = match verdict.reputation {
        "malicious" => 1,
        "sinkhole" => 2,
        "benign" => 0,
        // Thin evidence: explain what the records lean to.
        _ => {
            let p = &verdict.probabilities;
            crate::snapshot::argmax(&[p.benign as f32, p.malicious as f32, p.sinkhole as f32])
        }
    };
    let telling = records
        .iter()
        .max_by(|a, b| a.probs[class].total_cmp(&b.probs[class]))
        .copied()
        .ok_or_else(|| internal("no records"))?;
    let weights = if max_features == 0 {
        Vec::new()
    } else {
        let row = active.featurizer.encode(&active.snapshot, telling);
        active.explain(&row, max_features).map_err(internal)?
    };
    neighbours.sort_by(|a, b| b.probs[1].total_cmp(&a.probs[1]));
    neighbours.dedup_by(|a, b| a.key() == b.key());
    let mut sorted: Vec<&SnapRecord> = records.to_vec();
    sorted.sort_by(|a, b| b.probs[class].total_cmp(&a.probs[class]));
    Ok(json!({
        "model": active.label(),
        "reputation": verdict.reputation,
        "probabilities": verdict.probabilities,
        "max_p_malicious": verdict.max_p_malicious,
        "max_p_sinkhole": verdict.max_p_sinkhole,
        "evidence": verdict.evidence,
        "explained_record": view(telling),
        "top_features": weights,
        "records": sorted.iter().take(max_records).map(|r| view(r)).collect::<Vec<_>>(),
        "neighbours": neighbours.iter().take(max_neighbours).map(|r| view(r)).collect::<Vec<_>>(),
        "neighbours_total": neighbours.len(),
    }))
}

/// Most features and neighbours listed per posted record.
const MAX_PER_RECORD: usize = 100;

/// `POST /v1/score`: `{"records": [...], "features": N, "neighbours": N}`, records in COF's
/// field names.
async fn score(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Json<Value>, JsonRejection>,
) -> std::result::Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let Json(body) = body.map_err(|r| ApiError::from_body(r, state.max_body))?;
    let request = body.as_object().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body is a JSON object with `records`",
        )
    })?;
    if let Some(key) = request
        .keys()
        .find(|k| !["records", "features", "neighbours"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            key.as_str(),
            format!("unknown field `{key}` (known: records, features, neighbours)"),
        ));
    }
    let records = request
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("records", "missing, or not an array"))?;
    if records.is_empty() {
        return Err(ApiError::invalid("records", "no records to score"));
    }
    if records.len() > state.max_records {
        return Err(ApiError::invalid(
            "records",
            format!(
                "{} records in one request; at most {} are accepted (`--max-records`)",
                records.len(),
                state.max_records
            ),
        ));
    }
    let per_record = |key: &str, default: usize| match request.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= MAX_PER_RECORD as u64)
            .map(|n| n as usize)
            .ok_or_else(|| {
                ApiError::invalid(
                    key,
                    format!("`{v}` is not a whole number from 0 to {MAX_PER_RECORD}"),
                )
            }),
    };
    let (features, neighbours) = (per_record("features", 5)?, per_record("neighbours", 5)?);
    let mut posted = Vec::new();
    for (i, value) in records.iter().enumerate() {
        posted.extend(parse_posted(value, i)?);
        // An rdata array gives one answer per element: the limit counts answers.
        if posted.len() > state.max_records {
            return Err(ApiError::invalid(
                format!("records[{i}].rdata"),
                format!(
                    "more than {} answers in one request (`--max-records`)",
                    state.max_records
                ),
            ));
        }
    }
    let active = state.active.load_full();
    let shared = state.clone();
    let deadline = started + state.timeout;
    let answers = compute(move || {
        let mut out = Vec::with_capacity(posted.len());
        // Records are scored in small batches so that a request past its deadline stops
        // spending CPU soon after its caller has been told so.
        for chunk in posted.chunks(16) {
            if Instant::now() > deadline {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the request took longer than `--timeout-seconds`",
                ));
            }
            let prepared: Vec<SnapRecord> = chunk
                .iter()
                .map(|r| active.prepare(r.clone(), &shared.enrichment))
                .collect::<Result<_>>()
                .map_err(internal)?;
            let rows: Vec<_> = prepared
                .iter()
                .map(|r| active.featurizer.encode(&active.snapshot, r))
                .collect();
            let probs = active.predict(&rows).map_err(internal)?;
            for ((record, row), p) in prepared.iter().zip(&rows).zip(probs) {
                let mut scored = record.clone();
                scored.probs = p;
                out.push(score_answer(&active, &scored, row, (features, neighbours))?);
            }
        }
        Ok(json!({ "model": active.label(), "records": out }))
    })
    .await?;
    state
        .metrics
        .records_scored
        .inc_by(answers["records"].as_array().map_or(0, |a| a.len() as u64));
    Ok(Json(answers))
}

fn score_answer(
    active: &Active,
    record: &SnapRecord,
    row: &crate::online::Row,
    (max_features, max_neighbours): (usize, usize),
) -> std::result::Result<Value, ApiError> {
    let weights = active.explain(row, max_features).map_err(internal)?;
    let known = active
        .snapshot
        .get(&record.name, record.rrtype, &record.rdata)
        .is_some();
    let mut neighbours: Vec<&SnapRecord> = record
        .ip
        .iter()
        .flat_map(|ip| active.snapshot.by_ip(ip))
        .filter(|r| r.name != record.name)
        .collect();
    neighbours.sort_by(|a, b| b.probs[1].total_cmp(&a.probs[1]));
    let same_name: Vec<&SnapRecord> = active
        .snapshot
        .by_name(&record.name)
        .filter(|r| r.key() != record.key())
        .take(max_neighbours)
        .collect();
    let mut answer = serde_json::to_value(view(record)).map_err(internal)?;
    answer["known"] = json!(known);
    answer["reputation"] = answer["predicted"].clone();
    answer["registered_domain"] = json!(record.registered_domain);
    answer["top_features"] = serde_json::to_value(weights).map_err(internal)?;
    answer["neighbours"] = json!({
        "same_ip": neighbours.iter().take(max_neighbours).map(|r| view(r)).collect::<Vec<_>>(),
        "same_ip_total": neighbours.len(),
        "same_name": same_name.iter().map(|r| view(r)).collect::<Vec<_>>(),
    });
    Ok(answer)
}

/// Reads one posted COF record; an `rdata` array gives one record per answer.
fn parse_posted(value: &Value, i: usize) -> std::result::Result<Vec<SnapRecord>, ApiError> {
    let at = |field: &str| format!("records[{i}].{field}");
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::invalid(format!("records[{i}]"), "a record is a JSON object"))?;
    let name = object
        .get("rrname")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(at("rrname"), "missing, or not a string"))?;
    let name = normalize_name(name)
        .map_err(|e| ApiError::invalid(at("rrname"), format!("`{name}`: {e}")))?;
    let rrtype = match object.get("rrtype") {
        Some(Value::String(s)) => s
            .parse::<RrType>()
            .ok()
            .filter(|t| t.0 > 0)
            .ok_or_else(|| ApiError::invalid(at("rrtype"), format!("unknown rrtype `{s}`")))?,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(RrType)
            .ok_or_else(|| {
                ApiError::invalid(at("rrtype"), format!("`{n}` is not a type number"))
            })?,
        _ => {
            return Err(ApiError::invalid(
                at("rrtype"),
                "missing, or not a string or number",
            ));
        }
    };
    let answers: Vec<&str> = match object.get("rdata") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str())
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::invalid(at("rdata"), "an array of strings is expected"))?,
        _ => {
            return Err(ApiError::invalid(
                at("rdata"),
                "missing, empty, or not a string or array",
            ));
        }
    };
    let int = |field: &str, max: i64, what: &str| -> std::result::Result<Option<i64>, ApiError> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| (0..=max).contains(n))
                .map(Some)
                .ok_or_else(|| ApiError::invalid(at(field), format!("`{v}` is not {what}"))),
        }
    };
    // Up to the last second of year 9999.
    let seconds = |field: &str| int(field, 253_402_300_799, "a number of seconds since 1970");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let first = seconds("time_first")?;
    let last = seconds("time_last")?;
    let (first, last) = match (first, last) {
        (Some(f), Some(l)) => (f, l),
        (Some(f), None) => (f, f.max(now)),
        (None, Some(l)) => (l, l),
        (None, None) => (now, now),
    };
    if first > last {
        return Err(ApiError::invalid(
            at("time_first"),
            format!("time_first {first} is after time_last {last}"),
        ));
    }
    let count = match int("count", i64::MAX, "a whole number of observations")? {
        None => 1,
        Some(0) => {
            return Err(ApiError::invalid(
                at("count"),
                "a record is seen at least once",
            ));
        }
        Some(c) => c as u64,
    };
    let ttl = |field: &str| -> std::result::Result<Option<u32>, ApiError> {
        Ok(int(
            field,
            i64::from(u32::MAX),
            "a TTL from 0 to 4294967295 seconds",
        )?
        .map(|t| t as u32))
    };
    let (ttl, min_ttl, max_ttl) = (ttl("ttl")?, ttl("min_ttl")?, ttl("max_ttl")?);
    let ttls = (min_ttl.or(ttl), max_ttl.or(ttl));
    if let (Some(min), Some(max)) = ttls
        && min > max
    {
        return Err(ApiError::invalid(at("min_ttl"), "min_ttl is above max_ttl"));
    }
    let mut out = Vec::with_capacity(answers.len());
    for (k, raw) in answers.into_iter().enumerate() {
        let field = if object.get("rdata").is_some_and(Value::is_array) {
            at(&format!("rdata[{k}]"))
        } else {
            at("rdata")
        };
        let rdata =
            canonical_rdata(rrtype, raw).map_err(|e| ApiError::invalid(field, e.to_string()))?;
        let ip = rrtype.is_address().then(|| parse_ip(&rdata)).flatten();
        out.push(crate::active::posted(
            name.clone(),
            rrtype.0,
            rdata,
            ip,
            (first * 1000, last * 1000),
            count,
            ttls,
        ));
    }
    Ok(out)
}
