//! Shared helpers: running the binary, locating the shared data, reading datasets back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pdnsrep_records::schema::batch_to_records;
use pdnsrep_records::{Manifest, Record, Root, read_manifest, read_part};

pub(crate) fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pdnsrep"));
    cmd.env_remove("PDNSREP_ROOT").env("RUST_LOG", "warn");
    cmd
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The public test data that CI lays beside the checkout (`../shared/data`).
pub(crate) fn shared(relative: &str) -> PathBuf {
    let base = std::env::var_os("PDNSREP_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let path = base.join(relative);
    assert!(
        path.exists(),
        "test data `{}` is missing: these tests need ../shared/data beside the checkout \
         (or PDNSREP_SHARED_DATA pointing at it)",
        path.display()
    );
    path
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    if !out.status.success() {
        eprintln!("stdout: {}", String::from_utf8_lossy(&out.stdout));
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

pub(crate) fn run_ok(cmd: &mut Command) -> serde_json::Value {
    let out = run(cmd);
    assert!(out.status.success(), "command failed: {cmd:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Reads every record of a committed dataset, in part order.
pub(crate) fn read_records(root: &str, dataset: &str) -> (Manifest, Vec<Record>) {
    read_records_from(&Root::parse(root).unwrap(), dataset)
}

pub(crate) fn read_records_from(root: &Root, dataset: &str) -> (Manifest, Vec<Record>) {
    runtime().block_on(async {
        let root = root.clone();
        let manifest = read_manifest(&root, dataset).await.unwrap();
        let mut records = Vec::new();
        for part in &manifest.parts {
            for batch in read_part(&root, &manifest, part).await.unwrap() {
                records.extend(batch_to_records(&batch).unwrap());
            }
        }
        (manifest, records)
    })
}

pub(crate) fn ingest_json(
    root: &Path,
    dataset: &str,
    inputs: &[&Path],
    extra: &[&str],
) -> serde_json::Value {
    let mut cmd = bin();
    cmd.arg("ingest")
        .arg("--out")
        .arg(root)
        .arg("--dataset")
        .arg(dataset)
        .arg("--json");
    cmd.args(extra).args(inputs);
    run_ok(&mut cmd)
}
