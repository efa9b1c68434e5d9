use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::name::{NameError, normalize_name};
use crate::rrtype::RrType;

/// One aggregated passive DNS observation: an (owner name, type, rdata) triple with the time
/// span and volume over which it was seen.
///
/// Times are milliseconds since the Unix epoch (UTC). TTLs are absent when the source does
/// not report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rrtype: RrType,
    pub rdata: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: u64,
    pub min_ttl: Option<u32>,
    pub max_ttl: Option<u32>,
    pub sensor: Option<String>,
}

/// The identity of a record: observations with equal keys merge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    pub name: String,
    pub rrtype: RrType,
    pub rdata: String,
}

/// Why an rdata value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RdataError {
    #[error("empty rdata")]
    Empty,
    #[error("`{0}` is not an IPv4 address")]
    NotIpv4(String),
    #[error("`{0}` is not an IPv6 address")]
    NotIpv6(String),
    #[error("bad name in rdata: {0}")]
    Name(#[from] NameError),
}

/// Brings rdata to one canonical text per value, so that the same answer written two ways
/// (`2001:DB8::1` and `2001:db8:0::1`, `Example.COM.` and `example.com`) merges.
///
/// A and AAAA rdata must parse as addresses; NS, CNAME, PTR and DNAME rdata are normalized
/// like owner names; other types keep their text, trimmed.
pub fn canonical_rdata(rrtype: RrType, raw: &str) -> Result<String, RdataError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(RdataError::Empty);
    }
    match rrtype {
        RrType::A => raw
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| RdataError::NotIpv4(raw.to_string())),
        RrType::AAAA => raw
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| RdataError::NotIpv6(raw.to_string())),
        t if t.rdata_is_name() => Ok(normalize_name(raw)?),
        _ => Ok(raw.to_string()),
    }
}

/// An address as 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`), the layout of the `ip`
/// column.
pub fn ip_to_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The stable partition of a record key among `buckets`: xxh3 over the key's fields, so that
/// the same key lands in the same `bucket=NN` partition in every run, on every machine, and in
/// every writer of raw record datasets (ingest and the synthetic generator alike).
pub fn bucket_of(name: &str, rrtype: RrType, rdata: &str, buckets: usize) -> usize {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(name.as_bytes());
    h.update(&[0xff]);
    h.update(&rrtype.0.to_le_bytes());
    h.update(&[0xff]);
    h.update(rdata.as_bytes());
    (h.digest() % buckets.max(1) as u64) as usize
}

impl Record {
    pub fn key(&self) -> RecordKey {
        RecordKey {
            name: self.name.clone(),
            rrtype: self.rrtype,
            rdata: self.rdata.clone(),
        }
    }

    /// The answer address of an A or AAAA record.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.rrtype {
            RrType::A => self.rdata.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            RrType::AAAA => self.rdata.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            _ => None,
        }
    }

    /// Folds another observation of the same key into this one: earliest first seen, latest
    /// last seen, summed counts, the widest TTL range, and the smallest sensor id.
    ///
    /// The operation is associative and commutative, so records may merge in any order and
    /// grouping (across lines, files, spill buckets) with the same result. The sensor rule is
    /// the arbitrary but order-free choice that keeps that property.
    pub fn merge(&mut self, other: &Record) {
        debug_assert_eq!(self.name, other.name);
        debug_assert_eq!(self.rrtype, other.rrtype);
        debug_assert_eq!(self.rdata, other.rdata);
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.count = self.count.saturating_add(other.count);
        self.min_ttl = min_present(self.min_ttl, other.min_ttl);
        self.max_ttl = self.max_ttl.max(other.max_ttl);
        self.sensor = match (self.sensor.take(), &other.sensor) {
            (Some(a), Some(b)) if *b < a => Some(b.clone()),
            (Some(a), _) => Some(a),
            (None, b) => b.clone(),
        };
    }
}

fn min_present(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_record_with_key(key: (String, u16, String)) -> impl Strategy<Value = Record> {
        (
            0i64..4_000_000_000_000,
            0i64..100_000_000_000,
            1u64..1_000_000,
            proptest::option::of(0u32..1_000_000),
            proptest::option::of(0u32..1_000_000),
            proptest::option::of("[a-c]{1,3}"),
        )
            .prop_map(move |(first, span, count, t1, t2, sensor)| {
                let (min_ttl, max_ttl) = match (t1, t2) {
                    (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                    _ => (None, None),
                };
                Record {
                    name: key.0.clone(),
                    rrtype: RrType(key.1),
                    rdata: key.2.clone(),
                    first_seen: first,
                    last_seen: first + span,
                    count,
                    min_ttl,
                    max_ttl,
                    sensor,
                }
            })
    }

    fn same_key_records() -> impl Strategy<Value = Vec<Record>> {
        proptest::collection::vec(
            arb_record_with_key(("a.example".into(), 1, "192.0.2.1".into())),
            1..8,
        )
    }

    fn fold(records: &[Record]) -> Record {
        let mut acc = records[0].clone();
        for r in &records[1..] {
            acc.merge(r);
        }
        acc
    }

    proptest! {
        #[test]
        fn merge_is_order_independent(mut records in same_key_records(), seed in any::<u64>()) {
            let expected = fold(&records);
            // A cheap deterministic shuffle driven by the seed.
            let n = records.len();
            for i in (1..n).rev() {
                let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
                records.swap(i, j);
            }
            prop_assert_eq!(fold(&records), expected);
        }

        #[test]
        fn merge_is_associative(records in same_key_records(), split in 0usize..8) {
            let split = split.min(records.len() - 1).max(1).min(records.len());
            let left = fold(&records[..split]);
            let whole = fold(&records);
            if split < records.len() {
                let mut grouped = left;
                grouped.merge(&fold(&records[split..]));
                prop_assert_eq!(grouped, whole);
            }
        }
    }

    #[test]
    fn canonical_rdata_normalizes_addresses_and_names() {
        assert_eq!(
            canonical_rdata(RrType::AAAA, "2001:DB8:0::1").unwrap(),
            "2001:db8::1"
        );
        assert_eq!(
            canonical_rdata(RrType::CNAME, "Edge.Example.NET.").unwrap(),
            "edge.example.net"
        );
        assert_eq!(
            canonical_rdata(RrType::MX, " 10 mx.example.com. ").unwrap(),
            "10 mx.example.com."
        );
        assert_eq!(
            canonical_rdata(RrType::A, "300.1.1.1"),
            Err(RdataError::NotIpv4("300.1.1.1".into()))
        );
        assert_eq!(canonical_rdata(RrType::A, " "), Err(RdataError::Empty));
    }

    #[test]
    fn merge_keeps_the_widest_span_and_sums_counts() {
        let mut a = Record {
            name: "x.test".into(),
            rrtype: RrType::A,
            rdata: "192.0.2.7".into(),
            first_seen: 10,
            last_seen: 20,
            count: 3,
            min_ttl: None,
            max_ttl: None,
            sensor: Some("s2".into()),
        };
        let b = Record {
            first_seen: 5,
            last_seen: 15,
            count: 4,
            min_ttl: Some(60),
            max_ttl: Some(300),
            sensor: Some("s1".into()),
            ..a.clone()
        };
        a.merge(&b);
        assert_eq!((a.first_seen, a.last_seen, a.count), (5, 20, 7));
        assert_eq!((a.min_ttl, a.max_ttl), (Some(60), Some(300)));
        assert_eq!(a.sensor.as_deref(), Some("s1"));
    }
}
