//! The passive DNS formats pdnsrep reads, and their recognition from content.
//!
//! Line formats ([`Format::Cof`], [`Format::Dnsdb`], [`Format::PassiveDns`],
//! [`Format::PassiveDnsJson`], [`Format::ZeekTsv`], [`Format::ZeekJson`]) parse one line at a
//! time and so can be parsed in parallel; [`Format::Mnemonic`] responses are JSON documents
//! (often pretty-printed) and are parsed whole.

mod mnemonic;
mod passivedns;
mod pdns_json;
mod zeek;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use pdnsrep_records::{Record, RrType, canonical_rdata, normalize_name};

use crate::error::LineError;

pub use mnemonic::parse_document as parse_mnemonic;
pub use passivedns::PassiveDnsFields;
pub use pdns_json::SafEvent;
pub use zeek::{ZeekHeader, ZeekHeaderBuilder};

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Passive DNS Common Output Format (draft-dulaunoy-dnsop-passive-dns-cof), NDJSON.
    Cof,
    /// Farsight DNSDB, API v1 lines or v2 SAF-framed lines.
    Dnsdb,
    /// mnemonic passive DNS API v3 responses (`{"data": [...]}` envelopes).
    Mnemonic,
    /// gamelinux/passivedns `||`-separated text log.
    PassiveDns,
    /// gamelinux/passivedns JSON lines (`-j`).
    PassiveDnsJson,
    /// Zeek `dns.log`, tab-separated with `#fields` header.
    ZeekTsv,
    /// Zeek `dns.log` as JSON lines.
    ZeekJson,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Cof,
        Format::Dnsdb,
        Format::Mnemonic,
        Format::PassiveDns,
        Format::PassiveDnsJson,
        Format::ZeekTsv,
        Format::ZeekJson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Cof => "cof",
            Format::Dnsdb => "dnsdb",
            Format::Mnemonic => "mnemonic",
            Format::PassiveDns => "passivedns",
            Format::PassiveDnsJson => "passivedns-json",
            Format::ZeekTsv => "zeek-tsv",
            Format::ZeekJson => "zeek-json",
        }
    }

    /// Guesses the format from the first lines of an input.
    ///
    /// Returns `None` when nothing matches; the caller then reports the input as unreadable
    /// rather than guessing.
    pub fn detect(lines: &[&str]) -> Option<Format> {
        let lines: Vec<&str> = lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        let first = lines.first()?;
        if first.starts_with("#separator") || first.starts_with("#fields") {
            return Some(Format::ZeekTsv);
        }
        if !first.starts_with('{') {
            return lines
                .iter()
                .any(|l| l.contains("||"))
                .then_some(Format::PassiveDns);
        }
        match serde_json::from_str::<serde_json::Value>(first) {
            Ok(serde_json::Value::Object(obj)) => detect_json(&obj, &lines),
            // A JSON document that does not fit on one line: of our formats only mnemonic
            // responses are pretty-printed. Anything else is a broken first line of a line
            // format, which the following lines identify.
            _ if looks_like_mnemonic(&lines) => Some(Format::Mnemonic),
            _ => Format::detect(&lines[1..]),
        }
    }
}

fn looks_like_mnemonic(lines: &[&str]) -> bool {
    lines.first().is_some_and(|l| *l == "{")
        || lines
            .iter()
            .any(|l| l.contains("\"responseCode\"") || l.starts_with("\"data\""))
}

fn detect_json(obj: &serde_json::Map<String, serde_json::Value>, lines: &[&str]) -> Option<Format> {
    let has = |k: &str| obj.contains_key(k);
    if has("cond") || has("obj") {
        return Some(Format::Dnsdb);
    }
    if has("data") || has("responseCode") {
        return Some(Format::Mnemonic);
    }
    if has("rrname") {
        let dotted = obj
            .get("rrname")
            .and_then(|v| v.as_str())
            .is_some_and(|n| n.ends_with('.'));
        let dnsdb_only = has("bailiwick") || has("zone_time_first") || has("zone_time_last");
        return Some(if dotted || (dnsdb_only && !has("sensor_id")) {
            Format::Dnsdb
        } else {
            Format::Cof
        });
    }
    if has("uid") && has("query") || has("qtype_name") || has("TTLs") {
        return Some(Format::ZeekJson);
    }
    if has("query") && (has("timestamp_s") || has("answer")) {
        return Some(Format::PassiveDnsJson);
    }
    // A COF or DNSDB file whose first line is odd: look further.
    lines
        .get(1..)
        .and_then(|rest| (!rest.is_empty()).then(|| Format::detect(rest)))
        .flatten()
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown format `{s}` (expected auto or one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// Per-input state that line parsers need: the Zeek header, the passivedns field layout, and
/// the sensor name to stamp on records.
#[derive(Debug, Clone, Default)]
pub struct LineContext {
    pub zeek: Option<Arc<ZeekHeader>>,
    pub passivedns: Arc<PassiveDnsFields>,
    pub sensor: Option<String>,
}

/// What a line said besides records: SAF framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineNote {
    None,
    Saf(SafEvent),
    /// A line that carries no record by design (a Zeek query without answers, an
    /// unsuccessful response); counted, not rejected.
    NoAnswer,
}

/// Parses one line of a line format, appending its records to `out`.
///
/// Comment lines (`#`) and blank lines yield nothing. On error nothing is appended.
pub fn parse_line(
    format: Format,
    ctx: &LineContext,
    line: &str,
    out: &mut Vec<Record>,
) -> Result<LineNote, LineError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(LineNote::None);
    }
    match format {
        Format::Cof | Format::Dnsdb => pdns_json::parse_line(line, ctx, out),
        Format::PassiveDns => passivedns::parse_text_line(line, ctx, out),
        Format::PassiveDnsJson => passivedns::parse_json_line(line, ctx, out),
        Format::ZeekTsv => match &ctx.zeek {
            Some(header) => zeek::parse_tsv_line(line, header, ctx, out),
            None => Err(LineError::whole(
                "Zeek TSV data before any `#fields` header",
            )),
        },
        Format::ZeekJson => zeek::parse_json_line(line, ctx, out),
        Format::Mnemonic => Err(LineError::whole(
            "mnemonic responses are parsed per document",
        )),
    }
}

/// Builds a record from raw parts, normalizing the name and rdata; the building block every
/// format shares.
pub(crate) struct RawRecord<'a> {
    pub name: &'a str,
    pub rrtype: RrType,
    pub rdata: &'a str,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: u64,
    pub min_ttl: Option<u32>,
    pub max_ttl: Option<u32>,
}

impl RawRecord<'_> {
    pub(crate) fn build(
        self,
        name_field: &str,
        rdata_field: &str,
        sensor: Option<&str>,
    ) -> Result<Record, LineError> {
        let name =
            normalize_name(self.name).map_err(|e| LineError::new(name_field, e.to_string()))?;
        let rdata = canonical_rdata(self.rrtype, self.rdata)
            .map_err(|e| LineError::new(rdata_field, e.to_string()))?;
        if self.last_ms < self.first_ms {
            return Err(LineError::new(
                "time_last",
                "last seen is before first seen",
            ));
        }
        Ok(Record {
            name,
            rrtype: self.rrtype,
            rdata,
            first_seen: self.first_ms,
            last_seen: self.last_ms,
            count: self.count,
            min_ttl: self.min_ttl,
            max_ttl: self.max_ttl,
            sensor: sensor.map(str::to_string),
        })
    }
}

/// Seconds (integer or fractional) to milliseconds, refusing values outside the years
/// 1970–9999 that only corrupt data produces.
pub(crate) fn seconds_to_ms(field: &str, secs: f64) -> Result<i64, LineError> {
    if !secs.is_finite() || !(0.0..=253_402_300_799.0).contains(&secs) {
        return Err(LineError::new(
            field,
            format!("timestamp {secs} is out of range"),
        ));
    }
    // Truncate like the integer paths do (ISO times, decimal text); the small bias absorbs
    // binary representation error, which never reaches a whole microsecond.
    Ok((secs * 1000.0 + 1e-3).floor() as i64)
}

/// Decimal seconds as text (`1521911720.865716`) to milliseconds without going through
/// binary floating point, so that text and JSON renderings of one time agree exactly.
pub(crate) fn decimal_seconds_to_ms(field: &str, text: &str) -> Result<i64, LineError> {
    let bad = || LineError::new(field, format!("`{text}` is not a time in seconds"));
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let secs: i64 = whole.parse().map_err(|_| bad())?;
    let mut millis = 0i64;
    for (i, d) in frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .enumerate()
    {
        millis += i64::from(d - b'0') * 10i64.pow(2 - i as u32);
    }
    secs.checked_mul(1000)
        .and_then(|ms| ms.checked_add(millis))
        .ok_or_else(bad)
        .and_then(|ms| check_ms(field, ms))
}

/// Milliseconds with the same range check.
pub(crate) fn check_ms(field: &str, ms: i64) -> Result<i64, LineError> {
    if !(0..=253_402_300_799_000).contains(&ms) {
        return Err(LineError::new(
            field,
            format!("timestamp {ms} ms is out of range"),
        ));
    }
    Ok(ms)
}

/// A TTL given as a number of seconds (integer or, in Zeek, fractional).
pub(crate) fn ttl_from_f64(field: &str, v: f64) -> Result<u32, LineError> {
    if !v.is_finite() || !(0.0..=u32::MAX as f64).contains(&v) {
        return Err(LineError::new(field, format!("TTL {v} is out of range")));
    }
    Ok(v.round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format_from_its_first_lines() {
        let cases: &[(&str, Format)] = &[
            (
                r#"{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}"#,
                Format::Cof,
            ),
            (
                r#"{"rrname":"a.example.","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}"#,
                Format::Dnsdb,
            ),
            (r#"{"cond":"begin"}"#, Format::Dnsdb),
            (r#"{"responseCode":200,"data":[]}"#, Format::Mnemonic),
            ("{\n  \"data\": [", Format::Mnemonic),
            (
                "1322849924.408856||10.1.1.1||8.8.8.8||IN||a.example.||A||192.0.2.1||300||1",
                Format::PassiveDns,
            ),
            (
                r#"{"timestamp_s":1,"timestamp_ms":2,"query":"a.example.","answer":"192.0.2.1"}"#,
                Format::PassiveDnsJson,
            ),
            ("#separator \\x09\n#fields\tts", Format::ZeekTsv),
            (
                r#"{"ts":1.5,"uid":"C1","query":"a.example","answers":["192.0.2.1"],"TTLs":[60.0]}"#,
                Format::ZeekJson,
            ),
        ];
        for (text, expected) in cases {
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(Format::detect(&lines), Some(*expected), "for {text}");
        }
        assert_eq!(Format::detect(&["hello world"]), None);
        let broken_first = [
            "{\"rrname\": ",
            r#"{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}"#,
        ];
        assert_eq!(Format::detect(&broken_first), Some(Format::Cof));
        assert_eq!(Format::detect(&["{broken"]), None);
        assert_eq!(Format::detect(&[]), None);
    }
}
