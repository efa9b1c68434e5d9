//! The world's distributions, accumulated per shard and merged in shard order, in memory that
//! does not grow with the world (log-binned histograms, a hash-sampled set of addresses).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::domain::{Class, Row};

/// A histogram of non-negative integers: exact below 16, then eight bins per doubling.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogHist {
    bins: Vec<u64>,
    count: u64,
    sum: f64,
    max: u64,
}

const EXACT: u64 = 16;
const PER_OCTAVE: f64 = 8.0;

impl LogHist {
    fn bin(v: u64) -> usize {
        if v < EXACT {
            v as usize
        } else {
            EXACT as usize + (((v as f64).log2() - 4.0) * PER_OCTAVE) as usize
        }
    }

    fn lower(bin: usize) -> u64 {
        if (bin as u64) < EXACT {
            bin as u64
        } else {
            2f64.powf(4.0 + (bin as f64 - EXACT as f64) / PER_OCTAVE)
                .ceil() as u64
        }
    }

    pub(crate) fn add(&mut self, v: u64) {
        let b = Self::bin(v);
        if self.bins.len() <= b {
            self.bins.resize(b + 1, 0);
        }
        self.bins[b] += 1;
        self.count += 1;
        self.sum += v as f64;
        self.max = self.max.max(v);
    }

    pub(crate) fn merge(&mut self, other: &LogHist) {
        if self.bins.len() < other.bins.len() {
            self.bins.resize(other.bins.len(), 0);
        }
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The lower edge of the bin holding quantile `q` (exact below 16, within 9% above).
    fn quantile(&self, q: f64) -> u64 {
        let target = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.bins.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Self::lower(i).min(self.max);
            }
        }
        self.max
    }

    pub(crate) fn summary(&self) -> Quantiles {
        Quantiles {
            n: self.count,
            mean: if self.count == 0 {
                0.0
            } else {
                self.sum / self.count as f64
            },
            p10: self.quantile(0.10),
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            max: self.max,
        }
    }
}

/// Quantiles of one distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantiles {
    pub n: u64,
    pub mean: f64,
    pub p10: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// Mergeable counters of one shard or of the whole world.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub records: u64,
    pub by_class: [u64; 3],
    /// Benign, malicious, sinkhole, unlabelled.
    pub by_listed: [u64; 4],
    /// `[truth class][listed class or unlabelled]`.
    pub truth_vs_listed: [[u64; 4]; 3],
    pub records_by_role: Vec<u64>,
    pub entities_by_role: Vec<u64>,
    pub rrtypes: BTreeMap<u16, u64>,
    pub records_per_domain: LogHist,
    pub queries_per_record: LogHist,
    pub queries_per_owner: LogHist,
    pub ttl_by_role: Vec<LogHist>,
    /// Records per address, for addresses whose hash falls in the sample.
    pub ip_records: HashMap<u64, u64>,
    /// The rule `nb_domain_queries < 10 => malicious` on labelled benign and malicious
    /// records: `[listed malicious?][predicted malicious?]`.
    pub rule: [[u64; 2]; 2],
}

fn listed_index(listed: Option<Class>) -> usize {
    listed.map_or(3, Class::index)
}

impl Stats {
    fn grow(&mut self, role: usize) {
        if self.records_by_role.len() <= role {
            self.records_by_role.resize(role + 1, 0);
            self.entities_by_role.resize(role + 1, 0);
            self.ttl_by_role.resize(role + 1, LogHist::default());
        }
    }

    /// Accounts for one entity's rows.
    pub(crate) fn add_entity(&mut self, rows: &[Row], ip_sample: u64) {
        let Some(first) = rows.first() else { return };
        let mut owner_q: HashMap<&str, u64> = HashMap::new();
        for r in rows {
            *owner_q.entry(&r.record.name).or_default() += r.record.count;
        }
        self.grow(first.role as usize);
        self.entities_by_role[first.role as usize] += 1;
        self.records_per_domain.add(rows.len() as u64);
        owner_q
            .values()
            .for_each(|q| self.queries_per_owner.add(*q));
        for r in rows {
            self.add_row(r, owner_q[r.record.name.as_str()], ip_sample);
        }
    }

    fn add_row(&mut self, r: &Row, owner_queries: u64, ip_sample: u64) {
        let role = r.role as usize;
        self.grow(role);
        self.records += 1;
        self.by_class[r.class.index()] += 1;
        self.by_listed[listed_index(r.listed)] += 1;
        self.truth_vs_listed[r.class.index()][listed_index(r.listed)] += 1;
        self.records_by_role[role] += 1;
        *self.rrtypes.entry(r.record.rrtype.0).or_default() += 1;
        self.queries_per_record.add(r.record.count);
        if r.record.rrtype.is_address() {
            // Address TTLs are the ones that tell roles apart; NS TTLs are the parent's.
            self.ttl_by_role[role].add(u64::from(r.record.min_ttl.unwrap_or(0)));
            let h = xxhash_rust::xxh3::xxh3_64(r.record.rdata.as_bytes());
            if h.is_multiple_of(ip_sample) {
                *self.ip_records.entry(h).or_default() += 1;
            }
        }
        if let Some(listed @ (Class::Benign | Class::Malicious)) = r.listed {
            let truth = usize::from(listed == Class::Malicious);
            self.rule[truth][usize::from(owner_queries < 10)] += 1;
        }
    }

    pub(crate) fn merge(&mut self, o: &Stats) {
        self.records += o.records;
        (0..3).for_each(|i| self.by_class[i] += o.by_class[i]);
        (0..4).for_each(|i| self.by_listed[i] += o.by_listed[i]);
        for (a, b) in self.truth_vs_listed.iter_mut().zip(&o.truth_vs_listed) {
            (0..4).for_each(|i| a[i] += b[i]);
        }
        if !o.records_by_role.is_empty() {
            self.grow(o.records_by_role.len() - 1);
        }
        for (i, n) in o.records_by_role.iter().enumerate() {
            self.records_by_role[i] += n;
            self.entities_by_role[i] += o.entities_by_role[i];
            self.ttl_by_role[i].merge(&o.ttl_by_role[i]);
        }
        for (t, n) in &o.rrtypes {
            *self.rrtypes.entry(*t).or_default() += n;
        }
        self.records_per_domain.merge(&o.records_per_domain);
        self.queries_per_record.merge(&o.queries_per_record);
        self.queries_per_owner.merge(&o.queries_per_owner);
        for (ip, n) in &o.ip_records {
            *self.ip_records.entry(*ip).or_default() += n;
        }
        for (a, b) in self.rule.iter_mut().zip(&o.rule) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }

    /// Balanced accuracy of the query-count rule: the mean of its recall on benign and on
    /// malicious labelled records.
    pub(crate) fn rule_balanced_accuracy(&self) -> f64 {
        let recall = |row: [u64; 2], correct: usize| {
            let n = row[0] + row[1];
            if n == 0 {
                0.0
            } else {
                row[correct] as f64 / n as f64
            }
        };
        (recall(self.rule[0], 0) + recall(self.rule[1], 1)) / 2.0
    }

    pub(crate) fn records_per_ip(&self) -> Quantiles {
        let mut h = LogHist::default();
        self.ip_records.values().for_each(|n| h.add(*n));
        h.summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_histogram_quantiles_are_close() {
        let mut h = LogHist::default();
        (1..=1000u64).for_each(|v| h.add(v));
        let q = h.summary();
        assert_eq!(q.max, 1000);
        assert!((90..=100).contains(&q.p10), "{q:?}");
        assert!((460..=500).contains(&q.p50), "{q:?}");
        let mut small = LogHist::default();
        [3u64, 3, 5, 7].iter().for_each(|v| small.add(*v));
        assert_eq!(small.summary().p50, 3);
    }
}
