//! The feature pipeline on small hand-built worlds with known answers.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Float32Type, Int32Type, Schema, UInt8Type};
use pdnsrep_features::{FeatureOptions, Neighbours, compute_features, is_neighbour_feature};
use pdnsrep_records::features::{CharEncoding, FeaturizerSpec, NumericFeature};
use pdnsrep_records::schema::records_to_batch;
use pdnsrep_records::{DatasetWriter, Manifest, Record, Root, RrType, read_manifest, read_part};

/// One labelled record of a hand-built world.
#[derive(Debug, Clone)]
struct Row {
    name: &'static str,
    rrtype: RrType,
    rdata: &'static str,
    first_s: i64,
    last_s: i64,
    count: u64,
    ttl: Option<(u32, u32)>,
    label: Option<&'static str>,
    registered: &'static str,
    country: Option<&'static str>,
    asn: Option<u32>,
    name_rank: Option<u32>,
    split: &'static str,
}

fn row(
    name: &'static str,
    rdata: &'static str,
    count: u64,
    label: Option<&'static str>,
    split: &'static str,
) -> Row {
    let rrtype = if rdata.contains(':') {
        RrType::AAAA
    } else if rdata.parse::<IpAddr>().is_ok() {
        RrType::A
    } else {
        RrType::CNAME
    };
    let registered = {
        let labels: Vec<&str> = name.rsplitn(3, '.').collect();
        let start = name.len() - labels[0].len() - labels[1].len() - 1;
        &name[start..]
    };
    Row {
        name,
        rrtype,
        rdata,
        first_s: 0,
        last_s: 10,
        count,
        ttl: Some((60, 300)),
        label,
        registered,
        country: Some("US"),
        asn: Some(64500),
        name_rank: None,
        split,
    }
}

/// The small world most tests use; see `hand_computed_features` for what it implies.
fn world() -> Vec<Row> {
    let mut a1 = row("a.example.com", "192.0.2.1", 5, Some("benign"), "train");
    a1.name_rank = Some(10);
    let mut a2 = row("a.example.com", "192.0.2.2", 7, Some("malicious"), "train");
    a2.ttl = Some((60, 60));
    a2.country = Some("DE");
    a2.asn = Some(64501);
    a2.first_s = 5;
    a2.last_s = 100;
    vec![
        a1,
        a2,
        row("b.example.com", "192.0.2.1", 3, None, "unlabelled"),
        row("c.evil.net", "192.0.2.1", 11, Some("malicious"), "test"),
        row("c.evil.net", "x.evil.net", 2, Some("sinkhole"), "test"),
        row("d.other.org", "2001:db8::1", 1, Some("benign"), "valid"),
        row("e.other.org", "2001:db8::1", 4, Some("benign"), "train"),
    ]
}

fn labelled_batch(rows: &[Row]) -> RecordBatch {
    let records: Vec<Record> = rows
        .iter()
        .map(|r| Record {
            name: r.name.to_string(),
            rrtype: r.rrtype,
            rdata: r.rdata.to_string(),
            first_seen: r.first_s * 1000,
            last_seen: r.last_s * 1000,
            count: r.count,
            min_ttl: r.ttl.map(|t| t.0),
            max_ttl: r.ttl.map(|t| t.1),
            sensor: None,
        })
        .collect();
    let raw = records_to_batch(&records).unwrap();
    let strings = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let numbers = |f: &dyn Fn(&Row) -> Option<u32>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<UInt32Array>())
    };
    let mut columns: Vec<ArrayRef> = raw.columns().to_vec();
    columns.extend([
        strings(&|r| r.label.map(str::to_string)),
        strings(&|r| r.label.map(|_| "test-list".to_string())),
        strings(&|r| r.label.map(|_| r.name.to_string())),
        strings(&|r| Some(r.registered.to_string())),
        strings(&|r| r.registered.split('.').next_back().map(str::to_string)),
        strings(&|r| r.name.split('.').next_back().map(str::to_string)),
        strings(&|r| r.country.map(str::to_string)),
        numbers(&|_| None),
        numbers(&|r| r.asn),
        strings(&|r| r.asn.map(|a| format!("isp-{a}"))),
        strings(&|_| None),
        numbers(&|r| r.name_rank),
        numbers(&|r| r.name_rank),
        strings(&|r| Some(r.split.to_string())),
    ]);
    RecordBatch::try_new(pdnsrep_label::schema::labelled_schema(), columns).unwrap()
}

async fn write_world(root: &Root, dataset: &str, rows: &[Row]) {
    let mut writer = DatasetWriter::new(root, dataset, "labelled-records");
    writer
        .write_part("", &[labelled_batch(rows)])
        .await
        .unwrap();
    writer
        .commit(
            &pdnsrep_label::schema::labelled_schema(),
            vec![],
            serde_json::Value::Null,
        )
        .await
        .unwrap();
}

fn options() -> FeatureOptions {
    FeatureOptions {
        min_count: 1,
        char_length: 16,
        threads: 2,
        ..FeatureOptions::default()
    }
}

/// The features of one record, decoded back to raw values.
#[derive(Debug, Clone, PartialEq)]
struct Features {
    split: String,
    label: Option<u8>,
    domain_queries: u64,
    numeric: Vec<f32>,
    categorical: Vec<i32>,
    chars: Vec<u8>,
}

type Key = (String, u16, String);

async fn read_features(root: &Root, dataset: &str) -> (FeaturizerSpec, BTreeMap<Key, Features>) {
    let manifest = read_manifest(root, dataset).await.unwrap();
    let spec = read_spec(root, &manifest).await;
    let mut out = BTreeMap::new();
    for part in &manifest.parts {
        for batch in read_part(root, &manifest, part).await.unwrap() {
            let names = batch.column(0).as_string::<i32>();
            let rrtypes = batch
                .column(1)
                .as_primitive::<arrow::datatypes::UInt16Type>();
            let rdatas = batch.column(2).as_string::<i32>();
            let splits = batch.column(3).as_string::<i32>();
            let labels = batch.column(4).as_primitive::<UInt8Type>();
            let queries = batch
                .column(5)
                .as_primitive::<arrow::datatypes::UInt64Type>();
            let numeric = batch.column(6).as_fixed_size_list();
            let categorical = batch.column(7).as_fixed_size_list();
            let chars = batch.column(8).as_fixed_size_list();
            for i in 0..batch.num_rows() {
                let key = (
                    names.value(i).to_string(),
                    rrtypes.value(i),
                    rdatas.value(i).to_string(),
                );
                let f = Features {
                    split: splits.value(i).to_string(),
                    label: labels.is_valid(i).then(|| labels.value(i)),
                    domain_queries: queries.value(i),
                    numeric: numeric
                        .value(i)
                        .as_primitive::<Float32Type>()
                        .values()
                        .to_vec(),
                    categorical: categorical
                        .value(i)
                        .as_primitive::<Int32Type>()
                        .values()
                        .to_vec(),
                    chars: chars.value(i).as_primitive::<UInt8Type>().values().to_vec(),
                };
                assert!(out.insert(key, f).is_none(), "a record appears twice");
            }
        }
    }
    (spec, out)
}

async fn read_spec(root: &Root, manifest: &Manifest) -> FeaturizerSpec {
    let sidecar = manifest
        .sidecars
        .iter()
        .find(|s| s.path.ends_with("featurizer.json"))
        .expect("a featurizer sidecar");
    let path = root.path(&format!("{}/{}", manifest.dataset, sidecar.path));
    let bytes = object_store::ObjectStoreExt::get(root.store().as_ref(), &path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    FeaturizerSpec::from_json(&bytes).unwrap()
}

fn raw(feature: &NumericFeature, value: f32) -> f64 {
    let t = value as f64 * feature.std + feature.mean;
    match feature.transform {
        pdnsrep_records::features::Transform::Log1p => t.exp_m1(),
        pdnsrep_records::features::Transform::Identity => t,
    }
}

fn get(spec: &FeaturizerSpec, f: &Features, name: &str) -> f64 {
    let i = spec
        .numeric_index(name)
        .unwrap_or_else(|| panic!("no feature {name}"));
    raw(&spec.numeric[i], f.numeric[i])
}

fn key(name: &str, rrtype: RrType, rdata: &str) -> Key {
    (name.to_string(), rrtype.0, rdata.to_string())
}

async fn run_world(
    rows: &[Row],
    options: &FeatureOptions,
) -> (FeaturizerSpec, BTreeMap<Key, Features>) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
    write_world(&root, "labelled/w", rows).await;
    compute_features(&root, "labelled/w", &root, "features/w", options)
        .await
        .unwrap();
    read_features(&root, "features/w").await
}

fn assert_close(spec: &FeaturizerSpec, f: &Features, expected: &[(&str, f64)]) {
    for (name, want) in expected {
        let got = get(spec, f, name);
        assert!(
            (got - want).abs() < 1e-3 * want.abs().max(1.0),
            "{name}: got {got}, want {want}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_computed_features() {
    let (spec, features) = run_world(&world(), &options()).await;
    assert_eq!(features.len(), 7);
    let a1 = &features[&key("a.example.com", RrType::A, "192.0.2.1")];
    assert_eq!(a1.split, "train");
    assert_eq!(a1.label, Some(0));
    assert_eq!(a1.domain_queries, 12);
    assert_close(
        &spec,
        a1,
        &[
            ("lifespan_s", 10.0),
            ("count", 5.0),
            ("min_ttl", 60.0),
            ("max_ttl", 300.0),
            ("ttl_spread", 240.0),
            ("ttl_missing", 0.0),
            ("name_queries", 12.0),
            ("name_records", 2.0),
            ("name_lifespan_s", 100.0),
            ("name_ips", 2.0),
            ("name_countries", 2.0),
            ("name_asns", 2.0),
            ("name_ttls", 2.0),
            ("rd_queries", 15.0),
            ("rd_records", 3.0),
            ("rd_names", 2.0),
            ("rd_ips", 2.0),
            ("has_ip", 1.0),
            ("ip_queries", 19.0),
            ("ip_records", 3.0),
            ("ip_names", 3.0),
            ("ip_domains", 2.0),
            ("ip_tlds", 2.0),
            ("ip_lifespan_s", 10.0),
            ("prefix_queries", 26.0),
            ("prefix_ips", 2.0),
            ("prefix_names", 3.0),
            ("name_rank", 10.0),
            ("name_rank_missing", 0.0),
            ("domain_rank_missing", 0.0),
            // The other record of the name is a malicious training record; itself is excluded.
            ("name_nb_benign", 0.0),
            ("name_nb_malicious", 1.0),
            ("name_frac_malicious", 1.0),
            // The IP's other records are unlabelled (b) and test (c): neither is visible.
            ("ip_nb_benign", 0.0),
            ("ip_nb_malicious", 0.0),
            ("ip_frac_malicious", 0.0),
        ],
    );
    let b = &features[&key("b.example.com", RrType::A, "192.0.2.1")];
    assert_eq!(b.label, None);
    assert_close(
        &spec,
        b,
        &[
            ("name_records", 1.0),
            ("name_nb_malicious", 0.0),
            ("name_frac_benign", 0.0),
            ("ip_nb_benign", 1.0),
            ("ip_frac_benign", 0.5),
            ("rd_queries", 15.0),
            ("name_rank_missing", 1.0),
        ],
    );
    let cname = &features[&key("c.evil.net", RrType::CNAME, "x.evil.net")];
    assert_close(
        &spec,
        cname,
        &[
            ("has_ip", 0.0),
            ("ip_queries", 0.0),
            ("ip_nb_malicious", 0.0),
            ("prefix_ips", 0.0),
            ("name_ips", 1.0),
            ("name_queries", 13.0),
        ],
    );
    let d = &features[&key("d.other.org", RrType::AAAA, "2001:db8::1")];
    assert_close(
        &spec,
        d,
        &[
            ("ip_nb_benign", 1.0),
            ("ip_frac_benign", 1.0),
            ("prefix_ips", 1.0),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vocabularies_come_from_training_rows_only() {
    let mut rows = world();
    rows[3].country = Some("ZZ");
    let options = FeatureOptions {
        min_count: 2,
        ..options()
    };
    let (spec, features) = run_world(&rows, &options).await;
    let country = spec
        .categorical
        .iter()
        .position(|c| c.name == "country")
        .unwrap();
    // Training rows: US twice (a1, e), DE once (a2): only US reaches min_count 2.
    assert_eq!(spec.categorical[country].vocab, vec!["US".to_string()]);
    let a2 = &features[&key("a.example.com", RrType::A, "192.0.2.2")];
    assert_eq!(a2.categorical[country], 0, "DE is below min_count");
    let c = &features[&key("c.evil.net", RrType::A, "192.0.2.1")];
    assert_eq!(
        c.categorical[country], 0,
        "ZZ appears only in the test split"
    );
    let a1 = &features[&key("a.example.com", RrType::A, "192.0.2.1")];
    assert_eq!(a1.categorical[country], 1);
    let rrtype = spec
        .categorical
        .iter()
        .position(|c| c.name == "rrtype")
        .unwrap();
    // Two training rows are A records, one is AAAA: AAAA stays below min_count 2.
    assert_eq!(spec.categorical[rrtype].vocab, vec!["1".to_string()]);
    let mut expected = Vec::new();
    CharEncoding::standard(16).encode_into("a.example.com", &mut expected);
    assert_eq!(a1.chars, expected);
}

/// Features that must not move when a label changes.
fn non_neighbour(spec: &FeaturizerSpec, f: &Features) -> (Vec<f32>, Vec<i32>, Vec<u8>, u64) {
    let numeric = spec
        .numeric
        .iter()
        .zip(&f.numeric)
        .filter(|(n, _)| !is_neighbour_feature(&n.name))
        .map(|(_, v)| *v)
        .collect();
    (
        numeric,
        f.categorical.clone(),
        f.chars.clone(),
        f.domain_queries,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_of_validation_and_test_records_change_no_feature() {
    let rows = world();
    let (base_spec, base) = run_world(&rows, &options()).await;
    for (i, r) in rows.iter().enumerate() {
        if r.split != "valid" && r.split != "test" {
            continue;
        }
        for other in [None, Some("benign"), Some("malicious"), Some("sinkhole")] {
            if other == r.label {
                continue;
            }
            let mut flipped = rows.clone();
            flipped[i].label = other;
            let (spec, features) = run_world(&flipped, &options()).await;
            assert_eq!(
                spec.numeric, base_spec.numeric,
                "scalers moved flipping {}",
                r.name
            );
            assert_eq!(spec.categorical, base_spec.categorical);
            for (k, f) in &features {
                let b = &base[k];
                assert_eq!(
                    (&f.numeric, &f.categorical, &f.chars),
                    (&b.numeric, &b.categorical, &b.chars),
                    "flipping {} {:?} changed {k:?}",
                    r.name,
                    other
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_label_changes_only_its_neighbours_counts() {
    let rows = world();
    let (spec, base) = run_world(&rows, &options()).await;
    // a1 (benign, train) shares its name with a2 and its IP with b and c.
    let mut flipped = rows.clone();
    flipped[0].label = Some("sinkhole");
    let (_, features) = run_world(&flipped, &options()).await;
    let neighbours = [
        key("a.example.com", RrType::A, "192.0.2.2"),
        key("b.example.com", RrType::A, "192.0.2.1"),
        key("c.evil.net", RrType::A, "192.0.2.1"),
    ];
    for (k, f) in &features {
        let b = &base[k];
        assert_eq!(non_neighbour(&spec, f), non_neighbour(&spec, b), "{k:?}");
        if neighbours.contains(k) {
            assert_ne!(f.numeric, b.numeric, "{k:?} should see the new label");
        } else {
            assert_eq!(
                f.numeric, b.numeric,
                "{k:?} does not share a name or IP with a1"
            );
        }
    }
    let b = &features[&neighbours[1]];
    assert_close(
        &spec,
        b,
        &[
            ("ip_nb_benign", 0.0),
            ("ip_nb_sinkhole", 1.0),
            ("ip_frac_sinkhole", 0.5),
        ],
    );
}

async fn output_digests(root: &Root, dataset: &str) -> (Vec<String>, String) {
    let manifest = read_manifest(root, dataset).await.unwrap();
    let spec = read_spec(root, &manifest).await;
    (
        manifest.parts.iter().map(|p| p.sha256.clone()).collect(),
        spec.digest,
    )
}

/// A world of a few thousand records with shared names, IPs and prefixes.
fn bigger_world(n: usize) -> Vec<Row> {
    let names: Vec<&'static str> = (0..n / 3)
        .map(|i| &*Box::leak(format!("h{}.d{}.t{}", i % 7, i / 7, i % 5).into_boxed_str()))
        .collect();
    let ips: Vec<&'static str> = (0..n / 5)
        .map(|i| &*Box::leak(format!("10.{}.{}.{}", i % 3, i / 250, i % 250).into_boxed_str()))
        .collect();
    (0..n)
        .map(|i| {
            let label = [
                Some("benign"),
                Some("malicious"),
                None,
                Some("sinkhole"),
                None,
            ][i % 5];
            let split = match (label, i % 10) {
                (None, _) => "unlabelled",
                (_, 0) => "valid",
                (_, 1) => "test",
                _ => "train",
            };
            let mut r = row(
                names[(i * 7919) % names.len()],
                ips[(i * 104729) % ips.len()],
                (i % 13) as u64 + 1,
                label,
                split,
            );
            r.first_s = (i % 17) as i64;
            r.last_s = r.first_s + (i % 29) as i64;
            r.asn = Some(64500 + (i % 11) as u32);
            ((r.name, r.rdata), r)
        })
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_inputs_give_byte_identical_shards_and_a_memory_limit_spills_to_the_same_bytes() {
    let rows = bigger_world(30_000);
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
    write_world(&root, "labelled/big", &rows).await;
    let small_parts = FeatureOptions {
        part_rows: 4096,
        ..options()
    };
    compute_features(&root, "labelled/big", &root, "features/a", &small_parts)
        .await
        .unwrap();
    let single = FeatureOptions {
        threads: 1,
        ..small_parts.clone()
    };
    compute_features(&root, "labelled/big", &root, "features/b", &single)
        .await
        .unwrap();
    let limited = FeatureOptions {
        // Small enough that the sorts spill, large enough for the merge buffers of two
        // partitions (96 MiB is not).
        memory_limit: Some(192 << 20),
        threads: 2,
        ..small_parts.clone()
    };
    let summary = compute_features(&root, "labelled/big", &root, "features/c", &limited)
        .await
        .unwrap();
    let a = output_digests(&root, "features/a").await;
    assert!(a.0.len() > 3, "expected several parts, got {}", a.0.len());
    assert_eq!(a, output_digests(&root, "features/b").await);
    assert_eq!(a, output_digests(&root, "features/c").await);
    assert!(
        summary.spill_count > 0,
        "192 MiB should force spilling: {summary:?}"
    );
    assert!(summary.peak_rss_bytes.is_some());
}

async fn write_predictions(root: &Root, dataset: &str, rows: &[(&str, RrType, &str, [f32; 3])]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("rrtype", DataType::UInt16, false),
        Field::new("rdata", DataType::Utf8, false),
        Field::new("p_benign", DataType::Float32, false),
        Field::new("p_malicious", DataType::Float32, false),
        Field::new("p_sinkhole", DataType::Float32, false),
    ]));
    let prob =
        |c: usize| -> ArrayRef { Arc::new(rows.iter().map(|r| r.3[c]).collect::<Float32Array>()) };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(rows.iter().map(|r| Some(r.0)).collect::<StringArray>()),
            Arc::new(
                rows.iter()
                    .map(|r| r.1.0)
                    .collect::<arrow::array::UInt16Array>(),
            ),
            Arc::new(rows.iter().map(|r| Some(r.2)).collect::<StringArray>()),
            prob(0),
            prob(1),
            prob(2),
        ],
    )
    .unwrap();
    let mut writer = DatasetWriter::new(root, dataset, "predictions");
    writer.write_part("", &[batch]).await.unwrap();
    writer
        .commit(&schema, vec![], serde_json::Value::Null)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_give_soft_and_thresholded_neighbour_counts() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
    write_world(&root, "labelled/w", &world()).await;
    write_predictions(
        &root,
        "predictions/p1",
        &[
            ("b.example.com", RrType::A, "192.0.2.1", [0.2, 0.7, 0.1]),
            ("c.evil.net", RrType::A, "192.0.2.1", [0.0, 0.9, 0.1]),
            // A training record's prediction is ignored: its label counts.
            ("a.example.com", RrType::A, "192.0.2.2", [1.0, 0.0, 0.0]),
        ],
    )
    .await;
    let mut digests = Vec::new();
    for (threshold, malicious, benign) in [(None, 1.6, 0.2), (Some(0.5), 2.0, 0.0)] {
        let options = FeatureOptions {
            neighbours: Neighbours::Predictions {
                root: root.clone(),
                dataset: "predictions/p1".into(),
                threshold,
            },
            ..options()
        };
        let summary = compute_features(&root, "labelled/w", &root, "features/p", &options)
            .await
            .unwrap();
        // b, both c records and d take their mass from predictions; only b and c1 have one.
        let coverage = summary.predictions.expect("coverage is reported");
        assert_eq!((coverage.needed, coverage.missing), (4, 2));
        let (spec, features) = read_features(&root, "features/p").await;
        let a1 = &features[&key("a.example.com", RrType::A, "192.0.2.1")];
        assert_close(
            &spec,
            a1,
            &[
                ("ip_nb_malicious", malicious),
                ("ip_nb_benign", benign),
                ("ip_frac_malicious", malicious / 2.0),
                ("name_nb_malicious", 1.0),
                ("name_nb_benign", 0.0),
            ],
        );
        // The spec says how the counts were made, so soft and thresholded features differ.
        match &spec.neighbours {
            pdnsrep_records::features::NeighbourSource::Predictions {
                dataset,
                threshold: t,
                ..
            } => assert_eq!((dataset.as_str(), *t), ("predictions/p1", threshold)),
            other => panic!("neighbours from {other:?}"),
        }
        digests.push(spec.digest.clone());
    }
    assert_ne!(
        digests[0], digests[1],
        "soft and thresholded specs must differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_over_the_input_or_a_dataset_of_another_kind_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
    write_world(&root, "labelled/w", &world()).await;
    write_world(&root, "labelled/other", &world()).await;
    for target in ["labelled/w", "labelled/other"] {
        let err = compute_features(&root, "labelled/w", &root, target, &options())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("refusing to write"), "{target}: {err}");
        let kept = pdnsrep_records::read_manifest(&root, target).await.unwrap();
        assert_eq!(kept.kind, "labelled-records", "{target} was replaced");
    }
    // A features dataset may be recomputed in place.
    for _ in 0..2 {
        compute_features(&root, "labelled/w", &root, "features/w", &options())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_records_are_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
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
    let mut writer = DatasetWriter::new(&root, "raw/x", "raw-records");
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
    let err = compute_features(&root, "raw/x", &root, "features/x", &options())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "`{}/raw/x` is not a labelled record dataset: columns [name:Utf8",
            root.url()
        )),
        "{err}"
    );
    assert!(
        err.ends_with("run `pdnsrep label` on raw records first"),
        "{err}"
    );
    let err = compute_features(
        &root,
        "raw/x",
        &root,
        "features/x",
        &FeatureOptions {
            neighbours: Neighbours::Predictions {
                root: root.clone(),
                dataset: "raw/x".into(),
                threshold: None,
            },
            ..options()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a labelled record dataset"), "{err}");
}
