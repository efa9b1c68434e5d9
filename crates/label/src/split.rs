//! Train/valid/test assignment, decided once at labelling time.
//!
//! * `random`: each record by a seeded hash of its key, so the result does not depend on
//!   the order or partitioning of the input.
//! * `grouped`: records sharing a registered domain, or an answer in the same IPv4 /24 or
//!   IPv6 /48, form one group (union-find over both keys), and whole groups are dealt to
//!   splits in a seeded order until each split holds its fraction of rows. Grouping keys are
//!   64-bit hashes; a collision can only merge two groups, never split one, so it cannot leak.
//! * `grouped-domain`: as `grouped`, but records are grouped by registered domain alone, so no
//!   registered domain crosses splits while a shared address may. On real traffic shared
//!   hosting, CDNs and parking addresses link nearly every domain into one group, which
//!   `grouped` cannot divide; grouping by domain is the leakage control that still splits.
//! * `temporal`: by first seen, the earliest fraction of rows to train, then valid, then test;
//!   records tied on a cut time go to the later split.
//!
//! Only labelled records take part; the rest form the `unlabelled` split. A split that ends up
//! with less than half of its requested fraction is reported as a [`SplitWarning`] naming the
//! likely cause, because a collapsed grouped split otherwise looks like a successful run.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{Error, Result};

/// The split a record lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Valid,
    Test,
    Unlabelled,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Train, Split::Valid, Split::Test, Split::Unlabelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
            Split::Unlabelled => "unlabelled",
        }
    }

    /// The Hive-style folder of the split inside a labelled dataset.
    pub fn partition(self) -> String {
        format!("split={}", self.as_str())
    }

    fn from_fraction(u: f64, fractions: &[f64; 3]) -> Split {
        if u < fractions[0] {
            Split::Train
        } else if u < fractions[0] + fractions[1] {
            Split::Valid
        } else {
            Split::Test
        }
    }
}

/// How labelled records are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitMethod {
    Random,
    /// Groups linked by registered domain or answer network.
    Grouped,
    /// Groups linked by registered domain only.
    GroupedDomain,
    Temporal,
}

impl SplitMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitMethod::Random => "random",
            SplitMethod::Grouped => "grouped",
            SplitMethod::GroupedDomain => "grouped-domain",
            SplitMethod::Temporal => "temporal",
        }
    }
}

impl FromStr for SplitMethod {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "random" => Ok(SplitMethod::Random),
            "grouped" => Ok(SplitMethod::Grouped),
            "grouped-domain" => Ok(SplitMethod::GroupedDomain),
            "temporal" => Ok(SplitMethod::Temporal),
            other => Err(format!(
                "unknown split `{other}` (use random, grouped, grouped-domain or temporal)"
            )),
        }
    }
}

/// Split settings, recorded in the output manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    pub method: SplitMethod,
    /// Train, valid and test fractions of the labelled rows; they sum to 1.
    pub fractions: [f64; 3],
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            method: SplitMethod::Random,
            fractions: [0.8, 0.1, 0.1],
            seed: 0,
        }
    }
}

impl SplitConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::Split { reason });
        if self.fractions.iter().any(|f| !f.is_finite() || *f < 0.0) {
            return bad(format!(
                "fractions {:?} must be finite and not negative",
                self.fractions
            ));
        }
        let sum: f64 = self.fractions.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return bad(format!(
                "fractions {:?} sum to {sum}, not 1",
                self.fractions
            ));
        }
        Ok(())
    }

    /// Parses `0.8,0.1,0.1`.
    pub fn parse_fractions(text: &str) -> Result<[f64; 3]> {
        let values: Vec<f64> = text
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Split {
                reason: format!("fractions `{text}`: {e}"),
            })?;
        values.try_into().map_err(|v: Vec<f64>| Error::Split {
            reason: format!(
                "fractions `{text}` has {} values, expected train,valid,test",
                v.len()
            ),
        })
    }
}

/// The grouping key of a registered domain (or the name itself when it has none).
pub fn domain_key(registered_domain: Option<&str>, name: &str) -> u64 {
    xxh3_64_with_seed(registered_domain.unwrap_or(name).as_bytes(), 1)
}

/// The grouping key of an answer's IPv4 /24 or IPv6 /48.
pub fn network_key(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => xxh3_64_with_seed(&v4.octets()[..3], 2),
        IpAddr::V6(v6) => xxh3_64_with_seed(&v6.octets()[..6], 3),
    }
}

/// The per-record key of a random split.
pub fn record_hash(name: &str, rrtype: u16, rdata: &str, seed: u64) -> u64 {
    let mut bytes = Vec::with_capacity(name.len() + rdata.len() + 3);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&rrtype.to_be_bytes());
    bytes.extend_from_slice(rdata.as_bytes());
    xxh3_64_with_seed(&bytes, seed)
}

fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Union-find over 64-bit keys, with path halving and union by size.
#[derive(Debug, Default)]
struct UnionFind {
    ids: HashMap<u64, u32>,
    keys: Vec<u64>,
    parent: Vec<u32>,
    size: Vec<u32>,
    rows: Vec<u64>,
}

impl UnionFind {
    fn id(&mut self, key: u64) -> u32 {
        let next = self.parent.len() as u32;
        let id = *self.ids.entry(key).or_insert(next);
        if id == next {
            self.keys.push(key);
            self.parent.push(id);
            self.size.push(1);
            self.rows.push(0);
        }
        id
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
    }
}

/// Collects what a split needs to see of all labelled records before any can be assigned.
#[derive(Debug)]
pub struct SplitPlanner {
    config: SplitConfig,
    first_seen: Vec<i64>,
    groups: UnionFind,
}

impl SplitPlanner {
    pub fn new(config: &SplitConfig) -> SplitPlanner {
        SplitPlanner {
            config: config.clone(),
            first_seen: Vec::new(),
            groups: UnionFind::default(),
        }
    }

    /// Whether assigning needs a first pass over the labelled records.
    pub fn needs_pass(&self) -> bool {
        self.config.method != SplitMethod::Random
    }

    /// Notes one labelled record.
    pub fn observe(&mut self, first_seen: i64, domain: u64, network: Option<u64>) {
        match self.config.method {
            SplitMethod::Random => {}
            SplitMethod::Temporal => self.first_seen.push(first_seen),
            SplitMethod::Grouped | SplitMethod::GroupedDomain => {
                let d = self.groups.id(domain);
                self.groups.rows[d as usize] += 1;
                // `grouped-domain` ignores answers: linking through shared addresses is what
                // collapses `grouped` into one group on real traffic.
                let by_network = self.config.method == SplitMethod::Grouped;
                if let Some(network) = network.filter(|_| by_network) {
                    let n = self.groups.id(network);
                    self.groups.union(d, n);
                }
            }
        }
    }

    pub fn finish(mut self) -> SplitAssigner {
        let config = self.config.clone();
        match config.method {
            SplitMethod::Random => SplitAssigner::Random {
                fractions: config.fractions,
            },
            SplitMethod::Temporal => {
                self.first_seen.sort_unstable();
                let n = self.first_seen.len();
                let cut = |f: f64| {
                    let k = (n as f64 * f).round() as usize;
                    self.first_seen.get(k).copied().unwrap_or(i64::MAX)
                };
                let train = config.fractions[0];
                SplitAssigner::Temporal {
                    train_before: cut(train),
                    valid_before: cut(train + config.fractions[1]),
                }
            }
            SplitMethod::Grouped | SplitMethod::GroupedDomain => self.deal_groups(),
        }
    }

    fn deal_groups(mut self) -> SplitAssigner {
        let seed = self.config.seed;
        let count = self.groups.parent.len();
        // Per root: rows, and the smallest seeded key hash of any member, which orders groups
        // independently of the order records arrived in.
        let mut rows = vec![0u64; count];
        let mut order = vec![u64::MAX; count];
        for id in 0..count as u32 {
            let root = self.groups.find(id) as usize;
            rows[root] += self.groups.rows[id as usize];
            let h = xxh3_64_with_seed(&self.groups.keys[id as usize].to_le_bytes(), seed);
            order[root] = order[root].min(h);
        }
        let mut roots: Vec<usize> = (0..count)
            .filter(|&i| self.groups.parent[i] as usize == i)
            .collect();
        roots.sort_unstable_by_key(|&r| order[r]);
        let total: u64 = rows.iter().sum();
        let f = self.config.fractions;
        let groups = SplitGroups::new(roots.len() as u64, roots.iter().map(|&r| rows[r]), total);
        let mut split_of_root = vec![Split::Test; count];
        let mut dealt = 0u64;
        for root in roots {
            let u = if total == 0 {
                0.0
            } else {
                dealt as f64 / total as f64
            };
            split_of_root[root] = Split::from_fraction(u, &f);
            dealt += rows[root];
        }
        let ids: Vec<(u64, u32)> = self.groups.ids.iter().map(|(k, id)| (*k, *id)).collect();
        let mut splits = HashMap::with_capacity(count);
        for (key, id) in ids {
            let root = self.groups.find(id) as usize;
            splits.insert(key, split_of_root[root]);
        }
        SplitAssigner::Grouped { splits, groups }
    }
}

/// The groups a grouped split dealt, kept because one oversized group explains a split that
/// falls short of its fraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitGroups {
    pub groups: u64,
    /// Labelled records over all groups.
    pub labelled: u64,
    /// Labelled records in the largest group.
    pub largest: u64,
    /// `largest / labelled`, 0 when nothing was labelled.
    pub largest_share: f64,
}

impl SplitGroups {
    fn new(groups: u64, rows: impl Iterator<Item = u64>, labelled: u64) -> SplitGroups {
        let largest = rows.max().unwrap_or(0);
        SplitGroups {
            groups,
            labelled,
            largest,
            largest_share: share(largest, labelled),
        }
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A split that received less than half of its requested fraction of labelled records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitWarning {
    pub split: Split,
    pub requested: f64,
    pub actual: f64,
    /// The same text as `Display`: what fell short, the likely cause and the remedy.
    pub message: String,
}

impl fmt::Display for SplitWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Finds the splits that fell short. `counts` are records per split (train, valid, test), and
/// `groups` what a grouped split dealt. Half the requested fraction is the bar because a
/// grouped split's natural granularity error is far smaller on any dataset worth splitting,
/// while a collapse (one group holding most records) leaves a split near empty.
pub fn split_warnings(
    config: &SplitConfig,
    counts: [u64; 3],
    groups: Option<&SplitGroups>,
) -> Vec<SplitWarning> {
    let labelled: u64 = counts.iter().sum();
    if labelled == 0 {
        return Vec::new();
    }
    let splits = [Split::Train, Split::Valid, Split::Test];
    splits
        .into_iter()
        .zip(counts)
        .zip(config.fractions)
        .filter(|((_, count), requested)| share(*count, labelled) < requested / 2.0)
        .map(|((split, count), requested)| {
            let actual = share(count, labelled);
            let message = format!(
                "split `{}` holds {:.1}% of labelled records, less than half of the requested \
                 {:.1}%: {}",
                split.as_str(),
                100.0 * actual,
                100.0 * requested,
                shortfall_reason(config.method, labelled, groups)
            );
            SplitWarning {
                split,
                requested,
                actual,
                message,
            }
        })
        .collect()
}

fn shortfall_reason(method: SplitMethod, labelled: u64, groups: Option<&SplitGroups>) -> String {
    let largest = groups.map_or(0.0, |g| 100.0 * g.largest_share);
    match method {
        SplitMethod::Grouped => format!(
            "one group of records linked by registered domain or by an answer in the same IPv4 \
             /24 or IPv6 /48 holds {largest:.1}% of labelled records and cannot be divided \
             (shared hosting, CDNs and parking addresses link unrelated domains); use split \
             method `grouped-domain`, which keeps each registered domain in one split but lets \
             shared addresses cross splits"
        ),
        SplitMethod::GroupedDomain => format!(
            "one registered domain holds {largest:.1}% of labelled records and cannot be \
             divided; use split method `temporal` or `random`, or label fewer records of that \
             domain"
        ),
        SplitMethod::Temporal => "many labelled records share a first-seen time at a cut and \
             all go to the later split; use split method `random` or `grouped-domain`"
            .to_string(),
        SplitMethod::Random => format!(
            "{labelled} labelled records are too few for the fractions to even out; label more \
             records or change the fractions"
        ),
    }
}

/// Assigns labelled records to train, valid or test.
#[derive(Debug)]
pub enum SplitAssigner {
    Random {
        fractions: [f64; 3],
    },
    Temporal {
        train_before: i64,
        valid_before: i64,
    },
    Grouped {
        splits: HashMap<u64, Split>,
        groups: SplitGroups,
    },
}

impl SplitAssigner {
    /// What a grouped split dealt; `None` for other methods.
    pub fn groups(&self) -> Option<&SplitGroups> {
        match self {
            SplitAssigner::Grouped { groups, .. } => Some(groups),
            _ => None,
        }
    }

    /// `record_hash` is [`record_hash`] of the record with the config's seed, `domain` its
    /// [`domain_key`].
    pub fn assign(&self, record_hash: u64, first_seen: i64, domain: u64) -> Split {
        match self {
            SplitAssigner::Random { fractions } => {
                Split::from_fraction(unit(record_hash), fractions)
            }
            SplitAssigner::Temporal {
                train_before,
                valid_before,
            } => {
                if first_seen < *train_before {
                    Split::Train
                } else if first_seen < *valid_before {
                    Split::Valid
                } else {
                    Split::Test
                }
            }
            // Every labelled record was observed, so its key is known; a miss would mean the
            // two passes saw different data, and `test` is the split that cannot inflate
            // training.
            SplitAssigner::Grouped { splits, .. } => {
                splits.get(&domain).copied().unwrap_or(Split::Test)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn config(method: SplitMethod) -> SplitConfig {
        SplitConfig {
            method,
            fractions: [0.8, 0.1, 0.1],
            seed: 7,
        }
    }

    #[test]
    fn fractions_are_validated() {
        assert!(
            SplitConfig {
                fractions: [0.5, 0.5, 0.1],
                ..config(SplitMethod::Random)
            }
            .validate()
            .is_err()
        );
        assert!(
            SplitConfig {
                fractions: [1.1, -0.1, 0.0],
                ..config(SplitMethod::Random)
            }
            .validate()
            .is_err()
        );
        assert_eq!(
            SplitConfig::parse_fractions("0.7, 0.2,0.1").unwrap(),
            [0.7, 0.2, 0.1]
        );
        let err = SplitConfig::parse_fractions("0.7,0.3")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "bad split settings: fractions `0.7,0.3` has 2 values, expected train,valid,test"
        );
    }

    #[test]
    fn random_split_follows_the_fractions() {
        let assigner = SplitPlanner::new(&config(SplitMethod::Random)).finish();
        let mut counts = HashMap::new();
        let n = 20_000;
        for i in 0..n {
            let h = record_hash(&format!("n{i}.example"), 1, "192.0.2.1", 7);
            *counts.entry(assigner.assign(h, 0, 0)).or_insert(0usize) += 1;
        }
        let share = |s| counts[&s] as f64 / n as f64;
        assert!((share(Split::Train) - 0.8).abs() < 0.02, "{counts:?}");
        assert!((share(Split::Valid) - 0.1).abs() < 0.02, "{counts:?}");
        assert!((share(Split::Test) - 0.1).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn temporal_split_puts_earlier_records_first() {
        let mut planner = SplitPlanner::new(&config(SplitMethod::Temporal));
        for t in 0..100 {
            planner.observe(t, 0, None);
        }
        let assigner = planner.finish();
        assert_eq!(assigner.assign(0, 79, 0), Split::Train);
        assert_eq!(assigner.assign(0, 80, 0), Split::Valid);
        assert_eq!(assigner.assign(0, 89, 0), Split::Valid);
        assert_eq!(assigner.assign(0, 90, 0), Split::Test);
    }

    /// (registered domain index, /24 index or none) per labelled record.
    fn records() -> impl Strategy<Value = Vec<(u8, Option<u8>)>> {
        proptest::collection::vec((0u8..40, proptest::option::of(0u8..30)), 1..300)
    }

    proptest! {
        #[test]
        fn grouped_split_never_shares_a_domain_or_a_slash24(
            rows in records(),
            seed in any::<u64>(),
        ) {
            let cfg = SplitConfig { seed, ..config(SplitMethod::Grouped) };
            let keys: Vec<(u64, Option<u64>, String, Option<IpAddr>)> = rows
                .iter()
                .enumerate()
                .map(|(i, (d, n))| {
                    let rd = format!("d{d}.example");
                    let name = format!("h{i}.{rd}");
                    let ip = n.map(|n| IpAddr::from([198, 51, n, (i % 250) as u8]));
                    (domain_key(Some(&rd), &name), ip.map(network_key), rd, ip)
                })
                .collect();
            let mut planner = SplitPlanner::new(&cfg);
            for (d, n, _, _) in &keys {
                planner.observe(0, *d, *n);
            }
            let assigner = planner.finish();
            let mut by_domain: HashMap<&str, HashSet<Split>> = HashMap::new();
            let mut by_net: HashMap<[u8; 3], HashSet<Split>> = HashMap::new();
            for (d, _, rd, ip) in &keys {
                let split = assigner.assign(0, 0, *d);
                by_domain.entry(rd).or_default().insert(split);
                if let Some(IpAddr::V4(v4)) = ip {
                    let o = v4.octets();
                    by_net.entry([o[0], o[1], o[2]]).or_default().insert(split);
                }
            }
            prop_assert!(by_domain.values().all(|s| s.len() == 1), "{:?}", by_domain);
            prop_assert!(by_net.values().all(|s| s.len() == 1), "{:?}", by_net);
        }
    }

    proptest! {
        #[test]
        fn grouped_domain_split_never_shares_a_domain(
            rows in records(),
            seed in any::<u64>(),
        ) {
            let cfg = SplitConfig { seed, ..config(SplitMethod::GroupedDomain) };
            let keys: Vec<(u64, u64, u8)> = rows
                .iter()
                .map(|(d, n)| {
                    let net = n.map(|n| network_key(IpAddr::from([198, 51, n, 1])));
                    (domain_key(Some(&format!("d{d}.example")), "x"), net.unwrap_or(0), *d)
                })
                .collect();
            let mut planner = SplitPlanner::new(&cfg);
            for (d, n, _) in &keys {
                planner.observe(0, *d, Some(*n));
            }
            let assigner = planner.finish();
            let domains: HashSet<u8> = keys.iter().map(|k| k.2).collect();
            prop_assert_eq!(assigner.groups().unwrap().groups, domains.len() as u64);
            let mut by_domain: HashMap<u8, HashSet<Split>> = HashMap::new();
            for (d, _, index) in &keys {
                by_domain.entry(*index).or_default().insert(assigner.assign(0, 0, *d));
            }
            prop_assert!(by_domain.values().all(|s| s.len() == 1), "{:?}", by_domain);
        }
    }

    #[test]
    fn grouped_domain_has_the_same_name_in_cli_and_manifest() {
        assert_eq!(
            "grouped-domain".parse::<SplitMethod>(),
            Ok(SplitMethod::GroupedDomain)
        );
        for method in [
            SplitMethod::Random,
            SplitMethod::Grouped,
            SplitMethod::GroupedDomain,
            SplitMethod::Temporal,
        ] {
            let json = serde_json::to_string(&method).unwrap();
            assert_eq!(json, format!("\"{}\"", method.as_str()));
            assert_eq!(serde_json::from_str::<SplitMethod>(&json).unwrap(), method);
            assert_eq!(method.as_str().parse::<SplitMethod>(), Ok(method));
        }
    }

    #[test]
    fn one_giant_group_is_reported_with_its_share_and_the_remedy() {
        let cfg = SplitConfig {
            fractions: [0.6, 0.2, 0.2],
            ..config(SplitMethod::Grouped)
        };
        let mut planner = SplitPlanner::new(&cfg);
        let shared = network_key(IpAddr::from([203, 0, 113, 1]));
        for i in 0..90 {
            planner.observe(
                0,
                domain_key(None, &format!("shared{i}.example")),
                Some(shared),
            );
        }
        for i in 0..10u8 {
            let own = network_key(IpAddr::from([198, 51, i, 1]));
            planner.observe(0, domain_key(None, &format!("own{i}.example")), Some(own));
        }
        let assigner = planner.finish();
        let groups = assigner.groups().unwrap().clone();
        assert_eq!(
            (groups.groups, groups.largest, groups.labelled),
            (11, 90, 100)
        );

        let warnings = split_warnings(&cfg, [95, 5, 0], Some(&groups));
        let short: Vec<Split> = warnings.iter().map(|w| w.split).collect();
        assert_eq!(short, [Split::Valid, Split::Test]);
        assert_eq!(
            warnings[1].to_string(),
            "split `test` holds 0.0% of labelled records, less than half of the requested \
             20.0%: one group of records linked by registered domain or by an answer in the \
             same IPv4 /24 or IPv6 /48 holds 90.0% of labelled records and cannot be divided \
             (shared hosting, CDNs and parking addresses link unrelated domains); use split \
             method `grouped-domain`, which keeps each registered domain in one split but lets \
             shared addresses cross splits"
        );
        assert!(split_warnings(&cfg, [60, 11, 29], Some(&groups)).is_empty());
        assert!(split_warnings(&cfg, [0, 0, 0], Some(&groups)).is_empty());
    }

    #[test]
    fn grouped_split_approaches_the_fractions_with_many_small_groups() {
        let mut planner = SplitPlanner::new(&config(SplitMethod::Grouped));
        let keys: Vec<u64> = (0..5000)
            .map(|i| domain_key(None, &format!("d{i}.example")))
            .collect();
        for k in &keys {
            planner.observe(0, *k, None);
        }
        let assigner = planner.finish();
        let train = keys
            .iter()
            .filter(|k| assigner.assign(0, 0, **k) == Split::Train)
            .count();
        assert!((train as f64 / 5000.0 - 0.8).abs() < 0.01, "{train}");
    }

    #[test]
    fn network_keys_group_by_slash24_and_slash48() {
        let key = |s: &str| network_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.1"), key("192.0.2.254"));
        assert_ne!(key("192.0.2.1"), key("192.0.3.1"));
        assert_eq!(key("2001:db8:1::1"), key("2001:db8:1:ffff::1"));
        assert_ne!(key("2001:db8:1::1"), key("2001:db8:2::1"));
    }
}
