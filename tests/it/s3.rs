//! The same ingest against a real S3-protocol server (moto) and the local store yields the same
//! data and manifests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{bin, read_records, read_records_from, run_ok, shared};

/// A moto S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PDNSREP_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if local.exists() {
        return local;
    }
    PathBuf::from("moto_server")
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = moto_binary();
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `{}` ({e}): the S3 tests need moto's server; `scripts/test.sh` \
                 installs it into .venv, or set PDNSREP_MOTO_SERVER",
                binary.display()
            )
        });
    let endpoint = format!("http://127.0.0.1:{port}");
    let moto = Moto { child, endpoint };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

fn create_bucket(endpoint: &str, bucket: &str) {
    crate::harness::runtime().block_on(async {
        let response = reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "bucket creation: {}",
            response.status()
        );
    });
}

fn with_s3_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true");
}

/// Drops what legitimately differs between two runs: run ids, times and the root URL.
fn normalized(manifest: &pdnsrep_records::Manifest) -> serde_json::Value {
    let mut v = serde_json::to_value(manifest).unwrap();
    let run_id = manifest.run_id.clone();
    v["run_id"] = serde_json::Value::Null;
    v["created_at"] = serde_json::Value::Null;
    let text = v.to_string().replace(&run_id, "RUN");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn s3_and_local_ingests_are_identical() {
    let moto = start_moto();
    create_bucket(&moto.endpoint, "pdns");
    let inputs = [
        shared("zeek-wrccdc2018/dns.log.gz"),
        crate::harness::fixture("cof.jsonl"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let local_root = dir.path().to_str().unwrap().to_string();

    let mut local = bin();
    local
        .args([
            "ingest",
            "--json",
            "--dataset",
            "raw/z",
            "--out",
            &local_root,
        ])
        .args(&inputs);
    let local_summary = run_ok(&mut local);

    let s3_root = "s3://pdns/team/root";
    let mut remote = bin();
    remote
        .args(["ingest", "--json", "--dataset", "raw/z", "--out", s3_root])
        .args(&inputs);
    with_s3_env(&mut remote, &moto.endpoint);
    let s3_summary = run_ok(&mut remote);
    assert_eq!(
        local_summary["records_written"],
        s3_summary["records_written"]
    );
    assert_eq!(local_summary["rejected"], s3_summary["rejected"]);

    let (local_manifest, local_records) = read_records(&local_root, "raw/z");
    let options = [
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing"),
        ("aws_region", "us-east-1"),
        ("aws_endpoint", moto.endpoint.as_str()),
        ("aws_allow_http", "true"),
    ];
    let s3 = pdnsrep_records::Root::parse_with_options(s3_root, &options).unwrap();
    let (s3_manifest, s3_records) = read_records_from(&s3, "raw/z");
    assert_eq!(local_records, s3_records);
    assert_eq!(normalized(&local_manifest), normalized(&s3_manifest));
    assert!(
        !local_manifest.sidecars.is_empty(),
        "the rejects file travels too"
    );
}

#[test]
fn a_sweep_keeps_all_its_state_on_s3_and_resumes_from_it() {
    use crate::sweep::{sweep_cmd, sweep_file, world};
    let moto = start_moto();
    create_bucket(&moto.endpoint, "sweeps");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "s3", 6000, "grouped-domain");
    let file = sweep_file(
        dir.path(),
        "s3",
        2,
        "grouped = \"features/s3\"",
        "[[trial]]\nname = \"two passes\"\nset = { \"passes.count\" = 2 }\n",
    );
    let remote = "s3://sweeps/paper";
    let mut cmd = sweep_cmd(&root, &file, Path::new(remote));
    with_s3_env(&mut cmd, &moto.endpoint);
    let first = run_ok(&mut cmd);
    assert_eq!(
        (&first["trained"], &first["nodes"]),
        (&2.into(), &2.into()),
        "{first}"
    );
    assert_eq!(first["report_md"], format!("{remote}/report.md"));
    // Nothing of the sweep lands on local disk: pass 2's features and pass 1's predictions
    // are written to and read from the bucket.
    assert!(!dir.path().join("s3:").exists() && !root.join("sweeps").exists());

    let mut again = sweep_cmd(&root, &file, Path::new(remote));
    with_s3_env(&mut again, &moto.endpoint);
    let second = run_ok(&mut again);
    assert_eq!(
        (&second["trained"], &second["already_done"]),
        (&0.into(), &2.into())
    );

    let local = dir.path().join("local");
    let here = run_ok(&mut sweep_cmd(&root, &file, &local));
    assert_eq!(
        here["best"][0]["value"], first["best"][0]["value"],
        "{here} vs {first}"
    );
}

#[test]
fn the_registry_publishes_verifies_and_claims_versions_on_s3() {
    use crate::registry::{publish, publish_at_once, registry, train_small};
    let moto = start_moto();
    create_bucket(&moto.endpoint, "models");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    crate::sweep::world(&root, "s3reg", 6000, "grouped-domain");
    let trained = train_small(&root, dir.path(), "s3reg", "mlp", 1);
    let reg = "s3://models/registry";
    let commands = (0..2)
        .map(|_| {
            let mut cmd = publish(reg, "rep", &trained);
            with_s3_env(&mut cmd, &moto.endpoint);
            cmd
        })
        .collect();
    let versions = publish_at_once(commands);
    assert_eq!(versions, [1, 2]);
    let mut verify = registry(reg);
    verify.args(["--json", "verify", "rep@v2", "--backend", "ndarray"]);
    with_s3_env(&mut verify, &moto.endpoint);
    let verified = run_ok(&mut verify);
    assert!(
        verified["golden_max_diff"].as_f64().unwrap() < 1e-4,
        "{verified}"
    );
    let mut promote = registry(reg);
    promote.args(["--json", "promote", "rep@v1", "--alias", "production"]);
    with_s3_env(&mut promote, &moto.endpoint);
    assert_eq!(run_ok(&mut promote)["version"], 1);
}
