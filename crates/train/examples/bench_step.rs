//! Training speed of one optimizer step (forward, backward, Adam) on flex, for
//! `scripts/bench-train.sh`; `scripts/anchors/torch_train.py` times the same networks in
//! PyTorch.
//!
//! Usage: `bench_step [steps] [batch]`; prints one JSON line per network.

#![expect(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary"
)]

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Int, Tensor, TensorData};
use pdnsrep_model::{
    CharEncoderConfig, CharEncoderKind, Device, InputShape, Inputs, NetworkConfig, init_network,
};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// The benchmark's input: 24 numeric features, three categorical ones (the largest hashed into
/// 4096 rows), 64 name symbols.
fn shape() -> InputShape {
    InputShape {
        numeric: 24,
        categorical: vec![12, 300, 50_000],
        chars_len: 64,
        chars_vocab: 41,
        classes: 3,
    }
}

fn inputs(rows: usize, rng: &mut Pcg64Mcg) -> (Inputs, Vec<i32>) {
    let s = shape();
    let inputs = Inputs {
        rows,
        numeric: (0..rows * s.numeric)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect(),
        categorical: (0..rows)
            .flat_map(|_| {
                s.categorical
                    .iter()
                    .map(|&c| rng.random_range(0..c as i32))
                    .collect::<Vec<_>>()
            })
            .collect(),
        chars: (0..rows * s.chars_len)
            .map(|_| rng.random_range(0..41u8))
            .collect(),
    };
    let labels = (0..rows).map(|_| rng.random_range(0..3)).collect();
    (inputs, labels)
}

fn bench(name: &str, config: &NetworkConfig, steps: usize, batch: usize) {
    let device = Device::flex().autodiff();
    let mut model = init_network(config, &shape(), &device, 0).unwrap();
    let mut optim = AdamConfig::new().init();
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let batches: Vec<_> = (0..4).map(|_| inputs(batch, &mut rng)).collect();
    let mut started = Instant::now();
    let warmup = 3;
    for step in 0..steps + warmup {
        if step == warmup {
            started = Instant::now();
        }
        let (x, y) = &batches[step % batches.len()];
        let targets = Tensor::<2, Int>::from_data(TensorData::new(y.clone(), [batch, 1]), &device);
        let loss = model
            .log_proba(x, &device, Some(step as u64))
            .gather(1, targets)
            .mean()
            .neg();
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "impl": "burn-flex",
            "network": name,
            "batch": batch,
            "steps": steps,
            "samples_per_s": (steps * batch) as f64 / seconds,
        })
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let steps = args.first().copied().unwrap_or(30);
    let batch = args.get(1).copied().unwrap_or(512);
    let mlp = NetworkConfig {
        hidden: vec![256, 256],
        dropout: 0.1,
        max_embedding_rows: 4096,
        ..NetworkConfig::default()
    };
    bench("mlp2", &mlp, steps, batch);
    let chars = NetworkConfig {
        chars: CharEncoderConfig {
            kind: CharEncoderKind::Conv,
            embedding_dim: 16,
            channels: 64,
            kernels: vec![3, 5],
        },
        ..mlp.clone()
    };
    bench("mlp2-chars", &chars, steps.div_ceil(4), batch);
    let gru = NetworkConfig {
        chars: CharEncoderConfig {
            kind: CharEncoderKind::Gru,
            embedding_dim: 16,
            channels: 64,
            kernels: Vec::new(),
        },
        ..mlp
    };
    bench("mlp2-gru", &gru, steps.div_ceil(8), batch);
}
