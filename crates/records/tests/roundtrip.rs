//! Records survive the trip through Arrow and Parquet on an object store unchanged, and
//! committed datasets are read back exactly as written.

#![allow(clippy::unwrap_used)]

use pdnsrep_records::schema::{batch_to_records, record_schema, records_to_batch};
use pdnsrep_records::{DatasetWriter, Record, Root, RrType, read_manifest, read_part};
use proptest::prelude::*;

fn arb_record() -> impl Strategy<Value = Record> {
    let name = "[a-z0-9_-]{1,12}(\\.[a-z0-9-]{1,10}){0,3}";
    let rdata = prop_oneof![
        any::<[u8; 4]>().prop_map(|o| (RrType::A, std::net::Ipv4Addr::from(o).to_string())),
        any::<[u8; 16]>().prop_map(|o| (RrType::AAAA, std::net::Ipv6Addr::from(o).to_string())),
        "[a-z]{1,8}\\.[a-z]{2,3}".prop_map(|n| (RrType::CNAME, n)),
        (1u16..400, "[ -~]{0,30}").prop_map(|(t, s)| (RrType(t), s)),
    ];
    (
        name,
        rdata,
        0i64..4_102_444_800_000,
        0i64..1_000_000_000,
        any::<u64>(),
        proptest::option::of(any::<u32>()),
        proptest::option::of("[a-z0-9-]{1,8}"),
    )
        .prop_map(
            |(name, (rrtype, rdata), first, span, count, ttl, sensor)| Record {
                name,
                rrtype,
                rdata,
                first_seen: first,
                last_seen: first + span,
                count,
                min_ttl: ttl,
                max_ttl: ttl.map(|t| t.saturating_add(7)),
                sensor,
            },
        )
}

fn sample_record() -> Record {
    Record {
        name: "a.example".into(),
        rrtype: RrType::A,
        rdata: "192.0.2.1".into(),
        first_seen: 1,
        last_seen: 2,
        count: 3,
        min_ttl: None,
        max_ttl: None,
        sensor: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn record_arrow_parquet_record(records in proptest::collection::vec(arb_record(), 1..200)) {
        let batch = records_to_batch(&records).unwrap();
        prop_assert_eq!(&batch_to_records(&batch).unwrap(), &records);

        let root = Root::parse("memory:///").unwrap();
        let back = runtime().block_on(async {
            let mut writer = DatasetWriter::new(&root, "raw/prop", "raw-records");
            writer.write_part("bucket=00", &[batch]).await.unwrap();
            writer.commit(&record_schema(), Vec::new(), serde_json::Value::Null).await.unwrap();
            let manifest = read_manifest(&root, "raw/prop").await.unwrap();
            let mut out = Vec::new();
            for part in &manifest.parts {
                for b in read_part(&root, &manifest, part).await.unwrap() {
                    out.extend(batch_to_records(&b).unwrap());
                }
            }
            out
        });
        prop_assert_eq!(back, records);
    }
}

#[test]
fn a_dataset_is_invisible_until_committed_and_old_parts_go_on_commit() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
        let record = sample_record();
        let batch = records_to_batch(std::slice::from_ref(&record)).unwrap();

        let mut first = DatasetWriter::new(&root, "raw/x", "raw-records");
        first
            .write_part("bucket=0", std::slice::from_ref(&batch))
            .await
            .unwrap();
        assert!(
            read_manifest(&root, "raw/x")
                .await
                .unwrap_err()
                .is_not_found()
        );
        let v1 = first
            .commit(&record_schema(), Vec::new(), serde_json::Value::Null)
            .await
            .unwrap();

        // A second writer that never commits leaves v1 in place.
        let mut orphan = DatasetWriter::new(&root, "raw/x", "raw-records");
        orphan
            .write_part("bucket=0", std::slice::from_ref(&batch))
            .await
            .unwrap();
        assert_eq!(read_manifest(&root, "raw/x").await.unwrap(), v1);

        // With the default grace, a young unlisted part may belong to a concurrent writer and
        // survives the commit; only the replaced version's part goes.
        let mut second = DatasetWriter::new(&root, "raw/x", "raw-records");
        second
            .write_part("bucket=1", std::slice::from_ref(&batch))
            .await
            .unwrap();
        let v2 = second
            .commit(&record_schema(), Vec::new(), serde_json::Value::Null)
            .await
            .unwrap();
        assert_eq!(
            walk(dir.path()).len(),
            3,
            "v2's part, the orphan and the manifest"
        );
        assert!(
            !walk(dir.path())
                .iter()
                .any(|f| f.ends_with(&v1.parts[0].path))
        );

        let mut third = DatasetWriter::new(&root, "raw/x", "raw-records")
            .with_orphan_grace(std::time::Duration::ZERO);
        third.write_part("bucket=1", &[batch]).await.unwrap();
        let v3 = third
            .commit(&record_schema(), Vec::new(), serde_json::Value::Null)
            .await
            .unwrap();
        let files: Vec<_> = walk(dir.path());
        assert_eq!(
            files.len(),
            2,
            "only v3's part and the manifest remain: {files:?}"
        );
        assert!(files.iter().any(|f| f.ends_with(&v3.parts[0].path)));
        assert_ne!(v2.run_id, v3.run_id);
    });
}

#[test]
fn dataset_names_are_checked() {
    for good in ["raw/x", "labelled/world-1/v2", "a=b/c.d"] {
        pdnsrep_records::check_dataset_name(good).unwrap();
    }
    for bad in [
        "",
        "/abs",
        "raw/../x",
        "raw//x",
        ".",
        "raw/_manifest.json",
        "raw/a b",
    ] {
        let err = pdnsrep_records::check_dataset_name(bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("invalid dataset name `{bad}`")),
            "{err}"
        );
    }
}

#[test]
fn a_corrupted_part_is_refused_with_its_location() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::parse(dir.path().to_str().unwrap()).unwrap();
        let record = sample_record();
        let mut w = DatasetWriter::new(&root, "raw/y", "raw-records");
        w.write_part("", &[records_to_batch(&[record]).unwrap()])
            .await
            .unwrap();
        let m = w
            .commit(&record_schema(), Vec::new(), serde_json::Value::Null)
            .await
            .unwrap();
        let path = dir.path().join("raw/y").join(&m.parts[0].path);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        let err = read_part(&root, &m, &m.parts[0])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&m.parts[0].path) && err.contains("does not match"),
            "{err}"
        );
    });
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
