//! The merged index of every label source, and matching records against it.
//!
//! All sources share three structures: a hash map from names, one from addresses, and a
//! longest-prefix table of CIDRs (`ip_network_table`, a tree bitmap). Each key points at a
//! chain of (source) links in one flat vector, so a name listed by several sources costs one
//! map slot. A record's name is matched by walking its suffixes (`a.b.example.com`,
//! `b.example.com`, `example.com`, `com`), one hash lookup each, which serves exact, subdomain
//! and registered-domain rules in one pass.

use std::collections::HashMap;
use std::net::IpAddr;

use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;

use crate::config::{AppliesTo, Label, ListsConfig, MatchMode, Window};
use crate::error::Result;
use crate::lists::{Indicator, ListReport, read_source};
use crate::psl::SuffixList;

const END: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    source: u16,
    next: u32,
}

/// What the index keeps of each source's settings.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub name: String,
    pub label: Label,
    pub mode: MatchMode,
    pub applies_to: AppliesTo,
    pub window: Window,
}

/// The indicator that matched, borrowed from the record where it is a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched<'a> {
    Name(&'a str),
    Ip(IpAddr),
    Cidr(IpNetwork),
}

impl std::fmt::Display for Matched<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matched::Name(n) => f.write_str(n),
            Matched::Ip(ip) => write!(f, "{ip}"),
            Matched::Cidr(net) => write!(f, "{net}"),
        }
    }
}

/// One source that matched a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    pub source: u16,
    pub matched: Matched<'a>,
}

/// The parts of a record that matching looks at.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub name: &'a str,
    /// The owner name's registered domain.
    pub registered_domain: Option<&'a str>,
    pub rrtype: u16,
    pub rdata: &'a str,
    pub ip: Option<IpAddr>,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// The label chosen for a record from its hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    pub label: Label,
    pub hit: Hit<'a>,
    /// True when the hits named more than one label.
    pub conflict: bool,
}

/// Every loaded source, ready for matching.
pub struct LabelIndex {
    sources: Vec<SourceInfo>,
    /// Precedence rank per label, indexed by `Label as usize`.
    precedence: [u8; 3],
    names: HashMap<Box<str>, u32>,
    ips: HashMap<IpAddr, u32>,
    cidrs: IpNetworkTable<u32>,
    links: Vec<Link>,
    name_ranks: HashMap<Box<str>, u32>,
    domain_ranks: HashMap<Box<str>, u32>,
    reports: Vec<ListReport>,
}

impl std::fmt::Debug for LabelIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelIndex")
            .field("sources", &self.sources)
            .field("names", &self.names.len())
            .field("ips", &self.ips.len())
            .field("cidrs", &self.cidrs.len())
            .finish_non_exhaustive()
    }
}

impl LabelIndex {
    /// Reads every source of `config`. Any source that cannot be read, or reads empty, fails
    /// the whole load.
    pub fn load(config: &ListsConfig, psl: &SuffixList) -> Result<LabelIndex> {
        let mut index = LabelIndex {
            sources: Vec::with_capacity(config.sources.len()),
            precedence: [0; 3],
            names: HashMap::new(),
            ips: HashMap::new(),
            cidrs: IpNetworkTable::new(),
            links: Vec::new(),
            name_ranks: HashMap::new(),
            domain_ranks: HashMap::new(),
            reports: Vec::new(),
        };
        for label in Label::ALL {
            index.precedence[label as usize] = config.precedence_of(label) as u8;
        }
        let mut cidrs: HashMap<IpNetwork, u32> = HashMap::new();
        for (i, source) in config.sources.iter().enumerate() {
            let id = i as u16;
            let window = source.window().unwrap_or(Window::ALWAYS);
            index.sources.push(SourceInfo {
                name: source.name.clone(),
                label: source.label(),
                mode: source.match_mode,
                applies_to: source.applies_to(),
                window,
            });
            let ranked = source.ranked();
            let report = read_source(source, |indicator, rank| {
                index.insert(id, indicator, rank.filter(|_| ranked), psl, &mut cidrs);
            })?;
            tracing::info!(
                source = %source.name,
                entries = report.entries,
                malformed = report.malformed,
                "list loaded"
            );
            index.reports.push(report);
        }
        for (net, head) in cidrs {
            index.cidrs.insert(net, head);
        }
        Ok(index)
    }

    fn insert(
        &mut self,
        source: u16,
        indicator: Indicator,
        rank: Option<u32>,
        psl: &SuffixList,
        cidrs: &mut HashMap<IpNetwork, u32>,
    ) {
        let links = &mut self.links;
        match indicator {
            Indicator::Name(name) => {
                if let Some(rank) = rank {
                    keep_min(&mut self.name_ranks, &name, rank);
                    let domain = psl.registered_domain(&name).unwrap_or(&name);
                    keep_min(&mut self.domain_ranks, domain, rank);
                }
                let key = match self.sources[usize::from(source)].mode {
                    MatchMode::RegisteredDomain => psl.registered_domain(&name).unwrap_or(&name),
                    _ => &name,
                };
                match self.names.get_mut(key) {
                    Some(head) => push_link(links, head, source),
                    None => {
                        let mut head = END;
                        push_link(links, &mut head, source);
                        self.names.insert(key.into(), head);
                    }
                }
            }
            Indicator::Ip(ip) => push_link(links, self.ips.entry(ip).or_insert(END), source),
            Indicator::Cidr(net) => push_link(links, cidrs.entry(net).or_insert(END), source),
        }
    }

    pub fn sources(&self) -> &[SourceInfo] {
        &self.sources
    }

    /// What reading each source found, in config order.
    pub fn reports(&self) -> &[ListReport] {
        &self.reports
    }

    /// The best (lowest) top-list rank of exactly this name.
    pub fn name_rank(&self, name: &str) -> Option<u32> {
        self.name_ranks.get(name).copied()
    }

    /// The best rank of any listed name under this registered domain.
    pub fn domain_rank(&self, domain: &str) -> Option<u32> {
        self.domain_ranks.get(domain).copied()
    }

    /// Appends every source that matches the record to `hits`, most specific first: owner name
    /// suffixes from the full name up, then the rdata name (NS and CNAME), then the exact
    /// address, then covering CIDRs from the longest.
    pub fn matches<'a>(&self, record: &RecordView<'a>, psl: &SuffixList, hits: &mut Vec<Hit<'a>>) {
        let (first, last) = (record.first_seen, record.last_seen);
        self.match_name(
            record.name,
            record.registered_domain,
            false,
            first,
            last,
            hits,
        );
        if record.rrtype == 2 || record.rrtype == 5 {
            let rd = psl.registered_domain(record.rdata);
            self.match_name(record.rdata, rd, true, first, last, hits);
        }
        let Some(ip) = record.ip else { return };
        if let Some(&head) = self.ips.get(&ip) {
            self.collect(head, Matched::Ip(ip), first, last, hits, |_| true);
        }
        let mut covering: Vec<(IpNetwork, u32)> = self
            .cidrs
            .matches(ip)
            .map(|(net, head)| (net, *head))
            .collect();
        covering.sort_by_key(|(net, _)| std::cmp::Reverse(net.netmask()));
        for (net, head) in covering {
            self.collect(head, Matched::Cidr(net), first, last, hits, |_| true);
        }
    }

    fn match_name<'a>(
        &self,
        name: &'a str,
        registered: Option<&'a str>,
        rdata: bool,
        first: i64,
        last: i64,
        hits: &mut Vec<Hit<'a>>,
    ) {
        let mut suffix = name;
        loop {
            if let Some(&head) = self.names.get(suffix) {
                let whole = suffix.len() == name.len();
                let is_registered = registered.map_or(whole, |rd| rd == suffix);
                self.collect(head, Matched::Name(suffix), first, last, hits, |info| {
                    let applies = if rdata {
                        info.applies_to.rdata()
                    } else {
                        info.applies_to.owner()
                    };
                    applies
                        && match info.mode {
                            MatchMode::Exact => whole,
                            MatchMode::Subdomain => true,
                            MatchMode::RegisteredDomain => is_registered,
                        }
                });
            }
            match suffix.split_once('.') {
                Some((_, rest)) => suffix = rest,
                None => break,
            }
        }
    }

    fn collect<'a>(
        &self,
        mut link: u32,
        matched: Matched<'a>,
        first: i64,
        last: i64,
        hits: &mut Vec<Hit<'a>>,
        accept: impl Fn(&SourceInfo) -> bool,
    ) {
        let start = hits.len();
        while link != END {
            let Link { source, next } = self.links[link as usize];
            let info = &self.sources[usize::from(source)];
            if info.window.overlaps(first, last) && accept(info) {
                hits.push(Hit { source, matched });
            }
            link = next;
        }
        // Chains are built newest first; config order reads better in provenance.
        hits[start..].reverse();
    }

    /// Picks the label of highest precedence among `hits`, and within it the first hit (the
    /// most specific indicator, then the earliest source in the config).
    pub fn decide<'a>(&self, hits: &[Hit<'a>]) -> Option<Decision<'a>> {
        let label_of = |h: &Hit<'_>| self.sources[usize::from(h.source)].label;
        let best = hits
            .iter()
            .min_by_key(|h| self.precedence[label_of(h) as usize])?;
        let label = label_of(best);
        Some(Decision {
            label,
            hit: *best,
            conflict: hits.iter().any(|h| label_of(h) != label),
        })
    }

    /// The distinct labels among `hits`, in precedence order.
    pub fn labels_of(&self, hits: &[Hit<'_>]) -> Vec<Label> {
        let mut labels: Vec<Label> = hits
            .iter()
            .map(|h| self.sources[usize::from(h.source)].label)
            .collect();
        labels.sort_by_key(|l| self.precedence[*l as usize]);
        labels.dedup();
        labels
    }
}

fn push_link(links: &mut Vec<Link>, head: &mut u32, source: u16) {
    // Sources load one after another, so a repeat of this source for this key can only be at
    // the head of the chain.
    if *head != END && links[*head as usize].source == source {
        return;
    }
    links.push(Link {
        source,
        next: *head,
    });
    *head = (links.len() - 1) as u32;
}

fn keep_min(map: &mut HashMap<Box<str>, u32>, key: &str, rank: u32) {
    match map.get_mut(key) {
        Some(best) => *best = (*best).min(rank),
        None => {
            map.insert(key.into(), rank);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, Kind, SourceConfig};

    struct Lists {
        _dir: tempfile::TempDir,
        config: ListsConfig,
    }

    /// Builds a config from (name, kind, format, match, extra TOML, file content) rows.
    fn lists(rows: &[(&str, &str, &str, &str, &str, &str)], precedence: &str) -> Lists {
        let dir = tempfile::tempdir().unwrap();
        let mut toml = format!("precedence = {precedence}\n");
        for (name, kind, format, mode, extra, content) in rows {
            std::fs::write(dir.path().join(name), content).unwrap();
            toml.push_str(&format!(
                "[[source]]\nname = \"{name}\"\nkind = \"{kind}\"\nformat = \"{format}\"\n\
                 path = \"{name}\"\nmatch = \"{mode}\"\n{extra}\n"
            ));
        }
        let config = ListsConfig::parse(&toml, dir.path(), std::path::Path::new("t.toml")).unwrap();
        Lists { _dir: dir, config }
    }

    fn view<'a>(name: &'a str, rd: Option<&'a str>, rrtype: u16, rdata: &'a str) -> RecordView<'a> {
        RecordView {
            name,
            registered_domain: rd,
            rrtype,
            rdata,
            ip: rdata.parse().ok(),
            first_seen: 0,
            last_seen: 0,
        }
    }

    fn label_of(index: &LabelIndex, record: &RecordView<'_>) -> Option<(Label, String, String)> {
        let mut hits = Vec::new();
        index.matches(record, &SuffixList::Bundled, &mut hits);
        let d = index.decide(&hits)?;
        Some((
            d.label,
            index.sources()[usize::from(d.hit.source)].name.clone(),
            d.hit.matched.to_string(),
        ))
    }

    const DEFAULT: &str = r#"["sinkhole", "malicious", "benign"]"#;

    #[test]
    fn name_rules_exact_subdomain_and_registered_domain() {
        let l = lists(
            &[
                ("exact", "block", "names", "exact", "", "evil.example.com\n"),
                (
                    "sub",
                    "block",
                    "names",
                    "subdomain",
                    "",
                    "bad.example.net\n",
                ),
                (
                    "top",
                    "allow",
                    "names",
                    "registered-domain",
                    "",
                    "www.good.co.uk\n",
                ),
            ],
            DEFAULT,
        );
        let index = LabelIndex::load(&l.config, &SuffixList::Bundled).unwrap();
        let get = |n, rd| label_of(&index, &view(n, rd, 1, "192.0.2.1"));
        let m = |s: &str, i: &str| Some((Label::Malicious, s.to_string(), i.to_string()));
        assert_eq!(
            get("evil.example.com", Some("example.com")),
            m("exact", "evil.example.com")
        );
        assert_eq!(get("a.evil.example.com", Some("example.com")), None);
        assert_eq!(
            get("bad.example.net", Some("example.net")),
            m("sub", "bad.example.net")
        );
        assert_eq!(
            get("x.y.bad.example.net", Some("example.net")),
            m("sub", "bad.example.net")
        );
        assert_eq!(get("notbad.example.net", Some("example.net")), None);
        let benign = Some((Label::Benign, "top".to_string(), "good.co.uk".to_string()));
        assert_eq!(get("mail.good.co.uk", Some("good.co.uk")), benign);
        assert_eq!(get("good.co.uk", Some("good.co.uk")), benign);
        assert_eq!(get("co.uk", None), None);
        assert_eq!(index.name_rank("www.good.co.uk"), Some(1));
        assert_eq!(index.domain_rank("good.co.uk"), Some(1));
    }

    #[test]
    fn cidrs_match_ipv4_and_ipv6_answers_most_specific_first() {
        let l = lists(
            &[
                (
                    "drop",
                    "block",
                    "spamhaus-drop",
                    "exact",
                    "",
                    "1.4.0.0/17 ; SBL1\n2a06:e480::/29 ; SBL2\n",
                ),
                ("narrow", "block", "cidrs", "exact", "", "1.4.2.0/24\n"),
                (
                    "ips",
                    "block",
                    "ips",
                    "exact",
                    "",
                    "1.4.2.9\n2a06:e480::1\n",
                ),
            ],
            DEFAULT,
        );
        let index = LabelIndex::load(&l.config, &SuffixList::Bundled).unwrap();
        let get =
            |rrtype, ip| label_of(&index, &view("host.example", None, rrtype, ip)).map(|t| t.2);
        assert_eq!(get(1, "1.4.127.255").as_deref(), Some("1.4.0.0/17"));
        assert_eq!(get(1, "1.4.2.1").as_deref(), Some("1.4.2.0/24"));
        assert_eq!(get(1, "1.4.2.9").as_deref(), Some("1.4.2.9"));
        assert_eq!(get(1, "1.4.128.0"), None);
        assert_eq!(
            get(28, "2a06:e487:ffff::1").as_deref(),
            Some("2a06:e480::/29")
        );
        assert_eq!(get(28, "2a06:e480::1").as_deref(), Some("2a06:e480::1"));
        assert_eq!(get(28, "2a06:e488::1"), None);
        // An IPv4-mapped IPv6 answer is not an IPv4 answer.
        assert_eq!(get(28, "::ffff:1.4.2.9"), None);
    }

    #[test]
    fn precedence_decides_and_conflicts_are_flagged() {
        let rows = [
            (
                "top",
                "allow",
                "names",
                "registered-domain",
                "",
                "3322.net\n",
            ),
            ("trails", "block", "names", "subdomain", "", "3322.net\n"),
            ("sink", "sinkhole", "ips", "exact", "", "192.0.2.53\n"),
        ];
        let index = LabelIndex::load(&lists(&rows, DEFAULT).config, &SuffixList::Bundled).unwrap();
        let mut hits = Vec::new();
        let record = view("x.3322.net", Some("3322.net"), 1, "192.0.2.53");
        index.matches(&record, &SuffixList::Bundled, &mut hits);
        let d = index.decide(&hits).unwrap();
        assert_eq!((d.label, d.conflict), (Label::Sinkhole, true));
        assert_eq!(
            index.labels_of(&hits),
            [Label::Sinkhole, Label::Malicious, Label::Benign]
        );
        let d = label_of(
            &index,
            &view("x.3322.net", Some("3322.net"), 1, "192.0.2.1"),
        )
        .unwrap();
        assert_eq!(d.0, Label::Malicious);

        let flipped = r#"["benign", "sinkhole", "malicious"]"#;
        let index = LabelIndex::load(&lists(&rows, flipped).config, &SuffixList::Bundled).unwrap();
        let d = label_of(
            &index,
            &view("x.3322.net", Some("3322.net"), 1, "192.0.2.53"),
        )
        .unwrap();
        assert_eq!(d, (Label::Benign, "top".into(), "3322.net".into()));
    }

    #[test]
    fn validity_windows_need_an_overlap_with_the_record_lifetime() {
        let window =
            "valid_from = \"2018-01-01T00:00:00Z\"\nvalid_until = \"2018-12-31T23:59:59Z\"";
        let rows = [("w", "block", "names", "exact", window, "evil.example\n")];
        let index = LabelIndex::load(&lists(&rows, DEFAULT).config, &SuffixList::Bundled).unwrap();
        let day = 86_400_000i64;
        let jan_2018 = 1_514_764_800_000i64;
        let at = |first: i64, last: i64| {
            let mut record = view("evil.example", None, 1, "192.0.2.1");
            record.first_seen = first;
            record.last_seen = last;
            label_of(&index, &record).map(|d| d.0)
        };
        assert_eq!(at(jan_2018 - 10 * day, jan_2018 - day), None);
        assert_eq!(
            at(jan_2018 - 10 * day, jan_2018 + day),
            Some(Label::Malicious)
        );
        assert_eq!(
            at(jan_2018 + 100 * day, jan_2018 + 101 * day),
            Some(Label::Malicious)
        );
        assert_eq!(at(jan_2018 + 400 * day, jan_2018 + 500 * day), None);
    }

    #[test]
    fn sinkhole_name_servers_match_ns_and_cname_rdata_only() {
        let rows = [(
            "ns",
            "sinkhole",
            "nameservers",
            "exact",
            "",
            "ns1.sinkhole.example\n",
        )];
        let index = LabelIndex::load(&lists(&rows, DEFAULT).config, &SuffixList::Bundled).unwrap();
        let ns = view("victim.example", None, 2, "ns1.sinkhole.example");
        assert_eq!(label_of(&index, &ns).map(|d| d.0), Some(Label::Sinkhole));
        let cname = view("victim.example", None, 5, "ns1.sinkhole.example");
        assert_eq!(label_of(&index, &cname).map(|d| d.0), Some(Label::Sinkhole));
        let owner = view("ns1.sinkhole.example", None, 1, "192.0.2.1");
        assert_eq!(label_of(&index, &owner), None);
        let mx = view("victim.example", None, 15, "ns1.sinkhole.example");
        assert_eq!(label_of(&index, &mx), None);
    }

    #[test]
    fn a_source_with_no_valid_entries_stops_the_load() {
        let rows = [
            ("good", "block", "ips", "exact", "", "192.0.2.1\n"),
            ("bad", "block", "ips", "exact", "", "not an ip\n# comment\n"),
        ];
        let err =
            LabelIndex::load(&lists(&rows, DEFAULT).config, &SuffixList::Bundled).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("list `bad` ("), "{text}");
        assert!(
            text.ends_with(
                "has no valid entries (1 malformed lines, first: line 1: bad IP address \"not\")"
            ),
            "{text}"
        );
    }

    #[test]
    fn config_round_trips_source_fields() {
        let s = SourceConfig {
            name: "n".into(),
            kind: Kind::Sinkhole,
            format: Format::MaltrailCsv,
            path: "p".into(),
            match_mode: MatchMode::Exact,
            top_n: None,
            valid_from: None,
            valid_until: None,
            min_hits: None,
            ranked: None,
            categories: None,
            applies_to: None,
        };
        assert_eq!(s.applies_to(), AppliesTo::Both);
        assert!(!s.ranked());
    }
}
