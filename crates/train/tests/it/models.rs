//! On a problem built so that each model sees more than the last, accuracy orders
//! rule < logistic regression < network; and a trained model predicts the same after a reload.

use pdnsrep_train::synthetic::Synthetic;
use pdnsrep_train::{Backend, Confusion, Predictor, Quiet, argmax_rows, predict_split, train};

use crate::harness::{Fixture, fixture};

async fn test_accuracy(f: &Fixture, name: &str, toml: &str) -> f64 {
    let request = f.request(name, Some(toml), false);
    let run = request.run.clone();
    let summary = train(request, &mut Quiet).await.unwrap();
    assert_ne!(summary.stop_reason, "interrupted");
    let (predictor, _, info) = Predictor::load(&run, Backend::Flex).await.unwrap();
    let test = predict_split(&predictor, &info, None, "test", 256)
        .await
        .unwrap();
    let mut confusion = Confusion::new(3);
    for (t, p) in test.labels.iter().zip(argmax_rows(&test.probs, 3)) {
        confusion.push(*t, p);
    }
    confusion.accuracy()
}

const TRAIN: &str = "[train]\nepochs = 12\nbatch_size = 64\nlearning_rate = 0.01\n\
                     warmup_steps = 10\nshuffle_buffer = 1000\npatience = 0\n";

#[tokio::test]
async fn rule_below_logistic_regression_below_network() {
    let f = fixture(Synthetic {
        rows: 6000,
        ..Synthetic::default()
    })
    .await;
    let rule = test_accuracy(&f, "rule", "[model]\nkind = \"rule\"\n").await;
    let logreg = test_accuracy(
        &f,
        "logreg",
        &format!("[model]\nkind = \"network\"\n{TRAIN}"),
    )
    .await;
    let mlp = test_accuracy(
        &f,
        "mlp",
        &format!("[model]\nkind = \"network\"\nhidden = [32, 32]\n{TRAIN}"),
    )
    .await;
    eprintln!("test accuracy: rule {rule:.3}, logreg {logreg:.3}, mlp {mlp:.3}");
    assert!(rule + 0.03 < logreg, "rule {rule:.3} vs logreg {logreg:.3}");
    assert!(logreg + 0.1 < mlp, "logreg {logreg:.3} vs mlp {mlp:.3}");
    assert!(mlp > 0.85, "mlp {mlp:.3}");
}

#[tokio::test]
async fn a_new_run_refuses_an_existing_folder_and_resume_needs_one() {
    let f = fixture(Synthetic {
        rows: 400,
        ..Synthetic::default()
    })
    .await;
    let request = |resume| f.request("twice", Some("[model]\nkind = \"rule\"\n"), resume);
    let err = train(request(true), &mut Quiet).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("nothing to resume: no `config.toml`"),
        "{err}"
    );
    assert!(err.is_input());
    train(request(false), &mut Quiet).await.unwrap();
    let err = train(request(false), &mut Quiet).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("already holds a run; pass `--resume`"),
        "{err}"
    );
}
