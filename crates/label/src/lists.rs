//! Reading list files: decompression, one parser per [`Format`], and per-line accounting.
//!
//! Parsers are lenient at the line level: a malformed line is counted and kept as a
//! [`LineIssue`] (file, line, reason) and reading goes on. Lines that are well formed but carry
//! nothing this crate can match (URLs, regular expressions, filtered categories) are counted
//! as ignored, by reason. A list that yields no entry at all is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ip_network::IpNetwork;
use pdnsrep_records::normalize_name;
use serde::Serialize;

use crate::config::{Format, SourceConfig};
use crate::error::{Error, Result};

/// How many malformed lines per list are kept with their text position for the report.
const KEPT_ISSUES: usize = 20;

/// One thing a list names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indicator {
    /// A normalized domain name.
    Name(String),
    Ip(IpAddr),
    Cidr(IpNetwork),
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Indicator::Name(n) => f.write_str(n),
            Indicator::Ip(ip) => write!(f, "{ip}"),
            Indicator::Cidr(net) => write!(f, "{net}"),
        }
    }
}

/// A malformed line and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineIssue {
    pub path: PathBuf,
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for LineIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
    }
}

/// What reading one list found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListReport {
    pub source: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub lines: u64,
    /// Indicators handed to the index.
    pub entries: u64,
    pub malformed: u64,
    /// Well-formed lines left out, by reason.
    pub ignored: BTreeMap<String, u64>,
    /// The first malformed lines, with position.
    pub issues: Vec<LineIssue>,
}

/// Opens a file, decompressing `.gz` and `.zst` on the fly.
pub fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let file = File::open(path)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let reader: Box<dyn Read + Send> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file)?)
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(256 * 1024, reader)))
}

/// Reads one source and hands each indicator, with its rank where the format has one, to
/// `sink`. Fails when the file cannot be read or yields no entry.
pub fn read_source(
    source: &SourceConfig,
    mut sink: impl FnMut(Indicator, Option<u32>),
) -> Result<ListReport> {
    let read_err = |e| Error::ListRead {
        source_name: source.name.clone(),
        path: source.path.clone(),
        source: e,
    };
    let bytes = std::fs::metadata(&source.path).map_err(read_err)?.len();
    let mut reader = open(&source.path).map_err(read_err)?;
    let mut report = ListReport {
        source: source.name.clone(),
        path: source.path.clone(),
        bytes,
        ..ListReport::default()
    };
    let mut parser = LineParser::new(source);
    let mut found = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(read_err)? == 0 {
            break;
        }
        report.lines += 1;
        let outcome = match std::str::from_utf8(&buf) {
            Ok(line) => parser.parse(line.trim_end_matches(['\n', '\r']), &mut found),
            Err(_) => Outcome::Malformed("not UTF-8".into()),
        };
        match outcome {
            Outcome::Blank => {}
            Outcome::Ignored(reason) => *report.ignored.entry(reason.to_string()).or_default() += 1,
            Outcome::Malformed(reason) => report.malformed(reason),
            Outcome::Parsed => {
                for (indicator, rank) in found.drain(..) {
                    if beyond_top_n(source, rank, report.entries) {
                        *report.ignored.entry("beyond top_n".into()).or_default() += 1;
                        continue;
                    }
                    report.entries += 1;
                    sink(indicator, rank);
                }
            }
        }
    }
    if report.entries == 0 {
        return Err(Error::ListEmpty {
            source_name: source.name.clone(),
            path: source.path.clone(),
            malformed: report.malformed,
            first_issue: report
                .issues
                .first()
                .map(|i| format!("line {}: {}", i.line, i.reason)),
        });
    }
    Ok(report)
}

fn beyond_top_n(source: &SourceConfig, rank: Option<u32>, kept: u64) -> bool {
    match (source.top_n, rank) {
        (None, _) => false,
        (Some(n), Some(rank)) => rank > n,
        (Some(n), None) => kept >= u64::from(n),
    }
}

impl ListReport {
    fn malformed(&mut self, reason: String) {
        self.malformed += 1;
        tracing::debug!(source = %self.source, line = self.lines, %reason, "malformed list line");
        if self.issues.len() < KEPT_ISSUES {
            self.issues.push(LineIssue {
                path: self.path.clone(),
                line: self.lines,
                reason,
            });
        }
    }
}

/// What one line held.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Blank or comment.
    Blank,
    Ignored(&'static str),
    Malformed(String),
    /// Indicators were pushed.
    Parsed,
}

/// A format's line parser plus the state some formats carry across lines (header columns,
/// line ranks).
struct LineParser<'a> {
    format: Format,
    source: &'a SourceConfig,
    /// The rank the next entry of a `names` list gets.
    next_rank: u32,
    /// `abusech`: the column holding the indicator, once a header named it.
    column: Option<usize>,
    /// `maltrail-csv`: (indicator, type, category) columns, from the header line.
    maltrail: Option<(usize, usize, Option<usize>)>,
}

type Found = Vec<(Indicator, Option<u32>)>;

impl<'a> LineParser<'a> {
    fn new(source: &'a SourceConfig) -> Self {
        LineParser {
            format: source.format,
            source,
            next_rank: 1,
            column: None,
            maltrail: None,
        }
    }

    fn parse(&mut self, line: &str, out: &mut Found) -> Outcome {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Outcome::Blank;
        }
        let result = match self.format {
            Format::RankCsv => parse_rank_csv(trimmed, out),
            Format::Names | Format::Nameservers => self.parse_names(trimmed, out),
            Format::Hosts => parse_hosts(trimmed, out),
            Format::MaltrailTrails => parse_trail_line(trimmed, out),
            Format::MaltrailCsv => self.parse_maltrail_csv(trimmed, out),
            Format::Abusech => self.parse_abusech(trimmed, out),
            Format::SpamhausDrop => parse_drop(trimmed, out),
            Format::Ips => parse_ip_line(trimmed, out),
            Format::Cidrs => parse_cidr_line(trimmed, out),
            Format::Ipsum => parse_ipsum(trimmed, self.source.min_hits.unwrap_or(1), out),
            Format::BindZone => parse_bind_zone(trimmed, out),
        };
        match result {
            Ok(outcome) => outcome,
            Err(reason) => Outcome::Malformed(reason),
        }
    }

    fn parse_names(&mut self, line: &str, out: &mut Found) -> Result<Outcome, String> {
        let Some(token) = first_token(line, '#') else {
            return Ok(Outcome::Blank);
        };
        // Allow lists such as maltrail's whitelist mix addresses in with names.
        let indicator = match token.parse::<IpAddr>() {
            Ok(ip) => Indicator::Ip(ip),
            Err(_) => Indicator::Name(name(token)?),
        };
        out.push((indicator, Some(self.next_rank)));
        self.next_rank = self.next_rank.saturating_add(1);
        Ok(Outcome::Parsed)
    }

    fn parse_maltrail_csv(&mut self, line: &str, out: &mut Found) -> Result<Outcome, String> {
        if line.starts_with('#') {
            return Ok(Outcome::Blank);
        }
        let fields = split_csv(line)?;
        let Some((ind, typ, cat)) = self.maltrail else {
            let find = |n: &str| fields.iter().position(|f| f.trim() == n);
            let (Some(ind), Some(typ)) = (find("indicator"), find("indicator_type")) else {
                return Err("expected a header naming `indicator` and `indicator_type`".into());
            };
            self.maltrail = Some((ind, typ, find("category")));
            return Ok(Outcome::Blank);
        };
        let field = |i: usize| fields.get(i).map(|f| f.trim()).ok_or("missing column");
        if let (Some(cat), Some(wanted)) = (cat, &self.source.categories) {
            let category = field(cat)?;
            if !wanted.iter().any(|w| w == category) {
                return Ok(Outcome::Ignored("category not selected"));
            }
        }
        let indicator = field(ind)?;
        match field(typ)? {
            "domain" => out.push((Indicator::Name(name(indicator)?), None)),
            "ipv4" | "ipv6" => out.push((Indicator::Ip(ip(indicator)?), None)),
            "ipv4_cidr" | "ipv6_cidr" => out.push((Indicator::Cidr(cidr(indicator)?), None)),
            "ipv4_port" => out.push((
                Indicator::Ip(ip_port(indicator).ok_or("bad ip:port")?),
                None,
            )),
            "url" => return Ok(Outcome::Ignored("url")),
            // `other` holds whatever maltrail could not classify (regular expressions,
            // `ip:port:port`); what the trail parser cannot use is ignored, not malformed.
            _ => {
                return Ok(parse_trail_line(indicator, out)
                    .unwrap_or(Outcome::Ignored("unrecognized `other` trail")));
            }
        }
        Ok(Outcome::Parsed)
    }

    fn parse_abusech(&mut self, line: &str, out: &mut Found) -> Result<Outcome, String> {
        if let Some(comment) = line.strip_prefix('#') {
            // Feeds name their columns in a comment line (Ransomware Tracker).
            if comment.contains(',') {
                self.column = self.column.or(header_column(&split_csv(comment)?));
            }
            return Ok(Outcome::Blank);
        }
        if !line.contains(',') {
            let token = first_token(line, '#').ok_or("empty line")?;
            out.push((ip_or_name(token)?, None));
            return Ok(Outcome::Parsed);
        }
        let fields = split_csv(line)?;
        if self.column.is_none()
            && let Some(column) = header_column(&fields)
        {
            self.column = Some(column);
            return Ok(Outcome::Blank);
        }
        let value = fields
            .get(self.column.unwrap_or(0))
            .ok_or("missing indicator column")?;
        out.push((ip_or_name(value.trim())?, None));
        Ok(Outcome::Parsed)
    }
}

/// The first whitespace-separated token before a comment character.
fn first_token(line: &str, comment: char) -> Option<&str> {
    let line = line.split(comment).next()?;
    line.split_whitespace().next()
}

fn name(raw: &str) -> Result<String, String> {
    normalize_name(raw).map_err(|e| format!("bad name {raw:?}: {e}"))
}

fn ip(raw: &str) -> Result<IpAddr, String> {
    raw.parse().map_err(|_| format!("bad IP address {raw:?}"))
}

/// Parses `a.b.c.d/len` or `v6/len`; host bits are cleared, since lists often write the first
/// address of a range with a length. A bare address is a host route.
fn cidr(raw: &str) -> Result<IpNetwork, String> {
    let (addr, len) = match raw.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (raw, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("bad CIDR {raw:?}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(len) => len
            .trim()
            .parse::<u8>()
            .map_err(|_| format!("bad prefix length in {raw:?}"))?,
        None => max,
    };
    IpNetwork::new_truncate(addr, len).map_err(|e| format!("bad CIDR {raw:?}: {e}"))
}

fn ip_or_name(raw: &str) -> Result<Indicator, String> {
    match raw.parse::<IpAddr>() {
        Ok(ip) => Ok(Indicator::Ip(ip)),
        Err(_) => Ok(Indicator::Name(name(raw)?)),
    }
}

/// `1.2.3.4:80` or `[2001:db8::1]:443`.
fn ip_port(raw: &str) -> Option<IpAddr> {
    if let Some(rest) = raw.strip_prefix('[') {
        let (addr, port) = rest.split_once("]:")?;
        port.parse::<u16>().ok()?;
        return addr.parse().ok();
    }
    let (addr, port) = raw.split_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The column named like an indicator in a header.
fn header_column(fields: &[String]) -> Option<usize> {
    const NAMES: [&str; 8] = [
        "host",
        "dst_ip",
        "ip",
        "ip_address",
        "domain",
        "dst_host",
        "indicator",
        "ioc",
    ];
    fields
        .iter()
        .position(|f| NAMES.contains(&f.trim().to_ascii_lowercase().as_str()))
}

/// Splits one CSV line (RFC 4180 quoting, `""` for a quote inside a quoted field).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

fn parse_rank_csv(line: &str, out: &mut Found) -> Result<Outcome, String> {
    if line.starts_with('#') {
        return Ok(Outcome::Blank);
    }
    let (rank, domain) = line.split_once(',').ok_or("expected `rank,name`")?;
    let rank = rank
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("bad rank {rank:?}"))?;
    out.push((Indicator::Name(name(domain.trim())?), Some(rank)));
    Ok(Outcome::Parsed)
}

fn parse_hosts(line: &str, out: &mut Found) -> Result<Outcome, String> {
    // Entries every hosts file carries for the machine itself, not list content.
    const LOCAL: [&str; 6] = [
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
    ];
    let line = line.split('#').next().unwrap_or_default();
    let mut tokens = line.split_whitespace();
    let Some(addr) = tokens.next() else {
        return Ok(Outcome::Blank);
    };
    ip(addr)?;
    let before = out.len();
    for token in tokens.filter(|t| !LOCAL.contains(t)) {
        out.push((Indicator::Name(name(token)?), None));
    }
    Ok(if out.len() > before {
        Outcome::Parsed
    } else {
        Outcome::Ignored("local host entry")
    })
}

/// One maltrail trail: a domain, an address (with or without a port), a CIDR, a URL or a
/// regular expression.
fn parse_trail_line(line: &str, out: &mut Found) -> Result<Outcome, String> {
    let Some(token) = first_token(line, '#') else {
        return Ok(Outcome::Blank);
    };
    if token.contains("://") {
        return Ok(Outcome::Ignored("url"));
    }
    let indicator = if let Ok(ip) = token.parse::<IpAddr>() {
        Indicator::Ip(ip)
    } else if let Some(ip) = ip_port(token) {
        Indicator::Ip(ip)
    } else if let Ok(net) = cidr(token) {
        Indicator::Cidr(net)
    } else if token.contains('/') {
        return Ok(Outcome::Ignored("url"));
    } else if token.contains(['\\', '(', '[', '^', '$', '?', '+', '{', '|']) {
        return Ok(Outcome::Ignored("regular expression"));
    } else {
        Indicator::Name(name(token)?)
    };
    out.push((indicator, None));
    Ok(Outcome::Parsed)
}

fn parse_drop(line: &str, out: &mut Found) -> Result<Outcome, String> {
    if line.starts_with(';') {
        return Ok(Outcome::Blank);
    }
    let net = line.split(';').next().unwrap_or_default().trim();
    out.push((Indicator::Cidr(cidr(net)?), None));
    Ok(Outcome::Parsed)
}

fn parse_ip_line(line: &str, out: &mut Found) -> Result<Outcome, String> {
    let Some(token) = first_token(line, '#') else {
        return Ok(Outcome::Blank);
    };
    out.push((Indicator::Ip(ip(token)?), None));
    Ok(Outcome::Parsed)
}

fn parse_cidr_line(line: &str, out: &mut Found) -> Result<Outcome, String> {
    let Some(token) = first_token(line, '#') else {
        return Ok(Outcome::Blank);
    };
    let net = token.split(',').next().unwrap_or_default();
    out.push((Indicator::Cidr(cidr(net)?), None));
    Ok(Outcome::Parsed)
}

fn parse_ipsum(line: &str, min_hits: u32, out: &mut Found) -> Result<Outcome, String> {
    if line.starts_with('#') {
        return Ok(Outcome::Blank);
    }
    let mut fields = line.split_whitespace();
    let addr = ip(fields.next().unwrap_or_default())?;
    let hits = fields.next().ok_or("expected `ip<TAB>hits`")?;
    let hits = hits
        .parse::<u32>()
        .map_err(|_| format!("bad hit count {hits:?}"))?;
    if hits < min_hits {
        return Ok(Outcome::Ignored("below min_hits"));
    }
    out.push((Indicator::Ip(addr), None));
    Ok(Outcome::Parsed)
}

fn parse_bind_zone(line: &str, out: &mut Found) -> Result<Outcome, String> {
    if line.starts_with("//") || line.starts_with('#') || line.starts_with(';') {
        return Ok(Outcome::Blank);
    }
    let rest = line
        .strip_prefix("zone")
        .ok_or("expected `zone \"name\" {...};`")?;
    let quoted = rest
        .trim_start()
        .strip_prefix('"')
        .ok_or("expected a quoted zone name")?;
    let (zone, _) = quoted.split_once('"').ok_or("unterminated zone name")?;
    out.push((Indicator::Name(name(zone)?), None));
    Ok(Outcome::Parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Kind, MatchMode};
    use crate::test_data::shared_data;

    pub(crate) fn source(format: Format, path: PathBuf) -> SourceConfig {
        SourceConfig {
            name: "test".into(),
            kind: Kind::Block,
            format,
            path,
            match_mode: MatchMode::Exact,
            top_n: None,
            valid_from: None,
            valid_until: None,
            min_hits: None,
            ranked: None,
            categories: None,
            applies_to: None,
        }
    }

    type Read = (Vec<(String, Option<u32>)>, ListReport);

    fn read(source: &SourceConfig) -> Result<Read> {
        let mut found = Vec::new();
        let report = read_source(source, |i, r| found.push((i.to_string(), r)))?;
        Ok((found, report))
    }

    fn read_text(format: Format, text: &str) -> Result<Read> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        std::fs::write(&path, text).unwrap();
        read(&source(format, path))
    }

    fn fixture(format: Format, file: &str) -> (Vec<String>, ListReport) {
        let path = shared_data().join("intelmq-feed-fixtures").join(file);
        let (found, report) = read(&source(format, path)).unwrap();
        (found.into_iter().map(|(i, _)| i).collect(), report)
    }

    #[test]
    fn abusech_plain_domain_list() {
        let (found, report) = fixture(Format::Abusech, "abusech-feodo-domains.txt");
        assert_eq!(found, ["arta.romail3arnest.info"]);
        assert_eq!(report.malformed, 0);
    }

    #[test]
    fn abusech_csv_finds_the_ip_column_by_header() {
        let (found, _) = fixture(Format::Abusech, "abusech-feodo-ips.txt");
        assert_eq!(found, ["10.213.75.205", "192.16.238.101"]);
        let (found, _) = fixture(Format::Abusech, "abusech-zeus-ips.txt");
        assert_eq!(found, ["101.200.81.187"]);
    }

    #[test]
    fn abusech_csv_finds_the_host_column_in_a_header_comment() {
        let (found, report) = fixture(Format::Abusech, "abusech-ransomwaretracker.csv");
        assert_eq!(found[0], "motefugue.com");
        assert!(
            found[1..]
                .iter()
                .all(|h| h == "ojmekzw4mujvqeju.minitili.at"),
            "{found:?}"
        );
        assert_eq!(report.entries as usize, found.len());
    }

    #[test]
    fn spamhaus_drop_reads_v4_and_v6_ranges() {
        let (found, _) = fixture(Format::SpamhausDrop, "spamhaus-drop.txt");
        assert_eq!(found, ["1.4.0.0/17", "2a06:e480::/29"]);
    }

    #[test]
    fn spamhaus_asn_drop_is_not_a_cidr_list() {
        let path = shared_data().join("intelmq-feed-fixtures/spamhaus-asndrop.txt");
        let err = read(&source(Format::SpamhausDrop, path))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no valid entries (2 malformed lines, first: line 5: bad CIDR"),
            "{err}"
        );
    }

    #[test]
    fn bind_zone_names() {
        let (found, _) = fixture(Format::BindZone, "malc0de-bind-zone.txt");
        assert_eq!(found, ["example.com", "example.org"]);
    }

    #[test]
    fn maltrail_trail_file_recognizes_each_indicator_shape() {
        let text = "# Copyright\n# Aliases: x\n\nevil.example\n192.0.2.1\n198.51.100.7:8080\n\
                    [2001:db8::5]:443\n203.0.113.0/24\nhttp://bad.example/x\nbad.example/path\n\
                    \\b(a|b)[0-9]+\\.xyz\nbad!name.example\n";
        let (found, report) = read_text(Format::MaltrailTrails, text).unwrap();
        let found: Vec<_> = found.into_iter().map(|(i, _)| i).collect();
        assert_eq!(
            found,
            [
                "evil.example",
                "192.0.2.1",
                "198.51.100.7",
                "2001:db8::5",
                "203.0.113.0/24"
            ]
        );
        assert_eq!(report.ignored.get("url"), Some(&2));
        assert_eq!(report.ignored.get("regular expression"), Some(&1));
        assert_eq!(report.malformed, 1);
        assert_eq!(report.issues[0].line, 12);
        assert!(
            report.issues[0]
                .reason
                .starts_with("bad name \"bad!name.example\""),
            "{:?}",
            report.issues
        );
    }

    #[test]
    fn maltrail_csv_filters_categories_and_handles_quotes() {
        let text = "indicator,indicator_type,trail,category,aliases\n\
                    evil.example,domain,emotet,malware,\"a, b\"\n\
                    51.210.1.239:8443,ipv4_port,x,malicious,\n\
                    http://20.198.21.60,url,x,malicious,\n\
                    scan.example,domain,x,suspicious,\n\
                    \"\\b(a|b){1,3}\\.top$\",other,x,malware,\n\
                    192.0.2.0/24,ipv4_cidr,x,malware,\n\
                    \"unterminated,domain,x,malware,\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trails.csv");
        std::fs::write(&path, text).unwrap();
        let mut src = source(Format::MaltrailCsv, path);
        src.categories = Some(vec!["malware".into(), "malicious".into()]);
        let (found, report) = read(&src).unwrap();
        let found: Vec<_> = found.into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, ["evil.example", "51.210.1.239", "192.0.2.0/24"]);
        assert_eq!(report.ignored.get("category not selected"), Some(&1));
        assert_eq!(report.ignored.get("url"), Some(&1));
        assert_eq!(report.ignored.get("regular expression"), Some(&1));
        assert_eq!((report.malformed, report.issues[0].line), (1, 8));
    }

    #[test]
    fn maltrail_sinkhole_csv_reads_the_shared_file() {
        let path = shared_data().join("maltrail/maltrail-sinkholes.csv");
        let (found, report) = read(&source(Format::MaltrailCsv, path)).unwrap();
        // 1,377 IPv4 + 68 domains + 4 ip:port; the 2 URLs are ignored.
        assert_eq!(found.len(), 1377 + 68 + 4);
        assert_eq!(report.ignored.get("url"), Some(&2));
        assert!(
            found
                .iter()
                .any(|(i, _)| i == "sinkhole-00.shadowserver.org")
        );
    }

    #[test]
    fn names_rank_by_line_and_top_n_cuts() {
        let (found, _) = read_text(Format::Names, "a.example\n\nb.example\n192.0.2.1\n").unwrap();
        assert_eq!(found[1], ("b.example".into(), Some(2)));
        assert_eq!(found[2], ("192.0.2.1".into(), Some(3)));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("top.csv");
        std::fs::write(
            &path,
            "1,a.example\n2,b.example\n3,c.example\nx,d.example\n",
        )
        .unwrap();
        let mut src = source(Format::RankCsv, path);
        src.top_n = Some(2);
        let (found, report) = read(&src).unwrap();
        assert_eq!(
            found,
            [("a.example".into(), Some(1)), ("b.example".into(), Some(2))]
        );
        assert_eq!(report.ignored.get("beyond top_n"), Some(&1));
        assert_eq!(report.malformed, 1);
    }

    #[test]
    fn umbrella_names_read_from_gzip() {
        let path = shared_data().join("umbrella-top100k/umbrella-top-100k.txt.gz");
        let mut src = source(Format::Names, path);
        src.top_n = Some(3);
        let (found, _) = read(&src).unwrap();
        assert_eq!(found[0], ("google.com".into(), Some(1)));
        assert_eq!(found[2], ("www.google.com".into(), Some(3)));
        assert_eq!(found.len(), 3);
    }

    #[test]
    fn hosts_files_skip_local_entries() {
        let text =
            "127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example # c\n::1 ip6-localhost\n";
        let (found, report) = read_text(Format::Hosts, text).unwrap();
        let found: Vec<_> = found.into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, ["ads.example", "tracker.example"]);
        assert_eq!(report.ignored.get("local host entry"), Some(&2));
    }

    #[test]
    fn ipsum_applies_min_hits() {
        let path = shared_data().join("ipsum/ipsum.txt.gz");
        let mut src = source(Format::Ipsum, path);
        src.min_hits = Some(9);
        let (found, report) = read(&src).unwrap();
        assert!(found.iter().any(|(i, _)| i == "2.57.122.53"));
        assert!(report.ignored["below min_hits"] > 100_000);
        let (found, _) = read_text(Format::Ipsum, "# h\n192.0.2.1\t3\n192.0.2.2 1\n").unwrap();
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn ip_and_cidr_lists() {
        let (found, report) =
            read_text(Format::Ips, "192.0.2.1\n2001:db8::1 # x\n999.1.1.1\n").unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(report.issues[0].reason, "bad IP address \"999.1.1.1\"");
        let (found, _) = read_text(Format::Cidrs, "103.29.68.0/22,linode\n10.1.2.3/8\n").unwrap();
        let found: Vec<_> = found.into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, ["103.29.68.0/22", "10.0.0.0/8"]);
        let worst = shared_data().join("maltrail/worst_asns.txt");
        let (found, report) = read(&source(Format::Cidrs, worst)).unwrap();
        assert_eq!((found.len(), report.malformed), (5993, 0));
    }

    #[test]
    fn a_missing_list_is_an_error_naming_the_source() {
        let err = read(&source(Format::Ips, "/nonexistent/list.txt".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read list `test` from `/nonexistent/list.txt`"
        );
    }

    #[test]
    fn csv_split_handles_quotes() {
        assert_eq!(
            split_csv(r#"a,"b, c","d ""e""",f"#).unwrap(),
            ["a", "b, c", "d \"e\"", "f"]
        );
        assert!(split_csv("\"open").is_err());
    }
}
