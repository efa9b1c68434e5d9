//! `pdnsrep sweep` on a small synthetic world: the pass tree trains each shared pass once, and
//! a sweep killed at random points and resumed ends with the table of an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng, SeedableRng};

use crate::harness::{bin, run_ok};

/// Synthesizes, labels and featurizes a world of `records` under `root` as `features/<name>`.
pub(crate) fn world(root: &Path, name: &str, records: u32, split: &str) {
    let lists = root.join("lists").join(name);
    run_ok(
        bin()
            .args(["synth", "--json", "--name", name, "--seed", "5"])
            .args(["--records", &records.to_string(), "--out"])
            .arg(root),
    );
    run_ok(
        bin()
            .args(["label", "--json", "--dataset", &format!("raw/{name}")])
            .args(["--out-dataset", &format!("labelled/{name}")])
            .args(["--split", split, "--in"])
            .arg(root)
            .arg("--lists")
            .arg(lists.join("lists.toml"))
            .arg("--prefixes")
            .arg(lists.join("prefixes.csv")),
    );
    run_ok(
        bin()
            .args([
                "features",
                "--json",
                "--dataset",
                &format!("labelled/{name}"),
            ])
            .args(["--out-dataset", &format!("features/{name}"), "--in"])
            .arg(root),
    );
}

/// A sweep file over a small network, `epochs` of batches of 32; `trials` are `[[trial]]`
/// tables.
pub(crate) fn sweep_file(
    dir: &Path,
    name: &str,
    epochs: u32,
    datasets: &str,
    trials: &str,
) -> PathBuf {
    let text = format!(
        "concurrency = 2\n\
         [base.model]\nkind = \"network\"\nhidden = [32]\n\
         [base.train]\nepochs = {epochs}\nbatch_size = 32\nlearning_rate = 0.005\n\
         warmup_steps = 10\npatience = 0\ncheckpoint_every = 40\nlog_every = 1\n\
         [datasets]\n{datasets}\n{trials}"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn sweep_cmd(root: &Path, file: &Path, run: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["sweep", "--quiet", "--json", "--features"])
        .arg(root)
        .arg("--run")
        .arg(run)
        .arg(file);
    cmd
}

/// Every file under `dir` with its modification time and length.
fn files(dir: &Path) -> BTreeMap<PathBuf, (SystemTime, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let meta = std::fs::metadata(&path).unwrap();
                out.insert(path, (meta.modified().unwrap(), meta.len()));
            }
        }
    }
    out
}

fn results(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn pass_ids(row: &serde_json::Value) -> Vec<String> {
    row["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["node"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_longer_trial_reuses_the_passes_it_shares_with_its_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "tree", 6000, "grouped-domain");
    let run = dir.path().join("sweep");
    let datasets = "grouped = \"features/tree\"";
    let two = "[[trial]]\nname = \"one pass\"\n\
               [[trial]]\nname = \"two passes\"\nset = { \"passes.count\" = 2 }\n";
    let first = sweep_file(dir.path(), "first", 2, datasets, two);
    let outcome = run_ok(&mut sweep_cmd(&root, &first, &run));
    // Two trials, three passes between them, two trained: the first pass is shared.
    assert_eq!(
        (
            &outcome["nodes"],
            &outcome["separate_passes"],
            &outcome["trained"]
        ),
        (&2.into(), &3.into(), &2.into()),
        "{outcome}"
    );
    let rows = results(&run);
    let (one, two_ids) = (pass_ids(&rows[0]), pass_ids(&rows[1]));
    assert_eq!(two_ids.len(), 2);
    assert_eq!(one[0], two_ids[0]);
    let before = files(&run.join("nodes"));

    // A third trial with three passes: only its third pass is trained.
    let three =
        format!("{two}[[trial]]\nname = \"three passes\"\nset = {{ \"passes.count\" = 3 }}\n");
    let second = sweep_file(dir.path(), "second", 2, datasets, &three);
    let outcome = run_ok(&mut sweep_cmd(&root, &second, &run));
    assert_eq!(
        (
            &outcome["nodes"],
            &outcome["already_done"],
            &outcome["trained"]
        ),
        (&3.into(), &2.into(), &1.into()),
        "{outcome}"
    );
    let after = files(&run.join("nodes"));
    for (path, stamp) in &before {
        // The predictions pass 2 now needs are new; nothing that existed was rewritten.
        assert_eq!(
            after.get(path),
            Some(stamp),
            "{} was rewritten",
            path.display()
        );
    }
    let rows = results(&run);
    let three_ids = pass_ids(&rows[2]);
    assert_eq!(three_ids.len(), 3);
    assert_eq!(three_ids[..2], two_ids[..]);
    let new_dirs: Vec<&PathBuf> = after
        .keys()
        .filter(|p| p.ends_with("node.json") && !before.contains_key(*p))
        .collect();
    assert_eq!(new_dirs.len(), 1, "{new_dirs:?}");
    assert!(new_dirs[0].to_string_lossy().contains(&three_ids[2]));
    for row in &rows {
        assert_eq!(row["status"], "done", "{row}");
    }
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("| three passes |"), "{report}");
    assert!(report.contains("## Passes"), "{report}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("three passes"));
    assert!(
        !html.contains("src=\"http"),
        "the page must not load anything"
    );

    // The dataset written again under the same name is other data as far as the sweep knows:
    // nothing of the old tree is reused.
    std::fs::remove_dir_all(root.join("features/tree")).unwrap();
    run_ok(
        bin()
            .args(["features", "--json", "--dataset", "labelled/tree"])
            .args(["--out-dataset", "features/tree", "--in"])
            .arg(&root),
    );
    let outcome = run_ok(&mut sweep_cmd(&root, &second, &run));
    assert_eq!(
        (&outcome["already_done"], &outcome["trained"]),
        (&0.into(), &3.into())
    );
}

/// The parts of a report a rerun must reproduce: each trial's status and test confusion.
fn table(run: &Path) -> Vec<(String, String, String, serde_json::Value)> {
    results(run)
        .iter()
        .map(|r| {
            (
                r["trial"].as_str().unwrap().to_string(),
                r["label"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["test"]["confusion"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_sweep_killed_three_times_and_resumed_ends_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    // Big enough that a pass trains for a second or two and its predictions are not perfect.
    world(&root, "grouped", 30_000, "grouped-domain");
    world(&root, "random", 30_000, "random");
    let file = sweep_file(
        dir.path(),
        "kill",
        8,
        "grouped = \"features/grouped\"\nrandom = \"features/random\"",
        "[[trial]]\nname = \"logreg\"\nset = { layers = 0 }\n\
         [[trial]]\nname = \"two passes\"\nset = { \"passes.count\" = 2 }\n",
    );
    let whole = dir.path().join("whole");
    let started = Instant::now();
    let outcome = run_ok(&mut sweep_cmd(&root, &file, &whole));
    let took = started.elapsed();
    assert_eq!(outcome["trained"], 6, "{outcome}");

    let seed: u64 = rand::rng().random();
    eprintln!("kill points drawn with seed {seed}");
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let killed = dir.path().join("killed");
    let mut kills = 0;
    for _ in 0..3 {
        let wait = took.mul_f64(rng.random_range(0.05..0.3));
        let mut child = sweep_cmd(&root, &file, &killed)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // A child still running has work left: killing it interrupts the sweep.
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 2, "the sweep finished before it could be killed");
    let outcome = run_ok(&mut sweep_cmd(&root, &file, &killed));
    assert_eq!(outcome["failed"], serde_json::json!([]), "{outcome}");
    assert_eq!(table(&killed), table(&whole));
    let report = |run: &Path| std::fs::read_to_string(run.join("report.md")).unwrap();
    assert_eq!(report(&killed), report(&whole));
    // Publishing a sweep's best trial needs the dataset when there are several.
    let reg = dir.path().join("registry");
    let publish = |label: Option<&str>| {
        let mut cmd = bin();
        cmd.args(["publish", "--json", "--model", "best", "--registry"])
            .arg(&reg)
            .arg("--sweep")
            .arg(&whole);
        if let Some(label) = label {
            cmd.args(["--label", label]);
        }
        crate::harness::run(&mut cmd)
    };
    let refused = publish(None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--label"));
    let published = publish(Some("random"));
    assert!(published.status.success());
    let shown = run_ok(
        bin()
            .args(["registry", "--json", "--registry"])
            .arg(&reg)
            .args(["show", "best"]),
    );
    let best = &outcome["best"][1];
    assert_eq!(best["label"], "random");
    let note = shown["artifact"]["source_note"].as_str().unwrap();
    assert!(note.contains(best["trial"].as_str().unwrap()), "{note}");
    // The report sets the split modes side by side.
    assert!(
        report(&whole)
            .contains("| trial | grouped accuracy | grouped macro-F1 | random accuracy |")
    );
}

/// The loss of the first logged step of a pass's run.
fn first_loss(run: &Path, node: &str) -> f64 {
    let text = std::fs::read_to_string(run.join("nodes").join(node).join("metrics.jsonl")).unwrap();
    let line = text.lines().next().unwrap();
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["report"]["loss"].as_f64().unwrap()
}

#[test]
fn a_warm_started_pass_starts_from_its_parent_and_a_settled_pass_is_not_trained() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "warm", 6000, "grouped-domain");
    let run = dir.path().join("sweep");
    let file = sweep_file(
        dir.path(),
        "warm",
        2,
        "grouped = \"features/warm\"",
        "[[trial]]\nname = \"cold\"\nset = { \"passes.count\" = 2 }\n\
         [[trial]]\nname = \"warm\"\nset = { \"passes.count\" = 2, \"passes.warm_start\" = true }\n\
         [[trial]]\nname = \"settles\"\nset = { \"passes.count\" = 3, \"passes.min_change\" = 1.0 }\n",
    );
    let outcome = run_ok(&mut sweep_cmd(&root, &file, &run));
    // One shared first pass, a second pass for each trial, and the settled third pass.
    assert_eq!(outcome["nodes"], 5, "{outcome}");
    let rows = results(&run);
    let (cold, warm, settles) = (pass_ids(&rows[0]), pass_ids(&rows[1]), pass_ids(&rows[2]));
    assert_eq!((cold[0] == warm[0], warm[0] == settles[0]), (true, true));
    // Warm: the first step already has the loss of a trained model, far below a fresh one's.
    let (cold_loss, warm_loss) = (first_loss(&run, &cold[1]), first_loss(&run, &warm[1]));
    assert!(
        warm_loss < 0.5 * cold_loss,
        "warm {warm_loss} vs cold {cold_loss}"
    );
    // Settled: fewer than all records changed class, so pass 3 stands in with pass 2's scores.
    let third: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("nodes").join(&settles[2]).join("node.json")).unwrap(),
    )
    .unwrap();
    let share = third["settled"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&share), "{third}");
    assert_eq!(third["steps"], 0);
    assert!(
        !run.join("nodes")
            .join(&settles[2])
            .join("config.toml")
            .exists()
    );
    assert_eq!(rows[2]["test"], rows[2]["passes"][1]["test"]);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("not trained: "), "{report}");
}

#[test]
fn train_with_min_change_stops_once_the_predictions_settle() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "chain", 6000, "grouped-domain");
    let config = dir.path().join("chain.toml");
    let text = |min_change: f64| {
        format!(
            "[model]\nkind = \"network\"\nhidden = [16]\n\
             [train]\nepochs = 2\nbatch_size = 64\nwarmup_steps = 5\npatience = 0\n\
             [passes]\ncount = 3\nmin_change = {min_change}\nwarm_start = true\n"
        )
    };
    let train = |run: &Path| {
        let mut cmd = bin();
        cmd.args(["train", "--quiet", "--json", "--dataset", "features/chain"])
            .arg("--features")
            .arg(&root)
            .arg("--config")
            .arg(&config)
            .arg("--run")
            .arg(run);
        run_ok(&mut cmd)
    };
    let passes = |run: &Path| -> Vec<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(run.join("passes.json")).unwrap()).unwrap()
    };
    // Any change is "too little" at 1.0: pass 3 is never trained.
    std::fs::write(&config, text(1.0)).unwrap();
    let settled = dir.path().join("settled");
    train(&settled);
    let records = passes(&settled);
    assert_eq!(records.len(), 2, "{records:?}");
    let share = records[1]["changed_share"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&share), "{share}");
    assert!(!settled.join("pass-3").exists());
    // At 0 no change is small enough to stop: all three passes train.
    std::fs::write(&config, text(0.0)).unwrap();
    let all = dir.path().join("all");
    train(&all);
    let records = passes(&all);
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[1]["changed_share"].as_f64(), Some(share));
}

#[test]
fn a_sweep_refuses_missing_or_wrong_datasets_and_a_folder_another_sweep_holds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "bad", 3000, "grouped-domain");
    let trial = "[[trial]]\nname = \"one\"\n";
    let run = dir.path().join("sweep");
    for (datasets, needle) in [
        ("g = \"features/nope\"", "`datasets.g`"),
        ("g = \"labelled/bad\"", "not features"),
    ] {
        let file = sweep_file(dir.path(), "bad", 1, datasets, trial);
        let out = crate::harness::run(&mut sweep_cmd(&root, &file, &run));
        assert_eq!(out.status.code(), Some(2), "{datasets}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{datasets}: {stderr}");
    }
    let file = sweep_file(dir.path(), "ok", 1, "g = \"features/bad\"", trial);
    // A live process holds the folder (this test's own).
    std::fs::create_dir_all(&run).unwrap();
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let lock = |pid: u32| {
        let text = format!("{{\"host\": \"{host}\", \"pid\": {pid}, \"since_unix_s\": 0}}");
        std::fs::write(run.join("_lock.json"), text).unwrap();
    };
    lock(std::process::id());
    let out = crate::harness::run(&mut sweep_cmd(&root, &file, &run));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is running a sweep in this folder"));
    // A dead one does not: its lock is taken over, and released at the end.
    lock(u32::MAX - 1);
    let outcome = run_ok(&mut sweep_cmd(&root, &file, &run));
    assert_eq!(outcome["trained"], 1, "{outcome}");
    assert!(!run.join("_lock.json").exists());
}

#[test]
fn with_truth_the_report_scores_the_unlisted_records_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    world(&root, "truth", 6000, "grouped-domain");
    let file = sweep_file(
        dir.path(),
        "truth",
        2,
        "g = \"features/truth\"",
        "[[trial]]\nname = \"one\"\n[[trial]]\nname = \"two\"\nset = { \"passes.count\" = 2 }\n",
    );
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("truth = \"truth/truth\"\n{text}")).unwrap();
    let run = dir.path().join("sweep");
    run_ok(&mut sweep_cmd(&root, &file, &run));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("features/truth/_manifest.json")).unwrap(),
    )
    .unwrap();
    let unlabelled = manifest["stats"]["rows_by_split"]["unlabelled"]
        .as_u64()
        .unwrap();
    assert!(unlabelled > 0);
    for row in results(&run) {
        let scored = &row["unlisted"];
        assert_eq!(scored["n"].as_u64(), Some(unlabelled), "{row}");
        let confusion: u64 = scored["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
            .sum();
        assert_eq!(confusion, unlabelled);
    }
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("## Unlisted records against the ground truth, `g`"),
        "{report}"
    );
    // A missing truth dataset is refused before anything trains.
    std::fs::write(&file, format!("truth = \"truth/nope\"\n{text}")).unwrap();
    let out = crate::harness::run(&mut sweep_cmd(&root, &file, &dir.path().join("other")));
    assert_eq!(out.status.code(), Some(2));
}
