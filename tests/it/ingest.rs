//! `pdnsrep ingest` on the real Zeek capture and on fixtures written from each format's spec.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

use pdnsrep_records::{Record, RrType};

use crate::harness::{bin, fixture, ingest_json, read_records, run, shared};

fn by_key(records: Vec<Record>) -> BTreeMap<(String, u16, String), Record> {
    records
        .into_iter()
        .map(|r| ((r.name.clone(), r.rrtype.0, r.rdata.clone()), r))
        .collect()
}

#[test]
fn zeek_tsv_and_json_give_identical_record_sets() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = ingest_json(
        dir.path(),
        "raw/tsv",
        &[&shared("zeek-wrccdc2018/dns.log.gz")],
        &[],
    );
    let json = ingest_json(
        dir.path(),
        "raw/json",
        &[&shared("zeek-wrccdc2018/dns.ndjson.gz")],
        &[],
    );
    assert_eq!(tsv["inputs"][0]["format"], "zeek-tsv");
    assert_eq!(json["inputs"][0]["format"], "zeek-json");
    assert_eq!(tsv["rejected"], 0, "{tsv:#}");
    assert_eq!(json["rejected"], 0, "{json:#}");
    // 53,615 logged transactions plus the nine header and footer lines.
    assert_eq!(tsv["lines_read"], 53_624);
    let root = dir.path().to_str().unwrap();
    let (_, a) = read_records(root, "raw/tsv");
    let (_, b) = read_records(root, "raw/json");
    assert!(a.len() > 3_000);
    assert_eq!(a, b);
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
        .sum()
}

/// The derived COF file was made by a simpler recipe that calls Zeek's `RRSIG <type> <signer>`
/// answers CNAME or PTR records; pdnsrep types them as RRSIG, and its COF reader rejects the
/// derived lines because their rdata is not a name. Everything else must agree exactly.
#[test]
fn zeek_records_agree_with_the_derived_cof() {
    let dir = tempfile::tempdir().unwrap();
    ingest_json(
        dir.path(),
        "raw/zeek",
        &[&shared("zeek-wrccdc2018/dns.log.gz")],
        &[],
    );
    let summary = ingest_json(
        dir.path(),
        "raw/cof",
        &[&shared("zeek-wrccdc2018/pdns_cof_derived.jsonl.gz")],
        &[],
    );
    assert_eq!(summary["inputs"][0]["format"], "cof");
    assert_eq!(summary["lines_read"], 3_664);
    let root = dir.path().to_str().unwrap();
    let (rrsig, zeek): (Vec<Record>, Vec<Record>) = read_records(root, "raw/zeek")
        .1
        .into_iter()
        .partition(|r| r.rrtype == RrType(46));
    let zeek = by_key(zeek);
    let cof = by_key(read_records(root, "raw/cof").1);
    assert_eq!(summary["rejected"], rrsig.len() as u64);
    assert_eq!(
        summary["rejects_by_reason"]["rdata: bad name in rdata"],
        rrsig.len() as u64
    );
    assert_eq!(
        zeek.keys().collect::<Vec<_>>(),
        cof.keys().collect::<Vec<_>>()
    );
    for (key, z) in &zeek {
        let c = &cof[key];
        assert_eq!(z.count, c.count, "{key:?}");
        assert_eq!(z.first_seen / 1000, c.first_seen / 1000, "{key:?}");
        assert_eq!(z.last_seen / 1000, c.last_seen / 1000, "{key:?}");
        assert!(z.min_ttl.is_some() && c.min_ttl.is_none());
    }
}

#[test]
fn each_spec_fixture_parses_with_its_rejects_counted() {
    // (fixture, detected format, records written, rejected lines)
    let cases = [
        ("cof.jsonl", "cof", 4, 3),
        ("dnsdb-v1.jsonl", "dnsdb", 5, 0),
        ("dnsdb-v2-saf.jsonl", "dnsdb", 3, 0),
        ("mnemonic.json", "mnemonic", 3, 1),
        ("passivedns.log", "passivedns", 4, 1),
        ("passivedns.jsonl", "passivedns-json", 4, 1),
    ];
    for (name, format, written, rejected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let s = ingest_json(dir.path(), "raw/f", &[&fixture(name)], &[]);
        assert_eq!(s["inputs"][0]["format"], format, "{name}");
        assert_eq!(s["records_written"], written, "{name}: {s:#}");
        assert_eq!(s["rejected"], rejected, "{name}: {s:#}");
    }
}

#[test]
fn fixture_records_are_normalized_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    ingest_json(dir.path(), "raw/cof", &[&fixture("cof.jsonl")], &[]);
    let cof = by_key(read_records(root, "raw/cof").1);
    let merged = &cof[&("www.example.com".into(), 1, "192.0.2.1".into())];
    assert_eq!(
        (merged.count, merged.first_seen, merged.last_seen),
        (15, 1_499_999_000_000, 1_500_000_500_000)
    );
    assert_eq!(merged.sensor.as_deref(), Some("s1"));
    assert!(cof.contains_key(&("xn--bcher-kva.example".into(), 1, "198.51.100.7".into())));
    assert!(cof.contains_key(&("example.com".into(), 4000, "\\# 2 abcd".into())));

    ingest_json(dir.path(), "raw/pdns", &[&fixture("passivedns.log")], &[]);
    let pdns = by_key(read_records(root, "raw/pdns").1);
    let a = &pdns[&("www.l.google.com".into(), 1, "74.125.19.103".into())];
    assert_eq!((a.count, a.min_ttl, a.max_ttl), (5, Some(120), Some(286)));

    ingest_json(dir.path(), "raw/mn", &[&fixture("mnemonic.json")], &[]);
    let mn = by_key(read_records(root, "raw/mn").1);
    let cname = &mn[&(
        "www.tinyurl.com".into(),
        RrType::CNAME.0,
        "tinyurl.com".into(),
    )];
    assert_eq!(
        cname.first_seen, 1_400_000_000_000,
        "partial results fall back to createdTimestamp"
    );
}

#[test]
fn a_truncated_saf_stream_is_reported_and_strict_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = ingest_json(
        dir.path(),
        "raw/t",
        &[&fixture("dnsdb-v2-truncated.jsonl")],
        &[],
    );
    let warning = s["inputs"][0]["warnings"][0].as_str().unwrap();
    assert!(warning.contains("truncated"), "{warning}");

    let out = run(bin()
        .args(["ingest", "--strict", "--out"])
        .arg(dir.path())
        .arg(fixture("dnsdb-v2-truncated.jsonl")));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dnsdb-v2-truncated.jsonl` is incomplete: truncated"),
        "{stderr}"
    );
}

#[test]
fn strict_stops_at_the_first_bad_line_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(bin()
        .args(["ingest", "--strict", "--out"])
        .arg(dir.path())
        .arg(fixture("cof.jsonl")));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cof.jsonl:5: field `rdata`: `not-an-ip` is not an IPv4 address"),
        "{stderr}"
    );
    assert!(!dir.path().join("raw/default/_manifest.json").exists());
}

#[test]
fn rejects_are_kept_beside_the_dataset_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let s = ingest_json(dir.path(), "raw/r", &[&fixture("cof.jsonl")], &[]);
    let reasons = s["rejects_by_reason"].as_object().unwrap();
    assert_eq!(
        reasons["rdata: `…` is not an IPv4 address"], 1,
        "{reasons:?}"
    );
    assert_eq!(reasons["not a JSON object"], 1, "{reasons:?}");
    assert_eq!(reasons["time_first: missing"], 1, "{reasons:?}");
    let file = s["rejects_file"]
        .as_str()
        .unwrap()
        .trim_start_matches("file://");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let numbers: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [5, 6, 7]);
    assert!(lines[0]["file"].as_str().unwrap().ends_with("cof.jsonl"));
}

#[test]
fn stdin_zstd_and_folders_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir_all(inputs.join("nested")).unwrap();
    let raw = std::fs::read(fixture("dnsdb-v1.jsonl")).unwrap();
    std::fs::write(
        inputs.join("nested/a.jsonl.zst"),
        zstd::encode_all(&raw[..], 3).unwrap(),
    )
    .unwrap();
    std::fs::copy(fixture("passivedns.log"), inputs.join("b.log")).unwrap();
    let s = ingest_json(dir.path(), "raw/dir", &[&inputs], &[]);
    assert_eq!(s["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(s["records_written"], 9);

    let mut child = bin()
        .args(["ingest", "--json", "--dataset", "raw/stdin", "--out"])
        .arg(dir.path())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    let out = child.wait_with_output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["inputs"][0]["path"], "-");
    assert_eq!(s["records_written"], 5);
}

#[test]
fn unknown_content_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.txt");
    std::fs::write(&input, "hello world\n").unwrap();
    let out = run(bin().args(["ingest", "--out"]).arg(dir.path()).arg(&input));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot tell the format of") && stderr.contains("--format"),
        "{stderr}"
    );
}

#[test]
fn a_rerun_replaces_the_dataset_and_output_is_order_independent() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixture("dnsdb-v1.jsonl");
    let b = fixture("passivedns.log");
    let first = ingest_json(dir.path(), "raw/x", &[&a, &b], &["--buckets", "4"]);
    let second = ingest_json(
        dir.path(),
        "raw/x",
        &[&b, &a],
        &["--buckets", "4", "--threads", "1"],
    );
    assert_eq!(first["records_written"], second["records_written"]);
    let (manifest, records) = read_records(dir.path().to_str().unwrap(), "raw/x");
    let files = count_files(&dir.path().join("raw/x"));
    assert_eq!(
        files,
        manifest.parts.len() + manifest.sidecars.len() + 1,
        "old parts were removed"
    );
    let mut sorted = records.clone();
    sorted.sort_by(|x, y| (&x.name, x.rrtype, &x.rdata).cmp(&(&y.name, y.rrtype, &y.rdata)));
    assert_eq!(records.len(), manifest.rows as usize);
    let digests: Vec<_> = manifest.parts.iter().map(|p| p.sha256.clone()).collect();
    let third = ingest_json(dir.path(), "raw/x", &[&a, &b], &["--buckets", "4"]);
    assert_eq!(third["records_written"], first["records_written"]);
    let (again, _) = read_records(dir.path().to_str().unwrap(), "raw/x");
    let digests_again: Vec<_> = again.parts.iter().map(|p| p.sha256.clone()).collect();
    assert_eq!(digests, digests_again, "same inputs, byte-identical parts");
}

#[test]
fn saf_framing_errors_are_reported_and_strict_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let obj = r#"{"obj":{"count":1,"time_first":1,"time_last":2,"rrname":"a.example.","rrtype":"A","rdata":["192.0.2.1"]}}"#;
    let cases = [
        (
            format!(
                "{{\"cond\":\"begin\"}}\n{obj}\n{{\"cond\":\"begin\"}}\n{obj}\n{{\"cond\":\"succeeded\"}}\n"
            ),
            "line 1 ended without `succeeded`",
        ),
        (
            format!("{{\"cond\":\"begin\"}}\n{{\"cond\":\"succeeded\"}}\n{obj}\n"),
            "1 objects outside",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let input = dir.path().join(format!("saf{i}.jsonl"));
        std::fs::write(&input, text).unwrap();
        let s = ingest_json(dir.path(), "raw/saf", &[&input], &[]);
        let warnings = s["inputs"][0]["warnings"].to_string();
        assert!(warnings.contains(expected), "{warnings}");
        let out = run(bin()
            .args(["ingest", "--strict", "--out"])
            .arg(dir.path())
            .arg(&input));
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn a_bom_and_empty_files_are_handled_and_unknown_files_stop_the_run_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend(std::fs::read(fixture("dnsdb-v1.jsonl")).unwrap());
    std::fs::write(inputs.join("a.jsonl"), bom).unwrap();
    std::fs::write(inputs.join("b.jsonl"), "").unwrap();
    let s = ingest_json(dir.path(), "raw/bom", &[&inputs], &[]);
    assert_eq!(
        (s["records_written"].as_u64(), s["rejected"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(s["inputs"][1]["format"], "empty");

    std::fs::write(inputs.join("README.md"), "# notes\n").unwrap();
    let out = run(bin().args(["ingest", "--out"]).arg(dir.path()).arg(&inputs));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("README.md") && stderr.contains("--format"),
        "{stderr}"
    );

    let out = run(bin()
        .args(["ingest", "--dataset", "../x", "--out"])
        .arg(dir.path())
        .arg(&inputs));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid dataset name `../x`"), "{stderr}");
}
