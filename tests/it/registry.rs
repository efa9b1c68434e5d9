//! `pdnsrep publish` and `pdnsrep registry`: versions that verify on another backend, refuse a
//! changed byte, never collide, and show their lineage.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{bin, run, run_ok};
use crate::sweep::world;

/// Trains a small network on `features/<world>` into `<dir>/runs/<name>`.
pub(crate) fn train_small(
    root: &Path,
    dir: &Path,
    world: &str,
    name: &str,
    passes: u32,
) -> PathBuf {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[model]\nkind = \"network\"\nhidden = [16]\n\
             [train]\nepochs = 2\nbatch_size = 64\nwarmup_steps = 5\npatience = 0\n\
             [passes]\ncount = {passes}\n"
        ),
    )
    .unwrap();
    let out = dir.join("runs").join(name);
    run_ok(
        bin()
            .args([
                "train",
                "--quiet",
                "--json",
                "--dataset",
                &format!("features/{world}"),
            ])
            .arg("--features")
            .arg(root)
            .arg("--config")
            .arg(&config)
            .arg("--run")
            .arg(&out),
    );
    out
}

pub(crate) fn registry(registry: &str) -> Command {
    let mut cmd = bin();
    cmd.args(["registry", "--registry", registry]);
    cmd
}

pub(crate) fn publish(registry: &str, model: &str, run: &Path) -> Command {
    let mut cmd = bin();
    cmd.args([
        "publish",
        "--json",
        "--registry",
        registry,
        "--model",
        model,
        "--run",
    ])
    .arg(run);
    cmd
}

/// Starts every publish at once and returns the versions they got, sorted.
pub(crate) fn publish_at_once(commands: Vec<Command>) -> Vec<u64> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut cmd| cmd.stdout(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    let mut versions: Vec<u64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["version"].as_u64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    versions
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_published_version_verifies_on_another_backend_and_refuses_a_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "reg", 6000, "grouped-domain");
    let trained = train_small(&root, dir.path(), "reg", "mlp", 1);
    let reg = dir.path().join("registry");
    let reg = reg.to_str().unwrap();
    let first = run_ok(&mut publish(reg, "reputation", &trained));
    assert_eq!(first["version"], 1, "{first}");
    let verified =
        run_ok(registry(reg).args(["--json", "verify", "reputation@v1", "--backend", "ndarray"]));
    assert_eq!(verified["backend"], "ndarray");
    assert_eq!(verified["golden_rows"], 32);
    let diff = verified["golden_max_diff"].as_f64().unwrap();
    assert!(diff < 1e-4, "{verified}");

    // One changed byte in the weights, or in the featurizer spec, and the version is refused.
    for file in ["model/model.bpk", "featurizer.json"] {
        let second = run_ok(&mut publish(reg, "reputation", &trained));
        let version = second["version"].as_u64().unwrap();
        let path = Path::new(reg).join(format!("reputation/v{version}/{file}"));
        flip_byte(&path);
        let out = run(registry(reg).args(["verify", &format!("reputation@v{version}")]));
        assert_eq!(out.status.code(), Some(2), "{file}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("v{version}/{file}`")) && stderr.contains("was changed"),
            "{file}: {stderr}"
        );
    }
    // The untouched version still verifies.
    run_ok(registry(reg).args(["--json", "verify", "reputation@v1"]));

    // Aliases move and remember where they were.
    let promoted = run_ok(registry(reg).args([
        "--json",
        "promote",
        "reputation@v1",
        "--alias",
        "production",
    ]));
    assert_eq!(
        (&promoted["version"], &promoted["previous"]),
        (&1.into(), &serde_json::Value::Null)
    );
    let moved = run_ok(registry(reg).args([
        "--json",
        "promote",
        "reputation@v2",
        "--alias",
        "production",
    ]));
    assert_eq!(
        (&moved["version"], &moved["previous"]),
        (&2.into(), &1.into())
    );
    let shown = run_ok(registry(reg).args(["--json", "show", "reputation@production"]));
    assert_eq!(shown["artifact"]["version"], 2);
    let out = run(registry(reg).args(["promote", "reputation@v9", "--alias", "production"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(registry(reg).args(["promote", "reputation@v1", "--alias", "v2"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn concurrent_publishes_get_distinct_versions_and_none_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "race", 6000, "grouped-domain");
    let trained = train_small(&root, dir.path(), "race", "mlp", 1);
    let reg = dir.path().join("registry");
    // A publisher that died after claiming v1: its number stays taken, shown as incomplete.
    std::fs::create_dir_all(reg.join("race/v1")).unwrap();
    std::fs::write(reg.join("race/v1/_claim.json"), "{}").unwrap();
    let reg = reg.to_str().unwrap();
    let versions = publish_at_once((0..4).map(|_| publish(reg, "race", &trained)).collect());
    assert_eq!(versions, [2, 3, 4, 5]);
    let listed = run_ok(registry(reg).args(["--json", "list", "race"]));
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "incomplete",
            "published",
            "published",
            "published",
            "published"
        ]
    );
}

#[test]
fn show_gives_a_second_pass_its_lineage_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "lin", 6000, "grouped-domain");
    let trained = train_small(&root, dir.path(), "lin", "two", 2);
    let reg = dir.path().join("registry");
    let reg = reg.to_str().unwrap();
    run_ok(&mut publish(reg, "two-pass", &trained.join("pass-2")));
    let shown = run_ok(registry(reg).args(["--json", "show", "two-pass"]));
    let passes = shown["lineage"]["passes"].as_array().unwrap();
    assert_eq!(passes.len(), 1, "{shown}");
    assert!(
        passes[0]["model_run"]
            .as_str()
            .unwrap()
            .ends_with("two/pass-1"),
        "{shown}"
    );
    assert!(
        shown["lineage"]["features_manifest_sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    // Built from this checkout: the artifact names the commit.
    let commit = shown["artifact"]["git_commit"].as_str().unwrap_or_default();
    assert!(
        commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{shown}"
    );
    let text = run(registry(reg).args(["show", "two-pass@v1"]));
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "neighbour features of pass 2 from pass 1's predictions",
        "test: ",
        "macro-F1",
        "sinkhole",
        "golden.json",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    // A run that has not finished is not publishable.
    let empty = dir.path().join("runs").join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&mut publish(reg, "two-pass", &empty));
    assert_eq!(out.status.code(), Some(2));
    let listed = run_ok(registry(reg).args(["--json", "list"]));
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "a failed publish claimed a version"
    );
}

/// Every row of a committed dataset, as record batches.
pub(crate) fn batches(root: &Path, dataset: &str) -> Vec<arrow::array::RecordBatch> {
    crate::harness::runtime().block_on(async {
        let root = pdnsrep_records::Root::parse(root.to_str().unwrap()).unwrap();
        let manifest = pdnsrep_records::read_manifest(&root, dataset)
            .await
            .unwrap();
        let mut out = Vec::new();
        for part in &manifest.parts {
            out.extend(
                pdnsrep_records::read_part(&root, &manifest, part)
                    .await
                    .unwrap(),
            );
        }
        out
    })
}

#[test]
fn score_covers_every_record_and_aggregates_domains_and_ips_with_their_evidence() {
    use arrow::array::AsArray as _;
    use arrow::datatypes::{Float64Type, Int64Type};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "score", 6000, "grouped-domain");
    let trained = train_small(&root, dir.path(), "score", "mlp", 1);
    let reg = dir.path().join("registry");
    let reg = reg.to_str().unwrap();
    run_ok(&mut publish(reg, "rep", &trained));
    run_ok(registry(reg).args(["--json", "promote", "rep@v1", "--alias", "production"]));
    let cof = dir.path().join("scores.ndjson");
    let summary = run_ok(
        bin()
            .args([
                "score",
                "--json",
                "--registry",
                reg,
                "--model",
                "rep@production",
            ])
            .args(["--min-evidence", "2", "--cof"])
            .arg(&cof),
    );
    assert_eq!(summary["model"], "rep@v1");
    let rows = summary["rows"].as_u64().unwrap();
    let features: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("features/score/_manifest.json")).unwrap(),
    )
    .unwrap();
    // Full coverage: every record of every split, unlabelled ones included.
    assert_eq!(rows, features["rows"].as_u64().unwrap());
    assert!(summary["rows_by_split"]["unlabelled"].as_u64().unwrap() > 0);

    let mut records_seen = 0i64;
    let mut insufficient = 0u64;
    for batch in batches(&root, "scores/rep/domains") {
        let records = batch
            .column_by_name("records")
            .unwrap()
            .as_primitive::<Int64Type>();
        let reputation = batch
            .column_by_name("reputation")
            .unwrap()
            .as_string::<i32>();
        let p: Vec<_> = ["p_benign", "p_malicious", "p_sinkhole"]
            .iter()
            .map(|c| {
                batch
                    .column_by_name(c)
                    .unwrap()
                    .as_primitive::<Float64Type>()
                    .clone()
            })
            .collect();
        for i in 0..batch.num_rows() {
            records_seen += records.value(i);
            let expected = if records.value(i) < 2 {
                insufficient += 1;
                "insufficient_evidence"
            } else {
                let v = [p[0].value(i), p[1].value(i), p[2].value(i)];
                let sum = v[0] + v[1] + v[2];
                assert!((sum - 1.0).abs() < 1e-3, "mean probabilities sum to {sum}");
                if v[1] >= v[0] && v[1] >= v[2] {
                    "malicious"
                } else if v[2] >= v[0] {
                    "sinkhole"
                } else {
                    "benign"
                }
            };
            assert_eq!(reputation.value(i), expected);
        }
    }
    assert_eq!(
        records_seen as u64, rows,
        "every record counts for its domain once"
    );
    assert_eq!(summary["reputation"]["domains_insufficient"], insufficient);
    assert!(insufficient > 0 && summary["reputation"]["ips"].as_u64().unwrap() > 0);

    let text = std::fs::read_to_string(&cof).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, rows);
    for field in [
        "rrname",
        "rrtype",
        "rdata",
        "time_first",
        "time_last",
        "count",
        "reputation",
        "model",
    ] {
        assert!(
            !lines[0][field].is_null(),
            "COF line lacks `{field}`: {}",
            lines[0]
        );
    }
    assert!(lines[0]["time_last"].as_i64() >= lines[0]["time_first"].as_i64());

    // A tampered model is not used for scoring.
    let weights = Path::new(reg).join("rep/v1/model/model.bpk");
    flip_byte(&weights);
    let out = run(bin().args(["score", "--registry", reg, "--model", "rep@production"]));
    assert_eq!(out.status.code(), Some(2));
}
