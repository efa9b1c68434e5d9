//! gamelinux/passivedns logs.
//!
//! Text mode writes `||`-separated fields chosen with `-f` (default `SMcsCQTAtn`: timestamp
//! seconds and microseconds joined by a dot, client, server, class, query, type, answer, TTL,
//! count). JSON mode (`-j`) writes objects with `timestamp_s`, `timestamp_ms`, `client`,
//! `server`, `class`, `query`, `type`, `answer`, `ttl` and `count`.

use pdnsrep_records::{Record, RrType};
use serde::Deserialize;
use serde_json::Value;

use super::pdns_json::parse_rrtype;
use super::{LineContext, LineNote, RawRecord, decimal_seconds_to_ms, seconds_to_ms, ttl_from_f64};
use crate::error::LineError;

/// The `-f` field letters of a passivedns text log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveDnsFields {
    letters: Vec<char>,
}

impl Default for PassiveDnsFields {
    fn default() -> Self {
        PassiveDnsFields {
            letters: "SMcsCQTAtn".chars().collect(),
        }
    }
}

const KNOWN: &str = "HSMcsCQTAtnphLl";

impl std::str::FromStr for PassiveDnsFields {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(c) = s.chars().find(|c| !KNOWN.contains(*c)) {
            return Err(format!(
                "unknown passivedns field letter `{c}` (known: {KNOWN})"
            ));
        }
        for (i, c) in s.char_indices() {
            if s[..i].contains(c) {
                return Err(format!(
                    "passivedns field letter `{c}` appears twice in `{s}`"
                ));
            }
        }
        for needed in ['Q', 'T', 'A'] {
            if !s.contains(needed) {
                return Err(format!("passivedns fields `{s}` lack `{needed}`"));
            }
        }
        if !s.contains('S') && !s.contains('H') {
            return Err(format!(
                "passivedns fields `{s}` carry no timestamp (`S` or `H`)"
            ));
        }
        Ok(PassiveDnsFields {
            letters: s.chars().collect(),
        })
    }
}

impl PassiveDnsFields {
    /// The letters grouped into output columns: `S` directly followed by `M` share one column
    /// (`seconds.microseconds`).
    fn columns(&self) -> Vec<&[char]> {
        let mut cols = Vec::new();
        let mut i = 0;
        while i < self.letters.len() {
            let joined = self.letters[i] == 'S' && self.letters.get(i + 1) == Some(&'M');
            let width = if joined { 2 } else { 1 };
            cols.push(&self.letters[i..i + width]);
            i += width;
        }
        cols
    }
}

#[derive(Default)]
struct Fields<'a> {
    class: Option<&'a str>,
    secs: Option<&'a str>,
    human: Option<&'a str>,
    query: Option<&'a str>,
    rrtype: Option<&'a str>,
    answer: Option<&'a str>,
    ttl: Option<&'a str>,
    count: Option<&'a str>,
    host: Option<&'a str>,
}

pub(super) fn parse_text_line(
    line: &str,
    ctx: &LineContext,
    out: &mut Vec<Record>,
) -> Result<LineNote, LineError> {
    if line.starts_with('#') {
        return Ok(LineNote::None);
    }
    let columns = ctx.passivedns.columns();
    let tokens: Vec<&str> = line.split("||").collect();
    if tokens.len() != columns.len() {
        return Err(LineError::whole(format!(
            "{} fields, the layout `{}` has {}",
            tokens.len(),
            ctx.passivedns.letters.iter().collect::<String>(),
            columns.len()
        )));
    }
    let mut f = Fields::default();
    for (col, token) in columns.iter().zip(&tokens) {
        match col[0] {
            'S' => f.secs = Some(token),
            'H' => f.human = Some(token),
            'C' => f.class = Some(token),
            'Q' => f.query = Some(token),
            'T' => f.rrtype = Some(token),
            'A' => f.answer = Some(token),
            't' => f.ttl = Some(token),
            'n' => f.count = Some(token),
            'h' => f.host = Some(token),
            _ => {}
        }
    }
    check_class(f.class)?;
    let ts_ms = match (f.secs, f.human) {
        (Some(s), _) => decimal_seconds_to_ms("timestamp", s)?,
        (None, Some(h)) => parse_human(h)?,
        (None, None) => return Err(LineError::new("timestamp", "missing")),
    };
    let rrtype_text = f.rrtype.unwrap_or_default().trim();
    let rrtype = rrtype_text
        .parse::<RrType>()
        .map_err(|e| LineError::new("type", e.to_string()))?;
    let ttl = match f.ttl {
        Some(t) => Some(
            t.trim()
                .parse::<u32>()
                .map_err(|_| LineError::new("ttl", format!("`{t}` is not a TTL")))?,
        ),
        None => None,
    };
    let count = match f.count {
        Some(c) => c
            .trim()
            .parse::<u64>()
            .map_err(|_| LineError::new("count", format!("`{c}` is not a count")))?,
        None => 1,
    };
    let raw = RawRecord {
        name: f.query.unwrap_or_default(),
        rrtype,
        rdata: f.answer.unwrap_or_default(),
        first_ms: ts_ms,
        last_ms: ts_ms,
        count,
        min_ttl: ttl,
        max_ttl: ttl,
    };
    let sensor = f.host.or(ctx.sensor.as_deref());
    out.push(raw.build("query", "answer", sensor)?);
    Ok(LineNote::None)
}

/// Reputation is about the Internet class; CHAOS and Hesiod answers (`version.bind`) are not
/// records of it.
fn check_class(class: Option<&str>) -> Result<(), LineError> {
    match class.map(str::trim) {
        None | Some("IN") | Some("") => Ok(()),
        Some(other) => Err(LineError::new(
            "class",
            format!("`{other}` is not the IN class"),
        )),
    }
}

/// `H` timestamps: `YYYY-MM-DD HH:MM:SS`, UTC.
fn parse_human(text: &str) -> Result<i64, LineError> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text.trim(), format)
        .map(|t| t.assume_utc().unix_timestamp() * 1000)
        .map_err(|e| LineError::new("timestamp", format!("`{text}`: {e}")))
}

#[derive(Deserialize)]
struct JsonLine {
    class: Option<String>,
    timestamp_s: Option<Value>,
    timestamp_ms: Option<Value>,
    query: Option<Value>,
    #[serde(rename = "type")]
    rrtype: Option<Value>,
    answer: Option<Value>,
    ttl: Option<Value>,
    count: Option<Value>,
}

pub(super) fn parse_json_line(
    line: &str,
    ctx: &LineContext,
    out: &mut Vec<Record>,
) -> Result<LineNote, LineError> {
    let j: JsonLine = serde_json::from_str(line)
        .map_err(|e| LineError::whole(format!("not a JSON object: {e}")))?;
    let secs = j
        .timestamp_s
        .as_ref()
        .and_then(Value::as_f64)
        .ok_or_else(|| LineError::new("timestamp_s", "missing or not a number"))?;
    check_class(j.class.as_deref())?;
    // `timestamp_ms` holds the sub-second part in microseconds (struct timeval's tv_usec).
    let micros = j
        .timestamp_ms
        .as_ref()
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    if !(0.0..1e6).contains(&micros) {
        return Err(LineError::new(
            "timestamp_ms",
            format!("{micros} is not a microsecond part"),
        ));
    }
    let ts = seconds_to_ms("timestamp_s", secs + micros / 1e6)?;
    let rrtype = parse_rrtype(
        j.rrtype
            .as_ref()
            .ok_or_else(|| LineError::new("type", "missing"))?,
    )
    .map_err(|e| LineError::new("type", e.reason))?;
    let ttl = match &j.ttl {
        Some(v) => Some(ttl_from_f64(
            "ttl",
            v.as_f64()
                .ok_or_else(|| LineError::new("ttl", "not a number"))?,
        )?),
        None => None,
    };
    let count = match &j.count {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| LineError::new("count", format!("`{v}` is not a count")))?,
        None => 1,
    };
    let text = |v: &Option<Value>, field: &str| -> Result<String, LineError> {
        match v {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(LineError::new(field, "missing or not a string")),
        }
    };
    let raw = RawRecord {
        name: &text(&j.query, "query")?,
        rrtype,
        rdata: &text(&j.answer, "answer")?,
        first_ms: ts,
        last_ms: ts,
        count,
        min_ttl: ttl,
        max_ttl: ttl,
    };
    out.push(raw.build("query", "answer", ctx.sensor.as_deref())?);
    Ok(LineNote::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{Format, parse_line};
    use std::sync::Arc;

    fn parse(format: Format, ctx: &LineContext, line: &str) -> Result<Vec<Record>, LineError> {
        let mut out = Vec::new();
        parse_line(format, ctx, line, &mut out)?;
        Ok(out)
    }

    #[test]
    fn default_text_layout() {
        let ctx = LineContext::default();
        let recs = parse(
            Format::PassiveDns,
            &ctx,
            "1216691467.389299||192.168.1.64||192.168.1.254||IN||www.google.com.||CNAME||www.l.google.com.||540811||3",
        )
        .unwrap();
        assert_eq!(recs[0].name, "www.google.com");
        assert_eq!(recs[0].rrtype, RrType::CNAME);
        assert_eq!(recs[0].rdata, "www.l.google.com");
        assert_eq!(recs[0].first_seen, 1_216_691_467_389);
        assert_eq!((recs[0].min_ttl, recs[0].count), (Some(540_811), 3));
    }

    #[test]
    fn custom_layout_with_human_time_and_host() {
        let ctx = LineContext {
            passivedns: Arc::new("HhQTAt".parse().unwrap()),
            ..LineContext::default()
        };
        let recs = parse(
            Format::PassiveDns,
            &ctx,
            "2012-01-02 03:04:05||sensor-7||a.example.||A||192.0.2.9||30",
        )
        .unwrap();
        assert_eq!(recs[0].first_seen, 1_325_473_445_000);
        assert_eq!(recs[0].sensor.as_deref(), Some("sensor-7"));
        assert_eq!(recs[0].count, 1);
        assert!("SMcsXQTA".parse::<PassiveDnsFields>().is_err());
        assert!("SQTAA".parse::<PassiveDnsFields>().is_err());
        let chaos = "1.0||c||s||CH||version.bind.||TXT||x||0||1";
        assert_eq!(
            parse(Format::PassiveDns, &LineContext::default(), chaos)
                .unwrap_err()
                .field
                .as_deref(),
            Some("class")
        );
        assert!("SMcs".parse::<PassiveDnsFields>().is_err());
    }

    #[test]
    fn text_errors_name_fields() {
        let ctx = LineContext::default();
        let bad_ttl = "1216691467.1||c||s||IN||a.example.||A||192.0.2.1||x||1";
        assert_eq!(
            parse(Format::PassiveDns, &ctx, bad_ttl)
                .unwrap_err()
                .field
                .as_deref(),
            Some("ttl")
        );
        let short = "1216691467.1||c||s||IN||a.example.";
        assert_eq!(
            parse(Format::PassiveDns, &ctx, short).unwrap_err().field,
            None
        );
        let bad_ip = "1216691467.1||c||s||IN||a.example.||A||999.0.2.1||5||1";
        assert_eq!(
            parse(Format::PassiveDns, &ctx, bad_ip)
                .unwrap_err()
                .field
                .as_deref(),
            Some("answer")
        );
    }

    #[test]
    fn json_mode() {
        let ctx = LineContext::default();
        let recs = parse(
            Format::PassiveDnsJson,
            &ctx,
            r#"{"timestamp_s":1216691467,"timestamp_ms":389299,"client":"10.0.0.1","server":"10.0.0.2","class":"IN","query":"a.example.","type":"AAAA","answer":"2001:db8::5","ttl":300,"count":2}"#,
        )
        .unwrap();
        assert_eq!(recs[0].rrtype, RrType::AAAA);
        assert_eq!(recs[0].first_seen, 1_216_691_467_389);
        assert_eq!(recs[0].count, 2);
    }
}
