//! The names-only variant: tell algorithmically generated domains (DGA) from benign names by
//! their characters alone.
//!
//! Lists become an ordinary feature dataset with no numeric and no categorical features, the
//! names encoded by [`CharEncoding::standard`]`(64)`, label 0 (benign) or 1 (malicious, the
//! DGA class), and a split by name hash (80 % train, 10 % valid, 10 % test), so the usual
//! trainer, checkpoints and resume apply unchanged.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, UInt8Array};
use arrow::array::{UInt16Array, UInt64Array};
use arrow::datatypes::DataType;
use bytes::Bytes;
use pdnsrep_model::Inputs;
use pdnsrep_records::features::{
    CLASSES, CharEncoding, FEATURIZER_VERSION, FeaturizerSpec, NeighbourSource,
};
use pdnsrep_records::{DatasetWriter, Root, normalize_name};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::synthetic::fixed_list;

/// Characters kept of each name.
pub const NAME_LENGTH: usize = 64;

/// The spec of a names-only dataset.
pub fn spec() -> FeaturizerSpec {
    FeaturizerSpec {
        format_version: FEATURIZER_VERSION,
        engine: "pdnsrep dga".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        source_dataset: "name lists".into(),
        source_run_id: String::new(),
        neighbours: NeighbourSource::Labels,
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        numeric: Vec::new(),
        categorical: Vec::new(),
        chars: CharEncoding::standard(NAME_LENGTH),
        settings: serde_json::Value::Null,
        digest: String::new(),
    }
    .seal()
}

/// The name a list line holds, if any. Accepted: a bare name, `rank,name` (top lists), or CSV
/// whose first field with a dot and no slash is the name (`domain,family,...` DGA feeds, or
/// `class,family,domain`). `#` starts a comment; header lines hold no dotted field.
pub fn parse_line(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or_default().trim();
    if line.is_empty() {
        return None;
    }
    let fields: Vec<&str> = line.split([',', '\t']).map(str::trim).collect();
    let candidate = match fields.as_slice() {
        [rank, name, ..] if rank.chars().all(|c| c.is_ascii_digit()) => *name,
        _ => *fields
            .iter()
            .find(|f| f.contains('.') && !f.contains('/') && !f.contains(' '))?,
    };
    normalize_name(candidate.trim_matches('"')).ok()
}

/// Which side of the detector a list feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameClass {
    Benign,
    Dga,
}

impl NameClass {
    /// The class a row's leading tag names, in labelled mixes such as netlab's
    /// `class,family,domain` (`legit,alexa,…`, `dga,gozi,…`); `None` for untagged rows.
    fn of_tag(line: &str) -> Option<NameClass> {
        let tag = line.split([',', '\t']).next()?.trim();
        match tag.to_ascii_lowercase().as_str() {
            "legit" | "benign" => Some(NameClass::Benign),
            "dga" | "malicious" => Some(NameClass::Dga),
            _ => None,
        }
    }
}

/// What reading a list found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListStats {
    pub path: String,
    pub lines: u64,
    pub names: u64,
    /// Lines that are neither a name, a comment nor blank.
    pub skipped: u64,
    /// Rows tagged with the other class in a labelled mix, left for the other side.
    pub other_class: u64,
}

/// Reads the names of a list file for `class` (`-` for standard input; `.gz` decompressed).
/// Rows tagged with the other class are counted in [`ListStats::other_class`] and left out, so
/// one labelled mix can feed both sides.
pub fn read_names(path: &Path, class: NameClass) -> Result<(Vec<String>, ListStats)> {
    let io_err = |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(io_err)?;
        if path.extension().is_some_and(|e| e == "gz") {
            Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
                file,
            )))
        } else {
            Box::new(std::io::BufReader::new(file))
        }
    };
    let mut stats = ListStats {
        path: path.display().to_string(),
        ..ListStats::default()
    };
    let mut names = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(io_err)?;
        stats.lines += 1;
        if NameClass::of_tag(&line).is_some_and(|tag| tag != class) {
            stats.other_class += 1;
            continue;
        }
        match parse_line(&line) {
            Some(name) => names.push(name),
            None if line.trim().is_empty() || line.trim_start().starts_with('#') => {}
            None => stats.skipped += 1,
        }
    }
    stats.names = names.len() as u64;
    Ok((names, stats))
}

/// Counts of a names-only dataset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DgaDatasetStats {
    pub benign: u64,
    pub dga: u64,
    /// Names on both sides, left out.
    pub conflicting: u64,
    pub duplicates: u64,
    pub train: u64,
    pub valid: u64,
    pub test: u64,
}

fn name_hash(name: &str) -> u64 {
    crate::loader::derive_seed(
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }),
        0,
        0,
    )
}

/// The fewest distinct names of each class a DGA dataset is built from.
pub const MIN_NAMES_PER_CLASS: usize = 10;

/// Labels the names, drops conflicts and duplicates, keeps at most `max_per_class` names of
/// each class (chosen by hash, so the same lists always give the same sample), and writes them
/// as a feature dataset.
pub async fn write_dataset(
    root: &Root,
    dataset: &str,
    benign: Vec<String>,
    dga: Vec<String>,
    max_per_class: usize,
) -> Result<DgaDatasetStats> {
    let mut stats = DgaDatasetStats::default();
    let mut labels: HashMap<String, u8> = HashMap::new();
    for (names, label) in [(benign, 0u8), (dga, 1u8)] {
        for name in names {
            match labels.get(&name) {
                Some(&l) if l == label => stats.duplicates += 1,
                Some(&u8::MAX) => {}
                Some(_) => {
                    stats.conflicting += 1;
                    labels.insert(name, u8::MAX);
                }
                None => {
                    labels.insert(name, label);
                }
            }
        }
    }
    let mut rows: Vec<(u64, String, u8)> = labels
        .into_iter()
        .filter(|(_, l)| *l != u8::MAX)
        .map(|(n, l)| (name_hash(&n), n, l))
        .collect();
    rows.sort_unstable();
    // Too few names of either kind leave nothing to learn, and a test split of one class makes
    // F1 and TPR meaningless: refuse before writing anything.
    let sizes = [0u8, 1].map(|c| rows.iter().filter(|r| r.2 == c).count());
    if sizes[0].min(sizes[1]) < MIN_NAMES_PER_CLASS {
        return Err(Error::Input(format!(
            "{} benign and {} DGA names remain once the {} names on both sides are left out; \
             each side needs at least {MIN_NAMES_PER_CLASS}",
            sizes[0], sizes[1], stats.conflicting
        )));
    }
    let mut kept = [0usize; 2];
    rows.retain(|(_, _, l)| {
        kept[*l as usize] += 1;
        kept[*l as usize] <= max_per_class
    });
    let spec = spec();
    let mut writer = DatasetWriter::new(root, dataset, "features");
    for (split, range) in [("train", 0..8), ("valid", 8..9), ("test", 9..10)] {
        let part: Vec<&(u64, String, u8)> = rows
            .iter()
            .filter(|(h, _, _)| range.contains(&((h >> 32) % 10)))
            .collect();
        for chunk in part.chunks(50_000) {
            let batch = names_batch(chunk, split, &spec)?;
            writer
                .write_part(&format!("split={split}"), &[batch])
                .await?;
        }
        let n = part.len() as u64;
        match split {
            "train" => stats.train = n,
            "valid" => stats.valid = n,
            _ => stats.test = n,
        }
    }
    stats.benign = rows.iter().filter(|r| r.2 == 0).count() as u64;
    stats.dga = rows.len() as u64 - stats.benign;
    writer
        .write_sidecar("featurizer.json", Bytes::from(spec.to_json()), 0)
        .await?;
    writer
        .commit(
            &spec.schema(),
            Vec::new(),
            serde_json::to_value(&stats).unwrap_or_default(),
        )
        .await?;
    Ok(stats)
}

fn names_batch(
    rows: &[&(u64, String, u8)],
    split: &str,
    spec: &FeaturizerSpec,
) -> Result<RecordBatch> {
    let mut chars = Vec::with_capacity(rows.len() * NAME_LENGTH);
    for (_, name, _) in rows {
        spec.chars.encode_into(name, &mut chars);
    }
    let n = rows.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.1.as_str()),
        )),
        Arc::new(UInt16Array::from(vec![0u16; n])),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n("", n))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(split, n))),
        Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(UInt64Array::from(vec![0u64; n])),
        fixed_list(
            Arc::new(Float32Array::from(Vec::<f32>::new())),
            DataType::Float32,
            0,
            n,
        )?,
        fixed_list(
            Arc::new(Int32Array::from(Vec::<i32>::new())),
            DataType::Int32,
            0,
            n,
        )?,
        fixed_list(
            Arc::new(UInt8Array::from(chars)),
            DataType::UInt8,
            NAME_LENGTH,
            n,
        )?,
    ];
    RecordBatch::try_new(spec.schema(), columns).map_err(|e| Error::Input(e.to_string()))
}

/// Model inputs for raw names (normalized as the lists were; unparsable names encode as
/// unknown symbols rather than being dropped, so outputs stay aligned with inputs).
pub fn encode_names(names: &[String]) -> Inputs {
    let encoding = CharEncoding::standard(NAME_LENGTH);
    let mut chars = Vec::with_capacity(names.len() * NAME_LENGTH);
    for name in names {
        let normal = normalize_name(name).unwrap_or_else(|_| name.to_ascii_lowercase());
        encoding.encode_into(&normal, &mut chars);
    }
    Inputs {
        rows: names.len(),
        numeric: Vec::new(),
        categorical: Vec::new(),
        chars,
    }
}

/// Binary detection quality of the DGA class on one split.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionReport {
    pub rows: u64,
    pub positives: u64,
    /// At the 0.5 threshold.
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// The largest true-positive rate with a false-positive rate of at most `fpr_target`.
    pub fpr_target: f64,
    pub tpr_at_fpr: f64,
    pub threshold_at_fpr: f64,
}

/// Scores `p(dga)` against `truth` (1 = DGA).
pub fn detection_report(truth: &[u8], score: &[f32], fpr_target: f64) -> DetectionReport {
    let positives = truth.iter().filter(|&&t| t == 1).count() as u64;
    let negatives = truth.len() as u64 - positives;
    let (mut tp, mut fp) = (0u64, 0u64);
    for (&t, &s) in truth.iter().zip(score) {
        if s >= 0.5 {
            tp += u64::from(t == 1);
            fp += u64::from(t != 1);
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / positives.max(1) as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let allowed = (fpr_target * negatives as f64).floor() as u64;
    let (mut tp_at, mut fp_at, mut best_tpr, mut threshold) = (0u64, 0u64, 0.0, 1.0f64);
    let mut i = 0;
    while i < order.len() {
        // Move a whole group of tied scores at once: a threshold cannot split ties.
        let s = score[order[i]];
        let mut j = i;
        while j < order.len() && score[order[j]] == s {
            tp_at += u64::from(truth[order[j]] == 1);
            fp_at += u64::from(truth[order[j]] != 1);
            j += 1;
        }
        if fp_at > allowed {
            break;
        }
        best_tpr = tp_at as f64 / positives.max(1) as f64;
        threshold = f64::from(s);
        i = j;
    }
    DetectionReport {
        rows: truth.len() as u64,
        positives,
        precision,
        recall,
        f1,
        fpr_target,
        tpr_at_fpr: best_tpr,
        threshold_at_fpr: threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn too_few_names_on_a_side_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
        let names = |prefix: &str, n: usize| -> Vec<String> {
            (0..n).map(|i| format!("{prefix}{i}.example")).collect()
        };
        // Nine benign names of their own; the tenth is on both lists and is left out.
        let mut benign = names("b", 9);
        benign.push("both.example".into());
        let mut dga = names("d", 40);
        dga.push("both.example".into());
        let err = write_dataset(&root, "data/dga", benign.clone(), dga.clone(), 1000)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("9 benign and 40 DGA"), "{err}");
        assert!(
            pdnsrep_records::read_manifest(&root, "data/dga")
                .await
                .is_err()
        );
        benign.push("b9.example".into());
        let stats = write_dataset(&root, "data/dga", benign, dga, 1000)
            .await
            .unwrap();
        assert_eq!((stats.benign, stats.dga, stats.conflicting), (10, 40, 1));
    }

    #[test]
    fn a_labelled_mix_feeds_each_side_its_own_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mix.csv");
        std::fs::write(
            &path,
            "class,family,domain\nlegit,alexa,shop.example\ndga,gozi,qzxkvw.example\n\
             dga,corebot,mmpqrt.example\n",
        )
        .unwrap();
        let (benign, b) = read_names(&path, NameClass::Benign).unwrap();
        assert_eq!(benign, vec!["shop.example".to_string()]);
        assert_eq!((b.lines, b.other_class, b.skipped), (4, 2, 1));
        let (dga, d) = read_names(&path, NameClass::Dga).unwrap();
        assert_eq!(
            dga,
            vec!["qzxkvw.example".to_string(), "mmpqrt.example".to_string()]
        );
        assert_eq!((d.other_class, d.skipped), (1, 1));
    }

    #[test]
    fn list_lines_of_every_supported_shape() {
        assert_eq!(parse_line("Example.COM."), Some("example.com".into()));
        assert_eq!(parse_line("12,google.com"), Some("google.com".into()));
        assert_eq!(
            parse_line("xjw.ru,conficker,dga_wordlists/conficker.txt"),
            Some("xjw.ru".into())
        );
        assert_eq!(parse_line("dga,gozi,mortis.com"), Some("mortis.com".into()));
        assert_eq!(parse_line("domain,family,source_path"), None);
        assert_eq!(parse_line("  # a comment"), None);
        assert_eq!(
            NameClass::of_tag("legit,alexa,a.com"),
            Some(NameClass::Benign)
        );
        assert_eq!(NameClass::of_tag("DGA,gozi,b.com"), Some(NameClass::Dga));
        assert_eq!(NameClass::of_tag("3,c.com"), None);
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn tpr_at_fpr_counts_ties_together() {
        let truth = [1, 1, 0, 1, 0, 0];
        let score = [0.9, 0.8, 0.8, 0.7, 0.2, 0.1];
        // One false positive allowed only at FPR ≥ 1/3; the tie at 0.8 drags one in.
        let r = detection_report(&truth, &score, 0.0);
        assert!((r.tpr_at_fpr - 1.0 / 3.0).abs() < 1e-12);
        let r = detection_report(&truth, &score, 0.34);
        assert!((r.tpr_at_fpr - 1.0).abs() < 1e-12);
        assert!((r.f1 - 2.0 * 0.75 * 1.0 / 1.75).abs() < 1e-12);
    }
}
