//! The layout of feature datasets and the featurizer spec that describes them.
//!
//! A feature dataset is written by `pdnsrep features` and read by training, evaluation and
//! scoring. It lives in `split=<train|valid|test|unlabelled>` partitions; every row is one
//! record:
//!
//! | column | type | notes |
//! |---|---|---|
//! | `name`, `rrtype`, `rdata` | Utf8, UInt16, Utf8 | the record key |
//! | `split` | Utf8 | `train`, `valid`, `test` or `unlabelled` |
//! | `label` | UInt8, nullable | class index into [`CLASSES`]; null when no list matched |
//! | `domain_queries` | UInt64 | total queries of the owner name, untransformed (the paper's rule) |
//! | `numeric` | FixedSizeList(Float32, N) | transformed and standardized, in [`FeaturizerSpec::numeric`] order |
//! | `categorical` | FixedSizeList(Int32, C) | codes, in [`FeaturizerSpec::categorical`] order; 0 is out of vocabulary |
//! | `chars` | FixedSizeList(UInt8, L) | the owner name, see [`CharEncoding`] |
//!
//! Labels of validation and test records are kept for evaluation but never feed a feature.
//! The spec (`featurizer.json`, a sidecar of the dataset) holds everything needed to compute
//! the same features at scoring time, and a digest over its own content.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The reputation classes, in the order of class indices.
pub const CLASSES: [&str; 3] = ["benign", "malicious", "sinkhole"];

/// The spec's file name, a sidecar of the feature dataset.
pub const FEATURIZER_FILE: &str = "featurizer.json";

/// Bumped whenever the spec or the feature layout changes incompatibly.
pub const FEATURIZER_VERSION: u32 = 1;

/// The class index of a label name.
pub fn class_index(label: &str) -> Option<u8> {
    CLASSES.iter().position(|c| *c == label).map(|i| i as u8)
}

/// How a numeric feature is transformed before standardization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// `ln(1 + max(x, 0))`, for counts and durations.
    Log1p,
    /// The value as is, for fractions and flags.
    Identity,
}

impl Transform {
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Transform::Log1p => x.max(0.0).ln_1p(),
            Transform::Identity => x,
        }
    }
}

/// One numeric feature and its scaler, fit on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericFeature {
    pub name: String,
    pub transform: Transform,
    pub mean: f64,
    /// Never zero: a constant feature gets 1.
    pub std: f64,
}

impl NumericFeature {
    /// The model input for a raw value.
    pub fn encode(&self, raw: f64) -> f32 {
        ((self.transform.apply(raw) - self.mean) / self.std) as f32
    }
}

/// One categorical feature and its vocabulary, built on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalFeature {
    pub name: String,
    /// Values seen fewer times than this in training records fall into code 0.
    pub min_count: u64,
    /// Code `i + 1` stands for `vocab[i]`; code 0 for anything else, missing values included.
    pub vocab: Vec<String>,
}

impl CategoricalFeature {
    /// The number of distinct codes, the out-of-vocabulary code included.
    pub fn cardinality(&self) -> usize {
        self.vocab.len() + 1
    }

    /// The code of each vocabulary value; values not in it take code 0.
    pub fn codes(&self) -> std::collections::HashMap<String, i32> {
        self.vocab
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as i32 + 1))
            .collect()
    }
}

/// How owner names become fixed-length symbol sequences.
///
/// The name's first `length` bytes are kept; symbol `alphabet[i]` is code `i + 2`, any other
/// byte is [`CharEncoding::UNKNOWN`], and positions past the end of the name are
/// [`CharEncoding::PAD`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharEncoding {
    pub alphabet: String,
    pub length: usize,
}

impl CharEncoding {
    pub const PAD: u8 = 0;
    pub const UNKNOWN: u8 = 1;

    /// Lower-case letters, digits, `-`, `.` and `_`: what normalized names are made of.
    pub fn standard(length: usize) -> CharEncoding {
        CharEncoding {
            alphabet: "abcdefghijklmnopqrstuvwxyz0123456789-._".to_string(),
            length,
        }
    }

    /// The number of distinct codes, padding and unknown included.
    pub fn vocab_size(&self) -> usize {
        self.alphabet.len() + 2
    }

    /// Appends exactly `length` codes for `name` to `out`.
    pub fn encode_into(&self, name: &str, out: &mut Vec<u8>) {
        let table = self.table();
        let bytes = name.as_bytes();
        for i in 0..self.length {
            out.push(match bytes.get(i) {
                Some(b) => table[*b as usize],
                None => Self::PAD,
            });
        }
    }

    /// A byte → code table.
    pub fn table(&self) -> [u8; 256] {
        let mut table = [Self::UNKNOWN; 256];
        for (i, b) in self.alphabet.bytes().enumerate() {
            table[b as usize] = (i + 2) as u8;
        }
        table
    }
}

/// Where the neighbour counts came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NeighbourSource {
    /// Labels of training records.
    Labels,
    /// Class probabilities of a predictions dataset, for later passes: soft counts, or with
    /// `threshold` one vote for each class whose probability reaches it.
    Predictions {
        dataset: String,
        run_id: String,
        #[serde(default)]
        threshold: Option<f64>,
    },
}

/// Everything needed to compute a feature dataset's features again, for example at scoring
/// time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturizerSpec {
    pub format_version: u32,
    /// The query engine and its version, for example `datafusion 55.2.0`.
    pub engine: String,
    pub tool_version: String,
    /// The labelled dataset the features were computed from, and its run id.
    pub source_dataset: String,
    pub source_run_id: String,
    pub neighbours: NeighbourSource,
    pub classes: Vec<String>,
    pub numeric: Vec<NumericFeature>,
    pub categorical: Vec<CategoricalFeature>,
    pub chars: CharEncoding,
    /// Free-form settings of the run that made it (vocabulary limits, memory, seed).
    #[serde(default)]
    pub settings: serde_json::Value,
    /// SHA-256 over the spec's JSON with this field empty.
    #[serde(default)]
    pub digest: String,
}

impl FeaturizerSpec {
    /// The digest of the spec's content: SHA-256 over its compact JSON with the digest empty.
    pub fn compute_digest(&self) -> String {
        let mut unsigned = self.clone();
        unsigned.digest = String::new();
        digest_of_json(&serde_json::to_vec(&unsigned).unwrap_or_default())
    }

    /// Fills in the digest. Scaler statistics are first moved to values that survive a trip
    /// through JSON unchanged (the JSON parser may land one ulp off a printed float), so the
    /// spec a scorer loads encodes exactly like the one that wrote the features.
    pub fn seal(mut self) -> FeaturizerSpec {
        for feature in &mut self.numeric {
            feature.mean = json_stable(feature.mean);
            feature.std = json_stable(feature.std);
        }
        self.digest = self.compute_digest();
        self
    }

    /// Parses a spec and checks its version and digest.
    pub fn from_json(bytes: &[u8]) -> Result<FeaturizerSpec, String> {
        let spec: FeaturizerSpec =
            serde_json::from_slice(bytes).map_err(|e| format!("not a featurizer spec: {e}"))?;
        if spec.format_version != FEATURIZER_VERSION {
            return Err(format!(
                "featurizer format {} (this build reads {FEATURIZER_VERSION})",
                spec.format_version
            ));
        }
        let digest = digest_of_json(bytes);
        if digest != spec.digest {
            return Err(format!(
                "digest mismatch: content hashes to {digest}, the spec says {}",
                spec.digest
            ));
        }
        Ok(spec)
    }

    /// Pretty JSON, digest included.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The position of a numeric feature by name.
    pub fn numeric_index(&self, name: &str) -> Option<usize> {
        self.numeric.iter().position(|f| f.name == name)
    }

    /// The Arrow schema of the feature dataset this spec describes.
    pub fn schema(&self) -> SchemaRef {
        feature_schema(
            self.numeric.len(),
            self.categorical.len(),
            self.chars.length,
        )
    }
}

/// The digest of a spec's JSON text: the text is parsed, its `digest` field emptied and the
/// result hashed in compact form, so pretty and compact files of one spec agree.
fn digest_of_json(bytes: &[u8]) -> String {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("digest".into(), serde_json::Value::String(String::new()));
    }
    hex::encode(Sha256::digest(
        serde_json::to_vec(&value).unwrap_or_default(),
    ))
}

/// The nearest value to `x` that JSON printing and parsing leave unchanged.
fn json_stable(mut x: f64) -> f64 {
    for _ in 0..8 {
        let back: f64 = serde_json::to_string(&x)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(x);
        if back.to_bits() == x.to_bits() {
            break;
        }
        x = back;
    }
    x
}

/// The Arrow schema of a feature dataset with `numeric` numeric features, `categorical`
/// categorical ones and names encoded to `chars` symbols.
pub fn feature_schema(numeric: usize, categorical: usize, chars: usize) -> SchemaRef {
    let list = |item: DataType, size: usize| {
        DataType::FixedSizeList(Arc::new(Field::new("item", item, false)), size as i32)
    };
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("rrtype", DataType::UInt16, false),
        Field::new("rdata", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("label", DataType::UInt8, true),
        Field::new("domain_queries", DataType::UInt64, false),
        Field::new("numeric", list(DataType::Float32, numeric), false),
        Field::new("categorical", list(DataType::Int32, categorical), false),
        Field::new("chars", list(DataType::UInt8, chars), false),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FeaturizerSpec {
        FeaturizerSpec {
            format_version: FEATURIZER_VERSION,
            engine: "test".into(),
            tool_version: "0".into(),
            source_dataset: "labelled/x".into(),
            source_run_id: "r".into(),
            neighbours: NeighbourSource::Labels,
            classes: CLASSES.iter().map(|c| c.to_string()).collect(),
            numeric: vec![NumericFeature {
                name: "count".into(),
                transform: Transform::Log1p,
                mean: 1.0,
                std: 2.0,
            }],
            categorical: vec![CategoricalFeature {
                name: "tld".into(),
                min_count: 2,
                vocab: vec!["com".into(), "net".into()],
            }],
            chars: CharEncoding::standard(8),
            settings: serde_json::Value::Null,
            digest: String::new(),
        }
        .seal()
    }

    #[test]
    fn chars_pad_truncate_and_mark_unknown_bytes() {
        let enc = CharEncoding::standard(6);
        let mut out = Vec::new();
        enc.encode_into("a-Z.", &mut out);
        assert_eq!(out, vec![2, 38, 1, 39, 0, 0]);
        out.clear();
        enc.encode_into("abcdefghij", &mut out);
        assert_eq!(out, vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(enc.vocab_size(), 41);
    }

    #[test]
    fn spec_roundtrips_and_refuses_tampering() {
        let spec = spec();
        let json = spec.to_json();
        assert_eq!(FeaturizerSpec::from_json(&json).as_ref(), Ok(&spec));
        let tampered = String::from_utf8(json)
            .unwrap()
            .replace("\"mean\": 1.0", "\"mean\": 1.5");
        let err = FeaturizerSpec::from_json(tampered.as_bytes()).unwrap_err();
        assert!(err.contains("digest mismatch"), "{err}");
    }

    #[test]
    fn specs_with_long_floats_load_back_equal_and_verified() {
        // Statistics fit on real data are long floats; some of them do not survive a naive
        // print-and-parse, which once made every loaded spec fail its digest check.
        let mut unsealed = spec();
        let template = unsealed.numeric[0].clone();
        unsealed.numeric = (1..400)
            .map(|i| NumericFeature {
                name: format!("f{i}"),
                mean: (i as f64 * 0.7919).sin() * 1e3 / 7.0,
                std: 1.0 + (i as f64).sqrt() / 3.0,
                ..template.clone()
            })
            .collect();
        let spec = unsealed.seal();
        let loaded = FeaturizerSpec::from_json(&spec.to_json()).expect("verifies");
        assert_eq!(loaded, spec);
        let compact = serde_json::to_vec(&spec).unwrap();
        assert_eq!(FeaturizerSpec::from_json(&compact).as_ref(), Ok(&spec));
    }

    #[test]
    fn numeric_encoding_follows_transform_and_scaler() {
        let spec = spec();
        let f = &spec.numeric[0];
        let expected = ((9.0f64).ln_1p() - 1.0) / 2.0;
        assert!((f.encode(9.0) as f64 - expected).abs() < 1e-6);
        assert!((f.encode(-5.0) as f64 - (-0.5)).abs() < 1e-6);
        assert_eq!(spec.categorical[0].cardinality(), 3);
        assert_eq!(spec.schema().fields().len(), 9);
        assert_eq!(class_index("sinkhole"), Some(2));
        assert_eq!(class_index("nope"), None);
    }
}
