//! The scored snapshot: every labelled record behind a model's training features, with the
//! class probabilities the model gives it, indexed by owner name, registered domain, answer
//! address and /24 or /48 network.
//!
//! The same indexes serve both sides of the service: lookups aggregate a domain's or an
//! address's records the way `pdnsrep score` does, and posted records find the neighbours their
//! features are computed from.

use std::collections::HashMap;
use std::net::IpAddr;

use arrow::array::{
    Array, AsArray as _, FixedSizeBinaryArray, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::DataType;
use pdnsrep_records::features::{CLASSES, class_index};
use pdnsrep_records::{Root, read_manifest, read_part};

pub use pdnsrep_label::Split;

use crate::error::{Error, Result};

/// Neighbour label mass is summed in millionths, as in the batch feature plan, so that sums
/// are exact and equal to the batch features.
pub(crate) const MASS_SCALE: f64 = 1_000_000.0;

/// One record with its enrichment, its scores and the neighbour mass it lends others.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapRecord {
    pub name: String,
    pub rrtype: u16,
    pub rdata: String,
    /// The A/AAAA answer, IPv4 mapped into IPv6.
    pub ip: Option<[u8; 16]>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: u64,
    pub min_ttl: Option<u32>,
    pub max_ttl: Option<u32>,
    pub split: Split,
    /// Class index of the list label.
    pub label: Option<u8>,
    pub label_source: Option<String>,
    pub registered_domain: Option<String>,
    pub tld: Option<String>,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub isp: Option<String>,
    pub name_rank: Option<u32>,
    pub domain_rank: Option<u32>,
    /// The model's class probabilities.
    pub probs: [f32; 3],
    /// Label mass this record lends its neighbours, in millionths of a record per class.
    pub mass: [i64; 3],
}

impl SnapRecord {
    /// The registered domain, or the name itself where it has none: the grouping key of the
    /// registered-domain features.
    pub fn domain_key(&self) -> &str {
        self.registered_domain.as_deref().unwrap_or(&self.name)
    }

    pub fn key(&self) -> (&str, u16, &str) {
        (&self.name, self.rrtype, &self.rdata)
    }

    /// The class with the highest probability (ties to the lower index).
    pub fn predicted(&self) -> usize {
        argmax(&self.probs)
    }
}

pub(crate) fn argmax(p: &[f32; 3]) -> usize {
    let mut best = 0;
    for i in 1..3 {
        if p[i] > p[best] {
            best = i;
        }
    }
    best
}

/// The /24 (IPv4) or /48 (IPv6) network of an address, as the batch plan groups it.
pub(crate) fn prefix_of(ip: &[u8; 16]) -> [u8; 16] {
    let mut bytes = *ip;
    pdnsrep_features::mask_prefix(&mut bytes);
    bytes
}

/// Where neighbour mass comes from, as the model's featurizer spec says.
#[derive(Debug, Clone)]
pub enum MassSource {
    /// Training labels only.
    Labels,
    /// Training labels, and an earlier pass's probabilities for every other record (keyed by
    /// record); `threshold` turns them into hard votes.
    Predictions {
        probs: HashMap<(String, u16, String), [f32; 3]>,
        threshold: Option<f64>,
    },
}

impl MassSource {
    /// The mass a record lends, exactly as the batch plan computes it.
    pub fn mass(&self, record: &SnapRecord) -> [i64; 3] {
        let one = MASS_SCALE as i64;
        let mut out = [0i64; 3];
        if record.split == Split::Train
            && let Some(label) = record.label
        {
            out[label as usize] = one;
            return out;
        }
        if let MassSource::Predictions { probs, threshold } = self {
            let key = (record.name.clone(), record.rrtype, record.rdata.clone());
            if let Some(p) = probs.get(&key) {
                for (class, value) in p.iter().enumerate() {
                    out[class] = match threshold {
                        Some(t) => i64::from(f64::from(*value) >= *t) * one,
                        None => (f64::from(*value) * MASS_SCALE + 0.5) as i64,
                    };
                }
            }
        }
        out
    }
}

/// Every record of the snapshot and the indexes over them.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub records: Vec<SnapRecord>,
    by_key: HashMap<(String, u16, String), u32>,
    by_name: HashMap<String, Vec<u32>>,
    by_domain: HashMap<String, Vec<u32>>,
    by_ip: HashMap<[u8; 16], Vec<u32>>,
    by_prefix: HashMap<[u8; 16], Vec<u32>>,
}

impl Snapshot {
    /// Indexes `records`.
    pub fn new(records: Vec<SnapRecord>) -> Snapshot {
        let mut s = Snapshot::default();
        for (i, r) in records.iter().enumerate() {
            let i = i as u32;
            s.by_key
                .insert((r.name.clone(), r.rrtype, r.rdata.clone()), i);
            s.by_name.entry(r.name.clone()).or_default().push(i);
            s.by_domain
                .entry(r.domain_key().to_string())
                .or_default()
                .push(i);
            if let Some(ip) = r.ip {
                s.by_ip.entry(ip).or_default().push(i);
                s.by_prefix.entry(prefix_of(&ip)).or_default().push(i);
            }
        }
        s.records = records;
        s
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn get(&self, name: &str, rrtype: u16, rdata: &str) -> Option<&SnapRecord> {
        let key = (name.to_string(), rrtype, rdata.to_string());
        self.by_key.get(&key).map(|i| &self.records[*i as usize])
    }

    fn group<'a>(
        &'a self,
        ids: Option<&'a Vec<u32>>,
    ) -> impl Iterator<Item = &'a SnapRecord> + use<'a> {
        ids.into_iter()
            .flatten()
            .map(move |i| &self.records[*i as usize])
    }

    /// The records of an owner name.
    pub fn by_name<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a SnapRecord> + use<'a> {
        self.group(self.by_name.get(name))
    }

    /// The records under a registered domain (or a name without one).
    pub fn by_domain<'a>(&'a self, domain: &str) -> impl Iterator<Item = &'a SnapRecord> + use<'a> {
        self.group(self.by_domain.get(domain))
    }

    /// The records answering with an address.
    pub fn by_ip<'a>(&'a self, ip: &[u8; 16]) -> impl Iterator<Item = &'a SnapRecord> + use<'a> {
        self.group(self.by_ip.get(ip))
    }

    /// The records answering with an address in the same /24 or /48.
    pub fn by_prefix<'a>(
        &'a self,
        ip: &[u8; 16],
    ) -> impl Iterator<Item = &'a SnapRecord> + use<'a> {
        self.group(self.by_prefix.get(&prefix_of(ip)))
    }

    /// Any record that knows something about an address (country, AS, ISP).
    pub fn about_ip(&self, ip: &[u8; 16]) -> Option<&SnapRecord> {
        self.by_ip(ip).next()
    }

    /// Approximate heap bytes held, for the metrics.
    pub fn approx_bytes(&self) -> usize {
        let strings: usize = self
            .records
            .iter()
            .map(|r| {
                2 * r.name.len()
                    + 2 * r.rdata.len()
                    + r.registered_domain.as_ref().map_or(0, |s| 2 * s.len())
                    + r.tld.as_ref().map_or(0, String::len)
                    + r.isp.as_ref().map_or(0, String::len)
            })
            .sum();
        self.records.len() * (std::mem::size_of::<SnapRecord>() + 96) + strings
    }
}

/// Reads every record of a labelled dataset.
pub async fn read_labelled(root: &Root, dataset: &str) -> Result<Vec<SnapRecord>> {
    let manifest = read_manifest(root, dataset).await?;
    let mut out = Vec::with_capacity(manifest.rows as usize);
    for part in &manifest.parts {
        for batch in read_part(root, &manifest, part).await? {
            let at = root.display(&format!("{}/{}", manifest.dataset, part.path));
            append_labelled(&batch, &mut out).map_err(|reason| Error::Snapshot {
                location: at,
                reason,
            })?;
        }
    }
    Ok(out)
}

fn append_labelled(batch: &RecordBatch, out: &mut Vec<SnapRecord>) -> Result<(), String> {
    let c = Columns(batch);
    let name = c.strings("name")?;
    let rrtype = c.typed::<UInt16Array>("rrtype")?;
    let rdata = c.strings("rdata")?;
    let ip = c.typed::<FixedSizeBinaryArray>("ip")?;
    let first = c.typed::<TimestampMillisecondArray>("first_seen")?;
    let last = c.typed::<TimestampMillisecondArray>("last_seen")?;
    let count = c.typed::<UInt64Array>("count")?;
    let (min_ttl, max_ttl) = (c.u32s("min_ttl")?, c.u32s("max_ttl")?);
    let (label, source) = (c.strings("label")?, c.strings("label_source")?);
    let (registered, tld) = (c.strings("registered_domain")?, c.strings("tld")?);
    let (country, isp) = (c.strings("country")?, c.strings("isp")?);
    let asn = c.u32s("asn")?;
    let (name_rank, domain_rank) = (c.u32s("name_rank")?, c.u32s("domain_rank")?);
    let split = c.strings("split")?;
    let text = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
    let num = |a: &UInt32Array, i: usize| a.is_valid(i).then(|| a.value(i));
    for i in 0..batch.num_rows() {
        let split_text = split.value(i);
        let split = Split::ALL
            .into_iter()
            .find(|s| s.as_str() == split_text)
            .ok_or_else(|| format!("row {i}: unknown split `{split_text}`"))?;
        let ip = ip
            .is_valid(i)
            .then(|| <[u8; 16]>::try_from(ip.value(i)).map_err(|_| format!("row {i}: bad `ip`")))
            .transpose()?;
        out.push(SnapRecord {
            name: name.value(i).to_string(),
            rrtype: rrtype.value(i),
            rdata: rdata.value(i).to_string(),
            ip,
            first_ms: first.value(i),
            last_ms: last.value(i),
            count: count.value(i),
            min_ttl: num(&min_ttl, i),
            max_ttl: num(&max_ttl, i),
            split,
            label: label
                .is_valid(i)
                .then(|| class_index(label.value(i)))
                .flatten(),
            label_source: text(&source, i),
            registered_domain: text(&registered, i),
            tld: text(&tld, i),
            country: text(&country, i),
            asn: num(&asn, i),
            isp: text(&isp, i),
            name_rank: num(&name_rank, i),
            domain_rank: num(&domain_rank, i),
            probs: [0.0; 3],
            mass: [0; 3],
        });
    }
    Ok(())
}

/// Reads the class probabilities of a predictions dataset, keyed by record.
pub(crate) async fn read_predictions(
    root: &Root,
    dataset: &str,
) -> Result<HashMap<(String, u16, String), [f32; 3]>> {
    let manifest = read_manifest(root, dataset).await?;
    let mut out = HashMap::with_capacity(manifest.rows as usize);
    for part in &manifest.parts {
        for batch in read_part(root, &manifest, part).await? {
            let at = root.display(&format!("{}/{}", manifest.dataset, part.path));
            let snapshot_err = |reason: String| Error::Snapshot {
                location: at.clone(),
                reason,
            };
            let c = Columns(&batch);
            let keys = keys_of(&batch).map_err(snapshot_err)?;
            let probs = CLASSES
                .iter()
                .map(|class| c.f32s(&format!("p_{class}")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(snapshot_err)?;
            for (i, key) in keys.into_iter().enumerate() {
                out.insert(key, [probs[0][i], probs[1][i], probs[2][i]]);
            }
        }
    }
    Ok(out)
}

/// The record keys of a batch with `name`, `rrtype` and `rdata` columns.
pub(crate) fn keys_of(batch: &RecordBatch) -> Result<Vec<(String, u16, String)>, String> {
    let c = Columns(batch);
    let name = c.strings("name")?;
    let rrtype = c.typed::<UInt16Array>("rrtype")?;
    let rdata = c.strings("rdata")?;
    Ok((0..batch.num_rows())
        .map(|i| {
            (
                name.value(i).to_string(),
                rrtype.value(i),
                rdata.value(i).to_string(),
            )
        })
        .collect())
}

/// Typed column access with errors that name the column.
struct Columns<'a>(&'a RecordBatch);

impl Columns<'_> {
    fn column(&self, name: &str) -> Result<&arrow::array::ArrayRef, String> {
        self.0
            .column_by_name(name)
            .ok_or_else(|| format!("no column `{name}`"))
    }

    fn typed<A: Array + Clone + 'static>(&self, name: &str) -> Result<A, String> {
        let column = self.column(name)?;
        column
            .as_any()
            .downcast_ref::<A>()
            .cloned()
            .ok_or_else(|| format!("column `{name}` has type {}", column.data_type()))
    }

    fn strings(&self, name: &str) -> Result<StringArray, String> {
        let column = self.column(name)?;
        match column.data_type() {
            DataType::Utf8 => Ok(column.as_string::<i32>().clone()),
            _ => arrow::compute::cast(column, &DataType::Utf8)
                .map(|a| a.as_string::<i32>().clone())
                .map_err(|e| format!("column `{name}`: {e}")),
        }
    }

    fn u32s(&self, name: &str) -> Result<UInt32Array, String> {
        self.typed::<UInt32Array>(name)
    }

    fn f32s(&self, name: &str) -> Result<Vec<f32>, String> {
        let column = self.column(name)?;
        let cast = arrow::compute::cast(column, &DataType::Float32)
            .map_err(|e| format!("column `{name}`: {e}"))?;
        Ok(cast
            .as_primitive::<arrow::datatypes::Float32Type>()
            .values()
            .to_vec())
    }
}

/// Parses an address typed by a user.
pub(crate) fn parse_ip(text: &str) -> Option<[u8; 16]> {
    text.parse::<IpAddr>()
        .ok()
        .map(pdnsrep_records::ip_to_bytes)
}
