//! Features of one record computed against the snapshot, the way the batch plan
//! (`pdnsrep_features::aggregation_sql`) computes them over a whole dataset.
//!
//! A record's features aggregate the records that share its owner name, its registered
//! domain, its answer address and that address's /24 or /48. Here each group is the snapshot's
//! records of that key, with the record itself in place of any stored record of the same key
//! (a posted record is the current view of that record). For a record already in the snapshot
//! the groups are exactly the batch plan's groups, so the features are equal; the tests check
//! that on every record of a world.

use std::collections::HashSet;
use std::hash::Hash;

use pdnsrep_records::features::{CharEncoding, FeaturizerSpec};

use crate::error::{Error, Result};
use crate::snapshot::{MASS_SCALE, SnapRecord, Snapshot};

/// One encoded row, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub numeric: Vec<f32>,
    pub categorical: Vec<i32>,
    pub chars: Vec<u8>,
    /// Queries of every record of the owner name: the rule baseline's input.
    pub domain_queries: u64,
    /// The numeric features before transformation, in the spec's order.
    pub raw: Vec<f64>,
}

/// Encodes records with a featurizer spec.
#[derive(Debug)]
pub struct OnlineFeaturizer {
    spec: FeaturizerSpec,
    codes: Vec<std::collections::HashMap<String, i32>>,
    chars: [u8; 256],
}

/// Sums over one group of records.
#[derive(Debug, Default)]
struct Agg {
    queries: i64,
    records: i64,
    first: Option<i64>,
    last: Option<i64>,
    mass: [i64; 3],
}

impl Agg {
    fn push(&mut self, r: &SnapRecord) {
        self.queries += r.count as i64;
        self.records += 1;
        self.first = Some(self.first.map_or(r.first_ms, |f| f.min(r.first_ms)));
        self.last = Some(self.last.map_or(r.last_ms, |l| l.max(r.last_ms)));
        for (m, v) in self.mass.iter_mut().zip(r.mass) {
            *m += v;
        }
    }

    fn life_s(&self) -> f64 {
        match (self.first, self.last) {
            (Some(f), Some(l)) => (l - f) as f64 / 1000.0,
            _ => 0.0,
        }
    }
}

fn distinct<'a, T: Hash + Eq + 'a>(values: impl Iterator<Item = Option<T>>) -> f64 {
    values.flatten().collect::<HashSet<T>>().len() as f64
}

/// The group of `key` with `record` in place of a stored record of the same key.
fn with_record<'a>(
    stored: impl Iterator<Item = &'a SnapRecord>,
    record: &'a SnapRecord,
) -> Vec<&'a SnapRecord> {
    stored
        .filter(|r| r.key() != record.key())
        .chain(std::iter::once(record))
        .collect()
}

impl OnlineFeaturizer {
    /// Checks that every numeric feature of `spec` is one [`OnlineFeaturizer::raw`] computes.
    pub fn new(spec: FeaturizerSpec) -> Result<OnlineFeaturizer> {
        // The features computed are whatever `raw` names for any record: ask it once.
        let blank = crate::active::posted(
            String::new(),
            1,
            String::new(),
            None,
            (0, 0),
            1,
            (None, None),
        );
        let computed: Vec<&str> = raw_features(&Snapshot::default(), &blank)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        if let Some(f) = spec
            .numeric
            .iter()
            .find(|f| !computed.contains(&f.name.as_str()))
        {
            return Err(Error::Unsupported(format!(
                "the featurizer has numeric feature `{}`, which real-time scoring does not compute",
                f.name
            )));
        }
        let codes = spec.categorical.iter().map(|c| c.codes()).collect();
        let chars = spec.chars.table();
        Ok(OnlineFeaturizer { spec, codes, chars })
    }

    pub fn spec(&self) -> &FeaturizerSpec {
        &self.spec
    }

    /// The raw numeric features of `record` against `snapshot`, by name.
    pub fn raw(&self, snapshot: &Snapshot, record: &SnapRecord) -> Vec<(&'static str, f64)> {
        raw_features(snapshot, record)
    }

    /// The encoded model row of `record`.
    pub fn encode(&self, snapshot: &Snapshot, record: &SnapRecord) -> Row {
        let raw = self.raw(snapshot, record);
        let value = |name: &str| {
            raw.iter()
                .find(|(n, _)| *n == name)
                .map_or(0.0, |(_, v)| *v)
        };
        let raw: Vec<f64> = self.spec.numeric.iter().map(|f| value(&f.name)).collect();
        let numeric = self
            .spec
            .numeric
            .iter()
            .zip(&raw)
            .map(|(f, v)| f.encode(*v))
            .collect();
        let categorical = self
            .spec
            .categorical
            .iter()
            .zip(&self.codes)
            .map(|(c, codes)| {
                categorical_value(record, &c.name)
                    .and_then(|v| codes.get(&v).copied())
                    .unwrap_or(0)
            })
            .collect();
        let bytes = record.name.as_bytes();
        let chars = (0..self.spec.chars.length)
            .map(|k| match bytes.get(k) {
                Some(b) => self.chars[*b as usize],
                None => CharEncoding::PAD,
            })
            .collect();
        // The rule's input is the name's query total, one of the raw features.
        let domain_queries = value("name_queries") as u64;
        Row {
            numeric,
            categorical,
            chars,
            domain_queries,
            raw,
        }
    }
}

/// The raw numeric features of `record` against `snapshot`, named as in the batch plan.
fn raw_features(snapshot: &Snapshot, record: &SnapRecord) -> Vec<(&'static str, f64)> {
    let by_name = with_record(snapshot.by_name(&record.name), record);
    let by_domain = with_record(snapshot.by_domain(record.domain_key()), record);
    let (by_ip, by_prefix) = match &record.ip {
        Some(ip) => (
            with_record(snapshot.by_ip(ip), record),
            with_record(snapshot.by_prefix(ip), record),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let mut out = Vec::with_capacity(64);
    own_features(record, &mut out);
    group_features("name", &by_name, &mut out);
    group_features("rd", &by_domain, &mut out);
    out.push(("has_ip", f64::from(u8::from(record.ip.is_some()))));
    group_features("ip", &by_ip, &mut out);
    group_features("prefix", &by_prefix, &mut out);
    rank_features(record, &mut out);
    neighbour_features("name", &by_name, record, &mut out);
    neighbour_features("ip", &by_ip, record, &mut out);
    out
}

/// The raw value of a categorical feature, as the batch plan spells it.
fn categorical_value(r: &SnapRecord, feature: &str) -> Option<String> {
    match feature {
        "tld" => r.tld.clone(),
        "country" => r.country.clone(),
        "asn" => r.asn.map(|a| a.to_string()),
        "isp" => r.isp.clone(),
        "rrtype" => Some(r.rrtype.to_string()),
        _ => None,
    }
}

fn own_features(r: &SnapRecord, out: &mut Vec<(&'static str, f64)>) {
    let ttl = |t: Option<u32>| t.map_or(0.0, f64::from);
    out.push(("lifespan_s", (r.last_ms - r.first_ms) as f64 / 1000.0));
    out.push(("count", r.count as f64));
    out.push(("min_ttl", ttl(r.min_ttl)));
    out.push(("max_ttl", ttl(r.max_ttl)));
    let spread = match (r.max_ttl, r.min_ttl) {
        (Some(max), Some(min)) => i64::from(max) - i64::from(min),
        _ => 0,
    };
    out.push(("ttl_spread", spread as f64));
    out.push(("ttl_missing", f64::from(u8::from(r.max_ttl.is_none()))));
}

fn rank_features(r: &SnapRecord, out: &mut Vec<(&'static str, f64)>) {
    out.push(("name_rank", r.name_rank.map_or(0.0, f64::from)));
    out.push((
        "name_rank_missing",
        f64::from(u8::from(r.name_rank.is_none())),
    ));
    out.push(("domain_rank", r.domain_rank.map_or(0.0, f64::from)));
    out.push((
        "domain_rank_missing",
        f64::from(u8::from(r.domain_rank.is_none())),
    ));
}

/// The aggregate features of one group, named `<level>_<feature>` as in the batch plan.
fn group_features(level: &'static str, group: &[&SnapRecord], out: &mut Vec<(&'static str, f64)>) {
    let mut agg = Agg::default();
    for r in group {
        agg.push(r);
    }
    let ips = || distinct(group.iter().map(|r| r.ip));
    let names = || distinct(group.iter().map(|r| Some(r.name.as_str())));
    let domains = || distinct(group.iter().map(|r| Some(r.domain_key())));
    let tlds = || distinct(group.iter().map(|r| Some(r.tld.as_deref().unwrap_or(""))));
    let countries = || distinct(group.iter().map(|r| r.country.as_deref()));
    let asns = || distinct(group.iter().map(|r| r.asn));
    let ttls = || distinct(group.iter().map(|r| r.max_ttl));
    let (q, n, life) = (agg.queries as f64, agg.records as f64, agg.life_s());
    let values: Vec<(&'static str, f64)> = match level {
        "name" => vec![
            ("name_queries", q),
            ("name_records", n),
            ("name_lifespan_s", life),
            ("name_ips", ips()),
            ("name_countries", countries()),
            ("name_asns", asns()),
            ("name_ttls", ttls()),
        ],
        "rd" => vec![
            ("rd_queries", q),
            ("rd_records", n),
            ("rd_names", names()),
            ("rd_lifespan_s", life),
            ("rd_ips", ips()),
            ("rd_countries", countries()),
            ("rd_asns", asns()),
            ("rd_ttls", ttls()),
        ],
        "ip" => vec![
            ("ip_queries", q),
            ("ip_records", n),
            ("ip_names", names()),
            ("ip_domains", domains()),
            ("ip_tlds", tlds()),
            ("ip_lifespan_s", life),
        ],
        _ => vec![
            ("prefix_queries", q),
            ("prefix_ips", ips()),
            ("prefix_names", names()),
            ("prefix_domains", domains()),
            ("prefix_tlds", tlds()),
            ("prefix_lifespan_s", life),
        ],
    };
    out.extend(values);
}

/// Label mass of the other records of a group, as counts and as fractions of the others.
fn neighbour_features(
    level: &'static str,
    group: &[&SnapRecord],
    record: &SnapRecord,
    out: &mut Vec<(&'static str, f64)>,
) {
    const NAMES: [[&str; 6]; 2] = [
        [
            "name_nb_benign",
            "name_nb_malicious",
            "name_nb_sinkhole",
            "name_frac_benign",
            "name_frac_malicious",
            "name_frac_sinkhole",
        ],
        [
            "ip_nb_benign",
            "ip_nb_malicious",
            "ip_nb_sinkhole",
            "ip_frac_benign",
            "ip_frac_malicious",
            "ip_frac_sinkhole",
        ],
    ];
    let names = if level == "name" { NAMES[0] } else { NAMES[1] };
    let mut total = [0i64; 3];
    for r in group {
        for (t, v) in total.iter_mut().zip(r.mass) {
            *t += v;
        }
    }
    let n = group.len() as f64;
    for class in 0..3 {
        // An empty group (no address) has no neighbours at all.
        let others = if group.is_empty() {
            0.0
        } else {
            (total[class] - record.mass[class]) as f64 / MASS_SCALE
        };
        out.push((names[class], others));
    }
    for class in 0..3 {
        let others = if group.is_empty() {
            0.0
        } else {
            (total[class] - record.mass[class]) as f64 / MASS_SCALE
        };
        let fraction = if n > 1.0 { others / (n - 1.0) } else { 0.0 };
        out.push((names[3 + class], fraction));
    }
}
