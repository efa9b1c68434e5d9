//! COF (draft-dulaunoy-dnsop-passive-dns-cof) and Farsight DNSDB lines.
//!
//! Both carry the same object: `rrname`, `rrtype` (name or number), `rdata` (a string or an
//! array, one record per element), `time_first`/`time_last` in seconds (or DNSDB's
//! `zone_time_first`/`zone_time_last` for zone-file observations), optional `count` and, in
//! COF, `time_first_ms`/`time_last_ms` and `sensor_id`. DNSDB API v2 wraps objects in SAF
//! framing: `{"cond":"begin"}`, `{"obj":{...}}` lines, and a closing `{"cond":"succeeded"}`
//! (or `limited`/`failed`).

use pdnsrep_records::{Record, RrType};
use serde::Deserialize;
use serde_json::Value;

use super::{LineContext, LineNote, RawRecord, check_ms, seconds_to_ms};
use crate::error::LineError;

/// A SAF framing event (DNSDB API v2): a stream condition, or an `obj` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafEvent {
    Begin,
    Ongoing,
    Succeeded,
    Limited,
    Failed,
    Object,
}

/// One line: a plain object (COF, DNSDB v1), a SAF wrapper (`obj`), or a SAF condition.
#[derive(Deserialize, Default)]
struct Object {
    cond: Option<String>,
    obj: Option<Box<Object>>,
    rrname: Option<Value>,
    rrtype: Option<Value>,
    rdata: Option<Value>,
    time_first: Option<Value>,
    time_last: Option<Value>,
    zone_time_first: Option<Value>,
    zone_time_last: Option<Value>,
    time_first_ms: Option<Value>,
    time_last_ms: Option<Value>,
    count: Option<Value>,
    sensor_id: Option<Value>,
}

pub(super) fn parse_line(
    line: &str,
    ctx: &LineContext,
    out: &mut Vec<Record>,
) -> Result<LineNote, LineError> {
    let parsed: Object = serde_json::from_str(line)
        .map_err(|e| LineError::whole(format!("not a JSON object: {e}")))?;
    if let Some(cond) = &parsed.cond {
        return parse_cond(cond).map(LineNote::Saf);
    }
    match &parsed.obj {
        Some(inner) => {
            parse_object(inner, ctx, out)?;
            Ok(LineNote::Saf(SafEvent::Object))
        }
        None => {
            parse_object(&parsed, ctx, out)?;
            Ok(LineNote::None)
        }
    }
}

fn parse_cond(cond: &str) -> Result<SafEvent, LineError> {
    Ok(match cond {
        "begin" => SafEvent::Begin,
        "ongoing" => SafEvent::Ongoing,
        "succeeded" => SafEvent::Succeeded,
        "limited" => SafEvent::Limited,
        "failed" => SafEvent::Failed,
        other => {
            return Err(LineError::new(
                "cond",
                format!("unknown SAF condition `{other}`"),
            ));
        }
    })
}

fn parse_object(obj: &Object, ctx: &LineContext, out: &mut Vec<Record>) -> Result<(), LineError> {
    let name = required_str(&obj.rrname, "rrname")?;
    let rrtype = parse_rrtype(obj.rrtype.as_ref().ok_or_else(|| missing("rrtype"))?)?;
    let (first_ms, last_ms) = times(obj)?;
    let count = match &obj.count {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_u64().ok_or_else(|| {
            LineError::new("count", format!("`{v}` is not a non-negative integer"))
        })?,
    };
    let sensor = match &obj.sensor_id {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Number(_)) | None | Some(Value::Null) => ctx.sensor.as_deref(),
        Some(_) => return Err(LineError::new("sensor_id", "not a string")),
    };
    let rdata: Vec<&str> = match obj.rdata.as_ref().ok_or_else(|| missing("rdata"))? {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| LineError::new("rdata", "array element is not a string"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(LineError::new(
                "rdata",
                "neither a string nor an array of strings",
            ));
        }
    };
    if rdata.is_empty() {
        return Err(LineError::new("rdata", "empty array"));
    }
    let start = out.len();
    for value in rdata {
        let raw = RawRecord {
            name,
            rrtype,
            rdata: value,
            first_ms,
            last_ms,
            count,
            min_ttl: None,
            max_ttl: None,
        };
        match raw.build("rrname", "rdata", sensor) {
            Ok(record) => out.push(record),
            Err(e) => {
                // A line is accepted or rejected whole, so that a rerun after fixing it does
                // not double count the elements that went through.
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn times(obj: &Object) -> Result<(i64, i64), LineError> {
    let first = pick_time(
        &obj.time_first_ms,
        "time_first_ms",
        &obj.time_first,
        "time_first",
    )
    .or_else(|| pick_time(&None, "", &obj.zone_time_first, "zone_time_first"))
    .ok_or_else(|| missing("time_first"))??;
    let last = pick_time(
        &obj.time_last_ms,
        "time_last_ms",
        &obj.time_last,
        "time_last",
    )
    .or_else(|| pick_time(&None, "", &obj.zone_time_last, "zone_time_last"))
    .ok_or_else(|| missing("time_last"))??;
    Ok((first, last))
}

/// Prefers the millisecond field when present, else the seconds field.
fn pick_time(
    ms: &Option<Value>,
    ms_field: &str,
    secs: &Option<Value>,
    secs_field: &str,
) -> Option<Result<i64, LineError>> {
    if let Some(v) = ms.as_ref().filter(|v| !v.is_null()) {
        return Some(
            v.as_i64()
                .ok_or_else(|| LineError::new(ms_field, format!("`{v}` is not an integer")))
                .and_then(|ms| check_ms(ms_field, ms)),
        );
    }
    let v = secs.as_ref().filter(|v| !v.is_null())?;
    Some(match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| LineError::new(secs_field, "not a number"))
            .and_then(|s| seconds_to_ms(secs_field, s)),
        _ => Err(LineError::new(
            secs_field,
            format!("`{v}` is not a number of seconds"),
        )),
    })
}

pub(super) fn parse_rrtype(v: &Value) -> Result<RrType, LineError> {
    match v {
        Value::String(s) => s
            .parse::<RrType>()
            .map_err(|e| LineError::new("rrtype", e.to_string())),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(RrType)
            .ok_or_else(|| LineError::new("rrtype", format!("`{n}` is not a type number"))),
        other => Err(LineError::new("rrtype", format!("`{other}` is not a type"))),
    }
}

fn required_str<'a>(v: &'a Option<Value>, field: &str) -> Result<&'a str, LineError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(missing(field)),
        Some(_) => Err(LineError::new(field, "not a string")),
    }
}

fn missing(field: &str) -> LineError {
    LineError::new(field, "missing")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{Format, parse_line as dispatch};

    fn parse(line: &str) -> Result<(LineNote, Vec<Record>), LineError> {
        let mut out = Vec::new();
        let note = dispatch(Format::Cof, &LineContext::default(), line, &mut out)?;
        Ok((note, out))
    }

    #[test]
    fn cof_line_with_rdata_array_and_numeric_type() {
        let (_, recs) = parse(
            r#"{"rrname":"WWW.Example.com","rrtype":28,"rdata":["2001:db8::1","2001:DB8::2"],"time_first":1500000000,"time_last":1500000100,"count":7,"sensor_id":"s1","origin":"x"}"#,
        )
        .unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].name, "www.example.com");
        assert_eq!(recs[0].rrtype, RrType::AAAA);
        assert_eq!(recs[1].rdata, "2001:db8::2");
        assert_eq!(
            (recs[0].first_seen, recs[0].last_seen),
            (1_500_000_000_000, 1_500_000_100_000)
        );
        assert_eq!(recs[0].count, 7);
        assert_eq!(recs[0].sensor.as_deref(), Some("s1"));
    }

    #[test]
    fn millisecond_fields_win_over_seconds() {
        let (_, recs) = parse(
            r#"{"rrname":"a.test","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"time_first_ms":1234,"time_last_ms":2345}"#,
        )
        .unwrap();
        assert_eq!((recs[0].first_seen, recs[0].last_seen), (1234, 2345));
        assert_eq!(recs[0].count, 1);
    }

    #[test]
    fn dnsdb_saf_lines_and_zone_times() {
        assert_eq!(
            parse(r#"{"cond":"begin"}"#).unwrap().0,
            LineNote::Saf(SafEvent::Begin)
        );
        assert_eq!(
            parse(r#"{"cond":"limited","msg":"Result limit reached"}"#)
                .unwrap()
                .0,
            LineNote::Saf(SafEvent::Limited)
        );
        let (note, recs) = parse(
            r#"{"obj":{"count":3,"zone_time_first":1400000000,"zone_time_last":1400001000,"rrname":"example.com.","rrtype":"NS","bailiwick":"com.","rdata":["NS1.Example.NET.","ns2.example.net."]}}"#,
        )
        .unwrap();
        assert_eq!(note, LineNote::Saf(SafEvent::Object));
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].name, "example.com");
        assert_eq!(recs[0].rdata, "ns1.example.net");
        assert_eq!(recs[0].first_seen, 1_400_000_000_000);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}"#,
                "rrname",
            ),
            (
                r#"{"rrname":"a.test","rrtype":"NOPE","rdata":"x","time_first":1,"time_last":2}"#,
                "rrtype",
            ),
            (
                r#"{"rrname":"a.test","rrtype":"A","rdata":"nope","time_first":1,"time_last":2}"#,
                "rdata",
            ),
            (
                r#"{"rrname":"a.test","rrtype":"A","rdata":"192.0.2.1","time_last":2}"#,
                "time_first",
            ),
            (
                r#"{"rrname":"a.test","rrtype":"A","rdata":"192.0.2.1","time_first":"x","time_last":2}"#,
                "time_first",
            ),
            (
                r#"{"rrname":"a.test","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"count":-1}"#,
                "count",
            ),
            (
                r#"{"rrname":"a..test","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}"#,
                "rrname",
            ),
            (
                r#"{"rrname":"a.test","rrtype":"A","rdata":["192.0.2.1", 5],"time_first":1,"time_last":2}"#,
                "rdata",
            ),
            (
                r#"{"rrname":"a.test","rrtype":"A","rdata":"192.0.2.1","time_first":5,"time_last":2}"#,
                "time_last",
            ),
        ];
        for (line, field) in cases {
            let err = parse(line).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "for {line}: {err:?}");
        }
        assert_eq!(parse("not json").unwrap_err().field, None);
    }
}
