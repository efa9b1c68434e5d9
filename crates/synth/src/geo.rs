//! The world's address space: autonomous systems of a few kinds, each with IPv4 prefixes carved
//! from public-looking space and one IPv6 /32, and a country. Addresses are computed from an
//! index into a kind's pool, so no address table is ever held in memory.
//!
//! The raw record has no geo columns; the labelling stage enriches from the `prefixes.csv` this
//! module writes (`prefix,country_code,family`, the layout of the ipverse table).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::rng::{Draw, stream};

/// What an autonomous system is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net {
    Cdn,
    Hosting,
    Residential,
    Bulletproof,
    Parking,
    Sinkhole,
}

impl Net {
    const ALL: [Net; 6] = [
        Net::Cdn,
        Net::Hosting,
        Net::Residential,
        Net::Bulletproof,
        Net::Parking,
        Net::Sinkhole,
    ];

    fn index(self) -> usize {
        Net::ALL.iter().position(|n| *n == self).unwrap_or(0)
    }

    fn label(self) -> &'static str {
        match self {
            Net::Cdn => "cdn",
            Net::Hosting => "hosting",
            Net::Residential => "residential",
            Net::Bulletproof => "bulletproof",
            Net::Parking => "parking",
            Net::Sinkhole => "sinkhole",
        }
    }

    /// Countries with weights, loosely after where such networks sit.
    fn countries(self) -> &'static [(&'static str, u32)] {
        match self {
            Net::Cdn => &[("US", 6), ("NL", 1), ("DE", 1), ("SG", 1), ("JP", 1)],
            Net::Hosting => &[
                ("US", 30),
                ("DE", 12),
                ("NL", 8),
                ("FR", 7),
                ("GB", 6),
                ("RU", 6),
                ("CN", 5),
                ("JP", 3),
                ("CA", 3),
                ("PL", 2),
                ("UA", 2),
                ("BR", 2),
                ("IN", 2),
                ("SG", 2),
                ("TR", 1),
                ("VN", 1),
            ],
            Net::Residential => &[
                ("US", 12),
                ("CN", 10),
                ("IN", 8),
                ("BR", 7),
                ("RU", 6),
                ("VN", 5),
                ("TR", 4),
                ("UA", 4),
                ("ID", 4),
                ("MX", 3),
                ("EG", 3),
                ("IR", 3),
                ("TH", 3),
                ("DE", 3),
                ("PL", 2),
                ("KR", 2),
            ],
            Net::Bulletproof => &[
                ("RU", 4),
                ("UA", 2),
                ("MD", 2),
                ("NL", 2),
                ("SC", 1),
                ("BZ", 1),
                ("PA", 1),
                ("HK", 1),
            ],
            Net::Parking => &[("US", 3), ("DE", 1)],
            Net::Sinkhole => &[("US", 4), ("DE", 1), ("PL", 1), ("GB", 1), ("NL", 1)],
        }
    }
}

/// One autonomous system.
#[derive(Debug, Clone)]
pub(crate) struct Asn {
    pub number: u32,
    pub net: Net,
    pub country: &'static str,
    /// `(first address, prefix length)`, each aligned to its size.
    pub prefixes: Vec<(u32, u8)>,
    /// Addresses over all prefixes.
    pub size: u64,
    /// The first 32 bits of the ASN's IPv6 /32.
    pub v6_high: u32,
}

/// The pool of one kind: its ASNs and the cumulative address counts that map an index to one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pool {
    asns: Vec<usize>,
    ends: Vec<u64>,
}

impl Pool {
    pub(crate) fn size(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }
}

/// The address space of a world.
#[derive(Debug, Clone)]
pub(crate) struct Geo {
    pub asns: Vec<Asn>,
    pools: Vec<Pool>,
}

/// First octets never used: private, shared, loopback, link-local, documentation and
/// benchmarking space live there.
const SKIPPED_SLASH8: [u32; 7] = [100, 127, 169, 172, 192, 198, 203];

struct Carver {
    cursor: u64,
}

impl Carver {
    fn take(&mut self, len: u8) -> u32 {
        let size = 1u64 << (32 - len);
        loop {
            self.cursor = self.cursor.div_ceil(size) * size;
            let first = (self.cursor >> 24) as u32;
            let last = ((self.cursor + size - 1) >> 24) as u32;
            if let Some(skip) = SKIPPED_SLASH8.iter().find(|s| (first..=last).contains(s)) {
                self.cursor = u64::from(skip + 1) << 24;
                continue;
            }
            let base = self.cursor as u32;
            self.cursor += size;
            return base;
        }
    }
}

/// How many ASNs of a kind, and how many addresses the kind needs, for a world of `records`.
fn plan(net: Net, records: u64) -> (usize, u64) {
    match net {
        Net::Cdn => (6, (records / 400).max(4096)),
        Net::Hosting => (300, (records / 6).max(300 * 256)),
        Net::Residential => (400, (records / 5).max(400 * 256)),
        Net::Bulletproof => (12, (records / 200).max(12 * 256)),
        Net::Parking => (4, 4 * 64),
        Net::Sinkhole => (8, 8 * 16),
    }
}

impl Geo {
    pub(crate) fn build(seed: u64, records: u64) -> Geo {
        let mut rng = stream(seed, 0x6e0, 0);
        let mut carver = Carver {
            cursor: 31u64 << 24,
        };
        let mut asns = Vec::new();
        let mut pools = vec![Pool::default(); Net::ALL.len()];
        for net in Net::ALL {
            let (count, total) = plan(net, records);
            // Heavy-tailed ASN sizes: a few big providers, a long tail of small ones.
            let weights: Vec<f64> = (0..count)
                .map(|i| 1.0 / (i as f64 + 1.0).powf(0.8))
                .collect();
            let sum: f64 = weights.iter().sum();
            let pool = &mut pools[net.index()];
            for w in &weights {
                let want = ((total as f64 * w / sum) as u64).max(16);
                let asn = make_asn(&mut rng, &mut carver, net, asns.len(), want);
                pool.asns.push(asns.len());
                pool.ends.push(pool.size() + asn.size);
                asns.push(asn);
            }
        }
        Geo { asns, pools }
    }

    pub(crate) fn pool(&self, net: Net) -> &Pool {
        &self.pools[net.index()]
    }

    /// The ASN and offset inside it of pool index `index` (taken modulo the pool size).
    fn locate(&self, net: Net, index: u64) -> (&Asn, u64) {
        let pool = self.pool(net);
        let index = index % pool.size().max(1);
        let slot = pool.ends.partition_point(|&end| end <= index);
        let start = if slot == 0 { 0 } else { pool.ends[slot - 1] };
        (&self.asns[pool.asns[slot]], index - start)
    }

    #[cfg(test)]
    pub(crate) fn asn_of(&self, net: Net, index: u64) -> &Asn {
        self.locate(net, index).0
    }

    pub(crate) fn v4(&self, net: Net, index: u64) -> Ipv4Addr {
        let (base, offset) = self.prefix_and_offset(net, index);
        Ipv4Addr::from(base + offset as u32)
    }

    /// The first address of the prefix that holds pool index `index`.
    pub(crate) fn prefix_base(&self, net: Net, index: u64) -> u32 {
        self.prefix_and_offset(net, index).0
    }

    fn prefix_and_offset(&self, net: Net, index: u64) -> (u32, u64) {
        let (asn, mut offset) = self.locate(net, index);
        for &(base, len) in &asn.prefixes {
            let size = 1u64 << (32 - len);
            if offset < size {
                return (base, offset);
            }
            offset -= size;
        }
        (asn.prefixes[0].0, 0)
    }

    pub(crate) fn v6(&self, net: Net, index: u64) -> Ipv6Addr {
        let (asn, offset) = self.locate(net, index);
        let bits = (u128::from(asn.v6_high) << 96) | (u128::from(offset) << 16) | 1;
        Ipv6Addr::from(bits)
    }

    /// `prefix,country_code,family` lines, IPv4 then IPv6, in ASN order.
    pub(crate) fn prefixes_csv(&self) -> String {
        let mut out = String::from("prefix,country_code,family\n");
        for asn in &self.asns {
            for &(base, len) in &asn.prefixes {
                out.push_str(&format!(
                    "{}/{len},{},ipv4\n",
                    Ipv4Addr::from(base),
                    asn.country
                ));
            }
        }
        for asn in &self.asns {
            out.push_str(&format!("{},{},ipv6\n", v6_prefix(asn), asn.country));
        }
        out
    }

    /// `prefix,asn,kind` lines: which synthetic network each prefix belongs to.
    pub(crate) fn asns_csv(&self) -> String {
        let mut out = String::from("prefix,asn,kind\n");
        for asn in &self.asns {
            for &(base, len) in &asn.prefixes {
                let kind = asn.net.label();
                out.push_str(&format!(
                    "{}/{len},{},{kind}\n",
                    Ipv4Addr::from(base),
                    asn.number
                ));
            }
            out.push_str(&format!(
                "{},{},{}\n",
                v6_prefix(asn),
                asn.number,
                asn.net.label()
            ));
        }
        out
    }

    /// Every IPv4 prefix of a kind, as `(first address, length)`.
    pub(crate) fn prefixes(&self, net: Net) -> impl Iterator<Item = (u32, u8)> + '_ {
        self.asns
            .iter()
            .filter(move |a| a.net == net)
            .flat_map(|a| a.prefixes.iter().copied())
    }
}

fn v6_prefix(asn: &Asn) -> String {
    format!("{}/32", Ipv6Addr::from(u128::from(asn.v6_high) << 96))
}

fn make_asn(
    rng: &mut crate::rng::Stream,
    carver: &mut Carver,
    net: Net,
    ordinal: usize,
    want: u64,
) -> Asn {
    // Big networks get several /20s rather than one huge block, as real allocations do.
    let chunk_len: u8 = if want > 4096 {
        20
    } else {
        (32 - (64 - (want - 1).leading_zeros())) as u8
    };
    let chunk = 1u64 << (32 - chunk_len);
    let chunks = want.div_ceil(chunk);
    let prefixes: Vec<(u32, u8)> = (0..chunks)
        .map(|_| (carver.take(chunk_len), chunk_len))
        .collect();
    let countries = net.countries();
    let total: u32 = countries.iter().map(|c| c.1).sum();
    let mut ticket = rng.below(u64::from(total)) as u32;
    let country = countries
        .iter()
        .find(|(_, w)| {
            let hit = ticket < *w;
            ticket = ticket.saturating_sub(*w);
            hit
        })
        .map_or("US", |c| c.0);
    Asn {
        number: 20_000 + ordinal as u32 * 7 + rng.below(7) as u32,
        net,
        country,
        size: chunks * chunk,
        prefixes,
        v6_high: 0x2a00_0000 | (ordinal as u32 + 1),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pools_map_indices_to_their_own_prefixes_and_skip_reserved_space() {
        let geo = Geo::build(3, 100_000);
        for net in Net::ALL {
            let size = geo.pool(net).size();
            assert!(size > 0);
            for i in [0, 1, size / 2, size - 1, size + 5] {
                let ip = geo.v4(net, i);
                let asn = geo.asn_of(net, i);
                assert_eq!(asn.net, net);
                let inside = asn.prefixes.iter().any(|&(b, l)| {
                    let mask = u32::MAX << (32 - l);
                    u32::from(ip) & mask == b
                });
                assert!(inside, "{ip} not in its ASN");
                assert!(!SKIPPED_SLASH8.contains(&(u32::from(ip) >> 24)));
            }
        }
        let csv = geo.prefixes_csv();
        assert!(csv.starts_with("prefix,country_code,family\n"));
        assert!(csv.lines().skip(1).all(|l| l.split(',').count() == 3));
    }
}
