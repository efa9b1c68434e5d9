//! The model being served and the snapshot scored by it: loading both, answering lookups, and
//! scoring posted records with their evidence.

use std::collections::HashMap;
use std::time::Instant;

use pdnsrep_label::{EnrichConfig, Enricher, LabelIndex, ListsConfig};
use pdnsrep_model::{Backend, Inputs};
use pdnsrep_records::features::{CLASSES, NeighbourSource};
use pdnsrep_records::{Root, read_part};
use pdnsrep_registry::{Loaded, Reference, Registry};
use pdnsrep_train::{Batch, FeatureSource, Predictor, Widths, batch_of};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::online::{OnlineFeaturizer, Row};
use crate::snapshot::{MassSource, SnapRecord, Snapshot, Split, argmax, read_labelled};

/// How posted records are enriched: the Public Suffix List always; MaxMind databases, a prefix
/// table and top lists when given. What they leave open is taken from the snapshot (a stored
/// record of the same key, then records sharing the address, the name or the domain).
#[derive(Debug)]
pub struct Enrichment {
    pub enricher: Enricher,
    pub ranks: Option<LabelIndex>,
}

impl Enrichment {
    pub fn load(config: &EnrichConfig, lists: Option<&ListsConfig>) -> Result<Enrichment> {
        let enricher = Enricher::load(config)?;
        let ranks = lists
            .map(|l| LabelIndex::load(l, &enricher.psl))
            .transpose()?;
        Ok(Enrichment { enricher, ranks })
    }
}

/// Where the snapshot's records come from, when not the model's own training data.
#[derive(Debug, Clone, Default)]
pub struct SnapshotSource {
    /// A labelled dataset: `(root, dataset)`.
    pub labelled: Option<(String, String)>,
}

/// Settings of the service that outlive a model swap.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub min_evidence: u64,
    pub backend: Backend,
    pub snapshot: SnapshotSource,
}

/// A loaded version and its scored snapshot.
#[derive(Debug)]
pub struct Active {
    pub model: String,
    pub version: u32,
    pub loaded: Loaded,
    pub snapshot: Snapshot,
    pub featurizer: OnlineFeaturizer,
    pub mass: MassSource,
    pub min_evidence: u64,
    pub snapshot_location: String,
    pub load_seconds: f64,
}

/// Class probabilities as a JSON object.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Probabilities {
    pub benign: f64,
    pub malicious: f64,
    pub sinkhole: f64,
}

impl Probabilities {
    fn of(p: &[f32; 3]) -> Probabilities {
        Probabilities {
            benign: f64::from(p[0]),
            malicious: f64::from(p[1]),
            sinkhole: f64::from(p[2]),
        }
    }
}

/// The records behind a domain or an address, summed up as `pdnsrep score` does.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    pub reputation: &'static str,
    pub probabilities: Probabilities,
    pub max_p_malicious: f64,
    pub max_p_sinkhole: f64,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub records: u64,
    pub observations: u64,
    pub labelled_records: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// One record in an answer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RecordView {
    pub rrname: String,
    pub rrtype: String,
    pub rdata: String,
    /// The list label, when a list covers the record.
    pub label: Option<&'static str>,
    pub predicted: &'static str,
    pub probabilities: Probabilities,
    pub count: u64,
    pub time_first: i64,
    pub time_last: i64,
}

/// One feature's weight in a decision.
#[derive(Debug, Clone, Serialize)]
pub struct Weight {
    pub feature: String,
    /// The feature's value before scaling (a count, seconds, a category).
    pub value: serde_json::Value,
    /// How much the probability of the predicted class drops when the feature is set to its
    /// neutral value (the training mean; the unknown category).
    pub effect: f64,
}

/// Turns a millisecond timestamp into RFC 3339.
pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Sums up records into a verdict; `None` when there are none.
pub fn verdict<'a>(
    records: impl Iterator<Item = &'a SnapRecord>,
    min_evidence: u64,
) -> Option<Verdict> {
    let (mut n, mut obs, mut labelled) = (0u64, 0u64, 0u64);
    let (mut sum, mut max_m, mut max_s) = ([0f64; 3], 0f64, 0f64);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for r in records {
        n += 1;
        obs += r.count;
        labelled += u64::from(r.label.is_some());
        for (s, p) in sum.iter_mut().zip(r.probs) {
            *s += f64::from(p);
        }
        max_m = max_m.max(f64::from(r.probs[1]));
        max_s = max_s.max(f64::from(r.probs[2]));
        first = first.min(r.first_ms);
        last = last.max(r.last_ms);
    }
    if n == 0 {
        return None;
    }
    let mean = sum.map(|s| s / n as f64);
    let reputation = if n < min_evidence {
        "insufficient_evidence"
    } else if mean[1] >= mean[0] && mean[1] >= mean[2] {
        "malicious"
    } else if mean[2] >= mean[0] {
        "sinkhole"
    } else {
        "benign"
    };
    Some(Verdict {
        reputation,
        probabilities: Probabilities {
            benign: mean[0],
            malicious: mean[1],
            sinkhole: mean[2],
        },
        max_p_malicious: max_m,
        max_p_sinkhole: max_s,
        evidence: Evidence {
            records: n,
            observations: obs,
            labelled_records: labelled,
            first_seen: rfc3339(first),
            last_seen: rfc3339(last),
        },
    })
}

pub(crate) fn view(r: &SnapRecord) -> RecordView {
    RecordView {
        rrname: r.name.clone(),
        rrtype: rrtype_name(r.rrtype),
        rdata: r.rdata.clone(),
        label: r.label.map(|l| CLASSES[l as usize]),
        predicted: CLASSES[r.predicted()],
        probabilities: Probabilities::of(&r.probs),
        count: r.count,
        time_first: r.first_ms.div_euclid(1000),
        time_last: r.last_ms.div_euclid(1000),
    }
}

pub(crate) fn rrtype_name(rrtype: u16) -> String {
    pdnsrep_records::RrType(rrtype).to_string()
}

impl Active {
    /// Loads and verifies `reference`, then reads and scores its snapshot.
    pub async fn load(
        registry: &Registry,
        reference: &Reference,
        settings: &ServeSettings,
    ) -> Result<Active> {
        let started = Instant::now();
        let loaded = registry.load(reference, settings.backend).await?;
        let featurizer = OnlineFeaturizer::new(loaded.featurizer.clone())?;
        let features = FeatureSource::open(
            &Root::parse(&loaded.info.features_root)?,
            &loaded.info.dataset,
        )
        .await?;
        let (labelled_root, labelled) = match &settings.snapshot.labelled {
            Some((root, dataset)) => (Root::parse(root)?, dataset.clone()),
            None => pdnsrep_sweep::passes::labelled_input(&features)?,
        };
        let mass = mass_source(&features).await?;
        let mut records = read_labelled(&labelled_root, &labelled).await?;
        for r in &mut records {
            r.mass = mass.mass(r);
        }
        let mut snapshot = Snapshot::new(records);
        let unmatched = score_snapshot(&loaded.predictor, &features, &mut snapshot).await?;
        if !unmatched.is_empty() {
            tracing::warn!(
                records = unmatched.len(),
                "snapshot records without a feature row: featurized like posted records"
            );
            score_unmatched(&loaded.predictor, &featurizer, &mut snapshot, &unmatched)?;
        }
        Ok(Active {
            model: reference.model.clone(),
            version: loaded.verified.version,
            loaded,
            snapshot,
            featurizer,
            mass,
            min_evidence: settings.min_evidence,
            snapshot_location: labelled_root.display(&labelled),
            load_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// `<name>@v<N>`.
    pub fn label(&self) -> String {
        format!("{}@v{}", self.model, self.version)
    }

    /// Class probabilities of encoded rows.
    pub fn predict(&self, rows: &[Row]) -> Result<Vec<[f32; 3]>> {
        predict_rows(&self.loaded.predictor, rows)
    }

    /// How much each feature weighs in the decision on `row`: the drop in the predicted class's
    /// probability when the feature alone is made neutral, largest first. One forward pass per
    /// feature, so `top == 0` skips the work.
    pub fn explain(&self, row: &Row, top: usize) -> Result<Vec<Weight>> {
        if top == 0 {
            return Ok(Vec::new());
        }
        let spec = self.featurizer.spec();
        let mut rows = vec![row.clone()];
        for j in 0..row.numeric.len() {
            let mut r = row.clone();
            r.numeric[j] = 0.0;
            rows.push(r);
        }
        for j in 0..row.categorical.len() {
            let mut r = row.clone();
            r.categorical[j] = 0;
            rows.push(r);
        }
        let probs = self.predict(&rows)?;
        let class = argmax(&probs[0]);
        let base = f64::from(probs[0][class]);
        let mut weights: Vec<Weight> = Vec::with_capacity(rows.len() - 1);
        for (j, f) in spec.numeric.iter().enumerate() {
            weights.push(Weight {
                feature: f.name.clone(),
                value: serde_json::json!(row.raw[j]),
                effect: base - f64::from(probs[1 + j][class]),
            });
        }
        let offset = 1 + spec.numeric.len();
        for (j, c) in spec.categorical.iter().enumerate() {
            let code = row.categorical[j];
            let value = match code {
                0 => serde_json::Value::Null,
                k => serde_json::json!(c.vocab.get(k as usize - 1)),
            };
            weights.push(Weight {
                feature: c.name.clone(),
                value,
                effect: base - f64::from(probs[offset + j][class]),
            });
        }
        weights.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
        weights.retain(|w| w.effect.abs() > 1e-6);
        weights.truncate(top);
        Ok(weights)
    }

    /// A posted record made ready for featurizing: enriched, with the split, label and mass of
    /// a stored record of the same key.
    pub fn prepare(&self, mut r: SnapRecord, enrichment: &Enrichment) -> Result<SnapRecord> {
        let stored = self.snapshot.get(&r.name, r.rrtype, &r.rdata);
        if let Some(s) = stored {
            r.split = s.split;
            r.label = s.label;
            r.label_source = s.label_source.clone();
        }
        r.mass = self.mass.mass(&r);
        enrich(&mut r, stored, &self.snapshot, enrichment)?;
        Ok(r)
    }
}

fn enrich(
    r: &mut SnapRecord,
    stored: Option<&SnapRecord>,
    snapshot: &Snapshot,
    e: &Enrichment,
) -> Result<()> {
    if let Some(s) = stored {
        r.registered_domain.clone_from(&s.registered_domain);
        r.tld.clone_from(&s.tld);
        r.country.clone_from(&s.country);
        r.asn = s.asn;
        r.isp.clone_from(&s.isp);
        r.name_rank = s.name_rank;
        r.domain_rank = s.domain_rank;
        return Ok(());
    }
    r.registered_domain = e
        .enricher
        .psl
        .registered_domain(&r.name)
        .map(str::to_string);
    r.tld = Some(pdnsrep_label::tld(&r.name).to_string());
    if let Some(ip) = r.ip {
        let addr = std::net::IpAddr::from(std::net::Ipv6Addr::from(ip));
        let addr = match addr {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, std::net::IpAddr::V4),
            v4 => v4,
        };
        let info = e.enricher.ip_info(addr)?;
        let known = snapshot.about_ip(&ip);
        r.country = info
            .country
            .or_else(|| known.and_then(|k| k.country.clone()));
        r.asn = info.asn.or_else(|| known.and_then(|k| k.asn));
        r.isp = info.isp.or_else(|| known.and_then(|k| k.isp.clone()));
    }
    match &e.ranks {
        Some(index) => {
            r.name_rank = index.name_rank(&r.name);
            r.domain_rank = r
                .registered_domain
                .as_deref()
                .and_then(|d| index.domain_rank(d));
        }
        None => {
            r.name_rank = snapshot.by_name(&r.name).find_map(|k| k.name_rank);
            r.domain_rank = snapshot
                .by_domain(r.domain_key())
                .find_map(|k| k.domain_rank);
        }
    }
    Ok(())
}

fn predict_rows(predictor: &Predictor, rows: &[Row]) -> Result<Vec<[f32; 3]>> {
    let batch = Batch {
        inputs: Inputs {
            rows: rows.len(),
            numeric: rows
                .iter()
                .flat_map(|r| r.numeric.iter().copied())
                .collect(),
            categorical: rows
                .iter()
                .flat_map(|r| r.categorical.iter().copied())
                .collect(),
            chars: rows.iter().flat_map(|r| r.chars.iter().copied()).collect(),
        },
        labels: vec![0; rows.len()],
        domain_queries: rows.iter().map(|r| r.domain_queries).collect(),
    };
    let flat = predictor.predict(&batch)?;
    Ok(flat
        .chunks_exact(CLASSES.len())
        .map(|c| [c[0], c[1], c[2]])
        .collect())
}

/// The neighbour mass the featurizer saw: labels, or an earlier pass's predictions.
async fn mass_source(features: &FeatureSource) -> Result<MassSource> {
    let NeighbourSource::Predictions {
        dataset, threshold, ..
    } = &features.spec.neighbours
    else {
        return Ok(MassSource::Labels);
    };
    let location = features.manifest.stats["neighbours"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let root = location
        .strip_suffix(&format!("/{dataset}"))
        .ok_or_else(|| Error::Snapshot {
            location: features.root.display(&features.manifest.dataset),
            reason: format!("cannot locate the predictions `{dataset}` its neighbours came from"),
        })?;
    let probs = crate::snapshot::read_predictions(&Root::parse(root)?, dataset).await?;
    Ok(MassSource::Predictions {
        probs,
        threshold: *threshold,
    })
}

/// Scores every snapshot record from its stored feature row; returns the records that had
/// none.
async fn score_snapshot(
    predictor: &Predictor,
    features: &FeatureSource,
    snapshot: &mut Snapshot,
) -> Result<Vec<usize>> {
    let widths = Widths::of(&features.spec);
    let manifest = &features.manifest;
    let mut index: HashMap<(String, u16, String), usize> = snapshot
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.name.clone(), r.rrtype, r.rdata.clone()), i))
        .collect();
    for part in &manifest.parts {
        for batch in read_part(&features.root, manifest, part).await? {
            let location = features
                .root
                .display(&format!("{}/{}", manifest.dataset, part.path));
            let inputs = batch_of(&batch, widths).map_err(|reason| Error::Snapshot {
                location: location.clone(),
                reason,
            })?;
            let probs = predictor.predict(&inputs)?;
            let keys = crate::snapshot::keys_of(&batch)
                .map_err(|reason| Error::Snapshot { location, reason })?;
            for (key, p) in keys.into_iter().zip(probs.chunks_exact(CLASSES.len())) {
                if let Some(i) = index.remove(&key) {
                    snapshot.records[i].probs = [p[0], p[1], p[2]];
                }
            }
        }
    }
    let mut unmatched: Vec<usize> = index.into_values().collect();
    unmatched.sort_unstable();
    Ok(unmatched)
}

/// Records of a snapshot that is not the model's training data have no stored feature rows:
/// they are featurized like posted records.
fn score_unmatched(
    predictor: &Predictor,
    featurizer: &OnlineFeaturizer,
    snapshot: &mut Snapshot,
    todo: &[usize],
) -> Result<()> {
    for chunk in todo.chunks(1024) {
        let rows: Vec<Row> = chunk
            .iter()
            .map(|i| featurizer.encode(snapshot, &snapshot.records[*i]))
            .collect();
        let probs = predict_rows(predictor, &rows)?;
        for (i, p) in chunk.iter().zip(probs) {
            snapshot.records[*i].probs = p;
        }
    }
    Ok(())
}

/// A posted record before enrichment.
pub(crate) fn posted(
    name: String,
    rrtype: u16,
    rdata: String,
    ip: Option<[u8; 16]>,
    seen: (i64, i64),
    count: u64,
    ttl: (Option<u32>, Option<u32>),
) -> SnapRecord {
    SnapRecord {
        name,
        rrtype,
        rdata,
        ip,
        first_ms: seen.0,
        last_ms: seen.1,
        count,
        min_ttl: ttl.0,
        max_ttl: ttl.1,
        split: Split::Unlabelled,
        label: None,
        label_source: None,
        registered_domain: None,
        tld: None,
        country: None,
        asn: None,
        isp: None,
        name_rank: None,
        domain_rank: None,
        probs: [0.0; 3],
        mass: [0; 3],
    }
}
