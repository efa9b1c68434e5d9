//! Model configs: typed structs read from the `[model]` table of a TOML file.

use serde::{Deserialize, Serialize};

/// Which model a run trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// The paper's baseline: `domain_queries < threshold` → malicious, else benign.
    Rule(RuleConfig),
    /// A feed-forward network; zero hidden layers and no character encoder is logistic
    /// regression.
    Network(NetworkConfig),
}

/// The rule baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A fixed threshold; when absent it is fit on the training split to maximize accuracy.
    #[serde(default)]
    pub threshold: Option<u64>,
}

/// The reputation network (Lison & Mavroeidis 2017, section IV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Width of each hidden layer; empty for logistic regression.
    #[serde(default)]
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub activation: Activation,
    /// Dropout probability after each hidden layer (and on the character code).
    #[serde(default)]
    pub dropout: f64,
    /// Width of the embedding of each categorical feature.
    #[serde(default = "default_embedding_dim")]
    pub embedding_dim: usize,
    /// Vocabularies larger than this are hashed into this many rows. Embedding gradients are
    /// dense in Burn, so Adam touches every row of every table each step: a 50 k-row table cut
    /// training speed fivefold in our measurements (`shared/FIELD-NOTES.md`).
    #[serde(default = "default_max_embedding_rows")]
    pub max_embedding_rows: usize,
    /// Leave out the numeric features (the names-only DGA model has none).
    #[serde(default = "yes")]
    pub use_numeric: bool,
    #[serde(default)]
    pub chars: CharEncoderConfig,
}

/// Non-linearity of the hidden layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
    Gelu,
}

/// The encoder of the owner name's characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharEncoderConfig {
    #[serde(default)]
    pub kind: CharEncoderKind,
    /// Width of the character embedding.
    #[serde(default = "default_char_dim")]
    pub embedding_dim: usize,
    /// Filters per kernel size (`conv`), or the GRU's hidden width (`gru`).
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// One convolution per kernel size, each max-pooled over time, concatenated.
    #[serde(default = "default_kernels")]
    pub kernels: Vec<usize>,
}

/// Whether and how characters are encoded.
///
/// The convolution is the default: Burn 0.22's GRU runs step by step on the autodiff tape and
/// trains several times slower on CPU; `scripts/bench-train.sh` and `pdnsrep dga train` with
/// `configs/models/dga-gru.toml` measure both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CharEncoderKind {
    #[default]
    None,
    /// 1-D convolutions and max over time.
    Conv,
    /// A GRU over the symbols, its hidden states max-pooled over time (padding included, so
    /// the result does not depend on where a name ends inside the fixed length).
    Gru,
}

impl Default for CharEncoderConfig {
    fn default() -> Self {
        CharEncoderConfig {
            kind: CharEncoderKind::None,
            embedding_dim: default_char_dim(),
            channels: default_channels(),
            kernels: default_kernels(),
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            hidden: Vec::new(),
            activation: Activation::Relu,
            dropout: 0.0,
            embedding_dim: default_embedding_dim(),
            max_embedding_rows: default_max_embedding_rows(),
            use_numeric: true,
            chars: CharEncoderConfig::default(),
        }
    }
}

impl NetworkConfig {
    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("`dropout` must be in [0, 1), got {}", self.dropout));
        }
        if self.hidden.contains(&0) {
            return Err("hidden layer widths must be positive".into());
        }
        // Bounds that keep a typo from asking for terabytes of weights.
        if self.hidden.len() > MAX_LAYERS || self.hidden.iter().any(|&w| w > MAX_WIDTH) {
            return Err(format!(
                "at most {MAX_LAYERS} hidden layers of at most {MAX_WIDTH} units, got {} layers \
                 up to {} wide",
                self.hidden.len(),
                self.hidden.iter().max().unwrap_or(&0)
            ));
        }
        if self.embedding_dim > MAX_WIDTH
            || self.chars.channels > MAX_WIDTH
            || self.chars.embedding_dim > MAX_WIDTH
        {
            return Err(format!(
                "embedding and character widths must be at most {MAX_WIDTH}"
            ));
        }
        if self.embedding_dim == 0 || self.max_embedding_rows < 2 {
            return Err("`embedding_dim` must be positive and `max_embedding_rows` ≥ 2".into());
        }
        if self.chars.kind == CharEncoderKind::Conv
            && (self.chars.kernels.is_empty()
                || self.chars.kernels.contains(&0)
                || self.chars.channels == 0
                || self.chars.embedding_dim == 0)
        {
            return Err("the char encoder needs kernels, channels and an embedding width".into());
        }
        if self.chars.kind == CharEncoderKind::Gru
            && (self.chars.channels == 0 || self.chars.embedding_dim == 0)
        {
            return Err("the GRU char encoder needs `channels` and `embedding_dim` above 0".into());
        }
        Ok(())
    }
}

/// The most hidden layers a network may have.
pub const MAX_LAYERS: usize = 16;
/// The widest layer, embedding or character encoder a network may have.
pub const MAX_WIDTH: usize = 16_384;

fn default_embedding_dim() -> usize {
    8
}
fn default_max_embedding_rows() -> usize {
    4096
}
fn default_char_dim() -> usize {
    16
}
fn default_channels() -> usize {
    64
}
fn default_kernels() -> Vec<usize> {
    vec![3]
}
fn yes() -> bool {
    true
}
