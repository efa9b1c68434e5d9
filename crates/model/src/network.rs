//! The reputation network: numeric features, categorical embeddings and an optional character
//! encoder, concatenated and fed through 0–N hidden layers to three logits.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::gru::{Gru, GruConfig};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::activation::{gelu, log_softmax, relu, softmax, tanh};
use burn::tensor::{Device, Int, Tensor, TensorData};
use pdnsrep_records::features::FeaturizerSpec;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::config::{Activation, CharEncoderKind, NetworkConfig};
use crate::error::{Error, Result};

/// What the network reads, as the feature dataset lays it out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputShape {
    pub numeric: usize,
    /// Cardinality of each categorical feature, the out-of-vocabulary code included.
    pub categorical: Vec<usize>,
    pub chars_len: usize,
    pub chars_vocab: usize,
    pub classes: usize,
}

impl InputShape {
    pub fn from_spec(spec: &FeaturizerSpec) -> InputShape {
        InputShape {
            numeric: spec.numeric.len(),
            categorical: spec.categorical.iter().map(|c| c.cardinality()).collect(),
            chars_len: spec.chars.length,
            chars_vocab: spec.chars.vocab_size(),
            classes: spec.classes.len(),
        }
    }
}

/// One batch of model inputs on the host, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub rows: usize,
    /// `rows × numeric`.
    pub numeric: Vec<f32>,
    /// `rows × categorical`, codes as written by the featurizer.
    pub categorical: Vec<i32>,
    /// `rows × chars_len`.
    pub chars: Vec<u8>,
}

/// The network. Build it with [`ReputationNet::new`].
#[derive(Module, Debug)]
pub struct ReputationNet {
    embeddings: Vec<Embedding>,
    char_embedding: Option<Embedding>,
    convs: Vec<Conv1d>,
    gru: Option<Gru>,
    hidden: Vec<Linear>,
    output: Linear,
    #[module(skip)]
    layout: Layout,
}

/// The parts of the configuration the forward pass needs.
#[derive(Debug, Clone)]
struct Layout {
    shape: InputShape,
    /// Rows of each categorical embedding table (hashed when smaller than the cardinality).
    table_rows: Vec<usize>,
    use_numeric: bool,
    activation: Activation,
    dropout: f64,
}

impl ReputationNet {
    /// A freshly initialized network for inputs of `shape`.
    ///
    /// Initialization draws from the device's random generator; seed it first (under a lock, it
    /// may be global to the backend) for reproducible weights.
    pub fn new(config: &NetworkConfig, shape: &InputShape, device: &Device) -> Result<Self> {
        config.validate().map_err(Error::Config)?;
        let table_rows: Vec<usize> = shape
            .categorical
            .iter()
            .map(|&c| c.clamp(1, config.max_embedding_rows))
            .collect();
        let small = Initializer::Normal {
            mean: 0.0,
            std: 0.1,
        };
        let embeddings = table_rows
            .iter()
            .map(|&rows| {
                EmbeddingConfig::new(rows, config.embedding_dim)
                    .with_initializer(small.clone())
                    .init(device)
            })
            .collect();
        let mut width = table_rows.len() * config.embedding_dim;
        if config.use_numeric {
            width += shape.numeric;
        }
        let c = &config.chars;
        let char_embedding = (c.kind != CharEncoderKind::None).then(|| {
            EmbeddingConfig::new(shape.chars_vocab, c.embedding_dim)
                .with_initializer(small)
                .init(device)
        });
        let (convs, gru) = match c.kind {
            CharEncoderKind::None => (Vec::new(), None),
            CharEncoderKind::Gru => {
                width += c.channels;
                let gru = GruConfig::new(c.embedding_dim, c.channels, true).init(device);
                (Vec::new(), Some(gru))
            }
            CharEncoderKind::Conv => {
                let convs = c
                    .kernels
                    .iter()
                    .map(|&k| {
                        Conv1dConfig::new(c.embedding_dim, c.channels, k)
                            .with_padding(PaddingConfig1d::Same)
                            .init(device)
                    })
                    .collect::<Vec<_>>();
                width += c.channels * convs.len();
                (convs, None)
            }
        };
        if width == 0 {
            return Err(Error::Config("the network has no input".into()));
        }
        let mut hidden = Vec::new();
        for &w in &config.hidden {
            hidden.push(LinearConfig::new(width, w).init(device));
            width = w;
        }
        let output = LinearConfig::new(width, shape.classes).init(device);
        Ok(ReputationNet {
            embeddings,
            char_embedding,
            convs,
            gru,
            hidden,
            output,
            layout: Layout {
                shape: shape.clone(),
                table_rows,
                use_numeric: config.use_numeric,
                activation: config.activation,
                dropout: config.dropout,
            },
        })
    }

    pub fn input_shape(&self) -> &InputShape {
        &self.layout.shape
    }

    /// The logits, `[rows, classes]`. With `dropout_seed`, dropout is applied with masks drawn
    /// from that seed alone, so a resumed run draws the same masks as an uninterrupted one.
    pub fn forward(
        &self,
        inputs: &Inputs,
        device: &Device,
        dropout_seed: Option<u64>,
    ) -> Tensor<2> {
        let mut rng = dropout_seed.map(Pcg64Mcg::seed_from_u64);
        let mut parts = Vec::new();
        if self.layout.use_numeric && self.layout.shape.numeric > 0 {
            let data = TensorData::new(
                inputs.numeric.clone(),
                [inputs.rows, self.layout.shape.numeric],
            );
            parts.push(Tensor::<2>::from_data(data, device));
        }
        parts.extend(self.embed_categorical(inputs, device));
        if let Some(chars) = self.encode_chars(inputs, device) {
            parts.push(self.dropout(chars, rng.as_mut(), device));
        }
        let mut x = Tensor::cat(parts, 1);
        for layer in &self.hidden {
            x = self.activate(layer.forward(x));
            x = self.dropout(x, rng.as_mut(), device);
        }
        self.output.forward(x)
    }

    /// Class probabilities, `rows × classes` row-major, without dropout.
    pub fn predict_proba(&self, inputs: &Inputs, device: &Device) -> Result<Vec<f32>> {
        let logits = self.forward(inputs, device, None);
        softmax(logits, 1)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Tensor(format!("{e:?}")))
    }

    /// Log-probabilities, for losses.
    pub fn log_proba(
        &self,
        inputs: &Inputs,
        device: &Device,
        dropout_seed: Option<u64>,
    ) -> Tensor<2> {
        log_softmax(self.forward(inputs, device, dropout_seed), 1)
    }

    fn embed_categorical(&self, inputs: &Inputs, device: &Device) -> Vec<Tensor<2>> {
        let n = self.embeddings.len();
        if n == 0 {
            return Vec::new();
        }
        (0..n)
            .map(|j| {
                let rows = self.layout.table_rows[j];
                let codes: Vec<i32> = (0..inputs.rows)
                    .map(|r| bucket(inputs.categorical[r * n + j], rows))
                    .collect();
                let ids =
                    Tensor::<2, Int>::from_data(TensorData::new(codes, [inputs.rows, 1]), device);
                let e: Tensor<3> = self.embeddings[j].forward(ids);
                e.squeeze_dim::<2>(1)
            })
            .collect()
    }

    fn encode_chars(&self, inputs: &Inputs, device: &Device) -> Option<Tensor<2>> {
        let embedding = self.char_embedding.as_ref()?;
        let len = self.layout.shape.chars_len;
        let codes: Vec<i32> = inputs.chars.iter().map(|&c| i32::from(c)).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(codes, [inputs.rows, len]), device);
        let x = embedding.forward(ids);
        if let Some(gru) = &self.gru {
            // [rows, len, hidden] → max over time → [rows, hidden].
            return Some(gru.forward(x, None).max_dim(1).squeeze_dim::<2>(1));
        }
        // [rows, len, dim] → [rows, dim, len]: Conv1d wants channels before time.
        let x = x.swap_dims(1, 2);
        let pooled = self
            .convs
            .iter()
            .map(|conv| relu(conv.forward(x.clone())).max_dim(2).squeeze_dim::<2>(2))
            .collect();
        Some(Tensor::cat(pooled, 1))
    }

    fn activate(&self, x: Tensor<2>) -> Tensor<2> {
        match self.layout.activation {
            Activation::Relu => relu(x),
            Activation::Tanh => tanh(x),
            Activation::Gelu => gelu(x),
        }
    }

    /// Inverted dropout with a host-drawn mask. Burn's own `Dropout` draws from the backend's
    /// generator, which is global on flex and shared by every thread: masks would then depend
    /// on what else ran, and a resumed run could not repeat them.
    fn dropout(&self, x: Tensor<2>, rng: Option<&mut Pcg64Mcg>, device: &Device) -> Tensor<2> {
        let p = self.layout.dropout;
        let Some(rng) = rng.filter(|_| p > 0.0) else {
            return x;
        };
        let [rows, cols] = x.dims();
        let keep = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> = (0..rows * cols)
            .map(|_| if rng.random::<f64>() < p { 0.0 } else { keep })
            .collect();
        x * Tensor::<2>::from_data(TensorData::new(mask, [rows, cols]), device)
    }
}

/// The embedding row of a categorical code: codes past the table are hashed into rows
/// `1..rows` (row 0 stays the out-of-vocabulary row), and negative codes count as unknown.
pub fn bucket(code: i32, rows: usize) -> i32 {
    if code <= 0 {
        return 0;
    }
    if (code as usize) < rows {
        return code;
    }
    // A multiplicative hash spreads consecutive codes (vocabularies are sorted by frequency)
    // across buckets instead of folding the rarest values onto the most common ones.
    let h = (code as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    1 + (h % (rows as u64 - 1)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_keeps_small_codes_and_hashes_large_ones_into_range() {
        assert_eq!(bucket(0, 10), 0);
        assert_eq!(bucket(-3, 10), 0);
        assert_eq!(bucket(9, 10), 9);
        for code in 10..10_000 {
            let b = bucket(code, 10);
            assert!((1..10).contains(&b), "{code} → {b}");
        }
    }
}
