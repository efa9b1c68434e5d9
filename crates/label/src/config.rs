//! The `lists.toml` schema (`docs/lists.md`) as typed structs.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// A reputation label, in the order of the default precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Sinkhole,
    Malicious,
    Benign,
}

impl Label {
    pub const ALL: [Label; 3] = [Label::Sinkhole, Label::Malicious, Label::Benign];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Sinkhole => "sinkhole",
            Label::Malicious => "malicious",
            Label::Benign => "benign",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a source says about the indicators it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Allow,
    Block,
    Sinkhole,
}

impl Kind {
    pub fn label(self) -> Label {
        match self {
            Kind::Allow => Label::Benign,
            Kind::Block => Label::Malicious,
            Kind::Sinkhole => Label::Sinkhole,
        }
    }
}

/// The line format of a list file; see the table in `docs/lists.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    RankCsv,
    Names,
    Hosts,
    MaltrailTrails,
    MaltrailCsv,
    Abusech,
    SpamhausDrop,
    Ips,
    Cidrs,
    Nameservers,
    Ipsum,
    /// BIND `zone "name" {...};` blocklists (malc0de and similar).
    BindZone,
}

impl Format {
    /// Whether the line order or a rank column gives a popularity rank.
    pub fn has_rank(self) -> bool {
        matches!(self, Format::RankCsv | Format::Names)
    }
}

/// How a listed name matches a record's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchMode {
    /// The record's name equals the listed name.
    #[default]
    Exact,
    /// The record's registered domain equals the listed name's registered domain.
    RegisteredDomain,
    /// The record's name is the listed name or below it.
    Subdomain,
}

/// Which names of a record a name indicator applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    /// The owner name.
    Owner,
    /// The rdata of NS and CNAME records (name servers, alias targets).
    Rdata,
    Both,
}

impl AppliesTo {
    pub(crate) fn owner(self) -> bool {
        matches!(self, AppliesTo::Owner | AppliesTo::Both)
    }

    pub(crate) fn rdata(self) -> bool {
        matches!(self, AppliesTo::Rdata | AppliesTo::Both)
    }
}

/// One `[[source]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: Kind,
    pub format: Format,
    /// Relative to the TOML file's folder once loaded through [`ListsConfig::from_path`].
    pub path: PathBuf,
    #[serde(default, rename = "match")]
    pub match_mode: MatchMode,
    /// Keep only the first N entries (by rank where the format has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
    /// RFC 3339; entries are valid from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// RFC 3339; entries are valid until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// `ipsum` only: keep IPs listed on at least this many blacklists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_hits: Option<u32>,
    /// Extension: whether line order (or the rank column) is a popularity rank feeding the
    /// `name_rank`/`domain_rank` columns. Defaults to true for `allow` sources in `rank-csv`
    /// and `names` format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranked: Option<bool>,
    /// Extension, `maltrail-csv` only: keep rows whose `category` is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Extension: which names of a record the listed names apply to. Defaults to `rdata` for
    /// `nameservers`, `both` for other `sinkhole` sources and `owner` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<AppliesTo>,
}

impl SourceConfig {
    pub fn label(&self) -> Label {
        self.kind.label()
    }

    pub fn ranked(&self) -> bool {
        self.ranked
            .unwrap_or(self.kind == Kind::Allow && self.format.has_rank())
    }

    pub fn applies_to(&self) -> AppliesTo {
        self.applies_to.unwrap_or(match (self.format, self.kind) {
            (Format::Nameservers, _) => AppliesTo::Rdata,
            (_, Kind::Sinkhole) => AppliesTo::Both,
            _ => AppliesTo::Owner,
        })
    }
}

/// A whole `lists.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListsConfig {
    /// Highest first; a record matched by several labels takes the first.
    #[serde(default = "default_precedence")]
    pub precedence: Vec<Label>,
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
}

fn default_precedence() -> Vec<Label> {
    Label::ALL.to_vec()
}

/// A validity window in milliseconds since the epoch, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub until: i64,
}

impl Window {
    pub const ALWAYS: Window = Window {
        from: i64::MIN,
        until: i64::MAX,
    };

    /// True when a record seen over `[first, last]` overlaps the window.
    pub fn overlaps(&self, first: i64, last: i64) -> bool {
        first <= self.until && last >= self.from
    }
}

impl ListsConfig {
    /// Reads a lists file and resolves source paths against its folder.
    pub fn from_path(path: &Path) -> Result<ListsConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        ListsConfig::parse(&text, base, path)
    }

    /// Parses TOML text; `base` is the folder relative paths start from, `origin` names the
    /// text in errors.
    pub fn parse(text: &str, base: &Path, origin: &Path) -> Result<ListsConfig> {
        let mut config: ListsConfig =
            toml::from_str(text).map_err(|source| Error::ConfigParse {
                path: origin.to_path_buf(),
                source,
            })?;
        for source in &mut config.sources {
            if source.path.is_relative() {
                source.path = normalize(&base.join(&source.path));
            }
        }
        config.validate().map_err(|reason| Error::Config {
            path: origin.to_path_buf(),
            reason,
        })?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let mut seen = Vec::new();
        for label in &self.precedence {
            if seen.contains(label) {
                return Err(format!("`precedence` names `{label}` twice"));
            }
            seen.push(*label);
        }
        if let Some(missing) = Label::ALL.iter().find(|l| !seen.contains(l)) {
            return Err(format!(
                "`precedence` must name every label; `{missing}` is missing"
            ));
        }
        if self.sources.is_empty() {
            return Err("no `[[source]]` tables".into());
        }
        let mut names = std::collections::HashSet::new();
        for source in &self.sources {
            if !names.insert(source.name.as_str()) {
                return Err(format!("source name `{}` is used twice", source.name));
            }
            source.validate()?;
        }
        if self.sources.len() > usize::from(u16::MAX) {
            return Err("more than 65535 sources".into());
        }
        Ok(())
    }

    /// The rank of a label in the precedence order (0 is highest).
    pub fn precedence_of(&self, label: Label) -> usize {
        self.precedence
            .iter()
            .position(|l| *l == label)
            .unwrap_or(usize::MAX)
    }
}

/// Removes `.` and `name/..` pairs without touching the file system, so that paths in reports
/// read `/work/shared/data/...` rather than `configs/lists/../../../shared/data/...`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl SourceConfig {
    fn validate(&self) -> std::result::Result<(), String> {
        let name = &self.name;
        if name.is_empty() {
            return Err("a source has an empty `name`".into());
        }
        if self.min_hits.is_some() && self.format != Format::Ipsum {
            return Err(format!(
                "source `{name}`: `min_hits` applies to `ipsum` lists only"
            ));
        }
        if self.categories.is_some() && self.format != Format::MaltrailCsv {
            return Err(format!(
                "source `{name}`: `categories` applies to `maltrail-csv` lists only"
            ));
        }
        if self.top_n == Some(0) {
            return Err(format!("source `{name}`: `top_n` must be at least 1"));
        }
        let window = self.window().map_err(|e| format!("source `{name}`: {e}"))?;
        if window.from > window.until {
            return Err(format!(
                "source `{name}`: `valid_from` is after `valid_until`"
            ));
        }
        Ok(())
    }

    /// The source's validity window; unbounded ends stay open.
    pub fn window(&self) -> std::result::Result<Window, String> {
        let parse = |field: &str, value: &Option<String>, open: i64| match value {
            None => Ok(open),
            Some(text) => OffsetDateTime::parse(text, &Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|e| format!("`{field}` = {text:?} is not an RFC 3339 time: {e}")),
        };
        Ok(Window {
            from: parse("valid_from", &self.valid_from, i64::MIN)?,
            until: parse("valid_until", &self.valid_until, i64::MAX)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ListsConfig> {
        ListsConfig::parse(text, Path::new("/lists"), Path::new("lists.toml"))
    }

    #[test]
    fn reads_the_documented_example() {
        let config = parse(
            r#"
            precedence = ["sinkhole", "malicious", "benign"]
            [[source]]
            name = "umbrella-top"
            kind = "allow"
            format = "names"
            path = "umbrella-top-100k.txt.gz"
            match = "registered-domain"
            top_n = 10000
            valid_from = "2017-01-01T00:00:00Z"
            valid_until = "2020-01-01T00:00:00Z"

            [[source]]
            name = "ipsum"
            kind = "block"
            format = "ipsum"
            path = "ipsum.txt.gz"
            min_hits = 3
            "#,
        )
        .unwrap();
        let top = &config.sources[0];
        assert_eq!(top.path, Path::new("/lists/umbrella-top-100k.txt.gz"));
        assert_eq!(
            normalize(Path::new("/a/b/./c/../../../d/e")),
            Path::new("/d/e")
        );
        assert_eq!(normalize(Path::new("../x/../y")), Path::new("../y"));
        assert_eq!(top.match_mode, MatchMode::RegisteredDomain);
        assert!(top.ranked());
        assert_eq!(top.window().unwrap().from, 1_483_228_800_000);
        assert_eq!(config.sources[1].min_hits, Some(3));
        assert_eq!(config.sources[1].applies_to(), AppliesTo::Owner);
    }

    #[test]
    fn rejects_inconsistent_settings_with_a_reason() {
        let base = "[[source]]\nname = \"a\"\nkind = \"block\"\nformat = \"ips\"\npath = \"x\"\n";
        let err = parse(&format!("{base}min_hits = 2\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "bad lists config `lists.toml`: source `a`: `min_hits` applies to `ipsum` lists only"
        );
        let err = parse(&format!("precedence = [\"benign\"]\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("`precedence` must name every label; `sinkhole` is missing"),
            "{err}"
        );
        let err = parse(&format!("{base}{base}")).unwrap_err().to_string();
        assert!(err.ends_with("source name `a` is used twice"), "{err}");
        let err = parse(&format!("{base}valid_from = \"yesterday\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not an RFC 3339 time"), "{err}");
        assert!(parse(&format!("{base}colour = 1\n")).is_err());
    }

    #[test]
    fn windows_overlap_inclusively() {
        let w = Window {
            from: 10,
            until: 20,
        };
        assert!(w.overlaps(0, 10));
        assert!(w.overlaps(20, 30));
        assert!(w.overlaps(12, 15));
        assert!(!w.overlaps(0, 9));
        assert!(!w.overlaps(21, 30));
        assert!(Window::ALWAYS.overlaps(i64::MIN, i64::MIN));
    }
}
