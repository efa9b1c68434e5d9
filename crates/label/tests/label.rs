//! End to end: the Zeek-derived COF records of WRCCDC 2018, labelled with
//! `configs/lists/shared-data.toml`.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use pdnsrep_label::{
    EnrichConfig, ListsConfig, SplitConfig, SplitMethod, SuffixList, label_dataset, schema,
};
use pdnsrep_records::schema::{describe, records_to_batch};
use pdnsrep_records::{
    DatasetWriter, Record, Root, RrType, canonical_rdata, normalize_name, read_manifest, read_part,
};

fn shared_data() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        dir.join("SOURCES.md").is_file(),
        "shared test data not found at `{}`: check out `shared/` beside the repository",
        dir.display()
    );
    dir
}

fn zeek_records() -> Vec<Record> {
    let path = shared_data().join("zeek-wrccdc2018/pdns_cof_derived.jsonl.gz");
    let reader = pdnsrep_label::lists::open(&path).unwrap();
    let mut records = Vec::new();
    for line in reader.lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        let rrtype: RrType = s("rrtype").parse().unwrap();
        let (Ok(name), Ok(rdata)) = (
            normalize_name(&s("rrname")),
            canonical_rdata(rrtype, &s("rdata")),
        ) else {
            continue;
        };
        records.push(Record {
            name,
            rrtype,
            rdata,
            first_seen: v["time_first"].as_i64().unwrap() * 1000,
            last_seen: v["time_last"].as_i64().unwrap() * 1000,
            count: v["count"].as_u64().unwrap(),
            min_ttl: None,
            max_ttl: None,
            sensor: Some(s("sensor_id")),
        });
    }
    assert!(
        records.len() > 3000,
        "only {} records parsed",
        records.len()
    );
    records
}

fn ipsum_at_least(min: u32) -> HashSet<String> {
    let reader = pdnsrep_label::lists::open(&shared_data().join("ipsum/ipsum.txt.gz")).unwrap();
    reader
        .lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (ip, hits) = l.split_once('\t')?;
            (hits.trim().parse::<u32>().ok()? >= min).then(|| ip.to_string())
        })
        .collect()
}

struct Row {
    name: String,
    rdata: String,
    label: Option<String>,
    source: Option<String>,
    indicator: Option<String>,
    registered_domain: Option<String>,
    split: String,
}

fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let s = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_string::<i32>()
            .clone()
    };
    let (name, rdata, label, source, indicator, rd, split) = (
        s("name"),
        s("rdata"),
        s("label"),
        s("label_source"),
        s("label_indicator"),
        s("registered_domain"),
        s("split"),
    );
    let opt = |a: &arrow::array::StringArray, i| (!a.is_null(i)).then(|| a.value(i).to_string());
    (0..batch.num_rows())
        .map(|i| Row {
            name: name.value(i).into(),
            rdata: rdata.value(i).into(),
            label: opt(&label, i),
            source: opt(&source, i),
            indicator: opt(&indicator, i),
            registered_domain: opt(&rd, i),
            split: split.value(i).into(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeek_records_labelled_with_the_shared_lists() {
    let records = zeek_records();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
    let mut writer = DatasetWriter::new(&root, "raw/zeek", "raw-records");
    for chunk in records.chunks(1000) {
        writer
            .write_part("", &[records_to_batch(chunk).unwrap()])
            .await
            .unwrap();
    }
    let schema = pdnsrep_records::schema::record_schema();
    writer
        .commit(&schema, vec![], serde_json::Value::Null)
        .await
        .unwrap();

    let lists =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/lists/shared-data.toml");
    let config = ListsConfig::from_path(&lists).unwrap();
    let enrich = EnrichConfig {
        psl: None,
        mmdb: vec![shared_data().join("maxmind-test/GeoLite2-ASN-Test.mmdb")],
        prefixes: Some(shared_data().join("ipverse-country-ip-blocks/country_prefixes.csv.gz")),
    };
    let split = SplitConfig {
        method: SplitMethod::Grouped,
        fractions: [0.6, 0.2, 0.2],
        seed: 42,
    };
    let summary = label_dataset(
        &root,
        "raw/zeek",
        &root,
        "labelled/zeek",
        &config,
        &enrich,
        &split,
    )
    .await
    .unwrap();

    // The summary accounts for every record once, by label and by split.
    let n = records.len() as u64;
    assert_eq!(summary.records, n);
    assert_eq!(summary.labels.values().sum::<u64>(), n);
    assert_eq!(summary.splits.values().sum::<u64>(), n);
    assert_eq!(summary.labels["unlabelled"], summary.splits["unlabelled"]);
    let decided: u64 = summary.sources.iter().map(|s| s.labelled).sum();
    assert_eq!(decided, n - summary.labels["unlabelled"]);
    assert_eq!(
        summary.conflicts.by_labels.values().sum::<u64>(),
        summary.conflicts.records
    );
    assert!(summary.conflicts.records <= decided);
    assert!(summary.labels["benign"] > 0, "{summary}");
    assert!(summary.sources.iter().all(|s| s.entries > 0));
    let trails = summary
        .sources
        .iter()
        .find(|s| s.name == "maltrail-trails")
        .unwrap();
    assert!(trails.ignored["category not selected"] > 0);
    assert!(summary.enrichment.country.of > 0 && summary.enrichment.country.hits > 0);
    assert!(summary.enrichment.registered_domain.rate > 0.9);
    assert!((0.0..=1.0).contains(&summary.enrichment.country.rate));
    let text = summary.to_string();
    assert!(text.contains("conflicts:"), "{text}");
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["records"].as_u64(), Some(n));

    // The dataset written agrees with the summary, row by row.
    let manifest = read_manifest(&root, "labelled/zeek").await.unwrap();
    assert_eq!(manifest.schema, describe(&schema::labelled_schema()));
    assert_eq!(manifest.rows, n);
    assert_eq!(manifest.stats["records"].as_u64(), Some(n));
    let mut rows = Vec::new();
    for part in &manifest.parts {
        let folder = part.path.split('/').next().unwrap().to_string();
        for batch in read_part(&root, &manifest, part).await.unwrap() {
            for row in rows_of(&batch) {
                assert_eq!(folder, format!("split={}", row.split));
                rows.push(row);
            }
        }
    }
    assert_eq!(rows.len() as u64, n);
    let mut labels: HashMap<String, u64> = HashMap::new();
    for row in &rows {
        *labels
            .entry(row.label.clone().unwrap_or("unlabelled".into()))
            .or_default() += 1;
        assert_eq!(row.label.is_some(), row.source.is_some());
        assert_eq!(row.label.is_some(), row.indicator.is_some());
        assert_eq!(
            row.label.is_none(),
            row.split == "unlabelled",
            "{}",
            row.name
        );
    }
    for (label, count) in &summary.labels {
        assert_eq!(labels.get(label).copied().unwrap_or(0), *count, "{label}");
    }

    // Provenance checks against the lists themselves.
    let ipsum = ipsum_at_least(3);
    let psl = SuffixList::Bundled;
    for row in rows.iter().filter(|r| r.source.as_deref() == Some("ipsum")) {
        assert_eq!(row.indicator.as_deref(), Some(row.rdata.as_str()));
        assert!(
            ipsum.contains(&row.rdata),
            "{} not on ipsum with 3 hits",
            row.rdata
        );
    }
    for row in rows
        .iter()
        .filter(|r| r.source.as_deref() == Some("umbrella-top100k"))
    {
        let indicator = row.indicator.as_deref().unwrap();
        assert_eq!(
            psl.registered_domain(&row.name).unwrap_or(&row.name),
            indicator
        );
    }

    // Grouped split: no registered domain in two splits.
    let mut splits_of: HashMap<&str, HashSet<&str>> = HashMap::new();
    for row in rows.iter().filter(|r| r.label.is_some()) {
        let key = row.registered_domain.as_deref().unwrap_or(&row.name);
        splits_of.entry(key).or_default().insert(&row.split);
    }
    assert!(splits_of.values().all(|s| s.len() == 1));
}

#[tokio::test]
async fn a_list_that_fails_to_load_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
    let mut writer = DatasetWriter::new(&root, "raw/x", "raw-records");
    let record = Record {
        name: "a.example".into(),
        rrtype: RrType::A,
        rdata: "192.0.2.1".into(),
        first_seen: 0,
        last_seen: 0,
        count: 1,
        min_ttl: None,
        max_ttl: None,
        sensor: None,
    };
    writer
        .write_part("", &[records_to_batch(&[record]).unwrap()])
        .await
        .unwrap();
    writer
        .commit(
            &pdnsrep_records::schema::record_schema(),
            vec![],
            serde_json::Value::Null,
        )
        .await
        .unwrap();
    let toml =
        "[[source]]\nname = \"gone\"\nkind = \"block\"\nformat = \"ips\"\npath = \"missing.txt\"\n";
    let config = ListsConfig::parse(toml, dir.path(), std::path::Path::new("t.toml")).unwrap();
    let err = label_dataset(
        &root,
        "raw/x",
        &root,
        "labelled/x",
        &config,
        &EnrichConfig::default(),
        &SplitConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read list `gone` from"),
        "{err}"
    );
    assert!(
        read_manifest(&root, "labelled/x")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// One A record per host; `hosts` names the registered domain's hosts, all answering `ip`.
fn a_records(domain: &str, hosts: usize, ip: [u8; 4]) -> Vec<Record> {
    (0..hosts)
        .map(|h| Record {
            name: format!("h{h}.{domain}"),
            rrtype: RrType::A,
            rdata: std::net::Ipv4Addr::from(ip).to_string(),
            first_seen: 0,
            last_seen: 0,
            count: 1,
            min_ttl: None,
            max_ttl: None,
            sensor: None,
        })
        .collect()
}

/// A world shaped like shared hosting: 270 of 300 listed registered domains answer inside one
/// /24, which links them (and about 90% of labelled records) into one `grouped` group; the
/// other 30 each sit in their own /24. Unlisted domains on the shared /24 stay unlabelled and
/// must not count towards any group.
async fn shared_hosting_world(root: &Root, dir: &std::path::Path) -> (Vec<Record>, ListsConfig) {
    let mut records = Vec::new();
    let mut listed = String::new();
    for i in 0..300usize {
        let domain = format!("site{i}.com");
        let ip = if i < 270 {
            [203, 0, 113, (i % 250) as u8 + 1]
        } else {
            [198, 18, (i - 270) as u8, 1]
        };
        records.extend(a_records(&domain, 1 + i % 4, ip));
        listed.push_str(&format!("{domain}\n"));
    }
    for j in 0..40u8 {
        records.extend(a_records(&format!("other{j}.net"), 1, [203, 0, 113, j]));
    }
    let mut writer = DatasetWriter::new(root, "raw/shared", "raw-records");
    writer
        .write_part("", &[records_to_batch(&records).unwrap()])
        .await
        .unwrap();
    let schema = pdnsrep_records::schema::record_schema();
    writer
        .commit(&schema, vec![], serde_json::Value::Null)
        .await
        .unwrap();
    std::fs::write(dir.join("listed.txt"), listed).unwrap();
    let toml = "[[source]]\nname = \"listed\"\nkind = \"block\"\nformat = \"names\"\n\
                path = \"listed.txt\"\nmatch = \"registered-domain\"\n";
    let config = ListsConfig::parse(toml, dir, std::path::Path::new("t.toml")).unwrap();
    (records, config)
}

async fn labelled_rows(root: &Root, dataset: &str) -> Vec<Row> {
    let manifest = read_manifest(root, dataset).await.unwrap();
    let mut rows = Vec::new();
    for part in &manifest.parts {
        for batch in read_part(root, &manifest, part).await.unwrap() {
            rows.extend(rows_of(&batch));
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_slash24_collapses_grouped_but_not_grouped_domain() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
    let (records, config) = shared_hosting_world(&root, dir.path()).await;
    let fractions = [0.6, 0.2, 0.2];
    let run = |method, output: &'static str| {
        let (root, config) = (root.clone(), config.clone());
        async move {
            let split = SplitConfig {
                method,
                fractions,
                seed: 3,
            };
            let enrich = EnrichConfig::default();
            label_dataset(&root, "raw/shared", &root, output, &config, &enrich, &split)
                .await
                .unwrap()
        }
    };
    let labelled = records.iter().filter(|r| r.name.contains(".site")).count() as u64;

    // `grouped`: one group holds the shared /24's domains, so some split falls far short, and
    // the summary says so in text and JSON, naming the remedy.
    let grouped = run(SplitMethod::Grouped, "labelled/grouped").await;
    let groups = grouped.split_groups.clone().unwrap();
    assert_eq!(groups.labelled, labelled);
    assert_eq!(groups.groups, 31, "{groups:?}");
    assert!(groups.largest_share > 0.85, "{groups:?}");
    assert!(!grouped.split_warnings.is_empty(), "{grouped}");
    for w in &grouped.split_warnings {
        assert!(w.actual < w.requested / 2.0, "{w:?}");
        assert!(
            w.message
                .contains(&format!("{:.1}%", 100.0 * groups.largest_share)),
            "{w}"
        );
        assert!(w.message.contains("`grouped-domain`"), "{w}");
    }
    let text = grouped.to_string();
    assert!(text.contains("  warning: split `"), "{text}");
    assert!(text.contains("  split groups: 31, largest holds"), "{text}");
    let json = serde_json::to_value(&grouped).unwrap();
    assert_eq!(
        json["split_warnings"].as_array().unwrap().len(),
        grouped.split_warnings.len()
    );
    assert_eq!(json["split_groups"]["groups"].as_u64(), Some(31));

    // `grouped-domain`: 300 small groups deal close to the fractions, no warning, and still no
    // registered domain in two splits, while the shared /24 does cross splits.
    let by_domain = run(SplitMethod::GroupedDomain, "labelled/by-domain").await;
    assert!(by_domain.split_warnings.is_empty(), "{by_domain}");
    assert_eq!(by_domain.split_groups.as_ref().unwrap().groups, 300);
    for (split, want) in ["train", "valid", "test"].into_iter().zip(fractions) {
        let got = by_domain.splits[split] as f64 / labelled as f64;
        assert!((got - want).abs() < 0.03, "{split}: {got} {by_domain}");
    }
    let rows = labelled_rows(&root, "labelled/by-domain").await;
    assert_eq!(rows.len(), records.len());
    let mut splits_of: HashMap<String, HashSet<String>> = HashMap::new();
    let mut shared_net: HashSet<String> = HashSet::new();
    for row in &rows {
        assert_eq!(
            row.label.is_none(),
            row.split == "unlabelled",
            "{}",
            row.name
        );
        if row.label.is_some() {
            let domain = row.registered_domain.clone().unwrap();
            splits_of
                .entry(domain)
                .or_default()
                .insert(row.split.clone());
            if row.rdata.starts_with("203.0.113.") {
                shared_net.insert(row.split.clone());
            }
        }
    }
    assert_eq!(splits_of.len(), 300);
    assert!(splits_of.values().all(|s| s.len() == 1), "{splits_of:?}");
    assert_eq!(shared_net.len(), 3, "{shared_net:?}");
}
