//! Zeek `dns.log`, as TSV (with its `#fields` header) or JSON lines.
//!
//! Zeek logs one line per DNS transaction; passive DNS needs one record per answer. Each
//! NOERROR line's `answers` are zipped with its `TTLs`, every answer is classified (an IPv4 or
//! IPv6 address becomes an A or AAAA record; a name or text takes the query type when that
//! type's rdata is not an address, and CNAME otherwise, since Zeek does not log which owner
//! name in a CNAME chain an answer belongs to), and the merge stage aggregates the resulting
//! single observations into records.

use std::net::IpAddr;

use pdnsrep_records::{Record, RrType};
use serde::Deserialize;
use serde_json::Value;

use super::{LineContext, LineNote, RawRecord, decimal_seconds_to_ms, seconds_to_ms, ttl_from_f64};
use crate::error::LineError;

/// The layout announced by a TSV log's header lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeekHeader {
    separator: char,
    set_separator: char,
    empty: String,
    unset: String,
    ts: usize,
    query: usize,
    qtype_name: Option<usize>,
    rcode_name: Option<usize>,
    answers: usize,
    ttls: Option<usize>,
    columns: usize,
}

/// Accumulates `#` header lines until `#fields` completes the layout.
#[derive(Debug, Clone)]
pub struct ZeekHeaderBuilder {
    separator: char,
    set_separator: char,
    empty: String,
    unset: String,
}

impl Default for ZeekHeaderBuilder {
    fn default() -> Self {
        ZeekHeaderBuilder {
            separator: '\t',
            set_separator: ',',
            empty: "(empty)".into(),
            unset: "-".into(),
        }
    }
}

impl ZeekHeaderBuilder {
    /// Takes one `#` line; returns the finished header when the line was `#fields`.
    pub fn line(&mut self, line: &str) -> Result<Option<ZeekHeader>, LineError> {
        if let Some(rest) = line.strip_prefix("#separator ") {
            self.separator = unescape_char(rest.trim()).ok_or_else(|| {
                LineError::new("#separator", format!("`{rest}` is not one character"))
            })?;
            return Ok(None);
        }
        let Some((key, value)) = line.split_once(self.separator) else {
            return Ok(None);
        };
        match key {
            "#set_separator" => {
                self.set_separator = unescape_char(value)
                    .ok_or_else(|| LineError::new("#set_separator", "not one character"))?;
            }
            "#empty_field" => self.empty = value.to_string(),
            "#unset_field" => self.unset = value.to_string(),
            "#fields" => return self.finish(value).map(Some),
            _ => {}
        }
        Ok(None)
    }

    fn finish(&self, fields: &str) -> Result<ZeekHeader, LineError> {
        let names: Vec<&str> = fields.split(self.separator).collect();
        let find = |name: &str| names.iter().position(|n| *n == name);
        let need = |name: &str| {
            find(name).ok_or_else(|| LineError::new("#fields", format!("no `{name}` column")))
        };
        Ok(ZeekHeader {
            separator: self.separator,
            set_separator: self.set_separator,
            empty: self.empty.clone(),
            unset: self.unset.clone(),
            ts: need("ts")?,
            query: need("query")?,
            qtype_name: find("qtype_name"),
            rcode_name: find("rcode_name"),
            answers: need("answers")?,
            ttls: find("TTLs"),
            columns: names.len(),
        })
    }
}

/// `\x09` style escapes as used in Zeek headers, or a literal character.
fn unescape_char(text: &str) -> Option<char> {
    let unescaped = unescape(text);
    let mut chars = unescaped.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// Undoes Zeek's `\xHH` escaping of separators and non-printable bytes.
fn unescape(text: &str) -> String {
    if !text.contains("\\x") {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x'))
            .then(|| text.get(i + 2..i + 4))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(b) = escaped {
            out.push(b);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn parse_tsv_line(
    line: &str,
    header: &ZeekHeader,
    ctx: &LineContext,
    out: &mut Vec<Record>,
) -> Result<LineNote, LineError> {
    if line.starts_with('#') {
        return Ok(LineNote::None);
    }
    let cols: Vec<&str> = line.split(header.separator).collect();
    if cols.len() != header.columns {
        return Err(LineError::whole(format!(
            "{} columns, the `#fields` header has {}",
            cols.len(),
            header.columns
        )));
    }
    let is_unset = |v: &str| v == header.unset || v == header.empty;
    let rcode = header.rcode_name.map(|i| cols[i]).filter(|v| !is_unset(v));
    let answers_text = cols[header.answers];
    if is_unset(answers_text) || rcode.is_some_and(|r| r != "NOERROR") {
        return Ok(LineNote::NoAnswer);
    }
    let ts = decimal_seconds_to_ms("ts", cols[header.ts])?;
    let answers: Vec<String> = answers_text
        .split(header.set_separator)
        .map(unescape)
        .collect();
    let ttls: Vec<Option<f64>> = match header.ttls.map(|i| cols[i]).filter(|v| !is_unset(v)) {
        None => vec![None; answers.len()],
        Some(text) => text
            .split(header.set_separator)
            .map(|t| {
                t.parse::<f64>()
                    .map(Some)
                    .map_err(|_| LineError::new("TTLs", format!("`{t}` is not a TTL")))
            })
            .collect::<Result<_, _>>()?,
    };
    if is_unset(cols[header.query]) {
        return Err(LineError::new("query", "unset"));
    }
    let query = unescape(cols[header.query]);
    let qtype = header.qtype_name.map(|i| cols[i]).filter(|v| !is_unset(v));
    emit(&query, qtype, ts, &answers, &ttls, ctx, out)?;
    Ok(LineNote::None)
}

#[derive(Deserialize)]
struct JsonLine {
    #[serde(rename = "_path")]
    path: Option<String>,
    ts: Option<Value>,
    query: Option<String>,
    qtype_name: Option<String>,
    rcode_name: Option<String>,
    answers: Option<Vec<String>>,
    #[serde(rename = "TTLs")]
    ttls: Option<Vec<f64>>,
}

pub(super) fn parse_json_line(
    line: &str,
    ctx: &LineContext,
    out: &mut Vec<Record>,
) -> Result<LineNote, LineError> {
    let j: JsonLine = serde_json::from_str(line)
        .map_err(|e| LineError::whole(format!("not a Zeek DNS JSON object: {e}")))?;
    // Only a line that is a DNS transaction may be counted as one without answers; anything
    // else fed in as Zeek JSON is a reject, not a silent skip.
    if let Some(path) = j.path.as_deref().filter(|p| *p != "dns") {
        return Err(LineError::new(
            "_path",
            format!("`{path}` is not a dns.log line"),
        ));
    }
    if j.ts.is_none() {
        return Err(LineError::new("ts", "missing"));
    }
    let Some(answers) = j.answers.filter(|a| !a.is_empty()) else {
        return Ok(LineNote::NoAnswer);
    };
    if j.rcode_name.as_deref().is_some_and(|r| r != "NOERROR") {
        return Ok(LineNote::NoAnswer);
    }
    if j.query.as_deref().is_none_or(str::is_empty) {
        return Err(LineError::new("query", "missing"));
    }
    let ts = match j
        .ts
        .as_ref()
        .ok_or_else(|| LineError::new("ts", "missing"))?
    {
        Value::Number(n) => seconds_to_ms("ts", n.as_f64().unwrap_or(f64::NAN))?,
        Value::String(s) => parse_iso(s)?,
        other => return Err(LineError::new("ts", format!("`{other}` is not a time"))),
    };
    let ttls: Vec<Option<f64>> = match j.ttls {
        Some(t) => t.into_iter().map(Some).collect(),
        None => vec![None; answers.len()],
    };
    let query = j.query.ok_or_else(|| LineError::new("query", "missing"))?;
    emit(
        &query,
        j.qtype_name.as_deref(),
        ts,
        &answers,
        &ttls,
        ctx,
        out,
    )?;
    Ok(LineNote::None)
}

/// Zeek's `JSON::TS_ISO8601` timestamps, with microseconds kept to the millisecond.
fn parse_iso(text: &str) -> Result<i64, LineError> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| LineError::new("ts", format!("`{text}`: {e}")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn emit(
    query: &str,
    qtype: Option<&str>,
    ts: i64,
    answers: &[String],
    ttls: &[Option<f64>],
    ctx: &LineContext,
    out: &mut Vec<Record>,
) -> Result<(), LineError> {
    if ttls.len() != answers.len() {
        return Err(LineError::new(
            "TTLs",
            format!("{} TTLs for {} answers", ttls.len(), answers.len()),
        ));
    }
    let start = out.len();
    for (answer, ttl) in answers.iter().zip(ttls) {
        let ttl = ttl.map(|t| ttl_from_f64("TTLs", t)).transpose();
        let built = ttl.and_then(|ttl| {
            RawRecord {
                name: query,
                rrtype: answer_type(answer, qtype),
                rdata: answer,
                first_ms: ts,
                last_ms: ts,
                count: 1,
                min_ttl: ttl,
                max_ttl: ttl,
            }
            .build("query", "answers", ctx.sensor.as_deref())
        });
        match built {
            Ok(record) => out.push(record),
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The rrtype of one answer: addresses by family; answers that Zeek renders with their type
/// in front (`RRSIG 5 mozilla.net`, `TXT 28 v=spf1 ...`, `DNSKEY ...`) by that type;
/// otherwise the query type for types whose answers are not addresses, otherwise CNAME (a
/// name answering an A/AAAA query).
fn answer_type(answer: &str, qtype: Option<&str>) -> RrType {
    match answer.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => RrType::A,
        Ok(IpAddr::V6(_)) => RrType::AAAA,
        Err(_) => {
            if let Some(t) = typed_text(answer) {
                return t;
            }
            match qtype.and_then(|q| q.parse::<RrType>().ok()) {
                Some(t) if !t.is_address() && t != RrType(255) => t,
                _ => RrType::CNAME,
            }
        }
    }
}

fn typed_text(answer: &str) -> Option<RrType> {
    let (first, _) = answer.split_once(' ')?;
    if first.is_empty()
        || !first
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return None;
    }
    let t = first.parse::<RrType>().ok()?;
    (t.name() == Some(first) && !t.rdata_is_name() && !t.is_address()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn header() -> ZeekHeader {
        let mut b = ZeekHeaderBuilder::default();
        let text = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#fields\tts\tuid\tquery\tqtype_name\trcode_name\tanswers\tTTLs";
        let mut found = None;
        for line in text.lines() {
            if let Some(h) = b.line(line).unwrap() {
                found = Some(h);
            }
        }
        found.unwrap()
    }

    fn ctx() -> LineContext {
        LineContext {
            zeek: Some(Arc::new(header())),
            ..LineContext::default()
        }
    }

    fn tsv(line: &str) -> Result<(LineNote, Vec<Record>), LineError> {
        let mut out = Vec::new();
        let c = ctx();
        let note = parse_tsv_line(line, c.zeek.as_ref().unwrap(), &c, &mut out)?;
        Ok((note, out))
    }

    #[test]
    fn zips_answers_with_ttls_and_classifies_them() {
        let (_, recs) =
            tsv("1521911720.865716\tC1\tise.wrccdc.org\tA\tNOERROR\tise.wrccdc.cpp.edu,134.71.3.16\t2230.000000,41830.000000")
                .unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (recs[0].rrtype, recs[0].rdata.as_str()),
            (RrType::CNAME, "ise.wrccdc.cpp.edu")
        );
        assert_eq!((recs[1].rrtype, recs[1].min_ttl), (RrType::A, Some(41830)));
        assert_eq!(recs[1].first_seen, 1_521_911_720_865);
    }

    #[test]
    fn unanswered_and_failed_queries_are_noted_not_rejected() {
        assert_eq!(
            tsv("1.0\tC1\ta.example\tA\t-\t-\t-").unwrap().0,
            LineNote::NoAnswer
        );
        assert_eq!(
            tsv("1.0\tC1\ta.example\tA\tNXDOMAIN\t-\t-").unwrap().0,
            LineNote::NoAnswer
        );
    }

    #[test]
    fn ptr_answers_keep_the_query_type_and_escapes_are_undone() {
        let (_, recs) =
            tsv("1.0\tC1\t1.2.0.192.in-addr.arpa\tPTR\tNOERROR\thost.example\t60.0").unwrap();
        assert_eq!(recs[0].rrtype, RrType::PTR);
        let (_, recs) = tsv("1.0\tC1\ta.example\tTXT\tNOERROR\tTXT 5 a\\x2cb\t60.0").unwrap();
        assert_eq!(
            (recs[0].rrtype, recs[0].rdata.as_str()),
            (RrType::TXT, "TXT 5 a,b")
        );
        let (_, recs) = tsv("1.0\tC1\tcdn.example\tA\tNOERROR\tRRSIG 5 example\t60.0").unwrap();
        assert_eq!(
            (recs[0].rrtype, recs[0].rdata.as_str()),
            (RrType(46), "RRSIG 5 example")
        );
    }

    #[test]
    fn mismatched_ttls_and_column_counts_are_errors() {
        let err = tsv("1.0\tC1\ta.example\tA\tNOERROR\t192.0.2.1,192.0.2.2\t60.0").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("TTLs"));
        assert!(tsv("1.0\tC1\ta.example").is_err());
        assert_eq!(
            tsv("x\tC1\ta.example\tA\tNOERROR\t192.0.2.1\t60.0")
                .unwrap_err()
                .field
                .as_deref(),
            Some("ts")
        );
    }

    #[test]
    fn json_lines_that_are_not_dns_transactions_are_rejected() {
        let mut out = Vec::new();
        let ctx = LineContext::default();
        let cases = [
            (r#"{"foo":1}"#, "ts"),
            (r#"{"_path":"conn","ts":1.0,"uid":"C"}"#, "_path"),
            (r#"{"ts":1.0,"uid":"C","answers":["192.0.2.1"]}"#, "query"),
        ];
        for (line, field) in cases {
            let err = parse_json_line(line, &ctx, &mut out).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{line}");
        }
        let unanswered = r#"{"ts":1.0,"uid":"C","query":"a.example","rcode_name":"NXDOMAIN"}"#;
        assert_eq!(
            parse_json_line(unanswered, &ctx, &mut out).unwrap(),
            LineNote::NoAnswer
        );
        assert_eq!(
            tsv("1.0\tC1\t-\tA\tNOERROR\t192.0.2.1\t60.0")
                .unwrap_err()
                .field
                .as_deref(),
            Some("query")
        );
    }

    #[test]
    fn json_lines_with_iso_or_epoch_times() {
        let mut out = Vec::new();
        let line = r#"{"ts":"2018-03-24T17:15:20.865716Z","uid":"C","query":"ise.wrccdc.org","qtype_name":"A","rcode_name":"NOERROR","answers":["134.71.3.16"],"TTLs":[41830.0]}"#;
        parse_json_line(line, &LineContext::default(), &mut out).unwrap();
        let line = r#"{"ts":1521911720.865716,"uid":"C","query":"ise.wrccdc.org","qtype_name":"A","rcode_name":"NOERROR","answers":["134.71.3.16"],"TTLs":[41830.0]}"#;
        parse_json_line(line, &LineContext::default(), &mut out).unwrap();
        assert_eq!(out[0], out[1]);
    }
}
