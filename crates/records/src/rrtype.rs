use std::fmt;
use std::str::FromStr;

/// A DNS resource record type, kept as its IANA number so unknown types survive.
///
/// Names follow the IANA registry; unknown numbers print as `TYPE<n>` (RFC 3597), the form
/// passive DNS sources use for types they do not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RrType(pub u16);

const NAMES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (13, "HINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (24, "SIG"),
    (25, "KEY"),
    (28, "AAAA"),
    (29, "LOC"),
    (33, "SRV"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (39, "DNAME"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
];

impl RrType {
    pub const A: RrType = RrType(1);
    pub const NS: RrType = RrType(2);
    pub const CNAME: RrType = RrType(5);
    pub const SOA: RrType = RrType(6);
    pub const PTR: RrType = RrType(12);
    pub const MX: RrType = RrType(15);
    pub const TXT: RrType = RrType(16);
    pub const AAAA: RrType = RrType(28);
    pub const SRV: RrType = RrType(33);
    pub const DNAME: RrType = RrType(39);

    /// The mnemonic, when the type has one.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(n, _)| *n == self.0).map(|(_, s)| *s)
    }

    /// True for types whose rdata is a single domain name.
    pub fn rdata_is_name(self) -> bool {
        matches!(
            self,
            RrType::NS | RrType::CNAME | RrType::PTR | RrType::DNAME
        )
    }

    /// True for address records.
    pub fn is_address(self) -> bool {
        matches!(self, RrType::A | RrType::AAAA)
    }
}

impl fmt::Display for RrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// Why a string is not an rrtype.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rrtype `{0}`")]
pub struct UnknownRrType(pub String);

impl FromStr for RrType {
    type Err = UnknownRrType;

    /// Accepts mnemonics in any case, `TYPE<n>` and bare numbers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some((n, _)) = NAMES.iter().find(|(_, name)| name.eq_ignore_ascii_case(s)) {
            return Ok(RrType(*n));
        }
        let digits = match s.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("type") => &s[4..],
            _ => s,
        };
        digits
            .parse::<u16>()
            .map(RrType)
            .map_err(|_| UnknownRrType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_unknowns_round_trip() {
        assert_eq!("aaaa".parse::<RrType>().unwrap(), RrType::AAAA);
        assert_eq!("TYPE65".parse::<RrType>().unwrap(), RrType(65));
        assert_eq!("65".parse::<RrType>().unwrap().to_string(), "HTTPS");
        assert_eq!(RrType(4000).to_string(), "TYPE4000");
        assert_eq!("TYPE4000".parse::<RrType>().unwrap(), RrType(4000));
        assert!("BOGUS".parse::<RrType>().is_err());
        assert!("TYPE70000".parse::<RrType>().is_err());
    }
}
