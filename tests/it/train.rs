//! `pdnsrep train` killed mid-run with SIGKILL and rerun with `--resume` ends with the same
//! model as an uninterrupted run; `eval` and `dga` work on its output.

use std::path::Path;
use std::time::{Duration, Instant};

use pdnsrep_records::Root;
use pdnsrep_train::synthetic::Synthetic;
use pdnsrep_train::{Backend, Predictor, RunDir, predict_split};

use crate::harness::{bin, run, run_ok, runtime};

const CONFIG: &str = "[model]\nkind = \"network\"\nhidden = [16]\ndropout = 0.1\n\
                      [train]\nepochs = 30\nbatch_size = 32\nshuffle_buffer = 500\n\
                      checkpoint_every = 20\nlearning_rate = 0.005\npatience = 0\n";

fn train_cmd(root: &Path, config: &Path, run: &Path) -> std::process::Command {
    let mut cmd = bin();
    cmd.args([
        "train",
        "--quiet",
        "--json",
        "--dataset",
        "f/syn",
        "--features",
    ])
    .arg(root)
    .arg("--config")
    .arg(config)
    .arg("--run")
    .arg(run);
    cmd
}

fn test_probs(run: &Path) -> Vec<f32> {
    runtime().block_on(async {
        let run = RunDir::open(run.to_str().unwrap()).unwrap();
        let (predictor, _, info) = Predictor::load(&run, Backend::Flex).await.unwrap();
        predict_split(&predictor, &info, None, "test", 512)
            .await
            .unwrap()
            .probs
    })
}

#[test]
fn sigkill_mid_training_then_resume_ends_like_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    runtime().block_on(async {
        let root = Root::parse(root.to_str().unwrap()).unwrap();
        Synthetic {
            rows: 1000,
            ..Synthetic::default()
        }
        .write(&root, "f/syn")
        .await
        .unwrap();
    });
    let config = dir.path().join("model.toml");
    std::fs::write(&config, CONFIG).unwrap();

    let whole = dir.path().join("whole");
    let summary = run_ok(&mut train_cmd(&root, &config, &whole));
    assert_eq!(summary["stop_reason"], "finished");

    let killed = dir.path().join("killed");
    let mut child = train_cmd(&root, &config, &killed).spawn().unwrap();
    let pointer = killed.join("checkpoint.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pointer.exists() {
        assert!(Instant::now() < deadline, "no checkpoint was ever written");
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("model/model.bpk").exists(),
        "killed before the end"
    );

    let again = run(&mut train_cmd(&root, &config, &killed));
    assert_eq!(
        again.status.code(),
        Some(2),
        "a new run into a used folder is refused"
    );
    let resumed = run_ok(train_cmd(&root, &config, &killed).arg("--resume"));
    assert!(resumed["resumed_from_step"].as_u64().unwrap() >= 20);
    assert_eq!(resumed["steps"], summary["steps"]);

    let (a, b) = (test_probs(&whole), test_probs(&killed));
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "resumed model differs by {diff}");

    let eval = run_ok(bin().args(["eval", "--json", "--run"]).arg(&killed));
    assert!(eval["accuracy"].as_f64().unwrap() > 0.5, "{eval}");
    // The same saved model on another backend: the same confusion matrix, AUCs within float
    // tolerance.
    let other = run_ok(
        bin()
            .args(["eval", "--json", "--backend", "ndarray", "--run"])
            .arg(&killed),
    );
    assert_eq!(other["confusion"], eval["confusion"]);
    for (a, b) in eval["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .zip(other["per_class"].as_array().unwrap())
    {
        let (a, b) = (
            a["roc_auc"].as_f64().unwrap_or(0.0),
            b["roc_auc"].as_f64().unwrap_or(0.0),
        );
        assert!((a - b).abs() < 1e-4, "ROC-AUC on flex {a} vs ndarray {b}");
    }
    for file in ["report.md", "eval.json", "confusion.svg"] {
        assert!(killed.join("eval").join(file).exists(), "eval/{file}");
    }
    let gate = run(bin()
        .args(["eval", "--min-macro-f1", "0.999", "--run"])
        .arg(&killed));
    assert_eq!(gate.status.code(), Some(1), "the macro-F1 gate fails");
}

#[test]
fn dga_train_and_score_from_list_files() {
    let dir = tempfile::tempdir().unwrap();
    let benign = dir.path().join("benign.txt");
    let dga = dir.path().join("dga.csv");
    let words = [
        "mail", "shop", "news", "cloud", "bank", "photo", "music", "video",
    ];
    let mut b = String::from("# top list\n");
    for (i, w) in words.iter().cycle().take(400).enumerate() {
        b.push_str(&format!("{},{w}{}.com\n", i + 1, i / 8));
    }
    std::fs::write(&benign, b).unwrap();
    let mut d = String::from("domain,family,source_path\n");
    let mut x: u64 = 12345;
    for i in 0..400 {
        let name: String = (0..14)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'a' + (x >> 59) as u8 % 26)
            })
            .collect();
        d.push_str(&format!("{name}{i}.net,fam,x/y.txt\n"));
    }
    std::fs::write(&dga, d).unwrap();
    let config = dir.path().join("dga.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/models/dga.toml"),
        )
        .unwrap()
        // 644 training names: small batches and a short warm-up so a few epochs learn.
        .replace("epochs = 3", "epochs = 6")
        .replace("batch_size = 256", "batch_size = 32")
        .replace("warmup_steps = 50", "warmup_steps = 10")
        .replace("patience = 2", "patience = 0"),
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    let summary = run_ok(
        bin()
            .args(["dga", "train", "--json", "--benign"])
            .arg(&benign)
            .arg("--dga")
            .arg(&dga)
            .arg("--config")
            .arg(&config)
            .arg("--run")
            .arg(&run_dir),
    );
    assert_eq!(summary["dataset"]["benign"], 400);
    assert_eq!(summary["dataset"]["dga"], 400);
    assert!(summary["test"]["f1"].as_f64().unwrap() > 0.8, "{summary}");
    let out = run(bin()
        .args(["dga", "score", "--run"])
        .arg(&run_dir)
        .arg(&benign));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 400);
    assert!(lines[0].starts_with("mail0.com,"), "{}", lines[0]);
}
