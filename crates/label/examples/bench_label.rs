//! Times label + enrich on COF-like synthetic records with the shared lists loaded.
//!
//! `bench_label <records> <lists.toml> [shared data dir]` builds the records in memory, writes
//! them as a raw dataset to a `memory://` root, then labels them with a random split. Prints a
//! JSON line with load and label times and records/s; `scripts/bench-label.sh` adds peak RSS.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use pdnsrep_label::{EnrichConfig, Labeller, ListsConfig, SplitConfig, label_with};
use pdnsrep_records::schema::{record_schema, records_to_batch};
use pdnsrep_records::{DatasetWriter, Record, Root, RrType};

const TLDS: [&str; 8] = ["com", "net", "org", "co.uk", "ru", "xyz", "info", "de"];
const PART_RECORDS: usize = 1 << 20;

/// A small xorshift so the example needs no random-number crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Record `i`: 70 % A, 10 % AAAA, 15 % CNAME, 5 % NS, over 300k registered domains, with every
/// 50th name taken from the real names given (list names, so some match).
fn record(i: u64, rng: &mut Rng, real: &[String]) -> Record {
    let r = rng.next();
    let domain = if r.is_multiple_of(50) && !real.is_empty() {
        real[(r >> 8) as usize % real.len()].clone()
    } else {
        format!(
            "d{}.{}",
            (r >> 20) % 300_000,
            TLDS[(r >> 40) as usize % TLDS.len()]
        )
    };
    let name = if r.is_multiple_of(3) {
        domain.clone()
    } else {
        format!("h{}.{domain}", (r >> 12) % 64)
    };
    let kind = (r >> 50) % 20;
    let (rrtype, rdata) = match kind {
        0..14 => (
            RrType::A,
            std::net::Ipv4Addr::from((rng.next() >> 32) as u32).to_string(),
        ),
        14..16 => {
            let v6 = std::net::Ipv6Addr::from(((0x2001_0db8u128) << 96) | u128::from(rng.next()));
            (RrType::AAAA, v6.to_string())
        }
        16..19 => (RrType::CNAME, format!("edge{}.cdn.example.net", r % 1000)),
        _ => (RrType::NS, format!("ns{}.{domain}", r % 2)),
    };
    let first = 1_500_000_000_000 + (i as i64 % 86_400_000) * 1000;
    Record {
        name,
        rrtype,
        rdata,
        first_seen: first,
        last_seen: first + 3_600_000,
        count: 1 + r % 100,
        min_ttl: Some(300),
        max_ttl: Some(3600),
        sensor: None,
    }
}

fn real_names(shared: &Path) -> Vec<String> {
    use std::io::BufRead;
    let path = shared.join("umbrella-top100k/umbrella-top-100k.txt.gz");
    let mut names: Vec<String> = pdnsrep_label::lists::open(&path)
        .unwrap()
        .lines()
        .map_while(Result::ok)
        .collect();
    let trails = shared.join("maltrail/maltrail-trails.csv.gz");
    let reader = pdnsrep_label::lists::open(&trails).unwrap();
    names.extend(
        reader
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains(",domain,"))
            .step_by(20)
            .filter_map(|l| l.split(',').next().map(str::to_string)),
    );
    names
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .map_or(2_000_000, |a| a.parse().expect("record count"));
    let lists = PathBuf::from(
        args.get(2)
            .expect("usage: bench_label <records> <lists.toml> [shared]"),
    );
    let shared = args
        .get(3)
        .map_or_else(|| PathBuf::from("../shared/data"), PathBuf::from);

    let started = Instant::now();
    let config = ListsConfig::from_path(&lists).unwrap();
    let enrich = EnrichConfig {
        psl: None,
        mmdb: vec![
            shared.join("maxmind-test/GeoIP2-City-Test.mmdb"),
            shared.join("maxmind-test/GeoLite2-ASN-Test.mmdb"),
        ],
        prefixes: Some(shared.join("ipverse-country-ip-blocks/country_prefixes.csv.gz")),
    };
    let labeller = Arc::new(Labeller::load(&config, &enrich).unwrap());
    let load_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let root = Root::parse("memory://bench").unwrap();
    let real = real_names(&shared);
    let mut writer = DatasetWriter::new(&root, "raw/bench", "raw-records");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut i = 0;
    while i < n {
        let chunk = (n - i).min(PART_RECORDS as u64);
        let records: Vec<Record> = (i..i + chunk).map(|j| record(j, &mut rng, &real)).collect();
        writer
            .write_part("", &[records_to_batch(&records).unwrap()])
            .await
            .unwrap();
        i += chunk;
    }
    writer
        .commit(&record_schema(), vec![], serde_json::Value::Null)
        .await
        .unwrap();
    let generate_s = started.elapsed().as_secs_f64();

    let split = SplitConfig::default();
    let summary = label_with(
        labeller,
        &root,
        "raw/bench",
        &root,
        "labelled/bench",
        &split,
    )
    .await
    .unwrap();
    let label_s = summary.elapsed_s;
    let report = serde_json::json!({
        "records": n,
        "list_entries": summary.sources.iter().map(|s| s.entries).sum::<u64>(),
        "load_lists_s": load_s,
        "generate_s": generate_s,
        "label_s": label_s,
        "records_per_s": n as f64 / label_s,
        "labels": summary.labels,
        "conflicts": summary.conflicts.records,
        "country_hit_rate": summary.enrichment.country.rate,
    });
    println!("{report}");
}
