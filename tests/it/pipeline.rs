//! The stages chained through the CLI, as the quick start runs them.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::UInt16Type;
use pdnsrep_records::{Root, read_manifest, read_part};

use crate::harness::{bin, run, run_ok, runtime, shared};

type Key = (String, u16, String);

/// `(name, rrtype, rdata)` → the value of `column`, for every row of a dataset.
fn column_by_key(root: &str, dataset: &str, column: &str) -> HashMap<Key, Option<String>> {
    runtime().block_on(async {
        let root = Root::parse(root).unwrap();
        let manifest = read_manifest(&root, dataset).await.unwrap();
        let mut out = HashMap::new();
        for part in &manifest.parts {
            for batch in read_part(&root, &manifest, part).await.unwrap() {
                collect(&batch, column, &mut out);
            }
        }
        out
    })
}

fn collect(batch: &RecordBatch, column: &str, out: &mut HashMap<Key, Option<String>>) {
    let name = batch.column_by_name("name").unwrap().as_string::<i32>();
    let rrtype = batch
        .column_by_name("rrtype")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let rdata = batch.column_by_name("rdata").unwrap().as_string::<i32>();
    let value = batch.column_by_name(column).unwrap().as_string::<i32>();
    for i in 0..batch.num_rows() {
        let key = (
            name.value(i).to_string(),
            rrtype.value(i),
            rdata.value(i).to_string(),
        );
        let v = (!value.is_null(i)).then(|| value.value(i).to_string());
        assert!(
            out.insert(key.clone(), v).is_none(),
            "duplicate record key {key:?}"
        );
    }
}

/// The generator writes the lists that describe its world's known part and the label each
/// record should get from them; the labelling stage, reading those lists like any others,
/// must agree record by record.
#[test]
fn synth_then_label_reproduces_the_worlds_expected_labels() {
    synth_then_label(&[]);
}

/// The same with real names woven in (Umbrella, maltrail, DGA sets, maltrail sinkholes).
#[test]
fn synth_with_real_names_then_label_agree() {
    let shared = shared("SOURCES.md");
    let names_from = shared.parent().unwrap().to_str().unwrap().to_string();
    synth_then_label(&["--names-from", &names_from]);
}

fn synth_then_label(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let synth = [
        "synth",
        "--json",
        "--name",
        "w",
        "--records",
        "20000",
        "--seed",
        "3",
        "--out",
    ];
    let world = run_ok(bin().args(synth).arg(root).args(extra));
    assert!(world.is_object());
    let lists = dir.path().join("lists/w");
    let summary = run_ok(
        bin()
            .args([
                "label",
                "--json",
                "--in",
                root,
                "--dataset",
                "raw/w",
                "--lists",
            ])
            .arg(lists.join("lists.toml"))
            .arg("--prefixes")
            .arg(lists.join("prefixes.csv")),
    );
    assert!(summary.is_object());
    let labels = column_by_key(root, "labelled/w", "label");
    let expected = column_by_key(root, "truth/w", "listed");
    assert_eq!(
        labels.len(),
        expected.len(),
        "every record is labelled or left unlabelled"
    );
    let disagreements: Vec<_> = expected
        .iter()
        .filter(|(k, v)| labels.get(*k) != Some(*v))
        .take(5)
        .collect();
    assert!(
        disagreements.is_empty(),
        "label stage and generator disagree: {disagreements:?}"
    );
    assert!(
        labels
            .values()
            .filter(|v| v.as_deref() == Some("malicious"))
            .count()
            > 50
    );
}

#[test]
fn labelling_a_missing_dataset_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let lists = dir.path().join("lists.toml");
    std::fs::write(dir.path().join("names.txt"), "example.com\n").unwrap();
    let config =
        "[[source]]\nname = \"n\"\nkind = \"allow\"\nformat = \"names\"\npath = \"names.txt\"\n";
    std::fs::write(&lists, config).unwrap();
    let out = run(bin()
        .args(["label", "--in"])
        .arg(dir.path())
        .args(["--dataset", "raw/none", "--lists"])
        .arg(&lists));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dataset `raw/none` not found"), "{stderr}");
}
