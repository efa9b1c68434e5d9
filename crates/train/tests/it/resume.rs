//! A run interrupted after a checkpoint and resumed by a new trainer ends with the same weights
//! as an uninterrupted run.

use pdnsrep_records::features::CLASSES;
use pdnsrep_train::synthetic::Synthetic;
use pdnsrep_train::{
    Backend, BatchStream, Predictor, Quiet, RunDir, StreamOptions, TrainRequest, TrainSummary,
    Widths, train,
};

use crate::harness::{Fixture, fixture};

const CONFIG: &str = "[model]\nkind = \"network\"\nhidden = [16]\ndropout = 0.2\n\
                      [train]\nepochs = 3\nbatch_size = 32\nshuffle_buffer = 200\n\
                      checkpoint_every = 7\nlearning_rate = 0.01\nwarmup_steps = 5\n\
                      patience = 0\nweight_decay = 0.01\n";

async fn run(f: &Fixture, name: &str, resume: bool, stop: Option<u64>) -> TrainSummary {
    let request = TrainRequest {
        stop_after_steps: stop,
        warm_start: None,
        ..f.request(name, Some(CONFIG), resume)
    };
    train(request, &mut Quiet).await.unwrap()
}

/// The run's final model's probabilities on the test split.
async fn test_probs(f: &Fixture, name: &str) -> Vec<f32> {
    let run = RunDir::open(&f.run_url(name)).unwrap();
    let (predictor, _, _) = Predictor::load(&run, Backend::Flex).await.unwrap();
    let units = f.source.units("test").await.unwrap();
    let stream = BatchStream::start(
        f.root.store().clone(),
        units,
        Widths::of(&f.source.spec),
        StreamOptions::default(),
    );
    let mut out = Vec::new();
    for batch in stream {
        out.extend(predictor.predict(&batch.unwrap()).unwrap());
    }
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[tokio::test]
async fn interrupted_and_resumed_twice_ends_like_an_uninterrupted_run() {
    let f = fixture(Synthetic {
        rows: 1000,
        ..Synthetic::default()
    })
    .await;
    let whole = run(&f, "whole", false, None).await;
    // 700 train rows, 22 steps an epoch: stop mid-epoch 1 (two steps after the checkpoint at
    // step 7, which are lost and redone), then across the epoch boundary.
    let first = run(&f, "split", false, Some(9)).await;
    assert_eq!(first.stop_reason, "interrupted");
    let second = run(&f, "split", true, Some(20)).await;
    assert_eq!(second.resumed_from_step, Some(7));
    assert_eq!(second.stop_reason, "interrupted");
    let last = run(&f, "split", true, None).await;
    assert_eq!(last.resumed_from_step, Some(22));
    assert_eq!((whole.steps, last.steps), (66, 66));
    let a = test_probs(&f, "whole").await;
    let b = test_probs(&f, "split").await;
    assert_eq!(a.len(), 100 * CLASSES.len());
    let diff = max_diff(&a, &b);
    assert!(diff < 1e-5, "resumed run differs by {diff}");

    // The comparison can fail: a run with another seed ends elsewhere.
    let other = CONFIG.replace("[train]\n", "[train]\nseed = 1\n");
    f.train_new("other", &other).await;
    let c = test_probs(&f, "other").await;
    assert!(max_diff(&a, &c) > 1e-3);
}

#[tokio::test]
async fn resuming_a_finished_run_changes_nothing() {
    let f = fixture(Synthetic {
        rows: 400,
        ..Synthetic::default()
    })
    .await;
    let done = run(&f, "done", false, None).await;
    let before = test_probs(&f, "done").await;
    let again = run(&f, "done", true, None).await;
    assert_eq!(again.steps, done.steps);
    assert_eq!(max_diff(&before, &test_probs(&f, "done").await), 0.0);
}

/// Flips one byte in the middle of a file of a run.
fn flip_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_changed_byte_in_checkpoint_or_final_weights_is_refused_with_the_file_named() {
    let f = fixture(Synthetic {
        rows: 400,
        ..Synthetic::default()
    })
    .await;
    let stopped = run(&f, "broken", false, Some(9)).await;
    assert_eq!(stopped.stop_reason, "interrupted");
    let dir = f.dir.path().join("runs").join("broken");
    let checkpoint = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("model.bpk").exists())
        .expect("a checkpoint was written");
    flip_byte(&checkpoint.join("model.bpk"));
    let resumed = train(f.request("broken", None, true), &mut Quiet).await;
    let err = resumed.unwrap_err().to_string();
    assert!(err.contains("model.bpk` is corrupt"), "{err}");

    run(&f, "whole", false, None).await;
    flip_byte(&f.dir.path().join("runs/whole/model/model.bpk"));
    let run = RunDir::open(&f.run_url("whole")).unwrap();
    let err = Predictor::load(&run, Backend::Flex)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`model/model.bpk` is corrupt"), "{err}");
}
