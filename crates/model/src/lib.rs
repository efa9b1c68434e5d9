//! Reputation models for passive DNS records (Lison & Mavroeidis, "Neural reputation models
//! learned from passive DNS data", IEEE Big Data 2017).
//!
//! - [`ModelConfig`] is read from TOML: the [`Rule`] baseline or a [`NetworkConfig`].
//! - [`ReputationNet`] (Burn) reads one batch of [`Inputs`] — standardized numeric features,
//!   categorical codes (embedded, large vocabularies hashed into a capped table) and the owner
//!   name's characters (1-D convolutions, max over time) — and returns three class logits.
//!   Zero hidden layers without characters is logistic regression.
//! - [`save_weights`] / [`load_network`] move weights as burnpack bytes, which any object store
//!   can hold and any Burn backend can load.
//!
//! Training lives in `pdnsrep-train`; this crate knows nothing about datasets or stores.

mod config;
mod error;
mod network;
mod persist;
mod rule;

pub use burn::tensor::Device;
pub use config::{
    Activation, CharEncoderConfig, CharEncoderKind, MAX_LAYERS, MAX_WIDTH, ModelConfig,
    NetworkConfig, RuleConfig,
};
pub use error::{Error, Result};
pub use network::{InputShape, Inputs, ReputationNet, bucket};
pub use persist::{init_network, load_network, load_weights, save_weights};
pub use rule::Rule;

/// The backend a run asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Burn's pure-Rust CPU backend.
    #[default]
    Flex,
    /// Burn's older ndarray CPU backend: a second, independent implementation of every kernel,
    /// which keeps the cross-backend checks runnable on machines without a GPU.
    Ndarray,
    Wgpu,
    Cuda,
}

impl Backend {
    /// The device, or why this build cannot provide it.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            #[expect(
                deprecated,
                reason = "ndarray stays as an independent CPU implementation for cross-checks"
            )]
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(Default::default())),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => Err(Error::Config(format!(
                "backend `{other:?}` is not in this build (rebuild with `--features {}`)",
                format!("{other:?}").to_lowercase()
            ))),
        }
    }
}
