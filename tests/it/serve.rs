//! `pdnsrep serve` with a real HTTP client: every endpoint, bad inputs, parity with the batch
//! features and scores, and an alias swap under load.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array as _, AsArray as _};
use arrow::datatypes::Float64Type;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{bin, run_ok, runtime};
use crate::registry::{batches, publish, registry, train_small};
use crate::sweep::world;

/// A running `pdnsrep serve`, killed on drop.
struct Serving {
    child: Child,
    base: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(reg: &str, model: &str, extra: &[&str]) -> Serving {
    let mut child = bin()
        .args([
            "serve",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--registry",
            reg,
        ])
        .args(["--model", model])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve did not start ({e}): `{line}`"));
    Serving {
        child,
        base: started["listening"].as_str().unwrap().to_string(),
    }
}

#[test]
fn a_start_with_bad_flags_fails_fast_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/registry");
    let cases: Vec<Vec<String>> = vec![
        vec!["--registry".into(), missing.to_str().unwrap().into()],
        vec![
            "--registry".into(),
            dir.path().to_str().unwrap().into(),
            "--listen".into(),
            "nowhere".into(),
        ],
        vec![
            "--registry".into(),
            dir.path().to_str().unwrap().into(),
            "--timeout-seconds".into(),
            "0".into(),
        ],
    ];
    for args in cases {
        let out = crate::harness::run(
            bin()
                .args(["serve", "--model", "rep@production"])
                .args(&args),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
    assert!(
        !dir.path().join("no").exists(),
        "a missing registry folder was created"
    );
}

/// A world with one published model promoted to `production`.
fn published(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let root = dir.join("data");
    world(&root, name, 3000, "grouped-domain");
    let trained = train_small(&root, dir, name, "mlp", 1);
    let reg = dir.join("registry").to_str().unwrap().to_string();
    run_ok(&mut publish(&reg, "rep", &trained));
    run_ok(registry(&reg).args(["--json", "promote", "rep@v1", "--alias", "production"]));
    (root, reg)
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Posts JSON. (reqwest's `json` feature would change the features of the reqwest that
/// object_store builds, and with them the dependency build the binary shares with the tests.)
async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

/// A malicious name of the world with its first address.
fn malicious_domain(root: &Path, name: &str) -> (String, String) {
    for batch in batches(root, &format!("labelled/{name}")) {
        let names = batch.column_by_name("name").unwrap().as_string::<i32>();
        let labels = batch.column_by_name("label").unwrap().as_string::<i32>();
        let rdata = batch.column_by_name("rdata").unwrap().as_string::<i32>();
        let rrtype = batch
            .column_by_name("rrtype")
            .unwrap()
            .as_primitive::<arrow::datatypes::UInt16Type>();
        for i in 0..batch.num_rows() {
            if labels.is_valid(i) && labels.value(i) == "malicious" && rrtype.value(i) == 1 {
                return (names.value(i).to_string(), rdata.value(i).to_string());
            }
        }
    }
    panic!("the world has no malicious A record");
}

#[test]
fn every_endpoint_answers_and_bad_input_gets_a_clear_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let (root, reg) = published(dir.path(), "srv");
    let server = serve(
        &reg,
        "rep@production",
        &["--max-body-kib", "64", "--max-records", "50"],
    );
    let base = server.base.clone();
    let (domain, address) = malicious_domain(&root, "srv");
    runtime().block_on(async move {
        let c = reqwest::Client::new();
        let (s, b) = get(&c, &format!("{base}/healthz")).await;
        assert_eq!((s, &b["status"]), (StatusCode::OK, &json!("ok")));
        let (s, b) = get(&c, &format!("{base}/readyz")).await;
        assert_eq!((s, &b["model"]), (StatusCode::OK, &json!("rep@v1")));
        let (s, b) = get(&c, &format!("{base}/v1/model")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (&b["model"], &b["version"], &b["neighbours_from"]),
            (&json!("rep@v1"), &json!(1), &json!("labels"))
        );
        assert!(b["snapshot"]["records"].as_u64().unwrap() > 1000, "{b}");

        // The OpenAPI document lists every route the server has.
        let (s, doc) = get(&c, &format!("{base}/openapi.json")).await;
        assert_eq!(s, StatusCode::OK);
        for (method, path) in pdnsrep_serve::ROUTES {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} undocumented"
            );
        }

        // A domain: its verdict, its evidence, its records and what weighed most.
        let (s, b) = get(&c, &format!("{base}/v1/domains/{domain}?records=3")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["domain"], json!(domain));
        let records = b["evidence"]["records"].as_u64().unwrap();
        assert!(records >= 1 && b["records"].as_array().unwrap().len() <= 3);
        assert!(!b["top_features"].as_array().unwrap().is_empty(), "{b}");
        let p = &b["probabilities"];
        let sum = p["benign"].as_f64().unwrap()
            + p["malicious"].as_f64().unwrap()
            + p["sinkhole"].as_f64().unwrap();
        assert!((sum - 1.0).abs() < 1e-3);
        // Upper case and a root dot name the same domain.
        let (s, again) = get(&c, &format!("{base}/v1/domains/{}.", domain.to_uppercase())).await;
        assert_eq!((s, &again["probabilities"]), (StatusCode::OK, p));

        let (s, b) = get(&c, &format!("{base}/v1/ips/{address}")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(
            b["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["rrname"] == json!(domain))
        );

        // Lookups that cannot be answered.
        for (path, status) in [
            ("/v1/domains/never-seen.example", StatusCode::NOT_FOUND),
            ("/v1/domains/a..b", StatusCode::BAD_REQUEST),
            ("/v1/ips/999.1.1.1", StatusCode::BAD_REQUEST),
            ("/v1/ips/192.0.2.254", StatusCode::NOT_FOUND),
            ("/v1/ips/not-an-ip", StatusCode::BAD_REQUEST),
            ("/v1/nothing", StatusCode::NOT_FOUND),
        ] {
            let (s, b) = get(&c, &format!("{base}{path}")).await;
            assert_eq!(s, status, "{path}: {b}");
            assert!(
                b["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{path}: {b}"
            );
        }
        for (query, field) in [
            ("records=abc", "records"),
            ("records=5000", "records"),
            ("features=-1", "features"),
            ("bogus=1", "bogus"),
        ] {
            let (s, b) = get(&c, &format!("{base}/v1/domains/{domain}?{query}")).await;
            assert_eq!(
                (s, &b["field"]),
                (StatusCode::BAD_REQUEST, &json!(field)),
                "{b}"
            );
        }
        let (s, _) = get(&c, &format!("{base}/v1/score")).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);

        // Posted records: one the snapshot has, one new name on a known address, and an
        // rdata array that gives one answer per address.
        let body = json!({ "records": [
            { "rrname": domain, "rrtype": "A", "rdata": address, "time_first": 1_500_000_000,
              "time_last": 1_500_086_400, "count": 12 },
            { "rrname": "fresh-name-0001.example", "rrtype": 1, "rdata": [address, "192.0.2.7"],
              "time_first": 1_500_000_000, "time_last": 1_500_000_100, "ttl": 300,
              "sensor_id": "ignored-extra-field" },
        ]});
        let (s, b) = post(&c, &format!("{base}/v1/score"), &body).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let scored = b["records"].as_array().unwrap();
        assert_eq!(scored.len(), 3);
        assert_eq!(
            scored
                .iter()
                .map(|r| r["known"].as_bool().unwrap())
                .collect::<Vec<_>>(),
            [true, false, false]
        );
        for r in scored {
            let p = &r["probabilities"];
            let sum = p["benign"].as_f64().unwrap()
                + p["malicious"].as_f64().unwrap()
                + p["sinkhole"].as_f64().unwrap();
            assert!((sum - 1.0).abs() < 1e-3, "{r}");
            assert!(r["top_features"].is_array());
        }
        // The new name shares an address with a listed malicious domain: it is shown.
        let same_ip = scored[1]["neighbours"]["same_ip"].as_array().unwrap();
        assert!(
            same_ip.iter().any(|n| n["rrname"] == json!(domain)),
            "{}",
            scored[1]
        );
        assert_eq!(
            scored[1]["registered_domain"],
            json!("fresh-name-0001.example")
        );

        // Bad bodies: each is refused with the reason, and the field where there is one.
        let cases: Vec<(Value, StatusCode, Option<&str>)> = vec![
            (
                json!({ "records": [] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records"),
            ),
            (
                json!({ "records": [7] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records[0]"),
            ),
            (
                json!({ "records": [{ "rrname": "a..b", "rrtype": "A", "rdata": "192.0.2.1" }] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records[0].rrname"),
            ),
            (
                json!({ "records": [{ "rrname": "x.example", "rrtype": "A", "rdata": "::1" }] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records[0].rdata"),
            ),
            (
                json!({ "records": [{ "rrname": "x.example", "rrtype": "BOGUS", "rdata": "1" }] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records[0].rrtype"),
            ),
            (
                json!({ "records": [{ "rrname": "x.example", "rrtype": "A", "rdata": "192.0.2.1",
                    "time_first": 20, "time_last": 10 }] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records[0].time_first"),
            ),
            (
                json!({ "records": [{ "rrname": "x.example", "rrtype": "A", "rdata": "192.0.2.1",
                    "count": -3 }] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records[0].count"),
            ),
            (
                json!({ "records": (0..51).map(|i| json!({ "rrname": format!("n{i}.example"),
                    "rrtype": "A", "rdata": "192.0.2.1" })).collect::<Vec<_>>() }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records"),
            ),
            (
                json!({ "no_records": true }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("no_records"),
            ),
            (
                json!({ "records": [{ "rrname": "x.example", "rrtype": "A", "rdata": "192.0.2.1" }],
                    "neighbours": 5000 }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("neighbours"),
            ),
            (json!([1, 2]), StatusCode::UNPROCESSABLE_ENTITY, None),
            (
                json!({ "records": [{ "rrname": "x.example", "rrtype": "A",
                    "rdata": (0..51).map(|i| format!("192.0.2.{i}")).collect::<Vec<_>>() }] }),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("records[0].rdata"),
            ),
        ];
        for (body, status, field) in cases {
            let (s, b) = post(&c, &format!("{base}/v1/score"), &body).await;
            assert_eq!(s, status, "{body}: {b}");
            assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{b}");
            if let Some(field) = field {
                assert_eq!(b["field"], json!(field), "{b}");
            }
        }
        let raw = |body: &'static [u8], kind: &'static str| {
            c.post(format!("{base}/v1/score"))
                .header("content-type", kind)
                .body(body)
                .send()
        };
        let garbage = raw(b"{\"records\": [", "application/json").await.unwrap();
        assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
        let not_json = raw(b"{}", "text/plain").await.unwrap();
        assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let huge = format!("{{\"records\": [\"{}\"]}}", "x".repeat(200 * 1024));
        // The server answers 413 before reading the whole body and closes that connection:
        // a client of its own keeps the closed connection out of the shared pool.
        let once = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let response = once
            .post(format!("{base}/v1/score"))
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

        // After all that it still answers, and counted what it did.
        let (s, _) = get(&c, &format!("{base}/readyz")).await;
        assert_eq!(s, StatusCode::OK);
        let metrics = c.get(format!("{base}/metrics")).send().await.unwrap();
        let text = metrics.text().await.unwrap();
        assert!(
            text.contains("pdnsrep_http_requests_total{route=\"/v1/score\",status=\"422\"}"),
            "{text}"
        );
        assert!(text.contains("pdnsrep_records_scored_total 3"), "{text}");
        assert!(text.contains("pdnsrep_model_version 1"), "{text}");
        assert!(
            text.contains("route=\"<unmatched>\",status=\"404\""),
            "{text}"
        );
    });

    // A request past the deadline gets a JSON 503, counted like any other answer.
    let hasty = serve(&reg, "rep@production", &["--timeout-seconds", "0.000001"]);
    let base = hasty.base.clone();
    runtime().block_on(async move {
        let c = reqwest::Client::new();
        let body =
            json!({ "records": [{ "rrname": "x.example", "rrtype": "A", "rdata": "192.0.2.1" }] });
        let (s, b) = post(&c, &format!("{base}/v1/score"), &body).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
        assert!(
            b["error"].as_str().unwrap().contains("--timeout-seconds"),
            "{b}"
        );
        let text = c
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("route=\"/v1/score\",status=\"503\""),
            "{text}"
        );
    });
}

#[test]
fn a_moved_alias_is_swapped_in_under_load_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let (root, reg) = published(dir.path(), "swap");
    // A second version, trained on the same features with another seed.
    let config = dir.path().join("other.toml");
    std::fs::write(
        &config,
        "[model]\nkind = \"network\"\nhidden = [8]\n\
         [train]\nseed = 99\nepochs = 1\nbatch_size = 64\nwarmup_steps = 5\npatience = 0\n",
    )
    .unwrap();
    let other = dir.path().join("runs/other");
    run_ok(
        bin()
            .args([
                "train",
                "--quiet",
                "--json",
                "--dataset",
                "features/swap",
                "--features",
            ])
            .arg(&root)
            .arg("--config")
            .arg(&config)
            .arg("--run")
            .arg(&other),
    );
    run_ok(&mut publish(&reg, "rep", &other));
    let server = serve(&reg, "rep@production", &["--poll-seconds", "0.2"]);
    let (domain, address) = malicious_domain(&root, "swap");
    let base = server.base.clone();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async move {
        let client = reqwest::Client::new();
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..4 {
            let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
            let (domain, address) = (domain.clone(), address.clone());
            workers.push(tokio::spawn(async move {
                let mut seen = BTreeSet::new();
                let mut answered = 0u64;
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let (s, b) = if w % 2 == 0 {
                        get(&client, &format!("{base}/v1/domains/{domain}")).await
                    } else {
                        let body = json!({ "records": [{ "rrname": domain, "rrtype": "A",
                            "rdata": address }] });
                        post(&client, &format!("{base}/v1/score"), &body).await
                    };
                    assert_eq!(s, StatusCode::OK, "request failed during the swap: {b}");
                    seen.insert(b["model"].as_str().unwrap().to_string());
                    answered += 1;
                }
                (seen, answered)
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let moved = tokio::task::spawn_blocking({
            let reg = reg.clone();
            move || {
                run_ok(registry(&reg).args([
                    "--json",
                    "promote",
                    "rep@v2",
                    "--alias",
                    "production",
                ]))
            }
        })
        .await
        .unwrap();
        assert_eq!(moved["version"], 2);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (_, b) = get(&client, &format!("{base}/v1/model")).await;
            if b["version"] == json!(2) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the alias move was not picked up: {b}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::SeqCst);
        let mut seen = BTreeSet::new();
        let mut answered = 0;
        for w in workers {
            let (s, n) = w.await.unwrap();
            seen.extend(s);
            answered += n;
        }
        assert!(answered > 20, "only {answered} requests answered");
        assert_eq!(
            seen,
            BTreeSet::from(["rep@v1".to_string(), "rep@v2".to_string()]),
            "answers came from both versions"
        );
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("pdnsrep_model_swaps_total 1"), "{text}");
        assert!(text.contains("pdnsrep_model_version 2"), "{text}");
    });
}

/// For every record of a world, the features computed in real time against the snapshot
/// equal the batch features, for a first pass (label neighbours) and for a second pass
/// (neighbours from the first pass's predictions); and lookups agree with `pdnsrep score`.
#[test]
fn real_time_features_and_verdicts_equal_the_batch_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (root, reg) = published(dir.path(), "par");
    let second = train_small(&root, dir.path(), "par", "two", 2);
    run_ok(&mut publish(&reg, "two", &second.join("pass-2")));
    for model in ["rep@v1", "two@v1"] {
        let compared = compare_features(&reg, model);
        assert!(compared > 2500, "{model}: only {compared} records compared");
    }

    // Lookups and batch scores give every domain the same verdict.
    run_ok(
        bin()
            .args([
                "score",
                "--json",
                "--registry",
                &reg,
                "--model",
                "rep@production",
            ])
            .args(["--min-evidence", "2"]),
    );
    let server = serve(&reg, "rep@production", &["--min-evidence", "2"]);
    let base = server.base.clone();
    let mut expected = Vec::new();
    for batch in batches(&root, "scores/rep/domains") {
        let key = batch.column_by_name("key").unwrap().as_string::<i32>();
        let reputation = batch
            .column_by_name("reputation")
            .unwrap()
            .as_string::<i32>();
        let p = batch
            .column_by_name("p_malicious")
            .unwrap()
            .as_primitive::<Float64Type>();
        for i in (0..batch.num_rows()).step_by(7) {
            expected.push((
                key.value(i).to_string(),
                reputation.value(i).to_string(),
                p.value(i),
            ));
        }
    }
    assert!(expected.len() > 50);
    let posts = posted_with_batch_scores(&root, "par");
    runtime().block_on(async move {
        let c = reqwest::Client::new();
        // A record posted as the snapshot holds it scores as the batch scored it.
        for (record, p_malicious) in posts {
            let (s, b) = post(
                &c,
                &format!("{base}/v1/score"),
                &json!({ "records": [record] }),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let answer = &b["records"][0];
            assert_eq!(answer["known"], json!(true), "{answer}");
            let served = answer["probabilities"]["malicious"].as_f64().unwrap();
            assert!(
                (served - p_malicious).abs() < 1e-5,
                "{record}: posted {served}, batch {p_malicious}"
            );
        }
        for (domain, reputation, p_malicious) in expected {
            let (s, b) = get(&c, &format!("{base}/v1/domains/{domain}?records=0")).await;
            assert_eq!(s, StatusCode::OK, "{domain}: {b}");
            assert_eq!(b["reputation"], json!(reputation), "{domain}");
            let served = b["probabilities"]["malicious"].as_f64().unwrap();
            assert!(
                (served - p_malicious).abs() < 1e-5,
                "{domain}: {served} vs {p_malicious}"
            );
        }
    });
}

/// Every 23rd labelled record of `world` as a posted COF record, with the malicious
/// probability `pdnsrep score` gave it.
fn posted_with_batch_scores(root: &Path, world: &str) -> Vec<(Value, f64)> {
    use arrow::datatypes::{
        Float32Type, TimestampMillisecondType, UInt16Type, UInt32Type, UInt64Type,
    };
    let mut batch_scores = std::collections::HashMap::new();
    for batch in batches(root, "scores/rep/records") {
        let name = batch.column_by_name("name").unwrap().as_string::<i32>();
        let rrtype = batch
            .column_by_name("rrtype")
            .unwrap()
            .as_primitive::<UInt16Type>();
        let rdata = batch.column_by_name("rdata").unwrap().as_string::<i32>();
        let p = batch
            .column_by_name("p_malicious")
            .unwrap()
            .as_primitive::<Float32Type>();
        for i in 0..batch.num_rows() {
            let key = (
                name.value(i).to_string(),
                rrtype.value(i),
                rdata.value(i).to_string(),
            );
            batch_scores.insert(key, f64::from(p.value(i)));
        }
    }
    let mut out = Vec::new();
    for batch in batches(root, &format!("labelled/{world}")) {
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let (name, rdata) = (col("name"), col("rdata"));
        let (name, rdata) = (name.as_string::<i32>(), rdata.as_string::<i32>());
        let rrtype = col("rrtype");
        let rrtype = rrtype.as_primitive::<UInt16Type>();
        let (first, last) = (col("first_seen"), col("last_seen"));
        let first = first.as_primitive::<TimestampMillisecondType>();
        let last = last.as_primitive::<TimestampMillisecondType>();
        let count = col("count");
        let count = count.as_primitive::<UInt64Type>();
        let (min_ttl, max_ttl) = (col("min_ttl"), col("max_ttl"));
        let (min_ttl, max_ttl) = (
            min_ttl.as_primitive::<UInt32Type>(),
            max_ttl.as_primitive::<UInt32Type>(),
        );
        for i in (0..batch.num_rows()).step_by(23) {
            // COF times are whole seconds: only records stored that way round-trip exactly.
            if first.value(i) % 1000 != 0 || last.value(i) % 1000 != 0 {
                continue;
            }
            let mut record = json!({
                "rrname": name.value(i), "rrtype": rrtype.value(i), "rdata": rdata.value(i),
                "time_first": first.value(i) / 1000, "time_last": last.value(i) / 1000,
                "count": count.value(i),
            });
            if min_ttl.is_valid(i) {
                record["min_ttl"] = json!(min_ttl.value(i));
            }
            if max_ttl.is_valid(i) {
                record["max_ttl"] = json!(max_ttl.value(i));
            }
            let key = (
                name.value(i).to_string(),
                rrtype.value(i),
                rdata.value(i).to_string(),
            );
            out.push((record, batch_scores[&key]));
        }
    }
    assert!(out.len() > 50, "only {} records to post", out.len());
    out
}

/// Compares the online features of every snapshot record with its stored feature row.
fn compare_features(reg: &str, model: &str) -> usize {
    use pdnsrep_registry::{Reference, Registry};
    use pdnsrep_serve::{Active, ServeSettings};
    runtime().block_on(async {
        let registry = Registry::open(reg).unwrap();
        let settings = ServeSettings {
            min_evidence: 3,
            backend: pdnsrep_train::Backend::Flex,
            snapshot: Default::default(),
        };
        let active = Active::load(&registry, &Reference::parse(model).unwrap(), &settings)
            .await
            .unwrap();
        let info = &active.loaded.info;
        let features = pdnsrep_records::Root::parse(&info.features_root).unwrap();
        let spec = active.featurizer.spec().clone();
        let widths = pdnsrep_train::Widths::of(&spec);
        let manifest = pdnsrep_records::read_manifest(&features, &info.dataset)
            .await
            .unwrap();
        let mut compared = 0;
        for part in &manifest.parts {
            for batch in pdnsrep_records::read_part(&features, &manifest, part)
                .await
                .unwrap()
            {
                let stored = pdnsrep_train::batch_of(&batch, widths).unwrap();
                let names = batch.column_by_name("name").unwrap().as_string::<i32>();
                let rdata = batch.column_by_name("rdata").unwrap().as_string::<i32>();
                let rrtype = batch
                    .column_by_name("rrtype")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::UInt16Type>();
                for i in 0..batch.num_rows() {
                    let record = active
                        .snapshot
                        .get(names.value(i), rrtype.value(i), rdata.value(i))
                        .unwrap();
                    let row = active.featurizer.encode(&active.snapshot, record);
                    let (n, k, ch) = (widths.numeric, widths.categorical, widths.chars);
                    let batch_numeric = &stored.inputs.numeric[i * n..(i + 1) * n];
                    for (j, (a, b)) in row.numeric.iter().zip(batch_numeric).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                            "{model}: `{}` of {} differs: online {a}, batch {b} (raw {})",
                            spec.numeric[j].name,
                            names.value(i),
                            row.raw[j]
                        );
                    }
                    assert_eq!(
                        row.categorical,
                        stored.inputs.categorical[i * k..(i + 1) * k]
                    );
                    assert_eq!(row.chars, stored.inputs.chars[i * ch..(i + 1) * ch]);
                    assert_eq!(row.domain_queries, stored.domain_queries[i]);
                    compared += 1;
                }
            }
        }
        compared
    })
}
