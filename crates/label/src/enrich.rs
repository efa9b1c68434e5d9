//! Address enrichment: MaxMind databases first, a prefix-to-country table as the fallback.

use std::io::BufRead;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;
use maxminddb::Reader;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lists::open;
use crate::psl::SuffixList;

/// Where enrichment data comes from. Every part is optional; what is missing yields nulls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichConfig {
    /// A `public_suffix_list.dat`; the list bundled with the `psl` crate when absent.
    pub psl: Option<PathBuf>,
    /// MaxMind databases (City, Country, Enterprise, ASN, ISP), consulted in order; the first
    /// that has a field wins.
    pub mmdb: Vec<PathBuf>,
    /// A `prefix,country_code,family` CSV (ipverse), used where no database gave a country.
    pub prefixes: Option<PathBuf>,
}

/// What the databases know about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpInfo {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// The most specific GeoNames id the database has: the city's, else the country's.
    pub geoname_id: Option<u32>,
    pub asn: Option<u32>,
    pub isp: Option<String>,
    pub org: Option<String>,
}

/// The fields of GeoIP2 / GeoLite2 records that enrichment reads; one struct serves every
/// database type since absent fields decode as `None`.
#[derive(Debug, Default, Deserialize)]
struct MmdbRecord<'a> {
    #[serde(borrow, default)]
    country: Option<Place<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<Place<'a>>,
    #[serde(borrow, default)]
    city: Option<Place<'a>>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(borrow, default)]
    isp: Option<&'a str>,
    #[serde(borrow, default)]
    organization: Option<&'a str>,
    #[serde(borrow, default)]
    traits: Option<Traits<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct Place<'a> {
    #[serde(default)]
    geoname_id: Option<u32>,
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// Enterprise databases keep network ownership under `traits`.
#[derive(Debug, Default, Deserialize)]
struct Traits<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(borrow, default)]
    isp: Option<&'a str>,
    #[serde(borrow, default)]
    organization: Option<&'a str>,
}

/// One opened MaxMind database.
#[derive(Debug)]
pub struct Mmdb {
    pub path: PathBuf,
    /// `database_type` from the metadata, for example `GeoIP2-City`.
    pub database_type: String,
    reader: Reader<Vec<u8>>,
}

impl Mmdb {
    /// Opens a database and checks from its metadata that it carries fields enrichment uses.
    pub fn open(path: &Path) -> Result<Mmdb> {
        let reader = Reader::open_readfile(path).map_err(|source| Error::Mmdb {
            path: path.to_path_buf(),
            source,
        })?;
        let database_type = reader.metadata.database_type.clone();
        const USEFUL: [&str; 5] = ["City", "Country", "Enterprise", "ASN", "ISP"];
        if !USEFUL.iter().any(|t| database_type.contains(t)) {
            return Err(Error::MmdbType {
                path: path.to_path_buf(),
                database_type,
            });
        }
        Ok(Mmdb {
            path: path.to_path_buf(),
            database_type,
            reader,
        })
    }

    /// Fills the fields of `info` that are still empty from this database.
    pub fn fill(&self, ip: IpAddr, info: &mut IpInfo) -> Result<()> {
        let err = |source| Error::Mmdb {
            path: self.path.clone(),
            source,
        };
        let found = self.reader.lookup(ip).map_err(err)?;
        let Some(record) = found.decode::<MmdbRecord<'_>>().map_err(err)? else {
            return Ok(());
        };
        let traits = record.traits.unwrap_or_default();
        let country = record.country.as_ref().and_then(|c| c.iso_code);
        let registered = record.registered_country.as_ref().and_then(|c| c.iso_code);
        set(
            &mut info.country,
            country.or(registered).map(str::to_string),
        );
        let city_id = record.city.as_ref().and_then(|c| c.geoname_id);
        let country_id = record.country.as_ref().and_then(|c| c.geoname_id);
        set(&mut info.geoname_id, city_id.or(country_id));
        set(
            &mut info.asn,
            record
                .autonomous_system_number
                .or(traits.autonomous_system_number),
        );
        set(&mut info.isp, record.isp.or(traits.isp).map(str::to_string));
        let org = record
            .organization
            .or(traits.organization)
            .or(record.autonomous_system_organization)
            .or(traits.autonomous_system_organization);
        set(&mut info.org, org.map(str::to_string));
        Ok(())
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// A longest-prefix table from networks to ISO country codes.
pub struct PrefixTable {
    table: IpNetworkTable<[u8; 2]>,
    pub rows: u64,
}

impl std::fmt::Debug for PrefixTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixTable")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl PrefixTable {
    /// Reads `prefix,country_code,family` lines (a header line is allowed; `.gz` works). A
    /// malformed line fails the load: a country table is generated, not hand-written, so a
    /// bad line means a wrong file.
    pub fn load(path: &Path) -> Result<PrefixTable> {
        let bad = |line, reason: String| Error::Prefixes {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let reader = open(path).map_err(|e| bad(0, e.to_string()))?;
        let mut table = IpNetworkTable::new();
        let mut rows = 0;
        for (i, line) in reader.lines().enumerate() {
            let number = i as u64 + 1;
            let line = line.map_err(|e| bad(number, e.to_string()))?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (i == 0 && line.starts_with("prefix")) {
                continue;
            }
            let mut fields = line.split(',');
            let (Some(prefix), Some(cc)) = (fields.next(), fields.next()) else {
                return Err(bad(number, "expected `prefix,country_code,family`".into()));
            };
            let net: IpNetwork = prefix
                .trim()
                .parse()
                .map_err(|e| bad(number, format!("{e}")))?;
            let code: [u8; 2] = cc
                .trim()
                .as_bytes()
                .try_into()
                .map_err(|_| bad(number, format!("country code {cc:?} is not two letters")))?;
            table.insert(net, code.map(|b| b.to_ascii_uppercase()));
            rows += 1;
        }
        if rows == 0 {
            return Err(bad(0, "no prefixes".into()));
        }
        Ok(PrefixTable { table, rows })
    }

    pub fn country(&self, ip: IpAddr) -> Option<&str> {
        let (_, code) = self.table.longest_match(ip)?;
        std::str::from_utf8(code).ok()
    }
}

/// Everything enrichment needs, loaded once.
#[derive(Debug)]
pub struct Enricher {
    pub psl: SuffixList,
    pub mmdb: Vec<Mmdb>,
    pub prefixes: Option<PrefixTable>,
}

impl Enricher {
    pub fn load(config: &EnrichConfig) -> Result<Enricher> {
        Ok(Enricher {
            psl: SuffixList::load(config.psl.as_deref())?,
            mmdb: config
                .mmdb
                .iter()
                .map(|p| Mmdb::open(p))
                .collect::<Result<_>>()?,
            prefixes: config
                .prefixes
                .as_deref()
                .map(PrefixTable::load)
                .transpose()?,
        })
    }

    /// Looks an address up in every database, then the prefix table for a missing country.
    pub fn ip_info(&self, ip: IpAddr) -> Result<IpInfo> {
        let mut info = IpInfo::default();
        for db in &self.mmdb {
            db.fill(ip, &mut info)?;
        }
        if info.country.is_none()
            && let Some(table) = &self.prefixes
        {
            info.country = table.country(ip).map(str::to_string);
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::shared_data;
    use serde_json::Value;

    fn maxmind(file: &str) -> PathBuf {
        shared_data().join("maxmind-test").join(file)
    }

    /// The networks of a `.source.json.gz`, with their records.
    fn ground_truth(file: &str) -> Vec<(IpNetwork, Value)> {
        let reader = open(&maxmind(file)).unwrap();
        let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_reader(reader).unwrap();
        rows.into_iter()
            .flat_map(|m| m.into_iter())
            .map(|(cidr, value)| (parse_source_network(&cidr), value))
            .collect()
    }

    /// The JSON sources write IPv4 networks of IPv6 databases as `::a.b.c.d/len+96`.
    fn parse_source_network(cidr: &str) -> IpNetwork {
        let (addr, len) = cidr.split_once('/').unwrap();
        let len: u8 = len.parse().unwrap();
        match addr
            .strip_prefix("::")
            .and_then(|v4| v4.parse::<std::net::Ipv4Addr>().ok())
        {
            Some(v4) if len >= 96 => IpNetwork::new_truncate(v4, len - 96).unwrap(),
            _ => IpNetwork::new_truncate(addr.parse::<IpAddr>().unwrap(), len).unwrap(),
        }
    }

    /// Several networks spread over the file, both families, most specific last so that a
    /// nested network's own data is what the database returns for its first address.
    fn sample(rows: &[(IpNetwork, Value)]) -> Vec<&(IpNetwork, Value)> {
        let step = (rows.len() / 12).max(1);
        let picked: Vec<_> = rows.iter().step_by(step).collect();
        assert!(picked.len() >= 6, "too few networks in the ground truth");
        picked
            .into_iter()
            .filter(|(net, _)| {
                !rows
                    .iter()
                    .any(|(other, _)| other != net && net.contains(other.network_address()))
            })
            .collect()
    }

    fn first_address(net: &IpNetwork) -> IpAddr {
        net.network_address()
    }

    #[test]
    fn city_lookups_match_the_source_json() {
        let db = Mmdb::open(&maxmind("GeoIP2-City-Test.mmdb")).unwrap();
        assert_eq!(db.database_type, "GeoIP2-City");
        let rows = ground_truth("GeoIP2-City-Test.source.json.gz");
        let mut checked = 0;
        for (net, value) in sample(&rows) {
            let mut info = IpInfo::default();
            db.fill(first_address(net), &mut info).unwrap();
            let country = value.pointer("/country/iso_code").and_then(Value::as_str);
            let country = country.or(value
                .pointer("/registered_country/iso_code")
                .and_then(Value::as_str));
            assert_eq!(info.country.as_deref(), country, "{net}");
            let geoname = value
                .pointer("/city/geoname_id")
                .or(value.pointer("/country/geoname_id"))
                .and_then(Value::as_u64);
            assert_eq!(info.geoname_id.map(u64::from), geoname, "{net}");
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} networks checked");
    }

    #[test]
    fn asn_and_isp_lookups_match_the_source_json() {
        for (mmdb, json) in [
            ("GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN-Test.source.json.gz"),
            ("GeoIP2-ISP-Test.mmdb", "GeoIP2-ISP-Test.source.json.gz"),
        ] {
            let db = Mmdb::open(&maxmind(mmdb)).unwrap();
            let rows = ground_truth(json);
            let mut checked = 0;
            for (net, value) in sample(&rows) {
                let mut info = IpInfo::default();
                db.fill(first_address(net), &mut info).unwrap();
                let asn = value
                    .get("autonomous_system_number")
                    .and_then(Value::as_u64);
                assert_eq!(info.asn.map(u64::from), asn, "{mmdb} {net}");
                let isp = value.get("isp").and_then(Value::as_str);
                assert_eq!(info.isp.as_deref(), isp, "{mmdb} {net}");
                let org = value
                    .get("organization")
                    .or(value.get("autonomous_system_organization"))
                    .and_then(Value::as_str);
                assert_eq!(info.org.as_deref(), org, "{mmdb} {net}");
                checked += 1;
            }
            assert!(checked >= 5, "{mmdb}: only {checked} networks checked");
        }
    }

    #[test]
    fn known_test_networks() {
        let enricher = Enricher::load(&EnrichConfig {
            psl: None,
            mmdb: vec![
                maxmind("GeoIP2-City-Test.mmdb"),
                maxmind("GeoLite2-ASN-Test.mmdb"),
            ],
            prefixes: None,
        })
        .unwrap();
        let info = enricher.ip_info("81.2.69.160".parse().unwrap()).unwrap();
        assert_eq!(info.country.as_deref(), Some("GB"));
        let info = enricher.ip_info("1.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            (info.asn, info.org.as_deref()),
            (Some(15169), Some("Google Inc."))
        );
        assert_eq!(
            enricher.ip_info("192.0.2.1".parse().unwrap()).unwrap(),
            IpInfo::default()
        );
    }

    #[test]
    fn databases_without_useful_fields_are_refused() {
        let err = Mmdb::open(&maxmind("GeoIP2-Connection-Type-Test.mmdb")).unwrap_err();
        assert!(
            err.to_string()
                .contains("has type `GeoIP2-Connection-Type`"),
            "{err}"
        );
    }

    #[test]
    fn prefix_table_is_a_country_fallback() {
        let table = PrefixTable::load(
            &shared_data().join("ipverse-country-ip-blocks/country_prefixes.csv.gz"),
        )
        .unwrap();
        assert_eq!(table.rows, 243_034);
        assert_eq!(table.country("46.172.224.1".parse().unwrap()), Some("AD"));
        assert_eq!(table.country("10.0.0.1".parse().unwrap()), None);
        let enricher = Enricher {
            psl: SuffixList::Bundled,
            mmdb: vec![Mmdb::open(&maxmind("GeoLite2-ASN-Test.mmdb")).unwrap()],
            prefixes: Some(table),
        };
        let info = enricher.ip_info("46.172.224.1".parse().unwrap()).unwrap();
        assert_eq!(info.country.as_deref(), Some("AD"));
    }

    #[test]
    fn a_bad_prefix_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(
            &path,
            "prefix,country_code,family\n10.0.0.0/8,XX,ipv4\n10.0.0.0/99,XX,ipv4\n",
        )
        .unwrap();
        let err = PrefixTable::load(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("bad prefix table `{}` line 3:", path.display())),
            "{err}"
        );
    }
}
