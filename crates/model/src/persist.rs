//! Weights as burnpack bytes, ready for any object store.

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Device, Tensor};
use bytes::Bytes;

use crate::config::NetworkConfig;
use crate::error::{Error, Result};
use crate::network::{InputShape, ReputationNet};

/// Serializes initialization: the flex backend's generator is one global, so two threads
/// seeding and drawing at once would get each other's numbers.
static INIT: Mutex<()> = Mutex::new(());

/// A network whose initial weights depend only on `seed`.
pub fn init_network(
    config: &NetworkConfig,
    shape: &InputShape,
    device: &Device,
    seed: u64,
) -> Result<ReputationNet> {
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let net = ReputationNet::new(config, shape, device)?;
    // Burn initializes parameters lazily, on first use: draw them now, under the lock and right
    // after seeding, or they would come from whatever the generator holds at the first forward.
    net.visit(&mut Materialize);
    Ok(net)
}

/// Touches every float parameter so that lazily initialized ones are drawn.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// The network's weights in burnpack format (parameter ids included, so optimizer state saved
/// beside them still matches after a reload).
pub fn save_weights(net: &ReputationNet) -> Result<Bytes> {
    let mut store = BurnpackStore::from_bytes(None);
    net.save_into(&mut store)
        .map_err(|e| Error::Save(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| Error::Save(e.to_string()))?;
    Ok(Bytes::copy_from_slice(&bytes))
}

/// Loads weights saved by [`save_weights`] into a network of the same config.
pub fn load_weights(mut net: ReputationNet, bytes: Bytes) -> Result<ReputationNet> {
    let bytes = burn::tensor::Bytes::from_bytes_vec(bytes.to_vec());
    let mut store = BurnpackStore::from_bytes(Some(bytes));
    let result = net
        .load_from(&mut store)
        .map_err(|e| Error::Load(e.to_string()))?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(Error::Load(format!(
            "{} tensors failed, {} missing",
            result.errors.len(),
            result.missing.len()
        )));
    }
    Ok(net)
}

/// A network built from `config` with the saved weights, on `device` (any backend: burnpack
/// records are backend-agnostic).
pub fn load_network(
    config: &NetworkConfig,
    shape: &InputShape,
    device: &Device,
    bytes: Bytes,
) -> Result<ReputationNet> {
    let net = init_network(config, shape, device, 0)?;
    load_weights(net, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CharEncoderConfig, CharEncoderKind};
    use crate::network::Inputs;

    fn shape() -> InputShape {
        InputShape {
            numeric: 3,
            categorical: vec![5, 100],
            chars_len: 12,
            chars_vocab: 41,
            classes: 3,
        }
    }

    fn config() -> NetworkConfig {
        NetworkConfig {
            hidden: vec![8, 8],
            max_embedding_rows: 16,
            dropout: 0.3,
            chars: CharEncoderConfig {
                kind: CharEncoderKind::Conv,
                kernels: vec![2, 3],
                channels: 4,
                ..CharEncoderConfig::default()
            },
            ..NetworkConfig::default()
        }
    }

    fn inputs(rows: usize) -> Inputs {
        Inputs {
            rows,
            numeric: (0..rows * 3).map(|i| (i as f32 * 0.37).sin()).collect(),
            categorical: (0..rows * 2).map(|i| (i * 13 % 97) as i32).collect(),
            chars: (0..rows * 12).map(|i| (i * 7 % 41) as u8).collect(),
        }
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn save_then_load_predicts_the_same() {
        let device = Device::flex();
        let net = init_network(&config(), &shape(), &device, 1).unwrap();
        let before = net.predict_proba(&inputs(20), &device).unwrap();
        assert_eq!(before.len(), 60);
        let bytes = save_weights(&net).unwrap();
        let loaded = load_network(&config(), &shape(), &device, bytes).unwrap();
        let after = loaded.predict_proba(&inputs(20), &device).unwrap();
        assert!(max_diff(&before, &after) < 1e-6);
        // The comparison can fail: another initialization predicts differently.
        let other = init_network(&config(), &shape(), &device, 2).unwrap();
        let other = other.predict_proba(&inputs(20), &device).unwrap();
        assert!(max_diff(&before, &other) > 1e-4);
    }

    #[test]
    fn same_seed_same_weights_and_dropout_masks_follow_their_seed() {
        let device = Device::flex();
        let a = init_network(&config(), &shape(), &device, 5).unwrap();
        let b = init_network(&config(), &shape(), &device, 5).unwrap();
        let x = inputs(8);
        let logits = |net: &ReputationNet, seed| {
            net.forward(&x, &device, seed)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(logits(&a, None), logits(&b, None));
        assert_eq!(logits(&a, Some(9)), logits(&b, Some(9)));
        assert_ne!(logits(&a, Some(9)), logits(&a, Some(10)));
        assert_ne!(logits(&a, Some(9)), logits(&a, None));
    }

    #[test]
    fn weights_of_another_shape_are_refused() {
        let device = Device::flex();
        let net = init_network(&config(), &shape(), &device, 1).unwrap();
        let bytes = save_weights(&net).unwrap();
        let mut wider = config();
        wider.hidden = vec![9, 8];
        let err = load_network(&wider, &shape(), &device, bytes).unwrap_err();
        assert!(err.to_string().starts_with("cannot load weights"), "{err}");
    }
}
