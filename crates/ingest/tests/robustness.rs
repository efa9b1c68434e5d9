//! Parsers never panic on hostile input, and every bad line is counted.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::Arc;

use pdnsrep_ingest::formats::{LineContext, ZeekHeaderBuilder, parse_line, parse_mnemonic};
use pdnsrep_ingest::{Format, IngestOptions, Progress, ingest};
use pdnsrep_records::Root;
use proptest::prelude::*;

fn zeek_ctx() -> LineContext {
    let mut b = ZeekHeaderBuilder::default();
    let header = b
        .line("#fields\tts\tuid\tquery\tqtype_name\trcode_name\tanswers\tTTLs")
        .unwrap()
        .unwrap();
    LineContext {
        zeek: Some(Arc::new(header)),
        ..LineContext::default()
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("A"),
            Just("aaaa"),
            Just("192.0.2.1"),
            Just("x.example.")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("rrname".to_string()),
            Just("rrtype".to_string()),
            Just("rdata".to_string()),
            Just("time_first".to_string()),
            Just("time_last".to_string()),
            Just("count".to_string()),
            Just("obj".to_string()),
            Just("cond".to_string()),
            Just("query".to_string()),
            Just("answer".to_string()),
            Just("answers".to_string()),
            Just("TTLs".to_string()),
            Just("ts".to_string()),
            Just("data".to_string()),
            Just("firstSeenTimestamp".to_string()),
            Just("timestamp_s".to_string()),
            Just("type".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let zeek = zeek_ctx();
        for format in Format::ALL {
            let ctx = if format == Format::ZeekTsv { &zeek } else { &LineContext::default() };
            let mut out = Vec::new();
            if format == Format::Mnemonic {
                parse_mnemonic(&text, ctx, |_, _| {});
            } else {
                for line in text.lines() {
                    let before = out.len();
                    if parse_line(format, ctx, line, &mut out).is_err() {
                        prop_assert_eq!(out.len(), before, "a rejected line adds no records");
                    }
                }
            }
        }
        let _ = Format::detect(&text.lines().collect::<Vec<_>>());
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let line = value.to_string();
        for format in [Format::Cof, Format::Dnsdb, Format::ZeekJson, Format::PassiveDnsJson] {
            let mut out = Vec::new();
            let _ = parse_line(format, &LineContext::default(), &line, &mut out);
        }
        let doc = serde_json::json!({"data": [value]}).to_string();
        let mut seen = 0;
        parse_mnemonic(&doc, &LineContext::default(), |_, _| seen += 1);
        prop_assert_eq!(seen, 1, "one element, one outcome");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Garbage interleaved with good lines: every good line's record arrives and every
    /// garbage line is counted as a reject, with its line number.
    #[test]
    fn every_bad_line_is_reported(garbage in proptest::collection::vec("[^{\n\r]*[!-~][^\n\r]*", 1..40), good in 1usize..40) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("mixed.jsonl");
        let mut file = std::fs::File::create(&input).unwrap();
        let mut bad_lines = Vec::new();
        let mut line_no = 0;
        for i in 0..good.max(garbage.len()) {
            if i < good {
                line_no += 1;
                writeln!(file, r#"{{"rrname":"h{i}.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}}"#).unwrap();
            }
            if let Some(g) = garbage.get(i) {
                line_no += 1;
                bad_lines.push(line_no);
                writeln!(file, "{g}").unwrap();
            }
        }
        drop(file);
        let root = Root::parse(dir.path().join("store").to_str().unwrap()).unwrap();
        let options = IngestOptions { format: Some(Format::Cof), threads: 2, ..IngestOptions::default() };
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (summary, _) = rt
            .block_on(ingest(&[input], &root, "raw/mixed", &options, Arc::new(Progress::default())))
            .unwrap();
        prop_assert_eq!(summary.records_written, good as u64);
        prop_assert_eq!(summary.rejected, garbage.len() as u64);
        let mut lines: Vec<u64> = Vec::new();
        let body = std::fs::read_dir(dir.path().join("store/raw/mixed"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("rejects.jsonl"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .unwrap();
        for l in body.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            lines.push(v["line"].as_u64().unwrap());
        }
        prop_assert_eq!(lines, bad_lines);
    }
}
