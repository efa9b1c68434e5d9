//! The label lists that describe the world's known part, in the formats of `docs/lists.md`,
//! and the `lists.toml` that names them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::domain::Ctx;
use crate::error::{Error, Result};
use crate::geo::Net;

pub(crate) const TOP: &str = "top.txt";
pub(crate) const BLOCK: &str = "block-domains.txt";
pub(crate) const BULLETPROOF: &str = "bulletproof-cidrs.txt";
pub(crate) const SINKHOLE_IPS: &str = "sinkhole-ips.txt";
pub(crate) const SINKHOLE_NS: &str = "sinkhole-nameservers.txt";
pub(crate) const PREFIXES: &str = "prefixes.csv";
pub(crate) const ASNS: &str = "asns.csv";
pub(crate) const LISTS_TOML: &str = "lists.toml";

/// A list file being written line by line.
#[derive(Debug)]
pub(crate) struct ListFile {
    path: PathBuf,
    out: BufWriter<File>,
    pub lines: u64,
}

impl ListFile {
    pub(crate) fn create(dir: &Path, name: &str) -> Result<ListFile> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| Error::Lists {
            path: path.clone(),
            source,
        })?;
        Ok(ListFile {
            path,
            out: BufWriter::new(file),
            lines: 0,
        })
    }

    pub(crate) fn line(&mut self, line: &str) -> Result<()> {
        self.lines += 1;
        writeln!(self.out, "{line}").map_err(|source| Error::Lists {
            path: self.path.clone(),
            source,
        })
    }

    pub(crate) fn finish(mut self) -> Result<u64> {
        self.out.flush().map_err(|source| Error::Lists {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.lines)
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| Error::Lists { path, source })
}

/// Line counts of the written lists.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ListCounts {
    pub top: u64,
    pub block_domains: u64,
    pub bulletproof_cidrs: u64,
    pub sinkhole_ips: u64,
    pub sinkhole_nameservers: u64,
    pub prefixes: u64,
}

/// Writes every list that does not depend on the generated entities: the top list (ranked
/// names, then the noise entries), the CIDR and sinkhole lists, the prefix tables and
/// `lists.toml`. The block list is streamed by the generator.
pub(crate) fn write_static(ctx: &Ctx, dir: &Path, allow_noise: &[String]) -> Result<ListCounts> {
    let mut counts = ListCounts::default();
    let mut top = ListFile::create(dir, TOP)?;
    for rank in 1..=ctx.counts[0] {
        top.line(&ctx.top_name(rank))?;
    }
    for name in allow_noise {
        top.line(name)?;
    }
    counts.top = top.finish()?;

    let mut cidrs = ListFile::create(dir, BULLETPROOF)?;
    for (base, len) in ctx.geo.prefixes(Net::Bulletproof) {
        if ctx.bulletproof_listed(base) {
            cidrs.line(&format!("{}/{len},bulletproof", Ipv4Addr::from(base)))?;
        }
    }
    counts.bulletproof_cidrs = cidrs.finish()?;

    let mut ips = ListFile::create(dir, SINKHOLE_IPS)?;
    for ip in ctx
        .sinkhole_ips()
        .into_iter()
        .filter(|ip| ctx.sinkhole_ip_listed(*ip))
    {
        ips.line(&ip.to_string())?;
    }
    counts.sinkhole_ips = ips.finish()?;

    let mut ns = ListFile::create(dir, SINKHOLE_NS)?;
    for name in ctx
        .sinkhole_nameservers()
        .iter()
        .filter(|n| ctx.sinkhole_ns_listed(n))
    {
        ns.line(name)?;
    }
    counts.sinkhole_nameservers = ns.finish()?;

    let prefixes = ctx.geo.prefixes_csv();
    counts.prefixes = prefixes.lines().count() as u64 - 1;
    write_file(dir, PREFIXES, &prefixes)?;
    write_file(dir, ASNS, &ctx.geo.asns_csv())?;
    write_file(dir, LISTS_TOML, &lists_toml())?;
    Ok(counts)
}

fn lists_toml() -> String {
    format!(
        r#"# The label lists of a synthetic world written by `pdnsrep synth`: its known part.
# Enrich with `{PREFIXES}` (prefix,country_code,family); `{ASNS}` maps prefixes to synthetic ASNs.
precedence = ["sinkhole", "malicious", "benign"]

[[source]]
name = "synth-top"
kind = "allow"
format = "names"
path = "{TOP}"
match = "registered-domain"

[[source]]
name = "synth-block-domains"
kind = "block"
format = "names"
path = "{BLOCK}"
match = "subdomain"

[[source]]
name = "synth-bulletproof"
kind = "block"
format = "cidrs"
path = "{BULLETPROOF}"

[[source]]
name = "synth-sinkhole-ips"
kind = "sinkhole"
format = "ips"
path = "{SINKHOLE_IPS}"

[[source]]
name = "synth-sinkhole-nameservers"
kind = "sinkhole"
format = "nameservers"
path = "{SINKHOLE_NS}"
"#
    )
}
