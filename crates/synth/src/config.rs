//! The knobs of a synthetic world. [`SynthConfig::default`] is the paper world: the class mix of
//! mnemonic's passive DNS as labelled in Lison & Mavroeidis (2017), 378 M records of which 122 M
//! benign, 9 M malicious and 201 K sinkhole by the lists, the rest unlabelled.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything that shapes a world. Same config and seed, same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    pub seed: u64,
    /// About how many records to write; the summary reports the exact count.
    pub records: u64,
    /// Start of the observation window, RFC 3339.
    pub start: String,
    /// Length of the observation window in days.
    pub days: u32,
    /// Hive partitions `bucket=NN` of the output, by a hash of the owner name.
    pub buckets: u16,
    /// Records per generator shard: the unit of parallel work and of memory in flight.
    pub shard_records: u64,
    /// Rows per written part (per bucket).
    pub part_rows: usize,
    pub mix: Mix,
    pub known: Known,
    pub difficulty: Difficulty,
}

/// Shares of the world's records by planted role (truth, labelled or not). They need not sum
/// to one: they are normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    /// Ranked, long-lived benign domains: these make up the allow (top) list, so this share is
    /// the known part of the benign class (122 M / 378 M in the paper).
    pub benign_top: f64,
    pub benign_cdn: f64,
    pub benign_shared: f64,
    pub benign_plain: f64,
    pub benign_parked: f64,
    /// Dynamic-DNS hosts on residential addresses: benign, but with malicious-looking TTLs.
    pub benign_dynamic: f64,
    pub malicious_plain: f64,
    pub malicious_fastflux: f64,
    pub malicious_bulletproof: f64,
    pub malicious_dga: f64,
    /// Malicious domains that are taken down and then resolve to sinkholes; their records
    /// after the takedown are the sinkhole class.
    pub malicious_sinkholed: f64,
}

/// Which fraction of each class the published lists know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Known {
    /// Malicious domains (all malicious roles) that appear on the block list.
    pub malicious_domains: f64,
    /// Bulletproof-hosting prefixes on the CIDR block list.
    pub bulletproof_prefixes: f64,
    /// Sinkhole addresses on the sinkhole IP list.
    pub sinkhole_ips: f64,
    /// Sinkhole name servers on the sinkhole name-server list.
    pub sinkhole_nameservers: f64,
}

/// How hard the world is to learn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Difficulty {
    /// Scales how far malicious behaviour (query volume, lifetime) sits from benign: 0 makes
    /// them identical, 1 is the calibrated default, above 1 is easier.
    pub signal: f64,
    /// Fraction of wrong list entries: benign domains added to the block list, malicious ones
    /// to the allow list.
    pub label_noise: f64,
    /// Fraction of domains that behave like the other class: malicious content on compromised
    /// benign-looking hosting, benign domains with short lives and few queries.
    pub overlap: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            records: 378_000_000,
            start: "2015-01-01T00:00:00Z".into(),
            days: 900,
            buckets: 16,
            shard_records: 262_144,
            part_rows: 262_144,
            mix: Mix::default(),
            known: Known::default(),
            difficulty: Difficulty::default(),
        }
    }
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            benign_top: 0.36,
            benign_cdn: 0.12,
            benign_shared: 0.18,
            benign_plain: 0.16,
            benign_parked: 0.07,
            benign_dynamic: 0.02,
            malicious_plain: 0.045,
            malicious_fastflux: 0.02,
            malicious_bulletproof: 0.025,
            malicious_dga: 0.03,
            malicious_sinkholed: 0.005,
        }
    }
}

impl Default for Known {
    fn default() -> Self {
        Known {
            malicious_domains: 0.17,
            bulletproof_prefixes: 0.3,
            sinkhole_ips: 0.2,
            sinkhole_nameservers: 0.3,
        }
    }
}

impl Default for Difficulty {
    fn default() -> Self {
        Difficulty {
            signal: 1.0,
            label_noise: 0.01,
            overlap: 0.02,
        }
    }
}

impl SynthConfig {
    /// Reads a TOML file; missing keys take the paper world's defaults.
    pub fn from_toml_file(path: &Path) -> Result<SynthConfig> {
        let err = |source: Box<dyn std::error::Error + Send + Sync>| Error::ConfigFile {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(Box::new(e)))?;
        let cfg: SynthConfig = toml::from_str(&text).map_err(|e| err(Box::new(e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The config as TOML, saved beside the world it made.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The start of the window in Unix seconds.
    pub fn start_secs(&self) -> Result<i64> {
        let t = time::OffsetDateTime::parse(
            &self.start,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| Error::Config {
            field: "start",
            reason: format!("is not RFC 3339: {e}"),
        })?;
        Ok(t.unix_timestamp())
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::Config {
                field,
                reason: reason.into(),
            })
        };
        if self.records == 0 {
            return bad("records", "must be at least 1");
        }
        if self.days == 0 {
            return bad("days", "must be at least 1");
        }
        if self.buckets == 0 || self.buckets > 1000 {
            return bad("buckets", "must be between 1 and 1000");
        }
        if self.shard_records < 1000 {
            return bad("shard_records", "must be at least 1000");
        }
        if self.part_rows == 0 {
            return bad("part_rows", "must be at least 1");
        }
        self.start_secs()?;
        let shares = self.mix.shares();
        if shares.iter().any(|s| !s.is_finite() || *s < 0.0) || shares.iter().sum::<f64>() <= 0.0 {
            return bad("mix", "shares must be non-negative and not all zero");
        }
        let fractions = [
            ("known.malicious_domains", self.known.malicious_domains),
            (
                "known.bulletproof_prefixes",
                self.known.bulletproof_prefixes,
            ),
            ("known.sinkhole_ips", self.known.sinkhole_ips),
            (
                "known.sinkhole_nameservers",
                self.known.sinkhole_nameservers,
            ),
            ("difficulty.label_noise", self.difficulty.label_noise),
            ("difficulty.overlap", self.difficulty.overlap),
        ];
        for (field, value) in fractions {
            if !(0.0..=1.0).contains(&value) {
                return bad(field, "must be between 0 and 1");
            }
        }
        if !(0.0..=10.0).contains(&self.difficulty.signal) {
            return bad("difficulty.signal", "must be between 0 and 10");
        }
        Ok(())
    }
}

impl Mix {
    /// Shares in the order of [`crate::domain::Role::ALL`].
    pub(crate) fn shares(&self) -> [f64; 11] {
        [
            self.benign_top,
            self.benign_cdn,
            self.benign_shared,
            self.benign_plain,
            self.benign_parked,
            self.benign_dynamic,
            self.malicious_plain,
            self.malicious_fastflux,
            self.malicious_bulletproof,
            self.malicious_dga,
            self.malicious_sinkholed,
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let cfg = SynthConfig::default();
        let back: SynthConfig = toml::from_str(&cfg.to_toml()).unwrap();
        assert_eq!(back, cfg);
        cfg.validate().unwrap();
    }

    #[test]
    fn partial_toml_keeps_defaults_and_bad_values_are_named() {
        let cfg: SynthConfig =
            toml::from_str("records = 5000\n[difficulty]\noverlap = 0.2").unwrap();
        assert_eq!(cfg.records, 5000);
        assert_eq!(cfg.difficulty.overlap, 0.2);
        assert_eq!(cfg.difficulty.signal, 1.0);
        let bad = SynthConfig { buckets: 0, ..cfg };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid synth config: `buckets` must be between 1 and 1000"
        );
    }
}
