//! Weights saved on flex predict the same on another backend: ndarray (a second CPU
//! implementation, always built) and, with `--features wgpu`, wgpu (`scripts/test-wgpu.sh` runs
//! it on Mesa's software Vulkan driver).
#![expect(clippy::unwrap_used, reason = "test")]

use pdnsrep_model::{
    Backend, CharEncoderConfig, CharEncoderKind, Device, InputShape, Inputs, NetworkConfig,
    init_network, load_network, save_weights,
};

fn shape() -> InputShape {
    InputShape {
        numeric: 5,
        categorical: vec![7, 10_000],
        chars_len: 32,
        chars_vocab: 41,
        classes: 3,
    }
}

fn config(kind: CharEncoderKind) -> NetworkConfig {
    NetworkConfig {
        hidden: vec![32, 32],
        dropout: 0.2,
        chars: CharEncoderConfig {
            kind,
            ..CharEncoderConfig::default()
        },
        ..NetworkConfig::default()
    }
}

fn inputs(rows: usize) -> Inputs {
    Inputs {
        rows,
        numeric: (0..rows * 5).map(|i| (i as f32 * 0.11).cos()).collect(),
        categorical: (0..rows * 2).map(|i| (i * 31 % 9000) as i32).collect(),
        chars: (0..rows * 32).map(|i| (i * 7 % 41) as u8).collect(),
    }
}

/// The largest probability difference between flex and `backend` for one network.
fn max_difference(kind: CharEncoderKind, backend: Backend) -> f32 {
    let (config, shape, inputs) = (config(kind), shape(), inputs(64));
    let flex = Device::flex();
    let net = init_network(&config, &shape, &flex, 3).unwrap();
    let expected = net.predict_proba(&inputs, &flex).unwrap();
    let other = backend.device().unwrap();
    let moved = load_network(&config, &shape, &other, save_weights(&net).unwrap()).unwrap();
    let got = moved.predict_proba(&inputs, &other).unwrap();
    assert_eq!(expected.len(), got.len());
    // A network that predicts a constant would pass trivially: the rows must differ.
    let spread = expected
        .chunks(3)
        .map(|row| row[0])
        .fold((f32::MAX, f32::MIN), |(lo, hi), p| (lo.min(p), hi.max(p)));
    assert!(
        spread.1 - spread.0 > 1e-3,
        "predictions do not vary: {spread:?}"
    );
    expected
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max)
}

#[test]
fn flex_weights_predict_the_same_on_ndarray() {
    for kind in [
        CharEncoderKind::None,
        CharEncoderKind::Conv,
        CharEncoderKind::Gru,
    ] {
        let diff = max_difference(kind, Backend::Ndarray);
        assert!(diff < 1e-5, "{kind:?}: flex and ndarray differ by {diff}");
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn flex_weights_predict_the_same_on_wgpu() {
    for kind in [CharEncoderKind::Conv, CharEncoderKind::Gru] {
        let diff = max_difference(kind, Backend::Wgpu);
        assert!(diff < 1e-4, "{kind:?}: flex and wgpu differ by {diff}");
    }
}
