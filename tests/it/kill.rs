//! A SIGKILL in the middle of an ingest leaves no half-visible dataset, and a rerun succeeds.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::harness::{bin, ingest_json, read_records};

fn write_cof(path: &Path, lines: usize) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..lines {
        writeln!(
            out,
            r#"{{"rrname":"host{}.zone{}.example","rrtype":"A","rdata":"10.{}.{}.{}","time_first":{},"time_last":{},"count":{}}}"#,
            i % 50_000,
            i % 97,
            i % 200,
            (i / 200) % 250,
            i % 250,
            1_500_000_000 + i,
            1_500_000_100 + i,
            1 + i % 9
        )
        .unwrap();
    }
}

fn parquet_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                parquet_files(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "parquet"))
            }
        })
        .sum()
}

/// Starts an ingest of `input` into `dataset` with many buckets (so writing takes a while) and
/// returns once the dataset folder holds more than `parts` Parquet files.
fn start_ingest_and_wait_for_parts(
    root: &Path,
    dataset: &str,
    input: &Path,
    parts: usize,
) -> Child {
    let mut child = bin()
        .args([
            "ingest",
            "--quiet",
            "--buckets",
            "256",
            "--dataset",
            dataset,
            "--out",
        ])
        .arg(root)
        .arg(input)
        .spawn()
        .unwrap();
    let folder = root.join(dataset);
    let deadline = Instant::now() + Duration::from_secs(120);
    while parquet_files(&folder) <= parts {
        assert!(
            Instant::now() < deadline,
            "ingest never started writing parts"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest finished before it could be caught"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

#[test]
fn sigkill_mid_ingest_leaves_the_previous_version_and_a_rerun_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.jsonl");
    let big = dir.path().join("big.jsonl");
    write_cof(&small, 100);
    write_cof(&big, 400_000);
    let root = dir.path().join("store");
    let dataset_dir = root.join("raw/k");
    let v1 = ingest_json(&root, "raw/k", &[&small], &[]);
    assert_eq!(v1["records_written"], 100);

    // Kill once the new version has started writing parts but before it can commit.
    let before = parquet_files(&dataset_dir);
    let mut child = start_ingest_and_wait_for_parts(&root, "raw/k", &big, before + 3);
    child.kill().unwrap();
    child.wait().unwrap();

    let root_str = root.to_str().unwrap();
    let (manifest, records) = read_records(root_str, "raw/k");
    assert_eq!(
        manifest.rows, 100,
        "the committed version is still the visible one"
    );
    assert_eq!(records.len(), 100);
    assert!(
        parquet_files(&dataset_dir) > manifest.parts.len(),
        "the killed run left orphan parts"
    );

    let v2 = ingest_json(&root, "raw/k", &[&big], &["--orphan-grace", "0"]);
    let (manifest, _) = read_records(root_str, "raw/k");
    assert_eq!(manifest.rows, v2["records_written"].as_u64().unwrap());
    assert_eq!(
        parquet_files(&dataset_dir),
        manifest.parts.len(),
        "orphans were cleaned up"
    );
}

/// A second ingest into the same dataset while the first is writing: the first commit must
/// not delete the other run's parts, so whichever manifest wins names only parts that exist.
#[test]
fn concurrent_ingests_of_one_dataset_leave_a_readable_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.jsonl");
    write_cof(&big, 400_000);
    let small = dir.path().join("small.jsonl");
    write_cof(&small, 50);
    let root = dir.path().join("store");
    let mut slow = start_ingest_and_wait_for_parts(&root, "raw/c", &big, 1);
    let quick = ingest_json(&root, "raw/c", &[&small], &[]);
    assert_eq!(quick["records_written"], 50);
    assert!(slow.wait().unwrap().success());
    let (manifest, records) = read_records(root.to_str().unwrap(), "raw/c");
    assert_eq!(
        records.len() as u64,
        manifest.rows,
        "every listed part is readable"
    );
}

#[test]
fn sigkill_before_the_first_commit_leaves_no_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.jsonl");
    write_cof(&big, 400_000);
    let root = dir.path().join("store");
    let mut child = start_ingest_and_wait_for_parts(&root, "raw/n", &big, 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!root.join("raw/n/_manifest.json").exists());
    let err = crate::harness::runtime()
        .block_on(pdnsrep_records::read_manifest(
            &pdnsrep_records::Root::parse(root.to_str().unwrap()).unwrap(),
            "raw/n",
        ))
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let s = ingest_json(&root, "raw/n", &[&big], &[]);
    assert!(s["records_written"].as_u64().unwrap() > 100_000);
}
