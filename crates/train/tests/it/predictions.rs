//! A predictions dataset holds one row per feature row, keys and labels copied, probabilities
//! equal to what the model predicts for that row.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, UInt8Type};
use pdnsrep_records::{read_manifest, read_part};
use pdnsrep_train::synthetic::Synthetic;
use pdnsrep_train::{Backend, PREDICTIONS_KIND, Predictor, predict_split, write_predictions};

use crate::harness::{DATASET, fixture};

/// A written row: its label and class probabilities.
type Row = (Option<u8>, [f32; 3]);

#[tokio::test]
async fn predictions_cover_every_row_with_keys_labels_and_the_models_probabilities() {
    let f = fixture(Synthetic {
        rows: 600,
        ..Synthetic::default()
    })
    .await;
    let run = f
        .train_new(
            "logreg",
            "[model]\nkind = \"network\"\n[train]\nepochs = 2\nbatch_size = 64\n\
             learning_rate = 0.01\npatience = 0\n",
        )
        .await;
    let (predictor, _, info) = Predictor::load(&run, Backend::Flex).await.unwrap();
    let splits = ["train", "valid", "test", "unlabelled"];
    let summary = write_predictions(
        &predictor,
        &run,
        &info,
        &f.source,
        &splits,
        &f.root,
        "predictions/p1",
    )
    .await
    .unwrap();
    let features_rows: u64 = f.source.manifest.parts.iter().map(|p| p.rows).sum();
    assert_eq!(summary.rows_by_split.values().sum::<u64>(), features_rows);
    assert_eq!(summary.predicted.values().sum::<u64>(), features_rows);

    let manifest = read_manifest(&f.root, "predictions/p1").await.unwrap();
    assert_eq!(manifest.kind, PREDICTIONS_KIND);
    let mut by_split: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for part in &manifest.parts {
        for batch in read_part(&f.root, &manifest, part).await.unwrap() {
            let split = batch.column_by_name("split").unwrap().as_string::<i32>();
            let label = batch
                .column_by_name("label")
                .unwrap()
                .as_primitive::<UInt8Type>();
            let p = |c: &str| {
                batch
                    .column_by_name(c)
                    .unwrap()
                    .as_primitive::<Float32Type>()
                    .clone()
            };
            let (b, m, s) = (p("p_benign"), p("p_malicious"), p("p_sinkhole"));
            for i in 0..batch.num_rows() {
                let probs = [b.value(i), m.value(i), s.value(i)];
                assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{probs:?}");
                by_split
                    .entry(split.value(i).to_string())
                    .or_default()
                    .push((label.is_valid(i).then(|| label.value(i)), probs));
            }
        }
    }
    // Unlabelled rows are there, without labels.
    let unlabelled = &by_split["unlabelled"];
    assert!(!unlabelled.is_empty());
    assert!(unlabelled.iter().all(|(l, _)| l.is_none()));
    // The test split's rows, in stored order, carry the labels and probabilities that
    // predicting the split directly gives.
    let direct = predict_split(&predictor, &info, None, "test", 128)
        .await
        .unwrap();
    let written = &by_split["test"];
    assert_eq!(written.len(), direct.labels.len());
    for (i, (label, probs)) in written.iter().enumerate() {
        assert_eq!(*label, Some(direct.labels[i]));
        for (c, p) in probs.iter().enumerate() {
            assert!((p - direct.probs[i * 3 + c]).abs() < 1e-5);
        }
    }
}

#[tokio::test]
async fn predictions_refuse_features_of_another_featurizer() {
    let f = fixture(Synthetic {
        rows: 300,
        ..Synthetic::default()
    })
    .await;
    let other = fixture(Synthetic {
        rows: 300,
        seed: 99,
        ..Synthetic::default()
    })
    .await;
    let run = f.train_new("rule", "[model]\nkind = \"rule\"\n").await;
    let (predictor, _, info) = Predictor::load(&run, Backend::Flex).await.unwrap();
    let err = write_predictions(
        &predictor,
        &run,
        &info,
        &other.source,
        &["test"],
        &f.root,
        "predictions/x",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("featurizer"), "{err}");
    // Nor onto the features it reads, nor with a split twice.
    let onto = write_predictions(
        &predictor,
        &run,
        &info,
        &f.source,
        &["test"],
        &f.root,
        DATASET,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(onto.starts_with("refusing to write"), "{onto}");
    assert_eq!(
        read_manifest(&f.root, DATASET).await.unwrap().kind,
        "features"
    );
    let twice = write_predictions(
        &predictor,
        &run,
        &info,
        &f.source,
        &["test", "test"],
        &f.root,
        "predictions/y",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(twice.contains("twice"), "{twice}");
    assert!(
        read_manifest(&f.root, "predictions/x").await.is_err(),
        "nothing is committed"
    );
}
