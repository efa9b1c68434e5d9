//! mnemonic passive DNS API v3 responses.
//!
//! A response is an envelope `{"responseCode": 200, "data": [...], ...}`, usually
//! pretty-printed, and a file may hold several (one per page). Each element carries `query`,
//! `answer`, a lower-case `rrtype`, `times` (the count), `firstSeenTimestamp` and
//! `lastSeenTimestamp` in milliseconds, `minTtl`/`maxTtl` and `flags`. Elements flagged as a
//! partial result may have zero first/last seen; those fall back to `createdTimestamp` and
//! `lastUpdatedTimestamp`.

use pdnsrep_records::Record;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::pdns_json::parse_rrtype;
use super::{LineContext, RawRecord, check_ms, ttl_from_f64};
use crate::error::LineError;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "responseCode")]
    response_code: Option<i64>,
    #[serde(borrow)]
    data: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Element {
    query: Option<Value>,
    answer: Option<Value>,
    rrtype: Option<Value>,
    times: Option<Value>,
    first_seen_timestamp: Option<Value>,
    last_seen_timestamp: Option<Value>,
    created_timestamp: Option<Value>,
    last_updated_timestamp: Option<Value>,
    min_ttl: Option<Value>,
    max_ttl: Option<Value>,
    flags: Option<Value>,
    partial_result: Option<Value>,
}

/// Parses every envelope in `text`, calling `emit` with the 1-based line where each element
/// (or a broken envelope) starts and what it yielded.
pub fn parse_document(
    text: &str,
    ctx: &LineContext,
    mut emit: impl FnMut(u64, Result<Vec<Record>, LineError>),
) {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() as u64 + 1;
    let mut resume = 0;
    while let Some(failed_at) = parse_from(text, resume, ctx, &line_of, &mut emit) {
        // A broken document cannot be parsed past; carry on with the next one, which starts
        // at a line opening with `{` (pretty-printed documents indent their inner lines).
        match text[failed_at..].find("\n{") {
            Some(next) => resume = failed_at + next + 1,
            None => break,
        }
    }
}

/// Parses the documents of `text` from byte `start`; returns where parsing failed, if it did.
fn parse_from(
    text: &str,
    start: usize,
    ctx: &LineContext,
    line_of: &impl Fn(usize) -> u64,
    emit: &mut impl FnMut(u64, Result<Vec<Record>, LineError>),
) -> Option<usize> {
    let rest = &text[start..];
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
    loop {
        let before = start + stream.byte_offset();
        let raw = match stream.next() {
            None => return None,
            Some(Ok(raw)) => raw,
            Some(Err(e)) => {
                let blank = text[before..].len() - text[before..].trim_start().len();
                let begin = before + blank;
                emit(
                    line_of(begin),
                    Err(LineError::whole(format!("not a JSON document: {e}"))),
                );
                // Resume after the point of failure, not after the document's start: a
                // broken document may hold lines that open with `{` too.
                let failed_line_start: usize = rest
                    .split_inclusive('\n')
                    .take(e.line().saturating_sub(1))
                    .map(str::len)
                    .sum();
                let failed_at = start + failed_line_start + e.column().saturating_sub(1);
                let mut failed_at = failed_at.clamp(begin, text.len());
                while !text.is_char_boundary(failed_at) {
                    failed_at -= 1;
                }
                return Some(failed_at);
            }
        };
        let envelope_line = line_of(offset_in(text, raw.get()));
        let envelope: Envelope<'_> = match serde_json::from_str(raw.get()) {
            Ok(env) => env,
            Err(e) => {
                emit(
                    envelope_line,
                    Err(LineError::whole(format!("not a response envelope: {e}"))),
                );
                continue;
            }
        };
        if let Some(code) = envelope.response_code.filter(|c| *c != 200) {
            emit(
                envelope_line,
                Err(LineError::new(
                    "responseCode",
                    format!("response code {code}"),
                )),
            );
            continue;
        }
        let Some(data) = envelope.data else {
            emit(envelope_line, Err(LineError::new("data", "missing")));
            continue;
        };
        for (i, element) in data.iter().enumerate() {
            let line = line_of(offset_in(text, element.get()));
            emit(
                line,
                parse_element(element.get(), ctx).map_err(|e| prefix_field(e, i)),
            );
        }
    }
}

/// Where the first non-blank character of `inner`, a slice of `outer`, sits within `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    let blank = inner.len() - inner.trim_start().len();
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize) + blank
}

fn prefix_field(mut e: LineError, i: usize) -> LineError {
    e.field = Some(match e.field {
        Some(f) => format!("data[{i}].{f}"),
        None => format!("data[{i}]"),
    });
    e
}

fn parse_element(text: &str, ctx: &LineContext) -> Result<Vec<Record>, LineError> {
    let el: Element =
        serde_json::from_str(text).map_err(|e| LineError::whole(format!("not an object: {e}")))?;
    let query = string(&el.query, "query")?;
    let answer = string(&el.answer, "answer")?;
    let rrtype = parse_rrtype(
        el.rrtype
            .as_ref()
            .ok_or_else(|| LineError::new("rrtype", "missing"))?,
    )?;
    let partial = is_partial(&el);
    let first = timestamp(&el.first_seen_timestamp, "firstSeenTimestamp")?;
    let last = timestamp(&el.last_seen_timestamp, "lastSeenTimestamp")?;
    let (first, last) = match (first, last) {
        (f, l) if partial && f.unwrap_or(0) == 0 && l.unwrap_or(0) == 0 => (
            timestamp(&el.created_timestamp, "createdTimestamp")?,
            timestamp(&el.last_updated_timestamp, "lastUpdatedTimestamp")?,
        ),
        other => other,
    };
    let first = first.ok_or_else(|| LineError::new("firstSeenTimestamp", "missing"))?;
    let last = last.ok_or_else(|| LineError::new("lastSeenTimestamp", "missing"))?;
    let count = match &el.times {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_u64().ok_or_else(|| {
            LineError::new("times", format!("`{v}` is not a non-negative integer"))
        })?,
    };
    let raw = RawRecord {
        name: query,
        rrtype,
        rdata: answer,
        first_ms: first,
        last_ms: last,
        count,
        min_ttl: ttl(&el.min_ttl, "minTtl")?,
        max_ttl: ttl(&el.max_ttl, "maxTtl")?,
    };
    Ok(vec![raw.build("query", "answer", ctx.sensor.as_deref())?])
}

fn is_partial(el: &Element) -> bool {
    let flagged = match &el.flags {
        Some(Value::Array(flags)) => flags.iter().any(|f| {
            f.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("partialResult"))
        }),
        _ => false,
    };
    flagged
        || el
            .partial_result
            .as_ref()
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

fn string<'a>(v: &'a Option<Value>, field: &str) -> Result<&'a str, LineError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(LineError::new(field, "missing")),
        Some(_) => Err(LineError::new(field, "not a string")),
    }
}

fn timestamp(v: &Option<Value>, field: &str) -> Result<Option<i64>, LineError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| LineError::new(field, format!("`{v}` is not milliseconds")))
            .and_then(|ms| check_ms(field, ms))
            .map(Some),
    }
}

fn ttl(v: &Option<Value>, field: &str) -> Result<Option<u32>, LineError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| LineError::new(field, "not a number"))
            .and_then(|f| ttl_from_f64(field, f))
            .map(Some),
        Some(_) => Err(LineError::new(field, "not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdnsrep_records::RrType;

    fn collect(text: &str) -> Vec<(u64, Result<Vec<Record>, LineError>)> {
        let mut out = Vec::new();
        parse_document(text, &LineContext::default(), |line, r| out.push((line, r)));
        out
    }

    const RESPONSE: &str = r#"{
  "responseCode": 200,
  "limit": 25,
  "count": 3,
  "data": [
    {"rrclass": "in", "rrtype": "a", "query": "Example.COM", "answer": "192.0.2.10",
     "times": 12, "firstSeenTimestamp": 1500000000000, "lastSeenTimestamp": 1500000500000,
     "minTtl": 60, "maxTtl": 3600, "flags": []},
    {"rrclass": "in", "rrtype": "cname", "query": "www.example.com", "answer": "example.com.",
     "times": 1, "firstSeenTimestamp": 0, "lastSeenTimestamp": 0,
     "createdTimestamp": 1400000000000, "lastUpdatedTimestamp": 1400000001000,
     "flags": ["partialResult"]},
    {"rrclass": "in", "rrtype": "a", "query": "bad.example.com", "answer": "not-an-ip",
     "times": 1, "firstSeenTimestamp": 1, "lastSeenTimestamp": 2}
  ],
  "messages": []
}"#;

    #[test]
    fn parses_elements_with_partial_fallback_and_reports_lines() {
        let items = collect(RESPONSE);
        assert_eq!(items.len(), 3);
        let first = items[0].1.as_ref().unwrap();
        assert_eq!(first[0].name, "example.com");
        assert_eq!(first[0].rrtype, RrType::A);
        assert_eq!(
            (first[0].min_ttl, first[0].max_ttl, first[0].count),
            (Some(60), Some(3600), 12)
        );
        let second = items[1].1.as_ref().unwrap();
        assert_eq!(
            (second[0].first_seen, second[0].last_seen),
            (1_400_000_000_000, 1_400_000_001_000)
        );
        assert_eq!(second[0].rdata, "example.com");
        let (line, bad) = &items[2];
        assert_eq!(*line, 13);
        assert_eq!(
            bad.as_ref().unwrap_err().field.as_deref(),
            Some("data[2].answer")
        );
    }

    #[test]
    fn several_envelopes_and_a_failed_response() {
        let text = format!(
            "{RESPONSE}\n{}\n{{\"responseCode\":503,\"data\":[]}}",
            RESPONSE.replace('\n', " ")
        );
        let items = collect(&text);
        assert_eq!(items.len(), 7);
        assert_eq!(
            items[6].1.as_ref().unwrap_err().field.as_deref(),
            Some("responseCode")
        );
        assert_eq!(items[3].0, 18);
    }

    #[test]
    fn a_broken_document_is_reported_at_its_line_and_the_next_ones_still_parse() {
        let one = RESPONSE.replace('\n', " ");
        let text = format!("{one}\ngarbage here\n{one}\n{{\"data\": [\n{{\"query\": }}\n{one}");
        let items = collect(&text);
        let errors: Vec<u64> = items
            .iter()
            .filter(|(_, r)| r.is_err() && r.as_ref().err().and_then(|e| e.field.clone()).is_none())
            .map(|(l, _)| *l)
            .collect();
        assert_eq!(errors, [2, 4]);
        let good = items.iter().filter(|(_, r)| r.is_ok()).count();
        assert_eq!(
            good,
            3 * 2,
            "three intact envelopes, two good elements each"
        );
    }
}
