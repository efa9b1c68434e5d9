//! The loader's order is a function of (units, seed, epoch), and a resume sees exactly the rest.

use pdnsrep_train::synthetic::Synthetic;
use pdnsrep_train::{BatchStream, StreamOptions, Widths};

use crate::harness::fixture;

/// Each synthetic row is identified by its numeric features.
type RowId = [u32; 3];

fn rows(
    f: &crate::harness::Fixture,
    options: StreamOptions,
    units: &[pdnsrep_train::Unit],
) -> Vec<RowId> {
    let stream = BatchStream::start(
        f.root.store().clone(),
        units.to_vec(),
        Widths::of(&f.source.spec),
        options,
    );
    let mut out = Vec::new();
    for batch in stream {
        let batch = batch.unwrap();
        for row in batch.inputs.numeric.chunks_exact(3) {
            out.push([row[0].to_bits(), row[1].to_bits(), row[2].to_bits()]);
        }
    }
    out
}

fn options(epoch: u64, skip_rows: u64) -> StreamOptions {
    StreamOptions {
        batch_size: 50,
        shuffle_buffer: 300,
        seed: 11,
        epoch,
        skip_rows,
        workers: 3,
        prefetch: 1,
        labelled_only: true,
    }
}

#[tokio::test]
async fn same_seed_and_epoch_give_the_same_order_and_epochs_differ() {
    let f = fixture(Synthetic {
        rows: 3000,
        parts_per_split: 6,
        ..Synthetic::default()
    })
    .await;
    let units = f.source.units("train").await.unwrap();
    assert_eq!(units.len(), 6);
    let a = rows(&f, options(0, 0), &units);
    let b = rows(&f, options(0, 0), &units);
    let c = rows(&f, options(1, 0), &units);
    assert_eq!(a.len(), 2100, "every labelled train row once");
    assert_eq!(a, b);
    assert_ne!(a, c);
    let (mut sa, mut sc) = (a.clone(), c.clone());
    sa.sort_unstable();
    sc.sort_unstable();
    assert_eq!(sa, sc, "an epoch is a permutation of the same rows");
    sa.dedup();
    assert_eq!(sa.len(), a.len(), "no row twice");
    let stored = rows(
        &f,
        StreamOptions {
            shuffle_buffer: 0,
            ..options(0, 0)
        },
        &units,
    );
    assert_ne!(a, stored, "shuffled differs from stored order");
}

#[tokio::test]
async fn resuming_mid_epoch_yields_exactly_the_remaining_rows() {
    let f = fixture(Synthetic {
        rows: 2000,
        parts_per_split: 4,
        ..Synthetic::default()
    })
    .await;
    let units = f.source.units("train").await.unwrap();
    let full = rows(&f, options(3, 0), &units);
    for skip in [0, 1, 50, 437, full.len() as u64 - 1, full.len() as u64] {
        let rest = rows(&f, options(3, skip), &units);
        assert_eq!(rest, full[skip as usize..], "skip {skip}");
    }
}

#[tokio::test]
async fn unlabelled_rows_are_left_out_of_training_passes() {
    let f = fixture(Synthetic::default()).await;
    let units = f.source.units("unlabelled").await.unwrap();
    assert!(!units.is_empty());
    assert!(rows(&f, options(0, 0), &units).is_empty());
    let all = rows(
        &f,
        StreamOptions {
            labelled_only: false,
            ..options(0, 0)
        },
        &units,
    );
    assert_eq!(all.len(), 200);
}
