//! The paper's ordering on a small synthetic world, through the whole chain a user runs:
//! `synth` → `label` → `features` → `train` (rule, logistic regression, a network) → `eval`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{bin, run_ok};

const WORLD: &str = "paper";

/// `pdnsrep train --json` on `dataset` under `root` into `run`, with `config` when given.
fn train_cmd(root: &Path, dataset: &str, config: Option<&Path>, run: &Path) -> Command {
    let mut cmd = bin();
    cmd.args([
        "train",
        "--quiet",
        "--json",
        "--dataset",
        dataset,
        "--features",
    ])
    .arg(root)
    .arg("--run")
    .arg(run);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn train_and_eval(
    root: &Path,
    dir: &Path,
    name: &str,
    dataset: &str,
    config: &str,
) -> serde_json::Value {
    let config = write_config(dir, name, config);
    let run = dir.join("runs").join(name);
    run_ok(&mut train_cmd(root, dataset, Some(&config), &run));
    let eval = run_ok(bin().args(["eval", "--json", "--run"]).arg(&run));
    for file in ["report.md", "eval.json", "confusion.svg"] {
        assert!(
            run.join("eval").join(file).exists(),
            "{name}: eval/{file} is missing"
        );
    }
    eval
}

fn macro_f1(eval: &serde_json::Value) -> f64 {
    eval["macro_f1"].as_f64().unwrap()
}

#[test]
fn rule_below_logistic_regression_below_network_on_a_synthetic_world() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let lists = root.join("lists").join(WORLD);
    run_ok(
        bin()
            .args([
                "synth",
                "--json",
                "--name",
                WORLD,
                "--records",
                "40000",
                "--seed",
                "3",
            ])
            .arg("--out")
            .arg(&root),
    );
    run_ok(
        bin()
            .args([
                "label",
                "--json",
                "--dataset",
                "raw/paper",
                "--out-dataset",
                "labelled/paper",
            ])
            .args(["--split", "grouped-domain", "--in"])
            .arg(&root)
            .arg("--lists")
            .arg(lists.join("lists.toml"))
            .arg("--prefixes")
            .arg(lists.join("prefixes.csv")),
    );
    let features = run_ok(
        bin()
            .args(["features", "--json", "--dataset", "labelled/paper"])
            .args(["--out-dataset", "features/paper", "--in"])
            .arg(&root),
    );
    // Ingest merges the few records the generator draws twice.
    assert!(features["rows"].as_u64().unwrap() > 38_000, "{features}");

    let train = "[train]\nepochs = 6\nbatch_size = 128\nlearning_rate = 0.005\n\
                 warmup_steps = 20\nclass_weights = \"balanced\"\npatience = 0\n";
    let mlp_config = format!("[model]\nkind = \"network\"\nhidden = [64, 64]\n{train}");
    let rule = train_and_eval(
        &root,
        dir.path(),
        "rule",
        "features/paper",
        "[model]\nkind = \"rule\"\n",
    );
    let logreg = train_and_eval(
        &root,
        dir.path(),
        "logreg",
        "features/paper",
        &format!("[model]\nkind = \"network\"\n{train}"),
    );
    let mlp = train_and_eval(&root, dir.path(), "mlp", "features/paper", &mlp_config);
    let (r, l, m) = (macro_f1(&rule), macro_f1(&logreg), macro_f1(&mlp));
    eprintln!("macro-F1 on the test split: rule {r:.3}, logreg {l:.3}, mlp {m:.3}");
    assert!(
        r + 0.05 < l,
        "rule {r:.3} is not clearly below logistic regression {l:.3}"
    );
    assert!(
        l < m,
        "logistic regression {l:.3} is not below the network {m:.3}"
    );

    // A second pass by hand: the network's probabilities for every record, neighbour counts
    // recomputed from them, and the network trained again on those features.
    let predicted = run_ok(
        bin()
            .args([
                "predict",
                "--json",
                "--out-dataset",
                "predictions/paper-1",
                "--run",
            ])
            .arg(dir.path().join("runs").join("mlp")),
    );
    let by_split = &predicted["rows_by_split"];
    for split in ["train", "valid", "test", "unlabelled"] {
        assert_eq!(
            by_split[split], features["rows_by_split"][split],
            "{split}: {predicted}"
        );
    }
    let second = run_ok(
        bin()
            .args(["features", "--json", "--dataset", "labelled/paper"])
            .args([
                "--out-dataset",
                "features/paper-2",
                "--predictions",
                "predictions/paper-1",
            ])
            .arg("--in")
            .arg(&root),
    );
    assert!(
        second["neighbours"]
            .as_str()
            .unwrap()
            .ends_with("predictions/paper-1"),
        "{second}"
    );
    assert_ne!(second["spec_digest"], features["spec_digest"]);
    let two = macro_f1(&train_and_eval(
        &root,
        dir.path(),
        "mlp-2",
        "features/paper-2",
        &mlp_config,
    ));
    eprintln!("macro-F1 after a second pass: {two:.3}");
    assert!(
        r + 0.05 < two,
        "the second pass {two:.3} fell to the rule's level {r:.3}"
    );
    // `passes.count = 2` does the same chain by itself and ends with the same model.
    let config = write_config(
        dir.path(),
        "mlp-passes",
        &format!("{mlp_config}[passes]\ncount = 2\n"),
    );
    let multi = dir.path().join("runs").join("mlp-passes");
    let summary = run_ok(&mut train_cmd(
        &root,
        "features/paper",
        Some(&config),
        &multi,
    ));
    assert!(
        summary["run"].as_str().unwrap().ends_with("pass-2"),
        "{summary}"
    );
    let passes: serde_json::Value =
        serde_json::from_slice(&std::fs::read(multi.join("passes.json")).unwrap()).unwrap();
    assert_eq!(passes.as_array().unwrap().len(), 2, "{passes}");
    let chained = macro_f1(&run_ok(
        bin()
            .args(["eval", "--json", "--run"])
            .arg(multi.join("pass-2")),
    ));
    assert!(
        (chained - two).abs() < 1e-9,
        "passes = 2 gave {chained}, the hand-made chain {two}"
    );
    // A second call without --resume is refused; with it, nothing is redone.
    let again = crate::harness::run(&mut train_cmd(
        &root,
        "features/paper",
        Some(&config),
        &multi,
    ));
    assert_eq!(again.status.code(), Some(2));
    let written = |relative: &str| {
        std::fs::metadata(multi.join(relative))
            .and_then(|m| m.modified())
            .unwrap()
    };
    let outputs = [
        "pass-1/predictions/_manifest.json",
        "pass-2/features/_manifest.json",
        "pass-2/model/model.bpk",
    ];
    let before: Vec<_> = outputs.iter().map(|o| written(o)).collect();
    let resumed = run_ok(train_cmd(&root, "features/paper", None, &multi).arg("--resume"));
    assert_eq!(resumed["steps"], summary["steps"]);
    let after: Vec<_> = outputs.iter().map(|o| written(o)).collect();
    assert_eq!(before, after, "a finished stage was redone");
}
