//! What a labelling run found, for people (`Display`) and automation (`Serialize`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::lists::LineIssue;
use crate::split::{SplitConfig, SplitGroups, SplitWarning};

/// How many conflicting records are kept as examples.
pub(crate) const CONFLICT_EXAMPLES: usize = 10;

/// The outcome of [`crate::label_dataset`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct LabelSummary {
    pub input: String,
    pub output: String,
    pub records: u64,
    /// Records per label, `unlabelled` included.
    pub labels: BTreeMap<String, u64>,
    /// Per source, in config order.
    pub sources: Vec<SourceSummary>,
    pub conflicts: ConflictSummary,
    /// Malformed lines over all lists.
    pub skipped_list_lines: u64,
    pub enrichment: EnrichmentSummary,
    /// Records per split.
    pub splits: BTreeMap<String, u64>,
    pub split: Option<SplitConfig>,
    /// The groups a grouped split dealt.
    pub split_groups: Option<SplitGroups>,
    /// Splits that received less than half of their requested fraction, with cause and remedy.
    pub split_warnings: Vec<SplitWarning>,
    pub parts_written: u64,
    /// Seconds spent labelling, enriching and writing (lists and databases already loaded).
    pub elapsed_s: f64,
    /// Seconds spent loading lists and enrichment data; zero when the caller loaded them (and
    /// in the manifest's copy, which is written before this is known).
    pub load_s: f64,
}

/// One source's load and match counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceSummary {
    pub name: String,
    pub label: String,
    pub entries: u64,
    pub malformed: u64,
    pub ignored: BTreeMap<String, u64>,
    /// The first malformed lines, with file and line.
    pub issues: Vec<LineIssue>,
    /// Records this source matched.
    pub matched: u64,
    /// Records whose label (and provenance) came from this source.
    pub labelled: u64,
}

/// Records matched by sources of different labels.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConflictSummary {
    pub records: u64,
    /// Keyed by the labels involved, highest precedence first, joined by `+`.
    pub by_labels: BTreeMap<String, u64>,
    pub examples: Vec<ConflictExample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConflictExample {
    pub name: String,
    pub rdata: String,
    /// `label:source:indicator` per hit.
    pub hits: Vec<String>,
}

/// Hits of one enrichment column.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct HitRate {
    pub hits: u64,
    /// Records the column applies to.
    pub of: u64,
    pub rate: f64,
}

impl HitRate {
    pub(crate) fn add(&mut self, hit: bool) {
        self.of += 1;
        self.hits += u64::from(hit);
    }

    pub(crate) fn finish(&mut self) {
        self.rate = if self.of == 0 {
            0.0
        } else {
            self.hits as f64 / self.of as f64
        };
    }
}

/// Hit rates: name columns over all records, address columns over A/AAAA records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnrichmentSummary {
    pub registered_domain: HitRate,
    pub public_suffix: HitRate,
    pub name_rank: HitRate,
    pub domain_rank: HitRate,
    pub country: HitRate,
    pub geoname_id: HitRate,
    pub asn: HitRate,
    pub isp: HitRate,
    pub org: HitRate,
}

impl EnrichmentSummary {
    pub(crate) fn finish(&mut self) {
        for rate in self.rates_mut() {
            rate.finish();
        }
    }

    fn rates_mut(&mut self) -> [&mut HitRate; 9] {
        [
            &mut self.registered_domain,
            &mut self.public_suffix,
            &mut self.name_rank,
            &mut self.domain_rank,
            &mut self.country,
            &mut self.geoname_id,
            &mut self.asn,
            &mut self.isp,
            &mut self.org,
        ]
    }

    fn rates(&self) -> [(&'static str, HitRate); 9] {
        [
            ("registered_domain", self.registered_domain),
            ("public_suffix", self.public_suffix),
            ("name_rank", self.name_rank),
            ("domain_rank", self.domain_rank),
            ("country", self.country),
            ("geoname_id", self.geoname_id),
            ("asn", self.asn),
            ("isp", self.isp),
            ("org", self.org),
        ]
    }
}

impl fmt::Display for LabelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = if self.elapsed_s > 0.0 {
            self.records as f64 / self.elapsed_s
        } else {
            0.0
        };
        writeln!(
            f,
            "labelled {} records from {} into {}",
            self.records, self.input, self.output
        )?;
        writeln!(
            f,
            "  time: {:.1} s loading lists and data, {:.1} s labelling ({rate:.0} records/s), {} parts",
            self.load_s, self.elapsed_s, self.parts_written
        )?;
        writeln!(f, "  labels: {}", join(&self.labels))?;
        writeln!(f, "  splits: {}", join(&self.splits))?;
        if let Some(g) = &self.split_groups {
            writeln!(
                f,
                "  split groups: {}, largest holds {} of {} labelled records ({:.1}%)",
                g.groups,
                g.largest,
                g.labelled,
                100.0 * g.largest_share
            )?;
        }
        for w in &self.split_warnings {
            writeln!(f, "  warning: {w}")?;
        }
        writeln!(
            f,
            "  conflicts: {} records ({})",
            self.conflicts.records,
            join(&self.conflicts.by_labels)
        )?;
        writeln!(f, "  sources:")?;
        for s in &self.sources {
            writeln!(
                f,
                "    {} ({}): {} entries, {} malformed lines, {} ignored; matched {}, decided {}",
                s.name,
                s.label,
                s.entries,
                s.malformed,
                s.ignored.values().sum::<u64>(),
                s.matched,
                s.labelled
            )?;
            for issue in s.issues.iter().take(3) {
                writeln!(f, "      {issue}")?;
            }
        }
        writeln!(f, "  enrichment hit rates:")?;
        for (name, r) in self.enrichment.rates() {
            writeln!(
                f,
                "    {name}: {}/{} ({:.1}%)",
                r.hits,
                r.of,
                100.0 * r.rate
            )?;
        }
        Ok(())
    }
}

fn join(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
